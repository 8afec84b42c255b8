/**
 * tril_triu / PIR tril and triu (Trilu from opset 14; below, a constant mask over declared last
 * two dims) and index_put (a bool mask: Where, or added under accumulate; int index tensors:
 * ScatterND, accumulating from opset 16).
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { castNumber, ENCODABLE } from './tensor-util.js';

/** keep x where (lower ? col - row <= diagonal : col - row >= diagonal), zeros elsewhere */
function trilu(ctx: MapContext, lower: boolean, diagonal: number): void {
  const { g } = ctx;
  const x = ctx.input('X');
  const out = ctx.output('Out');
  if (g.opset >= 14) {
    g.op('Trilu', [x, g.constant([diagonal], 'int64', [])], { upper: lower ? 0 : 1 }, out);
    return;
  }
  const s = ctx.shapeOf('X');
  const h = s?.[s.length - 2];
  const w = s?.[s.length - 1];
  if (h === undefined || w === undefined || h < 0 || w < 0) throw ctx.unsupported('below opset 14 the last two dims must be declared');
  const mask: number[] = [];
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) mask.push((lower ? c - r <= diagonal : c - r >= diagonal) ? 1 : 0);
  const dt = ctx.dtypeOf('X');
  const zero = ENCODABLE.has(dt) ? g.constant([0], dt, []) : g.cast(g.constant([0], 'float32', []), dt);
  g.op('Where', [g.constant(mask, 'bool', [h, w]), x, zero], {}, out);
}

const lastTwoUnknown = (s: number[] | undefined) => !s || s.length < 2 || s[s.length - 1]! < 0 || s[s.length - 2]! < 0;

export const trilTriu = defineOp({
  types: ['tril_triu', 'tril', 'triu', 'tril_', 'triu_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { diagonal: 0, lower: { default: true, pir: null } },
  minOpset: 9,
  note: 'diagonal, lower (Trilu from opset 14; declared last two dims below)',
  needs: (v) => (lastTwoUnknown(v.shapeOf('X')) ? { opset: 14, why: 'the last two dims are not declared' } : undefined),
  map(ctx, a) {
    const lower = ctx.pir ? !ctx.op.type.startsWith('triu') : a.lower;
    trilu(ctx, lower, a.diagonal);
  },
});

export const indexPut = defineOp({
  types: ['index_put', 'index_put_'],
  inputs: { x: 0, indices: { pir: 1, list: true }, value: 2 },
  outputs: { out: 0 },
  attrs: { accumulate: false },
  minOpset: 11,
  note: 'legacy: one bool mask (Where; value single or per trailing slice) or int index tensors (ScatterND; accumulate from opset 16)',
  map(ctx, a) {
    const { g } = ctx;
    // a PIR list operand does not carry its elements' dtypes here, and bool masks and int indices differ
    if (ctx.pir) throw ctx.unsupported('PIR index_put is not converted yet (legacy programs are)');
    const x = ctx.input('x');
    const out = ctx.output('out');
    const xs = ctx.shapeOf('x');
    const dt = ctx.dtypeOf('x');
    const { tensors, shapes } = ctx.list('indices');
    if (tensors.length === 0) throw ctx.unsupported('no index tensors');
    let value = ctx.input('value');
    if (ctx.dtypeOf('value') !== dt) value = g.cast(value, dt);
    const bools = tensors.map((_, i) => ctx.dtypeOf('indices', i) === 'bool');
    if (bools[0] && tensors.length === 1) {
      // x[mask] = value, the value broadcast over the masked positions (one value, or one per trailing slice)
      const ms = shapes[0];
      const rank = xs?.length;
      if (!ms || rank === undefined) throw ctx.unsupported('the ranks of the mask and x must be declared');
      const trailing = rank - ms.length;
      const vs = ctx.shapeOf('value');
      if (vs === undefined || (vs.length > trailing && vs.reduce((p, d) => p * d, 1) !== 1)) {
        throw ctx.unsupported('one value per masked element is not converted; a single value or one per trailing slice is');
      }
      const mask = trailing > 0 ? g.unsqueeze(tensors[0]!, Array.from({ length: trailing }, (_, i) => ms.length + i)) : tensors[0]!;
      const v = vs.length > trailing ? g.op('Reshape', [value, g.constant(new Array(trailing).fill(1))]) : value;
      if (a.accumulate) {
        const zero = ENCODABLE.has(dt) ? g.constant([castNumber(0, dt)], dt, []) : g.cast(g.constant([0], 'float32', []), dt);
        g.op('Add', [x, g.op('Where', [mask, v, zero])], {}, out);
      } else {
        g.op('Where', [mask, v, x], {}, out);
      }
      return;
    }
    if (bools.some((b) => b)) throw ctx.unsupported('a bool mask together with other index tensors is not converted');
    // k int index tensors, broadcast together, address the first k dims: ScatterND with their stack [..., k]
    const k = tensors.length;
    const idx = tensors.map((t) => g.cast(t, 'int64'));
    let shape = g.op('Shape', [idx[0]!]);
    for (const t of idx.slice(1)) shape = g.op('Shape', [g.op('Add', [g.op('Expand', [idx[0]!, shape]), t])]);
    const st = g.op('Concat', idx.map((t) => g.unsqueeze(g.op('Expand', [t, shape]), [-1])), { axis: -1 });
    const rest = g.op('Slice', [g.op('Shape', [x]), g.constant([k]), g.constant([2 ** 62]), g.constant([0])]);
    const upd = g.op('Expand', [value, g.op('Concat', [shape, rest], { axis: 0 })]);
    if (a.accumulate && g.opset < 16) throw ctx.unsupported('accumulate with index tensors needs opset 16');
    g.op('ScatterND', [x, st, upd], a.accumulate ? { reduction: 'add' } : {}, out);
  },
});
