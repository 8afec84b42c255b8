/**
 * Tensor-op mappers of the native ONNX engine, each against a float64 reference written here from
 * Paddle's documented semantics: small Paddle programs (legacy through ProgramBuilder, PIR as the
 * loaded op list), converted at every opset the mapper claims (from the engine's lowest up), run in
 * onnxruntime at batch 1 and 2.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { convertToOnnx, MIN_OPSET, MAX_OPSET } from '../src/convert/onnx/index.js';
import { PserveError } from '../src/errors.js';
import { ProgramBuilder, seededFloats, type BuilderAttr } from '../src/formats/program-builder.js';
import { loadModel, type LoadedModel } from '../src/model/load-model.js';
import { encodeTensorRecord } from '../src/formats/pdiparams.js';
import { varTypeFromDtype } from '../src/model/dtype.js';
import type { AttrValue, OpNode, TensorSpec, VarSpec } from '../src/model/types.js';
import type { DType } from '../src/model/dtype.js';
import { openSession, type HostTensor, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import { PY, pyHas, shared, tempDir } from './helpers.js';

const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });
const root = tempDir('pserve-tensor-ops-');
let seq = 0;

// ---------- a small float64 n-d array for the references ----------
interface Nd { shape: number[]; data: number[] }
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
function stridesOf(s: number[]): number[] {
  const r = new Array(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) r[i] = r[i + 1] * s[i + 1]!;
  return r;
}
function unravel(i: number, s: number[]): number[] {
  const st = stridesOf(s);
  return s.map((_, k) => Math.floor(i / st[k]!) % s[k]!);
}
function at(t: Nd, idx: number[]): number {
  let off = 0;
  for (let k = 0; k < idx.length; k++) off = off * t.shape[k]! + idx[k]!;
  return t.data[off]!;
}
/** a new array of `shape`, element [i, j, ...] = fn([i, j, ...]) */
function nd(shape: number[], fn: (idx: number[]) => number): Nd {
  const n = numel(shape);
  const data = new Array<number>(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    data[i] = fn(idx.slice());
    for (let k = shape.length - 1; k >= 0; k--) { if (++idx[k]! < shape[k]!) break; idx[k] = 0; }
  }
  return { shape, data };
}

// ---------- host tensors ----------
function f32(shape: number[], seed: number, scale = 1): HostTensor {
  return { dtype: 'float32', dims: shape, data: seededFloats(numel(shape), seed, scale) };
}
function i64(shape: number[], values: number[]): HostTensor {
  return { dtype: 'int64', dims: shape, data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}
function i32(shape: number[], values: number[]): HostTensor {
  return { dtype: 'int32', dims: shape, data: Int32Array.from(values) };
}
function bool(shape: number[], values: number[]): HostTensor {
  return { dtype: 'bool', dims: shape, data: Uint8Array.from(values) };
}
function fromHost(h: HostTensor): Nd {
  return { shape: [...h.dims], data: Array.from(h.data as ArrayLike<number | bigint>, (v) => Number(v)) };
}
function expectNd(h: HostTensor | undefined, ref: Nd, tol = 1e-6, what = ''): void {
  expect(h, `${what}: missing output`).toBeDefined();
  expect([...h!.dims], `${what}: shape`).toEqual(ref.shape);
  const got = fromHost(h!).data;
  for (let i = 0; i < ref.data.length; i++) {
    const e = ref.data[i]!;
    const g = got[i]!;
    if (Number.isNaN(e)) { expect(Number.isNaN(g), `${what} [${i}]`).toBe(true); continue; }
    if (Math.abs(g - e) > tol * Math.max(1, Math.abs(e))) expect(g, `${what} [${i}] of [${ref.shape}]`).toBeCloseTo(e, 5);
  }
}

// ---------- conversion + run ----------
/** opsets to try: the lowest the engine and the mapper allow, 13, and the newest */
function opsets(min: number, extra: number[] = []): number[] {
  const lo = Math.max(min, MIN_OPSET);
  return [...new Set([lo, 13, MAX_OPSET, ...extra])].filter((o) => o >= lo && o <= MAX_OPSET).sort((a, b) => a - b);
}

/** every converted model, for onnx.checker at the end */
const written: string[] = [];

async function sessionOf(bytes: Uint8Array): Promise<OnnxSession> {
  const file = join(root, `model${written.length}.onnx`);
  writeFileSync(file, bytes);
  written.push(file);
  const s = await openSession(bytes, { threads: 1 });
  sessions.push(s);
  return s;
}

async function legacy(b: ProgramBuilder, opset: number): Promise<OnnxSession> {
  const d = join(root, `m${seq++}`);
  mkdirSync(d);
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  const r = await convertToOnnx(d, { opsetVersion: opset });
  expect(r.opset).toBe(opset);
  return sessionOf(r.bytes!);
}

interface V { name: string; dtype: DType; shape: number[] }
function pirModel(feeds: V[], fetches: V[], vars: V[], ops: OpNode[]): LoadedModel {
  const spec = (v: V): TensorSpec => ({ name: v.name, dtype: v.dtype, shape: v.shape, lodLevel: 0 });
  const all = new Map<string, VarSpec>([...feeds, ...fetches, ...vars].map((v) => [v.name, { ...spec(v), persistable: false }]));
  const io: OpNode[] = [...feeds.map((f) => pop('data', {}, { 0: [f.name] }, { name: f.name })), ...ops, ...fetches.map((f) => pop('fetch', { 0: [f.name] }, {}, { name: f.name }))];
  return {
    format: 'paddle-pir', modelFile: 'mem', paramsFile: null, paramsLayout: 'none', feeds: feeds.map(spec), fetches: fetches.map(spec),
    blocks: [{ idx: 0, parentIdx: -1, ops: io, vars: all }], params: [], paramNames: [], warnings: [],
    readParam: () => { throw new Error('no params'); }, programBytes: new Uint8Array(0),
  };
}
function pop(type: string, inputs: Record<string, string[]>, outputs: Record<string, string[]>, attrs: Record<string, AttrValue> = {}): OpNode {
  return { type, inputs, outputs, attrs };
}
async function pir(m: LoadedModel, opset: number): Promise<OnnxSession> {
  const r = await convertToOnnx('mem', { model: m, opsetVersion: opset });
  return sessionOf(r.bytes!);
}

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; return 'no error'; } catch (e) { expect(e).toBeInstanceOf(PserveError); return (e as PserveError).code; }
}

/** A legacy program: feeds, then one op per call, fetching the named outputs. */
function prog(feeds: [string, DType, number[]][], vars: [string, DType, number[]][], ops: [string, Record<string, string[]>, Record<string, string[]>, Record<string, BuilderAttr>?][], fetch: string[]): ProgramBuilder {
  const b = new ProgramBuilder();
  for (const [n, d, s] of feeds) b.feed(n, d, s);
  for (const [n, d, s] of vars) b.variable(n, d, s);
  for (const [t, i, o, a] of ops) b.op(t, i, o, a ?? {});
  for (const f of fetch) b.fetch(f);
  return b;
}

/** For each opset: convert once, run at batch 1 and 2, check. */
async function each(min: number, make: () => ProgramBuilder | LoadedModel, feeds: (batch: number) => Record<string, HostTensor>, check: (out: Record<string, HostTensor>, inp: Record<string, Nd>, batch: number, opset: number) => void, extra: number[] = []): Promise<void> {
  for (const opset of opsets(min, extra)) {
    const m = make();
    const s = m instanceof ProgramBuilder ? await legacy(m, opset) : await pir(m, opset);
    for (const batch of [1, 2]) {
      const f = feeds(batch);
      const out = await s.run(f);
      check(out, Object.fromEntries(Object.entries(f).map(([k, v]) => [k, fromHost(v)])), batch, opset);
    }
  }
}

const fc = (out: string, dtype: number, shape: number[], value: number): [string, Record<string, string[]>, Record<string, string[]>, Record<string, BuilderAttr>] =>
  ['fill_constant', {}, { Out: [out] }, { dtype, shape, value: { f: value }, str_value: String(value) }];

describe('tensor ops: copies, casts and constants', () => {
  it('assign copies; assign onto itself (in place) keeps the value', async () => {
    await each(1, () => prog([['x', 'float32', [-1, 3, 4]]], [['y', 'float32', [-1, 3, 4]]], [
      ['assign', { X: ['x'] }, { Out: ['y'] }], ['assign', { X: ['y'] }, { Out: ['y'] }],
    ], ['y']), (b) => ({ x: f32([b, 3, 4], 1) }), (o, i) => expectNd(o['y'], i['x']!, 0, 'assign'));
  });

  it('cast by VarType code: float -> int32 truncates toward zero, -> bool is nonzero, bool -> float; a constant input is folded', async () => {
    await each(6, () => prog([['x', 'float32', [-1, 6]]], [['a', 'int32', [-1, 6]], ['c', 'bool', [-1, 6]], ['d', 'float32', [-1, 6]],
      ['k', 'float64', [1]], ['k32', 'float32', [1]], ['e', 'float32', [-1, 6]]], [
      ['cast', { X: ['x'] }, { Out: ['a'] }, { in_dtype: 5, out_dtype: 2 }],
      ['cast', { X: ['x'] }, { Out: ['c'] }, { in_dtype: 5, out_dtype: 0 }],
      ['cast', { X: ['c'] }, { Out: ['d'] }, { in_dtype: 0, out_dtype: 5 }],
      fc('k', 6, [1], 2.5),
      ['cast', { X: ['k'] }, { Out: ['k32'] }, { in_dtype: 6, out_dtype: 5 }],
      ['elementwise_add', { X: ['x'], Y: ['k32'] }, { Out: ['e'] }, { axis: -1 }],
    ], ['a', 'c', 'd', 'e']), (b) => ({ x: { dtype: 'float32', dims: [b, 6], data: Float32Array.from([-2.7, -0.5, 0, 0.4, 1.9, 3, 7.5, -7.5, 0, 0, 1e-3, -1e-3].slice(0, 6 * b)) } }), (o, i) => {
      const x = i['x']!;
      expect(o['a']!.dtype).toBe('int32');
      expectNd(o['a'], { shape: x.shape, data: x.data.map(Math.trunc) }, 0, 'int32');
      expect(o['c']!.dtype).toBe('bool');
      expectNd(o['c'], { shape: x.shape, data: x.data.map((v) => (v !== 0 ? 1 : 0)) }, 0, 'bool');
      expectNd(o['d'], { shape: x.shape, data: x.data.map((v) => (v !== 0 ? 1 : 0)) }, 0, 'bool->float');
      expectNd(o['e'], { shape: x.shape, data: x.data.map((v) => Math.fround(v) + 2.5) }, 1e-6, 'folded');
    });
  });

  it('PIR cast (dtype by name) and full_like (value operand constant or computed, dtype)', async () => {
    await each(9, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 4] }, { name: 'w', dtype: 'float32', shape: [] }],
      [{ name: 'y', dtype: 'int64', shape: [-1, 4] }, { name: 'z', dtype: 'float32', shape: [-1, 4] }, { name: 'zi', dtype: 'int32', shape: [-1, 4] }],
      [{ name: 'v', dtype: 'float32', shape: [1] }], [
        pop('cast', { 0: ['x'] }, { 0: ['y'] }, { dtype: 'int64' }),
        pop('full', {}, { 0: ['v'] }, { shape: [1], value: -1.5, dtype: 'float32' }),
        pop('full_like', { 0: ['x'], 1: ['v'] }, { 0: ['z'] }, { dtype: 'float32' }),
        pop('full_like', { 0: ['x'], 1: ['w'] }, { 0: ['zi'] }, { dtype: 'int32' }),
      ]), (b) => ({ x: f32([b, 4], 3, 5), w: { dtype: 'float32', dims: [], data: Float32Array.from([7.8]) } }), (o, i) => {
      const x = i['x']!;
      expectNd(o['y'], { shape: x.shape, data: x.data.map(Math.trunc) }, 0, 'cast');
      expectNd(o['z'], nd(x.shape, () => -1.5), 0, 'full_like');
      expect(o['zi']!.dtype).toBe('int32');
      expectNd(o['zi'], nd(x.shape, () => 7), 0, 'full_like computed value');
    });
  });

  it('assign_value (int64_values, fp32_values with shape) and PIR assign_value_ (values) are constants', async () => {
    await each(1, () => prog([['x', 'float32', [-1, 2, 2]]], [['c', 'float32', [2, 2]], ['y', 'float32', [-1, 2, 2]], ['n', 'int64', [1]], ['nf', 'float32', [1]], ['z', 'float32', [-1, 2, 2]]], [
      ['assign_value', {}, { Out: ['c'] }, { dtype: 5, shape: [2, 2], fp32_values: { floats: [0.5, -1, 2, 4] } }],
      ['elementwise_mul', { X: ['x'], Y: ['c'] }, { Out: ['y'] }, { axis: -1 }],
      ['assign_value', {}, { Out: ['n'] }, { dtype: 3, shape: [1], int64_values: { longs: [500] } }],
      ['cast', { X: ['n'] }, { Out: ['nf'] }, { in_dtype: 3, out_dtype: 5 }],
      ['elementwise_add', { X: ['x'], Y: ['nf'] }, { Out: ['z'] }, { axis: -1 }],
    ], ['y', 'z']), (b) => ({ x: f32([b, 2, 2], 4) }), (o, i) => {
      const x = i['x']!;
      const c = [0.5, -1, 2, 4];
      expectNd(o['y'], { shape: x.shape, data: x.data.map((v, k) => v * c[k % 4]!) }, 1e-6, 'fp32_values');
      expectNd(o['z'], { shape: x.shape, data: x.data.map((v) => v + 500) }, 1e-6, 'int64_values');
    });
    await each(9, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 3] }], [{ name: 'y', dtype: 'float32', shape: [-1, 3] }],
      [{ name: 'buf', dtype: 'float32', shape: [3] }, { name: 'c', dtype: 'float32', shape: [3] }], [
        pop('full', {}, { 0: ['buf'] }, { shape: [3], value: 0, dtype: 'float32' }),
        pop('assign_value_', { 0: ['buf'] }, { 0: ['c'] }, { shape: [3], dtype: 'float32', values: [1, 2, 3] }),
        pop('add', { 0: ['x'], 1: ['c'] }, { 0: ['y'] }),
      ]), (b) => ({ x: f32([b, 3], 5) }), (o, i) => {
      expectNd(o['y'], { shape: i['x']!.shape, data: i['x']!.data.map((v, k) => v + [1, 2, 3][k % 3]!) }, 1e-6, 'PIR assign_value_');
    });
  });

  it('fill_constant_batch_size_like takes the input dim input_dim_idx into output_dim_idx; fill_any_like / fill_zeros_like follow the input', async () => {
    await each(9, () => prog([['x', 'float32', [-1, 5, 7]]], [['a', 'float32', [4, -1, 64]], ['b', 'float32', [-1, 3]], ['c', 'int32', [-1, 5, 7]], ['d', 'float32', [-1, 5, 7]]], [
      ['fill_constant_batch_size_like', { Input: ['x'] }, { Out: ['a'] }, { shape: [4, -1, 64], input_dim_idx: 0, output_dim_idx: 1, value: { f: 0 }, str_value: '0.0', dtype: 5 }],
      ['fill_constant_batch_size_like', { Input: ['x'] }, { Out: ['b'] }, { shape: [-1, 3], input_dim_idx: 2, output_dim_idx: 0, value: { f: 1.25 }, str_value: '', dtype: 5 }],
      ['fill_any_like', { X: ['x'] }, { Out: ['c'] }, { value: { f: 3.7 }, dtype: 2 }],
      ['fill_zeros_like', { X: ['x'] }, { Out: ['d'] }],
    ], ['a', 'b', 'c', 'd']), (b) => ({ x: f32([b, 5, 7], 6) }), (o, _i, b) => {
      expectNd(o['a'], nd([4, b, 64], () => 0), 0, 'batch dim to axis 1');
      expectNd(o['b'], nd([7, 3], () => 1.25), 0, 'dim 2 to axis 0');
      expect(o['c']!.dtype).toBe('int32');
      expectNd(o['c'], nd([b, 5, 7], () => 3), 0, 'fill_any_like int32');
      expectNd(o['d'], nd([b, 5, 7], () => 0), 0, 'zeros');
    });
  });

  it('size counts elements (int64); eye with num_columns -1 is square', async () => {
    await each(9, () => prog([['x', 'float32', [-1, 3, 4]]], [['n', 'int64', [1]], ['e', 'float32', [3, 5]], ['e2', 'int64', [2, 2]]], [
      ['size', { Input: ['x'] }, { Out: ['n'] }],
      ['eye', {}, { Out: ['e'] }, { num_rows: 3, num_columns: 5, dtype: 5 }],
      ['eye', {}, { Out: ['e2'] }, { num_rows: 2, num_columns: -1, dtype: 3 }],
    ], ['n', 'e', 'e2']), (b) => ({ x: f32([b, 3, 4], 7) }), (o, _i, b) => {
      expectNd(o['n'], { shape: [1], data: [12 * b] }, 0, 'size');
      expectNd(o['e'], nd([3, 5], ([r, c]) => (r === c ? 1 : 0)), 0, 'eye 3x5');
      expectNd(o['e2'], nd([2, 2], ([r, c]) => (r === c ? 1 : 0)), 0, 'eye 2');
    });
  });
});

