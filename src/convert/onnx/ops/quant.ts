/**
 * Quantized (QAT / PaddleSlim) programs. Paddle writes fake quantization as float ops; each
 * becomes, by default (`quant: 'qdq'`), an ONNX QuantizeLinear/DequantizeLinear pair with int8
 * zero points and the scale Paddle uses, so a runtime that fuses QDQ runs it in int8 and the
 * scales survive. With `quant: 'float'` the same arithmetic is written in float ops (clip, round,
 * rescale): no int8 types, for backends without them.
 *
 * Paddle's scales are abs-max values s; the quantization step is s / bin_cnt with
 * bin_cnt = 2^(bit_length-1) - 1 (127 for 8 bits), and a value quantizes to
 * round(clip(x, -s, s) / s * bin_cnt). Two departures in QDQ form, both inherent to ONNX int8:
 * QuantizeLinear rounds ties to even (Paddle's `round_type` 1, the default of exports without the
 * attribute, rounds ties away from zero) and saturates at -128 where Paddle clips at -127 (only
 * inputs below -s·128/127 differ). The float form follows Paddle exactly, `round_type` included.
 *
 * Opsets: 11 (ONNX Round for --quant float), 13 where a scale is per channel (the axis attribute).
 *
 * Scales: fake_*_moving_average / range_abs_max and quantize_linear / dequantize_linear read the
 * scale var (InScale / Scale; quantize_linear's ZeroPoint is all zeros in Paddle's symmetric scheme and is
 * not read); *_abs_max ops compute max|x| (per channel along quant_axis for the
 * channel-wise ones: the weights' own scales, folded to constants by the runtime).
 */
import type { GraphBuilder } from '../graph-builder.js';
import { defineOp, type NeedsView } from '../declare.js';
import type { MapContext } from '../mapper.js';

const binCnt = (bits: number): number => 2 ** (bits - 1) - 1;

/**
 * Per graph: the float output of a quantize-only op -> the int8 QuantizeLinear result it is a Cast
 * of. Paddle's Out holds the integers as floats, so any op (a conv of the old QAT format, a fetch)
 * reads the float copy; a dequantize_linear reads the int8 tensor itself, making a QDQ pair.
 */
const INT8 = new WeakMap<GraphBuilder, Map<string, string>>();
function int8Of(g: GraphBuilder): Map<string, string> {
  let s = INT8.get(g);
  if (!s) { s = new Map(); INT8.set(g, s); }
  return s;
}

function checkBits(ctx: MapContext, bits: number): void {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) throw ctx.unsupported(`bit_length ${bits}`);
  if (ctx.g.quant === 'qdq' && bits !== 8) {
    throw ctx.unsupported(`bit_length ${bits}: ONNX QuantizeLinear is 8-bit; convert with quant float (--quant float)`);
  }
}

/** Paddle's rounding: round_type 0 ties to even (ONNX Round), else ties away from zero. */
function paddleRound(g: GraphBuilder, t: string, roundType: number): string {
  if (roundType === 0) return g.op('Round', [t]);
  return g.op('Mul', [g.op('Sign', [t]), g.op('Floor', [g.op('Add', [g.op('Abs', [t]), g.scalar(0.5)])])]);
}

interface Scale {
  /** the abs-max value(s), float32: a scalar, or [C] for per-channel */
  absMax: string;
  /** per-channel: the channel axis of x and the channel count */
  axis?: number;
  channels?: number;
}

/**
 * A zero scale (an all-zero weight channel) must not divide by zero: Paddle then divides by
 * s + 1e-6; any tiny floor gives the same zeros here.
 */
function nonZero(g: GraphBuilder, absMax: string): string {
  return g.op('Max', [absMax, g.scalar(1e-30)]);
}

/** the abs-max broadcast against x (per-channel: reshaped to [1,..,C,..,1]) */
function broadcastable(ctx: MapContext, s: Scale, rank: number): string {
  const m = nonZero(ctx.g, s.absMax);
  if (s.axis === undefined) return m;
  const dims = new Array(rank).fill(1);
  dims[s.axis] = -1;
  return ctx.g.op('Reshape', [m, ctx.g.constant(dims)]);
}

