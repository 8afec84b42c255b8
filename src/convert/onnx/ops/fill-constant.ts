/**
 * Constants known at conversion time become initializers named after the Paddle var, and are
 * remembered so that later mappers can read them (kernel sizes, axes, shapes):
 * fill_constant (dtype as a VarType code, `str_value` preferred for exactness), PIR full and
 * full_int_array (dtype by name).
 */
import { dtypeFromName, dtypeFromVarType } from '../../../model/dtype.js';
import { defineOp } from '../declare.js';
import { emitConst } from './tensor-util.js';

const MAX_FILL = 1 << 24;

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
  note: 'static shape and value; ShapeTensor / ShapeTensorList / ValueTensor at run time (Expand)',
  map(ctx, a) {
    // legacy dtype is a VarType code, PIR names it
    const dtype = a.dtypeName !== '' ? dtypeFromName(a.dtypeName) : dtypeFromVarType(a.dtype);
    let dims = a.shape;
    if (ctx.has('ShapeTensorList')) {
      const parts = ctx.inputs('ShapeTensorList').map((_, i) => ctx.constOf('ShapeTensorList', i)?.values);
      dims = parts.every((p) => p !== undefined) ? parts.flatMap((p) => p!) : [-1];
    } else if (ctx.has('ShapeTensor')) {
      dims = ctx.constOf('ShapeTensor')?.values ?? [-1];
    }
    if (ctx.has('ValueTensor') || dims.some((d) => d < 0)) {
      // run-time shape or value: broadcast the value to the shape
      const { g } = ctx;
      const shape = ctx.has('ShapeTensorList')
        ? g.op('Concat', ctx.inputs('ShapeTensorList').map((t) => g.op('Reshape', [g.cast(t, 'int64'), g.constant([1])])), { axis: 0 })
        : ctx.has('ShapeTensor') ? g.cast(ctx.input('ShapeTensor'), 'int64') : g.constant(dims);
      let value: string;
      if (ctx.has('ValueTensor')) {
        value = g.op('Reshape', [ctx.input('ValueTensor'), g.constant([1])]);
        if (ctx.dtypeOf('ValueTensor') !== dtype) value = g.cast(value, dtype);
      } else {
        value = g.constant([a.str_value.trim() !== '' ? parseValue(a.str_value) : a.value], dtype, [1]);
      }
      g.op('Expand', [value, shape], {}, ctx.output('Out'));
      return;
    }
    const n = dims.reduce((x, y) => x * y, 1);
    if (dims.some((d) => d < 0) || n > MAX_FILL) throw ctx.unsupported(`shape [${dims.join(',')}] is not a fixed size up to ${MAX_FILL} elements`);
    const v = a.str_value.trim() !== '' ? parseValue(a.str_value) : a.value;
    emitConst(ctx, ctx.output('Out'), dtype, dims, new Array(n).fill(v));
  },
});

export const fullIntArray = defineOp({
  types: ['full_int_array'],
  outputs: { Out: 0 },
  attrs: { value: [] as number[], dtype: 'int64' },
  minOpset: 1,
  map(ctx, a) {
    const d = dtypeFromName(a.dtype);
    emitConst(ctx, ctx.output('Out'), d === 'unknown' ? 'int64' : d, [a.value.length], a.value);
  },
});
