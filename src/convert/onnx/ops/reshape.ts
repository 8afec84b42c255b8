/**
 * reshape2 / reshape: the target shape comes from the Shape tensor, else the ShapeTensor list,
 * else the `shape` attribute (PIR: operand 1). 0 copies the input dim and -1 is inferred, as in
 * ONNX Reshape with allowzero=0.
 */
import { defineOp } from '../declare.js';

export const reshape = defineOp({
  types: ['reshape2', 'reshape', 'reshape_'],
  inputs: { X: 0, Shape: { pir: 1, optional: true }, ShapeTensor: { pir: null, optional: true } },
  outputs: { Out: 0 },
  attrs: { shape: [] as number[] },
  minOpset: 5,
  note: 'Shape / ShapeTensor / shape attribute',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const out = ctx.output('Out');
    let shape: string;
    if (ctx.has('Shape')) {
      shape = g.cast(ctx.input('Shape'), 'int64');
    } else if (ctx.has('ShapeTensor')) {
      const parts = ctx.inputs('ShapeTensor').map((p) => g.op('Reshape', [g.cast(p, 'int64'), g.constant([1])]));
      shape = g.op('Concat', parts, { axis: 0 });
    } else {
      shape = g.constant(a.shape);
    }
    g.op('Reshape', [x, shape], {}, out);
  },
});
