/**
 * `pserve onnx`, native engine, on real Paddle fixtures: numbers against independent references
 * (the recorded uci_housing price, a naive interpreter of the Paddle ops, paddle2onnx's own ONNX
 * of ppocrv3_det, softmax rows), shapes, onnx.checker on every file written, refusals.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertToOnnx } from '../src/convert/onnx/index.js';
import { loadModel } from '../src/model/load-model.js';
import { openSession, type HostTensor, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import { PY, cli, cliJson, describeShared, pyHas, ROOT, shared, tempDir } from './helpers.js';
import { referenceRun, type T } from './onnx-reference.js';

const out = tempDir('pserve-onnx-');
const written: string[] = [];
const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });

/** a python3 with the onnx package (Debian python3-onnx), for the independent checker */
export function pythonWithOnnx(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import onnx'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}
const PY = pythonWithOnnx();

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
}

function f32(dims: number[], seed: number, lo = -1, hi = 1): HostTensor {
  const r = rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => lo + (hi - lo) * r()) };
}

async function convert(fixture: string, name: string, extra: string[] = []): Promise<OnnxSession> {
  const file = join(out, `${name}.onnx`);
  const r = cliJson<{ engine: string; file: string; validation: { ok?: boolean } }>(['onnx', '--model_dir', shared(fixture), '--save_file', file, '--engine', 'native', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.json.engine).toBe('native');
  expect(r.json.validation.ok).toBe(true);
  written.push(file);
  const s = await openSession(file);
  sessions.push(s);
  return s;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describeShared('pserve onnx (native) on real fixtures', () => {
  it('uci_housing gives the recorded price 18.901151657104492', async () => {
    const s = await convert('uci_housing/uci_housing_model', 'uci');
    expect(s.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: ['x_dim0', 13] }]);
    expect(s.outputs.map((o) => o.name)).toEqual(['fc_0.tmp_1']);
    const x = Float32Array.from([0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332]);
    const r = await s.run({ x: { dtype: 'float32', dims: [1, 13], data: x } });
    expect(Math.abs(Number(r['fc_0.tmp_1']!.data[0]) - 18.901151657104492)).toBeLessThanOrEqual(1e-5);
  });

  for (const [fixture, name, feed, dims] of [
    ['mnist_mlp', 'mnist_mlp', 'image', [3, 1, 28, 28]],
    ['mnist_mlp_2018/model', 'mnist_mlp_2018', 'img', [2, 1, 28, 28]],
    ['dqn_conv/model', 'dqn_conv', 'state', [2, 4, 84, 84]],
  ] as const) {
    it(`${name} matches the Paddle ops computed by hand from its weights`, async () => {
      const s = await convert(fixture, name);
      const x = f32([...dims], 7, fixture.startsWith('dqn') ? 0 : -1, fixture.startsWith('dqn') ? 255 : 1);
      const r = await s.run({ [feed]: x });
      const m = loadModel(shared(fixture), { params: 'require' });
      const ref = referenceRun(m, { [feed]: { dims: [...dims], data: Float64Array.from(x.data as Float32Array) } });
      const fetch = m.fetches[0]!.name;
      expect(r[fetch]!.dims).toEqual(ref[fetch]!.dims);
      expect(maxDiff(r[fetch]!.data as Float32Array, ref[fetch]!.data)).toBeLessThanOrEqual(1e-4);
    });
  }

  it('word2vec_ngram (4 int64 feeds, shared embedding) matches the reference', async () => {
    const s = await convert('word2vec_ngram/word2vec.inference.model', 'word2vec');
    const m = loadModel(shared('word2vec_ngram/word2vec.inference.model'), { params: 'require' });
    const feeds: Record<string, HostTensor> = {};
    const ref: Record<string, T> = {};
    m.feeds.forEach((f, i) => {
      const ids = [3 + i, 100 * i + 7];
      feeds[f.name] = { dtype: 'int64', dims: [2, 1], data: BigInt64Array.from(ids.map(BigInt)) };
      ref[f.name] = { dims: [2, 1], data: Float64Array.from(ids) };
    });
    const r = await s.run(feeds);
    const want = referenceRun(m, ref)[m.fetches[0]!.name]!;
    const got = r[m.fetches[0]!.name]!;
    expect(got.dims).toEqual([2, 2074]);
    expect(maxDiff(got.data as Float32Array, want.data)).toBeLessThanOrEqual(1e-5);
  });

  it('mnist_mlp classifies infer_3.png (a JPEG) as 3', async (t) => {
    if (!pyHas('PIL')) { t.skip(); return; }
    const py = PY;
    const img = shared('mnist_mlp', 'infer_3.png');
    // the fixture's own preprocessing: grey, 28x28 antialiased, /255*2-1
    const r = spawnSync(py, ['-c', 'import sys;from PIL import Image;im=Image.open(sys.argv[1]).convert("L").resize((28,28),Image.LANCZOS);sys.stdout.write(" ".join(str(v) for v in im.getdata()))', img], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const px = r.stdout.trim().split(' ').map(Number);
    expect(px.length).toBe(784);
    const s = sessions.find((x) => x.inputs[0]?.name === 'image') ?? await convert('mnist_mlp', 'mnist_mlp_img');
    const res = await s.run({ image: { dtype: 'float32', dims: [1, 1, 28, 28], data: Float32Array.from(px, (v) => (v / 255) * 2 - 1) } });
    const probs = Array.from(res['save_infer_model/scale_0.tmp_4']!.data as Float32Array);
    expect(probs.indexOf(Math.max(...probs))).toBe(3);
  });

  it('ppocrv3_det matches paddle2onnx\'s ONNX of the same files within 1e-5 at several sizes', async () => {
    const s = await convert('ppocrv3_det', 'ppocrv3_det');
    const refS = await openSession(shared('ppocrv3_det', 'paddle2onnx_reference', 'model_opset11.onnx'));
    sessions.push(refS);
    let seed = 1;
    for (const [n, h, w] of [[1, 32, 32], [1, 64, 96], [2, 96, 64], [1, 160, 224]] as const) {
      // text-like input: light background with dark strokes, so the map is not all zeros
      const x = f32([n, 3, h, w], seed++, 1.5, 2.2);
      const r = rng(seed++);
      const d = x.data as Float32Array;
      for (let k = 0; k < 10; k++) {
        const y0 = Math.floor(r() * (h - 10)); const x0 = Math.floor(r() * (w - 24));
        for (let b = 0; b < n * 3; b++) for (let y = y0; y < y0 + 6; y++) for (let xx = x0; xx < x0 + 20; xx++) if (xx % 3) d[(b * h + y) * w + xx] = -1.8;
      }
      const a = (await s.run({ x }))['sigmoid_0.tmp_0']!;
      const b = (await refS.run({ x }))['sigmoid_0.tmp_0']!;
      expect(a.dims).toEqual([n, 1, h, w]);
      expect(b.dims).toEqual([n, 1, h, w]);
      expect(maxDiff(a.data as Float32Array, b.data as Float32Array)).toBeLessThanOrEqual(1e-5);
    }
  });

  for (const [fixture, dims] of [['ppocrv2_det_ch', [2, 3, 64, 96]], ['ppocrv3_det_ch', [1, 3, 96, 64]]] as const) {
    it(`${fixture} runs with dynamic H/W and gives a probability map`, async () => {
      const s = await convert(fixture, fixture);
      expect(s.inputs[0]!.shape).toEqual(['x_dim0', 3, 'x_dim2', 'x_dim3']);
      const r = (await s.run({ x: f32([...dims], 3) }))['sigmoid_0.tmp_0']!;
      expect(r.dims).toEqual([dims[0], 1, dims[2], dims[3]]);
      for (const v of r.data as Float32Array) expect(v >= 0 && v <= 1).toBe(true);
    });
  }

  for (const [fixture, dims] of [
    ['ppocr_cls_v2', [3, 3, 48, 192]], ['ppocr_cls_v2_oldexport', [3, 3, 32, 100]], ['pplcnet_textline_ori_pir', [2, 3, 80, 160]],
  ] as const) {
    it(`${fixture} classifies: [N,2] rows that sum to 1`, async () => {
      const s = await convert(fixture, fixture);
      const fetch = s.outputs[0]!.name;
      const r = (await s.run({ x: f32([...dims], 11) }))[fetch]!;
      expect(r.dims).toEqual([dims[0], 2]);
      const d = r.data as Float32Array;
      for (let i = 0; i < dims[0]; i++) expect(Math.abs(d[2 * i]! + d[2 * i + 1]! - 1)).toBeLessThanOrEqual(1e-5);
      // different images, different answers: the graph is not constant
      expect(d[0]).not.toBe(d[2]);
    });
  }

  it('textcnn_lod fails naming sequence_conv and sequence_pool, writing nothing', () => {
    const file = join(out, 'textcnn.onnx');
    const r = cliJson<{ ok: boolean; error: { code: string; message: string } }>(['onnx', '--model_dir', shared('textcnn_lod/infer_model'), '--save_file', file, '--engine', 'native']);
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_ONNX_UNSUPPORTED_OPS');
    expect(r.json.error.message).toMatch(/sequence_conv x2/);
    expect(r.json.error.message).toMatch(/sequence_pool x2/);
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(out).filter((f) => f.includes('textcnn'))).toEqual([]);
  });

  it('honours --opset_version 11 and 17 (same numbers), refuses 8 and 18 with the reason, and 9 naming the op that needs more', async () => {
    const x = f32([1, 3, 64, 64], 5);
    const base = (await (await convert('ppocrv3_det', 'det13')).run({ x }))['sigmoid_0.tmp_0']!;
    for (const v of ['11', '17']) {
      const r = (await (await convert('ppocrv3_det', `det${v}`, ['--opset_version', v])).run({ x }))['sigmoid_0.tmp_0']!;
      expect(maxDiff(r.data as Float32Array, base.data as Float32Array)).toBeLessThanOrEqual(1e-6);
    }
    for (const v of ['8', '18']) {
      const r = cliJson<{ error: { code: string; message: string } }>(['onnx', '--model_dir', shared('uci_housing/uci_housing_model'), '--save_file', join(out, 'x.onnx'), '--engine', 'native', '--opset_version', v]);
      expect(r.code).toBe(1);
      expect(r.json.error.code).toBe('E_ONNX_OPSET');
      expect(r.json.error.message).toMatch(/opsets 9 to 17/);
    }
    // the detector resizes with nearest_interp_v2 (ONNX Resize-11): opset 9 is refused naming it
    const r9 = cliJson<{ error: { code: string; message: string } }>(['onnx', '--model_dir', shared('ppocrv3_det'), '--save_file', join(out, 'x9.onnx'), '--engine', 'native', '--opset_version', '9']);
    expect(r9.code).toBe(1);
    expect(r9.json.error.code).toBe('E_ONNX_OPSET');
    expect(r9.json.error.message).toMatch(/interp_v2 needs 11/);
    expect(existsSync(join(out, 'x9.onnx'))).toBe(false);
  });

  it('puts parameters in an external data file above the threshold, and onnxruntime reads it', async () => {
    const file = join(out, 'mnist_ext.onnx');
    const r = await convertToOnnx(shared('mnist_mlp'), { saveFile: file, externalDataThreshold: 100_000 });
    expect(r.externalDataFile).toBe(join(out, 'mnist_ext.onnx.data'));
    expect(readFileSync(file).byteLength).toBeLessThan(20_000);
    expect(readFileSync(r.externalDataFile!).byteLength).toBeGreaterThan(357_000);
    written.push(file);
    const a = await openSession(file); sessions.push(a);
    const b = sessions.find((x) => x.inputs[0]?.name === 'image')!;
    const x = f32([1, 1, 28, 28], 9);
    const ya = (await a.run({ image: x }))['save_infer_model/scale_0.tmp_4']!;
    const yb = (await b.run({ image: x }))['save_infer_model/scale_0.tmp_4']!;
    expect(maxDiff(ya.data as Float32Array, yb.data as Float32Array)).toBe(0);
  });

  it('text output says which engine ran and that it validated; --no-validate skips', () => {
    const file = join(out, 'uci_text.onnx');
    const r = cli(['onnx', '--model_dir', shared('uci_housing/uci_housing_model'), '--save_file', file], { env: { PATH: '/usr/bin:/bin' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^engine {4}native \(paddle2onnx not found on PATH\)/);
    expect(r.stdout).toMatch(/validated onnxruntime ran it: fc_0\.tmp_1 \[1,1\] finite/);
    const r2 = cliJson<{ validation: { skipped?: boolean } }>(['onnx', '--model-dir', shared('uci_housing/uci_housing_model'), '--save-file', file, '--engine', 'native', '--no-validate']);
    expect(r2.code).toBe(0);
    expect(r2.json.validation).toEqual({ skipped: true });
    written.push(file);
  });

  it('every ONNX written passes onnx.checker (python3-onnx)', (t) => {
    if (!PY) { t.skip(); console.warn('[pserve tests] no python3 with the onnx package: onnx.checker not run (apt-get install python3-onnx)'); return; }
    if (written.length === 0) { t.skip(); return; } // run alone (-t): nothing was written before it
    const list = join(out, 'written.txt');
    writeFileSync(list, written.join('\n'));
    const r = spawnSync(PY, ['-c', 'import sys,onnx\nfor p in open(sys.argv[1]).read().split("\\n"):\n  onnx.checker.check_model(p, full_check=True)\nprint("checked")', list], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('checked');
  });
});

describe('pserve onnx on the repo\'s generated fixtures', () => {
  it('tiny_classifier converts, validates and passes the checker', () => {
    const d = tempDir('pserve-onnx-tiny-');
    const file = join(d, 'tiny.onnx');
    const r = cliJson<{ engine: string; opset: number; validation: { ok: boolean } }>(['onnx', '--model_dir', join(ROOT, 'fixtures', 'tiny_classifier'), '--save_file', file, '--engine', 'native']);
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    // no --opset_version: the lowest opset its ops need (conv, batch_norm, relu, pool2d, ... all exist at 9)
    expect(r.json.opset).toBe(9);
    expect(r.json.validation.ok).toBe(true);
    if (PY) expect(spawnSync(PY, ['-c', 'import sys,onnx; onnx.checker.check_model(sys.argv[1], full_check=True)', file]).status).toBe(0);
  });

  it('a missing --save_file is a usage error', () => {
    const r = cliJson<{ error: { code: string } }>(['onnx', '--model_dir', join(ROOT, 'fixtures', 'tiny_classifier')]);
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('E_USAGE');
  });
});
