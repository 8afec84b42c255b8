/**
 * Models for the pipeline tests, written as Paddle programs with the project's builder so the
 * recipes run them through the native converter, and simple enough that a test can compute their
 * answer independently in numpy: block means of the input, one fully connected layer.
 *
 *   imagenet-shaped: x [-1,3,224,224] -> adaptive avg pool 4x4 -> [-1,48] @ W[48,1000] + b -> softmax
 *   PP-TSM-shaped:   data_batch_0 [-1,8,3,224,224] -> reshape [-1,24,224,224] -> adaptive avg pool 2x2
 *                    -> [-1,96] @ W[96,400] + b (logits, as ppTSM's fetch)
 *   PP-TSN-shaped:   data_batch_0 [-1,250,3,224,224] -> reshape [-1,750,224,224] -> adaptive avg pool 2x2
 *                    -> [-1,3000] @ W[3000,400] + b (logits; every crop has its own weights, so the
 *                    order of the 250 crops counts)
 *   rec params:      made params for a zoo program (persistable vars of block 0, sorted by name, one
 *                    combined .pdiparams), deterministic, batch-norm variances positive.
 *   detector:        an ONNX graph with Paddle's detector interface (image, im_shape, scale_factor ->
 *                    rows [N,6] + counts [1]) whose boxes are constants scaled back by scale_factor.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { encodeTensorRecord } from '../src/formats/pdiparams.js';
import { ProgramBuilder, seededFloats } from '../src/formats/program-builder.js';
import { varTypeFromDtype } from '../src/model/dtype.js';
import { loadModel } from '../src/model/load-model.js';

const { onnx } = onnxProto as unknown as { onnx: any };

const POOL = { global_pooling: false, ceil_mode: false, exclusive: true, padding_algorithm: 'EXPLICIT', data_format: 'NCHW', paddings: [0, 0], strides: [1, 1], pooling_type: 'avg', adaptive: true };

export interface LinearHead { w: Float32Array; b: Float32Array; inFeatures: number; classes: number }

function head(b: ProgramBuilder, input: string, inFeatures: number, classes: number, seed: number, scale: number): LinearHead {
  const w = seededFloats(inFeatures * classes, seed, scale);
  const bias = seededFloats(classes, seed + 1, 0.1);
  b.param('fc_w', [inFeatures, classes], w);
  b.param('fc_b', [classes], bias);
  b.variable('fc.tmp_0', 'float32', [-1, classes]);
  b.op('matmul_v2', { X: [input], Y: ['fc_w'] }, { Out: ['fc.tmp_0'] }, { trans_x: false, trans_y: false });
  b.variable('fc.tmp_1', 'float32', [-1, classes]);
  b.op('elementwise_add', { X: ['fc.tmp_0'], Y: ['fc_b'] }, { Out: ['fc.tmp_1'] }, { axis: -1 });
  return { w, b: bias, inFeatures, classes };
}

/** an ImageNet-shaped classifier in `dir` (inference.pdmodel + .pdiparams); returns its head */
export function writeImagenetModel(dir: string): LinearHead {
  mkdirSync(dir, { recursive: true });
  const b = new ProgramBuilder(2004000);
  b.feed('x', 'float32', [-1, 3, 224, 224]);
  b.variable('pool.tmp_0', 'float32', [-1, 3, 4, 4]);
  b.op('pool2d', { X: ['x'] }, { Out: ['pool.tmp_0'] }, { ...POOL, ksize: [4, 4] });
  b.variable('flat.tmp_0', 'float32', [-1, 48]);
  b.variable('flat.tmp_0.xshape', 'float32', [0, -1, 3, 4, 4]);
  b.op('flatten_contiguous_range', { X: ['pool.tmp_0'] }, { Out: ['flat.tmp_0'], XShape: ['flat.tmp_0.xshape'] }, { start_axis: 1, stop_axis: 3 });
  const h = head(b, 'flat.tmp_0', 48, 1000, 11, 4);
  b.variable('softmax_0.tmp_0', 'float32', [-1, 1000]);
  b.op('softmax', { X: ['fc.tmp_1'] }, { Out: ['softmax_0.tmp_0'] }, { axis: -1 });
  b.fetch('softmax_0.tmp_0');
  writeFileSync(join(dir, 'inference.pdmodel'), b.programBytes());
  writeFileSync(join(dir, 'inference.pdiparams'), b.paramsBytes());
  return h;
}