/** The QDQ pair (or its float arithmetic) of x at `s`, written to `out`. */
function quantDequant(ctx: MapContext, x: string, s: Scale, bits: number, roundType: number, rank: number, out: string): void {
  const { g } = ctx;
  const bin = binCnt(bits);
  if (g.quant === 'qdq') {
    const { step, zp, attrs } = qdqParams(ctx, s, bin);
    const q = g.op('QuantizeLinear', [x, step, zp], attrs);
    g.op('DequantizeLinear', [q, step, zp], attrs, out);
    return;
  }
  const sb = broadcastable(ctx, s, rank);
  g.op('Div', [g.op('Mul', [integers(g, x, sb, bin, roundType), sb]), g.scalar(bin)], {}, out);
}

/** Quantize only (Paddle's Out holds the integers, as float). QDQ: a float Cast of the int8 QuantizeLinear output. */
function quantOnly(ctx: MapContext, x: string, s: Scale, bits: number, roundType: number, rank: number, out: string): void {
  const { g } = ctx;
  const bin = binCnt(bits);
  if (g.quant === 'qdq') {
    const { step, zp, attrs } = qdqParams(ctx, s, bin);
    const q = g.op('QuantizeLinear', [x, step, zp], attrs);
    g.cast(q, 'float32', out);
    int8Of(g).set(out, q);
    return;
  }
  g.op('Identity', [integers(g, x, broadcastable(ctx, s, rank), bin, roundType)], {}, out);
}

/**
 * Paddle's quantized integers of x at abs-max sb: round_type 0 rounds x·bin/s to even and clips
 * to [-bin-1, bin] (exactly QuantizeLinear); otherwise x is clipped to [-s, s] first and rounded
 * half away from zero.
 */
function integers(g: GraphBuilder, x: string, sb: string, bin: number, roundType: number): string {
  // Paddle's order: bin_cnt * (1/s) * x, then round, then * s / bin_cnt
  const k = g.op('Mul', [g.scalar(bin), g.op('Reciprocal', [sb])]);
  if (roundType === 0) return clamp(g, g.op('Round', [g.op('Mul', [x, k])]), -bin - 1, bin);
  const clipped = g.op('Min', [g.op('Max', [x, g.op('Neg', [sb])]), sb]);
  return paddleRound(g, g.op('Mul', [clipped, k]), roundType);
}

function clamp(g: GraphBuilder, t: string, lo: number, hi: number): string {
  return g.op('Min', [g.op('Max', [t, g.scalar(lo)]), g.scalar(hi)]);
}

function qdqParams(ctx: MapContext, s: Scale, bin: number): { step: string; zp: string; attrs: Record<string, number | undefined> } {
  const { g } = ctx;
  if (s.axis !== undefined && ctx.opset < 13) {
    throw ctx.unsupported(`per-channel QuantizeLinear/DequantizeLinear needs opset 13 (this conversion writes ${ctx.opset}); raise --opset_version or convert with --quant float`);
  }
  const step = g.op('Div', [nonZero(g, s.absMax), g.scalar(bin)]);
  const zp = s.axis === undefined ? g.constant([0], 'int8', []) : g.constant(new Array(s.channels!).fill(0), 'int8', [s.channels!]);
  return { step, zp, attrs: { axis: s.axis } };
}

/** The scale held by an input var (InScale, Scale) as a float32 scalar tensor. */
function scaleFromVar(ctx: MapContext, name: string): Scale {
  const { g } = ctx;
  // the scale var itself feeds the graph (the runtime folds the arithmetic on it), so the model
  // keeps Paddle's scale tensors and no initializer is left unused
  const t = ctx.input(name);
  const as32 = ctx.dtypeOf(name) === 'float32' ? t : g.cast(t, 'float32');
  return { absMax: g.op('Reshape', [as32, g.constant([], 'int64', [0])]) };
}

/** A per-channel scale var ([C]) along `axis` of x. */
function channelScaleFromVar(ctx: MapContext, name: string, axis: number): Scale {
  const shape = ctx.shapeOf(name);
  const n = shape && shape.length === 1 ? shape[0]! : -1;
  if (n === 1 || n === undefined) return scaleFromVar(ctx, name);
  if (n < 0) throw ctx.unsupported(`the length of the per-channel scale ${name} is not declared`);
  const t = ctx.input(name);
  return { absMax: ctx.dtypeOf(name) === 'float32' ? t : ctx.g.cast(t, 'float32'), axis, channels: n };
}