/** Paddle split: reference by section sizes along axis */
function splitRef(x: Nd, axis: number, sizes: number[]): Nd[] {
  let start = 0;
  return sizes.map((s) => {
    const shape = x.shape.map((d, k) => (k === axis ? s : d));
    const o = start;
    start += s;
    return nd(shape, (idx) => at(x, idx.map((v, k) => (k === axis ? v + o : v))));
  });
}

describe('tensor ops: split, unbind, unstack', () => {
  it('split by num, by sections with -1 (static and batch dim), SectionsTensorList and AxisTensor', async () => {
    await each(2, () => prog([['x', 'float32', [-1, 6, 4]]], [
      ['a0', 'float32', [-1, 2, 4]], ['a1', 'float32', [-1, 2, 4]], ['a2', 'float32', [-1, 2, 4]],
      ['b0', 'float32', [-1, 1, 4]], ['b1', 'float32', [-1, 3, 4]], ['b2', 'float32', [-1, 2, 4]],
      ['c0', 'float32', [1, 6, 4]], ['c1', 'float32', [-1, 6, 4]],
      ['s0', 'int32', [1]], ['s1', 'int32', [1]], ['ax', 'int32', [1]], ['d0', 'float32', [-1, 6, 1]], ['d1', 'float32', [-1, 6, 3]],
    ], [
      ['split', { X: ['x'] }, { Out: ['a0', 'a1', 'a2'] }, { axis: 1, num: 3, sections: [] }],
      ['split', { X: ['x'] }, { Out: ['b0', 'b1', 'b2'] }, { axis: -2, num: 0, sections: [1, -1, 2] }],
      ['split', { X: ['x'] }, { Out: ['c0', 'c1'] }, { axis: 0, num: 0, sections: [1, -1] }],
      fc('s0', 2, [1], 1), fc('s1', 2, [1], 3), fc('ax', 2, [1], 2),
      ['split', { X: ['x'], SectionsTensorList: ['s0', 's1'], AxisTensor: ['ax'] }, { Out: ['d0', 'd1'] }, { axis: 0, num: 0, sections: [] }],
    ], ['a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'c0', 'c1', 'd0', 'd1']), (b) => ({ x: f32([b, 6, 4], 11) }), (o, i, b) => {
      const x = i['x']!;
      splitRef(x, 1, [2, 2, 2]).forEach((r, k) => expectNd(o[`a${k}`], r, 0, `num ${k}`));
      splitRef(x, 1, [1, 3, 2]).forEach((r, k) => expectNd(o[`b${k}`], r, 0, `sections ${k}`));
      splitRef(x, 0, [1, b - 1]).forEach((r, k) => expectNd(o[`c${k}`], r, 0, `batch sections ${k}`));
      splitRef(x, 2, [1, 3]).forEach((r, k) => expectNd(o[`d${k}`], r, 0, `tensor list ${k}`));
    });
  });

  it('PIR split (sections operand, axis operand) and split_with_num unpacked by builtin.split', async () => {
    await each(2, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 10, 3] }],
      ['p0', 'p1', 'p2', 'q0', 'q1'].map((n, k) => ({ name: n, dtype: 'float32' as DType, shape: [-1, [4, 1, 5, 5, 5][k]!, 3] })),
      [{ name: 'sec', dtype: 'int64', shape: [3] }, { name: 'ax', dtype: 'int32', shape: [1] }, { name: 'v', dtype: 'unknown', shape: [] }, { name: 'w', dtype: 'unknown', shape: [] }], [
        pop('full_int_array', {}, { 0: ['sec'] }, { value: [4, 1, -1], dtype: 'int64' }),
        pop('full', {}, { 0: ['ax'] }, { shape: [1], value: 1, dtype: 'int32' }),
        pop('split', { 0: ['x'], 1: ['sec'], 2: ['ax'] }, { 0: ['v'] }),
        pop('split', { 0: ['v'] }, { 0: ['p0'], 1: ['p1'], 2: ['p2'] }),
        pop('split_with_num', { 0: ['x'], 1: ['ax'] }, { 0: ['w'] }, { num: 2 }),
        pop('split', { 0: ['w'] }, { 0: ['q0'], 1: ['q1'] }),
      ]), (b) => ({ x: f32([b, 10, 3], 12) }), (o, i) => {
      splitRef(i['x']!, 1, [4, 1, 5]).forEach((r, k) => expectNd(o[`p${k}`], r, 0, `split ${k}`));
      splitRef(i['x']!, 1, [5, 5]).forEach((r, k) => expectNd(o[`q${k}`], r, 0, `split_with_num ${k}`));
    });
  });

  it('PIR split by sections known only at run time (a combine of two scalar inputs) from opset 13', async () => {
    await each(13, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 6] }, { name: 'a', dtype: 'int64', shape: [] }, { name: 'c', dtype: 'int64', shape: [] }],
      [{ name: 'p0', dtype: 'float32', shape: [-1, -1] }, { name: 'p1', dtype: 'float32', shape: [-1, -1] }],
      [{ name: 'l', dtype: 'unknown', shape: [] }, { name: 'ax', dtype: 'int32', shape: [] }, { name: 'v', dtype: 'unknown', shape: [] }], [
        pop('combine', { 0: ['a'], 1: ['c'] }, { 0: ['l'] }),
        pop('full', {}, { 0: ['ax'] }, { shape: [], value: 1, dtype: 'int32' }),
        pop('split', { 0: ['x'], 1: ['l'], 2: ['ax'] }, { 0: ['v'] }),
        pop('split', { 0: ['v'] }, { 0: ['p0'], 1: ['p1'] }),
      ]), (b) => ({ x: f32([b, 6], 14), a: i64([], [b + 1]), c: i64([], [5 - b]) }), (o, i, b) => {
      splitRef(i['x']!, 1, [b + 1, 5 - b]).forEach((r, k) => expectNd(o[`p${k}`], r, 0, `run-time sections ${k}`));
    });
  });

  it('unbind and unstack remove the axis', async () => {
    await each(1, () => prog([['x', 'float32', [-1, 3, 2]]], [['u0', 'float32', [-1, 2]], ['u1', 'float32', [-1, 2]], ['u2', 'float32', [-1, 2]], ['v0', 'float32', [-1, 3]], ['v1', 'float32', [-1, 3]]], [
      ['unbind', { X: ['x'] }, { Out: ['u0', 'u1', 'u2'] }, { axis: 1 }],
      ['unstack', { X: ['x'] }, { Y: ['v0', 'v1'] }, { axis: -1, num: 2 }],
    ], ['u0', 'u1', 'u2', 'v0', 'v1']), (b) => ({ x: f32([b, 3, 2], 13) }), (o, i, b) => {
      for (let k = 0; k < 3; k++) expectNd(o[`u${k}`], nd([b, 2], ([n, j]) => at(i['x']!, [n!, k, j!])), 0, `unbind ${k}`);
      for (let k = 0; k < 2; k++) expectNd(o[`v${k}`], nd([b, 3], ([n, j]) => at(i['x']!, [n!, j!, k])), 0, `unstack ${k}`);
    });
  });
});