/** a PP-TSM-shaped video classifier ([1,8,3,224,224] -> logits [1,400]) in `dir` */
export function writeVideoModel(dir: string): LinearHead {
  return writeFramesModel(dir, 8, 21, 1.5);
}

/** a PP-TSN-shaped video classifier ([1,250,3,224,224], ten crops of 25 frames -> logits [1,400]) in `dir` */
export function writeTsnModel(dir: string): LinearHead {
  return writeFramesModel(dir, 250, 31, 0.3);
}

/**
 * [-1, crops, 3, 224, 224] -> reshape to [-1, 3*crops, 224, 224] -> 2x2 pool -> flatten -> a linear head
 * to 400 logits: every crop has weights of its own, so a crop out of place changes the answer
 */
function writeFramesModel(dir: string, crops: number, seed: number, scale: number): LinearHead {
  mkdirSync(dir, { recursive: true });
  const ch = 3 * crops;
  const b = new ProgramBuilder(2004000);
  b.feed('data_batch_0', 'float32', [-1, crops, 3, 224, 224]);
  b.variable('reshape.tmp_0', 'float32', [-1, ch, 224, 224]);
  b.variable('reshape.tmp_0.xshape', 'float32', [0, -1, crops, 3, 224, 224]);
  b.op('reshape2', { X: ['data_batch_0'] }, { Out: ['reshape.tmp_0'], XShape: ['reshape.tmp_0.xshape'] }, { shape: [-1, ch, 224, 224] });
  b.variable('pool.tmp_0', 'float32', [-1, ch, 2, 2]);
  b.op('pool2d', { X: ['reshape.tmp_0'] }, { Out: ['pool.tmp_0'] }, { ...POOL, ksize: [2, 2] });
  b.variable('flat.tmp_0', 'float32', [-1, 4 * ch]);
  b.variable('flat.tmp_0.xshape', 'float32', [0, -1, ch, 2, 2]);
  b.op('flatten_contiguous_range', { X: ['pool.tmp_0'] }, { Out: ['flat.tmp_0'], XShape: ['flat.tmp_0.xshape'] }, { start_axis: 1, stop_axis: 3 });
  const h = head(b, 'flat.tmp_0', 4 * ch, 400, seed, scale);
  b.fetch('fc.tmp_1');
  writeFileSync(join(dir, 'inference.pdmodel'), b.programBytes());
  writeFileSync(join(dir, 'inference.pdiparams'), b.paramsBytes());
  return h;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return h >>> 0;
}

/**
 * A zoo program that comes without params, copied to `dir` with made params in the real layout:
 * every persistable var of block 0 in sorted-name order, one combined inference.pdiparams.
 * Batch-norm variances and scales are positive, weights ~ 1/sqrt(fan_in), so features stay finite.
 */
export function withMadeParams(programDir: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(programDir, 'inference.pdmodel'), join(dir, 'inference.pdmodel'));
  const m = loadModel(dir, { params: 'skip' });
  const role = new Map<string, string>();
  for (const op of m.blocks[0]!.ops) {
    if (op.type === 'batch_norm') {
      for (const [slot, r] of [['Mean', 'mean'], ['Variance', 'var'], ['Scale', 'scale'], ['Bias', 'bias']] as const) for (const n of op.inputs[slot] ?? []) role.set(n, r);
    }
  }
  const vars = m.blocks[0]!.vars;
  const parts: Uint8Array[] = [];
  for (const name of m.paramNames) {
    const v = vars.get(name)!;
    const shape = v.shape.map((d) => Math.max(1, d));
    const n = shape.reduce((a, b) => a * b, 1);
    const u = seededFloats(n, hash(name));
    const r = role.get(name);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    const vals = r === 'var' ? u.map((x) => 1 + 0.2 * x) : r === 'scale' ? u.map((x) => 1 + 0.1 * x) : r === 'mean' || r === 'bias' ? u.map((x) => 0.05 * x)
      : shape.length <= 1 ? u.map((x) => 0.05 * x) : u.map((x) => x * Math.sqrt(6 / Math.max(1, fanIn)));
    if (v.dtype !== 'float32') throw new Error(`made params: ${name} is ${v.dtype}`);
    parts.push(encodeTensorRecord({ data_type: varTypeFromDtype('float32'), dims: shape }, new Uint8Array(vals.buffer)));
  }
  writeFileSync(join(dir, 'inference.pdiparams'), Buffer.concat(parts));
}

