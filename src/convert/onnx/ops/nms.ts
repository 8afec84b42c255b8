/**
 * multiclass_nms / multiclass_nms2 / multiclass_nms3 with Paddle's semantics (Paddle's CPU kernel,
 * for BBoxes [N, M, 4] and Scores [N, C, M]):
 *
 * - per image, per class c != background_label: the boxes with score > score_threshold, sorted by
 *   score descending with ties in box order (a stable sort), cut to nms_top_k BEFORE suppression;
 *   then greedy suppression in that order (IoU > nms_threshold against a kept box drops a box);
 * - per image, when more than keep_top_k survive: the keep_top_k best by score (a stable sort over
 *   (class ascending, kept order)), then written back in class order;
 * - rows [label, score, x1, y1, x2, y2] by image, then class ascending, then kept order; Index =
 *   image * M + box (int32, [R, 1]); NmsRoisNum = rows per image (int32, [N]); no rows: [0, 6]
 *   (multiclass_nms, which has no Index, writes Paddle's [1, 1] holding -1 instead).
 *
 * How: TopK per (image, class) gives Paddle's candidate order (ONNX TopK puts the lower index first on
 * ties, as the stable sort does). Each (image, class) becomes one NonMaxSuppression batch whose
 * scores are the candidates' ranks (K, K-1, ..., 1; 0 for a candidate under the threshold or of the
 * background class), so onnxruntime visits them in exactly Paddle's order whatever its tie rule. The
 * kept candidates are scattered into a dense [N, C*K] table of scores, keep_top_k is a TopK over each
 * image's row (lower position first on ties = class order, then kept order), and NonZero over the kept
 * mask walks the table in row-major order: image, class, kept order. Nothing depends on the order in
 * which NonMaxSuppression lists its selections, and no Squeeze or Concat assumes a batch of 1.
 *
 * normalized = false adds 1 to widths and heights; shifting x2 and y2 by +1 gives the same IoU. An
 * inverted box (x2 < x1 or y2 < y1) is handed to NonMaxSuppression as a zero-area box (see below).
 * nms_eta < 1 (adaptive threshold) only acts while the threshold is above 0.5: it is refused when
 * nms_threshold > 0.5, and has no effect (so is accepted) otherwise.
 */
import { defineOp } from '../declare.js';
import { dimOf, minInt, pick, reduceSum, scalarOf } from './tensor-util.js';

/** a float32 attribute as the user wrote it (0.9, not 0.8999999761581421) */
export const shown = (v: number) => String(Number(v.toPrecision(6)));

