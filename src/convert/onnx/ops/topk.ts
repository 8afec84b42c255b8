/**
 * Sorting: top_k (v1: last axis, largest), top_k_v2 / PIR topk (k attribute or K tensor, axis,
 * largest, sorted) and argsort (axis, descending) as a TopK over the whole axis. Ties keep the
 * lower index first, as Paddle's stable order does. Indices are int64, as in Paddle.
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { constValues, dimOf, normAxis } from './tensor-util.js';

function topk(ctx: MapContext, k: { value?: number; tensor?: string }, axis: number, largest: boolean, sorted: boolean): void {
  const { g } = ctx;
  const x = ctx.input('X');
  const rank = ctx.shapeOf('X')?.length;
  const ax = rank === undefined ? axis : normAxis(axis, rank);
  const outs = [ctx.output('Out'), ctx.output('Indices')];
  if (g.opset < 10) {
    if (k.value === undefined) throw ctx.unsupported('k as a tensor needs opset 10');
    if (!largest) throw ctx.unsupported('largest=false needs opset 11');
    if (ax < 0) throw ctx.unsupported('a negative axis on an input of undeclared rank needs opset 11');
    g.node('TopK', [x], outs, { k: k.value, axis: ax });
    return;
  }
  const kt = k.value !== undefined ? g.constant([k.value]) : g.op('Reshape', [g.cast(k.tensor!, 'int64'), g.constant([1])]);
  if (g.opset < 11) {
    if (!largest) throw ctx.unsupported('largest=false needs opset 11');
    if (ax < 0) throw ctx.unsupported('a negative axis on an input of undeclared rank needs opset 11');
    g.node('TopK', [x, kt], outs, { axis: ax });
    return;
  }
  g.node('TopK', [x, kt], outs, { axis: ax, largest: largest ? 1 : 0, sorted: sorted ? 1 : 0 });
}

function kOf(ctx: MapContext, attrK: number): { value?: number; tensor?: string } {
  if (!ctx.has('K')) return { value: attrK };
  const t = ctx.input('K');
  const c = constValues(ctx.g, t);
  return c && c.length === 1 ? { value: c[0] } : { tensor: t };
}

export const topK = defineOp({
  types: ['top_k'],
  inputs: { X: 0, K: { pir: null, optional: true } },
  outputs: { Out: 0, Indices: 1 },
  attrs: { k: 1 },
  minOpset: 9,
  note: 'k / K (tensor from opset 10), last axis',
  needs: (v) => (v.has('K') ? { opset: 10, why: 'k given as a tensor' } : undefined),
  map(ctx, a) { topk(ctx, kOf(ctx, a.k), -1, true, true); },
});

export const topKV2 = defineOp({
  types: ['top_k_v2', 'topk'],
  inputs: { X: 0, K: { pir: 1, optional: true } },
  outputs: { Out: 0, Indices: 1 },
  attrs: { k: { default: 1, pir: null }, axis: -1, largest: true, sorted: true },
  minOpset: 9,
  note: 'k / K, axis, largest (opset 11 when false), sorted',
  needs: (v) => (!v.attrs.largest ? { opset: 11, why: 'largest=false' } : v.has('K') ? { opset: 10, why: 'k given as a tensor' } : undefined),
  map(ctx, a) { topk(ctx, kOf(ctx, a.k), a.axis, a.largest, a.sorted); },
});

export const argsort = defineOp({
  types: ['argsort'],
  inputs: { X: 0 },
  outputs: { Out: 0, Indices: 1 },
  attrs: { axis: -1, descending: false },
  minOpset: 9,
  note: 'axis, descending (ascending needs opset 11, an axis of unknown size 10)',
  needs: (v) => {
    if (!v.attrs.descending) return { opset: 11, why: 'ascending order (TopK largest=0)' };
    const s = v.shapeOf('X');
    const d = s?.[v.attrs.axis < 0 ? v.attrs.axis + s.length : v.attrs.axis];
    return d === undefined || d < 0 ? { opset: 10, why: 'sorting an axis of unknown size (K as a tensor)' } : undefined;
  },
  map(ctx, a) {
    const x = ctx.input('X');
    const shape = ctx.shapeOf('X');
    const rank = ctx.rank('X');
    const ax = normAxis(a.axis, rank);
    const d = shape?.[ax];
    topk(ctx, d !== undefined && d >= 0 ? { value: d } : { tensor: dimOf(ctx.g, x, shape, ax) }, ax, a.descending, true);
  },
});
