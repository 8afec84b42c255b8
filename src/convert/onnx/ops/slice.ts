/**
 * slice: axes/starts/ends (attributes, or StartsTensor/EndsTensor, or per-axis tensor lists; PIR
 * operands 1 and 2), then decrease_axis squeezed away. Older Paddle kept a fully decreased
 * result as shape [1]; the declared output rank decides.
 */
import { ints, type MapContext, type OpMapper } from '../mapper.js';

function bound(ctx: MapContext, attr: string, tensor: string, list: string): string {
  const { g } = ctx;
  if (ctx.has(tensor)) return g.cast(ctx.input(tensor), 'int64');
  if (ctx.has(list)) return g.op('Concat', ctx.inputs(list).map((p) => g.op('Reshape', [g.cast(p, 'int64'), g.constant([1])])), { axis: 0 });
  return g.constant(ints(ctx.op.attrs[attr]));
}

export const slice: OpMapper = {
  types: ['slice'],
  note: 'axes/starts/ends (attributes or tensors), decrease_axis',
  map(ctx) {
    const { g, op } = ctx;
    const xs = ctx.pir ? '0' : 'Input';
    const x = ctx.input(xs);
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    const axes = ints(op.attrs['axes']);
    const starts = ctx.pir ? g.cast(ctx.input('1'), 'int64') : bound(ctx, 'starts', 'StartsTensor', 'StartsTensorList');
    const ends = ctx.pir ? g.cast(ctx.input('2'), 'int64') : bound(ctx, 'ends', 'EndsTensor', 'EndsTensorList');
    const dec = ints(op.attrs['decrease_axis']);
    if (dec.length === 0) { g.op('Slice', [x, starts, ends, g.constant(axes)], {}, out); return; }
    const sl = g.op('Slice', [x, starts, ends, g.constant(axes)]);
    const inRank = ctx.shapeOf(xs)?.length;
    const outRank = ctx.outputShapeOf(ctx.pir ? '0' : 'Out')?.length;
    if (inRank !== undefined && inRank === dec.length && outRank === 1) {
      g.op('Identity', [sl], {}, out);
      return;
    }
    g.squeeze(sl, dec, out);
  },
};
