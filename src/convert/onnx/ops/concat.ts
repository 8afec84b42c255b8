/** concat along `axis` (AxisTensor when it is a constant); stack = unsqueeze each, then concat. */
import { num, type OpMapper } from '../mapper.js';

export const concat: OpMapper = {
  types: ['concat'],
  note: 'axis, AxisTensor (constant)',
  map(ctx) {
    let axis = num(ctx.op.attrs['axis'], 0);
    if (ctx.has('AxisTensor')) {
      const c = ctx.constOf('AxisTensor');
      if (!c) throw ctx.unsupported('AxisTensor is not a constant');
      axis = c.values[0]!;
    }
    ctx.g.op('Concat', ctx.inputs('X'), { axis }, ctx.output('Out'));
  },
};

export const stack: OpMapper = {
  types: ['stack'],
  note: 'axis',
  map(ctx) {
    const { g } = ctx;
    let axis = num(ctx.op.attrs['axis'], 0);
    if (axis < 0) axis += ctx.rank('X') + 1;
    const parts = ctx.inputs('X').map((x) => g.unsqueeze(x, [axis]));
    g.op('Concat', parts, { axis }, ctx.output('Y'));
  },
};
