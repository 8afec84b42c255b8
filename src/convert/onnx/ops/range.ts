/**
 * Sequences: range / PIR arange (Start, End, Step tensors; folded to a constant when all three
 * are) and linspace (Start, Stop, Num; Paddle fills the first half from start and the second half
 * back from stop, in float64 here, then casts).
 */
import { dtypeFromName, dtypeFromVarType, type DType } from '../../../model/dtype.js';
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { castNumber, constValues, emitConst, ENCODABLE } from './tensor-util.js';

/** the input as a 0-D tensor of `dtype` */
function scalarIn(ctx: MapContext, slot: string, dtype: DType): string {
  const { g } = ctx;
  return g.op('Reshape', [g.cast(ctx.input(slot), dtype), g.constant([], 'int64', [0])]);
}

export const range = defineOp({
  types: ['range', 'arange'],
  inputs: { Start: 0, End: 1, Step: 2 },
  outputs: { Out: 0 },
  attrs: { dname: { default: '', legacy: null, pir: 'dtype' } },
  minOpset: 11,
  note: 'Start / End / Step tensors',
  map(ctx, a) {
    const { g } = ctx;
    let dtype: DType = ctx.outputDtypeOf('Out') ?? ctx.dtypeOf('Start');
    if (ctx.pir && a.dname !== '' && dtypeFromName(a.dname) !== 'unknown') dtype = dtypeFromName(a.dname);
    const out = ctx.output('Out');
    const [s, e, st] = ['Start', 'End', 'Step'].map((n) => constValues(g, ctx.input(n)));
    if (s?.length === 1 && e?.length === 1 && st?.length === 1 && st[0] !== 0 && ENCODABLE.has(dtype)) {
      // Paddle sizes and fills in the output dtype: n = ceil(|(end - start) / step|), then v = start; v += step
      const [a0, e0, step] = [s[0]!, e[0]!, st[0]!].map((v) => castNumber(v, dtype)) as [number, number, number];
      const isFloat = dtype === 'float32' || dtype === 'float64';
      const n = isFloat
        ? Math.ceil(Math.abs(castNumber(castNumber(e0 - a0, dtype) / step, dtype)))
        : Math.floor((Math.abs(e0 - a0) + Math.abs(step) - 1) / Math.abs(step));
      if (n <= 4096) {
        const values: number[] = [];
        for (let i = 0, v = a0; i < n; i++, v = castNumber(v + step, dtype)) values.push(v);
        emitConst(ctx, out, dtype, [n], values);
        return;
      }
    }
    g.op('Range', [scalarIn(ctx, 'Start', dtype), scalarIn(ctx, 'End', dtype), scalarIn(ctx, 'Step', dtype)], {}, out);
  },
});

export const linspace = defineOp({
  types: ['linspace'],
  inputs: { Start: 0, Stop: 1, Num: 2 },
  outputs: { Out: 0 },
  attrs: { vt: { default: 5, legacy: 'dtype', pir: null }, dname: { default: '', legacy: null, pir: 'dtype' } },
  minOpset: 11,
  note: 'Start / Stop / Num tensors, dtype',
  map(ctx, a) {
    const { g } = ctx;
    const dtype = ctx.pir ? dtypeFromName(a.dname) : dtypeFromVarType(a.vt);
    if (dtype === 'unknown') throw ctx.unsupported('the dtype is not a tensor dtype');
    const start = scalarIn(ctx, 'Start', 'float64');
    const stop = scalarIn(ctx, 'Stop', 'float64');
    const num = scalarIn(ctx, 'Num', 'int64');
    const one = g.constant([1], 'int64', []);
    const idx = g.op('Range', [g.constant([0], 'int64', []), num, one]);
    const fidx = g.cast(idx, 'float64');
    const nm1 = g.op('Max', [g.cast(g.op('Sub', [num, one]), 'float64'), g.constant([1], 'float64', [])]);
    const step = g.op('Div', [g.op('Sub', [stop, start]), nm1]);
    const low = g.op('Add', [start, g.op('Mul', [step, fidx])]);
    const rev = g.cast(g.op('Sub', [g.op('Sub', [num, one]), idx]), 'float64');
    const high = g.op('Sub', [stop, g.op('Mul', [step, rev])]);
    // first half (i < num / 2) from start, the rest back from stop; num == 1 gives start
    const half = g.op('Div', [num, g.constant([2], 'int64', [])]);
    const first = g.op('Or', [g.op('Less', [idx, half]), g.op('Equal', [num, one])]);
    const v = g.op('Where', [first, low, high]);
    g.cast(v, dtype, ctx.output('Out'));
  },
});
