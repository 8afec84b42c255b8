/**
 * The zoo's detectors through the native ONNX engine, on real photos (../shared/fixtures/pipeline/images,
 * decoded and resized once by /usr/bin/python3 with PIL and numpy, normalised with ImageNet mean/std):
 * - ppyolo_tiny (REAL params): converts, passes onnx.checker, runs, and matches real paddle2onnx
 *   1.2.7's ONNX (paddle2onnx_reference/model_opset11.onnx) within 1e-5 on both outputs for every photo
 *   it can run (rows compared as a set: paddle2onnx orders them by score across classes, Paddle and pserve
 *   by class, then score); pserve also runs the two-photo batch paddle2onnx's export cannot;
 * - ssd_mobilenet_v1 (legacy __model__, prior_box + box_coder + multiclass_nms) and ppyoloe_plus
 *   (multiclass_nms3 over split / reduce_mean heads), with params made in the real layout
 *   (test/zoo-params.ts): convert, pass the checker, run at batch 1 and 2, and give rows in Paddle's
 *   order whose counts add up.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { convertToOnnx } from '../src/convert/onnx/index.js';
import { openSession, type HostTensor, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import { describeShared, shared, tempDir } from './helpers.js';
import { makeZooParams } from './zoo-params.js';
import { paddleNms } from './detection-ref.js';
import { loadModel } from '../src/model/load-model.js';

const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });
const dir = tempDir('pserve-detzoo-');

const PY = '/usr/bin/python3';
const HAVE_PY = existsSync(PY) && spawnSync(PY, ['-c', 'import PIL, numpy, onnx'], { encoding: 'utf8' }).status === 0;
if (!HAVE_PY) console.warn('[pserve tests] /usr/bin/python3 with PIL, numpy and onnx is missing: the detection zoo tests are skipped (apt-get install python3-pil python3-numpy python3-onnx)');

function checker(file: string): void {
  const r = spawnSync(PY, ['-c', 'import sys,onnx; onnx.checker.check_model(sys.argv[1], full_check=True)', file], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

interface Photo { name: string; h: number; w: number; data: Float32Array }

/** Every photo resized to size x size (bicubic), scaled to [0, 1], normalised with ImageNet mean/std, CHW. */
function photos(size: number, crop?: { file: string; box: [number, number, number, number] }): Photo[] {
  const imgDir = shared('pipeline', 'images');
  const files = crop ? [crop.file] : readdirSync(imgDir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  const out = join(dir, `photos-${size}-${crop ? 'crop' : 'all'}.bin`);
  const script = `
import sys, json, numpy as np
from PIL import Image
size, out, crop, files = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
mean = np.array([0.485, 0.456, 0.406], dtype=np.float32); std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
meta = []
with open(out, 'wb') as f:
    for p in files:
        im = Image.open(p).convert('RGB')
        if crop:
            W, H = im.size
            im = im.crop((int(crop[0] * W), int(crop[1] * H), int(crop[2] * W), int(crop[3] * H)))
        w, h = im.size
        a = np.asarray(im.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
        f.write(((a - mean) / std).transpose(2, 0, 1).astype('<f4').tobytes())
        meta.append({'name': p.split('/')[-1], 'h': h, 'w': w})
print(json.dumps(meta))
`;
  const r = spawnSync(PY, ['-c', script, String(size), out, JSON.stringify(crop ? crop.box : null), ...files.map((f) => join(imgDir, f))], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const meta = JSON.parse(r.stdout) as { name: string; h: number; w: number }[];
  const all = new Float32Array(readFileSync(out).buffer.slice(0));
  const n = 3 * size * size;
  return meta.map((m, i) => ({ ...m, data: all.slice(i * n, (i + 1) * n) }));
}

function batchOf(ps: Photo[], size: number): Record<string, HostTensor> {
  const image = new Float32Array(ps.length * 3 * size * size);
  ps.forEach((p, i) => image.set(p.data, i * 3 * size * size));
  return {
    image: { dtype: 'float32', dims: [ps.length, 3, size, size], data: image },
    im_shape: { dtype: 'float32', dims: [ps.length, 2], data: Float32Array.from(ps.flatMap(() => [size, size])) },
    scale_factor: { dtype: 'float32', dims: [ps.length, 2], data: Float32Array.from(ps.flatMap((p) => [size / p.h, size / p.w])) },
  };
}

function rowsOf(t: HostTensor): number[][] {
  const d = Array.from(t.data as Float32Array);
  return Array.from({ length: t.dims[0]! }, (_, i) => d.slice(i * 6, i * 6 + 6));
}

/** Paddle's row order within an image: class ascending, then score descending */
function expectPaddleOrder(rows: number[][], counts: number[], realParams = true): void {
  expect(counts.reduce((a, b) => a + b, 0)).toBe(rows.length);
  let at = 0;
  for (const c of counts) {
    const img = rows.slice(at, at + c);
    at += c;
    for (let i = 1; i < img.length; i++) {
      const [p, q] = [img[i - 1]!, img[i]!];
      expect(p[0]! < q[0]! || (p[0] === q[0] && p[1]! >= q[1]!), `row ${i} of an image: ${p} then ${q}`).toBe(true);
    }
    for (const r of img) {
      expect(Number.isInteger(r[0])).toBe(true);
      expect(r.every(Number.isFinite)).toBe(true);
      // made-up params can predict inverted boxes; trained ones do not
      if (realParams) expect(r[2]! <= r[4]! && r[3]! <= r[5]!, `box ${r}`).toBe(true);
    }
  }
}

/** Match rows as a set (same label, nearest values), one to one; the largest difference of a matched pair. */
function setDiff(got: number[][], want: number[][]): number {
  expect(got.length).toBe(want.length);
  const used = new Set<number>();
  let worst = 0;
  for (const g of got) {
    let best = -1; let bestD = Infinity;
    want.forEach((w, j) => {
      if (used.has(j) || w[0] !== g[0]) return;
      const d = Math.max(...w.map((v, k) => Math.abs(v - g[k]!)));
      if (d < bestD) { bestD = d; best = j; }
    });
    expect(best, `no reference row for ${g}`).toBeGreaterThanOrEqual(0);
    used.add(best);
    worst = Math.max(worst, bestD);
  }
  return worst;
}

const run = (s: OnnxSession, feeds: Record<string, HostTensor>) => s.run(feeds);

describeShared('ppyolo_tiny (real params) against real paddle2onnx 1.2.7, on real photos', () => {
  it.runIf(HAVE_PY)('converts, passes onnx.checker, and matches the reference within 1e-5 on every output', async () => {
    const modelDir = shared('zoo', 'ppyolo_tiny');
    const file = join(dir, 'ppyolo_tiny.onnx');
    const r = await convertToOnnx(modelDir, { saveFile: file, opsetVersion: 11, validate: false }); // it runs on real photos below
    expect(r.opset).toBe(11);
    checker(file);
    const ours = await openSession(file); sessions.push(ours);
    const ref = await openSession(join(modelDir, 'paddle2onnx_reference', 'model_opset11.onnx')); sessions.push(ref);
    const ps = photos(320);
    expect(ps.length).toBeGreaterThanOrEqual(5);
    let worst = 0;
    let compared = 0;
    const refFailed: string[] = [];
    const perPhoto: number[][][] = [];
    for (const p of ps) {
      const o = await run(ours, batchOf([p], 320));
      const rows = rowsOf(o['multiclass_nms3_0.tmp_0']!);
      const counts = Array.from(o['multiclass_nms3_0.tmp_2']!.data as Int32Array);
      expect(counts).toEqual([rows.length]);
      expectPaddleOrder(rows, counts);
      perPhoto.push(rows);
      let w: Record<string, HostTensor>;
      try {
        w = await run(ref, batchOf([p], 320));
      } catch (e) {
        // paddle2onnx's export crashes when exactly one box survives (an axis-less Squeeze)
        refFailed.push(`${p.name} (${rows.length} rows): ${(e as Error).message.slice(0, 80)}`);
        expect(rows.length).toBe(1);
        continue;
      }
      const wantRows = rowsOf(w['multiclass_nms3_0.tmp_0']!);
      expect(Array.from(w['multiclass_nms3_0.tmp_2']!.data as Int32Array).map(Number)).toEqual(counts);
      const d = setDiff(rows, wantRows);
      worst = Math.max(worst, d);
      compared++;
    }
    console.log(`[ppyolo_tiny] ${compared}/${ps.length} photos compared with paddle2onnx 1.2.7, max abs diff ${worst.toExponential(2)}; rows per photo ${perPhoto.map((r) => r.length).join(', ')}${refFailed.length ? `; the reference could not run: ${refFailed.join('; ')}` : ''}`);
    expect(compared).toBeGreaterThanOrEqual(3);
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(perPhoto.some((rows) => rows.length > 1)).toBe(true);

    // batch 2 (paddle2onnx's export only takes batch 1): each image's rows are its batch-1 rows
    const o2 = await run(ours, batchOf([ps[0]!, ps[1]!], 320));
    const counts2 = Array.from(o2['multiclass_nms3_0.tmp_2']!.data as Int32Array);
    expect(counts2).toEqual([perPhoto[0]!.length, perPhoto[1]!.length]);
    const rows2 = rowsOf(o2['multiclass_nms3_0.tmp_0']!);
    const flat1 = [...perPhoto[0]!, ...perPhoto[1]!].flat();
    expect(Math.max(0, ...rows2.flat().map((v, i) => Math.abs(v - flat1[i]!)))).toBeLessThanOrEqual(1e-5);
  }, 300_000);
});

describeShared('ppyolo_tiny when exactly one box survives (paddle2onnx\'s export crashes there)', () => {
  it.runIf(HAVE_PY)('one row and count 1, equal to a float64 Paddle NMS over paddle2onnx\'s own pre-NMS boxes and scores', async () => {
    const modelDir = shared('zoo', 'ppyolo_tiny');
    const file = join(dir, 'ppyolo_tiny-one.onnx');
    await convertToOnnx(modelDir, { saveFile: file, opsetVersion: 11, validate: false });
    const ours = await openSession(file); sessions.push(ours);
    // the top-left quarter of a real COCO photo: one detection survives
    const [p] = photos(320, { file: 'coco_000000570688.jpg', box: [0, 0, 0.5, 0.5] });
    const feeds = batchOf([p!], 320);
    const o = await run(ours, feeds);
    const rows = rowsOf(o['multiclass_nms3_0.tmp_0']!);
    expect(rows.length).toBe(1);
    expect(Array.from(o['multiclass_nms3_0.tmp_2']!.data as Int32Array)).toEqual([1]);
    // paddle2onnx 1.2.7's export fails on this input
    const refFile = join(modelDir, 'paddle2onnx_reference', 'model_opset11.onnx');
    const ref = await openSession(refFile); sessions.push(ref);
    await expect(run(ref, feeds)).rejects.toThrow();
    // its graph up to the NMS (boxes [1, M, 4], scores [1, C, M]) still runs: Paddle's NMS over those, in float64
    const pre = join(dir, 'ppyolo_tiny-prenms.onnx');
    const cut = `
import sys, onnx
from onnx import helper, TensorProto
m = onnx.load(sys.argv[1]); g = m.graph
outs = ['p2o.Concat.55', 'p2o.Concat.57']
prod = {o: n for n in g.node for o in n.output}
need, stack = set(), list(outs)
while stack:
    t = stack.pop()
    n = prod.get(t)
    if n is None or id(n) in need: continue
    need.add(id(n)); stack.extend(n.input)
keep = [n for n in g.node if id(n) in need]
del g.node[:]; g.node.extend(keep)
del g.output[:]; g.output.extend([helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs])
onnx.save(m, sys.argv[2])
`;
    const x = spawnSync(PY, ['-c', cut, refFile, pre], { encoding: 'utf8' });
    expect(x.status, x.stderr).toBe(0);
    const sub = await openSession(pre); sessions.push(sub);
    const t = await run(sub, feeds);
    const bt = t['p2o.Concat.55']!; const st = t['p2o.Concat.57']!;
    const [M, C] = [bt.dims[1]!, st.dims[1]!];
    const bd = bt.data as Float32Array; const sd = st.data as Float32Array;
    const boxes = [Array.from({ length: M }, (_, i) => Array.from(bd.subarray(i * 4, i * 4 + 4)))];
    const scores = [Array.from({ length: C }, (_, c) => Array.from(sd.subarray(c * M, (c + 1) * M)))];
    const nmsOp = loadModel(modelDir, { params: 'skip' }).blocks[0]!.ops.find((op) => op.type === 'multiclass_nms3')!;
    const attr = (k: string) => Number(nmsOp.attrs[k]);
    const want = paddleNms(boxes, scores, {
      score_threshold: attr('score_threshold'), nms_top_k: attr('nms_top_k'), keep_top_k: attr('keep_top_k'), nms_threshold: attr('nms_threshold'),
      normalized: nmsOp.attrs['normalized'] !== false, nms_eta: attr('nms_eta'), background_label: attr('background_label'),
    });
    expect(want.rows.length).toBe(1);
    const d = Math.max(...rows[0]!.map((v, k) => Math.abs(v - want.rows[0]![k]!)));
    console.log(`[ppyolo_tiny one box] row ${rows[0]!.map((v) => v.toFixed(3)).join(', ')}; max abs diff to the float64 NMS ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-5);
  }, 300_000);
});

describeShared('zoo detectors without params (params made in the real layout)', () => {
  const cases: [string, string, number, string][] = [
    ['ssd_mobilenet_v1', '__model__', 300, 'multiclass_nms'],
    ['ppyoloe_plus', 'model.pdmodel', 640, 'multiclass_nms3'],
  ];
  for (const [name, program, size, nmsType] of cases) {
    it.runIf(HAVE_PY)(`${name}: converts, passes onnx.checker, runs on real photos at batch 1 and 2; its ${nmsType} rows equal a float64 Paddle NMS over the converted model's own boxes and scores`, async () => {
      const modelDir = makeZooParams(shared('zoo', name), join(dir, name), program);
      const file = join(dir, `${name}.onnx`);
      const r = await convertToOnnx(modelDir, { saveFile: file, validate: false }); // it runs on real photos below
      checker(file);
      // the same model also giving the NMS op's inputs (the boxes and scores it was handed)
      const nmsOp = loadModel(modelDir, { params: 'skip' }).blocks[0]!.ops.find((op) => op.type === nmsType)!;
      const [bName, sName] = [nmsOp.inputs['BBoxes']![0]!, nmsOp.inputs['Scores']![0]!];
      const tapped = join(dir, `${name}-tapped.onnx`);
      const x = spawnSync(PY, ['-c', 'import sys, onnx; from onnx import helper, TensorProto as T; m = onnx.load(sys.argv[1]); m.graph.output.extend([helper.make_tensor_value_info(n, T.FLOAT, None) for n in sys.argv[3:]]); onnx.save(m, sys.argv[2])', file, tapped, bName, sName], { encoding: 'utf8' });
      expect(x.status, x.stderr).toBe(0);
      const s = await openSession(tapped); sessions.push(s);
      const attr = (k: string) => Number(nmsOp.attrs[k]);
      const at = {
        score_threshold: attr('score_threshold'), nms_top_k: attr('nms_top_k'), keep_top_k: attr('keep_top_k'), nms_threshold: attr('nms_threshold'),
        normalized: nmsOp.attrs['normalized'] !== false, nms_eta: attr('nms_eta'), background_label: attr('background_label'),
      };
      const out = r.outputs[0]!.name;
      const ps = photos(size).slice(0, 2);
      const counts: number[][] = [];
      for (const sel of [[ps[0]!], ps]) {
        const f = batchOf(sel, size);
        const o = await run(s, Object.fromEntries(r.inputs.map((i) => [i.name, f[i.name]!])));
        const bt = o[bName]!; const st = o[sName]!;
        const [N, M, C] = [bt.dims[0]!, bt.dims[1]!, st.dims[1]!];
        const bd = bt.data as Float32Array; const sd = st.data as Float32Array;
        const boxes = Array.from({ length: N }, (_, n) => Array.from({ length: M }, (_, i) => Array.from(bd.subarray((n * M + i) * 4, (n * M + i + 1) * 4))));
        const scores = Array.from({ length: N }, (_, n) => Array.from({ length: C }, (_, c) => Array.from(sd.subarray((n * C + c) * M, (n * C + c + 1) * M))));
        const want = paddleNms(boxes, scores, at);
        expect(want.rows.length).toBeGreaterThan(0);
        const rows = rowsOf(o[out]!);
        expect(rows.length).toBe(want.rows.length);
        const d = Math.max(0, ...rows.flat().map((v, i) => Math.abs(v - want.rows.flat()[i]!)));
        expect(d).toBeLessThanOrEqual(1e-6);
        if (r.outputs[1]) expect(Array.from(o[r.outputs[1].name]!.data as Int32Array)).toEqual(want.counts);
        expectPaddleOrder(rows, want.counts, false);
        counts.push(want.counts);
      }
      expect(counts[1]![0]).toBe(counts[0]![0]);
      console.log(`[${name}] ${nmsType} rows per image equal to the float64 NMS: batch 1 ${counts[0]}, batch 2 ${counts[1]}`);
    }, 300_000);
  }
});
