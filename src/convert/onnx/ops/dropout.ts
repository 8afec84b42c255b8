/**
 * dropout at inference: `downgrade_in_infer` (the default) scales by 1 - dropout_prob;
 * `upscale_in_train` passes the input through. Legacy programs carry the rate as `dropout_prob`,
 * PIR as operand 2 (which must be a constant).
 */
import { defineOp } from '../declare.js';

export const dropout = defineOp({
  types: ['dropout'],
  inputs: { X: 0, p: { legacy: null, pir: 2 } },
  outputs: { Out: 0 },
  attrs: { dropout_implementation: { default: 'downgrade_in_infer', pir: 'mode' }, dropout_prob: { default: 0.5, tensor: 'p' } },
  minOpset: 7,
  note: 'dropout_implementation',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const out = ctx.output('Out');
    if (ctx.pir && ctx.constOf('p')?.values.length !== 1) throw ctx.unsupported('the dropout rate (operand 2) is not a constant scalar');
    const p = a.dropout_prob;
    if (a.dropout_implementation === 'upscale_in_train' || p === 0) g.op('Identity', [x], {}, out);
    else g.op('Mul', [x, g.scalar(1 - p, ctx.dtypeOf('X'))], {}, out);
  },
});
