/**
 * Indexing: gather (axis attribute or Axis tensor), gather_nd, index_select, index_sample,
 * take_along_axis, scatter (overwrite or accumulate), scatter_nd_add.
 * Accumulating scatters use ScatterND's reduction from opset 16; below it the sums are a one-hot
 * matrix product, which adds duplicates as Paddle does.
 */
import type { DType } from '../../../model/dtype.js';
import { defineOp } from '../declare.js';
import type { GraphBuilder } from '../graph-builder.js';
import type { MapContext } from '../mapper.js';
import { dimOf, normAxis, reduceOp } from './tensor-util.js';

export const gather = defineOp({
  types: ['gather'],
  inputs: { X: 0, Index: 1, Axis: { pir: 2, optional: true } },
  outputs: { Out: 0 },
  attrs: { axis: { default: 0, tensor: 'Axis' } },
  minOpset: 1,
  note: 'axis / Axis tensor (constant); 1-D, [N,1] or 0-D index',
  map(ctx, a) {
    const { g } = ctx;
    let idx = ctx.input('Index');
    const ishape = ctx.shapeOf('Index');
    if (ishape && ishape.length === 2 && ishape[1] === 1) idx = g.op('Reshape', [idx, g.constant([-1])]);
    const rank = ctx.shapeOf('X')?.length;
    const axis = rank === undefined ? a.axis : normAxis(a.axis, rank);
    if (axis < 0 && ctx.opset < 11) throw ctx.unsupported('a negative gather axis on an input of undeclared rank needs opset 11');
    g.op('Gather', [ctx.input('X'), idx], { axis }, ctx.output('Out'));
  },
});

export const gatherNd = defineOp({
  types: ['gather_nd'],
  inputs: { X: 0, Index: 1 },
  outputs: { Out: 0 },
  minOpset: 11,
  note: 'GatherND',
  map(ctx) {
    const { g } = ctx;
    g.op('GatherND', [ctx.input('X'), g.cast(ctx.input('Index'), 'int64')], {}, ctx.output('Out'));
  },
});

export const indexSelect = defineOp({
  types: ['index_select'],
  inputs: { X: 0, Index: 1 },
  outputs: { Out: 0 },
  attrs: { dim: { default: 0, pir: 'axis' } },
  minOpset: 1,
  note: 'dim',
  map(ctx, a) {
    const rank = ctx.shapeOf('X')?.length;
    const axis = rank === undefined ? a.dim : normAxis(a.dim, rank);
    if (axis < 0 && ctx.opset < 11) throw ctx.unsupported('a negative dim on an input of undeclared rank needs opset 11');
    ctx.g.op('Gather', [ctx.input('X'), ctx.input('Index')], { axis }, ctx.output('Out'));
  },
});

export const indexSample = defineOp({
  types: ['index_sample'],
  inputs: { X: 0, Index: 1 },
  outputs: { Out: 0 },
  minOpset: 11,
  note: 'GatherElements on axis 1',
  map(ctx) {
    ctx.g.op('GatherElements', [ctx.input('X'), ctx.input('Index')], { axis: 1 }, ctx.output('Out'));
  },
});

export const takeAlongAxis = defineOp({
  types: ['take_along_axis'],
  inputs: { Input: 0, Index: 1 },
  outputs: { Result: 0 },
  attrs: { Axis: { default: 0, pir: 'axis' } },
  minOpset: 11,
  note: 'Axis (index already broadcast by the Python API)',
  map(ctx, a) {
    ctx.g.op('GatherElements', [ctx.input('Input'), ctx.input('Index')], { axis: a.Axis }, ctx.output('Result'));
  },
});

const FLOATS = new Set<DType>(['float32', 'float64', 'float16']);

/**
 * sum over i of onehot(ids[i]) x rows[i]: a [depth, R] matrix of the rows each id collects,
 * computed in the rows' float dtype (float64 for integers), plus the [depth] mask of hit ids.
 */
function oneHotSum(g: GraphBuilder, ids: string, depth: string, rows: string, dtype: DType): { sum: string; hit: string } {
  const ft: DType = FLOATS.has(dtype) ? dtype : 'float64';
  const values = g.constant([0, 1], ft, [2]);
  const oh = g.op('OneHot', [ids, depth, values], { axis: -1 }); // [N, depth]
  const r = ft === dtype ? rows : g.cast(rows, ft);
  const sum = g.op('MatMul', [g.op('Transpose', [oh], { perm: [1, 0] }), r]); // [depth, R]
  const hit = g.op('Greater', [reduceOp(g, 'ReduceMax', oh, [0], false), g.constant([0], ft, [])]);
  return { sum: ft === dtype ? sum : g.cast(sum, dtype), hit };
}

