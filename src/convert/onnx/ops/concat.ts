/**
 * concat along `axis` (AxisTensor, or PIR operand 1, when it is a constant); stack = unsqueeze
 * each, then concat. PIR passes the tensors as one `builtin.combine` list.
 */
import { num, type OpMapper } from '../mapper.js';

export const concat: OpMapper = {
  types: ['concat'],
  note: 'axis, AxisTensor (constant); PIR list via combine',
  map(ctx) {
    let axis = num(ctx.op.attrs['axis'], 0);
    const axisSlot = ctx.pir ? '1' : 'AxisTensor';
    if (ctx.has(axisSlot)) {
      const c = ctx.constOf(axisSlot);
      if (!c) throw ctx.unsupported(`the axis (${axisSlot}) is not a constant`);
      axis = c.values[0]!;
    } else if (ctx.pir) {
      throw ctx.unsupported('the axis operand is missing');
    }
    ctx.g.op('Concat', ctx.list(ctx.pir ? '0' : 'X').tensors, { axis }, ctx.output(ctx.pir ? '0' : 'Out'));
  },
};

export const stack: OpMapper = {
  types: ['stack'],
  note: 'axis; PIR list via combine',
  map(ctx) {
    const { g } = ctx;
    const l = ctx.list(ctx.pir ? '0' : 'X');
    let axis = num(ctx.op.attrs['axis'], 0);
    if (axis < 0) {
      const shape = l.shapes[0];
      if (shape === undefined) throw ctx.unsupported('the rank of the stacked tensors is not declared');
      axis += shape.length + 1;
    }
    const parts = l.tensors.map((x) => g.unsqueeze(x, [axis]));
    g.op('Concat', parts, { axis }, ctx.output(ctx.pir ? '0' : 'Y'));
  },
};
