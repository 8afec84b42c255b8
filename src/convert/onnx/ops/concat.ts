/**
 * concat along `axis` (AxisTensor, or PIR operand 1, when it is a constant); stack = unsqueeze
 * each, then concat. PIR passes the tensors as one `builtin.combine` list.
 */
import { defineOp } from '../declare.js';

export const concat = defineOp({
  types: ['concat'],
  inputs: { X: { pir: 0, list: true }, AxisTensor: { pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { axis: { default: 0, tensor: 'AxisTensor' } },
  minOpset: 4,
  note: 'axis, AxisTensor (constant); PIR list via combine',
  map(ctx, a) {
    if (ctx.pir && !ctx.has('AxisTensor')) throw ctx.unsupported('the axis operand is missing');
    const l = ctx.list('X');
    let axis = a.axis;
    if (axis < 0 && ctx.opset < 11) {
      // Concat takes a negative axis from opset 11
      const r = l.shapes.find((sh) => sh !== undefined)?.length;
      if (r === undefined) throw ctx.unsupported('a negative axis with undeclared ranks needs opset 11');
      axis += r;
    }
    ctx.g.op('Concat', l.tensors, { axis }, ctx.output('Out'));
  },
});

export const stack = defineOp({
  types: ['stack'],
  inputs: { X: { pir: 0, list: true } },
  outputs: { Y: 0 },
  attrs: { axis: 0 },
  minOpset: 4,
  note: 'axis; PIR list via combine',
  map(ctx, a) {
    const { g } = ctx;
    const l = ctx.list('X');
    let axis = a.axis;
    if (axis < 0) {
      const shape = l.shapes[0];
      if (shape === undefined) throw ctx.unsupported('the rank of the stacked tensors is not declared');
      axis += shape.length + 1;
    }
    const parts = l.tensors.map((x) => g.unsqueeze(x, [axis]));
    g.op('Concat', parts, { axis }, ctx.output('Y'));
  },
});
