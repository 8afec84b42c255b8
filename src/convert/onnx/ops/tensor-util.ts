/**
 * Small helpers the tensor-op mappers share: int64 vectors from an attribute, a tensor or a list
 * of scalar tensors (PIR IntArray operands made by full_int_array or builtin.combine), Slice and
 * reductions spelled for the target opset, and constants emitted under the Paddle output name.
 */
import type { DType } from '../../../model/dtype.js';
import { encodeValues, type GraphBuilder } from '../graph-builder.js';
import type { MapContext } from '../mapper.js';

export const INT64_MAX = 2 ** 63;
export const INT64_MIN = -(2 ** 63);

/** An int64 vector: the values when known at conversion time, and a way to get it as a tensor. */
export interface IntVec {
  values?: number[];
  /** the element count, when known (from the values or the declared shapes) */
  length?: number;
  tensor(): string;
}

/** Constant values of an ONNX tensor when the graph knows them. */
export function constValues(g: GraphBuilder, t: string): number[] | undefined {
  return g.consts.get(t)?.values;
}

/**
 * The int vector an input carries: one 1-D tensor, or a list of scalar / [1] tensors (legacy
 * `*TensorList` slots, PIR builtin.combine), each flattened and concatenated. Values are known when
 * every part is a constant.
 */
export function intVecInput(ctx: MapContext, name: string): IntVec {
  const { g } = ctx;
  const { tensors, shapes } = ctx.list(name);
  const parts = tensors.map((t) => constValues(g, t));
  const values = parts.every((p) => p !== undefined) ? (parts as number[][]).flat() : undefined;
  const counts = shapes.map((s) => (s === undefined || s.some((d) => d < 0) ? undefined : s.reduce((p, d) => p * d, 1)));
  const length = values ? values.length : counts.every((c) => c !== undefined) ? (counts as number[]).reduce((p, c) => p + c, 0) : undefined;
  return {
    values,
    length,
    tensor() {
      if (values) return g.constant(values);
      if (tensors.length === 1) return g.op('Reshape', [g.cast(tensors[0]!, 'int64'), g.constant([-1])]);
      return g.op('Concat', tensors.map((t) => g.op('Reshape', [g.cast(t, 'int64'), g.constant([-1])])), { axis: 0 });
    },
  };
}

export function constVec(g: GraphBuilder, values: number[]): IntVec {
  return { values, length: values.length, tensor: () => g.constant(values) };
}

/**
 * Pick the first source that is present: a tensor input, a tensor-list input, else the attribute.
 * Names that the mapper did not declare for this program kind are skipped.
 */
