/**
 * Activations with attributes, in Paddle's definitions (legacy attribute names; PIR renames
 * declared beside them). Each is one declaration; the plain one-op ones live in unary.ts.
 */
import type { DType } from '../../../model/dtype.js';
import { f } from '../graph-builder.js';
import { defineOp, withInplace } from '../declare.js';
import type { MapContext, OpMapper } from '../mapper.js';
import { softmaxBeforeOpset13 } from './softmax.js';

/** clip(x, lo, hi) with constant bounds: Clip-6 takes attributes, Clip-11 inputs */
export function clip(ctx: MapContext, x: string, lo: number, hi: number, dt: DType, out?: string): string {
  const { g } = ctx;
  if (ctx.opset >= 11) return g.op('Clip', [x, g.scalar(lo, dt), g.scalar(hi, dt)], {}, out);
  if (dt !== 'float32' && dt !== 'float64' && dt !== 'float16') throw ctx.unsupported(`clipping ${dt} needs opset 11`);
  return g.op('Clip', [x], { min: { f: lo }, max: { f: hi } }, out);
}

/** softplus with Paddle's linear tail: x*beta > threshold ? x : log(1 + exp(beta*x)) / beta */
function softplus(ctx: MapContext, x: string, beta: number, threshold: number, dt: DType, out?: string): string {
  const { g } = ctx;
  const bx = beta === 1 ? x : g.op('Mul', [x, g.scalar(beta, dt)]);
  let sp = g.op('Softplus', [bx]);
  if (beta !== 1) sp = g.op('Div', [sp, g.scalar(beta, dt)]);
  return g.op('Where', [g.op('Greater', [bx, g.scalar(threshold, dt)]), x, sp], {}, out);
}

/** One input X, one output Out (PIR 0 / 0): the shape every activation here has. */
const IO = { inputs: { X: 0 }, outputs: { Out: 0 } } as const;

