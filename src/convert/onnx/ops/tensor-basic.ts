/**
 * Copies, casts, constants and fills: assign, assign_value, cast, fill_any_like / full_like,
 * fill_zeros_like, fill_constant_batch_size_like / full_batch_size_like, size / numel, eye.
 * Legacy programs give dtypes as VarType codes, PIR programs by name.
 */
import { dtypeFromName, dtypeFromVarType, type DType } from '../../../model/dtype.js';
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { parseValue } from './fill-constant.js';
import { castNumber, constValues, dimOf, emitConst, ENCODABLE, intVecInput, VALUE_LIST_ATTRS, valueListOf } from './tensor-util.js';

/** the dtype a legacy VarType code or a PIR dtype name stands for; `fallback` when absent / -1 */
function dtypeAttr(ctx: MapContext, code: number, name: string, fallback: DType): DType {
  if (ctx.pir) {
    const d = name === '' ? 'unknown' : dtypeFromName(name);
    return d === 'unknown' ? fallback : d;
  }
  if (code < 0) return fallback;
  const d = dtypeFromVarType(code);
  if (d === 'unknown') throw ctx.unsupported(`dtype code ${code} is not a tensor dtype`);
  return d;
}

/** a scalar of `dtype` (shape [1]) holding `v` as Paddle would store it */
function scalarOf(ctx: MapContext, v: number, dtype: DType): string {
  if (!ENCODABLE.has(dtype)) {
    return ctx.g.cast(ctx.g.constant([v], 'float32', [1]), dtype);
  }
  return ctx.g.constant([castNumber(v, dtype)], dtype, [1]);
}

export const assign = defineOp({
  types: ['assign', 'assign_', 'assign_out_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  minOpset: 1,
  note: 'Identity',
  map(ctx) {
    const x = ctx.input('X');
    const out = ctx.output('Out');
    ctx.g.op('Identity', [x], {}, out);
    const c = ctx.g.consts.get(x);
    if (c) ctx.g.consts.set(out, c);
  },
});

export const assignValue = defineOp({
  types: ['assign_value', 'assign_value_'],
  outputs: { Out: 0 },
  attrs: {
    ...VALUE_LIST_ATTRS,
    vt: { default: 5, legacy: 'dtype', pir: null },
  },
  minOpset: 1,
  note: 'a constant (any of the *_values lists or values)',
  map(ctx, a) {
    const dtype = dtypeAttr(ctx, a.vt, a.dname, 'float32');
    if (!ENCODABLE.has(dtype)) throw ctx.unsupported(`assign_value of dtype ${dtype}`);
    const values = valueListOf(a) ?? [];
    const n = a.shape.reduce((p, d) => p * d, 1);
    if (a.shape.some((d) => d < 0) || values.length !== n) {
      throw ctx.unsupported(`shape [${a.shape.join(',')}] does not hold the ${values.length} values given`);
    }
    emitConst(ctx, ctx.output('Out'), dtype, a.shape, values.map((v) => castNumber(v, dtype)));
  },
});

export const cast = defineOp({
  types: ['cast', 'cast_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { out_dtype: { default: 5, pir: null }, dname: { default: '', legacy: null, pir: 'dtype' } },
  minOpset: 6,
  note: 'out_dtype (VarType) / dtype; constants folded',
  map(ctx, a) {
    const to = dtypeAttr(ctx, a.out_dtype, a.dname, 'float32');
    const x = ctx.input('X');
    const out = ctx.output('Out');
    const c = ctx.g.consts.get(x);
    if (c && ENCODABLE.has(to) && c.values.length <= 4096) {
      emitConst(ctx, out, to, c.dims, c.values.map((v) => castNumber(v, to)));
      return;
    }
    ctx.g.cast(x, to, out);
  },
});

/** fill_any_like (value, dtype -1 = the input's) and PIR full_like (value operand 1, dtype by name) */
export const fillAnyLike = defineOp({
  types: ['fill_any_like', 'full_like'],
  inputs: { X: 0, value: { legacy: null, pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { value: { default: 0, pir: null }, vt: { default: -1, legacy: 'dtype', pir: null }, dname: { default: '', legacy: null, pir: 'dtype' } },
  minOpset: 9,
  note: 'value, dtype',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const dtype = dtypeAttr(ctx, a.vt, a.dname, ctx.dtypeOf('X'));
    let v = a.value;
    if (ctx.pir && ctx.has('value')) {
      const t = ctx.input('value');
      const c = constValues(g, t);
      if (!c || c.length !== 1) {
        // a value computed at run time: its one element, in the output dtype, broadcast
        const s = g.op('Reshape', [g.cast(t, dtype), g.constant([1])]);
        g.op('Expand', [s, g.op('Shape', [x])], {}, ctx.output('Out'));
        return;
      }
      v = c[0]!;
    }
    g.op('Expand', [scalarOf(ctx, v, dtype), g.op('Shape', [x])], {}, ctx.output('Out'));
  },
});

export const fillZerosLike = defineOp({
  types: ['fill_zeros_like', 'fill_zeros_like2', 'zeros_like'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { dtype: { default: -1, pir: null } },
  minOpset: 9,
  note: 'zeros of the input shape',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const dtype = dtypeAttr(ctx, a.dtype, '', ctx.dtypeOf('X'));
    g.op('Expand', [scalarOf(ctx, 0, dtype), g.op('Shape', [x])], {}, ctx.output('Out'));
  },
});

export const fillConstantBatchSizeLike = defineOp({
  types: ['fill_constant_batch_size_like', 'full_batch_size_like'],
  inputs: { Input: 0 },
  outputs: { Out: 0 },
  attrs: {
    shape: [] as number[],
    input_dim_idx: 0,
    output_dim_idx: 0,
    value: 0,
    str_value: { default: '', pir: null },
    vt: { default: 5, legacy: 'dtype', pir: null },
    dname: { default: '', legacy: null, pir: 'dtype' },
  },
  minOpset: 9,
  note: 'shape, input_dim_idx, output_dim_idx, value / str_value, dtype',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('Input');
    const dtype = dtypeAttr(ctx, a.vt, a.dname, 'float32');
    const v = a.str_value.trim() !== '' ? parseValue(a.str_value) : a.value;
    const rank = a.shape.length;
    const od = a.output_dim_idx < 0 ? a.output_dim_idx + rank : a.output_dim_idx;
    if (od < 0 || od >= rank) throw ctx.unsupported(`output_dim_idx ${a.output_dim_idx} is outside shape [${a.shape.join(',')}]`);
    const inShape = ctx.shapeOf('Input');
    const id = a.input_dim_idx < 0 && inShape ? a.input_dim_idx + inShape.length : a.input_dim_idx;
    const batch = dimOf(g, x, inShape, id);
    const parts: string[] = [];
    if (od > 0) parts.push(g.constant(a.shape.slice(0, od)));
    parts.push(batch);
    if (od < rank - 1) parts.push(g.constant(a.shape.slice(od + 1)));
    const shape = parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: 0 });
    g.op('Expand', [scalarOf(ctx, v, dtype), shape], {}, ctx.output('Out'));
  },
});

