/**
 * Ops that cut one tensor into several: split (num, or sections with one -1 inferred;
 * SectionsTensorList; AxisTensor), PIR split / split_with_num (whose vector result the PIR
 * `builtin.split` unpacks: both arrive here as op type `split`), unbind and unstack.
 * A PIR vector result is recorded as a list (as builtin.combine does) and builtin.split writes
 * each element to its output.
 */
import { defineOp } from '../declare.js';
import type { MapContext, OpMapper } from '../mapper.js';
import { constVec, INT64_MAX, intVecInput, normAxis, sliceConst, type IntVec } from './tensor-util.js';

/** ONNX Split into `sizes` (known) or equal parts (`sizes` undefined), spelled for the opset */
function onnxSplit(ctx: MapContext, x: string, axis: number, n: number, sizes: number[] | string | undefined, outs: string[]): void {
  const { g } = ctx;
  if (sizes === undefined) {
    g.node('Split', [x], outs, { axis, ...(g.opset >= 18 ? { num_outputs: n } : {}) });
  } else if (typeof sizes === 'string') {
    g.node('Split', [x, sizes], outs, { axis });
  } else if (g.opset >= 13) {
    g.node('Split', [x, g.constant(sizes)], outs, { axis });
  } else {
    g.node('Split', [x], outs, { axis, split: sizes });
  }
}

/**
 * Paddle split into `outs`: `num` equal parts, or `sections` (one may be -1: the rest of the dim).
 * When the -1 cannot be resolved from the declared shape, each part becomes a Slice whose bounds
 * count from the start before the -1 and from the end after it.
 */
function paddleSplit(ctx: MapContext, x: string, shape: number[] | undefined, axisIn: number, num: number, sections: IntVec | undefined, outs: string[]): void {
  const rank = shape?.length;
  const axis = rank === undefined ? axisIn : normAxis(axisIn, rank);
  if (axis < 0 && ctx.opset < 11) throw ctx.unsupported('a negative split axis on an input of undeclared rank needs opset 11');
  if (!sections || (sections.values && sections.values.length === 0)) {
    if (num <= 0 && outs.length === 0) throw ctx.unsupported('neither num nor sections is given');
    onnxSplit(ctx, x, axis, outs.length, undefined, outs);
    return;
  }
  const secs = sections.values;
  if (!secs) {
    if (ctx.opset < 13) throw ctx.unsupported('sections given as tensors that are not constants need opset 13');
    onnxSplit(ctx, x, axis, outs.length, sections.tensor(), outs);
    return;
  }
  if (secs.length !== outs.length) throw ctx.unsupported(`${secs.length} sections for ${outs.length} outputs`);
  const unknown = secs.filter((s) => s < 0).length;
  if (unknown > 1) throw ctx.unsupported('more than one section is -1');
  const dim = axis >= 0 ? shape?.[axis] : undefined;
  if (unknown === 0 || (dim !== undefined && dim >= 0)) {
    const known = secs.reduce((s, v) => (v >= 0 ? s + v : s), 0);
    const sizes = secs.map((s) => (s < 0 ? dim! - known : s));
    onnxSplit(ctx, x, axis, outs.length, sizes, outs);
    return;
  }
  const k = secs.findIndex((s) => s < 0);
  let start = 0;
  secs.forEach((s, i) => {
    if (i < k) {
      sliceConst(ctx.g, x, [start], [start + s], [axis], undefined, outs[i]);
      start += s;
    } else if (i === k) {
      const after = secs.slice(k + 1).reduce((p, v) => p + v, 0);
      sliceConst(ctx.g, x, [start], [after === 0 ? INT64_MAX : -after], [axis], undefined, outs[i]);
    } else {
      const from = secs.slice(i).reduce((p, v) => p + v, 0);
      const to = from - s;
      sliceConst(ctx.g, x, [from === 0 ? INT64_MAX : -from], [to === 0 ? INT64_MAX : -to], [axis], undefined, outs[i]);
    }
  });
}

/** the outputs to write: the legacy slot's arguments, or fresh names recorded as the PIR vector result */
function targets(ctx: MapContext, slot: string, n: number, shape: number[] | undefined, axis: number): { outs: string[]; done(): void } {
  if (!ctx.pir) {
    const count = (ctx.op.outputs[slot] ?? []).length;
    return { outs: Array.from({ length: count }, (_, i) => ctx.output(slot, i)), done() {} };
  }
  if (n <= 0) throw ctx.unsupported('the number of parts is not known at conversion time');
  const outs = Array.from({ length: n }, () => ctx.g.fresh('part'));
  return {
    outs,
    done() {
      const shapes = outs.map(() => (shape ? shape.map((d, i) => (i === normAxis(axis, shape.length) ? -1 : d)) : undefined));
      ctx.g.lists.set(ctx.output(slot), { tensors: outs, shapes });
    },
  };
}

