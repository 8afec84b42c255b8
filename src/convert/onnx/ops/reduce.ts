/**
 * Reductions from one table: legacy reduce_* (dim, default [0]; keep_dim; reduce_all) and their PIR
 * spellings (mean/sum/max/min/prod take the axes as operand 1 from full_int_array, all/any/amax
 * as an attribute; empty axes reduce everything). A full reduction without keep_dim is a 0-D
 * tensor in Paddle 2.5+ and [1] before: the declared output rank decides. ONNX ReduceSum takes its
 * axes as an input from opset 13, the others as an attribute up to 17. all/any reduce a 0/1 cast
 * with Min/Max. Also: mean (everything), logsumexp, arg_max / arg_min, cumsum.
 */
import { defineOp } from '../declare.js';
import type { MapContext, OpMapper } from '../mapper.js';
import { addN } from './sum.js';
import { reduceOp } from './tensor-util.js';

/** Reduce `x` over `axes` (null: all) with ONNX op `onnx`; writes `out` shaped as Paddle declares. */
export function reduce(ctx: MapContext, onnx: string, x: string, axes: number[] | null, keepdims: boolean, out: string, outRank?: number, rank = ctx.shapeOf('X')?.length): void {
  const { g } = ctx;
  const all = axes === null || axes.length === 0;
  if (axes !== null && !all && ctx.opset < 11 && axes.some((a) => a < 0)) {
    // Reduce* take negative axes from opset 11: count them from the front (x has the rank of input X unless told)
    if (rank === undefined) throw ctx.unsupported('negative axes with an undeclared rank need opset 11');
    axes = axes.map((v) => (v < 0 ? v + rank : v));
  }
  const target = !keepdims && all && outRank === 1 ? undefined : out;
  // no axes: every Reduce* reduces everything, at any opset
  const y = all ? g.op(onnx, [x], { keepdims: keepdims ? 1 : 0 }, target) : reduceOp(g, onnx, x, axes!, keepdims, target);
  if (target === undefined) g.op('Reshape', [y, g.constant([1])], {}, out);
}

interface Row { types: string[]; onnx: string; pirAxis: 'operand' | 'attr'; pirKeep?: string; logical?: boolean; note?: string }

const ROWS: Row[] = [
  { types: ['reduce_mean', 'mean'], onnx: 'ReduceMean', pirAxis: 'operand', note: 'dim, keep_dim, reduce_all; legacy `mean` over everything' },
  { types: ['reduce_sum', 'sum'], onnx: 'ReduceSum', pirAxis: 'operand', note: 'dim, keep_dim, reduce_all, out dtype; legacy `sum` is add_n' },
  { types: ['reduce_max', 'max'], onnx: 'ReduceMax', pirAxis: 'operand' },
  { types: ['reduce_min', 'min'], onnx: 'ReduceMin', pirAxis: 'operand' },
  { types: ['reduce_prod', 'prod'], onnx: 'ReduceProd', pirAxis: 'operand', pirKeep: 'keep_dim' },
  { types: ['amax', 'reduce_amax'], onnx: 'ReduceMax', pirAxis: 'attr', note: 'dim, keep_dim, reduce_all (legacy reduce_amax)' },
  { types: ['amin', 'reduce_amin'], onnx: 'ReduceMin', pirAxis: 'attr', note: 'dim, keep_dim, reduce_all (legacy reduce_amin)' },
  { types: ['reduce_all', 'all'], onnx: 'ReduceMin', pirAxis: 'attr', logical: true, note: 'dim, keep_dim, reduce_all (min over 0/1)' },
  { types: ['reduce_any', 'any'], onnx: 'ReduceMax', pirAxis: 'attr', logical: true, note: 'dim, keep_dim, reduce_all (max over 0/1)' },
];

function reduceRow(r: Row): OpMapper {
  return defineOp({
    types: r.types,
    inputs: { X: 0, axis: { legacy: null, pir: r.pirAxis === 'operand' ? 1 : null, optional: true } },
    outputs: { Out: 0 },
    attrs: {
      dim: { default: [0], pir: r.pirAxis === 'attr' ? 'axis' : 'dims', tensor: 'axis' },
      keep_dim: { default: false, pir: r.pirKeep ?? 'keepdim' },
      reduce_all: { default: false, pir: r.pirKeep ? 'reduce_all' : null },
    },
    minOpset: 1,
    note: r.note ?? 'dim, keep_dim, reduce_all',
    map(ctx, a) {
      const { g } = ctx;
      // legacy `sum` is add_n over the X list, and legacy `mean` averages everything
      if (!ctx.pir && ctx.op.type === 'sum') { addN(ctx, ctx.list('X').tensors, ctx.output('Out')); return; }
      let x = ctx.input('X');
      let axes: number[] | null = a.reduce_all || (!ctx.pir && ctx.op.type === 'mean') ? null : a.dim;
      // PIR: an axis operand or attribute that is empty means every axis
      if (ctx.pir && !ctx.has('axis') && ctx.op.attrs[r.pirAxis === 'attr' ? 'axis' : 'dims'] === undefined) axes = null;
      const rank = ctx.shapeOf('X')?.length;
      if (axes !== null && rank !== undefined && axes.length === rank && !a.keep_dim) axes = null;
      const inDt = ctx.dtypeOf('X');
      const outDt = ctx.outputDtypeOf('Out');
      const outRank = ctx.outputShapeOf('Out')?.length;
      if (r.logical) {
        const y = ctx.g.fresh('reduce_logical');
        reduce(ctx, r.onnx, g.cast(x, 'int32'), axes, a.keep_dim, y, outRank);
        g.cast(y, 'bool', ctx.output('Out'));
        return;
      }
      if (outDt !== undefined && outDt !== inDt) x = g.cast(x, outDt);
      reduce(ctx, r.onnx, x, axes, a.keep_dim, ctx.output('Out'), outRank);
    },
  });
}

