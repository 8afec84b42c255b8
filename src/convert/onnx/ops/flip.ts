/**
 * Reordering along axes: flip / reverse (Slice with step -1 from opset 10; a Gather of constant
 * indices at opset 9 when the dims are declared) and roll (shifts attribute or ShiftsTensor; no
 * axis rolls the flattened tensor).
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { dimOf, INT64_MAX, INT64_MIN, intVecFrom, normAxis, sliceConst, sliceT } from './tensor-util.js';

function flipAxes(ctx: MapContext, axesIn: number[]): void {
  const { g } = ctx;
  const x = ctx.input('X');
  const out = ctx.output('Out');
  const shape = ctx.shapeOf('X');
  const rank = shape?.length;
  const axes = rank === undefined ? axesIn : axesIn.map((a) => normAxis(a, rank));
  if (axes.length === 0) { g.op('Identity', [x], {}, out); return; }
  if (g.opset >= 10) {
    sliceConst(g, x, axes.map(() => -1), axes.map(() => INT64_MIN), axes, axes.map(() => -1), out);
    return;
  }
  let y = x;
  axes.forEach((ax, i) => {
    const d = ax >= 0 ? shape?.[ax] : undefined;
    if (d === undefined || d < 0) throw ctx.unsupported(`flipping a dim of unknown size needs opset 10`);
    y = g.op('Gather', [y, g.constant(Array.from({ length: d }, (_, k) => d - 1 - k))], { axis: ax }, i === axes.length - 1 ? out : undefined);
  });
}

export const flip = defineOp({
  types: ['flip', 'reverse', 'flip_'],
  // PIR reverse takes its axes as an IntArray operand (flip keeps an attribute)
  inputs: { X: 0, AxisTensor: { legacy: null, pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { axis: { default: [] as number[], tensor: 'AxisTensor' } },
  minOpset: 9,
  note: 'axis list (opset 9 needs declared dims)',
  needs: (v) => {
    // PIR reverse: the axes are an operand, read only while mapping
    if (v.has('AxisTensor')) return { opset: 10, why: 'axes given as an operand' };
    const shape = v.shapeOf('X');
    const dynamic = v.attrs.axis.some((a) => { const d = shape?.[a < 0 ? a + shape.length : a]; return d === undefined || d < 0; });
    return dynamic ? { opset: 10, why: 'a flipped dim of unknown size' } : undefined;
  },
  map(ctx, a) { flipAxes(ctx, a.axis); },
});

export const roll = defineOp({
  types: ['roll'],
  inputs: { X: 0, ShiftsTensor: { pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { shifts: { default: [] as number[], pir: null }, axis: [] as number[] },
  minOpset: 9,
  note: 'shifts / ShiftsTensor, axis (none: flattened); opset 9 when shifts and rolled dims are known',
  needs: (v) => {
    if (v.has('ShiftsTensor')) return { opset: 10, why: 'shifts given as a tensor' };
    const s = v.shapeOf('X');
    const known = (d: number | undefined) => d !== undefined && d >= 0;
    const ok = v.attrs.axis.length === 0 ? !!s && s.every(known) : v.attrs.axis.every((a) => known(s?.[a < 0 ? a + s.length : a]));
    return ok ? undefined : { opset: 10, why: 'rolling a dim of unknown size' };
  },
  map(ctx, a) {
    const { g } = ctx;
    let x = ctx.input('X');
    const out = ctx.output('Out');
    const shifts = intVecFrom(ctx, ['ShiftsTensor'], a.shifts);
    let shape = ctx.shapeOf('X');
    const flat = a.axis.length === 0;
    const origShape = flat ? g.op('Shape', [x]) : '';
    if (flat) {
      x = g.op('Reshape', [x, g.constant([-1])]);
      shape = shape && shape.every((d) => d >= 0) ? [shape.reduce((p, d) => p * d, 1)] : [-1];
    }
    const rank = shape?.length;
    const axes = flat ? [0] : a.axis.map((v) => (rank === undefined ? v : normAxis(v, rank)));
    if (shifts.length !== undefined && shifts.length !== axes.length) throw ctx.unsupported(`${shifts.length} shifts for ${axes.length} axes`);
    let y = x;
    axes.forEach((ax, i) => {
      const d = ax >= 0 ? shape?.[ax] : undefined;
      const s = shifts.values?.[i];
      if (s !== undefined && d !== undefined && d >= 0) {
        const k = ((s % d) + d) % d;
        if (k === 0 || d === 0) return;
        const tail = sliceConst(g, y, [d - k], [INT64_MAX], [ax]);
        const head = sliceConst(g, y, [0], [d - k], [ax]);
        y = g.op('Concat', [tail, head], { axis: ax });
        return;
      }
      // k = shift mod n at run time; out = concat(x[n-k:], x[:n-k])
      if (g.opset < 10) throw ctx.unsupported('rolling a dim of unknown size, or by a shift tensor, needs opset 10');
      const n = dimOf(g, y, undefined, ax);
      const sh = s !== undefined ? g.constant([s]) : sliceConst(g, shifts.tensor(), [i], [i + 1], [0]);
      const k = g.op('Mod', [g.op('Add', [g.op('Mod', [sh, n]), n]), n]);
      const cut = g.op('Sub', [n, k]);
      const axT = g.constant([ax]);
      const tail = sliceT(g, y, cut, g.constant([INT64_MAX]), axT);
      const head = sliceT(g, y, g.constant([0]), cut, axT);
      y = g.op('Concat', [tail, head], { axis: ax });
    });
    if (flat) g.op('Reshape', [y, origShape], {}, out);
    else g.op('Identity', [y], {}, out);
  },
});
