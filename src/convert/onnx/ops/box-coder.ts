/**
 * box_coder with Paddle's semantics (its CPU kernel). Prior boxes [x1, y1, x2, y2] have width
 * x2 - x1 (+1 when box_normalized is false) and center x1 + width / 2; the variance is the
 * PriorBoxVar tensor (one row per prior), or the 4-number `variance` attribute, or 1.
 * - decode_center_size: TargetBox [R, C, 4] of deltas; the prior of (i, j) is j with axis 0, i with
 *   axis 1. center = var_xy * delta * prior_wh + prior_center, size = exp(var_wh * delta) * prior_wh;
 *   out = [cx - w/2, cy - h/2, cx + w/2 (-1), cy + h/2 (-1)].
 * - encode_center_size: TargetBox [R, 4], PriorBox [C, 4] -> [R, C, 4] of
 *   ((t_center - p_center) / p_wh, log(|t_wh / p_wh|)) divided by the variance.
 */
import { defineOp } from '../declare.js';
import { sliceConst } from './tensor-util.js';

export const boxCoder = defineOp({
  types: ['box_coder'],
  inputs: { PriorBox: 0, PriorBoxVar: { pir: 1, optional: true }, TargetBox: 2 },
  outputs: { OutputBox: 0 },
  attrs: { code_type: 'encode_center_size', box_normalized: true, axis: 0, variance: [] as number[] },
  minOpset: 9,
  note: 'encode/decode_center_size, box_normalized, axis 0/1, variance attribute or tensor',
  map(ctx, a) {
    const { g } = ctx;
    const code = a.code_type.toLowerCase();
    if (code !== 'encode_center_size' && code !== 'decode_center_size') throw ctx.unsupported(`code_type ${a.code_type} is not one Paddle knows`);
    if (a.variance.length !== 0 && a.variance.length !== 4) throw ctx.unsupported(`variance must hold 4 numbers, got ${a.variance.length}`);
    if (ctx.dtypeOf('TargetBox') !== 'float32') throw ctx.unsupported('only float32 boxes are converted');
    const fl = (v: number[], dims?: number[]) => g.constant(v, 'float32', dims ?? [v.length]);
    const i64 = (v: number[]) => g.constant(v);
    const norm = a.box_normalized ? 0 : 1;
    // column k of the last axis, kept as a size-1 axis
    const col = (t: string, k: number, rank = 2) => sliceConst(g, t, [k], [k + 1], [rank - 1]);
    const prior = ctx.input('PriorBox');
    let pw = g.op('Sub', [col(prior, 2), col(prior, 0)]);
    let ph = g.op('Sub', [col(prior, 3), col(prior, 1)]);
    if (norm) { pw = g.op('Add', [pw, fl([1], [])]); ph = g.op('Add', [ph, fl([1], [])]); }
    const two = fl([2], []);
    const pcx = g.op('Add', [col(prior, 0), g.op('Div', [pw, two])]);
    const pcy = g.op('Add', [col(prior, 1), g.op('Div', [ph, two])]);
    const hasVarT = ctx.has('PriorBoxVar');
    const varT = hasVarT ? ctx.input('PriorBoxVar') : undefined;
    const variance = (k: number): string | undefined => {
      if (varT) return col(varT, k);
      if (a.variance.length === 4) return fl([a.variance[k]!], []);
      return undefined;
    };
    const target = ctx.input('TargetBox');
    const out = ctx.output('OutputBox');

    if (code === 'decode_center_size') {
      // a per-prior column [P, 1] lines up with dim (1 - axis) of [R, C, 4] by a reshape
      const place = (v: string | undefined, perPrior: boolean): string | undefined => {
        if (v === undefined || !perPrior) return v;
        return g.op('Reshape', [v, i64(a.axis === 0 ? [1, -1, 1] : [-1, 1, 1])]);
      };
      const P = (v: string) => place(v, true)!;
      const [cw, chh, cxx, cyy] = [P(pw), P(ph), P(pcx), P(pcy)];
      const vx = place(variance(0), hasVarT); const vy = place(variance(1), hasVarT);
      const vw = place(variance(2), hasVarT); const vh = place(variance(3), hasVarT);
      const mulv = (v: string | undefined, x: string) => (v ? g.op('Mul', [v, x]) : x);
      const t = (k: number) => col(target, k, 3);
      const cx = g.op('Add', [g.op('Mul', [mulv(vx, t(0)), cw]), cxx]);
      const cy = g.op('Add', [g.op('Mul', [mulv(vy, t(1)), chh]), cyy]);
      const w = g.op('Mul', [g.op('Exp', [mulv(vw, t(2))]), cw]);
      const h = g.op('Mul', [g.op('Exp', [mulv(vh, t(3))]), chh]);
      let x2 = g.op('Add', [cx, g.op('Div', [w, two])]);
      let y2 = g.op('Add', [cy, g.op('Div', [h, two])]);
      if (norm) { x2 = g.op('Sub', [x2, fl([1], [])]); y2 = g.op('Sub', [y2, fl([1], [])]); }
      g.op('Concat', [g.op('Sub', [cx, g.op('Div', [w, two])]), g.op('Sub', [cy, g.op('Div', [h, two])]), x2, y2], { axis: -1 }, out);
      return;
    }

    // encode: target [R, 4] -> [R, 1, 4]; prior terms [C, 1] -> [1, C, 1]
    const tr = ctx.rank('TargetBox');
    if (tr !== 2) throw ctx.unsupported(`encode_center_size takes TargetBox [R, 4], got rank ${tr}`);
    const t3 = g.op('Reshape', [target, i64([-1, 1, 4])]);
    const tc = (k: number) => col(t3, k, 3);
    const row = (v: string) => g.op('Reshape', [v, i64([1, -1, 1])]);
    let tw = g.op('Sub', [tc(2), tc(0)]);
    let th = g.op('Sub', [tc(3), tc(1)]);
    if (norm) { tw = g.op('Add', [tw, fl([1], [])]); th = g.op('Add', [th, fl([1], [])]); }
    const tcx = g.op('Div', [g.op('Add', [tc(2), tc(0)]), two]);
    const tcy = g.op('Div', [g.op('Add', [tc(3), tc(1)]), two]);
    const [rw, rh] = [row(pw), row(ph)];
    const parts = [
      g.op('Div', [g.op('Sub', [tcx, row(pcx)]), rw]),
      g.op('Div', [g.op('Sub', [tcy, row(pcy)]), rh]),
      g.op('Log', [g.op('Abs', [g.op('Div', [tw, rw])])]),
      g.op('Log', [g.op('Abs', [g.op('Div', [th, rh])])]),
    ].map((p, k) => {
      const v = variance(k);
      if (!v) return p;
      return g.op('Div', [p, hasVarT ? row(v) : v]);
    });
    g.op('Concat', parts, { axis: -1 }, out);
  },
});
