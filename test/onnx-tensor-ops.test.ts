/**
 * Tensor-op mappers of the native ONNX engine, each against a float64 reference written here from
 * Paddle's documented semantics: small Paddle programs (legacy through ProgramBuilder, PIR as the
 * loaded op list), converted at every opset the mapper claims (from the engine's lowest up), run in
 * onnxruntime at batch 1 and 2.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertToOnnx, MIN_OPSET, MAX_OPSET } from '../src/convert/onnx/index.js';
import { PserveError } from '../src/errors.js';
import { ProgramBuilder, seededFloats, type BuilderAttr } from '../src/formats/program-builder.js';
import type { LoadedModel } from '../src/model/load-model.js';
import type { AttrValue, OpNode, TensorSpec, VarSpec } from '../src/model/types.js';
import type { DType } from '../src/model/dtype.js';
import { openSession, type HostTensor, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import { tempDir } from './helpers.js';

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
  const st = stridesOf(t.shape);
  return t.data[idx.reduce((p, v, k) => p + v * st[k]!, 0)]!;
}
function nd(shape: number[], fn: (idx: number[]) => number): Nd {
  return { shape, data: Array.from({ length: numel(shape) }, (_, i) => fn(unravel(i, shape))) };
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

async function sessionOf(bytes: Uint8Array): Promise<OnnxSession> {
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

  it('PIR cast (dtype by name) and full_like (value operand, dtype)', async () => {
    await each(9, () => pirModel([{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
      [{ name: 'y', dtype: 'int64', shape: [-1, 4] }, { name: 'z', dtype: 'float32', shape: [-1, 4] }],
      [{ name: 'v', dtype: 'float32', shape: [1] }], [
        pop('cast', { 0: ['x'] }, { 0: ['y'] }, { dtype: 'int64' }),
        pop('full', {}, { 0: ['v'] }, { shape: [1], value: -1.5, dtype: 'float32' }),
        pop('full_like', { 0: ['x'], 1: ['v'] }, { 0: ['z'] }, { dtype: 'float32' }),
      ]), (b) => ({ x: f32([b, 4], 3, 5) }), (o, i) => {
      const x = i['x']!;
      expectNd(o['y'], { shape: x.shape, data: x.data.map(Math.trunc) }, 0, 'cast');
      expectNd(o['z'], nd(x.shape, () => -1.5), 0, 'full_like');
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
