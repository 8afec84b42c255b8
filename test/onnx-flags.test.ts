/**
 * paddle2onnx's flags on `pserve onnx`: --input_shape_dict pins input shapes and carries them
 * forward (adaptive pooling then sees a static size and converts at opset 9), the opset rules
 * (lowest needed by default, refusal naming the op, --enable_auto_update_opset), and the
 * compatibility flags that say in one line what they mean here.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { convertToOnnx } from '../src/convert/onnx/index.js';
import { PserveError } from '../src/errors.js';
import { ProgramBuilder, seededFloats } from '../src/formats/program-builder.js';
import { openSession, type HostTensor, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import { loadModel } from '../src/model/load-model.js';
import { cliJson, describeShared, shared, tempDir } from './helpers.js';
import { pirOp } from './onnx-op-case.js';
import type { LoadedModel } from '../src/model/load-model.js';
import { readFileSync } from 'node:fs';

const { onnx } = onnxProto;
const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });
const dir = tempDir('pserve-onnx-flags-');
const W = seededFloats(4 * 3 * 9, 21, 0.3);

/** x [-1,3,-1,-1] -> conv 3x3 stride 2 pad 1 (4 channels) -> relu -> adaptive avg pool to 2x2 -> flatten -> [N,16] */
function program(): string {
  const d = join(dir, `adaptive-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  const b = new ProgramBuilder().feed('x', 'float32', [-1, 3, -1, -1]).param('w', [4, 3, 3, 3], W)
    .variable('c', 'float32', [-1, 4, -1, -1]).variable('r', 'float32', [-1, 4, -1, -1]).variable('p', 'float32', [-1, 4, 2, 2]).variable('y', 'float32', [-1, 16])
    .op('conv2d', { Input: ['x'], Filter: ['w'] }, { Output: ['c'] }, { strides: [2, 2], paddings: [1, 1], dilations: [1, 1], groups: 1, padding_algorithm: 'EXPLICIT', data_format: 'NCHW' })
    .op('relu', { X: ['c'] }, { Out: ['r'] })
    .op('pool2d', { X: ['r'] }, { Out: ['p'] }, { pooling_type: 'avg', ksize: [2, 2], adaptive: true, global_pooling: false, strides: [1, 1], paddings: [0, 0], exclusive: true, ceil_mode: false })
    .op('flatten_contiguous_range', { X: ['p'] }, { Out: ['y'] }, { start_axis: 1, stop_axis: -1 })
    .fetch('y');
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  writeFileSync(join(d, 'inference.pdiparams'), b.paramsBytes());
  return d;
}

/** float64: conv (stride 2, pad 1) + relu + 2x2 adaptive average, for one image */
function reference(x: Float32Array, h: number, w: number): number[] {
  const oh = Math.floor((h + 2 - 3) / 2) + 1; const ow = Math.floor((w + 2 - 3) / 2) + 1;
  const conv = new Float64Array(4 * oh * ow);
  for (let o = 0; o < 4; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let s = 0;
    for (let c = 0; c < 3; c++) for (let ki = 0; ki < 3; ki++) for (let kj = 0; kj < 3; kj++) {
      const yi = i * 2 - 1 + ki; const xj = j * 2 - 1 + kj;
      if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
      s += x[(c * h + yi) * w + xj]! * W[((o * 3 + c) * 3 + ki) * 3 + kj]!;
    }
    conv[(o * oh + i) * ow + j] = Math.max(0, s);
  }
  const out: number[] = [];
  for (let o = 0; o < 4; o++) for (let bi = 0; bi < 2; bi++) for (let bj = 0; bj < 2; bj++) {
    const i0 = Math.floor(bi * oh / 2); const i1 = Math.ceil((bi + 1) * oh / 2);
    const j0 = Math.floor(bj * ow / 2); const j1 = Math.ceil((bj + 1) * ow / 2);
    let s = 0;
    for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) s += conv[(o * oh + i) * ow + j]!;
    out.push(s / ((i1 - i0) * (j1 - j0)));
  }
  return out;
}

/** a smooth image-like input (gradients and a bright disc), ImageNet-normalized */
function image(h: number, w: number): Float32Array {
  const mean = [0.485, 0.456, 0.406]; const std = [0.229, 0.224, 0.225];
  const a = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    const disc = (i - h / 2) ** 2 + (j - w / 3) ** 2 < (h / 4) ** 2 ? 0.4 : 0;
    const v = Math.min(1, 0.2 + 0.5 * (i / h) * (c === 0 ? 1 : 0.5) + 0.3 * (j / w) * (c === 2 ? 1 : 0.3) + disc);
    a[(c * h + i) * w + j] = (v - mean[c]!) / std[c]!;
  }
  return a;
}

describe('--input_shape_dict', () => {
  it('pins the input, carries the size to the adaptive pool (static windows: opset 9 works) and matches float64', async () => {
    const d = program();
    // without pinning, adaptive pooling over a run-time size needs opset 10
    const e = await convertToOnnx(d, { opsetVersion: 9 }).catch((err: unknown) => err);
    expect((e as PserveError).code).toBe('E_ONNX_OPSET');
    for (const opset of [9, 13]) {
      const r = await convertToOnnx(d, { opsetVersion: opset, inputShapes: { x: [1, 3, 30, 22] } });
      expect(r.inputs[0]!.shape).toEqual([1, 3, 30, 22]);
      const m = onnx.ModelProto.decode(r.bytes!);
      expect(m.graph!.input[0]!.type!.tensorType!.shape!.dim!.map((x) => Number(x.dimValue))).toEqual([1, 3, 30, 22]);
      const s = await openSession(r.bytes!);
      sessions.push(s);
      const x = image(30, 22);
      const y = (await s.run({ x: { dtype: 'float32', dims: [1, 3, 30, 22], data: x } }))['y']!;
      expect(y.dims).toEqual([1, 16]);
      const want = reference(x, 30, 22);
      want.forEach((v, i) => expect(Math.abs((y.data as Float32Array)[i]! - v)).toBeLessThan(1e-4));
    }
    // a -1 in the dict keeps that dim dynamic
    const r2 = await convertToOnnx(d, { inputShapes: { x: [-1, 3, 32, 32] } });
    expect(r2.inputs[0]!.shape).toEqual([-1, 3, 32, 32]);
  });

  it('CLI: pins through --input_shape_dict; a wrong name, rank or JSON is a usage error before any work', () => {
    const d = program();
    const out = join(dir, 'cli.onnx');
    const r = cliJson<{ inputs: { shape: number[] }[]; outputs: { shape: number[] }[]; opset: number; validation: { outputs: { dims: number[] }[] } }>(['onnx', '--model_dir', d, '--save_file', out, '--engine', 'native', '--input_shape_dict', '{"x":[2,3,64,48]}']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.inputs[0]!.shape).toEqual([2, 3, 64, 48]);
    // the output's shape follows (conv, relu, adaptive pool, flatten) and is declared static; the run agrees
    expect(r.json.outputs[0]!.shape).toEqual([2, 16]);
    expect(r.json.validation.outputs[0]!.dims).toEqual([2, 16]);
    expect(r.json.opset).toBe(9);
    for (const [arg, code] of [['{"image":[1,3,8,8]}', 'E_ONNX_INPUT_SHAPE'], ['{"x":[1,3,8]}', 'E_ONNX_INPUT_SHAPE'], ['{"x":[1,4,8,8]}', 'E_ONNX_INPUT_SHAPE'], ['x:1,3', 'E_USAGE']] as const) {
      const bad = join(dir, 'bad.onnx');
      const b = cliJson<{ error: { code: string } }>(['onnx', '--model_dir', d, '--save_file', bad, '--engine', 'native', '--input_shape_dict', arg]);
      // exit 2 is E_USAGE only; a shape that does not fit the model is bad input (exit 1)
      expect(b.code, arg).toBe(code === 'E_USAGE' ? 2 : 1);
      expect(b.json.error.code, arg).toBe(code);
      expect(existsSync(bad)).toBe(false);
    }
  });
});

describe('opset choice reads constant operands', () => {
  it('PIR adaptive pool2d whose ksize comes from full_int_array: default opset is raised for the run-time size, and the model runs', async () => {
    const v = (name: string, shape: number[], dtype: 'float32' | 'int64' = 'float32') => ({ name, dtype, shape, lodLevel: 0 });
    const vars = new Map([v('x', [-1, 3, -1, -1]), v('ks', [2], 'int64'), v('y', [-1, 3, 2, 2])].map((t) => [t.name, { ...t, persistable: false }]));
    const m: LoadedModel = {
      format: 'paddle-pir', modelFile: 'mem', paramsFile: null, paramsLayout: 'none', feeds: [v('x', [-1, 3, -1, -1])], fetches: [v('y', [-1, 3, 2, 2])],
      blocks: [{ idx: 0, parentIdx: -1, vars, ops: [
        pirOp('data', {}, { 0: ['x'] }, { name: 'x' }),
        pirOp('full_int_array', {}, { 0: ['ks'] }, { value: [2, 2], dtype: 'int64' }),
        pirOp('pool2d', { 0: ['x'], 1: ['ks'] }, { 0: ['y'] }, { pooling_type: 'max', adaptive: true, global_pooling: false, strides: [1, 1], paddings: [0, 0], ceil_mode: false, exclusive: true, data_format: 'NCHW', padding_algorithm: 'EXPLICIT' }),
        pirOp('fetch', { 0: ['y'] }, {}, { name: 'y' }),
      ] }],
      params: [], paramNames: [], warnings: [], readParam: () => { throw new Error('no params'); }, programBytes: new Uint8Array(0),
    };
    const r = await convertToOnnx('mem', { model: m });
    expect(r.opset).toBeGreaterThanOrEqual(10);
    const s = await openSession(r.bytes!);
    sessions.push(s);
    const x = image(8, 6);
    const y = (await s.run({ x: { dtype: 'float32', dims: [1, 3, 8, 6], data: x } }))['y']!;
    expect(y.dims).toEqual([1, 3, 2, 2]);
    // window (c, i, j): rows 4i..4i+3, cols 3j..3j+2
    for (let c = 0; c < 3; c++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      let mx = -Infinity;
      for (let a = 4 * i; a < 4 * i + 4; a++) for (let b = 3 * j; b < 3 * j + 3; b++) mx = Math.max(mx, x[(c * 8 + a) * 6 + b]!);
      expect((y.data as Float32Array)[(c * 2 + i) * 2 + j]).toBe(mx);
    }
  });
});

describe('paddle2onnx compatibility flags', () => {
  it('notes say what each flag means here; --export_fp16_model True is refused; booleans are True/False', () => {
    const d = program();
    const out = join(dir, 'flags.onnx');
    const r = cliJson<{ notes: string[] }>(['onnx', '--model_dir', d, '--save_file', out, '--engine', 'native',
      '--enable_onnx_checker', 'True', '--deploy_backend', 'tensorrt', '--enable_dev_version', 'False', '--export_fp16_model', 'False', '--enable_auto_update_opset', 'True',
      '--save_calibration_file', join(dir, 'calibration.cache')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.notes.join('\n')).toMatch(/--enable_onnx_checker: (onnx\.checker \(full check\) passed|no python3 with the onnx package here)/);
    expect(r.json.notes.join('\n')).toMatch(/--deploy_backend tensorrt: /);
    expect(r.json.notes.join('\n')).toMatch(/--enable_dev_version: no effect/);
    expect(r.json.notes.join('\n')).toMatch(/--save_calibration_file: .*no TensorRT calibration cache/);
    expect(existsSync(join(dir, 'calibration.cache'))).toBe(false);
    const fp16 = cliJson<{ error: { code: string; message: string } }>(['onnx', '--model_dir', d, '--save_file', join(dir, 'fp16.onnx'), '--engine', 'native', '--export_fp16_model', 'True']);
    expect(fp16.code).toBe(2);
    expect(fp16.json.error.message).toMatch(/float32 models only/);
    const badBool = cliJson<{ error: { code: string } }>(['onnx', '--model_dir', d, '--save_file', join(dir, 'b.onnx'), '--engine', 'native', '--enable_onnx_checker', 'maybe']);
    expect(badBool.code).toBe(2);
    expect(badBool.json.error.code).toBe('E_USAGE');
    const backend = cliJson<{ error: { code: string } }>(['onnx', '--model_dir', d, '--save_file', join(dir, 'b.onnx'), '--engine', 'native', '--deploy_backend', 'openvino']);
    expect(backend.code).toBe(2);
  });

  it('--enable_onnx_checker True: a checker that refuses the model is E_ONNX_CHECKER, and nothing is written', () => {
    const d = program();
    const fake = join(dir, 'fake-python');
    // answers `import onnx` like a python with onnx, then refuses every model like onnx.checker would
    writeFileSync(fake, '#!/bin/sh\ncase "$2" in "import onnx") exit 0;; esac\necho "onnx.onnx_cpp2py_export.checker.ValidationError: Field dims is bad" >&2\nexit 1\n', { mode: 0o755 });
    const out = join(dir, 'refused.onnx');
    const r = cliJson<{ error: { code: string; message: string } }>(['onnx', '--model_dir', d, '--save_file', out, '--engine', 'native', '--enable_onnx_checker', 'True'], { env: { ...process.env, PSERVE_PYTHON: fake } });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_ONNX_CHECKER');
    expect(r.json.error.message).toMatch(/ValidationError: Field dims is bad/);
    expect(existsSync(out)).toBe(false);
  });

  it('--external_filename names the external data file', async () => {
    const d = program();
    const file = join(dir, 'ext.onnx');
    const r = await convertToOnnx(d, { saveFile: file, externalDataThreshold: 100, externalDataName: 'weights.bin' });
    expect(r.externalDataFile).toBe(join(dir, 'weights.bin'));
    // the only weight here is small (kept in the model), so the data file is empty but named as asked
    expect(readFileSync(join(dir, 'weights.bin')).byteLength).toBe(0);
    expect(existsSync(join(dir, 'ext.onnx.data'))).toBe(false);
  });
});

describeShared('--input_shape_dict on real programs', () => {
  // the carried-forward shapes must not change a single number: same graph semantics, static dims
  it.each([
    ['ppocrv3_det', {}, { x: [1, 3, 96, 160] }],
    ['zoo/ch_PP-OCRv3_rec/synthetic', {}, { x: [1, 3, 48, 320] }],
    ['zoo/ppyolo_tiny', { modelFilename: 'model.pdmodel', paramsFilename: 'model.pdiparams' }, { image: [1, 3, 320, 320] }],
    ['pplcnet_textline_ori_pir', {}, { x: [1, 3, 80, 160] }],
  ] as const)('%s: pinned and unpinned conversions agree', async (name, files, pin) => {
    const m = loadModel(shared(name), { ...files, params: 'require' });
    const a = await convertToOnnx(shared(name), { model: m });
    const b = await convertToOnnx(shared(name), { model: m, inputShapes: pin as Record<string, number[]> });
    const feeds: Record<string, HostTensor> = {};
    for (const f of m.feeds) {
      const dims = (pin as Record<string, number[]>)[f.name] ?? f.shape.map((d) => (d < 0 ? 1 : d));
      if (f.name === 'im_shape') feeds[f.name] = { dtype: 'float32', dims, data: Float32Array.of(320, 320) };
      else if (f.name === 'scale_factor') feeds[f.name] = { dtype: 'float32', dims, data: Float32Array.of(1, 1) };
      else feeds[f.name] = { dtype: 'float32', dims, data: image(dims[2]!, dims[3]!) };
    }
    const sa = await openSession(a.bytes!); const sb = await openSession(b.bytes!);
    sessions.push(sa, sb);
    const ra = await sa.run(feeds); const rb = await sb.run(feeds);
    for (const k of Object.keys(ra)) {
      expect(rb[k]!.dims).toEqual(ra[k]!.dims);
      const x = ra[k]!.data as ArrayLike<number>; const y = rb[k]!.data as ArrayLike<number>;
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(Number(x[i]) - Number(y[i])));
      expect(worst, k).toBeLessThanOrEqual(1e-5);
    }
  });
});

describeShared('opset choice on a real detector', () => {
  it('ppocrv3_det: default is the lowest its ops need (11, for Resize); --opset_version 9 with --enable_auto_update_opset True is raised to it', () => {
    const out = join(dir, 'det.onnx');
    const a = cliJson<{ opset: number }>(['onnx', '--model_dir', shared('ppocrv3_det'), '--save_file', out, '--engine', 'native', '--no-validate']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json.opset).toBe(11);
    const b = cliJson<{ opset: number }>(['onnx', '--model_dir', shared('ppocrv3_det'), '--save_file', out, '--engine', 'native', '--no-validate', '--opset_version', '9', '--enable_auto_update_opset', 'True']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json.opset).toBe(11);
  });
});