/** size / numel: the element count as int64, shaped as the program declares it ([] or [1]) */
export const size = defineOp({
  types: ['size', 'numel'],
  inputs: { Input: 0 },
  outputs: { Out: 0 },
  minOpset: 1,
  note: 'int64 element count',
  map(ctx) {
    const { g } = ctx;
    const s = g.op('Size', [ctx.input('Input')]);
    const rank = ctx.outputShapeOf('Out')?.length ?? 0;
    if (rank === 0) g.op('Identity', [s], {}, ctx.output('Out'));
    else g.op('Reshape', [s, g.constant(new Array(rank).fill(1))], {}, ctx.output('Out'));
  },
});

/** eye: num_rows x num_columns (-1 = num_rows) identity; PIR takes both as operands */
export const eye = defineOp({
  types: ['eye'],
  inputs: { num_rows: { legacy: null, pir: 0, optional: true }, num_columns: { legacy: null, pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: {
    num_rows: -1,
    num_columns: -1,
    vt: { default: 5, legacy: 'dtype', pir: null },
    dname: { default: '', legacy: null, pir: 'dtype' },
  },
  minOpset: 9,
  note: 'num_rows, num_columns, dtype',
  map(ctx, a) {
    const { g } = ctx;
    const dtype = dtypeAttr(ctx, a.vt, a.dname, 'float32');
    let shape: string;
    if (ctx.pir && ctx.has('num_rows')) {
      const r = intVecInput(ctx, 'num_rows');
      const c = ctx.has('num_columns') ? intVecInput(ctx, 'num_columns') : r;
      const cv = c.values && c.values[0]! < 0 ? r : c;
      shape = r.values && cv.values ? g.constant([r.values[0]!, cv.values[0]!]) : g.op('Concat', [r.tensor(), cv.tensor()], { axis: 0 });
    } else {
      if (a.num_rows < 0) throw ctx.unsupported('num_rows is not set');
      shape = g.constant([a.num_rows, a.num_columns < 0 ? a.num_rows : a.num_columns]);
    }
    const onnxType = ['float32', 'float64', 'int32', 'int64', 'int8', 'int16', 'uint8', 'float16'].includes(dtype) ? dtype : 'float32';
    const zeros = g.op('Expand', [g.constant([0], onnxType === 'float16' ? 'float32' : onnxType, [1]), shape]);
    if (onnxType !== dtype || onnxType === 'float16') g.cast(g.op('EyeLike', [zeros]), dtype, ctx.output('Out'));
    else g.op('EyeLike', [zeros], {}, ctx.output('Out'));
  },
});
