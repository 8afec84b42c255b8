/**
 * yolo_box with Paddle's semantics (its CPU kernel): X [N, an*(5+class_num), H, W] (with iou_aware,
 * an IoU channel per anchor comes first), ImgSize [N, 2] = (height, width). For anchor j, cell (k, l):
 *   conf = sigmoid(obj)  (iou_aware: conf^(1-f) * sigmoid(iou)^f)
 *   cx = (l + sigmoid(tx) * scale_x_y + bias) * img_w / W,  cy likewise with k, img_h, H
 *   w = exp(tw) * anchor_w * img_w / (downsample_ratio * W),  h likewise
 *   (computed as ((l + ...) / W -/+ exp(tw) * (anchor_w / (W * ratio)) / 2) * img_w: the same numbers)
 *   box = [cx - w/2, cy - h/2, cx + w/2, cy + h/2], clipped to [0, img_w - 1] x [0, img_h - 1] when clip_bbox
 *   scores = conf * sigmoid(class logits)
 * with bias = -0.5 * (scale_x_y - 1); a cell whose conf < conf_thresh gets zero box and zero scores.
 * Boxes [N, an*H*W, 4] and Scores [N, an*H*W, class_num], anchor-major, then row, then column.
 */
import { defineOp } from '../declare.js';
import { pick } from './tensor-util.js';


