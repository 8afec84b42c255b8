/**
 * Selection: where (Condition ? X : Y), where_index / PIR nonzero (the [N, rank] int64 indices of
 * true elements), one_hot_v2 / PIR one_hot (depth attribute or tensor; out-of-range and negative
 * indices give an all-zero row, as Paddle's allow_out_of_range does).
 */
import { dtypeFromVarType } from '../../../model/dtype.js';
import { defineOp } from '../declare.js';
import { castNumber, ENCODABLE } from './tensor-util.js';

export const where = defineOp({
  types: ['where', 'where_'],
  inputs: { Condition: 0, X: 1, Y: 2 },
  outputs: { Out: 0 },
  minOpset: 9,
  note: 'broadcasting Where',
  map(ctx) {
    ctx.g.op('Where', [ctx.input('Condition'), ctx.input('X'), ctx.input('Y')], {}, ctx.output('Out'));
  },
});

export const whereIndex = defineOp({
  types: ['where_index', 'nonzero'],
  inputs: { Condition: 0 },
  outputs: { Out: 0 },
  minOpset: 9,
  note: 'NonZero, transposed to [N, rank]',
  map(ctx) {
    const { g } = ctx;
    g.op('Transpose', [g.op('NonZero', [ctx.input('Condition')])], { perm: [1, 0] }, ctx.output('Out'));
  },
});

export const oneHot = defineOp({
  types: ['one_hot_v2', 'one_hot'],
  inputs: { X: 0, depth_tensor: { pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { depth: { default: -1, pir: null }, dtype: { default: 5, pir: null }, allow_out_of_range: { default: false, pir: null } },
  minOpset: 9,
  note: 'depth / depth_tensor, dtype, allow_out_of_range',
  map(ctx, a) {
    const { g } = ctx;
    if (!ctx.pir && ctx.op.type === 'one_hot') throw ctx.unsupported('the legacy one_hot (v1, trailing dim 1) is not converted; one_hot_v2 is');
    let x = ctx.input('X');
    const dtype = ctx.pir ? 'float32' : dtypeFromVarType(a.dtype);
    if (!ENCODABLE.has(dtype)) throw ctx.unsupported(`one_hot output dtype ${dtype}`);
    let depth: string;
    if (ctx.has('depth_tensor')) depth = g.op('Reshape', [g.cast(ctx.input('depth_tensor'), 'int64'), g.constant([1])]);
    else if (a.depth > 0) depth = g.constant([a.depth]);
    else throw ctx.unsupported('depth is not set');
    // ONNX (and onnxruntime at every opset) counts negative indices from the back; Paddle gives them an all-zero row
    const xi = g.cast(x, 'int64');
    x = g.op('Where', [g.op('Less', [xi, g.constant([0], 'int64', [])]), depth, xi]);
    const values = g.constant([castNumber(0, dtype), castNumber(1, dtype)], dtype, [2]);
    g.op('OneHot', [x, depth, values], { axis: -1 }, ctx.output('Out'));
  },
});
