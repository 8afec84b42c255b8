/**
 * dropout at inference: `downgrade_in_infer` (the default) scales by 1 - dropout_prob;
 * `upscale_in_train` passes the input through. Legacy programs carry the rate as `dropout_prob`,
 * PIR as operand 2 (which must be a constant).
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
    let p: number;
    if (ctx.pir) {
      // PIR dropout takes the rate as operand 2 (a `full` op), not as an attribute
      const c = ctx.has('2') ? ctx.constOf('2') : undefined;
      if (!c || c.values.length !== 1) throw ctx.unsupported('the dropout rate (operand 2) is not a constant scalar');
      p = c.values[0]!;
    } else {
      p = num(op.attrs['dropout_prob'], 0.5);
    }
    if (impl === 'upscale_in_train' || p === 0) g.op('Identity', [x], {}, out);
    else g.op('Mul', [x, g.scalar(1 - p, ctx.dtypeOf(xs))], {}, out);
  },
};