export function intVecFrom(ctx: MapContext, sources: string[], attr: number[]): IntVec {
  for (const s of sources) if (ctx.has(s)) return intVecInput(ctx, s);
  return constVec(ctx.g, attr);
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Slice with constant bounds (attributes before opset 10, inputs from 10 on; steps need 10). */
export function sliceConst(g: GraphBuilder, x: string, starts: number[], ends: number[], axes: number[], steps?: number[], output?: string): string {
  if (g.opset < 10) {
    if (steps && steps.some((s) => s !== 1)) throw new Error('Slice with steps needs opset 10');
    return g.op('Slice', [x], { starts: starts.map(clampI64), ends: ends.map(clampI64), axes }, output);
  }
  const ins = [x, g.constant(starts), g.constant(ends), g.constant(axes)];
  if (steps) ins.push(g.constant(steps));
  return g.op('Slice', ins, {}, output);
}

/** opset 9 Slice attributes are int64 too, but keep them in the safe integer range of protobuf.js numbers */
function clampI64(v: number): number {
  return Math.max(-(2 ** 53), Math.min(2 ** 53, v));
}

/** Slice with tensor bounds (opset 10+). */
export function sliceT(g: GraphBuilder, x: string, starts: string, ends: string, axes: string, steps?: string, output?: string): string {
  return g.op('Slice', steps ? [x, starts, ends, axes, steps] : [x, starts, ends, axes], {}, output);
}

/** ReduceSum over `axes` (attribute before opset 13, input from 13). */
export function reduceSum(g: GraphBuilder, x: string, axes: number[], keepdims: boolean, output?: string): string {
  if (g.opset >= 13) return g.op('ReduceSum', [x, g.constant(axes)], { keepdims: keepdims ? 1 : 0 }, output);
  return g.op('ReduceSum', [x], { axes, keepdims: keepdims ? 1 : 0 }, output);
}

export function reduceOp(g: GraphBuilder, op: string, x: string, axes: number[], keepdims: boolean, output?: string): string {
  if (op === 'ReduceSum') return reduceSum(g, x, axes, keepdims, output);
  if (g.opset >= 18) return g.op(op, [x, g.constant(axes)], { keepdims: keepdims ? 1 : 0 }, output);
  return g.op(op, [x], { axes, keepdims: keepdims ? 1 : 0 }, output);
}

/** elementwise max of int64 tensors (Max takes integers from opset 12) */
export function maxInt(g: GraphBuilder, a: string, b: string): string {
  if (g.opset >= 12) return g.op('Max', [a, b]);
  return g.op('Where', [g.op('Greater', [a, b]), a, b]);
}

/** elementwise min of int64 tensors (Min takes integers from opset 12) */
export function minInt(g: GraphBuilder, a: string, b: string): string {
  if (g.opset >= 12) return g.op('Min', [a, b]);
  return g.op('Where', [g.op('Less', [a, b]), a, b]);
}

/** element `i` of a 1-D tensor as a [1] tensor */
export function pick(g: GraphBuilder, v: string, i: number): string {
  return g.op('Gather', [v, g.constant([i])], { axis: 0 });
}

/** a [1] tensor as a 0-D scalar */
export function scalarOf(g: GraphBuilder, v: string): string {
  return g.op('Reshape', [v, g.constant([], 'int64', [0])]);
}

/** dim `i` of x as an int64 [1] tensor (a constant when declared) */
export function dimOf(g: GraphBuilder, x: string, shape: number[] | undefined, i: number): string {
  const d = shape?.[i];
  if (d !== undefined && d >= 0) return g.constant([d]);
  return g.op('Gather', [g.op('Shape', [x]), g.constant([i])], { axis: 0 });
}

/** The value of a constant as a new initializer under the output's name, remembered for later mappers. */
export function emitConst(ctx: MapContext, out: string, dtype: DType, dims: number[], values: number[]): void {
  ctx.g.initializer(out, dtype, dims, encodeValues(values, dtype));
  ctx.g.consts.set(out, { dtype, dims, values });
}

/** dtypes encodeValues can write */
export const ENCODABLE = new Set<DType>(['float32', 'float64', 'int32', 'int64', 'int8', 'int16', 'uint8', 'bool']);

/** A JS number converted as a C++ static_cast to `to` would (truncation toward zero, bool = nonzero). */
export function castNumber(v: number, to: DType): number {
  if (to === 'bool') return v !== 0 ? 1 : 0; // NaN is nonzero: true, as in C++, numpy and onnxruntime's Cast
  if (to === 'float32') return Math.fround(v);
  if (to === 'float64') return v;
  if (!Number.isFinite(v)) return 0;
  const t = Math.trunc(v);
  switch (to) {
    case 'int8': return (t << 24) >> 24;
    case 'int16': return (t << 16) >> 16;
    case 'int32': return t | 0;
    case 'uint8': return t & 255;
    default: return t;
  }
}

/**
 * The constant-value attributes of assign_value, which set_value also takes for its value: the
 * values in whichever typed list is filled, the shape and (PIR) the dtype name. The VarType `vt`
 * is not here: its default differs between the two ops.
 */
export const VALUE_LIST_ATTRS = {
  shape: [] as number[],
  dname: { default: '', legacy: null, pir: 'dtype' },
  fp32_values: { default: [] as number[], pir: null },
  fp64_values: { default: [] as number[], pir: null },
  int32_values: { default: [] as number[], pir: null },
  int64_values: { default: [] as number[], pir: null },
  bool_values: { default: [] as number[], pir: null },
  values: [] as number[],
} as const;

type ValueLists = Record<'values' | 'fp32_values' | 'fp64_values' | 'int32_values' | 'int64_values' | 'bool_values', number[]>;

/** the first non-empty one of the value lists (values, then fp32, fp64, int32, int64, bool), if any */
export function valueListOf(a: ValueLists): number[] | undefined {
  return [a.values, a.fp32_values, a.fp64_values, a.int32_values, a.int64_values, a.bool_values].find((l) => l.length > 0);
}
