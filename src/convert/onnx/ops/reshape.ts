/**
 * reshape2 / reshape: the target shape comes from the Shape tensor, else the ShapeTensor list,
 * else the `shape` attribute (PIR: operand 1). 0 copies the input dim and -1 is inferred, as in
 * ONNX Reshape with allowzero=0.
 */
import { ints, type OpMapper } from '../mapper.js';

export const reshape: OpMapper = {
  types: ['reshape2', 'reshape', 'reshape_'],
  note: 'Shape / ShapeTensor / shape attribute',
  map(ctx) {
    const { g } = ctx;
    const x = ctx.input(ctx.pir ? '0' : 'X');
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    let shape: string;
    if (ctx.pir) {
      shape = g.cast(ctx.input('1'), 'int64');
    } else if (ctx.has('Shape')) {
      shape = g.cast(ctx.input('Shape'), 'int64');
    } else if (ctx.has('ShapeTensor')) {
      const parts = ctx.inputs('ShapeTensor').map((p) => g.op('Reshape', [g.cast(p, 'int64'), g.constant([1])]));
      shape = g.op('Concat', parts, { axis: 0 });
    } else {
      shape = g.constant(ints(ctx.op.attrs['shape']));
    }
    g.op('Reshape', [x, shape], {}, out);
  },
};
