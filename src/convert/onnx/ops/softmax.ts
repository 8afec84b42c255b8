/** softmax over `axis`. Before opset 13 ONNX Softmax flattens at the axis, so a non-last axis is moved last and back. */
import { defineOp } from '../declare.js';

export const softmax = defineOp({
  types: ['softmax', 'softmax_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { axis: -1 },
  note: 'axis',
  opsets: {
    1(ctx, a) {
      const { g } = ctx;
      const r = ctx.rank('X');
      const axis = a.axis < 0 ? a.axis + r : a.axis;
      const x = ctx.input('X');
      const out = ctx.output('Out');
      if (axis === r - 1) { g.op('Softmax', [x], { axis }, out); return; }
      const perm = Array.from({ length: r }, (_, i) => i);
      perm[axis] = r - 1; perm[r - 1] = axis;
      const t = g.op('Transpose', [x], { perm });
      g.op('Transpose', [g.op('Softmax', [t], { axis: r - 1 })], { perm }, out);
    },
    13(ctx, a) {
      ctx.g.op('Softmax', [ctx.input('X')], { axis: a.axis }, ctx.output('Out'));
    },
  },
});
