/**
 * Padding and pixel shuffle: pad (paddings as [before0, after0, before1, ...], pad_value),
 * pad3d (paddings [left, right, top, bottom, front, back] as attribute or tensor; modes constant,
 * reflect, replicate (ONNX edge) and circular (wrapped slices); NCDHW / NDHWC), pixel_shuffle
 * (DepthToSpace in CRD order; NHWC around a transpose).
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { castNumber, dimOf, ENCODABLE, INT64_MAX, intVecFrom, sliceConst, type IntVec } from './tensor-util.js';

/** ONNX Pad; `pads` in ONNX order ([begins..., ends...]) */
function onnxPad(ctx: MapContext, x: string, pads: number[] | string, mode: string, value: number, out: string): void {
  const { g } = ctx;
  if (g.opset < 11) {
    if (typeof pads === 'string') throw ctx.unsupported('paddings given as a tensor need opset 11');
    g.op('Pad', [x], { pads, mode, ...(mode === 'constant' ? { value: { f: value } } : {}) }, out);
    return;
  }
  const p = typeof pads === 'string' ? pads : g.constant(pads);
  const ins = [x, p];
  if (mode === 'constant' && value !== 0) {
    const dt = ctx.dtypeOf('X');
    ins.push(ENCODABLE.has(dt) ? g.constant([castNumber(value, dt)], dt, []) : g.cast(g.constant([value], 'float32', []), dt));
  }
  g.op('Pad', ins, { mode }, out);
}

export const pad = defineOp({
  types: ['pad'],
  // PIR may pass pad_value as a Scalar operand
  inputs: { X: 0, PadValue: { legacy: null, pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { paddings: [] as number[], pad_value: { default: 0, tensor: 'PadValue' } },
  minOpset: 2,
  note: 'paddings, pad_value',
  map(ctx, a) {
    const n = a.paddings.length / 2;
    const pads = [...Array.from({ length: n }, (_, i) => a.paddings[2 * i]!), ...Array.from({ length: n }, (_, i) => a.paddings[2 * i + 1]!)];
    onnxPad(ctx, ctx.input('X'), pads, 'constant', a.pad_value, ctx.output('Out'));
  },
});

/** for NCDHW: ONNX begins [0,0,front,top,left], ends [0,0,back,bottom,right]; index into Paddle's 6 */
const ORDER = { NCDHW: [-1, -1, 4, 2, 0, -1, -1, 5, 3, 1], NDHWC: [-1, 4, 2, 0, -1, -1, 5, 3, 1, -1] } as const;

/** circular padding: concatenate the wrapped tail before and head after, axis by axis (static pads) */
function circular(ctx: MapContext, x: string, pads: number[], out: string): void {
  const { g } = ctx;
  const rank = pads.length / 2;
  let y = x;
  let last = -1;
  for (let ax = 0; ax < rank; ax++) if (pads[ax] !== 0 || pads[ax + rank] !== 0) last = ax;
  if (last < 0) { g.op('Identity', [x], {}, out); return; }
  for (let ax = 0; ax <= last; ax++) {
    const b = pads[ax]!;
    const e = pads[ax + rank]!;
    if (b === 0 && e === 0) continue;
    if (b < 0 || e < 0) throw ctx.unsupported('negative circular padding');
    const parts: string[] = [];
    if (b > 0) parts.push(sliceConst(g, y, [-b], [INT64_MAX], [ax]));
    parts.push(y);
    if (e > 0) parts.push(sliceConst(g, y, [0], [e], [ax]));
    y = g.op('Concat', parts, { axis: ax }, ax === last ? out : undefined);
  }
}

export const pad3d = defineOp({
  types: ['pad3d'],
  inputs: { X: 0, Paddings: { pir: 1, optional: true } },
  outputs: { Out: 0 },
  attrs: { paddings: { default: [] as number[], pir: null }, mode: 'constant', value: { default: 0, pir: 'pad_value' }, data_format: 'NCDHW' },
  minOpset: 2,
  note: 'paddings / Paddings (opset 11), mode constant/reflect/replicate/circular, value, data_format',
  needs: (v) => (v.has('Paddings') ? { opset: 11, why: 'paddings given as a tensor' } : undefined),
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const out = ctx.output('Out');
    const order = a.data_format === 'NDHWC' ? ORDER.NDHWC : ORDER.NCDHW;
    const p: IntVec = intVecFrom(ctx, ['Paddings'], a.paddings);
    const mode = a.mode === 'replicate' ? 'edge' : a.mode;
    if (!['constant', 'reflect', 'edge', 'circular'].includes(mode)) throw ctx.unsupported(`mode ${a.mode}`);
    if (p.values) {
      if (p.values.length !== 6) throw ctx.unsupported(`${p.values.length} paddings (pad3d takes 6)`);
      const pads = order.map((i) => (i < 0 ? 0 : p.values![i]!));
      if (mode === 'circular') circular(ctx, x, pads, out);
      else onnxPad(ctx, x, pads, mode, a.value, out);
      return;
    }
    if (mode === 'circular') throw ctx.unsupported('circular padding by a tensor that is not a constant');
    // gather the 10 ONNX pads from [0, paddings...]
    const withZero = g.op('Concat', [g.constant([0]), p.tensor()], { axis: 0 });
    const pads = g.op('Gather', [withZero, g.constant(order.map((i) => i + 1))], { axis: 0 });
    onnxPad(ctx, x, pads, mode, a.value, out);
  },
});

/**
 * out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]: DepthToSpace in CRD order from opset
 * 11; below, the same as [N, C, r, r, H, W] -> transpose -> [N, C, H*r, W*r].
 */
function shuffleNchw(ctx: MapContext, x: string, r: number, shape: number[] | undefined, out?: string): string {
  const { g } = ctx;
  if (g.opset >= 11) return g.op('DepthToSpace', [x], { blocksize: r, mode: 'CRD' }, out);
  const dims = [0, 1, 2, 3].map((i) => dimOf(g, x, shape, i));
  const c = shape && shape[1]! >= 0 ? g.constant([shape[1]! / (r * r)]) : g.op('Div', [dims[1]!, g.constant([r * r])]);
  const six = g.op('Concat', [dims[0]!, c, g.constant([r, r]), dims[2]!, dims[3]!], { axis: 0 });
  const t = g.op('Transpose', [g.op('Reshape', [x, six])], { perm: [0, 1, 4, 2, 5, 3] });
  const four = g.op('Concat', [dims[0]!, c, g.op('Mul', [dims[2]!, g.constant([r])]), g.op('Mul', [dims[3]!, g.constant([r])])], { axis: 0 });
  return g.op('Reshape', [t, four], {}, out);
}

export const pixelShuffle = defineOp({
  types: ['pixel_shuffle'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { upscale_factor: 1, data_format: 'NCHW' },
  minOpset: 9,
  note: 'upscale_factor, data_format (DepthToSpace CRD from opset 11, reshape/transpose below)',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const out = ctx.output('Out');
    const shape = ctx.shapeOf('X');
    if (a.data_format === 'NHWC') {
      const nchw = shape ? [shape[0]!, shape[3]!, shape[1]!, shape[2]!] : undefined;
      const t = shuffleNchw(ctx, g.op('Transpose', [x], { perm: [0, 3, 1, 2] }), a.upscale_factor, nchw);
      g.op('Transpose', [t], { perm: [0, 2, 3, 1] }, out);
      return;
    }
    shuffleNchw(ctx, x, a.upscale_factor, shape, out);
  },
});
