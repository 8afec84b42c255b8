/**
 * Searching like faiss: the fixture's queries give faiss's own answers (search_truth.json, from
 * faiss 1.7.3), and indexes pserve builds are read by Debian's python3-faiss, which answers the
 * same ids and scores as pserve's search (skipped with a message when python3-faiss is absent;
 * CI installs it).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as L from '../templates/server/index/vector-index.mjs';
import { PY, describeShared, pyHas, shared, tempDir } from './helpers.js';

const IDX = (...p: string[]) => shared('pipeline', 'gallery', 'index', ...p);
const HAVE_FAISS = pyHas('faiss, numpy');

interface Truth { k: number; results: Record<'HNSW32' | 'Flat', { ids: number[][]; scores: number[][]; docs: string[][] }> }

/** unit vectors with clustered structure, like L2-normalised image features */
function features(n: number, d: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const centres = Array.from({ length: 16 }, () => Array.from({ length: d }, gauss));
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = centres[i % 16]!;
    let norm = 0;
    for (let j = 0; j < d; j++) { const v = c[j]! + 0.8 * gauss(); out[i * d + j] = v; norm += v * v; }
    for (let j = 0; j < d; j++) out[i * d + j] = out[i * d + j]! / Math.sqrt(norm);
  }
  return out;
}

