/**
 * flatten2 (and flatten): 2-D at `axis`, as ONNX Flatten. flatten_contiguous_range (PIR
 * `flatten`): dims start_axis..stop_axis merged into one.
 */
import { num, type OpMapper } from '../mapper.js';

export const flatten2: OpMapper = {
  types: ['flatten2'],
  note: 'axis',
  map(ctx) {
    ctx.g.op('Flatten', [ctx.input('X')], { axis: num(ctx.op.attrs['axis'], 1) }, ctx.output('Out'));
  },
};

export const flattenRange: OpMapper = {
  types: ['flatten_contiguous_range', 'flatten', 'flatten_'],
  note: 'start_axis / stop_axis',
  map(ctx) {
    const { g } = ctx;
    const xs = ctx.pir ? '0' : 'X';
    const x = ctx.input(xs);
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    const r = ctx.rank(xs);
    if (r === 0) { g.op('Reshape', [x, g.constant([1])], {}, out); return; }
    let start = num(ctx.op.attrs['start_axis'], 1);
    let stop = num(ctx.op.attrs['stop_axis'], -1);
    if (start < 0) start += r;
    if (stop < 0) stop += r;
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
};
