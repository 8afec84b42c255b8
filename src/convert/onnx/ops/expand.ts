/**
 * Broadcasting and repetition: expand (v1, which tiles), expand_v2 / PIR expand (-1 keeps the
 * dim; shape attribute, Shape tensor or tensor list), expand_as_v2 / expand_as, tile (repeat_times
 * attribute, tensor or list; shorter lists are padded with 1s, longer ones add leading dims),
 * repeat_interleave (int or per-index tensor repeats) and meshgrid.
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { constVec, intVecFrom, intVecInput, normAxis, reduceSum, sliceConst, type IntVec } from './tensor-util.js';

/** Tile x by `reps`, matching Paddle's rank rules */
function tile(ctx: MapContext, xSlot: string, reps: IntVec, out: string): void {
  const { g } = ctx;
  let x = ctx.input(xSlot);
  const rank = ctx.rank(xSlot);
  const n = reps.length;
  if (n === undefined) throw ctx.unsupported('the number of repeat times is not known at conversion time');
  if (n > rank) x = g.unsqueeze(x, Array.from({ length: n - rank }, (_, i) => i));
  let r: string;
  if (reps.values) r = g.constant([...new Array(Math.max(0, rank - n)).fill(1), ...reps.values]);
  else r = n < rank ? g.op('Concat', [g.constant(new Array(rank - n).fill(1)), reps.tensor()], { axis: 0 }) : reps.tensor();
  g.op('Tile', [x, r], {}, out);
}

/** Expand to a Paddle target shape (-1 keeps the input dim, which ONNX's broadcast does for 1) */
function expandTo(ctx: MapContext, x: string, shape: IntVec, out: string): void {
  const { g } = ctx;
  let s: string;
  if (shape.values) s = g.constant(shape.values.map((v) => (v === -1 ? 1 : v)));
  else {
    const t = shape.tensor();
    s = g.op('Where', [g.op('Equal', [t, g.constant([-1])]), g.constant([1]), t]);
  }
  g.op('Expand', [x, s], {}, out);
}

export const expandV1 = defineOp({
  types: ['expand'],
  inputs: {
    X: 0,
    ExpandTimes: { pir: null, optional: true },
    expand_times_tensor: { pir: null, optional: true, list: true },
    shape: { legacy: null, pir: 1, optional: true },
  },
  outputs: { Out: 0 },
  attrs: { expand_times: { default: [] as number[], pir: null } },
  minOpset: 8,
  note: 'legacy: expand_times (tiles); PIR: target shape (-1 keeps)',
  map(ctx, a) {
    if (ctx.pir) { expandTo(ctx, ctx.input('X'), intVecInput(ctx, 'shape'), ctx.output('Out')); return; }
    tile(ctx, 'X', intVecFrom(ctx, ['ExpandTimes', 'expand_times_tensor'], a.expand_times), ctx.output('Out'));
  },
});

export const expandV2 = defineOp({
  types: ['expand_v2'],
  inputs: { X: 0, Shape: { pir: 1, optional: true }, expand_shapes_tensor: { pir: null, optional: true, list: true } },
  outputs: { Out: 0 },
  attrs: { shape: { default: [] as number[], pir: null } },
  minOpset: 8,
  note: 'shape / Shape / expand_shapes_tensor, -1 keeps the dim',
  map(ctx, a) {
    expandTo(ctx, ctx.input('X'), intVecFrom(ctx, ['Shape', 'expand_shapes_tensor'], a.shape), ctx.output('Out'));
  },
});

