/**
 * Paddle `mul`: X flattened to 2-D at x_num_col_dims, Y at y_num_col_dims, multiplied, and the
 * result shaped X.dims[:x_num_col_dims] + Y.dims[y_num_col_dims:].
 */
import { defineOp } from '../declare.js';

export const mul = defineOp({
  types: ['mul'],
  inputs: { X: { pir: null }, Y: { pir: null } },
  outputs: { Out: { pir: null } },
  attrs: { x_num_col_dims: 1, y_num_col_dims: 1 },
  minOpset: 9,
  note: 'x_num_col_dims / y_num_col_dims',
  map(ctx, a) {
    const { g } = ctx;
    const xr = ctx.rank('X');
    const yShape = ctx.shapeOf('Y');
    if (!yShape) throw ctx.unsupported('the shape of Y is not declared');
    const xn = a.x_num_col_dims;
    const yn = a.y_num_col_dims;
    let x = ctx.input('X');
    let y = ctx.input('Y');
    if (xr !== 2 || xn !== 1) x = g.op('Flatten', [x], { axis: xn });
    if (yShape.length !== 2 || yn !== 1) y = g.op('Flatten', [y], { axis: yn });
    const out = ctx.output('Out');
    const tail = yShape.slice(yn);
    if (xn === 1 && tail.length === 1) { g.op('MatMul', [x, y], {}, out); return; }
    if (tail.some((d) => d < 0)) throw ctx.unsupported('Y has unknown dims after y_num_col_dims');
    const m = g.op('MatMul', [x, y]);
    const head = g.shapeSlice(ctx.input('X'), 0, xn);
    g.op('Reshape', [m, g.op('Concat', [head, g.constant(tail)], { axis: 0 })], {}, out);
  },
});
