/**
 * Constants known at conversion time become initializers named after the Paddle var, and are
 * remembered so that later mappers can read them (kernel sizes, axes, shapes):
 * fill_constant (dtype as a VarType code, `str_value` preferred for exactness), PIR full and
 * full_int_array (dtype by name).
 */
import { dtypeFromName, dtypeFromVarType, type DType } from '../../../model/dtype.js';
import { encodeValues } from '../graph-builder.js';
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';

const MAX_FILL = 1 << 24;

function emit(ctx: MapContext, dtype: DType, dims: number[], values: number[]): void {
  const out = ctx.output('Out');
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

export const fillConstant = defineOp({
  types: ['fill_constant', 'full'],
  inputs: {
    ValueTensor: { pir: null, optional: true }, ShapeTensor: { pir: null, optional: true }, ShapeTensorList: { pir: null, optional: true },
  },
  outputs: { Out: 0 },
  attrs: { shape: [] as number[], value: 0, str_value: '', dtype: { default: 5 as number, pir: null }, dtypeName: { default: '', legacy: null, pir: 'dtype' } },
  minOpset: 1,
  note: 'static shape and value',
  map(ctx, a) {
    if (ctx.has('ValueTensor') || ctx.has('ShapeTensor') || ctx.has('ShapeTensorList')) {
      throw ctx.unsupported('value or shape given as a tensor');
    }
    // legacy dtype is a VarType code, PIR names it
    const dtype = a.dtypeName !== '' ? dtypeFromName(a.dtypeName) : dtypeFromVarType(a.dtype);
    const dims = a.shape;
    const n = dims.reduce((x, y) => x * y, 1);
    if (dims.some((d) => d < 0) || n > MAX_FILL) throw ctx.unsupported(`shape [${dims.join(',')}] is not a fixed size up to ${MAX_FILL} elements`);
    const v = a.str_value.trim() !== '' ? parseValue(a.str_value) : a.value;
    emit(ctx, dtype, dims, new Array(n).fill(v));
  },
});

export const fullIntArray = defineOp({
  types: ['full_int_array'],
  outputs: { Out: 0 },
  attrs: { value: [] as number[], dtype: 'int64' },
  minOpset: 1,
  map(ctx, a) {
    const d = dtypeFromName(a.dtype);
    emit(ctx, d === 'unknown' ? 'int64' : d, [a.value.length], a.value);
  },
});
