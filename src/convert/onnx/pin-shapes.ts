/**
 * `--input_shape_dict` (paddle2onnx's flag): fix the feeds' unknown dims, then carry the fixed
 * dims forward through the ops whose output shape follows from their input shapes and attributes
 * (convolutions, pooling, elementwise, reshapes, ...), so that shape-dependent mappers (adaptive
 * pooling, flatten ranges, prelu element mode) see static shapes downstream, and outputs whose
 * shape comes out fully known are declared static. A dim the program declares is never changed;
 * only its -1 dims are filled in. Ops not known here leave their
 * outputs as declared, and everything after them keeps its declared shapes.
 */
import { PserveError } from '../../errors.js';
import type { LoadedModel } from '../../model/load-model.js';
import { programVars, type AttrValue, type GraphBlock, type OpNode, type VarSpec } from '../../model/types.js';
import { ints } from './mapper.js';

type Shape = number[];

const SAME = new Set([
  'relu', 'relu6', 'sigmoid', 'tanh', 'leaky_relu', 'hard_swish', 'hardswish', 'hard_sigmoid', 'hardsigmoid', 'swish', 'silu',
  'gelu', 'elu', 'selu', 'mish', 'softplus', 'softsign', 'exp', 'sqrt', 'abs', 'log', 'log2', 'log10', 'log1p', 'floor', 'ceil',
  'batch_norm', 'sync_batch_norm', 'dropout', 'scale', 'softmax', 'log_softmax', 'layer_norm', 'group_norm', 'instance_norm',
  'affine_channel', 'clip', 'pow', 'square', 'rsqrt', 'sign', 'round', 'prelu', 'brelu', 'thresholded_relu', 'hard_shrink',
  'hardshrink', 'softshrink', 'logsigmoid', 'cast', 'assign', 'erf', 'sin', 'cos', 'reciprocal', 'temporal_shift',
  'fake_quantize_dequantize_moving_average_abs_max', 'fake_quantize_dequantize_abs_max', 'fake_channel_wise_quantize_dequantize_abs_max',
  'quantize_linear', 'dequantize_linear', 'logical_not', 'cumsum',
]);
const BINARY = new Set([
  'elementwise_add', 'elementwise_sub', 'elementwise_mul', 'elementwise_div', 'elementwise_max', 'elementwise_min', 'elementwise_pow',
  'elementwise_mod', 'elementwise_floordiv', 'add', 'subtract', 'multiply', 'divide', 'maximum', 'minimum', 'remainder', 'floor_divide',
  'equal', 'not_equal', 'less_than', 'less_equal', 'greater_than', 'greater_equal', 'logical_and', 'logical_or', 'logical_xor',
]);
const INTERP = /^(nearest|bilinear|bicubic|linear|trilinear)_interp(_v2)?$/;

function first(slots: Record<string, string[]>, names: string[]): string | undefined {
  for (const n of names) { const v = slots[n]?.[0]; if (v) return v; }
  return undefined;
}

/** numpy broadcast of two shapes with unknown (-1) dims */
function broadcast(a: Shape, b: Shape): Shape {
  const r = Math.max(a.length, b.length);
  const pa = [...new Array(r - a.length).fill(1), ...a];
  const pb = [...new Array(r - b.length).fill(1), ...b];
  return pa.map((x, i) => {
    const y = pb[i]!;
    if (x === 1) return y;
    if (y === 1) return x;
    if (x >= 0) return x;
    return y;
  });
}