describe('tensor ops: indexing', () => {
  it('gather and index_select at every opset the engine writes (Gather); a negative axis is resolved from the rank', async () => {
    await each(1, () => prog([['x', 'float32', [-1, 5, 3]], ['i', 'int64', [4]]], [['g', 'float32', [-1, 4, 3]], ['s', 'float32', [-1, 5, 4]]], [
      ['gather', { X: ['x'], Index: ['i'] }, { Out: ['g'] }, { axis: -2 }],
      ['index_select', { X: ['x'], Index: ['i'] }, { Out: ['s'] }, { dim: 2 }],
    ], ['g', 's']), (b) => ({ x: f32([b, 5, 3], 20), i: i64([4], [2, 0, 1, 1]) }), (o, i, b) => {
      expectNd(o['g'], nd([b, 4, 3], ([n, k, c]) => at(i['x']!, [n!, [2, 0, 1, 1][k!]!, c!])), 0, 'gather');
      expectNd(o['s'], nd([b, 5, 4], ([n, r, k]) => at(i['x']!, [n!, r!, [2, 0, 1, 1][k!]!])), 0, 'index_select');
    });
  });

  it('gather (axis, Axis tensor, [N,1] index), gather_nd, index_select, index_sample, take_along_axis', async () => {
    await each(11, () => prog([['x', 'float32', [-1, 5, 3]], ['i', 'int64', [4]], ['j', 'int32', [2, 1]], ['nd', 'int64', [-1, 2, 2]], ['s', 'int64', [-1, 4]], ['t', 'int64', [-1, 5, 2]]], [
      ['g0', 'float32', [-1, 4, 3]], ['ax', 'int64', [1]], ['g1', 'float32', [-1, 5, 2]], ['g2', 'float32', [-1, 2, 3]], ['n', 'float32', [-1, 2, 3]],
      ['sel', 'float32', [-1, 4, 3]], ['xs', 'float32', [-1, 15]], ['smp', 'float32', [-1, 4]], ['tk', 'float32', [-1, 5, 2]],
    ], [
      ['gather', { X: ['x'], Index: ['i'] }, { Out: ['g0'] }, { axis: 1 }],
      fc('ax', 3, [1], 2),
      ['gather', { X: ['x'], Index: ['j'], Axis: ['ax'] }, { Out: ['g1'] }],
      ['gather', { X: ['x'], Index: ['j'] }, { Out: ['g2'] }, { axis: 1 }],
      ['gather_nd', { X: ['x'], Index: ['nd'] }, { Out: ['n'] }],
      ['index_select', { X: ['x'], Index: ['i'] }, { Out: ['sel'] }, { dim: -2 }],
      ['reshape2', { X: ['x'] }, { Out: ['xs'] }, { shape: [0, 15] }],
      ['index_sample', { X: ['xs'], Index: ['s'] }, { Out: ['smp'] }],
      ['take_along_axis', { Input: ['x'], Index: ['t'] }, { Result: ['tk'] }, { Axis: 2 }],
    ], ['g0', 'g1', 'g2', 'n', 'sel', 'smp', 'tk']), (b) => ({
      x: f32([b, 5, 3], 21), i: i64([4], [4, 0, 2, 2]), j: i32([2, 1], [2, 0]),
      nd: i64([b, 2, 2], [b - 1, 4, 0, 0, b - 1, 2, 0, 1].slice(0, 4 * b)),
      s: i64([b, 4], [14, 0, 7, 7, 3, 1, 12, 5].slice(0, 4 * b)),
      t: i64([b, 5, 2], Array.from({ length: 10 * b }, (_, k) => (k * 7) % 3)),
    }), (o, i, b) => {
      const x = i['x']!;
      expectNd(o['g0'], nd([b, 4, 3], ([n, k, c]) => at(x, [n!, [4, 0, 2, 2][k!]!, c!])), 0, 'gather axis 1');
      expectNd(o['g1'], nd([b, 5, 2], ([n, r, k]) => at(x, [n!, r!, [2, 0][k!]!])), 0, 'gather Axis tensor');
      expectNd(o['g2'], nd([b, 2, 3], ([n, k, c]) => at(x, [n!, [2, 0][k!]!, c!])), 0, 'gather [N,1] index');
      const ndi = i['nd']!;
      expectNd(o['n'], nd([b, 2, 3], ([p, q, c]) => at(x, [at(ndi, [p!, q!, 0]), at(ndi, [p!, q!, 1]), c!])), 0, 'gather_nd');
      expectNd(o['sel'], nd([b, 4, 3], ([n, k, c]) => at(x, [n!, [4, 0, 2, 2][k!]!, c!])), 0, 'index_select');
      expectNd(o['smp'], nd([b, 4], ([n, k]) => x.data[n! * 15 + at(i['s']!, [n!, k!])]!), 0, 'index_sample');
      expectNd(o['tk'], nd([b, 5, 2], ([n, r, k]) => at(x, [n!, r!, at(i['t']!, [n!, r!, k!])])), 0, 'take_along_axis');
    });
  });

  it('scatter overwrite=true replaces rows; overwrite=false sums the updates of repeated ids into zeroed rows (below and from opset 16)', async () => {
    const ids = [3, 0, 3, 1];
    await each(11, () => prog([['x', 'float32', [-1, 4]], ['u', 'float32', [4, 4]], ['u1', 'float32', [3, 4]], ['id', 'int64', [4]], ['id1', 'int64', [3]]], [['a', 'float32', [-1, 4]], ['c', 'float32', [-1, 4]]], [
      ['scatter', { X: ['x'], Ids: ['id1'], Updates: ['u1'] }, { Out: ['a'] }, { overwrite: true }],
      ['scatter', { X: ['x'], Ids: ['id'], Updates: ['u'] }, { Out: ['c'] }, { overwrite: false }],
    ], ['a', 'c']), (b) => ({ x: f32([4 + b, 4], 31), u: f32([4, 4], 32), u1: f32([3, 4], 35), id: i64([4], ids), id1: i64([3], [2, 0, 4]) }), (o, i, b) => {
      const x = i['x']!;
      const u = i['u']!;
      const n = 4 + b;
      expectNd(o['a'], nd([n, 4], ([r, c]) => { const k = [2, 0, 4].lastIndexOf(r!); return k >= 0 ? at(i['u1']!, [k, c!]) : at(x, [r!, c!]); }), 1e-6, 'overwrite');
      expectNd(o['c'], nd([n, 4], ([r, c]) => {
        if (!ids.includes(r!)) return at(x, [r!, c!]);
        return ids.reduce((s, id, k) => (id === r ? s + at(u, [k, c!]) : s), 0);
      }), 1e-6, 'accumulate');
    }, [16]);
  });

  it('scatter_nd_add adds every update, duplicates included (below and from opset 16)', async () => {
    await each(11, () => prog([['x', 'float32', [3, 4, -1]], ['idx', 'int64', [5, 2]], ['u', 'float32', [5, -1]]], [['y', 'float32', [3, 4, -1]]], [
      ['scatter_nd_add', { X: ['x'], Index: ['idx'], Updates: ['u'] }, { Out: ['y'] }],
    ], ['y']), (b) => ({ x: f32([3, 4, b], 33), idx: i64([5, 2], [0, 1, 2, 3, 0, 1, 1, 0, 2, 3]), u: f32([5, b], 34) }), (o, i, b) => {
      const idx = [[0, 1], [2, 3], [0, 1], [1, 0], [2, 3]];
      expectNd(o['y'], nd([3, 4, b], ([p, q, r]) => idx.reduce((s, [a, c], k) => (a === p && c === q ? s + at(i['u']!, [k, r!]) : s), at(i['x']!, [p!, q!, r!]))), 1e-6, 'scatter_nd_add');
    }, [16]);
  });

  it('where picks by condition; where_index lists the true positions as [N, rank] int64', async () => {
    await each(9, () => prog([['c', 'bool', [-1, 3]], ['x', 'float32', [-1, 3]], ['y', 'float32', [-1, 3]]], [['w', 'float32', [-1, 3]], ['n', 'int64', [-1, 2]]], [
      ['where', { Condition: ['c'], X: ['x'], Y: ['y'] }, { Out: ['w'] }],
      ['where_index', { Condition: ['c'] }, { Out: ['n'] }],
    ], ['w', 'n']), (b) => ({ c: bool([b, 3], [1, 0, 1, 0, 0, 1].slice(0, 3 * b)), x: f32([b, 3], 41), y: f32([b, 3], 42) }), (o, i, b) => {
      const c = i['c']!;
      expectNd(o['w'], nd([b, 3], (k) => (at(c, k) ? at(i['x']!, k) : at(i['y']!, k))), 0, 'where');
      const pos: number[] = [];
      c.data.forEach((v, k) => { if (v) pos.push(...unravel(k, c.shape)); });
      expectNd(o['n'], { shape: [pos.length / 2, 2], data: pos }, 0, 'where_index');
    });
  });

  it('one_hot_v2: depth attribute or tensor, dtype; out-of-range and negative ids give zero rows (allow_out_of_range)', async () => {
    await each(9, () => prog([['x', 'int64', [-1, 3]]], [['a', 'float32', [-1, 3, 4]], ['d', 'int32', [1]], ['e', 'int64', [-1, 3, 5]]], [
      ['one_hot_v2', { X: ['x'] }, { Out: ['a'] }, { depth: 4, dtype: 5, allow_out_of_range: true }],
      fc('d', 2, [1], 5),
      ['one_hot_v2', { X: ['x'], depth_tensor: ['d'] }, { Out: ['e'] }, { depth: -1, dtype: 3, allow_out_of_range: true }],
    ], ['a', 'e']), (b) => ({ x: i64([b, 3], [0, 3, 4, -1, 2, 1].slice(0, 3 * b)) }), (o, i, b) => {
      const x = i['x']!;
      expectNd(o['a'], nd([b, 3, 4], ([n, k, c]) => (at(x, [n!, k!]) === c ? 1 : 0)), 0, 'depth 4');
      expect(o['e']!.dtype).toBe('int64');
      expectNd(o['e'], nd([b, 3, 5], ([n, k, c]) => (at(x, [n!, k!]) === c ? 1 : 0)), 0, 'depth tensor 5');
    });
  });
});

describe('tensor ops: broadcasting and repetition', () => {
  it('expand_v2 (-1 keeps, new leading dim, shape tensor list), expand (v1 tiles), expand_as_v2, tile (attribute, tensor, short list)', async () => {
    await each(8, () => prog([['x', 'float32', [-1, 1, 3]], ['y', 'float32', [-1, 4, 3]]], [
      ['e1', 'float32', [2, -1, 4, 3]], ['s0', 'int32', [1]], ['s1', 'int64', [1]], ['e2', 'float32', [-1, 5, 3]], ['v1', 'float32', [-1, 2, 6]],
      ['ea', 'float32', [-1, 4, 3]], ['t1', 'float32', [-1, 3, 6]], ['rt', 'int32', [2]], ['t2', 'float32', [-1, 2, 3]],
    ], [
      ['expand_v2', { X: ['x'] }, { Out: ['e1'] }, { shape: [2, -1, 4, -1] }],
      fc('s0', 2, [1], -1), fc('s1', 3, [1], 5),
      ['expand_v2', { X: ['x'], expand_shapes_tensor: ['s0', 's1', 's0'] }, { Out: ['e2'] }, { shape: [] }],
      ['expand', { X: ['x'] }, { Out: ['v1'] }, { expand_times: [1, 2, 2] }],
      ['expand_as_v2', { X: ['x'], Y: ['y'] }, { Out: ['ea'] }, { target_shape: [] }],
      ['tile', { X: ['x'] }, { Out: ['t1'] }, { repeat_times: [3, 2] }],
      ['assign_value', {}, { Out: ['rt'] }, { dtype: 2, shape: [2], int32_values: [2, 1] }],
      ['tile', { X: ['x'], RepeatTimes: ['rt'] }, { Out: ['t2'] }],
    ], ['e1', 'e2', 'v1', 'ea', 't1', 't2']), (b) => ({ x: f32([b, 1, 3], 51), y: f32([b, 4, 3], 52) }), (o, i, b) => {
      const x = i['x']!;
      expectNd(o['e1'], nd([2, b, 4, 3], ([, n, , c]) => at(x, [n!, 0, c!])), 0, 'expand_v2');
      expectNd(o['e2'], nd([b, 5, 3], ([n, , c]) => at(x, [n!, 0, c!])), 0, 'expand_v2 list');
      expectNd(o['v1'], nd([b, 2, 6], ([n, , c]) => at(x, [n!, 0, c! % 3])), 0, 'expand v1');
      expectNd(o['ea'], nd([b, 4, 3], ([n, , c]) => at(x, [n!, 0, c!])), 0, 'expand_as_v2');
      expectNd(o['t1'], nd([b, 3, 6], ([n, , c]) => at(x, [n!, 0, c! % 3])), 0, 'tile short list');
      expectNd(o['t2'], nd([b, 2, 3], ([n, , c]) => at(x, [n!, 0, c!])), 0, 'tile tensor');
    });
  });

  it('PIR expand (shape operand), tile (repeat_times operand) and a tile that adds a leading dim', async () => {
    await each(8, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 2] }], [{ name: 'e', dtype: 'float32', shape: [3, -1, 2] }, { name: 't', dtype: 'float32', shape: [2, -1, 4] }],
      [{ name: 's', dtype: 'int64', shape: [3] }, { name: 'r', dtype: 'int64', shape: [3] }], [
        pop('full_int_array', {}, { 0: ['s'] }, { value: [3, -1, 2], dtype: 'int64' }),
        pop('expand', { 0: ['x'], 1: ['s'] }, { 0: ['e'] }),
        pop('full_int_array', {}, { 0: ['r'] }, { value: [2, 1, 2], dtype: 'int64' }),
        pop('tile', { 0: ['x'], 1: ['r'] }, { 0: ['t'] }),
      ]), (b) => ({ x: f32([b, 2], 53) }), (o, i, b) => {
      expectNd(o['e'], nd([3, b, 2], ([, n, c]) => at(i['x']!, [n!, c!])), 0, 'PIR expand');
      expectNd(o['t'], nd([2, b, 4], ([, n, c]) => at(i['x']!, [n!, c! % 2])), 0, 'PIR tile');
    });
  });

  it('repeat_interleave by an int and by a per-index tensor', async () => {
    await each(9, () => prog([['x', 'float32', [-1, 3, 2]]], [['a', 'float32', [-1, 6, 2]], ['b2', 'float32', [-1, 3, 6]]], [
      ['repeat_interleave', { X: ['x'] }, { Out: ['a'] }, { Repeats: 2, dim: 1 }],
      ['repeat_interleave', { X: ['x'] }, { Out: ['b2'] }, { Repeats: 3, dim: -1 }],
    ], ['a', 'b2']), (b) => ({ x: f32([b, 3, 2], 54) }), (o, i, b) => {
      expectNd(o['a'], nd([b, 6, 2], ([n, k, c]) => at(i['x']!, [n!, Math.floor(k! / 2), c!])), 0, 'int repeats');
      expectNd(o['b2'], nd([b, 3, 6], ([n, k, c]) => at(i['x']!, [n!, k!, Math.floor(c! / 3)])), 0, 'int repeats last');
    });
    await each(11, () => prog([['x', 'float32', [-1, 3]], ['r', 'int64', [3]]], [['y', 'float32', [-1, -1]]], [
      ['repeat_interleave', { X: ['x'], RepeatsTensor: ['r'] }, { Out: ['y'] }, { dim: 1 }],
    ], ['y']), (b) => ({ x: f32([b, 3], 55), r: i64([3], [2, 0, 3]) }), (o, i, b) => {
      const src = [0, 0, 2, 2, 2];
      expectNd(o['y'], nd([b, 5], ([n, k]) => at(i['x']!, [n!, src[k!]!])), 0, 'tensor repeats');
    });
  });

  it('meshgrid (legacy list and PIR combine + builtin.split) spans "ij" grids', async () => {
    const check = (o: Record<string, HostTensor>, x: Nd, y: Nd, names: [string, string]) => {
      const nx = x.shape[0]!;
      const ny = y.shape[0]!;
      expectNd(o[names[0]], nd([nx, ny], ([p]) => x.data[p!]!), 0, 'grid 0');
      expectNd(o[names[1]], nd([nx, ny], ([, q]) => y.data[q!]!), 0, 'grid 1');
    };
    await each(8, () => prog([['x', 'float32', [-1]], ['y', 'float32', [3]]], [['gx', 'float32', [-1, 3]], ['gy', 'float32', [-1, 3]]], [
      ['meshgrid', { X: ['x', 'y'] }, { Out: ['gx', 'gy'] }],
    ], ['gx', 'gy']), (b) => ({ x: f32([b + 1], 56), y: f32([3], 57) }), (o, i) => check(o, i['x']!, i['y']!, ['gx', 'gy']));
    await each(8, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1] }, { name: 'y', dtype: 'float32', shape: [3] }],
      [{ name: 'gx', dtype: 'float32', shape: [-1, 3] }, { name: 'gy', dtype: 'float32', shape: [-1, 3] }], [{ name: 'l', dtype: 'unknown', shape: [] }, { name: 'm', dtype: 'unknown', shape: [] }], [
        pop('combine', { 0: ['x'], 1: ['y'] }, { 0: ['l'] }),
        pop('meshgrid', { 0: ['l'] }, { 0: ['m'] }),
        pop('split', { 0: ['m'] }, { 0: ['gx'], 1: ['gy'] }),
      ]), (b) => ({ x: f32([b + 1], 58), y: f32([3], 59) }), (o, i) => check(o, i['x']!, i['y']!, ['gx', 'gy']));
  });
});