export const REDUCE: OpMapper[] = [
  ...ROWS.map(reduceRow),
  defineOp({
    types: ['logsumexp'],
    inputs: { X: 0 },
    outputs: { Out: 0 },
    attrs: { axis: [0], keepdim: false, reduce_all: false },
    minOpset: 1,
    note: 'axis, keepdim, reduce_all',
    map(ctx, a) {
      const rank = ctx.shapeOf('X')?.length;
      const all = a.reduce_all || a.axis.length === 0 || (rank !== undefined && a.axis.length === rank);
      const x = ctx.input('X');
      // log(sum(exp(x - m))) + m with m the max, so large inputs do not overflow
      const { g } = ctx;
      const axes = all ? null : a.axis;
      const m = g.fresh('lse_max');
      reduce(ctx, 'ReduceMax', x, axes, true, m);
      const s = g.fresh('lse_sum');
      reduce(ctx, 'ReduceSum', g.op('Exp', [g.op('Sub', [x, m])]), axes, true, s);
      const lse = g.op('Add', [g.op('Log', [s]), m]);
      const out = ctx.output('Out');
      if (a.keepdim) { g.op('Identity', [lse], {}, out); return; }
      const outRank = ctx.outputShapeOf('Out')?.length;
      if (all) {
        g.op('Reshape', [lse, g.constant(outRank === 1 ? [1] : [])], {}, out);
        return;
      }
      g.squeeze(lse, a.axis.map((v) => (v < 0 && rank !== undefined ? v + rank : v)), out);
    },
  }),
  ...(['max', 'min'] as const).map((kind) => defineOp({
    types: kind === 'max' ? ['arg_max', 'argmax'] : ['arg_min', 'argmin'],
    inputs: { X: 0, axisT: { legacy: null, pir: 1, optional: true } },
    outputs: { Out: 0 },
    attrs: { axis: { default: -1, tensor: 'axisT' }, keepdims: false, flatten: false, dtype: { default: 3 as number, pir: null } },
    minOpset: 1,
    note: 'axis, keepdims, flatten, dtype',
    map(ctx, a) {
      const { g } = ctx;
      if (ctx.pir && !ctx.has('axisT')) throw ctx.unsupported('the axis operand is missing');
      const x = ctx.input('X');
      const onnx = kind === 'max' ? 'ArgMax' : 'ArgMin';
      const out = ctx.output('Out');
      // legacy dtype is a VarType (2 int32, 3 int64, -1 int64); PIR says it by name
      const declared = ctx.outputDtypeOf('Out');
      const int32 = declared === 'int32' || (declared === undefined && (a.dtype === 2 || ctx.op.attrs['dtype'] === 'int32'));
      const finish = (t: string): void => { if (int32) g.cast(t, 'int32', out); else g.op('Identity', [t], {}, out); };
      if (a.flatten) {
        // the index into the flattened tensor: keepdims gives one unit dim per dim of X, otherwise
        // a 0-D result (Paddle 2.5+), or [1] where the program declares it (older Paddle)
        const i = g.op(onnx, [g.op('Reshape', [x, g.constant([-1])])], { axis: 0, keepdims: 0 });
        const dims = a.keepdims ? new Array(ctx.rank('X')).fill(1) : ctx.outputShapeOf('Out')?.length === 1 ? [1] : [];
        finish(g.op('Reshape', [i, g.constant(dims, 'int64', [dims.length])]));
        return;
      }
      let axis = a.axis;
      if (axis < 0 && ctx.opset < 11) axis += ctx.rank('X');
      if (int32) g.cast(g.op(onnx, [x], { axis, keepdims: a.keepdims ? 1 : 0 }), 'int32', out);
      else g.op(onnx, [x], { axis, keepdims: a.keepdims ? 1 : 0 }, out);
    },
  })),
  defineOp({
    types: ['cumsum', 'cumsum_'],
    inputs: { X: 0, axisT: { legacy: null, pir: 1, optional: true } },
    outputs: { Out: 0 },
    attrs: { axis: { default: -1, tensor: 'axisT' }, flatten: false, exclusive: false, reverse: false },
    minOpset: 11,
    note: 'axis, flatten, exclusive, reverse',
    map(ctx, a) {
      const { g } = ctx;
      let x = ctx.input('X');
      let axis = a.axis;
      if (a.flatten) { x = g.op('Reshape', [x, g.constant([-1])]); axis = 0; }
      g.op('CumSum', [x, g.constant([axis], 'int64', [])], { exclusive: a.exclusive ? 1 : 0, reverse: a.reverse ? 1 : 0 }, ctx.output('Out'));
    },
  }),
];
