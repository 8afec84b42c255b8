/**
 * Detection post-processing through the native ONNX engine: small Paddle programs (ProgramBuilder,
 * real files) ending in multiclass_nms3 / multiclass_nms / yolo_box / prior_box + box_coder are
 * converted, run in onnxruntime and compared with float64 implementations of Paddle's CPU kernels
 * written here (boxes, scores, labels, row order, per-image counts, Index), on crafted boxes:
 * overlaps, ties, an empty result, exactly one box, several classes, nms_top_k smaller than the
 * candidates, keep_top_k across classes, unnormalized boxes, batch 2, and a cluttered scene.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertToOnnx } from '../src/convert/onnx/index.js';
import { PserveError } from '../src/errors.js';
import { ProgramBuilder, seededFloats, type BuilderAttr } from '../src/formats/program-builder.js';
import { openSession, type HostTensor, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import type { LoadedModel } from '../src/model/load-model.js';
import type { OpNode, TensorSpec, VarSpec } from '../src/model/types.js';
import { tempDir } from './helpers.js';
import { iou, paddleNms, type NmsAttrs } from './detection-ref.js';

const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });
const dir = tempDir('pserve-det-');
let seq = 0;

async function convert(b: ProgramBuilder, opset?: number): Promise<OnnxSession> {
  const d = join(dir, `m${seq++}`);
  mkdirSync(d);
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  const params = b.paramsBytes();
  if (params.byteLength) writeFileSync(join(d, 'inference.pdiparams'), params);
  const r = await convertToOnnx(d, opset === undefined ? {} : { opsetVersion: opset });
  const s = await openSession(r.bytes!);
  sessions.push(s);
  return s;
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try { await p; return 'no error'; } catch (e) { expect(e).toBeInstanceOf(PserveError); return (e as PserveError).code; }
}

const f32 = (v: number) => Math.fround(v);
const t32 = (dims: number[], v: number[]): HostTensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });

// ---------------------------------------------------------------- float64 Paddle NMS

const NMS_DEFAULTS: NmsAttrs = { score_threshold: 0.05, nms_top_k: -1, keep_top_k: -1, nms_threshold: 0.5, normalized: true, nms_eta: 1, background_label: 0 };

function nmsProgram(type: string, N: number | -1, M: number, C: number, at: NmsAttrs): ProgramBuilder {
  const b = new ProgramBuilder().feed('bboxes', 'float32', [N, M, 4]).feed('scores', 'float32', [N, C, M])
    .variable('out', 'float32', [-1, 6]).variable('num', 'int32', [-1]).variable('index', 'int32', [-1, 1]);
  const attrs: Record<string, BuilderAttr> = {
    score_threshold: { f: at.score_threshold }, nms_top_k: at.nms_top_k, keep_top_k: at.keep_top_k, nms_threshold: { f: at.nms_threshold },
    normalized: at.normalized, nms_eta: { f: at.nms_eta }, background_label: at.background_label,
  };
  const outs: Record<string, string[]> = { Out: ['out'] };
  if (type !== 'multiclass_nms') outs['Index'] = ['index'];
  if (type === 'multiclass_nms3') outs['NmsRoisNum'] = ['num'];
  b.op(type, { BBoxes: ['bboxes'], Scores: ['scores'] }, outs, attrs).fetch('out');
  if (type === 'multiclass_nms3') b.fetch('num');
  if (type !== 'multiclass_nms') b.fetch('index');
  return b;
}

async function checkNms(type: string, boxes: number[][][], scores: number[][][], over: Partial<NmsAttrs>, expectRows?: number) {
  const at = { ...NMS_DEFAULTS, ...over };
  const N = boxes.length; const M = boxes[0]!.length; const C = scores[0]!.length;
  const s = await convert(nmsProgram(type, -1, M, C, at));
  const r = await s.run({ bboxes: t32([N, M, 4], boxes.flat(2)), scores: t32([N, C, M], scores.flat(2)) });
  const want = paddleNms(boxes.map((b) => b.map((x) => x.map(f32))), scores.map((sc) => sc.map((x) => x.map(f32))), at);
  if (expectRows !== undefined) expect(want.rows.length).toBe(expectRows);
  const out = r['out']!;
  if (type === 'multiclass_nms' && want.rows.length === 0) {
    expect(out.dims).toEqual([1, 1]);
    expect(Array.from(out.data as Float32Array)).toEqual([-1]);
    return want;
  }
  expect(out.dims).toEqual([want.rows.length, 6]);
  const got = Array.from(out.data as Float32Array);
  const flat = want.rows.flat();
  for (let i = 0; i < flat.length; i++) expect(Math.abs(got[i]! - flat[i]!), `row ${Math.floor(i / 6)} col ${i % 6}`).toBeLessThanOrEqual(1e-6);
  if (type === 'multiclass_nms3') {
    expect(r['num']!.dtype).toBe('int32');
    expect(Array.from(r['num']!.data as Int32Array)).toEqual(want.counts);
  }
  if (type !== 'multiclass_nms') {
    expect(r['index']!.dims).toEqual([want.rows.length, 1]);
    expect(Array.from(r['index']!.data as Int32Array)).toEqual(want.index);
  }
  return want;
}

// crafted scene: 6 boxes, 3 classes (0 = background)
const B6 = [
  [10, 10, 50, 50], // 0
  [12, 12, 52, 52], // 1: IoU with 0 ~0.82
  [30, 30, 70, 70], // 2: IoU with 0 ~0.14
  [100, 100, 140, 160], // 3: alone
  [101, 99, 141, 161], // 4: overlaps 3
  [60, 10, 90, 40], // 5
];
const S6 = [
  [0.9, 0.9, 0.9, 0.9, 0.9, 0.9], // background: never output
  [0.8, 0.85, 0.6, 0.3, 0.3, 0.04], // class 1: tie 3/4 (box 3 first: lower index)
  [0.5, 0.5, 0.7, 0.1, 0.2, 0.95], // class 2: tie 0/1
];

describe('multiclass_nms3 against a float64 Paddle NMS', () => {
  it('overlaps, ties broken by box order, several classes, background skipped', async () => {
    const w = await checkNms('multiclass_nms3', [B6], [S6], {});
    // class 1 keeps 1 (0 suppressed), 2, 3 (4 loses the tie to 3 and overlaps it); class 2 keeps 5, 2, 0 (1, tied with 0, is
    // suppressed by it), 4 (3 overlaps it)
    expect(w.rows.map((r) => [r[0], r[1]])).toEqual([[1, f32(0.85)], [1, f32(0.6)], [1, f32(0.3)], [2, f32(0.95)], [2, f32(0.7)], [2, f32(0.5)], [2, f32(0.2)]]);
  });

  it('nms_top_k cuts the candidates BEFORE suppression', async () => {
    // class 1 sorted: 1 (0.85), 0 (0.8), 2 (0.6), ...; top 2 = {1, 0}: 0 is suppressed by 1 and 2 is never a candidate
    const w = await checkNms('multiclass_nms3', [B6], [S6], { nms_top_k: 2 });
    expect(w.rows.filter((r) => r[0] === 1).length).toBe(1);
  });

  it('keep_top_k across classes by score, written back in class order', async () => {
    const w = await checkNms('multiclass_nms3', [B6], [S6], { keep_top_k: 4 });
    expect(w.rows.map((r) => r[0])).toEqual([1, 1, 2, 2]);
    await checkNms('multiclass_nms3', [B6], [S6], { keep_top_k: 0 }, 0);
    await checkNms('multiclass_nms3', [B6], [S6], { keep_top_k: 100 });
  });

  it('an empty result is [0, 6] with count 0 and Index [0, 1]', async () => {
    await checkNms('multiclass_nms3', [B6], [S6], { score_threshold: 0.99 }, 0);
    await checkNms('multiclass_nms3', [B6, B6], [S6, S6], { score_threshold: 0.99 }, 0);
  });

  it('exactly one box survives (batch 1 and batch 2)', async () => {
    await checkNms('multiclass_nms3', [B6], [S6], { score_threshold: 0.9 }, 1);
    const low = S6.map((c) => c.map(() => 0.01));
    await checkNms('multiclass_nms3', [B6, B6], [low, S6], { score_threshold: 0.9 }, 1);
  });

  it('batch 2: per-image counts and Index offsets by image', async () => {
    const B6b = B6.map((b) => b.map((v) => v * 1.5 + 3));
    const S6b = [S6[0]!, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.66, 0.65, 0.64, 0.63, 0.62, 0.61]];
    const w = await checkNms('multiclass_nms3', [B6, B6b], [S6, S6b], { nms_threshold: 0.3 });
    expect(w.counts[0]).not.toBe(w.counts[1]);
  });

  it('normalized = false (+1 widths), background_label -1, nms_eta < 1 at a threshold <= 0.5', async () => {
    const touching = [[0, 0, 9, 9], [10, 0, 19, 9], [5, 0, 14, 9], [0, 0, 9, 9], [40, 40, 41, 41], [40, 40, 42, 42]];
    const sc = [[0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [0.3, 0.2, 0.1, 0.9, 0.8, 0.7]];
    await checkNms('multiclass_nms3', [touching], [sc], { normalized: false, nms_threshold: 0.3, background_label: -1 });
    await checkNms('multiclass_nms3', [touching], [sc], { normalized: true, nms_threshold: 0.3, background_label: -1 });
    await checkNms('multiclass_nms3', [B6], [S6], { nms_eta: 0.9, nms_threshold: 0.45 });
  });

  it('a cluttered scene at batch 2: 200 boxes, 5 classes, quantized scores (many ties), nms_top_k and keep_top_k biting', async () => {
    const M = 200; const C = 5;
    const mk = (seed: number) => {
      const u = seededFloats(M * 4, seed);
      const boxes = Array.from({ length: M }, (_, i) => {
        const cx = 160 + 150 * u[i * 4]!; const cy = 160 + 150 * u[i * 4 + 1]!;
        const w = 20 + 18 * u[i * 4 + 2]!; const h = 20 + 18 * u[i * 4 + 3]!;
        return [cx - w, cy - h, cx + w, cy + h].map((v) => Math.round(v * 4) / 4);
      });
      const v = seededFloats(C * M, seed + 1);
      const scores = Array.from({ length: C }, (_, c) => Array.from({ length: M }, (_, i) => Math.round((v[c * M + i]! + 1) * 5) / 10));
      return { boxes, scores };
    };
    const a = mk(7); const b = mk(99);
    for (const over of [{ nms_top_k: 30, keep_top_k: 25, score_threshold: 0.3, nms_threshold: 0.45 }, { nms_top_k: -1, keep_top_k: -1, score_threshold: 0.5, nms_threshold: 0.6 }]) {
      const w = await checkNms('multiclass_nms3', [a.boxes, b.boxes], [a.scores, b.scores], over);
      expect(w.rows.length).toBeGreaterThan(20);
    }
  });

  it('multiclass_nms2 writes Out and Index; multiclass_nms writes Paddle\'s [[-1]] when nothing is kept', async () => {
    await checkNms('multiclass_nms2', [B6, B6], [S6, S6], { keep_top_k: 5 });
    await checkNms('multiclass_nms', [B6], [S6], { nms_top_k: 3 });
    await checkNms('multiclass_nms', [B6], [S6], { score_threshold: 0.99 }, 0);
  });

  it('opset 11, 13 and 17 give the same rows', async () => {
    for (const opset of [11, 13, 17]) {
      const s = await convert(nmsProgram('multiclass_nms3', -1, 6, 3, NMS_DEFAULTS), opset);
      const r = await s.run({ bboxes: t32([1, 6, 4], B6.flat()), scores: t32([1, 3, 6], S6.flat()) });
      expect(r['out']!.dims).toEqual([7, 6]);
      expect(Array.from(r['out']!.data as Float32Array).filter((_, i) => i % 6 === 0)).toEqual([1, 1, 1, 2, 2, 2, 2]);
    }
  });

  it('refuses what ONNX NonMaxSuppression cannot express, naming the op', async () => {
    const d = join(dir, 'eta');
    mkdirSync(d);
    writeFileSync(join(d, 'inference.pdmodel'), nmsProgram('multiclass_nms3', 1, 6, 3, { ...NMS_DEFAULTS, nms_eta: 0.9, nms_threshold: 0.7 }).programBytes());
    expect(await errorCode(convertToOnnx(d, {}))).toBe('E_ONNX_OP_UNSUPPORTED');
    await expect(convertToOnnx(d, {})).rejects.toThrow(/multiclass_nms3.*nms_eta 0\.9/);
  });
});

// ---------------------------------------------------------------- yolo_box

interface YoloAttrs { anchors: number[]; class_num: number; conf_thresh: number; downsample_ratio: number; clip_bbox: boolean; scale_x_y: number; iou_aware: boolean; iou_aware_factor: number }

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** Paddle's yolo_box CPU kernel in float64 */
function paddleYoloBox(x: Float32Array, dims: number[], img: number[], at: YoloAttrs): { boxes: Float64Array; scores: Float64Array } {
  const [n, , h, w] = dims as [number, number, number, number];
  const an = at.anchors.length / 2; const cls = at.class_num;
  const stride = h * w; const anStride = (cls + 5) * stride;
  const boxNum = an * stride;
  const boxes = new Float64Array(n * boxNum * 4); const scores = new Float64Array(n * boxNum * cls);
  const bias = -0.5 * (at.scale_x_y - 1);
  const per = an * anStride + (at.iou_aware ? an * stride : 0); // one image's values
  for (let i = 0; i < n; i++) {
    const ih = img[2 * i]!; const iw = img[2 * i + 1]!;
    const base = i * per + (at.iou_aware ? an * stride : 0);
    for (let j = 0; j < an; j++) for (let k = 0; k < h; k++) for (let l = 0; l < w; l++) {
      const at_ = (entry: number) => x[base + j * anStride + entry * stride + k * w + l]!;
      let conf = sig(at_(4));
      if (at.iou_aware) conf = conf ** (1 - at.iou_aware_factor) * sig(x[i * per + j * stride + k * w + l]!) ** at.iou_aware_factor;
      if (conf < at.conf_thresh) continue;
      const cx = (l + sig(at_(0)) * at.scale_x_y + bias) * iw / w;
      const cy = (k + sig(at_(1)) * at.scale_x_y + bias) * ih / h;
      const bw = Math.exp(at_(2)) * at.anchors[2 * j]! * iw / (at.downsample_ratio * w);
      const bh = Math.exp(at_(3)) * at.anchors[2 * j + 1]! * ih / (at.downsample_ratio * h);
      let b = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2];
      if (at.clip_bbox) b = [Math.max(b[0]!, 0), Math.max(b[1]!, 0), Math.min(b[2]!, iw - 1), Math.min(b[3]!, ih - 1)];
      const o = i * boxNum + j * stride + k * w + l;
      boxes.set(b, o * 4);
      for (let c = 0; c < cls; c++) scores[o * cls + c] = conf * sig(at_(5 + c));
    }
  }
  return { boxes, scores };
}

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!));
  return m;
}

function maxRelDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return m;
}

describe('yolo_box against a float64 Paddle kernel', () => {
  const cases: [string, YoloAttrs][] = [
    ['clip, scale 1, conf_thresh 0.1', { anchors: [10, 13, 16, 30, 33, 23], class_num: 3, conf_thresh: 0.1, downsample_ratio: 32, clip_bbox: true, scale_x_y: 1, iou_aware: false, iou_aware_factor: 0.5 }],
    ['no clip, scale_x_y 1.05, conf_thresh 0.4', { anchors: [30, 61, 62, 45], class_num: 4, conf_thresh: 0.4, downsample_ratio: 16, clip_bbox: false, scale_x_y: 1.05, iou_aware: false, iou_aware_factor: 0.5 }],
    ['iou_aware (factor 0.4)', { anchors: [10, 13, 16, 30], class_num: 2, conf_thresh: 0.2, downsample_ratio: 8, clip_bbox: true, scale_x_y: 1.2, iou_aware: true, iou_aware_factor: 0.4 }],
  ];
  for (const [name, at] of cases) {
    it(`${name}, batch 1 and 2, opsets 11 and 13`, async () => {
      const an = at.anchors.length / 2;
      const ch = an * (5 + at.class_num) + (at.iou_aware ? an : 0);
      const [H, W] = [5, 7];
      for (const opset of [11, 13]) {
        const b = new ProgramBuilder().feed('x', 'float32', [-1, ch, -1, -1]).feed('img', 'int32', [-1, 2])
          .variable('boxes', 'float32', [-1, -1, 4]).variable('scores', 'float32', [-1, -1, at.class_num])
          .op('yolo_box', { X: ['x'], ImgSize: ['img'] }, { Boxes: ['boxes'], Scores: ['scores'] }, {
            anchors: at.anchors, class_num: at.class_num, conf_thresh: { f: at.conf_thresh }, downsample_ratio: at.downsample_ratio,
            clip_bbox: at.clip_bbox, scale_x_y: { f: at.scale_x_y }, iou_aware: at.iou_aware, iou_aware_factor: { f: at.iou_aware_factor },
          }).fetch('boxes').fetch('scores');
        const s = await convert(b, opset);
        for (const n of [1, 2]) {
          const dims = [n, ch, H, W];
          const x = seededFloats(n * ch * H * W, 17 + n, 2.5);
          const img = [240, 320, 181, 257].slice(0, 2 * n);
          const r = await s.run({ x: { dtype: 'float32', dims, data: x }, img: { dtype: 'int32', dims: [n, 2], data: Int32Array.from(img) } });
          const want = paddleYoloBox(x, dims, img, at);
          expect(r['boxes']!.dims).toEqual([n, an * H * W, 4]);
          expect(r['scores']!.dims).toEqual([n, an * H * W, at.class_num]);
          // pixel coordinates up to 320: a few float32 ulps (3e-5 each) of rounding, also where x1 = cx - w/2 cancels
          expect(maxAbsDiff(r['boxes']!.data as Float32Array, want.boxes)).toBeLessThan(2e-4);
          expect(maxRelDiff(r['scores']!.data as Float32Array, want.scores)).toBeLessThan(2e-6);
          // some cells are under the threshold and some over: both paths are exercised
          const zeros = want.scores.filter((v) => v === 0).length;
          expect(zeros).toBeGreaterThan(0);
          expect(zeros).toBeLessThan(want.scores.length);
        }
      }
    });
  }
});

