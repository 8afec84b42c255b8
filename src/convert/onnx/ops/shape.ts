/** shape: ONNX Shape gives int64; legacy Paddle declares int32, so it is cast to the declared dtype. */
import { defineOp } from '../declare.js';

export const shape = defineOp({
  types: ['shape', 'shape64'],
  inputs: { Input: 0 },
  outputs: { Out: 0 },
  minOpset: 1,
  map(ctx) {
    const { g } = ctx;
    const out = ctx.output('Out');
    if (ctx.outputDtypeOf('Out') === 'int32') g.cast(g.op('Shape', [ctx.input('Input')]), 'int32', out);
    else g.op('Shape', [ctx.input('Input')], {}, out);
  },
});
