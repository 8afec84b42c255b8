/**
 * Normalization in inference: layer_norm (begin_norm_axis; optional Scale/Bias, flattened to 1-D
 * in Paddle; ONNX LayerNormalization from opset 17, a decomposition below it), group_norm,
 * instance_norm, affine_channel, p_norm and norm (l2_normalize). Variances are the biased
 * E[(x - mean)^2], as Paddle's kernels compute them.
 */
import type { DType } from '../../../model/dtype.js';
import { f } from '../graph-builder.js';
import { defineOp } from '../declare.js';
import type { MapContext, OpMapper } from '../mapper.js';
import { reduce } from './reduce.js';
import { nonZero } from './elementwise.js';
import { channelsLastName, inChannelsFirst } from './layout.js';

/** (x - mean) / sqrt(var + eps) over `axes` (kept dims), by ReduceMean */
function standardize(ctx: MapContext, x: string, axes: number[], eps: number, dt: DType): string {
  const { g } = ctx;
  const mean = g.fresh('norm_mean');
  reduce(ctx, 'ReduceMean', x, axes, true, mean);
  const d = g.op('Sub', [x, mean]);
  const v = g.fresh('norm_var');
  reduce(ctx, 'ReduceMean', g.op('Mul', [d, d]), axes, true, v);
  return g.op('Div', [d, g.op('Sqrt', [g.op('Add', [v, g.scalar(eps, dt)])])]);
}

/** a per-channel [C] vector shaped to broadcast against channels-first x of rank r */
function perChannel(ctx: MapContext, v: string, r: number): string {
  return ctx.g.op('Reshape', [v, ctx.g.constant([-1, ...new Array(Math.max(r - 2, 0)).fill(1)])]);
}

const NORM_OUT = { Y: 0, Mean: { pir: 1, optional: true }, Variance: { pir: 2, optional: true } } as const;

