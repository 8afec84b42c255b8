/**
 * dropout at inference: `downgrade_in_infer` (the default) scales by 1 - dropout_prob;
 * `upscale_in_train` passes the input through.
 */
import { num, type OpMapper } from '../mapper.js';

export const dropout: OpMapper = {
  types: ['dropout'],
  note: 'dropout_implementation',
  map(ctx) {
    const { g, op } = ctx;
    const xs = ctx.pir ? '0' : 'X';
    const x = ctx.input(xs);
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    const impl = String(op.attrs[ctx.pir ? 'mode' : 'dropout_implementation'] ?? 'downgrade_in_infer');
    const p = num(op.attrs[ctx.pir ? 'p' : 'dropout_prob'], 0.5);
    if (impl === 'upscale_in_train' || p === 0) g.op('Identity', [x], {}, out);
    else g.op('Mul', [x, g.scalar(1 - p, ctx.dtypeOf(xs))], {}, out);
  },
};