export const multiclassNms = defineOp({
  types: ['multiclass_nms', 'multiclass_nms2', 'multiclass_nms3'],
  inputs: { BBoxes: 0, Scores: 1, RoisNum: { pir: 2, optional: true } },
  outputs: { Out: 0, Index: { pir: 1, optional: true }, NmsRoisNum: { pir: 2, optional: true } },
  attrs: {
    score_threshold: 0, nms_top_k: -1, keep_top_k: -1, nms_threshold: 0.3, normalized: true, nms_eta: 1, background_label: 0,
  },
  // NonMaxSuppression is opset 10; Range (the candidate ranks) is 11
  minOpset: 11,
  note: "Paddle's order and counts; nms_top_k before suppression; any batch; eta<1 only where it has no effect; 3-D BBoxes only",
  map(ctx, a) {
    const { g } = ctx;
    const scoresRank = ctx.shapeOf('Scores')?.length;
    if (scoresRank !== undefined && scoresRank !== 3) {
      throw ctx.unsupported(`Scores of rank ${scoresRank}: only the [N, C, M] form is converted (the [M, C] form over per-RoI class boxes with RoisNum or LoD is not)`);
    }
    if (ctx.has('RoisNum')) throw ctx.unsupported('RoisNum (per-RoI class boxes of two-stage detectors) is not converted');
    const bshape = ctx.shapeOf('BBoxes');
    if (bshape && bshape.length !== 3) throw ctx.unsupported(`BBoxes of rank ${bshape.length}: only [N, M, 4] is converted`);
    if (bshape && bshape[2]! > 0 && bshape[2] !== 4) throw ctx.unsupported(`polygon boxes (${bshape[2]} coordinates) are not converted, only [x1, y1, x2, y2]`);
    if (ctx.dtypeOf('BBoxes') !== 'float32' || ctx.dtypeOf('Scores') !== 'float32') throw ctx.unsupported('only float32 boxes and scores are converted');
    if (a.nms_eta < 1 && a.nms_threshold > 0.5) {
      throw ctx.unsupported(`nms_eta ${shown(a.nms_eta)} < 1 with nms_threshold ${shown(a.nms_threshold)} > 0.5 (an adaptive threshold) cannot be written with ONNX NonMaxSuppression`);
    }
    const boxes = ctx.input('BBoxes');
    const scores = ctx.input('Scores');
    const type = ctx.op.type.replace(/_$/, '');

    const i64 = (v: number[]) => g.constant(v);
    const shS = g.op('Shape', [scores]);
    const N = pick(g, shS, 0);
    const C = pick(g, shS, 1);
    const M = pick(g, shS, 2);
    const K = a.nms_top_k < 0 ? M : minInt(g, M, i64([a.nms_top_k]));
    const zero = g.constant([0], 'int64', []);
    const one = g.constant([1], 'int64', []);

    // candidates per (image, class), in Paddle's order
    const [vals, idx] = g.node('TopK', [scores, K], 2, { axis: 2, largest: 1, sorted: 1 });
    let valid = g.op('Greater', [vals!, g.constant([a.score_threshold], 'float32', [])]);
    if (a.background_label >= 0) {
      const cls = g.op('Range', [zero, scalarOf(g, C), one]);
      const notBg = g.op('Reshape', [g.op('Not', [g.op('Equal', [cls, g.constant([a.background_label], 'int64', [])])]), i64([1, -1, 1])]);
      valid = g.op('And', [valid, notBg]);
    }
    const ranks = g.cast(g.op('Sub', [K, g.op('Range', [zero, scalarOf(g, K), one])]), 'float32');
    const rankScores = g.op('Where', [valid, ranks, g.constant([0], 'float32', [])]);
    const nmsScores = g.op('Reshape', [rankScores, i64([-1, 1, 0])]);

    // each candidate's box: boxes[n, idx[n, c, k]]
    const boxesFlat = g.op('Reshape', [boxes, i64([-1, 4])]);
    const imageBase = g.op('Reshape', [g.op('Mul', [g.op('Range', [zero, scalarOf(g, N), one]), M]), i64([-1, 1, 1])]);
    const candIdx = g.op('Add', [idx!, imageBase]);
    let nmsBoxesFlat = boxesFlat;
    if (!a.normalized) nmsBoxesFlat = g.op('Add', [boxesFlat, g.constant([0, 0, 1, 1], 'float32', [4])]);
    // Paddle gives a box with x2 < x1 or y2 < y1 area 0, and an IoU <= 0 with any box when only one side
    // is inverted; onnxruntime would reorder its corners instead. A zero-area box at (x1, y1) has IoU 0
    // with everything there, as in Paddle. (Both sides inverted: Paddle's formula gives a positive
    // "overlap" that no ONNX op reproduces; trained detectors do not emit such boxes.)
    const colOf = (k: number) => g.op('Slice', [boxesFlat, i64([k]), i64([k + 1]), i64([1])]);
    const inverted = g.op('Or', [g.op('Less', [colOf(2), colOf(0)]), g.op('Less', [colOf(3), colOf(1)])]);
    const corner = g.op('Concat', [colOf(0), colOf(1), colOf(0), colOf(1)], { axis: 1 });
    nmsBoxesFlat = g.op('Where', [inverted, corner, nmsBoxesFlat]);
    const cand = g.op('Gather', [nmsBoxesFlat, candIdx], { axis: 0 });
    const nmsBoxes = g.op('Reshape', [cand, g.op('Concat', [i64([-1]), K, i64([4])], { axis: 0 })]);
    const selected = g.op('NonMaxSuppression', [nmsBoxes, nmsScores, K, g.constant([a.nms_threshold], 'float32', [1]), g.constant([0.5], 'float32', [1])], { center_point_box: 0 });

    // kept candidates into a dense [N, C*K] score table (-inf elsewhere)
    const selBatch = g.op('Gather', [selected, zero], { axis: 1 });
    const selK = g.op('Gather', [selected, g.constant([2], 'int64', [])], { axis: 1 });
    const pos = g.op('Add', [g.op('Mul', [selBatch, K]), selK]);
    const valsFlat = g.op('Reshape', [vals!, i64([-1])]);
    const idxFlat = g.op('Reshape', [idx!, i64([-1])]);
    const negInf = g.op('Expand', [g.constant([-Infinity], 'float32', []), g.op('Shape', [valsFlat])]);
    const dense = g.op('Reshape', [
      g.op('ScatterND', [negInf, g.unsqueeze(pos, [1]), g.op('Gather', [valsFlat, pos], { axis: 0 })]),
      g.op('Concat', [N, i64([-1])], { axis: 0 }),
    ]);
    const notEmpty = (x: string) => g.op('Greater', [x, g.constant([-Infinity], 'float32', [])]);
    let kept: string;
    if (a.keep_top_k > -1) {
      const width = dimOf(g, dense, undefined, 1);
      const T = minInt(g, width, i64([a.keep_top_k]));
      const [tv, ti] = g.node('TopK', [dense, T], 2, { axis: 1, largest: 1, sorted: 1 });
      const zeros = g.op('Expand', [g.constant([0], 'float32', []), g.op('Shape', [dense])]);
      kept = g.op('Greater', [g.op('ScatterElements', [zeros, ti!, g.cast(notEmpty(tv!), 'float32')], { axis: 1 }), g.constant([0], 'float32', [])]);
    } else {
      kept = notEmpty(dense);
    }

    // rows: image, class, kept order (row-major walk of the table)
    const nz = g.op('NonZero', [kept]);
    const rowImage = g.op('Gather', [nz, zero], { axis: 0 });
    const rowPos = g.op('Gather', [nz, one], { axis: 0 });
    const CK = g.op('Mul', [C, K]);
    const flat = g.op('Add', [g.op('Mul', [rowImage, CK]), rowPos]);
    const label = g.cast(g.op('Div', [rowPos, K]), 'float32');
    const score = g.op('Gather', [valsFlat, flat], { axis: 0 });
    const boxIndex = g.op('Add', [g.op('Mul', [rowImage, M]), g.op('Gather', [idxFlat, flat], { axis: 0 })]);
    const box = g.op('Gather', [boxesFlat, boxIndex], { axis: 0 });
    const rows = g.op('Concat', [g.unsqueeze(label, [1]), g.unsqueeze(score, [1]), box], { axis: 1 });

    if (type === 'multiclass_nms') {
      // Paddle's multiclass_nms (no Index) writes [[-1]] when nothing is kept
      const isEmpty = g.op('Equal', [dimOf(g, rows, undefined, 0), i64([0])]);
      const extra = g.op('Slice', [g.constant([-1], 'float32', [1]), i64([0]), g.cast(isEmpty, 'int64'), i64([0])]);
      const w = g.op('Where', [isEmpty, i64([1]), i64([6])]);
      g.op('Reshape', [g.op('Concat', [g.op('Reshape', [rows, i64([-1])]), extra], { axis: 0 }), g.op('Concat', [i64([-1]), w], { axis: 0 })], {}, ctx.output('Out'));
    } else {
      g.op('Identity', [rows], {}, ctx.output('Out'));
    }
    if (ctx.hasOutput('Index')) g.cast(g.unsqueeze(boxIndex, [1]), 'int32', ctx.output('Index'));
    if (ctx.hasOutput('NmsRoisNum')) g.cast(reduceSum(g, g.cast(kept, 'int64'), [1], false), 'int32', ctx.output('NmsRoisNum'));
  },
});
