/**
 * squeeze2 / unsqueeze2 (and PIR squeeze / unsqueeze with an axes operand). Paddle's squeeze skips
 * listed axes whose size is not 1, so axes with a known size other than 1 are dropped here.
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';

/** axes from a constant tensor list (AxesTensorList: one scalar tensor each) */
function listAxes(ctx: MapContext, slot: string): number[] {
  const all: number[] = [];
  for (let i = 0; i < ctx.inputs(slot).length; i++) {
    const c = ctx.constOf(slot, i);
    if (!c) throw ctx.unsupported(`${slot} is not a constant`);
    all.push(...c.values);
  }
  return all;
}

export const squeeze = defineOp({
  types: ['squeeze2', 'squeeze', 'squeeze_'],
  inputs: { X: 0, axesT: { legacy: null, pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { axes: { default: [] as number[], tensor: 'axesT' } },
  minOpset: 1,
  note: 'axes (size-1 only, as Paddle)',
  map(ctx, a) {
    const shape = ctx.shapeOf('X');
    let axes = a.axes;
    // no axes at all means every size-1 dim; listed axes that all turn out not to be size 1 mean none
    const given = axes.length > 0;
    if (shape) {
      const r = shape.length;
      axes = axes.map((v) => (v < 0 ? v + r : v)).filter((v) => shape[v] === 1 || shape[v]! < 0);
    }
    if (given && axes.length === 0) { ctx.g.op('Identity', [ctx.input('X')], {}, ctx.output('Out')); return; }
    ctx.g.squeeze(ctx.input('X'), axes, ctx.output('Out'));
  },
});

export const unsqueeze = defineOp({
  types: ['unsqueeze2', 'unsqueeze', 'unsqueeze_'],
  inputs: { X: 0, AxesTensor: { pir: 1, optional: true }, AxesTensorList: { pir: null, optional: true } },
  outputs: { Out: 0 },
  attrs: { axes: { default: [] as number[], tensor: 'AxesTensor' } },
  minOpset: 1,
  note: 'axes (inserted one at a time, as Paddle), AxesTensor / AxesTensorList (constant)',
  map(ctx, a) {
    const axes = ctx.has('AxesTensorList') ? listAxes(ctx, 'AxesTensorList') : a.axes;
    ctx.g.unsqueeze(ctx.input('X'), unsqueezePositions(ctx, axes), ctx.output('Out'));
  },
});

/**
 * Where the new unit dims end up. Paddle inserts the axes one at a time, each counted in the shape
 * built so far (a negative one from its end: axis + rank_so_far + 1), so [2, 0] on a rank-2 input
 * puts them at 0 and 3, where ONNX (positions in the output) would put them at 0 and 2. The
 * positions returned are in the output, ascending and non-negative (opsets below 11 take no
 * negative axes).
 */
function unsqueezePositions(ctx: MapContext, axes: number[]): number[] {
  const rank = ctx.shapeOf('X')?.length;
  if (rank === undefined) {
    // without the rank: ascending non-negative axes mean the same in both, and so does one axis
    // (a negative one only where ONNX takes it, from opset 11)
    const ascending = axes.every((v, i) => v >= 0 && (i === 0 || v > axes[i - 1]!));
    if (ascending || (axes.length === 1 && ctx.opset >= 11)) return axes;
    throw ctx.unsupported(`unsqueeze axes [${axes.join(', ')}] need the rank of X, which is not declared`);
  }
  const dims: boolean[] = new Array(rank).fill(false);
  for (const v of axes) {
    const at = v < 0 ? v + dims.length + 1 : v;
    if (!(at >= 0 && at <= dims.length)) throw ctx.unsupported(`unsqueeze axis ${v} is outside a rank-${dims.length} shape`);
    dims.splice(at, 0, true);
  }
  return dims.flatMap((isNew, i) => (isNew ? [i] : []));
}
