/** transpose2 / transpose: `axis` (PIR `perm`) is the permutation. */
import { ints, type OpMapper } from '../mapper.js';

export const transpose: OpMapper = {
  types: ['transpose2', 'transpose', 'transpose_'],
  map(ctx) {
    const perm = ints(ctx.op.attrs[ctx.pir ? 'perm' : 'axis']);
    ctx.g.op('Transpose', [ctx.input(ctx.pir ? '0' : 'X')], { perm }, ctx.output(ctx.pir ? '0' : 'Out'));
  },
};