export const NORM: OpMapper[] = [
  defineOp({
    types: ['layer_norm'],
    inputs: { X: 0, Scale: { pir: 1, optional: true }, Bias: { pir: 2, optional: true } },
    outputs: NORM_OUT,
    attrs: { epsilon: 1e-5, begin_norm_axis: 1 },
    minOpset: 9,
    note: 'begin_norm_axis, epsilon, optional Scale/Bias; LayerNormalization at 17, decomposed below',
    map(ctx, a) {
      const { g } = ctx;
      const r = ctx.rank('X');
      const dt = ctx.dtypeOf('X');
      const begin = a.begin_norm_axis < 0 ? a.begin_norm_axis + r : a.begin_norm_axis;
      const x = ctx.input('X');
      const out = ctx.output('Y');
      const axes = Array.from({ length: r - begin }, (_, i) => begin + i);
      // Paddle keeps Scale/Bias flat ([prod(dims[begin:])]); ONNX wants them shaped like those dims
      const shaped = (t: string) => g.op('Reshape', [t, g.shapeSlice(x, begin, r)]);
      if (ctx.opset >= 17 && ctx.has('Scale')) {
        const ins = [x, shaped(ctx.input('Scale'))];
        if (ctx.has('Bias')) ins.push(shaped(ctx.input('Bias')));
        g.op('LayerNormalization', ins, { axis: begin, epsilon: f(a.epsilon) }, out);
        return;
      }
      let y = standardize(ctx, x, axes, a.epsilon, dt);
      if (ctx.has('Scale')) y = g.op('Mul', [y, shaped(ctx.input('Scale'))]);
      if (ctx.has('Bias')) y = g.op('Add', [y, shaped(ctx.input('Bias'))]);
      g.op('Identity', [y], {}, out);
    },
  }),
  defineOp({
    types: ['group_norm'],
    inputs: { X: 0, Scale: { pir: 1, optional: true }, Bias: { pir: 2, optional: true } },
    outputs: NORM_OUT,
    attrs: { epsilon: 1e-5, groups: 1, data_layout: { default: 'NCHW', pir: 'data_format' } },
    minOpset: 9,
    note: 'groups, epsilon, optional Scale/Bias, data_layout',
    map(ctx, a) {
      const { g } = ctx;
      const r = ctx.rank('X');
      const dt = ctx.dtypeOf('X');
      inChannelsFirst(ctx, ctx.input('X'), r, channelsLastName(a.data_layout), ctx.output('Y'), (x, o) => {
        const grouped = g.op('Reshape', [x, g.constant([0, a.groups, -1])]);
        let y = g.op('Reshape', [standardize(ctx, grouped, [2], a.epsilon, dt), g.op('Shape', [x])]);
        if (ctx.has('Scale')) y = g.op('Mul', [y, perChannel(ctx, ctx.input('Scale'), r)]);
        if (ctx.has('Bias')) y = g.op('Add', [y, perChannel(ctx, ctx.input('Bias'), r)]);
        return g.op('Identity', [y], {}, o);
      });
    },
  }),
  defineOp({
    types: ['instance_norm'],
    inputs: { X: 0, Scale: { pir: 1, optional: true }, Bias: { pir: 2, optional: true } },
    outputs: { Y: 0, SavedMean: { pir: 1, optional: true }, SavedVariance: { pir: 2, optional: true } },
    attrs: { epsilon: 1e-5 },
    minOpset: 9,
    note: 'epsilon, optional Scale/Bias',
    map(ctx, a) {
      const { g } = ctx;
      const r = ctx.rank('X');
      const dt = ctx.dtypeOf('X');
      const axes = Array.from({ length: r - 2 }, (_, i) => i + 2);
      let y = standardize(ctx, ctx.input('X'), axes, a.epsilon, dt);
      if (ctx.has('Scale')) y = g.op('Mul', [y, perChannel(ctx, ctx.input('Scale'), r)]);
      if (ctx.has('Bias')) y = g.op('Add', [y, perChannel(ctx, ctx.input('Bias'), r)]);
      g.op('Identity', [y], {}, ctx.output('Y'));
    },
  }),
  defineOp({
    types: ['affine_channel', 'affine_channel_'],
    inputs: { X: 0, Scale: 1, Bias: 2 },
    outputs: { Out: 0 },
    attrs: { data_layout: 'NCHW' },
    minOpset: 7,
    note: 'per-channel scale and bias, data_layout',
    map(ctx, a) {
      const { g } = ctx;
      const r = ctx.rank('X');
      const last = channelsLastName(a.data_layout);
      const sh = (t: string) => (last ? t : perChannel(ctx, t, r));
      g.op('Add', [g.op('Mul', [ctx.input('X'), sh(ctx.input('Scale'))]), sh(ctx.input('Bias'))], {}, ctx.output('Out'));
    },
  }),
  defineOp({
    types: ['p_norm'],
    inputs: { X: 0 },
    outputs: { Out: 0 },
    attrs: { porder: 2, axis: -1, epsilon: 1e-12, keepdim: false, asvector: false },
    minOpset: 9,
    note: 'porder (2, 1, inf, -inf, 0, any p), axis, keepdim, asvector',
    map(ctx, a) {
      const { g } = ctx;
      const dt = ctx.dtypeOf('X');
      let x = ctx.input('X');
      let axes: number[] | null = [a.axis];
      if (a.asvector) { x = g.op('Reshape', [x, g.constant([-1])]); axes = null; }
      const outRank = ctx.outputShapeOf('Out')?.length;
      const out = ctx.output('Out');
      const p = a.porder;
      const abs = () => g.op('Abs', [x]);
      if (p === 2) reduce(ctx, 'ReduceL2', x, axes, a.keepdim, out, outRank);
      else if (p === 1) reduce(ctx, 'ReduceL1', x, axes, a.keepdim, out, outRank);
      else if (p === Infinity) reduce(ctx, 'ReduceMax', abs(), axes, a.keepdim, out, outRank);
      else if (p === -Infinity) reduce(ctx, 'ReduceMin', abs(), axes, a.keepdim, out, outRank);
      else if (p === 0) reduce(ctx, 'ReduceSum', g.cast(nonZero(g, x, dt), dt), axes, a.keepdim, out, outRank);
      else {
        const s = g.fresh('pnorm_sum');
        reduce(ctx, 'ReduceSum', g.op('Pow', [abs(), g.scalar(p, dt)]), axes, a.keepdim, s, outRank);
        g.op('Pow', [s, g.scalar(1 / p, dt)], {}, out);
      }
    },
  }),
  defineOp({
    types: ['frobenius_norm'],
    inputs: { X: 0, dimT: { legacy: null, pir: 1, optional: true } },
    outputs: { Out: 0 },
    attrs: { dim: { default: [-2, -1] as number[], pir: 'axis', tensor: 'dimT' }, keep_dim: { default: false, pir: 'keepdim' }, reduce_all: false },
    minOpset: 1,
    note: 'sqrt(sum(x^2)) over dim, keep_dim, reduce_all',
    map(ctx, a) {
      const rank = ctx.shapeOf('X')?.length;
      const all = a.reduce_all || (rank !== undefined && a.dim.length === rank);
      reduce(ctx, 'ReduceL2', ctx.input('X'), all ? null : a.dim, a.keep_dim, ctx.output('Out'), ctx.outputShapeOf('Out')?.length);
    },
  }),
  defineOp({
    types: ['norm'],
    inputs: { X: 0 },
    outputs: { Out: 0, Norm: { pir: 1, optional: true } },
    attrs: { axis: 1, epsilon: 1e-10 },
    minOpset: 7,
    note: 'x / sqrt(sum(x^2, axis) + epsilon), Norm output',
    map(ctx, a) {
      const { g } = ctx;
      const x = ctx.input('X');
      const dt = ctx.dtypeOf('X');
      const ss = g.fresh('norm_ss');
      reduce(ctx, 'ReduceSum', g.op('Mul', [x, x]), [a.axis], true, ss);
      const n = g.op('Sqrt', [g.op('Add', [ss, g.scalar(a.epsilon, dt)])], {}, ctx.hasOutput('Norm') ? ctx.output('Norm') : undefined);
      g.op('Div', [x, n], {}, ctx.output('Out'));
    },
  }),
];