export const ACTIVATIONS: OpMapper[] = [
  defineOp({
    ...IO,
    types: withInplace('leaky_relu'),
    attrs: { alpha: { default: 0.02, pir: 'negative_slope' } },
    minOpset: 6,
    note: 'alpha (PIR negative_slope)',
    map(ctx, a) { ctx.g.op('LeakyRelu', [ctx.input('X')], { alpha: f(a.alpha) }, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: withInplace('relu6'),
    attrs: { threshold: { default: 6, pir: null } },
    minOpset: 6,
    note: 'threshold (legacy; PIR fixes 6)',
    map(ctx, a) { clip(ctx, ctx.input('X'), 0, a.threshold, ctx.dtypeOf('X'), ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: ['brelu', 'hardtanh', 'hardtanh_'],
    attrs: { t_min: 0, t_max: 24 },
    minOpset: 6,
    note: 't_min / t_max (PIR hardtanh)',
    map(ctx, a) { clip(ctx, ctx.input('X'), a.t_min, a.t_max, ctx.dtypeOf('X'), ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: withInplace('elu'),
    attrs: { alpha: 1 },
    minOpset: 6,
    note: 'alpha',
    map(ctx, a) { ctx.g.op('Elu', [ctx.input('X')], { alpha: f(a.alpha) }, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: ['selu'],
    attrs: { scale: 1.0507009873554805, alpha: 1.6732632423543772 },
    minOpset: 6,
    note: 'scale / alpha',
    map(ctx, a) { ctx.g.op('Selu', [ctx.input('X')], { alpha: f(a.alpha), gamma: f(a.scale) }, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: ['gelu'],
    attrs: { approximate: false },
    minOpset: 9,
    note: 'exact (erf) and tanh approximate',
    map(ctx, a) {
      const { g } = ctx;
      const x = ctx.input('X');
      const dt = ctx.dtypeOf('X');
      let inner: string;
      if (a.approximate) {
        // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
        const t = g.op('Add', [x, g.op('Mul', [x3, g.scalar(0.044715, dt)])]);
        inner = g.op('Tanh', [g.op('Mul', [t, g.scalar(Math.sqrt(2 / Math.PI), dt)])]);
      } else {
        inner = g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2, dt)])]);
      }
      const half = g.op('Mul', [x, g.scalar(0.5, dt)]);
      g.op('Mul', [half, g.op('Add', [inner, g.scalar(1, dt)])], {}, ctx.output('Out'));
    },
  }),
  defineOp({
    types: withInplace('pow'),
    inputs: { X: 0, FactorTensor: { pir: 1, optional: true } },
    outputs: { Out: 0 },
    attrs: { factor: { default: 1, pir: 'y' } },
    minOpset: 7,
    note: 'factor, FactorTensor',
    map(ctx, a) {
      const { g } = ctx;
      const dt = ctx.dtypeOf('X');
      const e = ctx.has('FactorTensor') ? g.op('Reshape', [g.cast(ctx.input('FactorTensor'), dt), g.constant([], 'int64', [0])]) : g.scalar(a.factor, dt);
      g.op('Pow', [ctx.input('X'), e], {}, ctx.output('Out'));
    },
  }),
  defineOp({
    types: withInplace('clip'),
    inputs: { X: 0, Min: { pir: 1, optional: true }, Max: { pir: 2, optional: true } },
    outputs: { Out: 0 },
    attrs: { min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
    minOpset: 6,
    needs: (v) => ((v.has('Min') || v.has('Max')) ? { opset: 11, why: 'Min/Max tensors need Clip-11' } : undefined),
    note: 'min / max attributes or Min / Max tensors',
    map(ctx, a) {
      const { g } = ctx;
      const dt = ctx.dtypeOf('X');
      const x = ctx.input('X');
      const out = ctx.output('Out');
      if (!ctx.has('Min') && !ctx.has('Max')) {
        // float32 range: Paddle's attribute is a float
        const lo = Math.max(a.min, -3.4028234663852886e38);
        const hi = Math.min(a.max, 3.4028234663852886e38);
        clip(ctx, x, lo, hi, dt, out);
        return;
      }
      const scalar = (slot: 'Min' | 'Max', v: number): string => (ctx.has(slot)
        ? g.op('Reshape', [g.cast(ctx.input(slot), dt), g.constant([], 'int64', [0])])
        : g.scalar(Math.max(Math.min(v, 3.4028234663852886e38), -3.4028234663852886e38), dt));
      g.op('Clip', [x, scalar('Min', a.min), scalar('Max', a.max)], {}, out);
    },
  }),
  defineOp({
    ...IO,
    types: ['softplus'],
    attrs: { beta: 1, threshold: 20 },
    minOpset: 9,
    note: 'beta, threshold (linear above it)',
    map(ctx, a) { softplus(ctx, ctx.input('X'), a.beta, a.threshold, ctx.dtypeOf('X'), ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: withInplace('mish'),
    attrs: { threshold: { default: 20, pir: 'lambda' } },
    minOpset: 9,
    note: 'x * tanh(softplus(x)), softplus linear above threshold',
    map(ctx, a) {
      const { g } = ctx;
      const x = ctx.input('X');
      const sp = softplus(ctx, x, 1, a.threshold, ctx.dtypeOf('X'));
      g.op('Mul', [x, g.op('Tanh', [sp])], {}, ctx.output('Out'));
    },
  }),
  defineOp({
    ...IO,
    types: ['hard_shrink', 'hardshrink'],
    attrs: { threshold: 0.5 },
    minOpset: 9,
    note: 'threshold',
    map(ctx, a) { ctx.g.op('Shrink', [ctx.input('X')], { lambd: f(a.threshold), bias: f(0) }, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: ['softshrink'],
    attrs: { lambda: { default: 0.5, pir: 'threshold' } },
    minOpset: 9,
    note: 'lambda (PIR threshold)',
    map(ctx, a) { ctx.g.op('Shrink', [ctx.input('X')], { lambd: f(a.lambda), bias: f(a.lambda) }, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: withInplace('thresholded_relu'),
    attrs: { threshold: 1, value: 0 },
    minOpset: 9,
    note: 'threshold (and value below it)',
    map(ctx, a) {
      const { g } = ctx;
      const x = ctx.input('X');
      const out = ctx.output('Out');
      if (a.value === 0 && ctx.opset >= 10) { g.op('ThresholdedRelu', [x], { alpha: f(a.threshold) }, out); return; }
      const dt = ctx.dtypeOf('X');
      g.op('Where', [g.op('Greater', [x, g.scalar(a.threshold, dt)]), x, g.scalar(a.value, dt)], {}, out);
    },
  }),
  defineOp({
    ...IO,
    types: ['logsigmoid'],
    minOpset: 1,
    note: '-softplus(-x)',
    map(ctx) {
      const { g } = ctx;
      g.op('Neg', [g.op('Softplus', [g.op('Neg', [ctx.input('X')])])], {}, ctx.output('Out'));
    },
  }),
  defineOp({
    ...IO,
    types: ['log_softmax'],
    attrs: { axis: -1 },
    note: 'axis',
    opsets: {
      1: (ctx, a) => softmaxBeforeOpset13(ctx, 'LogSoftmax', a.axis),
      13(ctx, a) { ctx.g.op('LogSoftmax', [ctx.input('X')], { axis: a.axis }, ctx.output('Out')); },
    },
  }),
  defineOp({
    ...IO,
    types: withInplace('square'),
    minOpset: 7,
    note: 'x * x',
    map(ctx) { const x = ctx.input('X'); ctx.g.op('Mul', [x, x], {}, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: withInplace('rsqrt'),
    minOpset: 6,
    note: '1 / sqrt(x)',
    map(ctx) { ctx.g.op('Reciprocal', [ctx.g.op('Sqrt', [ctx.input('X')])], {}, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: withInplace('round'),
    attrs: { decimals: 0 },
    minOpset: 9,
    note: 'half away from zero (C round), decimals',
    map(ctx, a) {
      const { g } = ctx;
      const dt = ctx.dtypeOf('X');
      let x = ctx.input('X');
      const out = ctx.output('Out');
      if (dt !== 'float32' && dt !== 'float64' && dt !== 'float16') { g.op('Identity', [x], {}, out); return; }
      const k = 10 ** a.decimals;
      if (a.decimals !== 0) x = g.op('Mul', [x, g.scalar(k, dt)]);
      // ONNX Round is half-to-even; Paddle rounds halves away from zero
      let r = g.op('Mul', [g.op('Sign', [x]), g.op('Floor', [g.op('Add', [g.op('Abs', [x]), g.scalar(0.5, dt)])])]);
      if (a.decimals !== 0) r = g.op('Div', [r, g.scalar(k, dt)]);
      g.op('Identity', [r], {}, out);
    },
  }),
  ...([['log2', 2], ['log10', 10]] as const).map(([t, base]) => defineOp({
    ...IO,
    types: withInplace(t),
    minOpset: 7,
    note: `ln(x) / ln(${base})`,
    map(ctx) {
      const { g } = ctx;
      g.op('Div', [g.op('Log', [ctx.input('X')]), g.scalar(Math.log(base), ctx.dtypeOf('X'))], {}, ctx.output('Out'));
    },
  })),
  defineOp({
    ...IO,
    types: withInplace('log1p'),
    minOpset: 7,
    note: 'ln(1 + x)',
    map(ctx) { const { g } = ctx; g.op('Log', [g.op('Add', [ctx.input('X'), g.scalar(1, ctx.dtypeOf('X'))])], {}, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: ['celu'],
    attrs: { alpha: 1 },
    minOpset: 9,
    note: 'max(0, x) + min(0, alpha (exp(x / alpha) - 1))',
    map(ctx, a) {
      const { g } = ctx;
      const x = ctx.input('X');
      const dt = ctx.dtypeOf('X');
      const neg = g.op('Mul', [g.op('Sub', [g.op('Exp', [g.op('Div', [x, g.scalar(a.alpha, dt)])]), g.scalar(1, dt)]), g.scalar(a.alpha, dt)]);
      g.op('Where', [g.op('Greater', [x, g.scalar(0, dt)]), x, neg], {}, ctx.output('Out'));
    },
  }),
  defineOp({
    ...IO,
    types: ['stanh'],
    attrs: { scale_a: 0.67, scale_b: 1.7159 },
    minOpset: 7,
    note: 'scale_b * tanh(scale_a * x)',
    map(ctx, a) {
      const { g } = ctx;
      const dt = ctx.dtypeOf('X');
      g.op('Mul', [g.op('Tanh', [g.op('Mul', [ctx.input('X'), g.scalar(a.scale_a, dt)])]), g.scalar(a.scale_b, dt)], {}, ctx.output('Out'));
    },
  }),
  defineOp({
    ...IO,
    types: ['tanh_shrink'],
    minOpset: 7,
    note: 'x - tanh(x)',
    map(ctx) { const x = ctx.input('X'); ctx.g.op('Sub', [x, ctx.g.op('Tanh', [x])], {}, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: withInplace('expm1'),
    minOpset: 7,
    note: 'exp(x) - 1',
    map(ctx) { const { g } = ctx; g.op('Sub', [g.op('Exp', [ctx.input('X')]), g.scalar(1, ctx.dtypeOf('X'))], {}, ctx.output('Out')); },
  }),
  defineOp({
    ...IO,
    types: withInplace('trunc'),
    minOpset: 9,
    note: 'rounds toward zero',
    map(ctx) {
      const { g } = ctx;
      const x = ctx.input('X');
      const dt = ctx.dtypeOf('X');
      if (dt !== 'float32' && dt !== 'float64' && dt !== 'float16') { g.op('Identity', [x], {}, ctx.output('Out')); return; }
      g.op('Where', [g.op('Less', [x, g.scalar(0, dt)]), g.op('Ceil', [x]), g.op('Floor', [x])], {}, ctx.output('Out'));
    },
  }),
  ...([['isnan_v2', 'isnan', 9], ['isinf_v2', 'isinf', 10], ['isfinite_v2', 'isfinite', 10]] as const).map(([legacy, pir, minOpset]) => defineOp({
    ...IO,
    types: [legacy, pir],
    minOpset,
    note: pir === 'isfinite' ? 'not NaN and not +-inf (integers: all true)' : `ONNX ${pir === 'isnan' ? 'IsNaN' : 'IsInf'} (integers: all false)`,
    map(ctx) {
      const { g } = ctx;
      const x = ctx.input('X');
      const out = ctx.output('Out');
      const dt = ctx.dtypeOf('X');
      if (dt !== 'float32' && dt !== 'float64' && dt !== 'float16') {
        // an integer is never NaN or infinite: x > x is false everywhere, with x's shape
        const no = g.op('Greater', [x, x]);
        g.op(pir === 'isfinite' ? 'Not' : 'Identity', [no], {}, out);
        return;
      }
      if (pir === 'isnan') { g.op('IsNaN', [x], {}, out); return; }
      if (pir === 'isinf') { g.op('IsInf', [x], {}, out); return; }
      g.op('Not', [g.op('Or', [g.op('IsNaN', [x]), g.op('IsInf', [x])])], {}, out);
    },
  })),
  defineOp({
    ...IO,
    types: ['maxout'],
    attrs: { groups: 2, axis: 1 },
    minOpset: 5,
    note: 'groups, axis 1 (NCHW) or -1/3 (NHWC)',
    map(ctx, a) {
      const { g } = ctx;
      const shape = ctx.shapeOf('X');
      if (!shape || shape.length !== 4) throw ctx.unsupported('maxout needs a declared 4-D input');
      const axis = a.axis < 0 ? a.axis + 4 : a.axis;
      const c = shape[axis]!;
      if (c < 0 || c % a.groups !== 0) throw ctx.unsupported(`the channel dim (${c}) must be known and divisible by groups ${a.groups}`);
      const x = ctx.input('X');
      if (axis === 1) {
        // [N, C, H, W] -> [N, C/groups, groups, H, W], max over the groups
        const dims = g.op('Concat', [g.shapeSlice(x, 0, 1), g.constant([c / a.groups, a.groups]), g.shapeSlice(x, 2, 4)], { axis: 0 });
        g.op('ReduceMax', [g.op('Reshape', [x, dims])], { axes: [2], keepdims: 0 }, ctx.output('Out'));
      } else if (axis === 3) {
        // [N, H, W, C] -> [N, H, W, C/groups, groups] (0 copies N, H, W)
        g.op('ReduceMax', [g.op('Reshape', [x, g.constant([0, 0, 0, c / a.groups, a.groups])])], { axes: [4], keepdims: 0 }, ctx.output('Out'));
      } else {
        throw ctx.unsupported(`axis ${a.axis}`);
      }
    },
  }),
  defineOp({
    types: ['prelu'],
    inputs: { X: 0, Alpha: 1 },
    outputs: { Out: 0 },
    attrs: { mode: 'all', data_format: 'NCHW' },
    minOpset: 9,
    note: 'all / channel / element modes, data_format',
    map(ctx, a) {
      const { g } = ctx;
      const x = ctx.input('X');
      let alpha = ctx.input('Alpha');
      const xShape = ctx.shapeOf('X');
      if (!xShape) throw ctx.unsupported('the rank of X is not declared');
      const r = xShape.length;
      const aShape = ctx.shapeOf('Alpha') ?? [];
      const numel = aShape.reduce((p, d) => p * d, 1);
      if (a.mode === 'all') {
        alpha = g.op('Reshape', [alpha, g.constant([], 'int64', [0])]);
      } else if (a.mode === 'channel') {
        const last = a.data_format === 'NHWC' || a.data_format === 'NDHWC' || a.data_format === 'NLC';
        // [C] broadcast at the channel dim: trailing unit dims for channels-first
        alpha = g.op('Reshape', [alpha, g.constant(last ? [numel] : [numel, ...new Array(Math.max(r - 2, 0)).fill(1)])]);
      } else if (a.mode === 'element') {
        if (aShape.length === r) { /* already [1, ...] */ } else if (xShape.slice(1).every((d) => d > 0)) {
          alpha = g.op('Reshape', [alpha, g.constant([1, ...xShape.slice(1)])]);
        } else {
          throw ctx.unsupported('element mode needs the non-batch dims of X to be declared');
        }
      } else {
        throw ctx.unsupported(`mode ${a.mode}`);
      }
      g.op('PRelu', [x, alpha], {}, ctx.output('Out'));
    },
  }),
];
