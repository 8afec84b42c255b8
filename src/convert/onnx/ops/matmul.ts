/**
 * matmul (transpose_X/transpose_Y/alpha), matmul_v2 (trans_x/trans_y), PIR matmul
 * (transpose_x/transpose_y): the last two dims are swapped before an ONNX MatMul.
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';

function swapLast(ctx: MapContext, x: string, s: string): string {
  const r = ctx.rank(s);
  if (r < 2) return x;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1; perm[r - 1] = r - 2;
  return ctx.g.op('Transpose', [x], { perm });
}

export const matmul = defineOp({
  types: ['matmul', 'matmul_v2'],
  inputs: { X: 0, Y: 1 },
  outputs: { Out: 0 },
  attrs: {
    // matmul (v1) spells them transpose_X / transpose_Y and has alpha; read both legacy spellings
    trans_x: { default: false, pir: 'transpose_x' },
    trans_y: { default: false, pir: 'transpose_y' },
    transpose_X: { default: false, pir: null },
    transpose_Y: { default: false, pir: null },
    alpha: { default: 1, pir: null },
  },
  minOpset: 9,
  note: 'transpose flags, alpha',
  map(ctx, a) {
    const { g } = ctx;
    const v1 = !ctx.pir && ctx.op.type === 'matmul';
    let x = ctx.input('X');
    let y = ctx.input('Y');
    if (v1 ? a.transpose_X : a.trans_x) x = swapLast(ctx, x, 'X');
    if (v1 ? a.transpose_Y : a.trans_y) y = swapLast(ctx, y, 'Y');
    const out = ctx.output('Out');
    const alpha = v1 ? a.alpha : 1;
    if (alpha === 1) g.op('MatMul', [x, y], {}, out);
    else g.op('Mul', [g.op('MatMul', [x, y]), g.scalar(alpha, ctx.dtypeOf('X'))], {}, out);
  },
});
