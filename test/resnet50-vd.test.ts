/**
 * scripts/resnet50-vd.mjs builds what it claims: PaddleClas's ResNet50_vd (the seed imagenet
 * service's model) as a Paddle inference program with made params.
 *
 *  - the layer plan, read back from the written program, against the architecture restated here
 *    (55 convs: 3 stem + 48 bottleneck + 4 shortcut; the vd avg pools before the stage 2-4
 *    shortcut convs; 1x1/3x3/1x1 with the stride on the 3x3), and against a real Paddle export of
 *    the same backbone (the zoo's ppTSM, a ResNet50_vd-TSM) when the shared fixtures are there;
 *  - params in the real layout: every persistable var in sorted-name order in one .pdiparams,
 *    ResNet50_vd's 25.58M trainable numbers plus the batch-norm statistics;
 *  - deterministic: the generator and `pserve onnx` each give the same bytes twice;
 *  - the numbers: a width/8 variant (same layer plan) converted with the real CLI and run in
 *    onnxruntime equals a float64 re-computation written here from the .pdiparams, on a generated
 *    scene and (shared fixtures) on daisy.jpg preprocessed as the imagenet recipe does; the full-size
 *    model converts and gives a probability row [1,1000].
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/model/load-model.js';
import { openSession, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import { HAVE_SHARED, cliJson, describeShared, shared, tempDir } from './helpers.js';
import { IMAGENET, normalize, sceneImage } from './zoo-images.js';
// @ts-expect-error -- an .mjs script without types (it runs on dist/)
import { buildResNet50vd, writeResNet50vd, FEED, FETCH } from '../scripts/resnet50-vd.mjs';
// @ts-expect-error no typings for the template
import { decodeImage } from '../templates/server/image/decode.mjs';
// @ts-expect-error no typings for the template
import { centerCrop, normalizeToChw, resizeShort } from '../templates/server/image/ops.mjs';

const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });

/** the architecture, restated: [cout, cin, k, stride] of every conv in construction (= run) order */
function expectedConvs(div: number): number[][] {
  const out: number[][] = [[32 / div, 3, 3, 2], [32 / div, 32 / div, 3, 1], [64 / div, 32 / div, 3, 1]];
  let cin = 64 / div;
  for (const [s, depth] of [3, 4, 6, 3].entries()) {
    const w = [64, 128, 256, 512][s]! / div;
    for (let i = 0; i < depth; i++) {
      out.push([w, cin, 1, 1], [w, w, 3, i === 0 && s > 0 ? 2 : 1], [4 * w, w, 1, 1]);
      if (i === 0) out.push([4 * w, cin, 1, 1]);
      cin = 4 * w;
    }
  }
  return out;
}

function opCounts(ops: { type: string }[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const o of ops) c[o.type] = (c[o.type] ?? 0) + 1;
  return c;
}

