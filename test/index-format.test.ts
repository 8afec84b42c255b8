/**
 * The PP-ShiTu index files without Python: faiss `vector.index` and PaddleClas `id_map.pkl` read
 * from the real fixture (written by Debian's faiss 1.7.3 and CPython's pickle), written back byte
 * for byte, and every malformed or hostile input refused with its code. Python (pickle, numpy) is
 * the oracle for pickles pserve writes; those checks skip with a message when it is absent.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as L from '../templates/server/index/vector-index.mjs';
import { PY, describeShared, pyHas, shared, tempDir } from './helpers.js';

const IDX = (...p: string[]) => shared('pipeline', 'gallery', 'index', ...p);
const HAVE_NUMPY = pyHas('numpy');

function code(f: () => unknown): string {
  try { f(); } catch (e) { return (e as { code?: string }).code ?? `not coded: ${String(e)}`; }
  return 'no error';
}

describeShared('faiss vector.index (fixture written by faiss 1.7.3)', () => {
  for (const kind of ['hnsw32', 'flat']) {
    it(`${kind}: read, and written back byte for byte`, () => {
      const bytes = readFileSync(IDX(kind, 'vector.index'));
      const ix = L.readFaissIndex(bytes);
      expect(ix.kind).toBe('idmap');
      if (ix.kind !== 'idmap') return;
      expect(ix.fourcc).toBe('IxM2');
      expect(ix.d).toBe(512);
      expect(ix.ntotal).toBe(40);
      expect(ix.metricType).toBe(L.METRIC_INNER_PRODUCT);
      expect(Array.from(ix.idMap)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      const inner = ix.index;
      expect(inner.kind).toBe(kind === 'flat' ? 'flat' : 'hnsw');
      if (inner.kind === 'hnsw') {
        expect(inner.fourcc).toBe('IHNf');
        expect(inner.storage.fourcc).toBe('IxFI');
        expect(Array.from(inner.hnsw.cumNneighborPerLevel)).toEqual([0, 64, 96, 128, 160, 192, 224]);
        expect([inner.hnsw.efConstruction, inner.hnsw.efSearch, inner.hnsw.upperBeam]).toEqual([40, 16, 1]);
      }
      // the stored vectors are the gallery vectors
      const g = L.readNpy(readFileSync(IDX('gallery_vectors.npy')));
      const stored = inner.kind === 'hnsw' ? inner.storage.vectors : inner.vectors;
      expect(Buffer.from(stored.buffer).equals(Buffer.from(g.data.buffer))).toBe(true);
      expect(Buffer.from(L.writeFaissIndex(ix)).equals(bytes)).toBe(true);
    });
  }

  it('HNSW32 and Flat built from the gallery vectors are the fixture files byte for byte', () => {
    const g = L.readNpy(readFileSync(IDX('gallery_vectors.npy')));
    const docs = [...L.readIdMapPickle(readFileSync(IDX('hnsw32', 'id_map.pkl'))).map.values()];
    for (const [method, dir] of [['HNSW32', 'hnsw32'], ['Flat', 'flat']] as const) {
      const built = L.serializeGallery(L.buildGallery({ vectors: g.data, docs, d: 512, method, metric: 'IP' }));
      expect(Buffer.from(built.index).equals(readFileSync(IDX(dir, 'vector.index'))), method).toBe(true);
      expect(Buffer.from(built.idMap).equals(readFileSync(IDX(dir, 'id_map.pkl'))), method).toBe(true);
    }
  });

  it('truncated and garbage index files are refused with a code, at every cut', () => {
    const bytes = readFileSync(IDX('hnsw32', 'vector.index'));
    // every cut inside the headers and HNSW tables, then a sample through the vectors
    const cuts = [...Array.from({ length: 700 }, (_, i) => i), ...Array.from({ length: 50 }, (_, i) => 700 + i * 1850), bytes.length - 1];
    for (const n of cuts) expect(code(() => L.readFaissIndex(bytes.subarray(0, n))), `cut at ${n}`).toMatch(/^E_INDEX_(TRUNCATED|INVALID)$/);
    expect(code(() => L.readFaissIndex(new Uint8Array(Buffer.concat([bytes, Buffer.from([0])]))))).toBe('E_INDEX_TRAILING');
    expect(code(() => L.readFaissIndex(new TextEncoder().encode('not an index at all')))).toBe('E_INDEX_FORMAT');
    const ivf = Buffer.from(bytes); ivf.write('IwFl', 37, 'latin1');
    expect(code(() => L.readFaissIndex(ivf))).toBe('E_INDEX_UNSUPPORTED');
  });

  it('counts and graph fields that lie are refused before allocation', () => {
    const bytes = readFileSync(IDX('hnsw32', 'vector.index'));
    const ix = L.readFaissIndex(bytes);
    if (ix.kind !== 'idmap' || ix.index.kind !== 'hnsw') throw new Error('fixture shape');
    const patch = (at: number, write: (b: Buffer) => void) => { const b = Buffer.from(bytes); write(b); return code(() => L.readFaissIndex(b)); };
    // header of IHNf at 41: d at 41, ntotal at 45
    expect(patch(45, (b) => b.writeBigInt64LE(1n << 40n, 45))).toBe('E_INDEX_INVALID');
    expect(patch(4, (b) => b.writeInt32LE(0, 4))).toBe('E_INDEX_INVALID');
    // metric type 5 (Linf is 3; anything but IP/L2)
    expect(patch(70, (b) => b.writeInt32LE(3, 70))).toBe('E_INDEX_METRIC');
    // the assign_probas count (after IxM2 header 37 + IHNf fourcc 4 + header 33 = 74) claims 2^50 doubles
    expect(patch(74, (b) => b.writeBigUInt64LE(1n << 50n, 74))).toBe('E_INDEX_TRUNCATED');
    // a neighbour id out of range: the first slot of the neighbour table
    const nbStart = 74 + 8 + 6 * 8 + 8 + 7 * 4 + 8 + 40 * 4 + 8 + 41 * 8 + 8;
    expect(patch(nbStart, (b) => b.writeInt32LE(40, nbStart))).toBe('E_INDEX_INVALID');
    expect(patch(nbStart, (b) => b.writeInt32LE(-7, nbStart))).toBe('E_INDEX_INVALID');
    // entry point out of range
    const ep = nbStart + ix.index.hnsw.neighbors.length * 4;
    expect(patch(ep, (b) => b.writeInt32LE(99, ep))).toBe('E_INDEX_INVALID');
    // a level beyond the level table
    const lv = 74 + 8 + 6 * 8 + 8 + 7 * 4 + 8;
    expect(patch(lv, (b) => b.writeInt32LE(9, lv))).toBe('E_INDEX_INVALID');
  });
});

describeShared('mutated files: a coded refusal or a file that searches without fault', () => {
  it('2000 random byte changes of vector.index and id_map.pkl', () => {
    let s = 12345;
    const rnd = (n: number) => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s % n; };
    const q = L.readNpy(readFileSync(IDX('queries.npy'))).data;
    const ib = readFileSync(IDX('hnsw32', 'vector.index'));
    const pb = readFileSync(IDX('hnsw32', 'id_map.pkl'));
    const seen = new Set<string>();
    for (let t = 0; t < 1000; t++) {
      // bias towards the headers and graph tables, where the structure lives
      const b = Buffer.from(ib);
      const at = rnd(3) === 0 ? rnd(b.length) : rnd(1200);
      b[at] = rnd(256);
      try {
        const ix = L.readFaissIndex(b);
        const r = L.searchIndex(ix, q, 5);
        expect(r.labels.length).toBe(25);
        seen.add('ok');
      } catch (e) { const c = (e as { code?: string }).code ?? String(e); expect(c, `byte ${at}`).toMatch(/^E_INDEX_/); seen.add(c); }
      const p = Buffer.from(pb);
      const pat = rnd(p.length);
      p[pat] = rnd(256);
      try { L.readIdMapPickle(p); seen.add('pickle ok'); } catch (e) { const c = (e as { code?: string }).code ?? String(e); expect(c, `pickle byte ${pat}`).toMatch(/^E_PICKLE_/); seen.add(c); }
    }
    expect(seen.has('ok') && seen.has('E_INDEX_INVALID') && seen.has('E_PICKLE_GLOBAL')).toBe(true);
  });
});

describeShared('id_map.pkl (fixture written by CPython pickle, protocol 4)', () => {
  for (const kind of ['hnsw32', 'flat']) {
    it(`${kind}: {numpy.int64: "path\\tlabel"} read, and written back byte for byte`, () => {
      const bytes = readFileSync(IDX(kind, 'id_map.pkl'));
      const r = L.readIdMapPickle(bytes);
      expect(r.keyType).toBe('numpy.int64');
      expect(r.protocol).toBe(4);
      expect(r.map.size).toBe(40);
      expect(r.map.get(0)).toBe('gallery/images/anmuxi_001.jpg\t安慕希');
      expect(r.map.get(7)).toBe('gallery/synthetic/007.jpg\tRed Bull-Enhanced');
      expect(Buffer.from(L.writeIdMapPickle(r.map, { keyType: 'numpy.int64' })).equals(bytes)).toBe(true);
    });
  }
});

describe('id_map.pkl writer against CPython', () => {
  const dir = tempDir('pserve-pickle-');
  it.skipIf(!HAVE_NUMPY)('pickles of every batch and frame shape are what pickle.dumps writes, and read back by pickle.load', () => {
    // sizes around SETITEMS batches (1000) and 64 KiB frames; long values move frame cuts inside keys
    const gen = `
import pickle, numpy as np, sys, os
d = sys.argv[1]
for n in [0, 1, 2, 999, 1000, 1001, 2000, 2345]:
    m = {}
    for i in np.arange(n).astype(np.int64):
        m[i] = 'gallery/%05d.jpg\\t%s' % (i, 'ラベル' * (i % 97) + 'x' * (i % 301))
    open(os.path.join(d, 'np%d.pkl' % n), 'wb').write(pickle.dumps(m, protocol=4))
    p = {int(k): v for k, v in m.items()}
    if n:
        p.update({70000: 'a', -5: 'b', 2**40: 'c', -2**40: 'd', 2**31: 'e', 255: 'f', 65535: 'g'})
    open(os.path.join(d, 'int%d.pkl' % n), 'wb').write(pickle.dumps(p, protocol=4))
`;
    const r = spawnSync(PY, ['-c', gen, dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const n of [0, 1, 2, 999, 1000, 1001, 2000, 2345]) {
      for (const kind of ['np', 'int'] as const) {
        const bytes = readFileSync(join(dir, `${kind}${n}.pkl`));
        const back = L.readIdMapPickle(bytes);
        expect(back.map.size).toBe(n === 0 ? 0 : kind === 'np' ? n : n + 7 - (n > 255 ? 1 : 0) - (n > 65535 ? 1 : 0));
        const again = L.writeIdMapPickle(back.map, { keyType: kind === 'np' ? 'numpy.int64' : 'int' });
        expect(Buffer.from(again).equals(bytes), `${kind}${n}`).toBe(true);
      }
    }
    // a pickle written by pserve alone, read by Python: keys are numpy.int64 and values intact
    const m = new Map<number, string>([[0, 'a/0.jpg\tRed Bull'], [5, 'b/1.jpg\t安慕希'], [2 ** 40, 'c\td']]);
    writeFileSync(join(dir, 'mine.pkl'), L.writeIdMapPickle(m));
    const check = spawnSync(PY, ['-c', `
import pickle, numpy as np, sys, json
d = pickle.load(open(sys.argv[1], 'rb'))
assert all(type(k) is np.int64 for k in d), [type(k) for k in d]
print(json.dumps([[int(k), v] for k, v in d.items()], ensure_ascii=False))`, join(dir, 'mine.pkl')], { encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toEqual([...m]);
  });

  it.skipIf(!HAVE_NUMPY)('protocols 2, 3 and 5 are read (protocol 2 spells bytes as _codecs.encode)', () => {
    const r = spawnSync(PY, ['-c', `
import pickle, numpy as np, sys, os
m = {np.int64(3): 'x/3.jpg\\tlabel three', np.int64(-2): 'y\\tz', np.int64(2**40): 'w\\tv'}
for p in (2, 3, 5):
    open(os.path.join(sys.argv[1], 'p%d.pkl' % p), 'wb').write(pickle.dumps(m, protocol=p))
open(os.path.join(sys.argv[1], 'i32.pkl'), 'wb').write(pickle.dumps({np.int32(7): 'a\\tb', np.uint8(9): 'c\\td'}, protocol=4))
`, dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const p of [2, 3, 5]) {
      const back = L.readIdMapPickle(readFileSync(join(dir, `p${p}.pkl`)));
      expect(back.protocol).toBe(p);
      expect([...back.map]).toEqual([[3, 'x/3.jpg\tlabel three'], [-2, 'y\tz'], [2 ** 40, 'w\tv']]);
    }
    expect([...L.readIdMapPickle(readFileSync(join(dir, 'i32.pkl'))).map]).toEqual([[7, 'a\tb'], [9, 'c\td']]);
  });
});

describe('hostile pickles are refused with a code, nothing executed', () => {
  const enc = (s: string) => [...Buffer.from(s, 'latin1')];
  const frame = (body: number[]) => Uint8Array.from([0x80, 4, ...body]);
  it('GLOBALs outside the allow-list', () => {
    // classic protocol 0-style GLOBAL + REDUCE: os.system('id')
    const osSystem = frame([0x63, ...enc('os\nsystem\n'), 0x8c, 2, ...enc('id'), 0x85, 0x52, 0x2e]);
    expect(code(() => L.readIdMapPickle(osSystem))).toBe('E_PICKLE_GLOBAL');
    // STACK_GLOBAL builtins.eval
    const evil = frame([0x8c, 8, ...enc('builtins'), 0x8c, 4, ...enc('eval'), 0x93, 0x2e]);
    expect(code(() => L.readIdMapPickle(evil))).toBe('E_PICKLE_GLOBAL');
    // a look-alike module name
    const near = frame([0x8c, 21, ...enc('numpy.core.multiarrax'), 0x8c, 6, ...enc('scalar'), 0x93, 0x2e]);
    expect(code(() => L.readIdMapPickle(near))).toBe('E_PICKLE_GLOBAL');
    // an allowed callable given other arguments: numpy.dtype('O') (object dtype)
    const objDtype = frame([0x8c, 5, ...enc('numpy'), 0x8c, 5, ...enc('dtype'), 0x93, 0x8c, 2, ...enc('O8'), 0x89, 0x88, 0x87, 0x52, 0x2e]);
    expect(code(() => L.readIdMapPickle(objDtype))).toBe('E_PICKLE_DTYPE');
    // opcodes a dict of ints never needs (INST, OBJ, PERSID, EXT1, NEWOBJ)
    for (const op of [0x69, 0x6f, 0x50, 0x82, 0x81]) expect(code(() => L.readIdMapPickle(frame([op, 0x2e])))).toBe('E_PICKLE_OPCODE');
  });
  it('huge lengths, truncation, deep nesting, wrong shapes', () => {
    // BINUNICODE claiming 4 GiB, BINBYTES8 claiming 2^60, FRAME claiming more than the file
    expect(code(() => L.readIdMapPickle(frame([0x58, 0xff, 0xff, 0xff, 0xff, 0x2e])))).toBe('E_PICKLE_LENGTH');
    expect(code(() => L.readIdMapPickle(frame([0x8e, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x2e])))).toBe('E_PICKLE_LENGTH');
    expect(code(() => L.readIdMapPickle(frame([0x95, 0, 1, 0, 0, 0, 0, 0, 0, 0x7d, 0x2e])))).toBe('E_PICKLE_TRUNCATED');
    expect(code(() => L.readIdMapPickle(frame([0x8c, 200, ...enc('short'), 0x2e])))).toBe('E_PICKLE_TRUNCATED');
    // every truncation of the real file
    const real = [0x7d, 0x94, 0x28, 0x4b, 1, 0x8c, 3, ...enc('a\tb'), 0x94, 0x4b, 2, 0x8c, 3, ...enc('c\td'), 0x75, 0x2e];
    expect([...L.readIdMapPickle(frame(real)).map]).toEqual([[1, 'a\tb'], [2, 'c\td']]);
    for (let n = 0; n < real.length; n++) expect(code(() => L.readIdMapPickle(frame(real.slice(0, n)))), `cut ${n}`).toMatch(/^E_PICKLE_(TRUNCATED|STACK)$/);
    // 10k MARKs, 10k nested tuples
    expect(code(() => L.readIdMapPickle(frame([...new Array(10000).fill(0x28), 0x2e])))).toBe('E_PICKLE_DEPTH');
    expect(code(() => L.readIdMapPickle(frame([0x29, ...new Array(10000).fill(0x85), 0x2e])))).toBe('E_PICKLE_DEPTH');
    // not a dict, a dict of floats, a BINGET of nothing, protocol 1 / 6, trailing bytes, missing STOP
    expect(code(() => L.readIdMapPickle(frame([0x4b, 1, 0x2e])))).toBe('E_PICKLE_SHAPE');
    expect(code(() => L.readIdMapPickle(frame([0x7d, 0x4b, 1, 0x4b, 2, 0x73, 0x2e])))).toBe('E_PICKLE_VALUE');
    expect(code(() => L.readIdMapPickle(frame([0x7d, 0x8c, 1, 0x61, 0x8c, 1, 0x62, 0x73, 0x2e])))).toBe('E_PICKLE_KEY');
    expect(code(() => L.readIdMapPickle(frame([0x68, 9, 0x2e])))).toBe('E_PICKLE_MEMO');
    expect(code(() => L.readIdMapPickle(Uint8Array.from([0x80, 6, 0x7d, 0x2e])))).toBe('E_PICKLE_PROTOCOL');
    expect(code(() => L.readIdMapPickle(Uint8Array.from([0x7d, 0x2e])))).toBe('E_PICKLE_PROTOCOL');
    expect(code(() => L.readIdMapPickle(frame([0x7d, 0x2e, 0x2e])))).toBe('E_PICKLE_TRAILING');
    expect(code(() => L.readIdMapPickle(frame([0x7d])))).toBe('E_PICKLE_TRUNCATED');
    expect(code(() => L.readIdMapPickle(frame([0x7d, 0x8c, 2, 0xc3, 0x28, 0x4b, 1, 0x73, 0x2e])))).toBe('E_PICKLE_UTF8');
  });
});

describe('.npy', () => {
  it('round trip, and bad headers refused', () => {
    const data = Float32Array.from({ length: 12 }, (_, i) => i / 7);
    for (const shape of [[12], [3, 4], [2, 3, 2]]) {
      const b = L.writeNpy(data, shape);
      expect((10 + new DataView(b.buffer).getUint16(8, true)) % 64).toBe(0);
      const r = L.readNpy(b);
      expect(r.shape).toEqual(shape);
      expect(Array.from(r.data)).toEqual(Array.from(data));
    }
    expect(code(() => L.readNpy(new Uint8Array(20)))).toBe('E_NPY_FORMAT');
    const good = L.writeNpy(data, [3, 4]);
    expect(code(() => L.readNpy(good.subarray(0, good.length - 1)))).toBe('E_NPY_TRUNCATED');
    const obj = Buffer.from(good); obj.write("'|O'", obj.indexOf("'<f4'"), 'latin1');
    expect(code(() => L.readNpy(obj))).toBe('E_NPY_DTYPE');
  });
  describeShared('numpy\'s own files', () => {
    it.skipIf(!HAVE_NUMPY)('np.save output is written back byte for byte', () => {
      for (const f of ['queries.npy', 'gallery_vectors.npy']) {
        const b = readFileSync(IDX(f));
        const r = L.readNpy(b);
        expect(Buffer.from(L.writeNpy(r.data, r.shape)).equals(b)).toBe(true);
      }
    });
  });
});