// ---------------------------------------------------------------- prior_box + box_coder + multiclass_nms (SSD head)

interface PriorAttrs { min_sizes: number[]; max_sizes: number[]; aspect_ratios: number[]; variances: number[]; flip: boolean; clip: boolean; step_w: number; step_h: number; offset: number; min_max_aspect_ratios_order: boolean }

/** Paddle's prior_box in float64: [H*W*P, 4] */
function paddlePriorBox(fh: number, fw: number, ih: number, iw: number, at: PriorAttrs): number[][] {
  const ars = [1];
  for (const ar of at.aspect_ratios) {
    if (ars.some((o) => Math.abs(o - ar) < 1e-6)) continue;
    ars.push(ar);
    if (at.flip) ars.push(1 / ar);
  }
  const sw = at.step_w === 0 || at.step_h === 0 ? iw / fw : at.step_w;
  const sh = at.step_w === 0 || at.step_h === 0 ? ih / fh : at.step_h;
  const out: number[][] = [];
  for (let h = 0; h < fh; h++) for (let w = 0; w < fw; w++) {
    const cx = (w + at.offset) * sw; const cy = (h + at.offset) * sh;
    const box = (bw: number, bh: number) => out.push([(cx - bw) / iw, (cy - bh) / ih, (cx + bw) / iw, (cy + bh) / ih]);
    at.min_sizes.forEach((min, s) => {
      const ratios = () => ars.forEach((ar) => { if (!at.min_max_aspect_ratios_order || Math.abs(ar - 1) >= 1e-6) box(min * Math.sqrt(ar) / 2, min / Math.sqrt(ar) / 2); });
      const maxBox = () => { if (at.max_sizes.length) { const m = Math.sqrt(min * at.max_sizes[s]!) / 2; box(m, m); } };
      if (at.min_max_aspect_ratios_order) { box(min / 2, min / 2); maxBox(); ratios(); } else { ratios(); maxBox(); }
    });
  }
  return at.clip ? out.map((b) => b.map((v) => Math.min(Math.max(v, 0), 1))) : out;
}

