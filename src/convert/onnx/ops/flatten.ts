/**
 * flatten2 (and flatten): 2-D at `axis`, as ONNX Flatten. flatten_contiguous_range (PIR
 * `flatten`): dims start_axis..stop_axis merged into one.
 */
import { defineOp } from '../declare.js';

export const flatten2 = defineOp({
  types: ['flatten2'],
  inputs: { X: { pir: null } },
  outputs: { Out: { pir: null } },
  attrs: { axis: 1 },
  minOpset: 9,
  note: 'axis',
  map(ctx, a) {
    ctx.g.op('Flatten', [ctx.input('X')], { axis: a.axis }, ctx.output('Out'));
  },
});

export const flattenRange = defineOp({
  types: ['flatten_contiguous_range', 'flatten', 'flatten_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { start_axis: 1, stop_axis: -1 },
  minOpset: 5,
  note: 'start_axis / stop_axis',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const out = ctx.output('Out');
    const r = ctx.rank('X');
    if (r === 0) { g.op('Reshape', [x, g.constant([1])], {}, out); return; }
    const start = a.start_axis < 0 ? a.start_axis + r : a.start_axis;
    const stop = a.stop_axis < 0 ? a.stop_axis + r : a.stop_axis;
    if (start > stop) throw ctx.unsupported(`start_axis ${start} is after stop_axis ${stop}`);
    if (start === stop) { g.op('Identity', [x], {}, out); return; }
    if (stop === r - 1) {
      // leading dims are kept by position (0 = copy), the rest merged
      g.op('Reshape', [x, g.constant([...new Array(start).fill(0), -1])], {}, out);
      return;
    }
    const parts = [g.constant([-1]), g.shapeSlice(x, stop + 1, r)];
    if (start > 0) parts.unshift(g.shapeSlice(x, 0, start));
    g.op('Reshape', [x, g.op('Concat', parts, { axis: 0 })], {}, out);
  },
});
