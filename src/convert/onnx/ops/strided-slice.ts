/**
 * strided_slice and set_value, with Paddle's bound rules where they differ from ONNX Slice:
 * with a negative step an end of -1 means "through index 0" (ONNX would read it as the last
 * element); strided_slice clamps an end below -dim to 0 (ONNX to -1); and `x[-1]` written as
 * start -1, end 0 with infer_flags -1 on a decreased axis takes that one element.
 * set_value writes a value (ValueTensor, or a constant from the *_values / values attributes,
 * broadcast over the slice after decrease_axes / none_axes) into the slice, by scattering into
 * the flattened input at the positions the same slice of an index tensor holds.
 */
import { dtypeFromName, dtypeFromVarType, type DType } from '../../../model/dtype.js';
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { castNumber, dimOf, ENCODABLE, INT64_MAX, INT64_MIN, intVecFrom, maxInt, normAxis, type IntVec, VALUE_LIST_ATTRS, valueListOf } from './tensor-util.js';

interface Bounds { starts: IntVec; ends: IntVec; steps: IntVec }

/**
 * ends for ONNX: constant ends get Paddle's rules per axis (a run-time Max(end + dim, 0) where
 * strided_slice's clamp needs the dim and it is not declared); tensor ends only get the -1 rule.
 */
function onnxEnds(ctx: MapContext, x: string, shape: number[] | undefined, axes: number[], b: Bounds, clampToZero: boolean, decrease: number[], inferFlags: number[]): string {
  const { g } = ctx;
  const st = b.steps.values;
  const ev = b.ends.values;
  const sv = b.starts.values;
  if (ev && st) {
    const parts: (number | string)[] = ev.map((e, i) => {
      const step = st[i] ?? 1;
      const ax = axes[i]!;
      if (sv && sv[i] === -1 && e === 0 && inferFlags[i] === -1 && decrease.includes(ax)) return step > 0 ? INT64_MAX : -2;
      if (step < 0 && e === -1) return INT64_MIN;
      if (clampToZero && step < 0 && e < -1) {
        const d = shape?.[ax];
        if (d !== undefined && d >= 0) return Math.max(e + d, 0);
        const dim = dimOf(g, x, undefined, ax);
        return maxInt(g, g.op('Add', [dim, g.constant([e])]), g.constant([0]));
      }
      return e;
    });
    if (parts.every((p) => typeof p === 'number')) return g.constant(parts as number[]);
    return g.op('Concat', parts.map((p) => (typeof p === 'number' ? g.constant([p]) : p)), { axis: 0 });
  }
  const e = b.ends.tensor();
  if (st && st.every((s) => s > 0)) return e;
  const neg = g.op('Less', [b.steps.tensor(), g.constant([0])]);
  return g.op('Where', [g.op('And', [neg, g.op('Equal', [e, g.constant([-1])])]), g.constant([INT64_MIN]), e]);
}

export const stridedSlice = defineOp({
  types: ['strided_slice'],
  inputs: {
    Input: 0,
    StartsTensor: { pir: 1, optional: true },
    EndsTensor: { pir: 2, optional: true },
    StridesTensor: { pir: 3, optional: true },
    StartsTensorList: { pir: null, optional: true, list: true },
    EndsTensorList: { pir: null, optional: true, list: true },
    StridesTensorList: { pir: null, optional: true, list: true },
  },
  outputs: { Out: 0 },
  attrs: {
    axes: [] as number[],
    starts: { default: [] as number[], pir: null },
    ends: { default: [] as number[], pir: null },
    strides: { default: [] as number[], pir: null },
    infer_flags: { default: [] as number[], pir: null },
    decrease_axis: { default: [] as number[], pir: null },
  },
  minOpset: 10,
  note: 'axes, starts/ends/strides (attributes, tensors or lists), decrease_axis',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('Input');
    const shape = ctx.shapeOf('Input');
    const rank = shape?.length;
    const axes = rank === undefined ? a.axes : a.axes.map((v) => normAxis(v, rank));
    const b: Bounds = {
      starts: intVecFrom(ctx, ['StartsTensor', 'StartsTensorList'], a.starts),
      ends: intVecFrom(ctx, ['EndsTensor', 'EndsTensorList'], a.ends),
      steps: intVecFrom(ctx, ['StridesTensor', 'StridesTensorList'], a.strides.length ? a.strides : axes.map(() => 1)),
    };
    const ends = onnxEnds(ctx, x, shape, axes, b, true, a.decrease_axis, a.infer_flags);
    const out = ctx.output('Out');
    const dec = a.decrease_axis;
    const ins = [x, b.starts.tensor(), ends, g.constant(axes), b.steps.tensor()];
    if (dec.length === 0) { g.op('Slice', ins, {}, out); return; }
    const sl = g.op('Slice', ins);
    const outRank = ctx.outputShapeOf('Out')?.length;
    if (rank !== undefined && rank === dec.length && outRank === 1) { g.op('Reshape', [sl, g.constant([1])], {}, out); return; }
    g.squeeze(sl, dec, out);
  },
});