/** Paddle's box_coder decode_center_size (axis 0, var per prior) in float64 */
function paddleDecode(target: number[][], prior: number[][], pvar: number[][] | number[] | undefined, normalized: boolean): number[][] {
  const n = normalized ? 0 : 1;
  return target.map((t, j) => {
    const p = prior[j]!;
    const v = pvar === undefined ? [1, 1, 1, 1] : Array.isArray(pvar[0]) ? (pvar as number[][])[j]! : (pvar as number[]);
    const pw = p[2]! - p[0]! + n; const ph = p[3]! - p[1]! + n;
    const pcx = p[0]! + pw / 2; const pcy = p[1]! + ph / 2;
    const cx = v[0]! * t[0]! * pw + pcx; const cy = v[1]! * t[1]! * ph + pcy;
    const w = Math.exp(v[2]! * t[2]!) * pw; const h = Math.exp(v[3]! * t[3]!) * ph;
    return [cx - w / 2, cy - h / 2, cx + w / 2 - n, cy + h / 2 - n];
  });
}

describe('prior_box + box_coder + multiclass_nms (an SSD head) against float64 Paddle kernels', () => {
  const A: PriorAttrs = { min_sizes: [10, 20], max_sizes: [20, 40], aspect_ratios: [2, 3], variances: [0.1, 0.1, 0.2, 0.2], flip: true, clip: true, step_w: 0, step_h: 0, offset: 0.5, min_max_aspect_ratios_order: false };
  const B: PriorAttrs = { min_sizes: [16], max_sizes: [], aspect_ratios: [2, 2.0000001, 0.5], variances: [0.1, 0.2, 0.3, 0.4], flip: false, clip: false, step_w: 10, step_h: 12, offset: 0.3, min_max_aspect_ratios_order: true };
  const PA = 2 * (1 + 4 + 1); // per cell: min sizes x (ratios 1,2,1/2,3,1/3 + max)
  const PB = 3; // 1 (min), then ratios 2 and 0.5 (1 skipped, 2.0000001 a duplicate)
  const [FH, FW, IH, IW] = [3, 4, 48, 64];
  const C = 4;
  const P = FH * FW * (PA + PB);
  const attrsOf = (a: PriorAttrs): Record<string, BuilderAttr> => ({
    min_sizes: { floats: a.min_sizes }, max_sizes: { floats: a.max_sizes }, aspect_ratios: { floats: a.aspect_ratios }, variances: { floats: a.variances },
    flip: a.flip, clip: a.clip, step_w: { f: a.step_w }, step_h: { f: a.step_h }, offset: { f: a.offset }, min_max_aspect_ratios_order: a.min_max_aspect_ratios_order,
  });

  function program(type: string): ProgramBuilder {
    const b = new ProgramBuilder().feed('feat', 'float32', [-1, 8, FH, FW]).feed('image', 'float32', [-1, 3, IH, IW])
      .feed('loc', 'float32', [-1, P, 4]).feed('conf', 'float32', [-1, C, P]);
    for (const [k, a, per] of [['a', A, PA], ['b', B, PB]] as const) {
      b.variable(`pb_${k}`, 'float32', [FH, FW, per, 4]).variable(`pv_${k}`, 'float32', [FH, FW, per, 4])
        .variable(`pbr_${k}`, 'float32', [FH * FW * per, 4]).variable(`pvr_${k}`, 'float32', [FH * FW * per, 4])
        .variable(`xs1_${k}`, 'float32', [0]).variable(`xs2_${k}`, 'float32', [0])
        .op('prior_box', { Input: ['feat'], Image: ['image'] }, { Boxes: [`pb_${k}`], Variances: [`pv_${k}`] }, attrsOf(a))
        .op('reshape2', { X: [`pb_${k}`] }, { Out: [`pbr_${k}`], XShape: [`xs1_${k}`] }, { shape: [-1, 4] })
        .op('reshape2', { X: [`pv_${k}`] }, { Out: [`pvr_${k}`], XShape: [`xs2_${k}`] }, { shape: [-1, 4] });
    }
    b.variable('priors', 'float32', [P, 4]).variable('pvars', 'float32', [P, 4]).variable('decoded', 'float32', [-1, P, 4]).variable('det', 'float32', [-1, 6])
      .op('concat', { X: ['pbr_a', 'pbr_b'] }, { Out: ['priors'] }, { axis: 0 })
      .op('concat', { X: ['pvr_a', 'pvr_b'] }, { Out: ['pvars'] }, { axis: 0 })
      .op('box_coder', { PriorBox: ['priors'], PriorBoxVar: ['pvars'], TargetBox: ['loc'] }, { OutputBox: ['decoded'] }, { code_type: 'decode_center_size', box_normalized: true, axis: 0 })
      .op(type, { BBoxes: ['decoded'], Scores: ['conf'] }, { Out: ['det'] }, {
        score_threshold: { f: 0.3 }, nms_top_k: 40, keep_top_k: 15, nms_threshold: { f: 0.45 }, normalized: true, nms_eta: { f: 1 }, background_label: 0,
      })
      .fetch('priors').fetch('pvars').fetch('decoded').fetch('det');
    return b;
  }

  it('priors (both attribute orders, flip, clip, steps, offset, duplicate ratios), variances, decoded boxes and detections at batch 1 and 2', async () => {
    const s = await convert(program('multiclass_nms'));
    const priors = [...paddlePriorBox(FH, FW, IH, IW, A), ...paddlePriorBox(FH, FW, IH, IW, B)];
    expect(priors.length).toBe(P);
    const pvars = [...Array(FH * FW * PA).fill(A.variances), ...Array(FH * FW * PB).fill(B.variances)] as number[][];
    for (const n of [1, 2]) {
      const loc = seededFloats(n * P * 4, 5 + n, 1.5);
      const conf = seededFloats(n * C * P, 9 + n).map((v) => (v + 1) / 2);
      const r = await s.run({
        feat: t32([n, 8, FH, FW], Array(n * 8 * FH * FW).fill(0)), image: t32([n, 3, IH, IW], Array(n * 3 * IH * IW).fill(0)),
        loc: { dtype: 'float32', dims: [n, P, 4], data: loc }, conf: { dtype: 'float32', dims: [n, C, P], data: conf },
      });
      expect(r['priors']!.dims).toEqual([P, 4]);
      expect(maxRelDiff(r['priors']!.data as Float32Array, priors.flat())).toBeLessThan(1e-6);
      expect(maxRelDiff(r['pvars']!.data as Float32Array, pvars.flat())).toBeLessThan(1e-7);
      const decodedWant: number[][] = [];
      for (let i = 0; i < n; i++) {
        const t = Array.from({ length: P }, (_, j) => Array.from(loc.subarray((i * P + j) * 4, (i * P + j + 1) * 4)));
        decodedWant.push(...paddleDecode(t, priors, pvars, true));
      }
      expect(maxRelDiff(r['decoded']!.data as Float32Array, decodedWant.flat())).toBeLessThan(2e-6);
      // detections: Paddle's NMS over the boxes onnxruntime decoded (so a threshold tie cannot flip on rounding)
      const dec = r['decoded']!.data as Float32Array;
      const boxes = Array.from({ length: n }, (_, i) => Array.from({ length: P }, (_, j) => Array.from(dec.subarray((i * P + j) * 4, (i * P + j + 1) * 4))));
      const scores = Array.from({ length: n }, (_, i) => Array.from({ length: C }, (_, c) => Array.from(conf.subarray((i * C + c) * P, (i * C + c + 1) * P))));
      const want = paddleNms(boxes, scores, { ...NMS_DEFAULTS, score_threshold: f32(0.3), nms_top_k: 40, keep_top_k: 15, nms_threshold: f32(0.45) });
      expect(want.rows.length).toBe(15 * n);
      expect(r['det']!.dims).toEqual([want.rows.length, 6]);
      expect(maxRelDiff(r['det']!.data as Float32Array, want.rows.flat())).toBeLessThan(1e-6);
    }
  });

  it('box_coder encode_center_size (variance attribute, box_normalized false) and decode with axis 1 and no variance, opsets 9 and 13', async () => {
    const R = 5; const Cc = 3;
    const prior = [[10, 12, 30, 40], [0, 0, 15, 9], [50, 60, 90, 71]];
    const b = new ProgramBuilder().feed('t', 'float32', [-1, 4]).param('prior', [Cc, 4], Float32Array.from(prior.flat()))
      .variable('enc', 'float32', [-1, Cc, 4])
      .op('box_coder', { PriorBox: ['prior'], TargetBox: ['t'] }, { OutputBox: ['enc'] }, { code_type: 'encode_center_size', box_normalized: false, variance: { floats: [0.1, 0.1, 0.2, 0.2] } })
      .fetch('enc')
      .feed('d', 'float32', [R, Cc, 4]).feed('dp', 'float32', [R, 4]).variable('dec', 'float32', [R, Cc, 4])
      .op('box_coder', { PriorBox: ['dp'], TargetBox: ['d'] }, { OutputBox: ['dec'] }, { code_type: 'decode_center_size', box_normalized: true, axis: 1 })
      .fetch('dec');
    for (const opset of [9, 13]) {
    const s = await convert(b, opset);
    const t = Array.from({ length: R }, (_, i) => [3 * i, 2 * i + 1, 3 * i + 20 + i, 2 * i + 14]);
    const d = seededFloats(R * Cc * 4, 3, 0.8);
    const dp = Array.from({ length: R }, (_, i) => [0.1 * i, 0.05, 0.1 * i + 0.3, 0.5 + 0.05 * i]);
    const r = await s.run({ t: t32([R, 4], t.flat()), d: { dtype: 'float32', dims: [R, Cc, 4], data: d }, dp: t32([R, 4], dp.flat()) });
    const v = [0.1, 0.1, 0.2, 0.2];
    const enc = t.flatMap((tb) => prior.flatMap((p) => {
      const pw = p[2]! - p[0]! + 1; const ph = p[3]! - p[1]! + 1;
      const tw = tb[2]! - tb[0]! + 1; const th = tb[3]! - tb[1]! + 1;
      return [((tb[0]! + tb[2]!) / 2 - (p[0]! + pw / 2)) / pw / v[0]!, ((tb[1]! + tb[3]!) / 2 - (p[1]! + ph / 2)) / ph / v[1]!, Math.log(Math.abs(tw / pw)) / v[2]!, Math.log(Math.abs(th / ph)) / v[3]!];
    }));
    expect(r['enc']!.dims).toEqual([R, Cc, 4]);
    expect(maxRelDiff(r['enc']!.data as Float32Array, enc)).toBeLessThan(2e-6);
    const dec = Array.from({ length: R }, (_, i) => paddleDecode(Array.from({ length: Cc }, (_, j) => Array.from(d.subarray((i * Cc + j) * 4, (i * Cc + j + 1) * 4))), Array(Cc).fill(dp[i]!), undefined, true)).flat(2);
    expect(maxRelDiff(r['dec']!.data as Float32Array, dec)).toBeLessThan(2e-6);
    }
  });

  it('density_prior_box (flatten_to_2d, clip) and anchor_generator against float64 kernels', async () => {
    const [fh, fw, ih, iw] = [3, 4, 24, 32];
    const b = new ProgramBuilder().feed('feat', 'float32', [-1, 4, fh, fw]).feed('image', 'float32', [-1, 3, ih, iw])
      .variable('db', 'float32', [-1, 4]).variable('dv', 'float32', [-1, 4]).variable('an', 'float32', [fh, fw, 6, 4]).variable('av', 'float32', [fh, fw, 6, 4])
      .op('density_prior_box', { Input: ['feat'], Image: ['image'] }, { Boxes: ['db'], Variances: ['dv'] }, {
        fixed_sizes: { floats: [8, 16] }, fixed_ratios: { floats: [1, 2] }, densities: [2, 1], clip: true, flatten_to_2d: true, variances: { floats: [0.1, 0.1, 0.2, 0.2] },
        step_w: { f: 0 }, step_h: { f: 0 }, offset: { f: 0.5 },
      })
      .op('anchor_generator', { Input: ['feat'] }, { Anchors: ['an'], Variances: ['av'] }, {
        anchor_sizes: { floats: [32, 64] }, aspect_ratios: { floats: [0.5, 1, 2] }, stride: { floats: [8, 8] }, variances: { floats: [0.1, 0.1, 0.2, 0.2] }, offset: { f: 0.5 },
      })
      .fetch('db').fetch('dv').fetch('an').fetch('av');
    const s = await convert(b);
    const r = await s.run({ feat: t32([1, 4, fh, fw], Array(4 * fh * fw).fill(0)), image: t32([1, 3, ih, iw], Array(3 * ih * iw).fill(0)) });
    // density_prior_box
    const sw = iw / fw; const sh = ih / fh; const avg = Math.trunc((sw + sh) / 2);
    const dens: number[] = [];
    for (let h = 0; h < fh; h++) for (let w = 0; w < fw; w++) {
      const cx = (w + 0.5) * sw; const cy = (h + 0.5) * sh;
      [[8, 2], [16, 1]].forEach(([size, d]) => {
        const shift = Math.trunc(avg / d!);
        for (const ratio of [1, 2]) {
          const bw = size! * Math.sqrt(ratio); const bh = size! / Math.sqrt(ratio);
          for (let di = 0; di < d!; di++) for (let dj = 0; dj < d!; dj++) {
            const x = cx - avg / 2 + shift / 2 + dj * shift; const y = cy - avg / 2 + shift / 2 + di * shift;
            dens.push(Math.max((x - bw / 2) / iw, 0), Math.max((y - bh / 2) / ih, 0), Math.min((x + bw / 2) / iw, 1), Math.min((y + bh / 2) / ih, 1));
          }
        }
      });
    }
    expect(r['db']!.dims).toEqual([dens.length / 4, 4]);
    expect(maxRelDiff(r['db']!.data as Float32Array, dens)).toBeLessThan(1e-6);
    expect(r['dv']!.dims).toEqual([dens.length / 4, 4]);
    // anchor_generator
    const anc: number[] = [];
    for (let h = 0; h < fh; h++) for (let w = 0; w < fw; w++) {
      const xc = w * 8 + 0.5 * 7; const yc = h * 8 + 0.5 * 7;
      for (const ar of [0.5, 1, 2]) for (const size of [32, 64]) {
        const baseW = Math.round(Math.sqrt(64 / ar)); const baseH = Math.round(baseW * ar);
        const aw = (size / 8) * baseW; const ah = (size / 8) * baseH;
        anc.push(xc - 0.5 * (aw - 1), yc - 0.5 * (ah - 1), xc + 0.5 * (aw - 1), yc + 0.5 * (ah - 1));
      }
    }
    expect(r['an']!.dims).toEqual([fh, fw, 6, 4]);
    expect(maxRelDiff(r['an']!.data as Float32Array, anc)).toBeLessThan(1e-6);
    expect(Array.from(r['av']!.data as Float32Array).slice(0, 8).map((v) => Number(v.toFixed(6)))).toEqual([0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2]);
  });

  it('prior_box on a feature map of unknown size is refused, naming the op and what to do', async () => {
    const b = new ProgramBuilder().feed('feat', 'float32', [-1, 8, -1, -1]).feed('image', 'float32', [-1, 3, -1, -1])
      .variable('pb', 'float32', [-1, -1, 2, 4]).variable('pv', 'float32', [-1, -1, 2, 4])
      .op('prior_box', { Input: ['feat'], Image: ['image'] }, { Boxes: ['pb'], Variances: ['pv'] }, attrsOf(A)).fetch('pb');
    const d = join(dir, 'dyn-prior');
    mkdirSync(d);
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    await expect(convertToOnnx(d, {})).rejects.toThrow(/prior_box.*height and width at conversion time.*--input_shape_dict/);
    expect(await errorCode(convertToOnnx(d, {}))).toBe('E_ONNX_OP_UNSUPPORTED');
  });
});

