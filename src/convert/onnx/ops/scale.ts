/** scale: scale*x + bias (bias_after_scale) or scale*(x + bias); a ScaleTensor input replaces the attribute. */
import { defineOp } from '../declare.js';

export const scale = defineOp({
  types: ['scale', 'scale_'],
  inputs: { X: 0, ScaleTensor: { pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { scale: 1, bias: 0, bias_after_scale: true },
  minOpset: 7,
  note: 'bias_after_scale, ScaleTensor',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const out = ctx.output('Out');
    const dt = ctx.dtypeOf('X');
    const scaleT = ctx.has('ScaleTensor') ? ctx.input('ScaleTensor') : undefined;
    if (!scaleT && a.scale === 1 && a.bias === 0) { g.op('Identity', [x], {}, out); return; }
    // Paddle's kernel reads the one-element ScaleTensor as a scalar of x's dtype: a 0-D int64 times a
    // float32 [1] `full` stays a 0-D int64, so cast it and make it 0-D before it broadcasts
    const scaleIn = scaleT === undefined ? g.scalar(a.scale, dt)
      : g.op('Reshape', [ctx.dtypeOf('ScaleTensor') === dt ? scaleT : g.cast(scaleT, dt), g.constant([], 'int64', [0])]);
    if (a.bias === 0) { g.op('Mul', [x, scaleIn], {}, out); return; }
    if (a.bias_after_scale) g.op('Add', [g.op('Mul', [x, scaleIn]), g.scalar(a.bias, dt)], {}, out);
    else g.op('Mul', [g.op('Add', [x, g.scalar(a.bias, dt)]), scaleIn], {}, out);
  },
});
