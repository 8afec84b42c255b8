/** sum: elementwise sum of every X (same shapes, or numpy-broadcastable). */
import type { OpMapper } from '../mapper.js';

export const sum: OpMapper = {
  types: ['sum', 'add_n'],
  map(ctx) {
    const xs = ctx.inputs(ctx.pir ? '0' : 'X');
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    if (xs.length === 1) ctx.g.op('Identity', xs, {}, out);
    else ctx.g.op('Sum', xs, {}, out);
  },
};