describe('tensor ops: sequences and reordering', () => {
  it('range from tensors (float, run-time end) and from constants (int64, folded); PIR arange; linspace (float32, int32, num 1)', async () => {
    await each(11, () => prog([['e', 'float32', [1]], ['n', 'int32', [1]]], [
      ['s', 'float32', [1]], ['st', 'float32', [1]], ['r', 'float32', [-1]], ['a', 'int64', [1]], ['z', 'int64', [1]], ['c', 'int64', [1]], ['ri', 'int64', [-1]], ['f0', 'float32', [1]], ['f1', 'float32', [1]], ['fs', 'float32', [1]], ['rf', 'float32', [-1]],
      ['l0', 'float32', [1]], ['l1', 'float32', [1]], ['lf', 'float32', [-1]], ['li', 'int32', [-1]], ['one', 'int32', [1]], ['l2', 'float32', [1]],
    ], [
      fc('s', 5, [1], 0.5), fc('st', 5, [1], 0.75),
      ['range', { Start: ['s'], End: ['e'], Step: ['st'] }, { Out: ['r'] }],
      fc('a', 3, [1], 10), fc('z', 3, [1], -2), fc('c', 3, [1], -3),
      ['range', { Start: ['a'], End: ['z'], Step: ['c'] }, { Out: ['ri'] }],
      fc('f0', 5, [1], 0.1), fc('f1', 5, [1], 1), fc('fs', 5, [1], 0.1),
      ['range', { Start: ['f0'], End: ['f1'], Step: ['fs'] }, { Out: ['rf'] }],
      fc('l0', 5, [1], -1), fc('l1', 5, [1], 2),
      ['linspace', { Start: ['l0'], Stop: ['l1'], Num: ['n'] }, { Out: ['lf'] }, { dtype: 5 }],
      ['linspace', { Start: ['l0'], Stop: ['l1'], Num: ['n'] }, { Out: ['li'] }, { dtype: 2 }],
      fc('one', 2, [1], 1),
      ['linspace', { Start: ['l0'], Stop: ['l1'], Num: ['one'] }, { Out: ['l2'] }, { dtype: 5 }],
    ], ['r', 'ri', 'rf', 'lf', 'li', 'l2']), (b) => ({ e: { dtype: 'float32', dims: [1], data: Float32Array.from([3 + b]) }, n: i32([1], [4 + b]) }), (o, _i, b) => {
      const end = 3 + b;
      const n = Math.ceil((end - 0.5) / 0.75);
      expectNd(o['r'], nd([n], ([k]) => 0.5 + k! * 0.75), 1e-6, 'range float');
      expectNd(o['ri'], { shape: [4], data: [10, 7, 4, 1] }, 0, 'range int');
      // float32 throughout, as Paddle's kernel: size ceil((1 - 0.1f) / 0.1f) in float32 = 9, values accumulated
      const f = Math.fround;
      const acc: number[] = [];
      for (let k = 0, v = f(0.1); k < Math.ceil(f(f(1 - f(0.1)) / f(0.1))); k++, v = f(v + f(0.1))) acc.push(v);
      expect(acc.length).toBe(9);
      expectNd(o['rf'], { shape: [9], data: acc }, 0, 'range float constants');
      const num = 4 + b;
      const step = 3 / (num - 1);
      const lin = (k: number) => (k < Math.floor(num / 2) ? -1 + step * k : 2 - step * (num - 1 - k));
      expectNd(o['lf'], nd([num], ([k]) => lin(k!)), 1e-6, 'linspace');
      expectNd(o['li'], nd([num], ([k]) => Math.trunc(lin(k!))), 0, 'linspace int');
      expectNd(o['l2'], { shape: [1], data: [-1] }, 0, 'linspace num 1');
    });
    await each(11, () => pirModel([{ name: 'e', dtype: 'int64', shape: [] }], [{ name: 'r', dtype: 'float32', shape: [-1] }],
      [{ name: 's', dtype: 'int64', shape: [1] }, { name: 'st', dtype: 'int64', shape: [1] }], [
        pop('full', {}, { 0: ['s'] }, { shape: [1], value: 1, dtype: 'int64' }),
        pop('full', {}, { 0: ['st'] }, { shape: [1], value: 2, dtype: 'int64' }),
        pop('arange', { 0: ['s'], 1: ['e'], 2: ['st'] }, { 0: ['r'] }, { dtype: 'float32' }),
      ]), (b) => ({ e: i64([], [6 + b]) }), (o, _i, b) => {
      expectNd(o['r'], nd([Math.ceil((5 + b) / 2)], ([k]) => 1 + 2 * k!), 0, 'arange');
    });
  });

  it('flip and roll over declared dims (opset 9 too); reverse of the batch dim from opset 10, refused below', async () => {
    await each(9, () => prog([['x', 'float32', [-1, 3, 4]]], [['f', 'float32', [-1, 3, 4]], ['o', 'float32', [-1, 3, 4]]], [
      ['flip', { X: ['x'] }, { Out: ['f'] }, { axis: [1, -1] }],
      ['roll', { X: ['x'] }, { Out: ['o'] }, { shifts: [2, -5], axis: [1, 2] }],
    ], ['f', 'o']), (b) => ({ x: f32([b, 3, 4], 60) }), (o, i, b) => {
      expectNd(o['f'], nd([b, 3, 4], ([n, r, c]) => at(i['x']!, [n!, 2 - r!, 3 - c!])), 0, 'flip');
      expectNd(o['o'], nd([b, 3, 4], ([n, r, c]) => at(i['x']!, [n!, (r! + 1) % 3, (c! + 1) % 4])), 0, 'roll of declared dims');
    });
    if (MIN_OPSET <= 9) {
      const m = prog([['x', 'float32', [-1, 3]]], [['r', 'float32', [-1, 3]]], [['reverse', { X: ['x'] }, { Out: ['r'] }, { axis: [0] }]], ['r']);
      const d = join(root, `m${seq++}`);
      mkdirSync(d);
      writeFileSync(join(d, 'inference.pdmodel'), m.programBytes());
      expect(await code(convertToOnnx(d, { opsetVersion: 9 }))).toBe('E_ONNX_OPSET');
    }
  });

  it('reverse of the batch dim; roll with axes (negative shift, shift beyond the dim, run-time dim) and without (flattened)', async () => {
    await each(10, () => prog([['x', 'float32', [-1, 3, 4]]], [['r', 'float32', [-1, 3, 4]], ['o1', 'float32', [-1, 3, 4]], ['o2', 'float32', [-1, 3, 4]], ['o3', 'float32', [-1, 3, 4]]], [
      ['reverse', { X: ['x'] }, { Out: ['r'] }, { axis: [0] }],
      ['roll', { X: ['x'] }, { Out: ['o1'] }, { shifts: [-1, 6], axis: [1, 2] }],
      ['roll', { X: ['x'] }, { Out: ['o2'] }, { shifts: [5], axis: [] }],
      ['roll', { X: ['x'] }, { Out: ['o3'] }, { shifts: [1], axis: [0] }],
    ], ['r', 'o1', 'o2', 'o3']), (b) => ({ x: f32([b, 3, 4], 61) }), (o, i, b) => {
      const x = i['x']!;
      const m = (v: number, n: number) => ((v % n) + n) % n;
      expectNd(o['r'], nd([b, 3, 4], ([n, r, c]) => at(x, [b - 1 - n!, r!, c!])), 0, 'reverse batch');
      expectNd(o['o1'], nd([b, 3, 4], ([n, r, c]) => at(x, [n!, m(r! + 1, 3), m(c! - 6, 4)])), 0, 'roll axes');
      expectNd(o['o2'], { shape: [b, 3, 4], data: x.data.map((_, k) => x.data[m(k - 5, 12 * b)]!) }, 0, 'roll flat');
      expectNd(o['o3'], nd([b, 3, 4], ([n, r, c]) => at(x, [m(n! - 1, b), r!, c!])), 0, 'roll batch');
    });
  });

  it('top_k / top_k_v2 with a constant k and largest=true, and a descending argsort over a declared axis, convert from opset 9 (TopK-1) and 10', async () => {
    await each(9, () => prog([['x', 'float32', [-1, 5]]], [['a', 'float32', [-1, 2]], ['ai', 'int64', [-1, 2]], ['c', 'float32', [-1, 3]], ['ci', 'int64', [-1, 3]], ['s', 'float32', [-1, 5]], ['si', 'int64', [-1, 5]]], [
      ['top_k', { X: ['x'] }, { Out: ['a'], Indices: ['ai'] }, { k: 2 }],
      ['top_k_v2', { X: ['x'] }, { Out: ['c'], Indices: ['ci'] }, { k: 3, axis: 1, largest: true, sorted: true }],
      ['argsort', { X: ['x'] }, { Out: ['s'], Indices: ['si'] }, { axis: -1, descending: true }],
    ], ['a', 'ai', 'c', 'ci', 's', 'si']), (b) => ({ x: f32([b, 5], 62) }), (o, i, b) => {
      const rows = Array.from({ length: b }, (_, r) => i['x']!.data.slice(5 * r, 5 * r + 5).map((v, k) => [v, k] as const).sort((p, q) => q[0] - p[0] || p[1] - q[1]));
      expectNd(o['a'], { shape: [b, 2], data: rows.flatMap((r) => r.slice(0, 2).map((e) => e[0])) }, 0, 'top_k');
      expectNd(o['ai'], { shape: [b, 2], data: rows.flatMap((r) => r.slice(0, 2).map((e) => e[1])) }, 0, 'top_k idx');
      expectNd(o['c'], { shape: [b, 3], data: rows.flatMap((r) => r.slice(0, 3).map((e) => e[0])) }, 0, 'top_k_v2');
      expectNd(o['ci'], { shape: [b, 3], data: rows.flatMap((r) => r.slice(0, 3).map((e) => e[1])) }, 0, 'top_k_v2 idx');
      expectNd(o['s'], { shape: [b, 5], data: rows.flatMap((r) => r.map((e) => e[0])) }, 0, 'argsort descending');
      expectNd(o['si'], { shape: [b, 5], data: rows.flatMap((r) => r.map((e) => e[1])) }, 0, 'argsort descending idx');
    });
    if (MIN_OPSET <= 10) {
      const m = prog([['x', 'float32', [-1, 5]]], [['a', 'float32', [-1, 2]], ['ai', 'int64', [-1, 2]]], [
        ['top_k_v2', { X: ['x'] }, { Out: ['a'], Indices: ['ai'] }, { k: 2, axis: -1, largest: false, sorted: true }]], ['a']);
      const d = join(root, `m${seq++}`);
      mkdirSync(d);
      writeFileSync(join(d, 'inference.pdmodel'), m.programBytes());
      expect(await code(convertToOnnx(d, { opsetVersion: 10 }))).toBe('E_ONNX_OPSET');
    }
  });

  it('top_k, top_k_v2 (largest false, axis 0, K tensor) and argsort (descending) keep the lower index first on ties', async () => {
    const data = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8];
    await each(11, () => prog([['x', 'float32', [-1, 6]], ['k', 'int32', [1]]], [
      ['a', 'float32', [-1, 3]], ['ai', 'int64', [-1, 3]], ['b1', 'float32', [-1, 2]], ['bi', 'int64', [-1, 2]], ['c', 'float32', [1, 6]], ['ci', 'int64', [1, 6]],
      ['d', 'float32', [-1, 6]], ['di', 'int64', [-1, 6]], ['e', 'float32', [-1, 6]], ['ei', 'int64', [-1, 6]], ['u', 'float32', [-1, 4]], ['ui', 'int64', [-1, 4]],
    ], [
      ['top_k', { X: ['x'] }, { Out: ['a'], Indices: ['ai'] }, { k: 3 }],
      ['top_k_v2', { X: ['x'], K: ['k'] }, { Out: ['b1'], Indices: ['bi'] }, { k: 1, axis: -1, largest: false, sorted: true }],
      ['top_k_v2', { X: ['x'] }, { Out: ['c'], Indices: ['ci'] }, { k: 1, axis: 0, largest: true, sorted: true }],
      ['argsort', { X: ['x'] }, { Out: ['d'], Indices: ['di'] }, { axis: -1, descending: true }],
      ['argsort', { X: ['x'] }, { Out: ['e'], Indices: ['ei'] }, { axis: 1, descending: false }],
      ['top_k_v2', { X: ['x'] }, { Out: ['u'], Indices: ['ui'] }, { k: 4, axis: -1, largest: true, sorted: false }],
    ], ['a', 'ai', 'b1', 'bi', 'c', 'ci', 'd', 'di', 'e', 'ei', 'u', 'ui']), (b) => ({ x: { dtype: 'float32', dims: [b, 6], data: Float32Array.from(data.slice(0, 6 * b)) }, k: i32([1], [2]) }), (o, i, b) => {
      const rows = Array.from({ length: b }, (_, r) => data.slice(6 * r, 6 * r + 6));
      const order = (row: number[], desc: boolean) => row.map((v, k) => [v, k] as const).sort((p, q) => (desc ? q[0] - p[0] : p[0] - q[0]) || p[1] - q[1]);
      const pick = (k: number, desc: boolean, what: 0 | 1) => ({ shape: [b, k], data: rows.flatMap((r) => order(r, desc).slice(0, k).map((e) => e[what])) });
      expectNd(o['a'], pick(3, true, 0), 0, 'top_k');
      expectNd(o['ai'], pick(3, true, 1), 0, 'top_k idx');
      expectNd(o['b1'], pick(2, false, 0), 0, 'smallest');
      expectNd(o['bi'], pick(2, false, 1), 0, 'smallest idx');
      const colMax = [0, 1, 2, 3, 4, 5].map((c) => order(rows.map((r) => r[c]!), true)[0]!);
      expectNd(o['c'], { shape: [1, 6], data: colMax.map((e) => e[0]) }, 0, 'axis 0');
      expectNd(o['ci'], { shape: [1, 6], data: colMax.map((e) => e[1]) }, 0, 'axis 0 idx');
      expectNd(o['d'], pick(6, true, 0), 0, 'argsort desc');
      expectNd(o['di'], pick(6, true, 1), 0, 'argsort desc idx');
      expectNd(o['e'], pick(6, false, 0), 0, 'argsort');
      expectNd(o['ei'], pick(6, false, 1), 0, 'argsort idx');
      // sorted=false: Paddle leaves the order open, so compare each row's (value, index) pairs as a set
      const u = fromHost(o['u']!);
      const ui = fromHost(o['ui']!);
      expect(u.shape).toEqual([b, 4]);
      for (let r = 0; r < b; r++) {
        const got = [0, 1, 2, 3].map((k) => `${ui.data[4 * r + k]}:${u.data[4 * r + k]}`).sort();
        const want = order(rows[r]!, true).slice(0, 4).map((e) => `${e[1]}:${e[0]}`).sort();
        expect(got).toEqual(want);
      }
    });
  });
});

/** Python-style slice positions of one axis, the way Paddle's kernels read start/end/step */
function positions(n: number, start: number, end: number, step: number, paddleStrided: boolean): number[] {
  let s = start < 0 ? Math.max(start + n, 0) : start;
  let e = end;
  if (step > 0) {
    if (e < 0) e = Math.max(e + n, 0);
    s = Math.min(s, n);
    e = Math.min(e, n);
    const r: number[] = [];
    for (let k = s; k < e; k += step) r.push(k);
    return r;
  }
  s = Math.min(s, n - 1);
  if (e === -1) e = -1; // "through index 0"
  else if (e < 0) e = paddleStrided ? Math.max(e + n, 0) : Math.max(e + n, -1);
  else e = Math.min(e, n);
  const r: number[] = [];
  for (let k = s; k > e; k += step) r.push(k);
  return r;
}