// ---------------------------------------------------------------- matrix_nms

interface MatrixAttrs { score_threshold: number; post_threshold: number; nms_top_k: number; keep_top_k: number; use_gaussian: boolean; gaussian_sigma: number; background_label: number; normalized: boolean }

/** Paddle's MatrixNMSKernel in float64 (scores without ties, so partial_sort's tie order never matters) */
function paddleMatrixNms(boxes: number[][][], scores: number[][][], at: MatrixAttrs): { rows: number[][]; counts: number[]; index: number[] } {
  const rows: number[][] = []; const counts: number[] = []; const index: number[] = [];
  boxes.forEach((b, n) => {
    const dets: [number, number, number][] = []; // [decayed score, class, box]
    scores[n]!.forEach((s, c) => {
      if (c === at.background_label) return;
      let perm = s.map((_, i) => i).filter((i) => s[i]! > at.score_threshold).sort((x, y) => s[y]! - s[x]!);
      if (at.nms_top_k > -1) perm = perm.slice(0, at.nms_top_k);
      const iouMax = perm.map((pi, i) => Math.max(0, ...perm.slice(0, i).map((pj) => iou(b[pi]!, b[pj]!, at.normalized))));
      perm.forEach((pi, i) => {
        let d = 1;
        for (let j = 0; j < i; j++) {
          const v = iou(b[pi]!, b[perm[j]!]!, at.normalized);
          d = Math.min(d, at.use_gaussian ? Math.exp((iouMax[j]! ** 2 - v * v) * at.gaussian_sigma) : (1 - v) / (1 - iouMax[j]!));
        }
        const ds = d * s[pi]!;
        if (ds > at.post_threshold) dets.push([ds, c, pi]);
      });
    });
    dets.sort((x, y) => y[0] - x[0]);
    const kept = at.keep_top_k > -1 ? dets.slice(0, at.keep_top_k) : dets;
    for (const [ds, c, i] of kept) { rows.push([c, ds, ...b[i]!]); index.push(n * b.length + i); }
    counts.push(kept.length);
  });
  return { rows, counts, index };
}

