/**
 * PIR `builtin.combine` packs tensors into one list value (the operand of concat, stack, add_n).
 * It writes no ONNX node: it records the list, and consumers expand it with `ctx.list`. Its
 * operands are variadic, so it reads the raw slots.
 */
import { defineOp } from '../declare.js';

export const combine = defineOp({
  types: ['combine'],
  outputs: { Out: 0 },
  minOpset: 1,
  note: 'PIR list operand of concat / stack / add_n',
  map(ctx) {
    const slots = Object.keys(ctx.op.inputs).sort((a, b) => Number(a) - Number(b));
    const raw = ctx.raw!;
    const tensors = slots.map((s) => raw.input(s));
    const shapes = slots.map((s) => raw.shapeOf(s));
    ctx.g.lists.set(ctx.output('Out'), { tensors, shapes });
  },
});
