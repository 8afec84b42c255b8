/** arg_max / argmax: axis, keepdims, flatten (over all elements), dtype int32|int64 (VarType 2/3, -1 = int64). */
import { num, type OpMapper } from '../mapper.js';

export const argMax: OpMapper = {
  types: ['arg_max', 'argmax'],
  note: 'axis, keepdims, flatten, dtype',
  map(ctx) {
    const { g, op } = ctx;
    let x = ctx.input(ctx.pir ? '0' : 'X');
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    let axis = num(op.attrs['axis'], -1);
    if (ctx.pir) {
      const c = ctx.constOf('1');
      if (!c) throw ctx.unsupported('axis is not a constant');
      axis = c.values[0]!;
    }
    const keepdims = op.attrs['keepdims'] === true ? 1 : 0;
    if (op.attrs['flatten'] === true) { x = g.op('Reshape', [x, g.constant([-1])]); axis = 0; }
    const dt = op.attrs['dtype'];
    const int32 = dt === 2 || dt === 'int32';
    if (int32) g.cast(g.op('ArgMax', [x], { axis, keepdims }), 'int32', out);
    else g.op('ArgMax', [x], { axis, keepdims }, out);
  },
};
