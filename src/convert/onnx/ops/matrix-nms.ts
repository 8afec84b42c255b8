/**
 * matrix_nms with Paddle's semantics (its CPU kernel; Matrix NMS of SOLOv2), BBoxes [N, M, 4] and
 * Scores [N, C, M]:
 * - per image, per class c != background_label: the boxes with score > score_threshold, the
 *   nms_top_k best by score, in score order;
 * - for candidate i, its IoU with every better candidate j < i and each j's own largest IoU with
 *   a better one (iou_max[j]); decay_i = min(1, min over j < i of
 *   exp((iou_max[j]^2 - iou_ij^2) * gaussian_sigma)  (use_gaussian)  or  (1 - iou_ij) / (1 - iou_max[j]));
 *   the decayed score decay_i * score_i is kept when it is > post_threshold;
 * - per image, every kept (class, box, decayed score) sorted by decayed score, cut to keep_top_k:
 *   rows [label, decayed score, x1, y1, x2, y2] in that order (NOT class order, unlike
 *   multiclass_nms), Index = image * M + box (int32 [R, 1]), RoisNum per image (int32 [N]).
 * Ties: Paddle's partial_sort leaves their order open; here the lower class, then the better-ranked
 * candidate (lower box index) comes first.
 * Built from dense [N, C, K, K] IoU matrices (K = min(nms_top_k, M)): memory grows with C * K^2.
 */
import { defineOp } from '../declare.js';
import { dimOf, minInt, pick, reduceSum, scalarOf } from './tensor-util.js';

