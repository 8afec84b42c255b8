/**
 * Binary elementwise ops. Legacy `elementwise_*` broadcast Y against X starting at dimension
 * `axis` (-1: numpy-style from the right); when axis places Y before X's last dims, Y gets
 * trailing unit dims so that ONNX's numpy broadcasting lines it up the same way. The PIR
 * spellings (add, multiply, ...) broadcast numpy-style.
 */
import type { MapContext, OpMapper } from '../mapper.js';
import { num } from '../mapper.js';

const ONNX_OP: Record<string, string> = {
  elementwise_add: 'Add', elementwise_sub: 'Sub', elementwise_mul: 'Mul', elementwise_div: 'Div',
  elementwise_max: 'Max', elementwise_min: 'Min', elementwise_pow: 'Pow',
  add: 'Add', subtract: 'Sub', multiply: 'Mul', divide: 'Div', maximum: 'Max', minimum: 'Min', elementwise_pow_: 'Pow',
  add_: 'Add', subtract_: 'Sub', multiply_: 'Mul', divide_: 'Div',
};

function map(ctx: MapContext): void {
  const { g, op } = ctx;
  const onnxOp = ONNX_OP[op.type]!;
  const xs = ctx.pir ? '0' : 'X';
  const ys = ctx.pir ? '1' : 'Y';
  const out = ctx.output(ctx.pir ? '0' : 'Out');
  let x = ctx.input(xs);
  let y = ctx.input(ys);
  const axis = ctx.pir ? -1 : num(op.attrs['axis'], -1);
  if (axis !== -1) {
    const xr = ctx.rank(xs);
    const yr = ctx.rank(ys);
    if (yr < xr) {
      const trailing = xr - axis - yr;
      if (trailing < 0) throw ctx.unsupported(`axis ${axis} does not fit X of rank ${xr} and Y of rank ${yr}`);
      if (trailing > 0) y = g.unsqueeze(y, Array.from({ length: trailing }, (_, i) => yr + i));
    } else if (xr < yr) {
      const trailing = yr - axis - xr;
      if (trailing < 0) throw ctx.unsupported(`axis ${axis} does not fit X of rank ${xr} and Y of rank ${yr}`);
      if (trailing > 0) x = g.unsqueeze(x, Array.from({ length: trailing }, (_, i) => xr + i));
    }
  }
  g.op(onnxOp, [x, y], {}, out);
}

export const elementwise: OpMapper = {
  types: Object.keys(ONNX_OP),
  note: 'broadcast `axis`',
  map,
};