describe('tensor ops: strided_slice and set_value', () => {
  it('strided_slice: negative strides with end -1 (through index 0) and end below -dim, decrease_axis, x[-1], strides tensor list', async () => {
    await each(10, () => prog([['x', 'float32', [-1, 5, 6]], ['rt', 'int64', [1]]], [
      ['a', 'float32', [-1, 5, 3]], ['c', 'float32', [-1, 3]], ['d', 'float32', [-1, 2, 6]], ['st', 'int64', [1]], ['en', 'int32', [1]], ['m1', 'int64', [1]], ['q', 'float32', [-1, 5, -1]],
    ], [
      ['strided_slice', { Input: ['x'] }, { Out: ['a'] }, { axes: [1, 2], starts: [-1, 5], ends: [-1, -100], strides: [-1, -2], infer_flags: [1, 1], decrease_axis: [] }],
      ['strided_slice', { Input: ['x'] }, { Out: ['c'] }, { axes: [1, 2], starts: [-1, 0], ends: [0, 6], strides: [1, 2], infer_flags: [-1, 1], decrease_axis: [1] }],
      fc('st', 3, [1], -2), fc('en', 2, [1], -6),
      ['strided_slice', { Input: ['x'], StridesTensorList: ['st'], EndsTensorList: ['en'] }, { Out: ['d'] }, { axes: [1], starts: [4], ends: [], strides: [], infer_flags: [-1], decrease_axis: [] }],
      fc('m1', 3, [1], -1),
      // an end known only at run time: -1 with a negative stride still means "through index 0"
      ['strided_slice', { Input: ['x'], EndsTensor: ['rt'], StridesTensor: ['m1'] }, { Out: ['q'] }, { axes: [2], starts: [-2], ends: [], strides: [], infer_flags: [-1], decrease_axis: [] }],
    ], ['a', 'c', 'd', 'q']), (b) => ({ x: f32([b, 5, 6], 71), rt: i64([1], [b === 1 ? -1 : 2]) }), (o, i, b) => {
      const x = i['x']!;
      const p1 = positions(5, -1, -1, -1, true);
      const p2 = positions(6, 5, -100, -2, true);
      expect(p1).toEqual([4, 3, 2, 1, 0]);
      expect(p2).toEqual([5, 3, 1]);
      expectNd(o['a'], nd([b, 5, 3], ([n, r, c]) => at(x, [n!, p1[r!]!, p2[c!]!])), 0, 'negative strides');
      expectNd(o['c'], nd([b, 3], ([n, c]) => at(x, [n!, 4, 2 * c!])), 0, 'x[:, -1, ::2]');
      const p3 = positions(5, 4, -6, -2, true);
      expect(p3).toEqual([4, 2]);
      expectNd(o['d'], nd([b, 2, 6], ([n, r, c]) => at(x, [n!, p3[r!]!, c!])), 0, 'tensor lists');
      const p4 = positions(6, -2, b === 1 ? -1 : 2, -1, true);
      expect(p4).toEqual(b === 1 ? [4, 3, 2, 1, 0] : [4, 3]);
      expectNd(o['q'], nd([b, 5, p4.length], ([n, r, c]) => at(x, [n!, r!, p4[c!]!])), 0, 'run-time end');
    });
  });

  it('set_value: a constant into a strided slice, the SLANet form (ValueTensor, decreased axis, tensor lists), none_axes, a negative step', async () => {
    await each(11, () => prog([['x', 'float32', [-1, 6, 4]], ['v', 'float32', [-1, 4]], ['w', 'float32', [1, 3]]], [
      ['y1', 'float32', [-1, 6, 4]], ['s', 'int64', [1]], ['e', 'int64', [1]], ['y2', 'float32', [-1, 6, 4]], ['y3', 'float32', [-1, 6, 4]], ['y4', 'float32', [-1, 6, 4]],
    ], [
      ['set_value', { Input: ['x'] }, { Out: ['y1'] }, { axes: [1, 2], starts: [1, 0], ends: [6, 4], steps: [2, 3], decrease_axes: [], none_axes: [], shape: [1], dtype: 5, fp32_values: { floats: [-7.5] } }],
      fc('s', 3, [1], 2), fc('e', 3, [1], 3),
      ['set_value', { Input: ['x'], ValueTensor: ['v'], StartsTensorList: ['s'], EndsTensorList: ['e'] }, { Out: ['y2'] }, { axes: [1], starts: [], ends: [], steps: [1], decrease_axes: [1], none_axes: [], shape: [], dtype: 5 }],
      ['set_value', { Input: ['x'], ValueTensor: ['w'] }, { Out: ['y3'] }, { axes: [1, 2], starts: [0, 1], ends: [3, 2], steps: [1, 1], decrease_axes: [2], none_axes: [1], dtype: 5 }],
      ['set_value', { Input: ['x'] }, { Out: ['y4'] }, { axes: [1], starts: [-1], ends: [-1], steps: [-2], decrease_axes: [], none_axes: [], shape: [4], dtype: 5, fp32_values: { floats: [1, 2, 3, 4] } }],
    ], ['y1', 'y2', 'y3', 'y4']), (b) => ({ x: f32([b, 6, 4], 72), v: f32([b, 4], 73), w: f32([1, 3], 74) }), (o, i, b) => {
      const x = i['x']!;
      expectNd(o['y1'], nd([b, 6, 4], ([n, r, c]) => (r! % 2 === 1 && c! % 3 === 0 ? -7.5 : at(x, [n!, r!, c!]))), 0, 'constant');
      expectNd(o['y2'], nd([b, 6, 4], ([n, r, c]) => (r === 2 ? at(i['v']!, [n!, c!]) : at(x, [n!, r!, c!]))), 0, 'ValueTensor');
      // x[:, None, 0:3, 1] = w: the slice is [b, 3] after the decrease, [b, 1, 3] with the None axis; w [1, 3] broadcasts over the batch
      expectNd(o['y3'], nd([b, 6, 4], ([n, r, c]) => (r! < 3 && c === 1 ? at(i['w']!, [0, r!]) : at(x, [n!, r!, c!]))), 0, 'decrease + none_axes');
      const rows = positions(6, -1, -1, -2, false);
      expect(rows).toEqual([5, 3, 1]);
      expectNd(o['y4'], nd([b, 6, 4], ([n, r, c]) => (rows.includes(r!) ? c! + 1 : at(x, [n!, r!, c!]))), 0, 'negative step');
    });
  });
});

/** pad3d reference over NCDHW: paddings [left, right, top, bottom, front, back] */
function pad3dRef(x: Nd, p: number[], mode: string, value: number, ndhwc: boolean): Nd {
  const sp = ndhwc ? [1, 2, 3] : [2, 3, 4];
  const before = [p[4]!, p[2]!, p[0]!];
  const after = [p[5]!, p[3]!, p[1]!];
  const shape = x.shape.map((d, k) => { const j = sp.indexOf(k); return j < 0 ? d : d + before[j]! + after[j]!; });
  return nd(shape, (idx) => {
    const src = [...idx];
    for (let j = 0; j < 3; j++) {
      const k = sp[j]!;
      const n = x.shape[k]!;
      let v = idx[k]! - before[j]!;
      if (v < 0 || v >= n) {
        if (mode === 'constant') return value;
        if (mode === 'reflect') v = v < 0 ? -v : 2 * (n - 1) - v;
        else if (mode === 'replicate') v = Math.min(Math.max(v, 0), n - 1);
        else v = ((v % n) + n) % n;
      }
      src[k] = v;
    }
    return at(x, src);
  });
}

describe('tensor ops: padding, pixel shuffle, products', () => {
  it('pad (pad_value) and pad3d in every mode, NCDHW and NDHWC, paddings from a tensor', async () => {
    const p = [1, 2, 0, 1, 2, 1];
    await each(2, () => prog([['x', 'float32', [-1, 2, 3, 4, 3]]], [
      ['a', 'float32', [-1, 4, 4, 4, 3]], ['c', 'float32', [-1, 2, 6, 5, 6]], ['r', 'float32', [-1, 2, 6, 5, 6]], ['e', 'float32', [-1, 2, 6, 5, 6]],
      ['w', 'float32', [-1, 2, 6, 5, 6]], ['h', 'float32', [-1, 3, 4, 7, 3]], ['t', 'float32', [-1, 2, 6, 5, 6]],
    ], [
      ['pad', { X: ['x'] }, { Out: ['a'] }, { paddings: [0, 0, 1, 1, 0, 1, 0, 0, 0, 0], pad_value: { f: -2.5 } }],
      ['pad3d', { X: ['x'] }, { Out: ['c'] }, { paddings: p, mode: 'constant', value: { f: 0.75 }, data_format: 'NCDHW' }],
      ['pad3d', { X: ['x'] }, { Out: ['r'] }, { paddings: p, mode: 'reflect', value: { f: 0 }, data_format: 'NCDHW' }],
      ['pad3d', { X: ['x'] }, { Out: ['e'] }, { paddings: p, mode: 'replicate', value: { f: 0 }, data_format: 'NCDHW' }],
      ['pad3d', { X: ['x'] }, { Out: ['w'] }, { paddings: p, mode: 'circular', value: { f: 0 }, data_format: 'NCDHW' }],
      ['pad3d', { X: ['x'] }, { Out: ['h'] }, { paddings: [1, 2, 1, 0, 1, 0], mode: 'reflect', value: { f: 0 }, data_format: 'NDHWC' }],
    ], ['a', 'c', 'r', 'e', 'w', 'h']), (b) => ({ x: f32([b, 2, 3, 4, 3], 81) }), (o, i, b) => {
      const x = i['x']!;
      expectNd(o['a'], nd([b, 4, 4, 4, 3], ([n, c, d, h, w]) => (c! < 1 || c! > 2 || d! > 2 ? -2.5 : at(x, [n!, c! - 1, d!, h!, w!]))), 0, 'pad');
      expectNd(o['c'], pad3dRef(x, p, 'constant', 0.75, false), 0, 'constant');
      expectNd(o['r'], pad3dRef(x, p, 'reflect', 0, false), 0, 'reflect');
      expectNd(o['e'], pad3dRef(x, p, 'replicate', 0, false), 0, 'replicate');
      expectNd(o['w'], pad3dRef(x, p, 'circular', 0, false), 0, 'circular');
      expectNd(o['h'], pad3dRef(x, [1, 2, 1, 0, 1, 0], 'reflect', 0, true), 0, 'NDHWC');
    });
    await each(11, () => prog([['x', 'float32', [-1, 2, 3, 4, 3]], ['q', 'int32', [6]]], [['t', 'float32', [-1, 2, 6, 5, 6]]], [
      ['pad3d', { X: ['x'], Paddings: ['q'] }, { Out: ['t'] }, { paddings: [], mode: 'replicate', value: { f: 0 }, data_format: 'NCDHW' }],
    ], ['t']), (b) => ({ x: f32([b, 2, 3, 4, 3], 83), q: i32([6], p) }), (o, i) => expectNd(o['t'], pad3dRef(i['x']!, p, 'replicate', 0, false), 0, 'Paddings tensor'));
  });

  it('PIR pad3d (paddings operand) as UVDoc exports it', async () => {
    const p = [2, 2, 2, 2, 0, 0];
    await each(11, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 3, 1, 5, 6] }], [{ name: 'y', dtype: 'float32', shape: [-1, 3, 1, 9, 10] }],
      [{ name: 'p', dtype: 'int64', shape: [6] }], [
        pop('full_int_array', {}, { 0: ['p'] }, { value: p, dtype: 'int64' }),
        pop('pad3d', { 0: ['x'], 1: ['p'] }, { 0: ['y'] }, { mode: 'reflect', pad_value: 0, data_format: 'NCDHW' }),
      ]), (b) => ({ x: f32([b, 3, 1, 5, 6], 82) }), (o, i) => expectNd(o['y'], pad3dRef(i['x']!, p, 'reflect', 0, false), 0, 'PIR pad3d'));
  });

  it('bmm, mv and dot (new and old output rank) from opset 9', async () => {
    await each(9, () => prog([['m', 'float32', [-1, 3, 4]], ['k', 'float32', [-1, 4, 2]], ['v', 'float32', [4]], ['y', 'float32', [-1, 4]]], [
      ['bm', 'float32', [-1, 3, 2]],
      ['m0', 'float32', [3, 4]], ['mv', 'float32', [3]], ['y0', 'float32', [-1, 4]], ['d', 'float32', [-1]], ['d1', 'float32', [-1, 1]],
    ], [
      ['bmm', { X: ['m'], Y: ['k'] }, { Out: ['bm'] }],
      ['slice', { Input: ['m'] }, { Out: ['m0'] }, { axes: [0], starts: [0], ends: [1], decrease_axis: [0] }],
      ['mv', { X: ['m0'], Vec: ['v'] }, { Out: ['mv'] }],
      ['elementwise_mul', { X: ['y'], Y: ['v'] }, { Out: ['y0'] }, { axis: -1 }],
      ['dot', { X: ['y'], Y: ['y0'] }, { Out: ['d'] }],
      ['dot', { X: ['y'], Y: ['y0'] }, { Out: ['d1'] }],
    ], ['bm', 'mv', 'd', 'd1']), (b) => ({ m: f32([b, 3, 4], 92), k: f32([b, 4, 2], 93), v: f32([4], 94), y: f32([b, 4], 95) }), (o, i, b) => {
      const mm = nd([b, 3, 2], ([n, r, c]) => [0, 1, 2, 3].reduce((s, j) => s + at(i['m']!, [n!, r!, j]) * at(i['k']!, [n!, j, c!]), 0));
      expectNd(o['bm'], mm, 1e-5, 'bmm');
      expectNd(o['mv'], nd([3], ([r]) => [0, 1, 2, 3].reduce((s, j) => s + at(i['m']!, [0, r!, j]) * i['v']!.data[j]!, 0)), 1e-5, 'mv');
      const dots = Array.from({ length: b }, (_, n) => [0, 1, 2, 3].reduce((s, j) => s + at(i['y']!, [n, j]) ** 2 * i['v']!.data[j]!, 0));
      expectNd(o['d'], { shape: [b], data: dots }, 1e-5, 'dot');
      expectNd(o['d1'], { shape: [b, 1], data: dots }, 1e-5, 'dot keeps dim');
    });
  });

  it('pixel_shuffle (NCHW and NHWC; DepthToSpace from opset 11, reshape/transpose at 9 and 10, also with run-time H and W)', async () => {
    await each(9, () => prog([['x', 'float32', [-1, 8, 2, 3]], ['z', 'float32', [-1, 8, -1, -1]]], [
      ['s', 'float32', [-1, 2, 4, 6]], ['xh', 'float32', [-1, 2, 3, 8]], ['sh', 'float32', [-1, 4, 6, 2]], ['sz', 'float32', [-1, 2, -1, -1]],
    ], [
      ['pixel_shuffle', { X: ['x'] }, { Out: ['s'] }, { upscale_factor: 2, data_format: 'NCHW' }],
      ['transpose2', { X: ['x'] }, { Out: ['xh'] }, { axis: [0, 2, 3, 1] }],
      ['pixel_shuffle', { X: ['xh'] }, { Out: ['sh'] }, { upscale_factor: 2, data_format: 'NHWC' }],
      ['pixel_shuffle', { X: ['z'] }, { Out: ['sz'] }, { upscale_factor: 2, data_format: 'NCHW' }],
    ], ['s', 'sh', 'sz']), (b) => ({ x: f32([b, 8, 2, 3], 91), z: f32([b, 8, 3, 1], 90) }), (o, i, b) => {
      const shuffle = (x: Nd) => nd([x.shape[0]!, 2, x.shape[2]! * 2, x.shape[3]! * 2], ([n, c, h, w]) => at(x, [n!, c! * 4 + (h! % 2) * 2 + (w! % 2), Math.floor(h! / 2), Math.floor(w! / 2)]));
      const ps = shuffle(i['x']!);
      expectNd(o['s'], ps, 0, 'pixel_shuffle');
      expectNd(o['sh'], nd([b, 4, 6, 2], ([n, h, w, c]) => at(ps, [n!, c!, h!, w!])), 0, 'pixel_shuffle NHWC');
      expectNd(o['sz'], shuffle(i['z']!), 0, 'pixel_shuffle run-time H, W');
    });
  });

  it('pixel_shuffle at opset 12 and einsum (explicit and implicit output)', async () => {
    await each(12, () => prog([['x', 'float32', [-1, 8, 2, 3]], ['m', 'float32', [-1, 3, 4]], ['k', 'float32', [-1, 4, 2]]], [
      ['s', 'float32', [-1, 2, 4, 6]], ['xh', 'float32', [-1, 2, 3, 8]], ['sh', 'float32', [-1, 4, 6, 2]], ['es', 'float32', [-1, 3, 2]], ['t', 'float32', [4, 3, -1]],
    ], [
      ['pixel_shuffle', { X: ['x'] }, { Out: ['s'] }, { upscale_factor: 2, data_format: 'NCHW' }],
      ['transpose2', { X: ['x'] }, { Out: ['xh'] }, { axis: [0, 2, 3, 1] }],
      ['pixel_shuffle', { X: ['xh'] }, { Out: ['sh'] }, { upscale_factor: 2, data_format: 'NHWC' }],
      ['einsum', { Operands: ['m', 'k'] }, { Out: ['es'] }, { equation: 'bij, bjk -> bik' }],
      ['einsum', { Operands: ['m'] }, { Out: ['t'] }, { equation: 'kji' }],
    ], ['s', 'sh', 'es', 't']), (b) => ({ x: f32([b, 8, 2, 3], 91), m: f32([b, 3, 4], 92), k: f32([b, 4, 2], 93) }), (o, i, b) => {
      const x = i['x']!;
      const ps = nd([b, 2, 4, 6], ([n, c, h, w]) => at(x, [n!, c! * 4 + (h! % 2) * 2 + (w! % 2), Math.floor(h! / 2), Math.floor(w! / 2)]));
      expectNd(o['s'], ps, 0, 'pixel_shuffle');
      expectNd(o['sh'], nd([b, 4, 6, 2], ([n, h, w, c]) => at(ps, [n!, c!, h!, w!])), 0, 'pixel_shuffle NHWC');
      expectNd(o['es'], nd([b, 3, 2], ([n, r, c]) => [0, 1, 2, 3].reduce((s, j) => s + at(i['m']!, [n!, r!, j]) * at(i['k']!, [n!, j, c!]), 0)), 1e-5, 'einsum');
      // implicit output: indices in alphabetical order, so 'kji' -> 'ijk' is the full transpose
      expectNd(o['t'], nd([4, 3, b], ([p, q, r]) => at(i['m']!, [r!, q!, p!])), 0, 'einsum implicit');
    });
  });

  it('PIR topk (k operand), where, gather_nd, flip and nonzero', async () => {
    await each(11, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 6] }, { name: 'i', dtype: 'int64', shape: [-1, 1] }],
      [{ name: 'v', dtype: 'float32', shape: [-1, 2] }, { name: 'ix', dtype: 'int64', shape: [-1, 2] }, { name: 'w', dtype: 'float32', shape: [-1, 6] },
        { name: 'g', dtype: 'float32', shape: [-1, 6] }, { name: 'f', dtype: 'float32', shape: [-1, 6] }, { name: 'nz', dtype: 'int64', shape: [-1, 2] }],
      [{ name: 'k', dtype: 'int32', shape: [1] }, { name: 'z', dtype: 'float32', shape: [1] }, { name: 'c', dtype: 'bool', shape: [-1, 6] }], [
        pop('full', {}, { 0: ['k'] }, { shape: [1], value: 2, dtype: 'int32' }),
        pop('topk', { 0: ['x'], 1: ['k'] }, { 0: ['v'], 1: ['ix'] }, { axis: -1, largest: true, sorted: true }),
        pop('full', {}, { 0: ['z'] }, { shape: [1], value: 0, dtype: 'float32' }),
        pop('greater_than', { 0: ['x'], 1: ['z'] }, { 0: ['c'] }),
        pop('where', { 0: ['c'], 1: ['x'], 2: ['z'] }, { 0: ['w'] }),
        pop('gather_nd', { 0: ['x'], 1: ['i'] }, { 0: ['g'] }),
        pop('flip', { 0: ['x'] }, { 0: ['f'] }, { axis: [1] }),
        pop('nonzero', { 0: ['c'] }, { 0: ['nz'] }),
      ]), (b) => ({ x: f32([b, 6], 96), i: i64([b, 1], [b - 1, 0].slice(0, b)) }), (o, i, b) => {
      const x = i['x']!;
      const rows = Array.from({ length: b }, (_, r) => x.data.slice(6 * r, 6 * r + 6).map((v, k) => [v, k] as const).sort((p, q) => q[0] - p[0] || p[1] - q[1]).slice(0, 2));
      expectNd(o['v'], { shape: [b, 2], data: rows.flat().map((e) => e[0]) }, 0, 'topk');
      expectNd(o['ix'], { shape: [b, 2], data: rows.flat().map((e) => e[1]) }, 0, 'topk idx');
      expectNd(o['w'], { shape: [b, 6], data: x.data.map((v) => (v > 0 ? v : 0)) }, 0, 'where');
      expectNd(o['g'], nd([b, 6], ([r, c]) => at(x, [at(i['i']!, [r!, 0]), c!])), 0, 'gather_nd');
      expectNd(o['f'], nd([b, 6], ([r, c]) => at(x, [r!, 5 - c!])), 0, 'flip');
      const pos: number[] = [];
      x.data.forEach((v, k) => { if (v > 0) pos.push(Math.floor(k / 6), k % 6); });
      expectNd(o['nz'], { shape: [pos.length / 2, 2], data: pos }, 0, 'nonzero');
    });
  });
});