/** the shape the value is broadcast to: the slice's dims without decrease_axes, with 1s at none_axes */
function assignShape(ctx: MapContext, sel: string, rank: number, decrease: number[], none: number[]): string {
  const { g } = ctx;
  const s = g.op('Shape', [sel]);
  const parts: string[] = [];
  const nones = [...none].sort((p, q) => p - q);
  let n = 0;
  for (let i = 0; i < rank; i++) {
    while (n < nones.length && nones[n]! <= i) { parts.push(g.constant([1])); n++; }
    if (!decrease.includes(i)) parts.push(g.op('Gather', [s, g.constant([i])], { axis: 0 }));
  }
  while (n < nones.length) { parts.push(g.constant([1])); n++; }
  if (parts.length === 0) return g.constant([], 'int64', [0]);
  return parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: 0 });
}

function setValue(ctx: MapContext, value: string, a: { axes: number[]; decrease_axes: number[]; none_axes: number[] }, b: Bounds): void {
  const { g } = ctx;
  const x = ctx.input('Input');
  const shape = ctx.shapeOf('Input');
  const rank = ctx.rank('Input');
  const axes = a.axes.map((v) => normAxis(v, rank));
  const ends = onnxEnds(ctx, x, shape, axes, b, false, [], []);
  const xShape = g.op('Shape', [x]);
  const n = g.op('Reshape', [g.op('Size', [x]), g.constant([], 'int64', [0])]);
  const ids = g.op('Reshape', [g.op('Range', [g.constant([0], 'int64', []), n, g.constant([1], 'int64', [])]), xShape]);
  const sel = g.op('Slice', [ids, b.starts.tensor(), ends, g.constant(axes), b.steps.tensor()]);
  const v = g.op('Expand', [value, assignShape(ctx, sel, rank, a.decrease_axes.map((d) => normAxis(d, rank)), a.none_axes)]);
  const upd = g.op('Reshape', [v, g.constant([-1])]);
  const idx = g.unsqueeze(g.op('Reshape', [sel, g.constant([-1])]), [1]);
  const flat = g.op('ScatterND', [g.op('Reshape', [x, g.constant([-1])]), idx, upd]);
  g.op('Reshape', [flat, xShape], {}, ctx.output('Out'));
}

const COMMON = {
  axes: [] as number[],
  starts: { default: [] as number[], pir: null },
  ends: { default: [] as number[], pir: null },
  steps: { default: [] as number[], pir: null },
  decrease_axes: [] as number[],
  none_axes: [] as number[],
};

function bounds(ctx: MapContext, a: { starts: number[]; ends: number[]; steps: number[]; axes: number[] }): Bounds {
  return {
    starts: intVecFrom(ctx, ['StartsTensorList'], a.starts),
    ends: intVecFrom(ctx, ['EndsTensorList'], a.ends),
    steps: intVecFrom(ctx, ['StepsTensorList'], a.steps.length ? a.steps : a.axes.map(() => 1)),
  };
}

export const setValueOp = defineOp({
  types: ['set_value', 'set_value_'],
  inputs: {
    Input: 0,
    ValueTensor: { pir: null, optional: true },
    StartsTensorList: { pir: 1, optional: true, list: true },
    EndsTensorList: { pir: 2, optional: true, list: true },
    StepsTensorList: { pir: 3, optional: true, list: true },
  },
  outputs: { Out: 0 },
  attrs: {
    ...COMMON,
    ...VALUE_LIST_ATTRS,
    vt: { default: -1, legacy: 'dtype', pir: null },
  },
  minOpset: 11,
  note: 'ValueTensor or constant values; axes/starts/ends/steps (attributes or lists), decrease_axes, none_axes',
  map(ctx, a) {
    const { g } = ctx;
    const xType = ctx.dtypeOf('Input');
    let value: string;
    if (ctx.has('ValueTensor')) {
      value = ctx.input('ValueTensor');
      if (ctx.dtypeOf('ValueTensor') !== xType) value = g.cast(value, xType);
    } else {
      const vals = valueListOf(a);
      if (!vals) throw ctx.unsupported('neither ValueTensor nor values are given');
      let dims = a.shape;
      if (dims.reduce((p, d) => p * d, 1) !== vals.length) dims = [vals.length];
      const named: DType = ctx.pir ? dtypeFromName(a.dname) : a.vt >= 0 ? dtypeFromVarType(a.vt) : xType;
      const t: DType = ENCODABLE.has(xType) ? xType : named !== 'unknown' && ENCODABLE.has(named) ? named : 'float64';
      value = g.constant(vals.map((v) => castNumber(v, t)), t, dims);
      if (t !== xType) value = g.cast(value, xType);
    }
    setValue(ctx, value, a, bounds(ctx, a));
  },
});

export const setValueWithTensor = defineOp({
  types: ['set_value_with_tensor', 'set_value_with_tensor_'],
  inputs: {
    Input: 0,
    ValueTensor: 1,
    StartsTensorList: { pir: 2, list: true },
    EndsTensorList: { pir: 3, list: true },
    StepsTensorList: { pir: 4, list: true },
  },
  outputs: { Out: 0 },
  attrs: COMMON,
  minOpset: 11,
  note: 'PIR: value operand; starts/ends/steps operands, decrease_axes, none_axes',
  map(ctx, a) {
    const { g } = ctx;
    const xType = ctx.dtypeOf('Input');
    let value = ctx.input('ValueTensor');
    if (ctx.dtypeOf('ValueTensor') !== xType) value = g.cast(value, xType);
    setValue(ctx, value, a, bounds(ctx, a));
  },
});

