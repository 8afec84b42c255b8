/**
 * Constants known at conversion time become initializers named after the Paddle var, and are
 * remembered so that later mappers can read them (kernel sizes, axes, shapes):
 * fill_constant (dtype as a VarType code, `str_value` preferred for exactness), PIR full and
 * full_int_array (dtype by name).
 */
import { dtypeFromName, dtypeFromVarType, type DType } from '../../../model/dtype.js';
import { encodeValues } from '../graph-builder.js';
import { ints, num, type MapContext, type OpMapper } from '../mapper.js';

const MAX_FILL = 1 << 24;

function emit(ctx: MapContext, dtype: DType, dims: number[], values: number[]): void {
  const out = ctx.output(ctx.pir ? '0' : 'Out');
  ctx.g.initializer(out, dtype, dims, encodeValues(values, dtype));
  ctx.g.consts.set(out, { dtype, dims, values });
}

/** Paddle writes infinities and NaN as "inf", "-inf", "nan" (any case); Number() only knows "Infinity". */
export function parseValue(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  if (t === 'nan' || t === '+nan' || t === '-nan') return NaN;
  return Number(s);
}

export const fillConstant: OpMapper = {
  types: ['fill_constant', 'full'],
  note: 'static shape and value',
  map(ctx) {
    const { op } = ctx;
    if (!ctx.pir && (ctx.has('ValueTensor') || ctx.has('ShapeTensor') || ctx.has('ShapeTensorList'))) {
      throw ctx.unsupported('value or shape given as a tensor');
    }
    const dtype = ctx.pir ? dtypeFromName(String(op.attrs['dtype'])) : dtypeFromVarType(num(op.attrs['dtype'], 5));
    const dims = ints(op.attrs['shape']);
    const n = dims.reduce((a, b) => a * b, 1);
    if (dims.some((d) => d < 0) || n > MAX_FILL) throw ctx.unsupported(`shape [${dims.join(',')}] is not a fixed size up to ${MAX_FILL} elements`);
    const str = op.attrs['str_value'];
    const v = typeof str === 'string' && str.trim() !== '' ? parseValue(str) : num(op.attrs['value'], 0);
    emit(ctx, dtype, dims, new Array(n).fill(v));
  },
};

export const fullIntArray: OpMapper = {
  types: ['full_int_array'],
  map(ctx) {
    const values = ints(ctx.op.attrs['value']);
    const d = dtypeFromName(String(ctx.op.attrs['dtype'] ?? 'int64'));
    emit(ctx, d === 'unknown' ? 'int64' : d, [values.length], values);
  },
};