describeShared('search answers faiss\'s (fixture search_truth.json)', () => {
  const truth = JSON.parse(readFileSync(IDX('search_truth.json'), 'utf8')) as Truth;
  const q = L.readNpy(readFileSync(IDX('queries.npy')));
  for (const [name, dir] of [['Flat', 'flat'], ['HNSW32', 'hnsw32']] as const) {
    it(`${name}: ids, docs and scores`, () => {
      const g = L.openGallery(IDX(dir));
      const hits = L.searchGallery(g, q.data, truth.k);
      const t = truth.results[name];
      hits.forEach((row, i) => {
        expect(row.map((h) => h.id)).toEqual(t.ids[i]);
        expect(row.map((h) => h.doc)).toEqual(t.docs[i]);
        row.forEach((h, j) => expect(Math.abs(h.score - t.scores[i]![j]!)).toBeLessThanOrEqual(1e-5));
      });
      // the kernels are faiss's reference kernels: the scores are faiss's float32 values exactly
      expect(hits.map((r) => r.map((h) => h.score))).toEqual(t.scores);
      expect(hits.map((r) => r[0]!.label)).toEqual(t.docs.map((r) => r[0]!.split('\t')[1]));
    });
  }
  it('brute force over the HNSW index\'s vectors is the Flat answer', () => {
    const g = L.openGallery(IDX('hnsw32'));
    const exact = L.searchGallery(g, q.data, 5, { exact: true });
    const t = truth.results.Flat;
    expect(exact.map((r) => r.map((h) => h.id))).toEqual(t.ids);
    expect(exact.map((r) => r.map((h) => h.score))).toEqual(t.scores);
  });
  it('k above the gallery size leaves the missing hits out; k = 1 is the top hit', () => {
    const g = L.openGallery(IDX('flat'));
    const all = L.searchGallery(g, q.data.subarray(0, 512), 60);
    expect(all[0]!.length).toBe(40);
    const scores = all[0]!.map((h) => h.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(L.searchGallery(g, q.data.subarray(0, 512), 1)[0]).toEqual([all[0]![0]]);
  });
});

describe('faiss (python3-faiss) reads what pserve writes and answers what pserve answers', () => {
  const dir = tempDir('pserve-faiss-');
  const oracle = `
import faiss, numpy as np, sys, json, pickle
faiss.omp_set_num_threads(1)
ix = faiss.read_index(sys.argv[1])
q = np.load(sys.argv[2])
D, I = ix.search(q, int(sys.argv[3]))
ids = pickle.load(open(sys.argv[4], 'rb'))
assert ix.ntotal == len(ids), (ix.ntotal, len(ids))
docs = [[ids[i] if i >= 0 else None for i in row] for row in I.tolist()]
print(json.dumps({'ids': I.tolist(), 'scores': D.tolist(), 'docs': docs, 'ntotal': ix.ntotal, 'type': type(faiss.downcast_index(ix.index)).__name__, 'metric': ix.metric_type}))
`;
  const cases = [
    { method: 'HNSW32', metric: 'IP', n: 1200 },
    { method: 'HNSW32', metric: 'L2', n: 300 },
    { method: 'Flat', metric: 'IP', n: 500 },
    { method: 'Flat', metric: 'L2', n: 500 },
  ] as const;
  for (const c of cases) {
    it.skipIf(!HAVE_FAISS)(`${c.method} ${c.metric}, ${c.n} vectors of 64: same ids and scores`, () => {
      const d = 64;
      const x = features(c.n, d, c.n + d);
      const docs = Array.from({ length: c.n }, (_, i) => `gallery/${String(i).padStart(5, '0')}.jpg\tproduct_${i % 16}`);
      let g = L.buildGallery({ vectors: x.subarray(0, (c.n - 100) * d), docs: docs.slice(0, c.n - 100), d, method: c.method, metric: c.metric });
      g = L.appendGallery(g, x.subarray((c.n - 100) * d), docs.slice(c.n - 100));
      const files = L.serializeGallery(g);
      const tag = `${c.method}-${c.metric}`;
      writeFileSync(join(dir, `${tag}.index`), files.index);
      writeFileSync(join(dir, `${tag}.pkl`), files.idMap);
      // queries: perturbed gallery vectors (near duplicates, as a photo of a gallery product)
      const nq = 40;
      const qs = new Float32Array(nq * d);
      const noise = features(nq, d, 7);
      for (let i = 0; i < nq; i++) for (let j = 0; j < d; j++) qs[i * d + j] = x[((i * 37) % c.n) * d + j]! + 0.3 * noise[i * d + j]!;
      writeFileSync(join(dir, `${tag}-q.npy`), L.writeNpy(qs, [nq, d]));
      const k = 10;
      const r = spawnSync(PY, ['-c', oracle, join(dir, `${tag}.index`), join(dir, `${tag}-q.npy`), String(k), join(dir, `${tag}.pkl`)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const f = JSON.parse(r.stdout) as { ids: number[][]; scores: number[][]; docs: string[][]; ntotal: number; type: string; metric: number };
      expect(f.ntotal).toBe(c.n);
      expect(f.type).toBe(c.method === 'Flat' ? 'IndexFlat' : 'IndexHNSWFlat');
      expect(f.metric).toBe(c.metric === 'IP' ? 0 : 1);
      const mine = L.searchGallery(L.loadGallery(files.index, files.idMap), qs, k);
      expect(mine.map((row) => row.map((h) => h.id))).toEqual(f.ids);
      expect(mine.map((row) => row.map((h) => h.doc))).toEqual(f.docs);
      // Flat with >= 20 queries goes through BLAS in faiss (another summation order): scores agree to 1e-5
      mine.forEach((row, i) => row.forEach((h, j) => expect(Math.abs(h.score - f.scores[i]![j]!)).toBeLessThanOrEqual(1e-5)));
      if (c.method !== 'Flat') expect(mine.map((row) => row.map((h) => h.score))).toEqual(f.scores);
    });
  }

  it.skipIf(!HAVE_FAISS)('HNSW graphs are faiss\'s own: faiss (one thread) builds the same bytes, new and appended', () => {
    const d = 32;
    const n = 400;
    const x = features(n, d, 99);
    writeFileSync(join(dir, 'x.npy'), L.writeNpy(x, [n, d]));
    const r = spawnSync(PY, ['-c', `
import faiss, numpy as np, sys
faiss.omp_set_num_threads(1)
x = np.load(sys.argv[1])
ix = faiss.IndexIDMap2(faiss.index_factory(x.shape[1], 'HNSW32', faiss.METRIC_INNER_PRODUCT))
ix.add_with_ids(x[:300], np.arange(300).astype(np.int64))
faiss.write_index(ix, sys.argv[2])
ix = faiss.read_index(sys.argv[2])
ix.add_with_ids(x[300:], np.arange(300, 400).astype(np.int64))
faiss.write_index(ix, sys.argv[3])
`, join(dir, 'x.npy'), join(dir, 'f300.index'), join(dir, 'f400.index')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const docs = Array.from({ length: n }, (_, i) => `p/${i}.jpg\tl${i}`);
    const g300 = L.buildGallery({ vectors: x.subarray(0, 300 * d), docs: docs.slice(0, 300), d, method: 'HNSW32', metric: 'IP' });
    expect(Buffer.from(L.serializeGallery(g300).index).equals(readFileSync(join(dir, 'f300.index')))).toBe(true);
    const g400 = L.appendGallery(L.loadGallery(readFileSync(join(dir, 'f300.index')), L.serializeGallery(g300).idMap), x.subarray(300 * d), docs.slice(300));
    expect(Buffer.from(L.serializeGallery(g400).index).equals(readFileSync(join(dir, 'f400.index')))).toBe(true);
  });
});

describe('gallery operations', () => {
  it('append continues from max(id)+1; remove (Flat) compacts in order; remove on HNSW is refused', () => {
    const d = 8;
    const x = features(6, d, 3);
    const docs = ['a.jpg\tA', 'b.jpg\tB', 'c.jpg\tC', 'd.jpg\tD', 'e.jpg\tE', 'f.jpg\tF'];
    const flat = L.buildGallery({ vectors: x.subarray(0, 4 * d), docs: docs.slice(0, 4), d, method: 'Flat', metric: 'IP' });
    const { gallery: less, removed } = L.removeFromGallery(flat, ['b.jpg\tB', 'nope\tX']);
    expect(removed).toEqual([1]);
    expect(Array.from(less.index.idMap)).toEqual([0, 2, 3]);
    const more = L.appendGallery(less, x.subarray(4 * d), docs.slice(4));
    expect(Array.from(more.index.idMap)).toEqual([0, 2, 3, 4, 5]);
    expect([...more.idMap.keys()]).toEqual([0, 2, 3, 4, 5]);
    const hit = L.searchGallery(more, x.subarray(5 * d, 6 * d), 1)[0]![0]!;
    expect([hit.id, hit.label]).toEqual([5, 'F']);
    const hnsw = L.buildGallery({ vectors: x, docs, d, method: 'HNSW32', metric: 'IP' });
    expect(() => L.removeFromGallery(hnsw, ['a.jpg\tA'])).toThrow(expect.objectContaining({ code: 'E_INDEX_REMOVE_HNSW' }));
    // files that disagree
    const files = L.serializeGallery(hnsw);
    const other = L.serializeGallery(flat);
    expect(() => L.loadGallery(files.index, other.idMap)).toThrow(expect.objectContaining({ code: 'E_INDEX_IDMAP_MISMATCH' }));
  });
  it('gallery lists as PaddleClas splits them', () => {
    const e = L.parseGalleryList('a/1.jpg\tRed Bull\n\n  b/2.jpg\t安慕希\textra  \n', '/root');
    expect(e.map((x) => [x.image, x.doc])).toEqual([['/root/a/1.jpg', 'a/1.jpg\tRed Bull'], ['/root/b/2.jpg', 'b/2.jpg\t安慕希\textra']]);
    expect(() => L.parseGalleryList('no-tab-here\n', '/r')).toThrow(expect.objectContaining({ code: 'E_GALLERY_LIST' }));
  });
});
