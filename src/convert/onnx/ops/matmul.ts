/**
 * matmul (transpose_X/transpose_Y/alpha), matmul_v2 (trans_x/trans_y), PIR matmul
 * (transpose_x/transpose_y): the last two dims are swapped before an ONNX MatMul.
 */
import { num, type MapContext, type OpMapper } from '../mapper.js';

function swapLast(ctx: MapContext, x: string, s: string): string {
  const r = ctx.rank(s);
  if (r < 2) return x;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1; perm[r - 1] = r - 2;
  return ctx.g.op('Transpose', [x], { perm });
}

export const matmul: OpMapper = {
  types: ['matmul', 'matmul_v2'],
  note: 'transpose flags, alpha',
  map(ctx) {
    const { g, op } = ctx;
    const xs = ctx.pir ? '0' : 'X';
    const ys = ctx.pir ? '1' : 'Y';
    let x = ctx.input(xs);
    let y = ctx.input(ys);
    const [tx, ty] = ctx.pir ? ['transpose_x', 'transpose_y'] : op.type === 'matmul' ? ['transpose_X', 'transpose_Y'] : ['trans_x', 'trans_y'];
    if (op.attrs[tx!] === true) x = swapLast(ctx, x, xs);
    if (op.attrs[ty!] === true) y = swapLast(ctx, y, ys);
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    const alpha = op.type === 'matmul' && !ctx.pir ? num(op.attrs['alpha'], 1) : 1;
    if (alpha === 1) g.op('MatMul', [x, y], {}, out);
    else g.op('Mul', [g.op('MatMul', [x, y]), g.scalar(alpha, ctx.dtypeOf(xs))], {}, out);
  },
};