describe('tensor ops: more PIR spellings', () => {
  const F = 'float32' as DType;
  const I = 'int64' as DType;
  it('index_select, index_sample, take_along_axis, scatter, expand_as, repeat_interleave(_with_tensor_index), reverse (axis operand), roll (shifts operand)', async () => {
    await each(11, () => pirModel([{ name: 'x', dtype: F, shape: [-1, 4] }, { name: 'i', dtype: I, shape: [3] }, { name: 'j', dtype: I, shape: [-1, 2] }, { name: 'u', dtype: F, shape: [3, 4] }],
      [{ name: 'a', dtype: F, shape: [-1, 3] }, { name: 'b', dtype: F, shape: [-1, 2] }, { name: 'c', dtype: F, shape: [-1, 2] }, { name: 'd', dtype: F, shape: [-1, 4] },
        { name: 'e', dtype: F, shape: [3, -1, 4] }, { name: 'f', dtype: F, shape: [-1, 8] }, { name: 'h', dtype: F, shape: [-1, -1] }, { name: 'r', dtype: F, shape: [-1, 4] }, { name: 'o', dtype: F, shape: [-1, 4] }],
      [{ name: 'xx', dtype: F, shape: [-1, 4] }, { name: 'y3', dtype: F, shape: [3, -1, 4] }, { name: 'rp', dtype: I, shape: [4] }, { name: 'ax', dtype: I, shape: [1] }, { name: 'sh', dtype: I, shape: [1] }], [
        pop('index_select', { 0: ['x'], 1: ['i'] }, { 0: ['a'] }, { axis: 1 }),
        pop('index_sample', { 0: ['x'], 1: ['j'] }, { 0: ['b'] }),
        pop('take_along_axis', { 0: ['x'], 1: ['j'] }, { 0: ['c'] }, { axis: 1 }),
        pop('full', {}, { 0: ['xx'] }, { shape: [1], value: 0, dtype: 'float32' }),
        pop('scatter', { 0: ['u'], 1: ['i'], 2: ['u'] }, { 0: ['d'] }, { overwrite: false }),
        pop('full', {}, { 0: ['y3'] }, { shape: [3, 1, 4], value: 1, dtype: 'float32' }),
        pop('expand_as', { 0: ['x'], 1: [] }, { 0: ['e'] }, { target_shape: [3, -1, 4] }),
        pop('repeat_interleave', { 0: ['x'] }, { 0: ['f'] }, { repeats: 2, axis: -1 }),
        pop('full_int_array', {}, { 0: ['rp'] }, { value: [1, 0, 2, 1], dtype: 'int64' }),
        pop('repeat_interleave_with_tensor_index', { 0: ['x'], 1: ['rp'] }, { 0: ['h'] }, { axis: 1 }),
        pop('full_int_array', {}, { 0: ['ax'] }, { value: [1], dtype: 'int64' }),
        pop('reverse', { 0: ['x'], 1: ['ax'] }, { 0: ['r'] }),
        pop('full_int_array', {}, { 0: ['sh'] }, { value: [-1], dtype: 'int64' }),
        pop('roll', { 0: ['x'], 1: ['sh'] }, { 0: ['o'] }, { axis: [1] }),
      ]), (b) => ({ x: f32([b, 4], 101), i: i64([3], [2, 0, 2]), j: i64([b, 2], [3, 1, 0, 0].slice(0, 2 * b)), u: f32([3, 4], 102) }), (o, i, b) => {
      const x = i['x']!;
      expectNd(o['a'], nd([b, 3], ([n, k]) => at(x, [n!, [2, 0, 2][k!]!])), 0, 'index_select');
      expectNd(o['b'], nd([b, 2], ([n, k]) => at(x, [n!, at(i['j']!, [n!, k!])])), 0, 'index_sample');
      expectNd(o['c'], nd([b, 2], ([n, k]) => at(x, [n!, at(i['j']!, [n!, k!])])), 0, 'take_along_axis');
      const u = i['u']!;
      // ids [2, 0, 2]: row 0 takes update 1, row 2 the sum of updates 0 and 2, row 1 keeps its value
      expectNd(o['d'], nd([3, 4], ([r, c]) => (r === 2 ? at(u, [0, c!]) + at(u, [2, c!]) : at(u, [1, c!]))), 1e-6, 'scatter accumulate');
      expectNd(o['e'], nd([3, b, 4], ([, n, c]) => at(x, [n!, c!])), 0, 'expand_as');
      expectNd(o['f'], nd([b, 8], ([n, c]) => at(x, [n!, Math.floor(c! / 2)])), 0, 'repeat_interleave');
      expectNd(o['h'], nd([b, 4], ([n, c]) => at(x, [n!, [0, 2, 2, 3][c!]!])), 0, 'repeat_interleave tensor');
      expectNd(o['r'], nd([b, 4], ([n, c]) => at(x, [n!, 3 - c!])), 0, 'reverse');
      expectNd(o['o'], nd([b, 4], ([n, c]) => at(x, [n!, (c! + 1) % 4])), 0, 'roll');
    });
  });

  it('unbind / unstack + builtin.split, strided_slice, set_value and set_value_with_tensor, one_hot, argsort', async () => {
    await each(11, () => pirModel([{ name: 'x', dtype: F, shape: [-1, 3, 4] }, { name: 'v', dtype: F, shape: [4] }, { name: 'ids', dtype: I, shape: [-1] }],
      [{ name: 'u0', dtype: F, shape: [-1, 4] }, { name: 'u2', dtype: F, shape: [-1, 4] }, { name: 'w1', dtype: F, shape: [-1, 3] }, { name: 's', dtype: F, shape: [-1, 3, 2] },
        { name: 'sv', dtype: F, shape: [-1, 3, 4] }, { name: 'st', dtype: F, shape: [-1, 3, 4] }, { name: 'oh', dtype: F, shape: [-1, 3] },
        { name: 'as', dtype: F, shape: [-1, 3, 4] }, { name: 'ai', dtype: I, shape: [-1, 3, 4] }],
      [{ name: 'l', dtype: 'unknown', shape: [] }, { name: 'u1', dtype: F, shape: [-1, 4] }, { name: 'm', dtype: 'unknown', shape: [] }, { name: 'w0', dtype: F, shape: [-1, 3] },
        { name: 'w2', dtype: F, shape: [-1, 3] }, { name: 'w3', dtype: F, shape: [-1, 3] },
        { name: 'b', dtype: I, shape: [1] }, { name: 'e', dtype: I, shape: [1] }, { name: 'k', dtype: I, shape: [1] }, { name: 'one', dtype: I, shape: [1] }, { name: 'two', dtype: I, shape: [1] }, { name: 'nc', dtype: 'int32', shape: [1] }], [
        pop('unbind', { 0: ['x'] }, { 0: ['l'] }, { axis: 1 }),
        pop('split', { 0: ['l'] }, { 0: ['u0'], 1: ['u1'], 2: ['u2'] }),
        pop('unstack', { 0: ['x'] }, { 0: ['m'] }, { axis: 2, num: 4 }),
        pop('split', { 0: ['m'] }, { 0: ['w0'], 1: ['w1'], 2: ['w2'], 3: ['w3'] }),
        pop('full_int_array', {}, { 0: ['b'] }, { value: [-1], dtype: 'int64' }),
        pop('full_int_array', {}, { 0: ['e'] }, { value: [-10], dtype: 'int64' }),
        pop('full_int_array', {}, { 0: ['k'] }, { value: [-2], dtype: 'int64' }),
        pop('strided_slice', { 0: ['x'], 1: ['b'], 2: ['e'], 3: ['k'] }, { 0: ['s'] }, { axes: [2] }),
        pop('full_int_array', {}, { 0: ['one'] }, { value: [1], dtype: 'int64' }),
        pop('full_int_array', {}, { 0: ['two'] }, { value: [2], dtype: 'int64' }),
        pop('set_value', { 0: ['x'], 1: ['one'], 2: ['two'], 3: ['one'] }, { 0: ['sv'] }, { axes: [1], decrease_axes: [], none_axes: [], shape: [1], values: [9] }),
        pop('set_value_with_tensor_', { 0: ['x'], 1: ['v'], 2: ['b'], 3: ['e'], 4: ['k'] }, { 0: ['st'] }, { axes: [1], decrease_axes: [], none_axes: [] }),
        pop('full', {}, { 0: ['nc'] }, { shape: [1], value: 3, dtype: 'int32' }),
        pop('one_hot', { 0: ['ids'], 1: ['nc'] }, { 0: ['oh'] }),
        pop('argsort', { 0: ['x'] }, { 0: ['as'], 1: ['ai'] }, { axis: 1, descending: true, stable: true }),
      ]), (b) => ({ x: f32([b, 3, 4], 103), v: f32([4], 104), ids: i64([b], [2, 0].slice(0, b)) }), (o, i, b) => {
      const x = i['x']!;
      expectNd(o['u0'], nd([b, 4], ([n, c]) => at(x, [n!, 0, c!])), 0, 'unbind 0');
      expectNd(o['u2'], nd([b, 4], ([n, c]) => at(x, [n!, 2, c!])), 0, 'unbind 2');
      expectNd(o['w1'], nd([b, 3], ([n, r]) => at(x, [n!, r!, 1])), 0, 'unstack 1');
      // start -1, end -10 (below -dim: Paddle clamps it to 0, excluding index 0), step -2: positions 3, 1
      expectNd(o['s'], nd([b, 3, 2], ([n, r, k]) => at(x, [n!, r!, [3, 1][k!]!])), 0, 'strided_slice');
      // rows 1 .. 2 step 1: row 1 only
      expectNd(o['sv'], nd([b, 3, 4], ([n, r, c]) => (r === 1 ? 9 : at(x, [n!, r!, c!]))), 0, 'set_value');
      // rows -1 down to -10 (clamped, through index 0) step -2: rows 2 and 0
      expectNd(o['st'], nd([b, 3, 4], ([n, r, c]) => (r === 2 || r === 0 ? i['v']!.data[c!]! : at(x, [n!, r!, c!]))), 0, 'set_value_with_tensor');
      expectNd(o['oh'], nd([b, 3], ([n, k]) => (i['ids']!.data[n!] === k ? 1 : 0)), 0, 'one_hot');
      const order = (n: number, c: number) => [0, 1, 2].map((r) => [at(x, [n, r, c]), r] as const).sort((p, q) => q[0] - p[0] || p[1] - q[1]);
      expectNd(o['as'], nd([b, 3, 4], ([n, r, c]) => order(n!, c!)[r!]![0]), 0, 'argsort');
      expectNd(o['ai'], nd([b, 3, 4], ([n, r, c]) => order(n!, c!)[r!]![1]), 0, 'argsort idx');
    });
  });

  it('eye (Scalar operands), full_batch_size_like, numel, linspace, pad, pixel_shuffle, einsum (combine), bmm, dot, mv', async () => {
    await each(12, () => pirModel([{ name: 'x', dtype: F, shape: [-1, 4, 2, 2] }, { name: 'm', dtype: F, shape: [-1, 2, 3] }, { name: 'k', dtype: F, shape: [-1, 3, 2] }],
      [{ name: 'ey', dtype: F, shape: [2, 3] }, { name: 'fb', dtype: F, shape: [-1, 5] }, { name: 'ne', dtype: I, shape: [] }, { name: 'ls', dtype: F, shape: [5] },
        { name: 'pd', dtype: F, shape: [-1, 4, 4, 2] }, { name: 'ps', dtype: F, shape: [-1, 1, 4, 4] }, { name: 'es', dtype: F, shape: [-1, 2, 2] },
        { name: 'bm', dtype: F, shape: [-1, 2, 2] }, { name: 'dt', dtype: F, shape: [-1, 2] }, { name: 'mv', dtype: F, shape: [2] }],
      [{ name: 'r', dtype: 'int32', shape: [] }, { name: 'c', dtype: 'int32', shape: [] }, { name: 'l0', dtype: F, shape: [1] }, { name: 'l1', dtype: F, shape: [1] }, { name: 'n', dtype: 'int32', shape: [1] },
        { name: 'cl', dtype: 'unknown', shape: [] }, { name: 'ic', dtype: 'unknown', shape: [] }, { name: 'xs', dtype: 'unknown', shape: [] }, { name: 'm0', dtype: F, shape: [2, 3] }, { name: 'v3', dtype: F, shape: [3] },
        { name: 'ms', dtype: I, shape: [1] }, { name: 'me', dtype: I, shape: [1] }], [
        pop('full', {}, { 0: ['r'] }, { shape: [], value: 2, dtype: 'int32' }),
        pop('full', {}, { 0: ['c'] }, { shape: [], value: 3, dtype: 'int32' }),
        pop('eye', { 0: ['r'], 1: ['c'] }, { 0: ['ey'] }, { dtype: 'float32' }),
        pop('full_batch_size_like', { 0: ['x'] }, { 0: ['fb'] }, { shape: [-1, 5], dtype: 'float32', value: 0.5, input_dim_idx: 0, output_dim_idx: 0 }),
        pop('numel', { 0: ['x'] }, { 0: ['ne'] }),
        pop('full', {}, { 0: ['l0'] }, { shape: [1], value: 0, dtype: 'float32' }),
        pop('full', {}, { 0: ['l1'] }, { shape: [1], value: 1, dtype: 'float32' }),
        pop('full', {}, { 0: ['n'] }, { shape: [1], value: 5, dtype: 'int32' }),
        pop('linspace', { 0: ['l0'], 1: ['l1'], 2: ['n'] }, { 0: ['ls'] }, { dtype: 'float32' }),
        pop('pad', { 0: ['x'] }, { 0: ['pd'] }, { paddings: [0, 0, 0, 0, 1, 1, 0, 0], pad_value: 3 }),
        pop('pixel_shuffle', { 0: ['x'] }, { 0: ['ps'] }, { upscale_factor: 2, data_format: 'NCHW' }),
        pop('combine', { 0: ['m'], 1: ['k'] }, { 0: ['cl'] }),
        pop('einsum', { 0: ['cl'] }, { 0: ['es'], 1: ['ic'], 2: ['xs'] }, { equation: 'bij,bjk->bik' }),
        pop('bmm', { 0: ['m'], 1: ['k'] }, { 0: ['bm'] }),
        pop('dot', { 0: ['m'], 1: ['m'] }, { 0: ['dt'] }),
        pop('full_int_array', {}, { 0: ['ms'] }, { value: [0], dtype: 'int64' }),
        pop('full_int_array', {}, { 0: ['me'] }, { value: [1], dtype: 'int64' }),
        pop('slice', { 0: ['m'], 1: ['ms'], 2: ['me'] }, { 0: ['m0'] }, { axes: [0], decrease_axis: [0] }),
        pop('full', {}, { 0: ['v3'] }, { shape: [3], value: 0.5, dtype: 'float32' }),
        pop('mv', { 0: ['m0'], 1: ['v3'] }, { 0: ['mv'] }),
      ]), (b) => ({ x: f32([b, 4, 2, 2], 105), m: f32([b, 2, 3], 106), k: f32([b, 3, 2], 107) }), (o, i, b) => {
      const x = i['x']!;
      const m = i['m']!;
      expectNd(o['ey'], nd([2, 3], ([p, q]) => (p === q ? 1 : 0)), 0, 'eye');
      expectNd(o['fb'], nd([b, 5], () => 0.5), 0, 'full_batch_size_like');
      expectNd(o['ne'], { shape: [], data: [16 * b] }, 0, 'numel');
      expectNd(o['ls'], { shape: [5], data: [0, 0.25, 0.5, 0.75, 1] }, 1e-7, 'linspace');
      expectNd(o['pd'], nd([b, 4, 4, 2], ([n, c, h, w]) => (h! === 0 || h! === 3 ? 3 : at(x, [n!, c!, h! - 1, w!]))), 0, 'pad');
      expectNd(o['ps'], nd([b, 1, 4, 4], ([n, , h, w]) => at(x, [n!, (h! % 2) * 2 + (w! % 2), Math.floor(h! / 2), Math.floor(w! / 2)])), 0, 'pixel_shuffle');
      const mm = nd([b, 2, 2], ([n, r, c]) => [0, 1, 2].reduce((s, j) => s + at(m, [n!, r!, j]) * at(i['k']!, [n!, j, c!]), 0));
      expectNd(o['es'], mm, 1e-5, 'einsum');
      expectNd(o['bm'], mm, 1e-5, 'bmm');
      expectNd(o['dt'], nd([b, 2], ([n, r]) => [0, 1, 2].reduce((s, j) => s + at(m, [n!, r!, j]) ** 2, 0)), 1e-5, 'dot');
      expectNd(o['mv'], nd([2], ([r]) => [0, 1, 2].reduce((s, j) => s + at(m, [0, r!, j]) * 0.5, 0)), 1e-5, 'mv');
    });
  });
});