export const yoloBox = defineOp({
  types: ['yolo_box'],
  inputs: { X: 0, ImgSize: 1 },
  outputs: { Boxes: 0, Scores: 1 },
  attrs: {
    anchors: [] as number[], class_num: 1, conf_thresh: 0.01, downsample_ratio: 32, clip_bbox: true, scale_x_y: 1,
    iou_aware: false, iou_aware_factor: 0.5,
  },
  // Range (the cell grid) is opset 11
  minOpset: 11,
  note: 'clip_bbox, scale_x_y, iou_aware, conf_thresh, downsample_ratio; dynamic H, W and batch',
  map(ctx, a) {
    const { g } = ctx;
    const an = a.anchors.length / 2;
    if (!Number.isInteger(an) || an < 1) throw ctx.unsupported(`anchors must hold (width, height) pairs, got ${a.anchors.length} numbers`);
    if (ctx.dtypeOf('X') !== 'float32') throw ctx.unsupported('only float32 X is converted');
    const cls = a.class_num;
    const x = ctx.input('X');
    const fl = (v: number[], dims?: number[]) => g.constant(v, 'float32', dims ?? [v.length]);
    const i64 = (v: number[]) => g.constant(v);
    const shX = g.op('Shape', [x]);
    const N = pick(g, shX, 0);
    const H = pick(g, shX, 2);
    const W = pick(g, shX, 3);
    const zero = g.constant([0], 'int64', []);
    const one = g.constant([1], 'int64', []);
    const scalar = (v: string) => g.op('Reshape', [v, g.constant([], 'int64', [0])]);

    let body = x;
    let iouLogit: string | undefined;
    if (a.iou_aware) {
      iouLogit = g.op('Slice', [x, i64([0]), i64([an]), i64([1])]);
      body = g.op('Slice', [x, i64([an]), i64([an + an * (5 + cls)]), i64([1])]);
      iouLogit = g.op('Reshape', [iouLogit, g.op('Concat', [N, i64([an, 1]), H, W], { axis: 0 })]);
    }
    const t = g.op('Reshape', [body, g.op('Concat', [N, i64([an, 5 + cls]), H, W], { axis: 0 })]);
    const part = (s: number, e: number) => g.op('Slice', [t, i64([s]), i64([e]), i64([2])]);
    let conf = g.op('Sigmoid', [part(4, 5)]);
    if (iouLogit) {
      const iou = g.op('Sigmoid', [iouLogit]);
      conf = g.op('Mul', [g.op('Pow', [conf, fl([1 - a.iou_aware_factor], [])]), g.op('Pow', [iou, fl([a.iou_aware_factor], [])])]);
    }
    const keep = g.op('Not', [g.op('Less', [conf, fl([a.conf_thresh], [])])]);

    const img = g.cast(ctx.input('ImgSize'), 'float32');
    const imgH = g.op('Reshape', [g.op('Slice', [img, i64([0]), i64([1]), i64([1])]), i64([-1, 1, 1, 1, 1])]);
    const imgW = g.op('Reshape', [g.op('Slice', [img, i64([1]), i64([2]), i64([1])]), i64([-1, 1, 1, 1, 1])]);
    const Hf = g.cast(H, 'float32');
    const Wf = g.cast(W, 'float32');
    const gx = g.op('Reshape', [g.cast(g.op('Range', [zero, scalar(W), one]), 'float32'), i64([1, 1, 1, 1, -1])]);
    const gy = g.op('Reshape', [g.cast(g.op('Range', [zero, scalar(H), one]), 'float32'), i64([1, 1, 1, -1, 1])]);
    const bias = -0.5 * (a.scale_x_y - 1);
    // computed in grid-normalised units, then scaled by the image size (the order paddle2onnx's export
    // uses, so both agree to the last float32 bit); the same arithmetic as Paddle's kernel up to rounding
    const offset = (v: string) => g.op('Add', [g.op('Mul', [g.op('Sigmoid', [v]), fl([a.scale_x_y], [])]), fl([bias], [])]);
    const cx = g.op('Div', [g.op('Add', [offset(part(0, 1)), gx]), Wf]);
    const cy = g.op('Div', [g.op('Add', [offset(part(1, 2)), gy]), Hf]);
    const aw = fl(a.anchors.filter((_, i) => i % 2 === 0), [1, an, 1, 1, 1]);
    const ah = fl(a.anchors.filter((_, i) => i % 2 === 1), [1, an, 1, 1, 1]);
    const ds = fl([a.downsample_ratio], []);
    const bw = g.op('Mul', [g.op('Exp', [part(2, 3)]), g.op('Div', [aw, g.op('Mul', [Wf, ds])])]);
    const bh = g.op('Mul', [g.op('Exp', [part(3, 4)]), g.op('Div', [ah, g.op('Mul', [Hf, ds])])]);
    const half = fl([2], []);
    const hw = g.op('Div', [bw, half]);
    const hh = g.op('Div', [bh, half]);
    let x1 = g.op('Mul', [g.op('Sub', [cx, hw]), imgW]);
    let y1 = g.op('Mul', [g.op('Sub', [cy, hh]), imgH]);
    let x2 = g.op('Mul', [g.op('Add', [cx, hw]), imgW]);
    let y2 = g.op('Mul', [g.op('Add', [cy, hh]), imgH]);
    const zf = fl([0], []);
    if (a.clip_bbox) {
      const oneF = fl([1], []);
      // Paddle: v > 0 ? v : 0 and v < lim ? v : lim
      x1 = g.op('Where', [g.op('Greater', [x1, zf]), x1, zf]);
      y1 = g.op('Where', [g.op('Greater', [y1, zf]), y1, zf]);
      const wl = g.op('Sub', [imgW, oneF]);
      const hl = g.op('Sub', [imgH, oneF]);
      x2 = g.op('Where', [g.op('Less', [x2, wl]), x2, wl]);
      y2 = g.op('Where', [g.op('Less', [y2, hl]), y2, hl]);
    }
    // [N, an, 4, H, W] -> [N, an, H, W, 4] -> [N, an*H*W, 4]
    const boxes = g.op('Where', [keep, g.op('Concat', [x1, y1, x2, y2], { axis: 2 }), zf]);
    const tb = g.op('Transpose', [boxes], { perm: [0, 1, 3, 4, 2] });
    g.op('Reshape', [tb, g.op('Concat', [N, i64([-1, 4])], { axis: 0 })], {}, ctx.output('Boxes'));
    const scores = g.op('Where', [keep, g.op('Mul', [conf, g.op('Sigmoid', [part(5, 5 + cls)])]), zf]);
    const ts = g.op('Transpose', [scores], { perm: [0, 1, 3, 4, 2] });
    g.op('Reshape', [ts, g.op('Concat', [N, i64([-1, cls])], { axis: 0 })], {}, ctx.output('Scores'));
  },
});
