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
import { tempDir } from './helpers.js';

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

interface NmsAttrs { score_threshold: number; nms_top_k: number; keep_top_k: number; nms_threshold: number; normalized: boolean; nms_eta: number; background_label: number }

function area(b: number[], normalized: boolean): number {
  if (b[2]! < b[0]! || b[3]! < b[1]!) return 0;
  const w = b[2]! - b[0]!; const h = b[3]! - b[1]!;
  return normalized ? w * h : (w + 1) * (h + 1);
}
function iou(a: number[], b: number[], normalized: boolean): number {
  if (b[0]! > a[2]! || b[2]! < a[0]! || b[1]! > a[3]! || b[3]! < a[1]!) return 0;
  const n = normalized ? 0 : 1;
  const iw = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!) + n;
  const ih = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!) + n;
  const inter = iw * ih;
  return inter / (area(a, normalized) + area(b, normalized) - inter);
}

/** Paddle's MultiClassNMS for one image: class -> kept box indices, in output order */
function nmsImage(boxes: number[][], scores: number[][], at: NmsAttrs): Map<number, number[]> {
  const kept = new Map<number, number[]>();
  let total = 0;
  for (let c = 0; c < scores.length; c++) {
    if (c === at.background_label) continue;
    const s = scores[c]!;
    let cand = s.map((v, i) => [v, i] as [number, number]).filter(([v]) => v > at.score_threshold);
    cand = cand.map((p, k) => [p, k] as const).sort((x, y) => (y[0][0] - x[0][0]) || (x[1] - y[1])).map(([p]) => p); // stable
    if (at.nms_top_k > -1 && at.nms_top_k < cand.length) cand = cand.slice(0, at.nms_top_k);
    const sel: number[] = [];
    let thr = at.nms_threshold;
    for (const [, i] of cand) {
      let keep = true;
      for (const j of sel) { if (!(iou(boxes[i]!, boxes[j]!, at.normalized) <= thr)) { keep = false; break; } }
      if (keep) { sel.push(i); if (at.nms_eta < 1 && thr > 0.5) thr *= at.nms_eta; }
    }
    kept.set(c, sel);
    total += sel.length;
  }
  if (at.keep_top_k > -1 && total > at.keep_top_k) {
    const pairs: [number, number, number][] = [];
    for (const [c, idx] of [...kept.entries()].sort((x, y) => x[0] - y[0])) for (const i of idx) pairs.push([scores[c]![i]!, c, i]);
    const top = pairs.map((p, k) => [p, k] as const).sort((x, y) => (y[0][0] - x[0][0]) || (x[1] - y[1])).map(([p]) => p).slice(0, at.keep_top_k);
    const next = new Map<number, number[]>();
    for (const [, c, i] of top) { if (!next.has(c)) next.set(c, []); next.get(c)!.push(i); }
    return next;
  }
  return kept;
}

/** rows [label, score, x1, y1, x2, y2], per-image counts, Index (image * M + box) */
function paddleNms(boxes: number[][][], scores: number[][][], at: NmsAttrs): { rows: number[][]; counts: number[]; index: number[] } {
  const rows: number[][] = []; const counts: number[] = []; const index: number[] = [];
  boxes.forEach((b, n) => {
    const kept = nmsImage(b, scores[n]!, at);
    let count = 0;
    for (const c of [...kept.keys()].sort((x, y) => x - y)) {
      for (const i of kept.get(c)!) { rows.push([c, scores[n]![c]![i]!, ...b[i]!]); index.push(n * b.length + i); count++; }
    }
    counts.push(count);
  });
  return { rows, counts, index };
}

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