describe('tensor ops on a natural image', () => {
  /** daisy.jpg from the shared pipeline fixtures, 64x64 RGB, ImageNet-normalised NCHW; undefined when PIL or the file is absent */
  function daisy(): Float32Array | undefined {
    const file = shared('pipeline', 'images', 'daisy.jpg');
    const py = pyHas('PIL') ? PY : undefined;
    if (!py || !existsSync(file)) return undefined;
    const r = spawnSync(py, ['-c', 'import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1]).convert("RGB").resize((64, 64))\nsys.stdout.buffer.write(im.tobytes())', file], { maxBuffer: 1 << 20 });
    if (r.status !== 0) return undefined;
    const rgb = new Uint8Array(r.stdout);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const out = new Float32Array(3 * 64 * 64);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 64 * 64; i++) out[c * 4096 + i] = (rgb[i * 3 + c]! / 255 - mean[c]!) / std[c]!;
    return out;
  }

  it('flip, roll, strided_slice, set_value, top_k_v2 and gather on an ImageNet-normalised photo (batch 2: the photo and its mirror)', async (t) => {
    const img = daisy();
    if (!img) { t.skip(); console.warn('[pserve tests] no python3 with PIL or no ../shared/fixtures/pipeline/images/daisy.jpg: natural-image tensor-op check skipped'); return; }
    const S = 64;
    const mirror = new Float32Array(img.length);
    for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) mirror[(c * S + y) * S + x] = img[(c * S + y) * S + (S - 1 - x)]!;
    await each(11, () => prog([['x', 'float32', [-1, 3, S, S]], ['rows', 'int64', [8]]], [
      ['f', 'float32', [-1, 3, S, S]], ['r', 'float32', [-1, 3, S, S]], ['s', 'float32', [-1, 3, 32, 22]], ['p', 'float32', [-1, 3, 16, 16]],
      ['sv', 'float32', [-1, 3, S, S]], ['tv', 'float32', [-1, 3, S, 5]], ['ti', 'int64', [-1, 3, S, 5]], ['g', 'float32', [-1, 3, 8, S]],
    ], [
      ['flip', { X: ['x'] }, { Out: ['f'] }, { axis: [2, 3] }],
      ['roll', { X: ['x'] }, { Out: ['r'] }, { shifts: [5, -7], axis: [2, 3] }],
      ['strided_slice', { Input: ['x'] }, { Out: ['s'] }, { axes: [2, 3], starts: [0, -1], ends: [S, -1], strides: [2, -3], infer_flags: [1, 1], decrease_axis: [] }],
      ['strided_slice', { Input: ['x'] }, { Out: ['p'] }, { axes: [2, 3], starts: [10, 20], ends: [26, 36], strides: [1, 1], infer_flags: [1, 1], decrease_axis: [] }],
      ['set_value', { Input: ['x'], ValueTensor: ['p'] }, { Out: ['sv'] }, { axes: [2, 3], starts: [40, 0], ends: [56, 16], steps: [1, 1], decrease_axes: [], none_axes: [], dtype: 5 }],
      ['top_k_v2', { X: ['x'] }, { Out: ['tv'], Indices: ['ti'] }, { k: 5, axis: -1, largest: true, sorted: true }],
      ['gather', { X: ['x'], Index: ['rows'] }, { Out: ['g'] }, { axis: 2 }],
    ], ['f', 'r', 's', 'sv', 'tv', 'ti', 'g']), (b) => {
      const data = new Float32Array(b * img.length);
      data.set(img, 0);
      if (b > 1) data.set(mirror, img.length);
      return { x: { dtype: 'float32', dims: [b, 3, S, S], data }, rows: i64([8], [0, 9, 18, 27, 36, 45, 54, 63]) };
    }, (o, i, b) => {
      const x = i['x']!;
      const m = (v: number) => ((v % S) + S) % S;
      expectNd(o['f'], nd([b, 3, S, S], ([n, c, y, z]) => at(x, [n!, c!, S - 1 - y!, S - 1 - z!])), 0, 'flip');
      expectNd(o['r'], nd([b, 3, S, S], ([n, c, y, z]) => at(x, [n!, c!, m(y! - 5), m(z! + 7)])), 0, 'roll');
      const cols = positions(S, -1, -1, -3, true);
      expect(cols.length).toBe(22);
      expectNd(o['s'], nd([b, 3, 32, 22], ([n, c, y, z]) => at(x, [n!, c!, 2 * y!, cols[z!]!])), 0, 'strided_slice');
      expectNd(o['sv'], nd([b, 3, S, S], ([n, c, y, z]) => (y! >= 40 && y! < 56 && z! < 16 ? at(x, [n!, c!, y! - 30, z! + 20]) : at(x, [n!, c!, y!, z!]))), 0, 'set_value patch');
      const memo = new Map<number, (readonly [number, number])[]>();
      const top = (n: number, c: number, y: number) => {
        const key = (n * 3 + c) * S + y;
        let r = memo.get(key);
        if (!r) memo.set(key, r = Array.from({ length: S }, (_, z) => [x.data[key * S + z]!, z] as const).sort((p, q) => q[0] - p[0] || p[1] - q[1]));
        return r;
      };
      expectNd(o['tv'], nd([b, 3, S, 5], ([n, c, y, k]) => top(n!, c!, y!)[k!]![0]), 0, 'top_k values');
      expectNd(o['ti'], nd([b, 3, S, 5], ([n, c, y, k]) => top(n!, c!, y!)[k!]![1]), 0, 'top_k indices');
      expectNd(o['g'], nd([b, 3, 8, S], ([n, c, k, z]) => at(x, [n!, c!, 9 * k!, z!])), 0, 'gather rows');
    });
  });
});