export const expandAs = defineOp({
  types: ['expand_as_v2', 'expand_as'],
  inputs: { X: 0, Y: { pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { target_shape: [] as number[] },
  minOpset: 8,
  note: 'Y or target_shape',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    if (ctx.has('Y')) g.op('Expand', [x, g.op('Shape', [ctx.input('Y')])], {}, ctx.output('Out'));
    else expandTo(ctx, x, constVec(g, a.target_shape), ctx.output('Out'));
  },
});

export const tileOp = defineOp({
  types: ['tile'],
  inputs: { X: 0, RepeatTimes: { pir: 1, optional: true }, repeat_times_tensor: { pir: null, optional: true, list: true } },
  outputs: { Out: 0 },
  attrs: { repeat_times: { default: [] as number[], pir: null } },
  minOpset: 6,
  note: 'repeat_times / RepeatTimes / repeat_times_tensor',
  map(ctx, a) {
    tile(ctx, 'X', intVecFrom(ctx, ['RepeatTimes', 'repeat_times_tensor'], a.repeat_times), ctx.output('Out'));
  },
});

export const repeatInterleave = defineOp({
  types: ['repeat_interleave', 'repeat_interleave_with_tensor_index'],
  inputs: { X: 0, RepeatsTensor: { pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { Repeats: { default: 1, pir: 'repeats' }, dim: { default: 0, pir: 'axis' } },
  minOpset: 9,
  note: 'Repeats (int) or RepeatsTensor (opset 11), dim',
  needs: (v) => (v.has('RepeatsTensor') ? { opset: 11, why: 'repeats given as a tensor' } : undefined),
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const shape = ctx.shapeOf('X');
    const rank = ctx.rank('X');
    const ax = normAxis(a.dim, rank);
    const out = ctx.output('Out');
    if (ctx.has('RepeatsTensor')) {
      if (g.opset < 11) throw ctx.unsupported('repeats given as a tensor need opset 11');
      // output position j takes input index i = #{k : cumsum(repeats)[k] <= j}
      const reps = g.op('Reshape', [g.cast(ctx.input('RepeatsTensor'), 'int64'), g.constant([-1])]);
      const cs = g.op('CumSum', [reps, g.constant([0], 'int64', [])]);
      const total = reduceSum(g, reps, [0], false);
      const j = g.op('Range', [g.constant([0], 'int64', []), total, g.constant([1], 'int64', [])]);
      const after = g.op('Greater', [g.unsqueeze(cs, [0]), g.unsqueeze(j, [1])]);
      const idx = reduceSum(g, g.cast(g.op('Not', [after]), 'int64'), [1], false);
      g.op('Gather', [x, idx], { axis: ax }, out);
      return;
    }
    const r = a.Repeats;
    const tiles = new Array(rank + 1).fill(1);
    tiles[ax + 1] = r;
    const t = g.op('Tile', [g.unsqueeze(x, [ax + 1]), g.constant(tiles)]);
    const tail = shape?.slice(ax + 1);
    let target: string;
    if (tail && tail.every((d) => d >= 0)) target = g.constant([...new Array(ax).fill(0), -1, ...tail]);
    else target = g.op('Concat', [g.constant([...new Array(ax).fill(0), -1]), sliceConst(g, g.op('Shape', [x]), [ax + 1], [rank], [0])], { axis: 0 });
    g.op('Reshape', [t, target], {}, out);
  },
});

export const meshgrid = defineOp({
  types: ['meshgrid'],
  inputs: { X: { pir: 0, list: true } },
  outputs: { Out: 0 },
  minOpset: 8,
  note: "'ij' indexing",
  map(ctx) {
    const { g } = ctx;
    const { tensors, shapes } = ctx.list('X');
    const k = tensors.length;
    const flat = tensors.map((t) => g.op('Reshape', [t, g.constant([-1])]));
    const sizes = shapes.map((s) => (s && s.every((d) => d >= 0) ? s.reduce((p, d) => p * d, 1) : -1));
    const full = sizes.every((s) => s >= 0) ? g.constant(sizes) : g.op('Concat', flat.map((f) => g.op('Shape', [f])), { axis: 0 });
    const outs = ctx.pir ? tensors.map(() => g.fresh('mesh')) : tensors.map((_, i) => ctx.output('Out', i));
    flat.forEach((f, i) => {
      const shp = new Array(k).fill(1);
      shp[i] = -1;
      g.op('Expand', [g.op('Reshape', [f, g.constant(shp)]), full], {}, outs[i]);
    });
    if (ctx.pir) g.lists.set(ctx.output('Out'), { tensors: outs, shapes: outs.map(() => sizes) });
  },
});
