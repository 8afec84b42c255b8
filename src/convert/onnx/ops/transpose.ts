/** transpose2 / transpose: `axis` (PIR `perm`) is the permutation. */
import { defineOp } from '../declare.js';

export const transpose = defineOp({
  types: ['transpose2', 'transpose', 'transpose_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { axis: { default: [] as number[], pir: 'perm' } },
  minOpset: 1,
  map(ctx, a) {
    ctx.g.op('Transpose', [ctx.input('X')], { perm: a.axis }, ctx.output('Out'));
  },
});