describe('matrix_nms against a float64 Paddle kernel', () => {
  const M = 60; const C = 4;
  const scene = (seed: number) => {
    const u = seededFloats(M * 4, seed);
    const boxes = Array.from({ length: M }, (_, i) => {
      const cx = 50 + 40 * u[i * 4]!; const cy = 50 + 40 * u[i * 4 + 1]!;
      const w = 12 + 8 * u[i * 4 + 2]!; const h = 12 + 8 * u[i * 4 + 3]!;
      return [cx - w, cy - h, cx + w, cy + h].map(f32);
    });
    const v = seededFloats(C * M, seed + 1);
    // distinct scores: no ties for partial_sort to order arbitrarily
    const scores = Array.from({ length: C }, (_, c) => Array.from({ length: M }, (_, i) => f32(0.5 + 0.45 * v[c * M + i]! + (c * M + i) * 1e-6)));
    return { boxes, scores };
  };
  const cases: [string, MatrixAttrs][] = [
    ['gaussian, nms_top_k and keep_top_k biting', { score_threshold: 0.3, post_threshold: 0.2, nms_top_k: 25, keep_top_k: 40, use_gaussian: true, gaussian_sigma: 2, background_label: 0, normalized: false }],
    ['linear, no top-k, background -1', { score_threshold: 0.6, post_threshold: 0.35, nms_top_k: -1, keep_top_k: -1, use_gaussian: false, gaussian_sigma: 2, background_label: -1, normalized: true }],
    ['nothing survives', { score_threshold: 0.99, post_threshold: 0.1, nms_top_k: -1, keep_top_k: 10, use_gaussian: true, gaussian_sigma: 2, background_label: 0, normalized: true }],
  ];
  for (const [name, at] of cases) {
    it(`${name}, batch 2`, async () => {
      const b = new ProgramBuilder().feed('bboxes', 'float32', [-1, M, 4]).feed('scores', 'float32', [-1, C, M])
        .variable('out', 'float32', [-1, 6]).variable('index', 'int32', [-1, 1]).variable('num', 'int32', [-1])
        .op('matrix_nms', { BBoxes: ['bboxes'], Scores: ['scores'] }, { Out: ['out'], Index: ['index'], RoisNum: ['num'] }, {
          score_threshold: { f: at.score_threshold }, post_threshold: { f: at.post_threshold }, nms_top_k: at.nms_top_k, keep_top_k: at.keep_top_k,
          use_gaussian: at.use_gaussian, gaussian_sigma: { f: at.gaussian_sigma }, background_label: at.background_label, normalized: at.normalized,
        }).fetch('out').fetch('index').fetch('num');
      const s = await convert(b);
      const x = scene(11); const y = scene(23);
      const r = await s.run({ bboxes: t32([2, M, 4], [...x.boxes.flat(), ...y.boxes.flat()]), scores: t32([2, C, M], [...x.scores.flat(), ...y.scores.flat()]) });
      const want = paddleMatrixNms([x.boxes, y.boxes], [x.scores, y.scores], { ...at, score_threshold: f32(at.score_threshold), post_threshold: f32(at.post_threshold) });
      expect(Array.from(r['num']!.data as Int32Array)).toEqual(want.counts);
      expect(r['out']!.dims).toEqual([want.rows.length, 6]);
      expect(maxRelDiff(r['out']!.data as Float32Array, want.rows.flat())).toBeLessThan(2e-6);
      expect(Array.from(r['index']!.data as Int32Array)).toEqual(want.index);
      if (name !== 'nothing survives') expect(want.rows.length).toBeGreaterThan(10);
    });
  }
});

