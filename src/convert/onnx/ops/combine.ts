/**
 * PIR `builtin.combine` packs tensors into one list value (the operand of concat, stack, add_n).
 * It writes no ONNX node: it records the list, and consumers expand it with `ctx.list`.
 */
import type { OpMapper } from '../mapper.js';

export const combine: OpMapper = {
  types: ['combine'],
  note: 'PIR list operand of concat / stack / add_n',
  map(ctx) {
    const slots = Object.keys(ctx.op.inputs).sort((a, b) => Number(a) - Number(b));
    const tensors = slots.map((s) => ctx.input(s));
    const shapes = slots.map((s) => ctx.shapeOf(s));
    ctx.g.lists.set(ctx.output('0'), { tensors, shapes });
  },
};