export const matrixNms = defineOp({
  types: ['matrix_nms'],
  inputs: { BBoxes: 0, Scores: 1 },
  outputs: { Out: 0, Index: { pir: 1, optional: true }, RoisNum: { pir: 2, optional: true } },
  attrs: {
    score_threshold: 0, post_threshold: 0, nms_top_k: -1, keep_top_k: -1, use_gaussian: false, gaussian_sigma: 2, background_label: 0, normalized: true,
  },
  minOpset: 11,
  note: 'gaussian and linear decay, post_threshold, nms_top_k, keep_top_k; rows by decayed score as Paddle; any batch; dense K x K IoU per class',
  map(ctx, a) {
    const { g } = ctx;
    const sr = ctx.shapeOf('Scores')?.length;
    if (sr !== undefined && sr !== 3) throw ctx.unsupported(`Scores of rank ${sr}: only [N, C, M] is converted`);
    const bshape = ctx.shapeOf('BBoxes');
    if (bshape && bshape[2]! > 0 && bshape[2] !== 4) throw ctx.unsupported(`boxes of ${bshape[2]} coordinates are not converted, only [x1, y1, x2, y2]`);
    if (ctx.dtypeOf('BBoxes') !== 'float32' || ctx.dtypeOf('Scores') !== 'float32') throw ctx.unsupported('only float32 boxes and scores are converted');
    const boxes = ctx.input('BBoxes');
    const scores = ctx.input('Scores');
    const i64 = (v: number[]) => g.constant(v);
    const fs = (v: number) => g.constant([v], 'float32', []);
    const zero = g.constant([0], 'int64', []);
    const one = g.constant([1], 'int64', []);
    const shS = g.op('Shape', [scores]);
    const N = pick(g, shS, 0);
    const C = pick(g, shS, 1);
    const M = pick(g, shS, 2);
    const K = a.nms_top_k < 0 ? M : minInt(g, M, i64([a.nms_top_k]));

    const [vals, idx] = g.node('TopK', [scores, K], 2, { axis: 2, largest: 1, sorted: 1 });
    let valid = g.op('Greater', [vals!, fs(a.score_threshold)]);
    if (a.background_label >= 0) {
      const cls = g.op('Range', [zero, scalarOf(g, C), one]);
      valid = g.op('And', [valid, g.op('Reshape', [g.op('Not', [g.op('Equal', [cls, g.constant([a.background_label], 'int64', [])])]), i64([1, -1, 1])])]);
    }
    const boxesFlat = g.op('Reshape', [boxes, i64([-1, 4])]);
    const imageBase = g.op('Reshape', [g.op('Mul', [g.op('Range', [zero, scalarOf(g, N), one]), M]), i64([-1, 1, 1])]);
    const boxIdx = g.op('Add', [idx!, imageBase]); // [N, C, K]
    const cand = g.op('Gather', [boxesFlat, boxIdx], { axis: 0 }); // [N, C, K, 4]
    const coord = (k: number, axis: 3 | 2) => {
      // [N, C, K, 1] (rows: candidate i) or [N, C, 1, K] (columns: candidate j)
      const c = g.op('Slice', [cand, i64([k]), i64([k + 1]), i64([3])]);
      return axis === 3 ? c : g.op('Transpose', [c], { perm: [0, 1, 3, 2] });
    };
    const [ax1, ay1, ax2, ay2] = [0, 1, 2, 3].map((k) => coord(k, 3)) as [string, string, string, string];
    const [bx1, by1, bx2, by2] = [0, 1, 2, 3].map((k) => coord(k, 2)) as [string, string, string, string];
    const norm = a.normalized ? 0 : 1;
    const plus = (x: string) => (norm ? g.op('Add', [x, fs(1)]) : x);
    const area = (x1: string, y1: string, x2: string, y2: string) => {
      const ok = g.op('And', [g.op('Not', [g.op('Less', [x2, x1])]), g.op('Not', [g.op('Less', [y2, y1])])]);
      return g.op('Where', [ok, g.op('Mul', [plus(g.op('Sub', [x2, x1])), plus(g.op('Sub', [y2, y1]))]), fs(0)]);
    };
    const disjoint = g.op('Or', [
      g.op('Or', [g.op('Greater', [bx1, ax2]), g.op('Less', [bx2, ax1])]),
      g.op('Or', [g.op('Greater', [by1, ay2]), g.op('Less', [by2, ay1])]),
    ]);
    const iw = plus(g.op('Sub', [g.op('Min', [ax2, bx2]), g.op('Max', [ax1, bx1])]));
    const ih = plus(g.op('Sub', [g.op('Min', [ay2, by2]), g.op('Max', [ay1, by1])]));
    const inter = g.op('Mul', [iw, ih]);
    const union = g.op('Sub', [g.op('Add', [area(ax1, ay1, ax2, ay2), area(bx1, by1, bx2, by2)]), inter]);
    const iouAll = g.op('Where', [disjoint, fs(0), g.op('Div', [inter, union])]); // [N, C, K, K]: iou(i, j)
    // only better candidates count: j < i
    const ar = g.op('Range', [zero, scalarOf(g, K), one]);
    const lower = g.op('Less', [g.op('Reshape', [ar, i64([1, -1])]), g.op('Reshape', [ar, i64([-1, 1])])]); // [K, K]: j < i
    const iou = g.op('Where', [lower, iouAll, fs(0)]);
    const iouMax = g.op('ReduceMax', [iou], { axes: [3], keepdims: 1 }); // [N, C, K, 1]: per i
    const iouMaxJ = g.op('Transpose', [iouMax], { perm: [0, 1, 3, 2] }); // [N, C, 1, K]: per j
    const decay = a.use_gaussian
      ? g.op('Exp', [g.op('Mul', [g.op('Sub', [g.op('Mul', [iouMaxJ, iouMaxJ]), g.op('Mul', [iou, iou])]), fs(a.gaussian_sigma)])])
      : g.op('Div', [g.op('Sub', [fs(1), iou]), g.op('Sub', [fs(1), iouMaxJ])]);
    const minDecay = g.op('ReduceMin', [g.op('Where', [lower, decay, fs(1)])], { axes: [3], keepdims: 0 }); // [N, C, K]
    const decayed = g.op('Mul', [g.op('Min', [minDecay, fs(1)]), vals!]);
    const kept = g.op('And', [valid, g.op('Greater', [decayed, fs(a.post_threshold)])]);

    // per image: every kept candidate by decayed score (ties: class, then rank), cut to keep_top_k
    const negInf = fs(-Infinity);
    const dense = g.op('Reshape', [g.op('Where', [kept, decayed, negInf]), g.op('Concat', [N, i64([-1])], { axis: 0 })]); // [N, C*K]
    const width = dimOf(g, dense, undefined, 1);
    const T = a.keep_top_k > -1 ? minInt(g, width, i64([a.keep_top_k])) : width;
    const [tv, ti] = g.node('TopK', [dense, T], 2, { axis: 1, largest: 1, sorted: 1 });
    const some = g.op('Greater', [tv!, negInf]);
    const nz = g.op('NonZero', [some]);
    const rowImage = g.op('Gather', [nz, zero], { axis: 0 });
    const flatT = g.op('Add', [g.op('Mul', [rowImage, T]), g.op('Gather', [nz, one], { axis: 0 })]);
    const pos = g.op('Gather', [g.op('Reshape', [ti!, i64([-1])]), flatT], { axis: 0 }); // c*K + k
    const score = g.op('Gather', [g.op('Reshape', [tv!, i64([-1])]), flatT], { axis: 0 });
    const CK = g.op('Mul', [C, K]);
    const flat = g.op('Add', [g.op('Mul', [rowImage, CK]), pos]);
    const label = g.cast(g.op('Div', [pos, K]), 'float32');
    const box = g.op('Reshape', [g.op('Gather', [g.op('Reshape', [boxIdx, i64([-1])]), flat], { axis: 0 }), i64([-1])]);
    const rowBoxes = g.op('Gather', [boxesFlat, box], { axis: 0 });
    g.op('Concat', [g.unsqueeze(label, [1]), g.unsqueeze(score, [1]), rowBoxes], { axis: 1 }, ctx.output('Out'));
    if (ctx.hasOutput('Index')) g.cast(g.unsqueeze(box, [1]), 'int32', ctx.output('Index'));
    if (ctx.hasOutput('RoisNum')) g.cast(reduceSum(g, g.cast(some, 'int64'), [1], false), 'int32', ctx.output('RoisNum'));
  },
});
