/** sum / add_n: elementwise sum of every X (same shapes, or numpy-broadcastable); PIR gives them as one combine list. */
import type { OpMapper } from '../mapper.js';

export const sum: OpMapper = {
  types: ['sum', 'add_n'],
  note: 'PIR list via combine',
  map(ctx) {
    const xs = ctx.list(ctx.pir ? '0' : 'X').tensors;
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    if (xs.length === 1) ctx.g.op('Identity', xs, {}, out);
    else ctx.g.op('Sum', xs, {}, out);
  },
};