/**
 * A detector ONNX with Paddle's interface: image [1,3,640,640], im_shape [1,2], scale_factor [1,2]
 * -> rows [N,6] ([class, score, x1, y1, x2, y2] in original-image pixels) and counts [1]. The boxes
 * are given in 640x640 space and divided by scale_factor, as a real detector's output is; the
 * image only contributes 0 * mean (so the graph reads it).
 */
export function detectorOnnx(boxes640: number[][]): Uint8Array {
  const n = boxes640.length;
  const f32 = (a: number[]) => new Uint8Array(Float32Array.from(a).buffer);
  const init = (name: string, dims: number[], data: number[]) => ({ name, dims, dataType: 1, rawData: f32(data) });
  const i64 = (name: string, data: number[]) => ({ name, dims: [data.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(data.map(BigInt)).buffer) });
  const vi = (name: string, elem: number, dims: (number | string)[]) => ({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
  const graph = {
    name: 'fake_detector',
    node: [
      // divisor [1, 1, sy, sx, sy, sx] from scale_factor [sy, sx]
      { opType: 'Concat', input: ['ones2', 'scale_factor', 'scale_factor'], output: ['div6'], attribute: [{ name: 'axis', type: 2, i: 1 }] },
      { opType: 'Div', input: ['boxes', 'div6'], output: ['rows0'] },
      { opType: 'ReduceMean', input: ['image'], output: ['m'], attribute: [{ name: 'keepdims', type: 2, i: 0 }] },
      { opType: 'Mul', input: ['m', 'zero'], output: ['z'] },
      { opType: 'Add', input: ['rows0', 'z'], output: ['rows'] },
      { opType: 'Shape', input: ['rows'], output: ['rshape'] },
      { opType: 'Slice', input: ['rshape', 'start0', 'end1'], output: ['counts64'] },
      { opType: 'Cast', input: ['counts64'], output: ['counts'], attribute: [{ name: 'to', type: 2, i: 6 }] },
    ],
    initializer: [
      init('boxes', [n, 6], boxes640.flat()),
      init('ones2', [1, 2], [1, 1]),
      init('zero', [], [0]),
      i64('start0', [0]),
      i64('end1', [1]),
    ],
    input: [vi('image', 1, ['N', 3, 640, 640]), vi('im_shape', 1, ['N', 2]), vi('scale_factor', 1, ['N', 2])],
    output: [vi('rows', 1, [n, 6]), vi('counts', 6, [1])],
  };
  const model = { irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'pserve-test', graph };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish() as Uint8Array;
}

/** a serving folder for the fake detector: its conf (feeds image, im_shape, scale_factor; fetches rows, counts) */
export function writeDetectorServing(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const feed = (name: string, shape: number[]) => `feed_var {\n  name: "${name}"\n  alias_name: "${name}"\n  is_lod_tensor: false\n  feed_type: 1\n${shape.map((d) => `  shape: ${d}\n`).join('')}}\n`;
  const fetch = (name: string, type: number, shape: number[]) => `fetch_var {\n  name: "${name}"\n  alias_name: "${name}"\n  is_lod_tensor: ${name === 'rows'}\n  fetch_type: ${type}\n${shape.map((d) => `  shape: ${d}\n`).join('')}}\n`;
  const text = feed('image', [3, 640, 640]) + feed('im_shape', [2]) + feed('scale_factor', [2]) + fetch('rows', 1, [-1, 6]) + fetch('counts', 2, [-1]);
  writeFileSync(join(dir, 'serving_server_conf.prototxt'), text);
}