export const scatter = defineOp({
  types: ['scatter', 'scatter_'],
  inputs: { X: 0, Ids: 1, Updates: 2 },
  outputs: { Out: 0 },
  attrs: { overwrite: true },
  minOpset: 11,
  note: 'overwrite true/false (accumulating duplicates)',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    let ids = g.cast(ctx.input('Ids'), 'int64');
    let upd = ctx.input('Updates');
    const idRank = ctx.shapeOf('Ids')?.length;
    if (idRank === 0) upd = g.unsqueeze(upd, [0]);
    ids = g.op('Reshape', [ids, g.constant([-1])]);
    const out = ctx.output('Out');
    const idx = g.unsqueeze(ids, [1]); // [N, 1]
    if (a.overwrite) { g.op('ScatterND', [x, idx, upd], {}, out); return; }
    if (g.opset >= 16) {
      const zero = g.cast(g.constant([0], 'float32', [1]), ctx.dtypeOf('X'));
      const zeros = g.op('ScatterND', [x, idx, g.op('Expand', [zero, g.op('Shape', [upd])])]);
      g.op('ScatterND', [zeros, idx, upd], { reduction: 'add' }, out);
      return;
    }
    // rows of x that some id names become the sum of their updates; the others stay
    const xShape = g.op('Shape', [x]);
    const depth = dimOf(g, x, ctx.shapeOf('X'), 0);
    const rows = g.op('Reshape', [upd, g.op('Concat', [g.op('Shape', [ids]), g.constant([-1])], { axis: 0 })]);
    const { sum, hit } = oneHotSum(g, ids, depth, rows, ctx.dtypeOf('X'));
    const rank = ctx.shapeOf('X')?.length;
    if (rank === undefined) throw ctx.unsupported('the rank of X is not declared');
    const mask = rank > 1 ? g.unsqueeze(hit, Array.from({ length: rank - 1 }, (_, i) => i + 1)) : hit;
    g.op('Where', [mask, g.op('Reshape', [sum, xShape]), x], {}, out);
  },
});

export const scatterNdAdd = defineOp({
  types: ['scatter_nd_add', 'scatter_nd_add_'],
  inputs: { X: 0, Index: 1, Updates: 2 },
  outputs: { Out: 0 },
  minOpset: 11,
  note: 'duplicates accumulate (ScatterND add from opset 16, one-hot sum below)',
  map(ctx) {
    const { g } = ctx;
    const x = ctx.input('X');
    const index = g.cast(ctx.input('Index'), 'int64');
    const upd = ctx.input('Updates');
    const out = ctx.output('Out');
    if (g.opset >= 16) { g.op('ScatterND', [x, index, upd], { reduction: 'add' }, out); return; }
    const xs = ctx.shapeOf('X');
    const is = ctx.shapeOf('Index');
    const k = is?.[is.length - 1];
    if (!xs || k === undefined || k <= 0) throw ctx.unsupported('below opset 16 the index depth and the input rank must be declared');
    const lead = xs.slice(0, k);
    if (lead.some((d) => d < 0)) throw ctx.unsupported(`below opset 16 the first ${k} dims of X must be fixed (they are [${lead.join(',')}])`);
    const strides = lead.map((_, j) => lead.slice(j + 1).reduce((p, d) => p * d, 1));
    const total = lead.reduce((p, d) => p * d, 1);
    // linear position of each index row among the first k dims
    const lin = g.op('Reshape', [g.op('MatMul', [index, g.constant(strides, 'int64', [k, 1])]), g.constant([-1])]);
    const rows = g.op('Reshape', [upd, g.op('Concat', [g.op('Shape', [lin]), g.constant([-1])], { axis: 0 })]);
    const { sum } = oneHotSum(g, lin, g.constant([total]), rows, ctx.dtypeOf('X'));
    const x2 = g.op('Reshape', [x, g.constant([total, -1])]);
    g.op('Reshape', [g.op('Add', [x2, sum]), g.op('Shape', [x])], {}, out);
  },
});