/** max|x| over the whole tensor, or per channel along `axis` */
function absMaxOf(ctx: MapContext, x: string, rank: number, axis?: number): Scale {
  const { g } = ctx;
  const a = g.op('Abs', [x]);
  if (axis === undefined) return { absMax: g.op('ReduceMax', [a], { keepdims: 0 }) };
  const shape = ctx.shapeOf('X');
  const channels = shape?.[axis] ?? -1;
  if (channels < 0) throw ctx.unsupported(`the channel count (dim ${axis}) of the input is not declared`);
  const axes = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis);
  const m = axes.length === 0 ? a : g.op('ReduceMax', [a], { axes, keepdims: 0 });
  return { absMax: m, axis, channels };
}

function rankOf(ctx: MapContext): number {
  return ctx.rank('X');
}

function channelAxis(ctx: MapContext, quantAxis: number, rank: number): number {
  const ax = quantAxis < 0 ? quantAxis + rank : quantAxis;
  if (!(ax >= 0 && ax < rank)) throw ctx.unsupported(`quant_axis ${quantAxis} for a rank-${rank} input`);
  return ax;
}

/** Write OutScale when the program names it (a later fake_dequantize may read it): [1] per tensor, as Paddle declares it. */
function writeOutScale(ctx: MapContext, s: Scale): void {
  if (!ctx.hasOutput('OutScale')) return;
  const { g } = ctx;
  if (s.axis === undefined && ctx.outputShapeOf('OutScale')?.length !== 0) g.op('Reshape', [s.absMax, g.constant([1])], {}, ctx.output('OutScale'));
  else g.op('Identity', [s.absMax], {}, ctx.output('OutScale'));
}

const QUANT_ATTRS = { bit_length: 8, round_type: 1 } as const;
const CHANNEL_ATTRS = { ...QUANT_ATTRS, quant_axis: 0 } as const;
const CHANNEL_NEEDS = () => ({ opset: 13, why: 'per-channel QuantizeLinear/DequantizeLinear (axis) needs opset 13' });
const FAKE_OUTPUTS = { Out: 0, OutScale: { pir: 1, optional: true } } as const;
const IN_SCALE_INPUTS = { X: 0, InScale: 1, InAccum: { pir: 2, optional: true }, InState: { pir: 3, optional: true } } as const;

/**
 * The body every fake_quantize* op shares: x at the scale `scaleOf` gives, written to Out either
 * quantized and dequantized (`dequant`) or as the integers alone, with OutScale.
 */
function fakeQuant(ctx: MapContext, a: { bit_length: number; round_type: number }, dequant: boolean, scaleOf: (x: string, rank: number) => Scale): void {
  checkBits(ctx, a.bit_length);
  const rank = rankOf(ctx);
  const x = ctx.input('X');
  const s = scaleOf(x, rank);
  if (dequant) quantDequant(ctx, x, s, a.bit_length, a.round_type, rank, ctx.output('Out'));
  else quantOnly(ctx, x, s, a.bit_length, a.round_type, rank, ctx.output('Out'));
  writeOutScale(ctx, s);
}

export const fakeQuantDequantAbsMax = defineOp({
  types: ['fake_quantize_dequantize_abs_max'],
  inputs: { X: 0 },
  outputs: FAKE_OUTPUTS,
  attrs: QUANT_ATTRS,
  minOpset: 11,
  note: 'QDQ (scale = max|x| at run time) or float (--quant float)',
  map: (ctx, a) => fakeQuant(ctx, a, true, (x, rank) => absMaxOf(ctx, x, rank)),
});

export const fakeQuantDequantMovingAverage = defineOp({
  types: ['fake_quantize_dequantize_moving_average_abs_max'],
  inputs: IN_SCALE_INPUTS,
  outputs: FAKE_OUTPUTS,
  attrs: QUANT_ATTRS,
  minOpset: 11,
  note: 'QDQ at InScale, or float (--quant float)',
  map: (ctx, a) => fakeQuant(ctx, a, true, () => scaleFromVar(ctx, 'InScale')),
});

