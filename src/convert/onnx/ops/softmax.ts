/** softmax over `axis`. Before opset 13 ONNX Softmax flattens at the axis, so a non-last axis is moved last and back. */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';

/**
 * Softmax or LogSoftmax of X over Paddle's `axis` into Out, for opsets before 13 (which flatten at the
 * axis): the last axis directly, any other one swapped last by a Transpose and back.
 */
export function softmaxBeforeOpset13(ctx: MapContext, opType: 'Softmax' | 'LogSoftmax', paddleAxis: number): void {
  const { g } = ctx;
  const r = ctx.rank('X');
  const axis = paddleAxis < 0 ? paddleAxis + r : paddleAxis;
  const x = ctx.input('X');
  const out = ctx.output('Out');
  if (axis === r - 1) { g.op(opType, [x], { axis }, out); return; }
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[axis] = r - 1; perm[r - 1] = axis;
  const t = g.op('Transpose', [x], { perm });
  g.op('Transpose', [g.op(opType, [t], { axis: r - 1 })], { perm }, out);
}

export const softmax = defineOp({
  types: ['softmax', 'softmax_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { axis: -1 },
  note: 'axis',
  opsets: {
    1: (ctx, a) => softmaxBeforeOpset13(ctx, 'Softmax', a.axis),
    13(ctx, a) {
      ctx.g.op('Softmax', [ctx.input('X')], { axis: a.axis }, ctx.output('Out'));
    },
  },
});