// ---------------------------------------------------------------- PIR spellings

interface PirVar { name: string; dtype: 'float32' | 'int32'; shape: number[] }

/** A parameter-free PIR program as the loader hands it over (positional operands and results). */
function pirModel(feeds: PirVar[], fetches: PirVar[], vars: PirVar[], ops: OpNode[]): LoadedModel {
  const spec = (v: PirVar): TensorSpec => ({ name: v.name, dtype: v.dtype, shape: v.shape, lodLevel: 0 });
  const all = new Map<string, VarSpec>([...feeds, ...fetches, ...vars].map((v) => [v.name, { ...spec(v), persistable: false }]));
  const io: OpNode[] = [
    ...feeds.map((f) => ({ type: 'data', inputs: {}, outputs: { 0: [f.name] }, attrs: { name: f.name } })),
    ...ops,
    ...fetches.map((f) => ({ type: 'fetch', inputs: { 0: [f.name] }, outputs: {}, attrs: { name: f.name } })),
  ];
  return {
    format: 'paddle-pir', modelFile: 'mem', paramsFile: null, paramsLayout: 'none', feeds: feeds.map(spec), fetches: fetches.map(spec),
    blocks: [{ idx: 0, parentIdx: -1, ops: io, vars: all }], params: [], paramNames: [], warnings: [],
    readParam: () => { throw new Error('no params'); }, programBytes: new Uint8Array(0),
  } as LoadedModel;
}

