/** shape: ONNX Shape gives int64; legacy Paddle declares int32, so it is cast to the declared dtype. */
import type { OpMapper } from '../mapper.js';

export const shape: OpMapper = {
  types: ['shape', 'shape64'],
  map(ctx) {
    const { g } = ctx;
    const x = ctx.input(ctx.pir ? '0' : 'Input');
    const outSlot = ctx.pir ? '0' : 'Out';
    const out = ctx.output(outSlot);
    const declared = ctx.outputDtypeOf(outSlot);
    if (declared === 'int32') g.cast(g.op('Shape', [x]), 'int32', out);
    else g.op('Shape', [x], {}, out);
  },
};