describe('scripts/resnet50-vd.mjs: the program', () => {
  const dir = tempDir('pserve-r50-plan-');
  writeResNet50vd(join(dir, 'full'), { params: false });
  const m = loadModel(join(dir, 'full'), { params: 'skip' });
  const ops = m.blocks[0]!.ops;
  const vars = m.blocks[0]!.vars;

  it('has ResNet50_vd\'s layer plan: 55 conv+BN, 51 ReLU, 5 pools, 16 residual adds, fc 2048->1000, softmax', () => {
    expect(opCounts(ops)).toEqual({
      feed: 1, conv2d: 55, batch_norm: 55, relu: 51, pool2d: 5, elementwise_add: 17,
      flatten_contiguous_range: 1, matmul_v2: 1, softmax: 1, fetch: 1,
    });
    const convs = ops.filter((o) => o.type === 'conv2d');
    const got = convs.map((o) => [...vars.get(o.inputs['Filter']![0]!)!.shape.slice(0, 3), (o.attrs['strides'] as number[])[0]!]);
    expect(got).toEqual(expectedConvs(1));
    for (const o of convs) {
      const k = vars.get(o.inputs['Filter']![0]!)!.shape[2]!;
      expect(o.attrs['paddings']).toEqual([(k - 1) / 2, (k - 1) / 2]);
      expect(o.attrs['groups']).toBe(1);
      expect(o.inputs['Bias'] ?? []).toEqual([]);
    }
    // every conv is followed by its batch norm, params named by layer in construction order
    convs.forEach((o, i) => {
      expect(o.inputs['Filter']).toEqual([`conv2d_${i}.w_0`]);
      const bn = ops[ops.indexOf(o) + 1]!;
      expect(bn.type).toBe('batch_norm');
      expect(bn.inputs['X']).toEqual(o.outputs['Output']);
      expect([bn.inputs['Scale'], bn.inputs['Bias'], bn.inputs['Mean'], bn.inputs['Variance']]).toEqual([[`batch_norm_${i}.w_0`], [`batch_norm_${i}.b_0`], [`batch_norm_${i}.w_1`], [`batch_norm_${i}.w_2`]]);
      expect(bn.attrs['is_test']).toBe(true);
    });
    expect(m.feeds.map((f) => [f.name, f.shape])).toEqual([[FEED, [-1, 3, 224, 224]]]);
    expect(m.fetches.map((f) => [f.name, f.shape])).toEqual([[FETCH, [-1, 1000]]]);
  });

  it('pools: max 3x3/2 pad 1 after the stem; the vd avg pool 2x2/2 (SAME, ceil_mode) feeds the stage 2-4 shortcut convs; a global pool before the fc', () => {
    const pools = ops.filter((o) => o.type === 'pool2d');
    const at = (o: (typeof ops)[number]) => ops.indexOf(o);
    const shape = (n: string) => vars.get(n)!.shape;
    expect(pools[0]!.attrs).toMatchObject({ pooling_type: 'max', ksize: [3, 3], strides: [2, 2], paddings: [1, 1], ceil_mode: false });
    expect(shape(pools[0]!.outputs['Out']![0]!)).toEqual([-1, 64, 56, 56]);
    for (const [k, p] of pools.slice(1, 4).entries()) {
      expect(p.attrs).toMatchObject({ pooling_type: 'avg', ksize: [2, 2], strides: [2, 2], padding_algorithm: 'SAME', ceil_mode: true, exclusive: true });
      const hw = [56, 28, 14][k]!;
      expect(shape(p.inputs['X']![0]!)).toEqual([-1, [256, 512, 1024][k], hw, hw]);
      const next = ops[at(p) + 1]!;
      expect(next.type).toBe('conv2d');
      expect(next.inputs['Input']).toEqual(p.outputs['Out']);
      expect(shape(next.inputs['Filter']![0]!).slice(2)).toEqual([1, 1]);
      expect(next.attrs['strides']).toEqual([1, 1]);
    }
    // stage 1's shortcut: the 1x1 conv straight on the max pool's output
    const firstShort = ops.filter((o) => o.type === 'conv2d')[6]!;
    expect(firstShort.inputs['Input']).toEqual(pools[0]!.outputs['Out']);
    expect(pools[4]!.attrs).toMatchObject({ pooling_type: 'avg', adaptive: true, ksize: [1, 1] });
    expect(shape(pools[4]!.inputs['X']![0]!)).toEqual([-1, 2048, 7, 7]);
    const tail = ops.slice(at(pools[4]!) + 1).map((o) => o.type);
    expect(tail).toEqual(['flatten_contiguous_range', 'matmul_v2', 'elementwise_add', 'softmax', 'fetch']);
    expect(shape('linear_0.w_0')).toEqual([2048, 1000]);
  });

  it('declares the params in the real layout: 25.58M trainable + BN statistics, all persistable, none else', () => {
    const persist = [...vars.values()].filter((v) => v.persistable && v.name !== 'feed' && v.name !== 'fetch');
    const n = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const total = persist.reduce((a, v) => a + n(v.shape), 0);
    const stats = persist.filter((v) => /^batch_norm_\d+\.w_[12]$/.test(v.name)).reduce((a, v) => a + n(v.shape), 0);
    // PaddleClas lists ResNet50_vd at 25.58M params
    expect(total - stats).toBe(25576264);
    expect(stats).toBe(2 * 26624);
    expect(persist.length).toBe(55 * 5 + 2);
    expect([...m.paramNames]).toEqual(persist.map((v) => v.name).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  });
});

describeShared('scripts/resnet50-vd.mjs against a real Paddle export of the backbone', () => {
  it('the zoo ppTSM (ResNet50_vd-TSM, PaddleVideo) has the same conv/BN/ReLU/pool plan and filter shapes', () => {
    const real = loadModel(shared('zoo', 'pptsm_k400'), { params: 'skip' });
    const rops = real.blocks[0]!.ops;
    const rc = opCounts(rops);
    const mine = buildResNet50vd({ params: false }).layers;
    for (const t of ['conv2d', 'batch_norm', 'relu', 'pool2d', 'elementwise_add'] as const) expect(rc[t]).toBe(mine[t]);
    const filters = rops.filter((o) => o.type === 'conv2d').map((o) => real.blocks[0]!.vars.get(o.inputs['Filter']![0]!)!.shape);
    expect(filters.map((s) => s.slice(0, 3))).toEqual(expectedConvs(1).map((c) => c.slice(0, 3)));
    const avg = rops.filter((o) => o.type === 'pool2d' && o.attrs['pooling_type'] === 'avg' && !o.attrs['adaptive']);
    expect(avg.map((o) => [o.attrs['ksize'], o.attrs['strides'], o.attrs['ceil_mode']])).toEqual(Array(3).fill([[2, 2], [2, 2], true]));
  });
});

// ---- an independent float64 forward pass, from the params file ----

interface T { c: number; h: number; w: number; d: Float64Array }

function conv(x: T, wt: Float32Array, cout: number, k: number, s: number): T {
  const p = (k - 1) >> 1;
  const h = Math.floor((x.h + 2 * p - k) / s) + 1, w = Math.floor((x.w + 2 * p - k) / s) + 1;
  const d = new Float64Array(cout * h * w);
  for (let o = 0; o < cout; o++) for (let ci = 0; ci < x.c; ci++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
    const wv = wt[((o * x.c + ci) * k + ky) * k + kx]!;
    for (let y = 0; y < h; y++) {
      const iy = y * s + ky - p;
      if (iy < 0 || iy >= x.h) continue;
      const row = (ci * x.h + iy) * x.w, orow = (o * h + y) * w;
      for (let xx = 0; xx < w; xx++) {
        const ix = xx * s + kx - p;
        if (ix >= 0 && ix < x.w) d[orow + xx]! += wv * x.d[row + ix]!;
      }
    }
  }
  return { c: cout, h, w, d };
}

function bn(x: T, p: (n: string) => Float32Array, i: number): T {
  const [g, b, mu, v] = ['w_0', 'b_0', 'w_1', 'w_2'].map((s) => p(`batch_norm_${i}.${s}`));
  const d = new Float64Array(x.d.length), hw = x.h * x.w;
  for (let c = 0; c < x.c; c++) {
    const a = g![c]! / Math.sqrt(v![c]! + 1e-5);
    for (let j = 0; j < hw; j++) d[c * hw + j] = (x.d[c * hw + j]! - mu![c]!) * a + b![c]!;
  }
  return { ...x, d };
}

const relu = (x: T): T => ({ ...x, d: x.d.map((v) => Math.max(0, v)) });
const addT = (a: T, b: T): T => ({ ...a, d: a.d.map((v, i) => v + b.d[i]!) });

function pool(x: T, type: 'max' | 'avg', k: number, s: number, same: boolean, pad = 0): T {
  // SAME: out = ceil(in / s), the missing cells split with the smaller half first, not counted
  const h = same ? Math.ceil(x.h / s) : Math.floor((x.h + 2 * pad - k) / s) + 1;
  const w = same ? Math.ceil(x.w / s) : Math.floor((x.w + 2 * pad - k) / s) + 1;
  const py = same ? Math.floor(Math.max(0, (h - 1) * s + k - x.h) / 2) : pad;
  const px = same ? Math.floor(Math.max(0, (w - 1) * s + k - x.w) / 2) : pad;
  const d = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) {
    let acc = type === 'max' ? -Infinity : 0, n = 0;
    for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const iy = y * s + ky - py, ix = xx * s + kx - px;
      if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
      const v = x.d[(c * x.h + iy) * x.w + ix]!;
      acc = type === 'max' ? Math.max(acc, v) : acc + v;
      n++;
    }
    d[(c * h + y) * w + xx] = type === 'max' ? acc : acc / n;
  }
  return { c: x.c, h, w, d };
}