/** out = floor or ceil((in + pads - dil*(k-1) - 1) / stride) + 1; SAME: ceil(in / stride) */
function windowed(inDims: Shape, k: number[], attrs: Record<string, AttrValue>, ceil = false): Shape | undefined {
  const n = k.length;
  const strides = ints(attrs['strides']);
  const dil = ints(attrs['dilations']);
  const p = ints(attrs['paddings']);
  const algo = String(attrs['padding_algorithm'] ?? 'EXPLICIT');
  return inDims.map((d, i) => {
    if (d < 0) return -1;
    const s = strides[i] ?? 1;
    if (algo === 'SAME') return Math.ceil(d / s);
    const ext = (dil[i] ?? 1) * (k[i]! - 1) + 1;
    const pads = algo === 'VALID' ? 0 : p.length === n ? 2 * p[i]! : p.length === 2 * n ? p[2 * i]! + p[2 * i + 1]! : 0;
    const q = (d + pads - ext) / s;
    return (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
  });
}

/** the output shape of one op from its input shapes, when the op is one this pass knows */
function infer(op: OpNode, shapeOf: (n: string) => Shape | undefined, constOf: (n: string) => number[] | undefined): Shape | undefined {
  const t = op.type.endsWith('_') && !op.type.endsWith('__') ? op.type.slice(0, -1) : op.type;
  const a = op.attrs;
  const xName = first(op.inputs, ['X', 'Input', '0']);
  const x = xName ? shapeOf(xName) : undefined;
  if (!x) return undefined;
  if (SAME.has(t)) return x;
  if (BINARY.has(t)) {
    const y = shapeOf(first(op.inputs, ['Y', '1']) ?? '');
    if (!y) return undefined;
    const axis = Number(a['axis'] ?? -1);
    if (axis !== -1 && y.length < x.length) return x;
    return broadcast(x, y);
  }
  const cl = String(a['data_format'] ?? a['data_layout'] ?? 'NCHW').endsWith('C');
  if (t === 'conv2d' || t === 'depthwise_conv2d' || t === 'conv3d') {
    const w = shapeOf(first(op.inputs, ['Filter', '1']) ?? '');
    if (!w || cl) return undefined;
    return [x[0]!, w[0]!, ...windowed(x.slice(2), w.slice(2), a)!];
  }
  if (t === 'conv2d_transpose' || t === 'depthwise_conv2d_transpose') {
    const w = shapeOf(first(op.inputs, ['Filter', '1']) ?? '');
    if (!w || cl || ints(a['output_size']).length > 0 || String(a['padding_algorithm'] ?? 'EXPLICIT') !== 'EXPLICIT') return undefined;
    const n = w.length - 2;
    const s = ints(a['strides']); const dil = ints(a['dilations']); const p = ints(a['paddings']); const op2 = ints(a['output_padding']);
    const groups = Number(a['groups'] ?? 1);
    return [x[0]!, w[1]! * groups, ...x.slice(2).map((d, i) => {
      if (d < 0) return -1;
      const pads = p.length === n ? 2 * p[i]! : p.length === 2 * n ? p[2 * i]! + p[2 * i + 1]! : 0;
      return (d - 1) * (s[i] ?? 1) - pads + (dil[i] ?? 1) * (w[2 + i]! - 1) + 1 + (op2[i] ?? 0);
    })];
  }
  if (t === 'pool2d' || t === 'pool3d') {
    if (cl) return undefined;
    const k = op.inputs['1']?.[0] ? constOf(op.inputs['1'][0]) : ints(a['ksize']);
    if (!k) return undefined;
    if (a['global_pooling'] === true) return [x[0]!, x[1]!, ...k.map(() => 1)];
    if (a['adaptive'] === true) return [x[0]!, x[1]!, ...k];
    return [x[0]!, x[1]!, ...windowed(x.slice(2), k, { ...a, dilations: [] }, a['ceil_mode'] === true)!];
  }
  if (t === 'concat') {
    if (op.inputs['AxisTensor']?.length) return undefined;
    const parts = (op.inputs['X'] ?? []).map(shapeOf);
    if (parts.length === 0 || parts.some((p) => !p || p.length !== x.length)) return undefined;
    const axis = (Number(a['axis'] ?? 0) + x.length) % x.length;
    return x.map((_, i) => (i === axis ? (parts.some((p) => p![i]! < 0) ? -1 : parts.reduce((s, p) => s + p![i]!, 0)) : parts.find((p) => p![i]! >= 0)?.[i] ?? -1));
  }
  if (INTERP.test(t)) {
    if (cl || op.inputs['OutSize']?.length || op.inputs['SizeTensor']?.length || op.inputs['Scale']?.length || op.inputs['1']?.length || op.inputs['2']?.length) return undefined;
    const sp = x.length - 2;
    const names = sp === 1 ? ['out_w'] : sp === 2 ? ['out_h', 'out_w'] : ['out_d', 'out_h', 'out_w'];
    const sizes = names.map((n) => Number(a[n] ?? -1));
    const sc = ints(a['scale']);
    if (sc.length > 0 && sc.every((v) => v > 0)) return [x[0]!, x[1]!, ...x.slice(2).map((d, i) => (d < 0 ? -1 : Math.floor(d * (sc[i] ?? sc[0]!))))];
    if (sizes.every((v) => v > 0)) return [x[0]!, x[1]!, ...sizes];
    return undefined;
  }
  if (t === 'transpose2' || t === 'transpose') {
    const perm = ints(a['axis'] ?? a['perm']);
    return perm.length === x.length ? perm.map((p) => x[p]!) : undefined;
  }
  if (t === 'reshape2' || t === 'reshape') {
    if (op.inputs['Shape']?.length || op.inputs['ShapeTensor']?.length) return undefined;
    const target = op.inputs['1']?.[0] ? constOf(op.inputs['1'][0]) : ints(a['shape']);
    if (!target) return undefined;
    const out = target.map((d, i) => (d === 0 ? x[i] ?? -1 : d));
    const unknown = out.filter((d) => d === -1).length;
    const total = x.every((d) => d >= 0) ? x.reduce((p, d) => p * d, 1) : -1;
    if (unknown === 1 && total >= 0) {
      const known = out.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
      return out.map((d) => (d === -1 ? total / known : d));
    }
    return out;
  }
  if (t === 'flatten_contiguous_range' || (t === 'flatten' && op.inputs['0'])) {
    const r = x.length;
    const s = (Number(a['start_axis'] ?? 1) + r) % r; const e = (Number(a['stop_axis'] ?? -1) + r) % r;
    const mid = x.slice(s, e + 1);
    return [...x.slice(0, s), mid.some((d) => d < 0) ? -1 : mid.reduce((p, d) => p * d, 1), ...x.slice(e + 1)];
  }
  if (t === 'flatten2') {
    const k = Number(a['axis'] ?? 1);
    const head = x.slice(0, k); const tail = x.slice(k);
    const prod = (v: Shape) => (v.some((d) => d < 0) ? -1 : v.reduce((p, d) => p * d, 1));
    return [prod(head), prod(tail)];
  }
  if (t === 'matmul_v2' || t === 'matmul') {
    const y = shapeOf(first(op.inputs, ['Y', '1']) ?? '');
    if (!y || x.length < 2 || y.length < 2) return undefined;
    const tx = a['trans_x'] === true || a['transpose_X'] === true || a['transpose_x'] === true;
    const ty = a['trans_y'] === true || a['transpose_Y'] === true || a['transpose_y'] === true;
    const m = tx ? x[x.length - 1]! : x[x.length - 2]!;
    const nn = ty ? y[y.length - 2]! : y[y.length - 1]!;
    return [...broadcast(x.slice(0, -2), y.slice(0, -2)), m, nn];
  }
  if (t === 'mul') {
    const y = shapeOf(first(op.inputs, ['Y']) ?? '');
    if (!y) return undefined;
    return [...x.slice(0, Number(a['x_num_col_dims'] ?? 1)), ...y.slice(Number(a['y_num_col_dims'] ?? 1))];
  }
  if (t.startsWith('reduce_') && t !== 'reduce_all' && t !== 'reduce_any') {
    const r = x.length;
    const dims = a['reduce_all'] === true ? x.map((_, i) => i) : ints(a['dim']).map((d) => (d + r) % r);
    return a['keep_dim'] === true ? x.map((d, i) => (dims.includes(i) ? 1 : d)) : x.filter((_, i) => !dims.includes(i));
  }
  return undefined;
}

/** A copy of `model` whose feeds take the given shapes, carried forward through the program. */
export function pinInputShapes(model: LoadedModel, dict: Record<string, number[]>): LoadedModel {
  const feeds = new Map(model.feeds.map((f) => [f.name, f]));
  for (const [name, dims] of Object.entries(dict)) {
    const f = feeds.get(name);
    if (!f) throw new PserveError('E_ONNX_INPUT_SHAPE', `--input_shape_dict names ${name}, which is not an input of this model (inputs: ${model.feeds.map((x) => x.name).join(', ')})`);
    if (!Array.isArray(dims) || dims.some((d) => !Number.isInteger(d) || d < -1 || d === 0)) {
      throw new PserveError('E_ONNX_INPUT_SHAPE', `--input_shape_dict ${name}: expected a list of positive integers (or -1), got ${JSON.stringify(dims)}`);
    }
    if (f.shape.length !== dims.length) throw new PserveError('E_ONNX_INPUT_SHAPE', `--input_shape_dict ${name}: rank ${dims.length}, but the model declares [${f.shape.join(',')}]`);
    f.shape.forEach((d, i) => {
      if (d >= 0 && dims[i]! >= 0 && d !== dims[i]) throw new PserveError('E_ONNX_INPUT_SHAPE', `--input_shape_dict ${name}: dim ${i} is ${dims[i]}, but the model fixes it to ${d}`);
    });
  }
  const blocks: GraphBlock[] = model.blocks.map((b) => ({ ...b, vars: new Map([...b.vars].map(([k, v]) => [k, { ...v, shape: [...v.shape] }])) }));
  const vars = programVars(blocks);
  const params = new Map(model.params.map((p) => [p.name, p.shape]));
  const pinned = model.feeds.map((f) => {
    const dims = dict[f.name];
    if (!dims) return f;
    const shape = f.shape.map((d, i) => (d >= 0 ? d : dims[i]!));
    const v = vars.get(f.name);
    if (v) v.shape = shape;
    return { ...f, shape };
  });
  const consts = new Map<string, number[]>();
  const shapeOf = (n: string): Shape | undefined => params.get(n) ?? vars.get(n)?.shape;
  for (const op of blocks[0]?.ops ?? []) {
    if (op.type === 'full_int_array') { const o = op.outputs['0']?.[0]; if (o) consts.set(o, ints(op.attrs['value'])); continue; }
    const outName = first(op.outputs, ['Out', 'Y', 'Output', '0']);
    const v = outName ? vars.get(outName) : undefined;
    if (!v || !v.shape.some((d) => d < 0)) continue;
    let s: Shape | undefined;
    try { s = infer(op, shapeOf, (n) => consts.get(n)); } catch { s = undefined; }
    if (!s || s.length !== v.shape.length || s.some((d) => !Number.isFinite(d) || !Number.isInteger(d))) continue;
    v.shape = v.shape.map((d, i) => (d >= 0 ? d : s![i]! >= 0 ? s![i]! : -1));
  }
  // outputs whose shape is now fully known are declared so (validation then checks the run gives exactly that)
  const fetchSrc = new Map<string, string>();
  for (const op of blocks[0]?.ops ?? []) {
    if (op.type !== 'fetch') continue;
    const src = (op.inputs['X'] ?? op.inputs['0'])?.[0];
    const name = typeof op.attrs['name'] === 'string' ? op.attrs['name'] : src;
    if (src && name) fetchSrc.set(name, src);
  }
  const fetches = model.fetches.map((f) => {
    const v = vars.get(fetchSrc.get(f.name) ?? f.name);
    if (!v || f.lodLevel > 0 || v.shape.length !== f.shape.length || v.shape.some((d) => d < 0)) return f;
    return { ...f, shape: f.shape.map((d, i) => (d >= 0 ? d : v.shape[i]!)) };
  });
  return { ...model, feeds: pinned, fetches, blocks };
}
