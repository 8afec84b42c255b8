/** softmax over `axis`. Before opset 13 ONNX Softmax flattens at the axis, so a non-last axis is moved last and back. */
import { num, type OpMapper } from '../mapper.js';

export const softmax: OpMapper = {
  types: ['softmax', 'softmax_'],
  note: 'axis',
  map(ctx) {
    const { g } = ctx;
    const s = ctx.pir ? '0' : 'X';
    const x = ctx.input(s);
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    let axis = num(ctx.op.attrs['axis'], -1);
    if (ctx.opset >= 13) { g.op('Softmax', [x], { axis }, out); return; }
    const r = ctx.rank(s);
    if (axis < 0) axis += r;
    if (axis === r - 1) { g.op('Softmax', [x], { axis }, out); return; }
    const perm = Array.from({ length: r }, (_, i) => i);
    perm[axis] = r - 1; perm[r - 1] = axis;
    const t = g.op('Transpose', [x], { perm });
    g.op('Transpose', [g.op('Softmax', [t], { axis: r - 1 })], { perm }, out);
  },
};