export const fakeChannelWiseQuantDequant = defineOp({
  types: ['fake_channel_wise_quantize_dequantize_abs_max'],
  inputs: { X: 0 },
  outputs: FAKE_OUTPUTS,
  attrs: CHANNEL_ATTRS,
  minOpset: 11,
  needs: CHANNEL_NEEDS,
  note: 'per-channel QDQ along quant_axis (opset 13), scales = the weights\' per-channel max|w|; or float',
  map: (ctx, a) => fakeQuant(ctx, a, true, (x, rank) => absMaxOf(ctx, x, rank, channelAxis(ctx, a.quant_axis, rank))),
});

export const fakeQuantAbsMax = defineOp({
  types: ['fake_quantize_abs_max'],
  inputs: { X: 0 },
  outputs: FAKE_OUTPUTS,
  attrs: QUANT_ATTRS,
  minOpset: 11,
  note: 'QuantizeLinear at max|x| (Out: its integers as float, as Paddle), OutScale; or float',
  map: (ctx, a) => fakeQuant(ctx, a, false, (x, rank) => absMaxOf(ctx, x, rank)),
});

export const fakeQuantWithScale = defineOp({
  types: ['fake_quantize_moving_average_abs_max', 'fake_quantize_range_abs_max'],
  inputs: { ...IN_SCALE_INPUTS, Iter: { pir: null, optional: true } },
  outputs: FAKE_OUTPUTS,
  attrs: QUANT_ATTRS,
  minOpset: 11,
  note: 'QuantizeLinear at InScale (Out: its integers as float, as Paddle), OutScale; or float',
  map: (ctx, a) => fakeQuant(ctx, a, false, () => scaleFromVar(ctx, 'InScale')),
});

export const fakeChannelWiseQuant = defineOp({
  types: ['fake_channel_wise_quantize_abs_max'],
  inputs: { X: 0 },
  outputs: FAKE_OUTPUTS,
  attrs: CHANNEL_ATTRS,
  minOpset: 11,
  needs: CHANNEL_NEEDS,
  note: 'per-channel QuantizeLinear (opset 13) or float',
  map: (ctx, a) => fakeQuant(ctx, a, false, (x, rank) => absMaxOf(ctx, x, rank, channelAxis(ctx, a.quant_axis, rank))),
});

export const fakeDequantMaxAbs = defineOp({
  types: ['fake_dequantize_max_abs'],
  inputs: { X: 0, Scale: 1 },
  outputs: { Out: 0 },
  attrs: { max_range: 0 },
  minOpset: 11,
  note: 'x * Scale / max_range',
  map(ctx, a) {
    const { g } = ctx;
    if (!(a.max_range > 0)) throw ctx.unsupported(`max_range ${a.max_range}`);
    const s = scaleFromVar(ctx, 'Scale');
    g.op('Div', [g.op('Mul', [ctx.input('X'), s.absMax]), g.scalar(a.max_range)], {}, ctx.output('Out'));
  },
});

export const fakeChannelWiseDequantMaxAbs = defineOp({
  types: ['fake_channel_wise_dequantize_max_abs'],
  inputs: { X: 0, Scales: { pir: 1, list: true } },
  outputs: { Out: 0 },
  attrs: { quant_bits: [8], quant_axis: 0, x_num_col_dims: 1 },
  minOpset: 11,
  note: 'x * Scales[0][c] (* Scales[1]) / bin_cnt; quant_axis 0 or 1, x_num_col_dims',
  map(ctx, a) {
    const { g } = ctx;
    const rank = rankOf(ctx);
    const list = ctx.list('Scales');
    if (list.tensors.length < 1 || list.tensors.length > 2) throw ctx.unsupported(`${list.tensors.length} Scales (1 or 2 expected)`);
    const bits = a.quant_bits.length ? a.quant_bits : [8];
    let y = ctx.input('X');
    // Scales[0] is per channel: along quant_axis with one scale, along x_num_col_dims (the output
    // channels of a mul/fc) when two are given
    const axis = list.tensors.length === 2 ? a.x_num_col_dims : channelAxis(ctx, a.quant_axis, rank);
    const dims = new Array(rank).fill(1);
    const n = list.shapes[0]?.[0] ?? -1;
    dims[axis] = -1;
    const s0 = n === 1 ? list.tensors[0]! : g.op('Reshape', [list.tensors[0]!, g.constant(dims)]);
    y = g.op('Mul', [y, s0]);
    let range = binCnt(bits[0]!);
    if (list.tensors.length === 2) {
      y = g.op('Mul', [y, list.tensors[1]!]);
      range *= binCnt(bits[1] ?? 8);
    }
    g.op('Div', [y, g.scalar(range)], {}, ctx.output('Out'));
  },
});

