/**
 * hard_swish: x * min(max(x + offset, 0), threshold) / scale (PIR `hardswish` fixes 3, 6, 6);
 * hard_sigmoid: max(0, min(1, slope*x + offset)); swish: x * sigmoid(beta*x) (silu: beta 1).
 */
import { f } from '../graph-builder.js';
import { defineOp } from '../declare.js';
import { clip } from './activations.js';

export const hardSwish = defineOp({
  types: ['hard_swish', 'hardswish'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { offset: { default: 3, pir: null }, threshold: { default: 6, pir: null }, scale: { default: 6, pir: null } },
  minOpset: 6,
  note: 'offset / threshold / scale',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const dt = ctx.dtypeOf('X');
    const c = clip(ctx, g.op('Add', [x, g.scalar(a.offset, dt)]), 0, a.threshold, dt);
    g.op('Div', [g.op('Mul', [x, c]), g.scalar(a.scale, dt)], {}, ctx.output('Out'));
  },
});

export const hardSigmoid = defineOp({
  types: ['hard_sigmoid', 'hardsigmoid'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { slope: 0.2, offset: 0.5 },
  minOpset: 6,
  note: 'slope / offset',
  map(ctx, a) {
    ctx.g.op('HardSigmoid', [ctx.input('X')], { alpha: f(a.slope), beta: f(a.offset) }, ctx.output('Out'));
  },
});

export const swish = defineOp({
  types: ['swish', 'silu', 'silu_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { beta: 1 },
  minOpset: 6,
  note: 'beta',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const beta = ctx.op.type.startsWith('silu') ? 1 : a.beta;
    const bx = beta === 1 ? x : g.op('Mul', [x, g.scalar(beta, ctx.dtypeOf('X'))]);
    g.op('Mul', [x, g.op('Sigmoid', [bx])], {}, ctx.output('Out'));
  },
});