function forward64(p: (n: string) => Float32Array, input: Float32Array, div: number): { probs: Float64Array; maxAbs: number } {
  let idx = 0;
  let maxAbs = 0;
  const cbn = (x: T, cout: number, k: number, s: number): T => {
    const i = idx++;
    const y = bn(conv(x, p(`conv2d_${i}.w_0`), cout, k, s), p, i);
    for (const v of y.d) maxAbs = Math.max(maxAbs, Math.abs(v));
    return y;
  };
  let x: T = { c: 3, h: 224, w: 224, d: Float64Array.from(input) };
  x = relu(cbn(x, 32 / div, 3, 2));
  x = relu(cbn(x, 32 / div, 3, 1));
  x = relu(cbn(x, 64 / div, 3, 1));
  x = pool(x, 'max', 3, 2, false, 1);
  for (const [s, depth] of [3, 4, 6, 3].entries()) {
    const w = [64, 128, 256, 512][s]! / div;
    for (let i = 0; i < depth; i++) {
      const stride = i === 0 && s > 0 ? 2 : 1;
      const y = cbn(relu(cbn(relu(cbn(x, w, 1, 1)), w, 3, stride)), 4 * w, 1, 1);
      const short = i > 0 ? x : cbn(stride > 1 ? pool(x, 'avg', 2, stride, true) : x, 4 * w, 1, 1);
      x = relu(addT(y, short));
    }
  }
  const f = new Float64Array(x.c);
  for (let c = 0; c < x.c; c++) { let acc = 0; for (let j = 0; j < x.h * x.w; j++) acc += x.d[c * x.h * x.w + j]!; f[c] = acc / (x.h * x.w); }
  const W = p('linear_0.w_0'), B = p('linear_0.b_0');
  const classes = B.length;
  const logits = new Float64Array(classes);
  for (let j = 0; j < classes; j++) { let acc = B[j]!; for (let c = 0; c < x.c; c++) acc += f[c]! * W[c * classes + j]!; logits[j] = acc; }
  const top = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return { probs: e.map((v) => v / sum), maxAbs };
}