const LINEAR_ATTRS = { bit_length: 8, quant_axis: -1, round_type: 0, only_observer: false } as const;
const LINEAR_INPUTS = { X: 0, Scale: 1, ZeroPoint: { pir: 2, optional: true }, InAccum: { pir: 3, optional: true }, InState: { pir: 4, optional: true } } as const;

/** quantize_linear / dequantize_linear need opset 13 where the scale is per channel */
function linearNeeds(v: NeedsView<typeof LINEAR_ATTRS>): { opset: number; why: string } | undefined {
  const sh = v.shapeOf('Scale');
  const n = sh ? sh.reduce((p, d) => p * d, 1) : 1;
  return v.attrs.quant_axis >= 0 && n !== 1 ? { opset: 13, why: 'a per-channel scale needs QuantizeLinear/DequantizeLinear-13 (axis)' } : undefined;
}

/** quantize_linear / dequantize_linear: the scale and its axis (per-tensor when the scale has one value). */
function linearScale(ctx: MapContext, quantAxis: number, rank: number): Scale {
  const shape = ctx.shapeOf('Scale');
  const n = shape?.reduce((p, d) => p * d, 1) ?? -1;
  if (n === 1 || quantAxis < 0) return scaleFromVar(ctx, 'Scale');
  return channelScaleFromVar(ctx, 'Scale', channelAxis(ctx, quantAxis, rank));
}

export const quantizeLinear = defineOp({
  types: ['quantize_linear'],
  inputs: LINEAR_INPUTS,
  outputs: { Y: 0 },
  attrs: LINEAR_ATTRS,
  minOpset: 11,
  needs: linearNeeds,
  note: 'QuantizeLinear at Scale/bin_cnt (per channel along quant_axis: opset 13); only_observer passes x through; or float',
  map(ctx, a) {
    checkBits(ctx, a.bit_length);
    const x = ctx.input('X');
    if (a.only_observer) { ctx.g.op('Identity', [x], {}, ctx.output('Y')); return; }
    const rank = rankOf(ctx);
    quantOnly(ctx, x, linearScale(ctx, a.quant_axis, rank), a.bit_length, a.round_type, rank, ctx.output('Y'));
  },
});

export const dequantizeLinear = defineOp({
  types: ['dequantize_linear'],
  inputs: LINEAR_INPUTS,
  outputs: { Y: 0 },
  attrs: LINEAR_ATTRS,
  minOpset: 11,
  needs: linearNeeds,
  note: 'DequantizeLinear (an int-valued float weight is cast to int8 first); only_observer passes x through; or float',
  map(ctx, a) {
    const { g } = ctx;
    checkBits(ctx, a.bit_length);
    const x = ctx.input('X');
    if (a.only_observer) { g.op('Identity', [x], {}, ctx.output('Y')); return; }
    const rank = rankOf(ctx);
    const s = linearScale(ctx, a.quant_axis, rank);
    const bin = binCnt(a.bit_length);
    if (g.quant === 'qdq') {
      const q = int8Of(g).get(x) ?? g.cast(x, 'int8');
      const { step, zp, attrs } = qdqParams(ctx, s, bin);
      g.op('DequantizeLinear', [q, step, zp], attrs, ctx.output('Y'));
      return;
    }
    const sb = broadcastable(ctx, s, rank);
    g.op('Div', [g.op('Mul', [x, sb]), g.scalar(bin)], {}, ctx.output('Y'));
  },
});

export const QUANT_MAPPERS = [
  fakeQuantDequantAbsMax, fakeQuantDequantMovingAverage, fakeChannelWiseQuantDequant, fakeQuantAbsMax, fakeQuantWithScale,
  fakeChannelWiseQuant, fakeDequantMaxAbs, fakeChannelWiseDequantMaxAbs, quantizeLinear, dequantizeLinear,
];