describe('tensor ops in real Paddle 3 (PIR) programs', () => {
  /**
   * A temp model folder: a COPY of the shared program (never a link: the params are written beside
   * it) and deterministic params in the real layout (sorted names, one combined stream); batch-norm
   * variances and scales 1, other floats small.
   */
  function withParams(name: string): string | undefined {
    const src = shared('programs_only', 'pir', name, 'inference.json');
    if (!existsSync(src)) return undefined;
    const dir = join(root, `pir-${name}`);
    mkdirSync(dir);
    copyFileSync(src, join(dir, 'inference.json'));
    const m = loadModel(dir, { modelFilename: 'inference.json', params: 'skip' });
    const ones = new Set<string>();
    for (const op of m.blocks[0]!.ops) if (op.type.startsWith('batch_norm')) for (const k of ['2', '3']) ones.add(op.inputs[k]?.[0] ?? '');
    const parts = m.paramNames.map((n, k) => {
      const v = m.blocks[0]!.vars.get(n)!;
      const shape = v.shape.map((d) => Math.max(d, 1));
      const count = numel(shape);
      // RT-DETR keeps its anchor-validity mask as a bool param: all valid
      if (v.dtype === 'bool') return encodeTensorRecord({ data_type: varTypeFromDtype('bool'), dims: shape }, new Uint8Array(count).fill(1));
      if (v.dtype !== 'float32') throw new Error(`param ${n}: ${v.dtype}`);
      const f = ones.has(n) ? new Float32Array(count).fill(1) : seededFloats(count, k + 1, 0.05);
      return encodeTensorRecord({ data_type: varTypeFromDtype('float32'), dims: shape }, new Uint8Array(f.buffer));
    });
    writeFileSync(join(dir, 'inference.pdiparams'), Buffer.concat(parts));
    return dir;
  }

  it('UVDoc (PIR pad3d reflect with an IntArray operand, shape64, slice, squeeze) converts, runs at batch 1 and 2 and passes the checker', async (t) => {
    const uv = withParams('UVDoc');
    if (!uv) { t.skip(); console.warn('[pserve tests] ../shared/fixtures/programs_only/pir absent: a real PIR program not converted'); return; }
    const file = join(root, 'uvdoc.onnx');
    const r = await convertToOnnx(uv, { modelFilename: 'inference.json', paramsFilename: 'inference.pdiparams', saveFile: file });
    expect(r.validation?.ok).toBe(true);
    expect(r.ops['pad3d']).toBe(2);
    written.push(file);
    const s = await openSession(file, { threads: 1 });
    sessions.push(s);
    for (const b of [1, 2]) {
      const y = (await s.run({ image: f32([b, 3, 96, 64], 110 + b, 2) }))['fetch_name_0']!;
      expect(y.dims).toEqual([b, 3, 96, 64]);
      expect(Array.from(y.data as Float32Array).every(Number.isFinite)).toBe(true);
    }
  });
});

describe('tensor ops: triangles and index_put (PP-DocLayoutV2)', () => {
  it('tril_triu (lower / upper, diagonals 0, 1, -1): a constant mask over declared dims from opset 9, Trilu from 14; PIR tril / triu', async () => {
    await each(9, () => prog([['x', 'float32', [-1, 4, 5]]], [['a', 'float32', [-1, 4, 5]], ['b', 'float32', [-1, 4, 5]], ['c', 'float32', [-1, 4, 5]]], [
      ['tril_triu', { X: ['x'] }, { Out: ['a'] }, { diagonal: 0, lower: true }],
      ['tril_triu', { X: ['x'] }, { Out: ['b'] }, { diagonal: 1, lower: false }],
      ['tril_triu', { X: ['x'] }, { Out: ['c'] }, { diagonal: -1, lower: true }],
    ], ['a', 'b', 'c']), (b) => ({ x: f32([b, 4, 5], 130) }), (o, i, b) => {
      const x = i['x']!;
      expectNd(o['a'], nd([b, 4, 5], ([n, r, c]) => (c! - r! <= 0 ? at(x, [n!, r!, c!]) : 0)), 0, 'tril');
      expectNd(o['b'], nd([b, 4, 5], ([n, r, c]) => (c! - r! >= 1 ? at(x, [n!, r!, c!]) : 0)), 0, 'triu 1');
      expectNd(o['c'], nd([b, 4, 5], ([n, r, c]) => (c! - r! <= -1 ? at(x, [n!, r!, c!]) : 0)), 0, 'tril -1');
    }, [14]);
    await each(14, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, -1, 3] }], [{ name: 'l', dtype: 'float32', shape: [-1, -1, 3] }, { name: 'u', dtype: 'float32', shape: [-1, -1, 3] }], [], [
      pop('tril', { 0: ['x'] }, { 0: ['l'] }, { diagonal: 1 }),
      pop('triu', { 0: ['x'] }, { 0: ['u'] }, { diagonal: 0 }),
    ]), (b) => ({ x: f32([b, 3, 3], 131) }), (o, i, b) => {
      expectNd(o['l'], nd([b, 3, 3], ([n, r, c]) => (c! - r! <= 1 ? at(i['x']!, [n!, r!, c!]) : 0)), 0, 'PIR tril');
      expectNd(o['u'], nd([b, 3, 3], ([n, r, c]) => (c! - r! >= 0 ? at(i['x']!, [n!, r!, c!]) : 0)), 0, 'PIR triu');
    });
  });

  it('index_put with a bool mask (one value, as PP-DocLayoutV2; accumulate) and with int index tensors (ScatterND; accumulate from 16)', async () => {
    await each(11, () => prog([['x', 'int64', [-1, 6]], ['m', 'bool', [-1, 6]], ['y', 'float32', [-1, 3, 2]], ['r', 'int64', [2]], ['c', 'int64', [2]], ['u', 'float32', [2]]], [
      ['v', 'int64', [1]], ['a', 'int64', [-1, 6]], ['s', 'int64', [-1, 6]], ['p', 'float32', [-1, 3, 2]],
    ], [
      ['assign_value', {}, { Out: ['v'] }, { dtype: 3, shape: [1], int64_values: { longs: [-100] } }],
      ['index_put', { x: ['x'], indices: ['m'], value: ['v'] }, { out: ['a'] }, { accumulate: false }],
      ['index_put', { x: ['x'], indices: ['m'], value: ['v'] }, { out: ['s'] }, { accumulate: true }],
      ['index_put', { x: ['y'], indices: ['r', 'c'], value: ['u'] }, { out: ['p'] }, { accumulate: false }],
    ], ['a', 's', 'p']), (b) => ({
      x: i64([b, 6], Array.from({ length: 6 * b }, (_, k) => k * 3 - 7)), m: bool([b, 6], [1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1].slice(0, 6 * b)),
      y: f32([b, 3, 2], 132), r: i64([2], [b - 1, 0]), c: i64([2], [2, 1]), u: { dtype: 'float32', dims: [2], data: Float32Array.from([5, -5]) },
    }), (o, i, b) => {
      const x = i['x']!;
      const m = i['m']!;
      expectNd(o['a'], { shape: [b, 6], data: x.data.map((v, k) => (m.data[k] ? -100 : v)) }, 0, 'mask put');
      expectNd(o['s'], { shape: [b, 6], data: x.data.map((v, k) => (m.data[k] ? v - 100 : v)) }, 0, 'mask accumulate');
      // y[[b-1, 0], [2, 1]] = [5, -5]: two (row, col) pairs, each a [2] slice set to u
      expectNd(o['p'], nd([b, 3, 2], ([n, r, c]) => (n === b - 1 && r === 2 ? [5, -5][c!]! : n === 0 && r === 1 ? [5, -5][c!]! : at(i['y']!, [n!, r!, c!]))), 0, 'int indices');
    });
  });
});

describe('scale with a ScaleTensor (as the RT-DETR PIR program uses it)', () => {
  it('a float32 [1] ScaleTensor scales an int64 0-D value into an int64 0-D value, and a float tensor keeps its shape', async () => {
    await each(9, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 3] }, { name: 'n', dtype: 'int64', shape: [] }],
      [{ name: 'y', dtype: 'int64', shape: [] }, { name: 'z', dtype: 'float32', shape: [-1, 3] }], [{ name: 's', dtype: 'float32', shape: [1] }], [
        pop('full', {}, { 0: ['s'] }, { shape: [1], value: 8, dtype: 'float32' }),
        pop('scale', { 0: ['n'], 1: ['s'] }, { 0: ['y'] }, { bias: 0, bias_after_scale: true }),
        pop('scale', { 0: ['x'], 1: ['s'] }, { 0: ['z'] }, { bias: 0.5, bias_after_scale: false }),
      ]), (b) => ({ x: f32([b, 3], 120), n: i64([], [3 + b]) }), (o, i, b) => {
      expect(o['y']!.dtype).toBe('int64');
      expectNd(o['y'], { shape: [], data: [8 * (3 + b)] }, 0, 'int64 scale');
      expectNd(o['z'], { shape: [b, 3], data: i['x']!.data.map((v) => (v + 0.5) * 8) }, 1e-6, 'float scale');
    });
  });
});

describe('tensor ops: what is refused, with its code', () => {
  /** convert a one-op legacy program at `opset` and return the error code and message */
  async function refusal(feeds: [string, DType, number[]][], vars: [string, DType, number[]][], ops: Parameters<typeof prog>[2], fetch: string[], opset = 13): Promise<[string, string]> {
    const d = join(root, `m${seq++}`);
    mkdirSync(d);
    writeFileSync(join(d, 'inference.pdmodel'), prog(feeds, vars, ops, fetch).programBytes());
    try { await convertToOnnx(d, { opsetVersion: opset }); return ['no error', '']; } catch (e) {
      expect(e).toBeInstanceOf(PserveError);
      return [(e as PserveError).code, (e as PserveError).message];
    }
  }
  const X: [string, DType, number[]][] = [['x', 'float32', [-1, 6]]];
  it('bad attributes and forms the ONNX graph cannot express are one-line E_ONNX_OP_UNSUPPORTED errors naming the op', async () => {
    const cases: [Parameters<typeof prog>[1], Parameters<typeof prog>[2], RegExp, number?][] = [
      [[['a', 'float32', [-1, 3]], ['b', 'float32', [-1, 3]]], [['split', { X: ['x'] }, { Out: ['a', 'b'] }, { axis: 1, num: 0, sections: [-1, -1] }]], /split .*more than one section is -1/],
      [[['s', 'int32', [1]], ['a', 'float32', [-1, 3]], ['b', 'float32', [-1, 3]]], [['shape', { Input: ['x'] }, { Out: ['s'] }], ['split', { X: ['x'], SectionsTensorList: ['s', 's'] }, { Out: ['a', 'b'] }, { axis: 1 }]], /need opset 13/, 11],
      [[['y', 'float32', [-1, 6]]], [['set_value', { Input: ['x'] }, { Out: ['y'] }, { axes: [1], starts: [0], ends: [1], steps: [1] }]], /set_value .*neither ValueTensor nor values/],
      [[['y', 'float32', [4, -1]]], [['fill_constant_batch_size_like', { Input: ['x'] }, { Out: ['y'] }, { shape: [4, -1], output_dim_idx: 2 }]], /output_dim_idx 2 is outside/],
      [[['y', 'float32', [2, 2]]], [['assign_value', {}, { Out: ['y'] }, { dtype: 5, shape: [2, 2], fp32_values: { floats: [1, 2, 3] } }]], /does not hold the 3 values/],
      [[['y', 'float32', [-1, 6]]], [['pad3d', { X: ['x'] }, { Out: ['y'] }, { paddings: [1, 1, 1, 1, 1], mode: 'constant' }]], /5 paddings/],
      [[['y', 'float32', [-1, 6]]], [['pad3d', { X: ['x'] }, { Out: ['y'] }, { paddings: [1, 1, 1, 1, 1, 1], mode: 'mirror' }]], /mode mirror/],
      [[['y', 'float32', [-1, 6]]], [['einsum', { Operands: ['x'] }, { Out: ['y'] }, { equation: ' ' }]], /equation is empty/],
      [[['y', 'float32', [-1, 6, 3]]], [['one_hot', { X: ['x'] }, { Out: ['y'] }, { depth: 3 }]], /legacy one_hot/],
      [[['y', 'float32', [3, 3]]], [['eye', {}, { Out: ['y'] }, { num_rows: -1, dtype: 5 }]], /num_rows is not set/],
    ];
    for (const [vars, ops, re, opset] of cases) {
      const fetch = Object.values(ops[ops.length - 1]![2]).flat();
      const [c, msg] = await refusal(X, vars, ops, fetch, opset);
      expect(c, `${ops[ops.length - 1]![0]}: ${msg}`).toBe('E_ONNX_OP_UNSUPPORTED');
      expect(msg).toMatch(re);
      expect(msg.includes('\n')).toBe(false);
    }
  });

  it('an opset below what an instance needs is E_ONNX_OPSET naming the op and the reason', async () => {
    if (MIN_OPSET > 10) return;
    const [c, msg] = await refusal([['x', 'float32', [-1, 2, 3, 4, 3]], ['q', 'int32', [6]]], [['y', 'float32', [-1, 2, 6, 5, 6]]],
      [['pad3d', { X: ['x'], Paddings: ['q'] }, { Out: ['y'] }, { mode: 'constant' }]], ['y'], 10);
    expect(c).toBe('E_ONNX_OPSET');
    expect(msg).toMatch(/pad3d needs 11 \(paddings given as a tensor\)/);
  });
});

describe('tensor ops: the ONNX written', () => {
  it('every model converted above passes onnx.checker with full_check (python3-onnx)', (t) => {
    if (!pyHas('onnx')) { t.skip(); return; }
    const py = PY;
    if (written.length === 0) { t.skip(); return; } // run alone (-t): nothing was converted before it
    const list = join(root, 'written.txt');
    writeFileSync(list, written.join('\n'));
    const script = [
      'import sys, onnx',
      'for p in open(sys.argv[1]).read().split("\\n"):',
      '  try:',
      '    onnx.checker.check_model(p, full_check=True)',
      '  except Exception as e:',
      '    m = onnx.load(p)',
      '    print("FAIL", p, [n.op_type for n in m.graph.node], str(e).strip().split("\\n")[-1])',
      'print("checked")',
    ].join('\n');
    const r = spawnSync(py, ['-c', script, list], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('checked');
  });
});