function probabilityRow(data: Float32Array): { sum: number; max: number; argmax: number } {
  let sum = 0, max = -1, argmax = -1;
  data.forEach((v, i) => { expect(v).toBeGreaterThanOrEqual(0); sum += v; if (v > max) { max = v; argmax = i; } });
  return { sum, max, argmax };
}

describe('scripts/resnet50-vd.mjs: converted with `pserve onnx` and run', () => {
  const dir = tempDir('pserve-r50-run-');
  const image = normalize(sceneImage(224, 224, 7), IMAGENET.mean, IMAGENET.std);
  // and a photo when the shared fixtures are there: daisy.jpg as the imagenet recipe feeds it
  const daisy: Float32Array | undefined = HAVE_SHARED
    ? normalizeToChw(centerCrop(resizeShort(decodeImage(readFileSync(shared('pipeline', 'images', 'daisy.jpg')), { order: 'rgb' }), 256), 224), { div: 255, ...IMAGENET }).data
    : undefined;

  it('width/8 (same layer plan): byte-stable generator and converter; onnxruntime equals a float64 re-computation', async () => {
    const a = writeResNet50vd(join(dir, 'w8a'), { widthDiv: 8 });
    writeResNet50vd(join(dir, 'w8b'), { widthDiv: 8 });
    expect(a.layers).toMatchObject({ conv2d: 55, batch_norm: 55, relu: 51, pool2d: 5, elementwise_add: 17, residualAdds: 16, features: 256 });
    for (const f of ['inference.pdmodel', 'inference.pdiparams']) expect(readFileSync(join(dir, 'w8a', f)).equals(readFileSync(join(dir, 'w8b', f)))).toBe(true);
    const onnxFiles = ['w8a', 'w8b'].map((d) => {
      const r = cliJson<{ ok: boolean; ops: Record<string, number> }>(['onnx', '--model_dir', join(dir, d), '--save_file', join(dir, `${d}.onnx`), '--engine', 'native', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.ok).toBe(true);
      expect(r.json.ops).toMatchObject({ conv2d: 55, batch_norm: 55, pool2d: 5 });
      return readFileSync(join(dir, `${d}.onnx`));
    });
    expect(onnxFiles[0]!.equals(onnxFiles[1]!)).toBe(true);

    const s = await openSession(join(dir, 'w8a.onnx'));
    sessions.push(s);
    const m = loadModel(join(dir, 'w8a'), { params: 'require' });
    if (!daisy) console.warn('[pserve tests] shared fixtures absent: resnet50-vd compared on the generated scene only');
    for (const input of daisy ? [image, daisy] : [image]) {
      const out = (await s.run({ [FEED]: { dtype: 'float32', dims: [1, 3, 224, 224], data: input } }))[FETCH]!;
      expect(out.dims).toEqual([1, 1000]);
      const got = out.data as Float32Array;
      const row = probabilityRow(got);
      expect(Math.abs(row.sum - 1)).toBeLessThan(1e-5);
      const ref = forward64((n) => m.readParam(n) as Float32Array, input, 8);
      // activations stay in range with these made params (no blow-up through 16 residual blocks)
      expect(ref.maxAbs).toBeLessThan(100);
      let worst = 0, refArg = 0;
      ref.probs.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - got[i]!) / Math.max(1e-3, v)); if (v > ref.probs[refArg]!) refArg = i; });
      expect(row.argmax).toBe(refArg);
      expect(worst).toBeLessThan(1e-4);
      // not flat (uniform is 0.001), not one-hot
      expect(row.max).toBeGreaterThan(0.004);
      expect(row.max).toBeLessThan(0.999);
    }
  });

  it('full size: converts natively (opset 10 for ceil_mode) and gives a probability row [1,1000]', async () => {
    const r50 = writeResNet50vd(join(dir, 'full'), {});
    expect(r50.layers.paramCount).toBe(25576264 + 2 * 26624);
    const r = cliJson<{ ok: boolean; opset: number; outputs: { name: string; shape: number[] }[] }>(['onnx', '--model_dir', join(dir, 'full'), '--save_file', join(dir, 'full.onnx'), '--engine', 'native', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.opset).toBe(10);
    expect(r.json.outputs.map((o) => [o.name, o.shape])).toEqual([[FETCH, [-1, 1000]]]);
    const s = await openSession(join(dir, 'full.onnx'), { threads: 1 });
    sessions.push(s);
    const out = (await s.run({ [FEED]: { dtype: 'float32', dims: [1, 3, 224, 224], data: image } }))[FETCH]!;
    expect(out.dims).toEqual([1, 1000]);
    const row = probabilityRow(out.data as Float32Array);
    expect(Math.abs(row.sum - 1)).toBeLessThan(1e-5);
    expect(row.max).toBeGreaterThan(0.01);
    expect(row.max).toBeLessThan(0.999);
  });
});
