/** add_n (and legacy `sum`, dispatched from reduce.ts): elementwise sum of every X; PIR gives them as one combine list. */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';

export function addN(ctx: MapContext, xs: string[], out: string): void {
  if (xs.length === 1) ctx.g.op('Identity', xs, {}, out);
  else ctx.g.op('Sum', xs, {}, out);
}

export const sum = defineOp({
  types: ['add_n'],
  inputs: { X: { pir: 0, list: true } },
  outputs: { Out: 0 },
  minOpset: 8,
  note: 'PIR list via combine',
  map(ctx) { addN(ctx, ctx.list('X').tensors, ctx.output('Out')); },
});