const splitOp = defineOp({
  types: ['split'],
  inputs: {
    X: 0,
    SectionsTensorList: { pir: 1, optional: true, list: true },
    AxisTensor: { pir: 2, optional: true },
  },
  outputs: { Out: 0 },
  attrs: { axis: { default: 0, tensor: 'AxisTensor' }, num: { default: 0, pir: null }, sections: { default: [] as number[], pir: null } },
  minOpset: 2,
  note: 'num / sections (one -1), SectionsTensorList, AxisTensor (constant); PIR split + builtin.split',
  map(ctx, a) {
    const x = ctx.input('X');
    const shape = ctx.shapeOf('X');
    const sections = ctx.has('SectionsTensorList') ? intVecInput(ctx, 'SectionsTensorList') : a.sections.length ? constVec(ctx.g, a.sections) : undefined;
    const n = sections ? sections.values?.length ?? sections.length ?? 0 : a.num;
    const t = targets(ctx, 'Out', n, shape, a.axis);
    paddleSplit(ctx, x, shape, a.axis, a.num, sections, t.outs);
    t.done();
  },
});

/** PIR builtin.split: one output per element of the list its operand holds */
function builtinSplit(ctx: MapContext): void {
  const { tensors } = ctx.list('0');
  const n = Object.keys(ctx.op.outputs).length;
  if (tensors.length !== n) throw ctx.unsupported(`builtin.split of a ${tensors.length}-element list into ${n} outputs`);
  tensors.forEach((t, i) => {
    const out = ctx.output(String(i));
    ctx.g.op('Identity', [t], {}, out);
    const c = ctx.g.consts.get(t);
    if (c) ctx.g.consts.set(out, c);
  });
}

/** `split` is both Paddle's split op and PIR's builtin.split (one list operand, several outputs) */
export const split: OpMapper = {
  ...splitOp,
  map(ctx) {
    const ins = Object.keys(ctx.op.inputs);
    if (ctx.pir && ins.length === 1) { builtinSplit(ctx); return; }
    splitOp.map(ctx);
  },
};

export const splitWithNum = defineOp({
  types: ['split_with_num'],
  inputs: { X: 0, AxisTensor: { pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { axis: { default: 0, tensor: 'AxisTensor' }, num: 0 },
  minOpset: 2,
  note: 'num equal parts, axis (constant)',
  map(ctx, a) {
    const x = ctx.input('X');
    const shape = ctx.shapeOf('X');
    const t = targets(ctx, 'Out', a.num, shape, a.axis);
    paddleSplit(ctx, x, shape, a.axis, a.num, undefined, t.outs);
    t.done();
  },
});

/** unbind / unstack: one output per index along axis, that axis removed (Gather with a scalar index) */
function unbindInto(ctx: MapContext, slot: string, axis: number, num: number): void {
  const { g } = ctx;
  const x = ctx.input('X');
  const shape = ctx.shapeOf('X');
  const rank = shape?.length;
  const ax = rank === undefined ? axis : normAxis(axis, rank);
  let n = ctx.pir ? num : (ctx.op.outputs[slot] ?? []).length;
  if (n <= 0 && shape && ax >= 0 && (shape[ax] ?? -1) >= 0) n = shape[ax]!;
  if (n <= 0) throw ctx.unsupported('the size of the unbound axis is not known at conversion time');
  const outs = ctx.pir ? Array.from({ length: n }, () => g.fresh('part')) : Array.from({ length: n }, (_, i) => ctx.output(slot, i));
  outs.forEach((o, i) => g.op('Gather', [x, g.constant([i], 'int64', [])], { axis: ax }, o));
  if (ctx.pir) {
    const sub = shape?.filter((_, i) => i !== ax);
    g.lists.set(ctx.output(slot), { tensors: outs, shapes: outs.map(() => sub) });
  }
}

export const unbind = defineOp({
  types: ['unbind'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { axis: 0 },
  minOpset: 1,
  note: 'axis',
  map(ctx, a) { unbindInto(ctx, 'Out', a.axis, 0); },
});

export const unstack = defineOp({
  types: ['unstack'],
  inputs: { X: 0 },
  outputs: { Y: 0 },
  attrs: { axis: 0, num: 0 },
  minOpset: 1,
  note: 'axis, num',
  map(ctx, a) { unbindInto(ctx, 'Y', a.axis, a.num); },
});