describe('PIR spellings (positional operands)', () => {
  it('yolo_box then multiclass_nms3 (out, index, nms_rois_num) at batch 2', async () => {
    const at = { ...NMS_DEFAULTS, score_threshold: 0.2, nms_top_k: 20, keep_top_k: 12, nms_threshold: 0.4 };
    const anchors = [10, 13, 16, 30];
    const m = pirModel(
      [{ name: 'x', dtype: 'float32', shape: [-1, 2 * 8, 4, 4] }, { name: 'img', dtype: 'int32', shape: [-1, 2] }],
      [{ name: 'out', dtype: 'float32', shape: [-1, 6] }, { name: 'index', dtype: 'int32', shape: [-1, 1] }, { name: 'num', dtype: 'int32', shape: [-1] }],
      [{ name: 'boxes', dtype: 'float32', shape: [-1, 32, 4] }, { name: 'scores', dtype: 'float32', shape: [-1, 32, 3] }, { name: 'st', dtype: 'float32', shape: [-1, 3, 32] }],
      [
        { type: 'yolo_box', inputs: { 0: ['x'], 1: ['img'] }, outputs: { 0: ['boxes'], 1: ['scores'] }, attrs: { anchors, class_num: 3, conf_thresh: 0.05, downsample_ratio: 8, clip_bbox: true, scale_x_y: 1, iou_aware: false, iou_aware_factor: 0.5 } },
        { type: 'transpose', inputs: { 0: ['scores'] }, outputs: { 0: ['st'] }, attrs: { perm: [0, 2, 1] } },
        { type: 'multiclass_nms3', inputs: { 0: ['boxes'], 1: ['st'], 2: [''] }, outputs: { 0: ['out'], 1: ['index'], 2: ['num'] }, attrs: { ...at } },
      ],
    );
    const r0 = await convertToOnnx('mem', { model: m });
    const s = await openSession(r0.bytes!);
    sessions.push(s);
    const x = seededFloats(2 * 16 * 16, 77, 2);
    const img = [64, 48, 40, 80];
    const r = await s.run({ x: { dtype: 'float32', dims: [2, 16, 4, 4], data: x }, img: { dtype: 'int32', dims: [2, 2], data: Int32Array.from(img) } });
    const yb = paddleYoloBox(x, [2, 16, 4, 4], img, { anchors, class_num: 3, conf_thresh: 0.05, downsample_ratio: 8, clip_bbox: true, scale_x_y: 1, iou_aware: false, iou_aware_factor: 0.5 });
    const boxes = [0, 1].map((n) => Array.from({ length: 32 }, (_, i) => Array.from(yb.boxes.subarray((n * 32 + i) * 4, (n * 32 + i + 1) * 4))));
    const scores = [0, 1].map((n) => Array.from({ length: 3 }, (_, c) => Array.from({ length: 32 }, (_, i) => yb.scores[(n * 32 + i) * 3 + c]!)));
    const want = paddleNms(boxes, scores, { ...at, score_threshold: f32(0.2), nms_threshold: f32(0.4) });
    expect(want.rows.length).toBeGreaterThan(4);
    expect(Array.from(r['num']!.data as Int32Array)).toEqual(want.counts);
    expect(Array.from(r['index']!.data as Int32Array)).toEqual(want.index);
    expect(maxAbsDiff(r['out']!.data as Float32Array, want.rows.flat())).toBeLessThan(1e-4);
  });
});

describe('multiclass_nms3 with inverted boxes (x2 < x1 or y2 < y1)', () => {
  it('an inverted box overlaps nothing, as in Paddle (onnxruntime alone would reorder its corners)', async () => {
    const boxes = [[10, 10, 50, 50], [50, 10, 10, 50], [12, 12, 48, 48], [10, 50, 50, 10], [100, 100, 140, 140]];
    const scores = [[0, 0, 0, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.5]];
    const w = await checkNms('multiclass_nms3', [boxes], [scores], { nms_threshold: 0.3 });
    // box 1 (x inverted) and 3 (y inverted) are kept next to box 0; box 2 is suppressed by box 0
    expect(w.rows.map((r) => r.slice(2))).toEqual([boxes[0], boxes[1], boxes[3], boxes[4]]);
  });
});

describe('detection ops refuse what they cannot convert, naming the op and why', () => {
  async function refused(b: ProgramBuilder, msg: RegExp): Promise<void> {
    const d = join(dir, `bad${seq++}`);
    mkdirSync(d);
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    expect(await errorCode(convertToOnnx(d, {}))).toBe('E_ONNX_OP_UNSUPPORTED');
    await expect(convertToOnnx(d, {})).rejects.toThrow(msg);
  }
  const nmsAttrs = { score_threshold: { f: 0.1 }, nms_top_k: -1, keep_top_k: -1, nms_threshold: { f: 0.5 } };

  it('multiclass_nms3 over per-RoI class boxes (2-D Scores with RoisNum), polygon boxes', async () => {
    await refused(new ProgramBuilder().feed('b', 'float32', [-1, 3, 4]).feed('s', 'float32', [-1, 3]).feed('rn', 'int32', [-1]).variable('o', 'float32', [-1, 6])
      .op('multiclass_nms3', { BBoxes: ['b'], Scores: ['s'], RoisNum: ['rn'] }, { Out: ['o'] }, nmsAttrs).fetch('o'), /multiclass_nms3.*Scores of rank 2/);
    await refused(new ProgramBuilder().feed('b', 'float32', [-1, 10, 8]).feed('s', 'float32', [-1, 3, 10]).variable('o', 'float32', [-1, 10])
      .op('multiclass_nms3', { BBoxes: ['b'], Scores: ['s'] }, { Out: ['o'] }, nmsAttrs).fetch('o'), /polygon boxes \(8 coordinates\)/);
  });

  it('yolo_box with an odd anchor list, box_coder with an unknown code_type or a 3-number variance', async () => {
    await refused(new ProgramBuilder().feed('x', 'float32', [-1, 18, 4, 4]).feed('img', 'int32', [-1, 2]).variable('b', 'float32', [-1, -1, 4]).variable('s', 'float32', [-1, -1, 1])
      .op('yolo_box', { X: ['x'], ImgSize: ['img'] }, { Boxes: ['b'], Scores: ['s'] }, { anchors: [10, 13, 16], class_num: 1 }).fetch('b'), /yolo_box.*anchors must hold \(width, height\) pairs/);
    const coder = (attrs: Record<string, BuilderAttr>) => new ProgramBuilder().feed('p', 'float32', [5, 4]).feed('t', 'float32', [-1, 5, 4]).variable('o', 'float32', [-1, 5, 4])
      .op('box_coder', { PriorBox: ['p'], TargetBox: ['t'] }, { OutputBox: ['o'] }, attrs).fetch('o');
    await refused(coder({ code_type: 'decode_corner' }), /box_coder.*code_type decode_corner/);
    await refused(coder({ code_type: 'decode_center_size', variance: { floats: [0.1, 0.1, 0.2] } }), /variance must hold 4 numbers, got 3/);
  });
});
