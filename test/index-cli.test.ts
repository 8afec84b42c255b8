/**
 * `pserve index` end to end through the real CLI: build from the fixture's vectors gives faiss's
 * files byte for byte; search answers faiss's ids; append/remove follow PaddleClas; bad input
 * exits 1 (2 for usage) with a code and leaves the index folder as it was. Features from a model:
 * a small ONNX feature model (8x8 average pooling of the normalised 224x224 image) over the real
 * gallery photos, checked against the same computation in python3-opencv + numpy.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import * as L from '../templates/server/index/vector-index.mjs';
import { PY, cli, cliJson, describeShared, pyHas, shared, tempDir } from './helpers.js';

const IDX = (...p: string[]) => shared('pipeline', 'gallery', 'index', ...p);
const HAVE_CV2 = pyHas('cv2, numpy');

const { onnx } = onnxProto as unknown as { onnx: any };

/** x [N,3,224,224] -> AveragePool 28x28 -> Flatten -> [N,192] */
function poolingFeatureModel(): Uint8Array {
  const vi = (name: string, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
  const graph = {
    name: 'pool_features',
    node: [
      { opType: 'AveragePool', input: ['x'], output: ['p'], name: 'pool', attribute: [{ name: 'kernel_shape', type: 7, ints: [28, 28] }, { name: 'strides', type: 7, ints: [28, 28] }] },
      { opType: 'Flatten', input: ['p'], output: ['features'], name: 'flat', attribute: [{ name: 'axis', type: 2, i: 1 }] },
    ],
    input: [vi('x', ['batch', 3, 224, 224])],
    output: [vi('features', ['batch', 192])],
  };
  const model = { irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'pserve-test', graph };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish() as Uint8Array;
}

describeShared('pserve index (CLI)', () => {
  const root = tempDir('pserve-index-cli-');
  const docs = [...L.readIdMapPickle(readFileSync(IDX('hnsw32', 'id_map.pkl'))).map.values()];
  const list = join(root, 'gallery.txt');
  writeFileSync(list, `${docs.join('\n')}\n`);

  it('build --vectors writes faiss\'s own files (HNSW32 and Flat), byte for byte; search answers search_truth', () => {
    for (const [method, dir] of [['HNSW32', 'hnsw32'], ['Flat', 'flat']] as const) {
      const out = join(root, `built-${dir}`);
      const r = cliJson<{ ok: boolean; index: string; files: { vector_index: string; id_map: string }; method: string; metric: string; ntotal: number }>(
        ['index', 'build', '--gallery', list, '--vectors', IDX('gallery_vectors.npy'), '--out', out, '--index_method', method]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ ok: true, index: out, method, metric: 'IP', ntotal: 40 });
      expect(readFileSync(r.json.files.vector_index).equals(readFileSync(IDX(dir, 'vector.index')))).toBe(true);
      expect(readFileSync(r.json.files.id_map).equals(readFileSync(IDX(dir, 'id_map.pkl')))).toBe(true);
      expect(readdirSync(root).filter((n) => n.includes('pserve-tmp'))).toEqual([]);
    }
    const truth = JSON.parse(readFileSync(IDX('search_truth.json'), 'utf8')) as { results: Record<string, { ids: number[][]; docs: string[][] }> };
    const s = cliJson<{ ok: boolean; search: string; results: { id: number; doc: string; score: number }[][] }>(['index', 'search', '--index', join(root, 'built-hnsw32'), '--vector-file', IDX('queries.npy'), '-k', '5']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.json.search).toBe('hnsw');
    expect(s.json.results.map((r) => r.map((h) => h.id))).toEqual(truth.results['HNSW32']!.ids);
    expect(s.json.results.map((r) => r.map((h) => h.doc))).toEqual(truth.results['HNSW32']!.docs);
    const text = cli(['index', 'search', '--index', IDX('flat'), '--vector-file', IDX('queries.npy'), '-k', '1']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Red Bull-Enhanced');
  });

  it('append continues the ids; remove on Flat drops lines; remove on HNSW32 is refused and changes nothing', () => {
    const flat = join(root, 'flat-edit');
    cpSync(IDX('flat'), flat, { recursive: true });
    const extra = join(root, 'extra.txt');
    writeFileSync(extra, 'new/a.jpg\tnew_a\nnew/b.jpg\tnew_b\n');
    const q = L.readNpy(readFileSync(IDX('queries.npy')));
    writeFileSync(join(root, 'extra.npy'), L.writeNpy(q.data.subarray(0, 2 * 512), [2, 512]));
    const a = cliJson<{ ok: boolean; ids: number[]; ntotal: number }>(['index', 'append', '--index', flat, '--gallery', extra, '--vectors', join(root, 'extra.npy')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json).toMatchObject({ ok: true, ids: [40, 41], ntotal: 42 });
    const g = L.openGallery(flat);
    expect(g.idMap.get(41)).toBe('new/b.jpg\tnew_b');
    expect(L.searchGallery(g, q.data.subarray(512, 1024), 1)[0]![0]).toMatchObject({ id: 41, label: 'new_b' });
    const rm = cliJson<{ ok: boolean; removed: number[]; ntotal: number }>(['index', 'remove', '--index', flat, '--gallery', extra]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.json).toMatchObject({ ok: true, removed: [40, 41], ntotal: 40 });
    expect(readFileSync(join(flat, 'vector.index')).equals(readFileSync(IDX('flat', 'vector.index')))).toBe(true);
    expect(readFileSync(join(flat, 'id_map.pkl')).equals(readFileSync(IDX('flat', 'id_map.pkl')))).toBe(true);

    const hnsw = join(root, 'hnsw-edit');
    cpSync(IDX('hnsw32'), hnsw, { recursive: true });
    const before = readFileSync(join(hnsw, 'vector.index'));
    const refused = cliJson<{ ok: boolean; error: { code: string } }>(['index', 'remove', '--index', hnsw, '--gallery', extra]);
    expect(refused.code).toBe(1);
    expect(refused.json.error.code).toBe('E_INDEX_REMOVE_HNSW');
    expect(readFileSync(join(hnsw, 'vector.index')).equals(before)).toBe(true);
  });

  it('bad input: usage errors exit 2 before any work; bad files exit 1 with a code and the file', () => {
    const u1 = cliJson<{ error: { code: string } }>(['index', 'build', '--gallery', list, '--out', join(root, 'x')]);
    expect(u1.code).toBe(2);
    expect(u1.json.error.code).toBe('E_USAGE');
    expect(cli(['index', 'frobnicate']).code).toBe(2);
    expect(cli(['index', 'search', '--index', IDX('flat')]).code).toBe(2);
    expect(existsSync(join(root, 'x'))).toBe(false);
    const exists = cliJson<{ error: { code: string } }>(['index', 'build', '--gallery', list, '--vectors', IDX('gallery_vectors.npy'), '--out', join(root, 'built-flat')]);
    expect([exists.code, exists.json.error.code]).toEqual([1, 'E_EXISTS']);
    const shape = cliJson<{ error: { code: string } }>(['index', 'build', '--gallery', list, '--vectors', IDX('queries.npy'), '--out', join(root, 'y')]);
    expect([shape.code, shape.json.error.code]).toEqual([1, 'E_INDEX_VECTORS']);
    // a corrupt vector.index, a hostile id_map.pkl
    const bad = join(root, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'vector.index'), readFileSync(IDX('hnsw32', 'vector.index')).subarray(0, 5000));
    writeFileSync(join(bad, 'id_map.pkl'), readFileSync(IDX('hnsw32', 'id_map.pkl')));
    const t = cliJson<{ error: { code: string; file: string } }>(['index', 'search', '--index', bad, '--vector-file', IDX('queries.npy')]);
    expect([t.code, t.json.error.code, t.json.error.file]).toEqual([1, 'E_INDEX_TRUNCATED', join(bad, 'vector.index')]);
    writeFileSync(join(bad, 'vector.index'), readFileSync(IDX('hnsw32', 'vector.index')));
    writeFileSync(join(bad, 'id_map.pkl'), Buffer.from('\x80\x04cposix\nsystem\n\x8c\x02id\x85R.', 'latin1'));
    const p = cliJson<{ error: { code: string; file: string } }>(['index', 'search', '--index', bad, '--vector-file', IDX('queries.npy')]);
    expect([p.code, p.json.error.code, p.json.error.file]).toEqual([1, 'E_PICKLE_GLOBAL', join(bad, 'id_map.pkl')]);
    const plain = cli(['index', 'search', '--index', bad, '--vector-file', IDX('queries.npy')]);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr).toMatch(/^pserve: E_PICKLE_GLOBAL: .*posix\.system/);
  });

  it('build --bundle: features from the rec model over the real gallery photos (PNG and JPEG), as OpenCV + numpy compute them', () => {
    const bundle = join(root, 'feature-bundle');
    mkdirSync(bundle);
    writeFileSync(join(bundle, 'model.onnx'), poolingFeatureModel());
    const imgList = join(root, 'photos.txt');
    const names = readdirSync(shared('pipeline', 'gallery', 'images')).filter((n) => /\.(jpe?g|png)$/.test(n)).sort();
    writeFileSync(imgList, names.map((n, i) => `${n}\tanmuxi_${i}`).join('\n'));
    const out = join(root, 'from-model');
    const r = cliJson<{ ok: boolean; d: number; ntotal: number }>(['index', 'build', '--gallery', imgList, '--image_root', shared('pipeline', 'gallery', 'images'), '--bundle', bundle, '--out', out, '--index_method', 'Flat']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, d: 192, ntotal: names.length });
    const g = L.openGallery(out);
    const stored = g.index.index.kind === 'flat' ? g.index.index.vectors : new Float32Array(0);
    // every image finds itself first, with score 1
    const self = L.searchGallery(g, stored, 1);
    self.forEach((row, i) => { expect(row[0]!.id).toBe(i); expect(Math.abs(row[0]!.score - 1)).toBeLessThan(1e-5); });
    // search --image answers the image's own line
    const s = cliJson<{ results: { id: number; label: string }[][] }>(['index', 'search', '--index', out, '--image', shared('pipeline', 'gallery', 'images', names[2]!), '--bundle', bundle, '-k', '1']);
    expect(s.code).toBe(0);
    expect(s.json.results[0]![0]).toMatchObject({ id: 2, label: 'anmuxi_2' });
    if (!HAVE_CV2) return;
    const py = spawnSync(PY, ['-c', `
import cv2, numpy as np, sys, json
out = []
for p in sys.argv[1:]:
    img = cv2.imread(p)[:, :, ::-1]
    img = cv2.resize(img, (224, 224))
    x = (img.astype('float32') * np.float32(0.00392157) - np.array([0.485, 0.456, 0.406], 'float32')) / np.array([0.229, 0.224, 0.225], 'float32')
    f = x.transpose(2, 0, 1).reshape(3, 8, 28, 8, 28).mean(axis=(2, 4), dtype=np.float64).astype('float32').reshape(-1)
    out.append((f / np.sqrt(np.sum(np.square(f)))).tolist())
print(json.dumps(out))`, ...names.map((n) => shared('pipeline', 'gallery', 'images', n))], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const ref = JSON.parse(py.stdout) as number[][];
    let maxDiff = 0;
    ref.forEach((row, i) => row.forEach((v, j) => { maxDiff = Math.max(maxDiff, Math.abs(v - stored[i * 192 + j]!)); }));
    expect(maxDiff).toBeLessThan(1e-5);
  });
});

describe('pserve index (CLI, no fixtures)', () => {
  it('--help lists the actions', () => {
    const r = cli(['index', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/build \| append \|\s+remove \| search/);
  });
});
