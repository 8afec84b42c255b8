/**
 * slice: axes/starts/ends (attributes, or StartsTensor/EndsTensor, or per-axis tensor lists; PIR
 * operands 1 and 2), then decrease_axis squeezed away. Older Paddle kept a fully decreased
 * result as shape [1]; the declared output rank decides. Opset 9 spells Slice with attributes,
 * so there the bounds must be constants.
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';

function bound(ctx: MapContext, attr: number[], tensor: string, list: string): string {
  const { g } = ctx;
  if (ctx.has(tensor)) return g.cast(ctx.input(tensor), 'int64');
  if (ctx.has(list)) return g.op('Concat', ctx.inputs(list).map((p) => g.op('Reshape', [g.cast(p, 'int64'), g.constant([1])])), { axis: 0 });
  return g.constant(attr);
}

export const slice = defineOp({
  types: ['slice'],
  inputs: {
    Input: 0,
    StartsTensor: { pir: 1, optional: true }, EndsTensor: { pir: 2, optional: true },
    StartsTensorList: { pir: null, optional: true }, EndsTensorList: { pir: null, optional: true },
  },
  outputs: { Out: 0 },
  attrs: { axes: [] as number[], starts: [] as number[], ends: [] as number[], decrease_axis: [] as number[] },
  minOpset: 9,
  needs: (v) => (['StartsTensor', 'EndsTensor', 'StartsTensorList', 'EndsTensorList'].some((s) => v.has(s))
    ? { opset: 10, why: 'tensor starts/ends need Slice-10' } : undefined),
  note: 'axes/starts/ends (attributes or tensors), decrease_axis',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('Input');
    const out = ctx.output('Out');
    const dec = a.decrease_axis;
    const sliced = (o?: string): string => {
      if (ctx.opset < 10) {
        const s = ctx.has('StartsTensor') ? ctx.constOf('StartsTensor')?.values : a.starts;
        const e = ctx.has('EndsTensor') ? ctx.constOf('EndsTensor')?.values : a.ends;
        if (!s || !e) throw ctx.unsupported('starts/ends given as tensors need opset 10');
        return g.op('Slice', [x], { axes: a.axes, starts: s, ends: e }, o);
      }
      const starts = bound(ctx, a.starts, 'StartsTensor', 'StartsTensorList');
      const ends = bound(ctx, a.ends, 'EndsTensor', 'EndsTensorList');
      return g.op('Slice', [x, starts, ends, g.constant(a.axes)], {}, o);
    };
    if (dec.length === 0) { sliced(out); return; }
    const sl = sliced();
    const inRank = ctx.shapeOf('Input')?.length;
    const outRank = ctx.outputShapeOf('Out')?.length;
    if (inRank !== undefined && inRank === dec.length && outRank === 1) { g.op('Identity', [sl], {}, out); return; }
    g.squeeze(sl, dec, out);
  },
});
