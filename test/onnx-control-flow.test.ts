/**
 * Control flow in the native converter (issue 13), on small Paddle programs written with
 * ProgramBuilder (sub-blocks, sub_block attributes, tensor-array vars) and compared with results
 * computed by hand: a `while` with a counter and an array write (run-time trip count -> ONNX Loop;
 * constant trip count -> unrolled), a data-dependent `conditional_block` + select_input (-> If) and
 * a constant one (folded), nested loops (Loop in Loop; a constant inner loop unrolled inside a
 * Loop), tensor arrays read back, and errors that name the op and block. Every model also passes
 * onnx.checker (python3-onnx; skipped with a message when absent).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertToOnnx, type ConvertToOnnxResult } from '../src/convert/onnx/index.js';
import { decodeProgram, encodeProgram } from '../src/formats/paddle-program.js';
import { ProgramBuilder } from '../src/formats/program-builder.js';
import { loadModel } from '../src/model/load-model.js';
import { openSession, type HostTensor } from '../src/runtime/onnx-runtime.js';
import { onnx } from '../src/convert/onnx/graph-builder.js';
import { PY as PYTHON, cli, cliJson, describeShared, pyHas, shared, tempDir } from './helpers.js';
import { makeZooParams, setParams } from './zoo-params.js';
import { IMAGENET, normalize, type Rgb } from './zoo-images.js';

// onnx.checker (python3-onnx): skipped with a message locally when absent, a failure in CI (pyHas)
const PY = pyHas('onnx') ? PYTHON : undefined;

const dir = tempDir('pserve-cf-');

/** onnx.checker.check_model with full_check (strict shape inference) unless told otherwise */
function onnxChecker(bytes: Uint8Array, full = true): void {
  if (!PY) return;
  const f = join(dir, `check-${Math.random().toString(36).slice(2)}.onnx`);
  writeFileSync(f, bytes);
  const r = spawnSync(PY, ['-c', 'import onnx,sys\nm=onnx.load(sys.argv[1])\nonnx.checker.check_model(m, full_check=sys.argv[2]=="1")', f, full ? '1' : '0'], { encoding: 'utf8' });
  expect(r.status, r.stderr.slice(-1500)).toBe(0);
}

let seq = 0;
async function convert(b: ProgramBuilder, opts: { opsetVersion?: number } = {}): Promise<ConvertToOnnxResult> {
  const d = join(dir, `m${seq++}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  return convertToOnnx(d, opts);
}

async function run(bytes: Uint8Array, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const s = await openSession(bytes);
  try { return await s.run(feeds); } finally { await s.close(); }
}

const f32 = (dims: number[], data: number[]): HostTensor => ({ dtype: 'float32', dims, data: Float32Array.from(data) });
const i64 = (v: number): HostTensor => ({ dtype: 'int64', dims: [1], data: BigInt64Array.from([BigInt(v)]) });
const nums = (t: HostTensor): number[] => Array.from(t.data as ArrayLike<number | bigint>, Number);

/** x values like a normalised image row: mixed signs, not round */
const X = [0.73, -1.21, 0.05, 1.9, -0.44, 0.318];

/**
 * i = 0; while (i < n) { arr[I] = x * i + 1; i += 1 }; out = stack(arr)
 * `n` is a feed (run-time trip count) or a fill_constant; I is i itself or lod_array_length(arr)
 */
function counterLoop(opts: { n: 'feed' | number; index: 'counter' | 'length'; boundInBody?: boolean }): ProgramBuilder {
  const b = new ProgramBuilder();
  b.feed('x', 'float32', [-1, 3]);
  if (opts.n === 'feed') b.feed('n', 'int64', [1]);
  else b.variable('n', 'int64', [1]).op('fill_constant', {}, { Out: ['n'] }, { shape: [1], value: opts.n, dtype: 3 });
  b.variable('i', 'int64', [1]).variable('cond', 'bool', [1]).array('arr', 'float32', [-1, 3])
    .variable('out', 'float32', [-1, -1, 3]).variable('out_index', 'int32', [-1]).variable('scopes', 'float32', []);
  b.op('fill_constant', {}, { Out: ['i'] }, { shape: [1], value: 0, dtype: 3 });
  b.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['cond'] }, { axis: -1 });
  const body = b.subBlock((s) => {
    s.variable('fi', 'float32', [1]).variable('xi', 'float32', [-1, 3]).variable('v', 'float32', [-1, 3]).variable('len', 'int64', [1]);
    s.op('cast', { X: ['i'] }, { Out: ['fi'] }, { in_dtype: 3, out_dtype: 5 });
    s.op('elementwise_mul', { X: ['x'], Y: ['fi'] }, { Out: ['xi'] }, { axis: -1 });
    s.op('scale', { X: ['xi'] }, { Out: ['v'] }, { scale: 1, bias: 1, bias_after_scale: true });
    if (opts.index === 'length') {
      s.op('lod_array_length', { X: ['arr'] }, { Out: ['len'] });
      s.op('write_to_array', { X: ['v'], I: ['len'] }, { Out: ['arr'] });
    } else {
      s.op('write_to_array', { X: ['v'], I: ['i'] }, { Out: ['arr'] });
    }
    s.op('increment', { X: ['i'] }, { Out: ['i'] }, { step: 1 });
    // the bound set again in the body (as generated code often does): still a constant
    if (opts.boundInBody && typeof opts.n === 'number') s.op('fill_constant', {}, { Out: ['n'] }, { shape: [1], value: opts.n, dtype: 3 });
    s.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['cond'] }, { axis: -1 });
  });
  b.op('while', { X: ['x', 'i', 'n', 'arr'], Condition: ['cond'] }, { Out: ['i', 'cond', 'arr'], StepScopes: ['scopes'] }, { sub_block: { block: body }, is_test: true });
  b.op('tensor_array_to_tensor', { X: ['arr'] }, { Out: ['out'], OutIndex: ['out_index'] }, { axis: 0, use_stack: true });
  b.fetch('out').fetch('out_index');
  return b;
}

function counterLoopWant(x: number[], rows: number, n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++) for (let j = 0; j < rows * 3; j++) out.push(Math.fround(Math.fround(x[j]! * k) + 1));
  return out;
}

describe('native ONNX: while', () => {
  it('counter + array append (I = lod_array_length): ONNX Loop with a run-time trip count, the array as a scan output', async () => {
    const r = await convert(counterLoop({ n: 'feed', index: 'length' }));
    expect(r.controlFlow?.loops).toEqual([{ block: 0, subBlock: 1, condition: 'cond', result: 'loop', trips: null, why: 'the trip count is not a conversion-time constant' }]);
    onnxChecker(r.bytes!);
    // no iteration: an empty stack that keeps the element's rank (the scan output alone would be [0])
    const none = await run(r.bytes!, { x: f32([2, 3], X), n: i64(0) });
    expect(none['out']!.dims).toEqual([0, 1, 3]);
    for (const n of [1, 3, 5]) {
      const got = await run(r.bytes!, { x: f32([2, 3], X), n: i64(n) });
      expect(got['out']!.dims).toEqual([n, 2, 3]);
      const want = counterLoopWant(X, 2, n);
      nums(got['out']!).forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 6));
      expect(nums(got['out_index']!)).toEqual(Array(n).fill(1));
    }
  });

  it('counter + array write at the counter (I = i): the array is carried through the Loop as a sequence', async () => {
    const r = await convert(counterLoop({ n: 'feed', index: 'counter' }));
    expect(r.controlFlow?.loops[0]?.result).toBe('loop');
    // Loop and If take sequences from opset 13: the lowest opset that works is chosen
    expect(r.opset).toBe(13);
    await expect(convert(counterLoop({ n: 'feed', index: 'counter' }), { opsetVersion: 11 })).rejects.toMatchObject({ code: 'E_ONNX_OPSET', message: expect.stringMatching(/while needs 13 \(the loop carries tensor array arr as a sequence/) });
    // onnx 1.12's Loop shape inference does not carry sequence types (its strict mode reports a null
    // input type after the Loop); the structural check still runs
    onnxChecker(r.bytes!, false);
    // from opset 14 the body passes the sequence on through Identity
    const r17 = await convert(counterLoop({ n: 'feed', index: 'counter' }), { opsetVersion: 17 });
    onnxChecker(r17.bytes!, false);
    for (const bytes of [r.bytes!, r17.bytes!]) {
      const got = await run(bytes, { x: f32([1, 3], X.slice(0, 3)), n: i64(4) });
      expect(got['out']!.dims).toEqual([4, 1, 3]);
      const want = counterLoopWant(X, 1, 4);
      nums(got['out']!).forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 6));
    }
  });

  it('a constant trip count is unrolled (and said so); same numbers', async () => {
    for (const [index, boundInBody] of [['length', false], ['counter', false], ['length', true]] as const) {
      const r = await convert(counterLoop({ n: 4, index, boundInBody }));
      expect(r.controlFlow?.loops).toEqual([{ block: 0, subBlock: 1, condition: 'cond', result: 'unrolled', trips: 4 }]);
      onnxChecker(r.bytes!);
      const got = await run(r.bytes!, { x: f32([2, 3], X) });
      expect(got['out']!.dims).toEqual([4, 2, 3]);
      const want = counterLoopWant(X, 2, 4);
      nums(got['out']!).forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 6));
    }
  });

  it('pserve onnx says which loops were unrolled (--json controlFlow, and a text line)', () => {
    const cases = [
      [counterLoop({ n: 'feed', index: 'length' }), [{ block: 0, subBlock: 1, condition: 'cond', result: 'loop', trips: null, why: 'the trip count is not a conversion-time constant' }], /loop {6}while \(block 1\): ONNX Loop \(the trip count is not a conversion-time constant\)\n/],
      [counterLoop({ n: 4, index: 'length' }), [{ block: 0, subBlock: 1, condition: 'cond', result: 'unrolled', trips: 4 }], /loop {6}while \(block 1\): unrolled, 4 trips/],
      [nestedLoop(3), [{ block: 1, subBlock: 2, condition: 'c2', result: 'unrolled', trips: 3 }, { block: 0, subBlock: 1, condition: 'cond', result: 'loop', trips: null, why: 'the trip count is not a conversion-time constant' }], /loop {6}while \(block 2\): unrolled, 3 trips\nloop {6}while \(block 1\): ONNX Loop \(the trip count is not a conversion-time constant\)\n/],
    ] as const;
    cases.forEach(([program, loops, line], k) => {
      const d = join(dir, `cli-${k}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'inference.pdmodel'), program.programBytes());
      const file = join(d, 'model.onnx');
      const r = cliJson<{ controlFlow: { loops: unknown[] }; validation: { ok?: boolean } }>(['onnx', '--model_dir', d, '--save_file', file, '--engine', 'native']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.controlFlow.loops).toEqual(loops);
      expect(r.json.validation.ok).toBe(true);
      const text = cli(['onnx', '--model_dir', d, '--save_file', file, '--engine', 'native']);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(line);
    });
  });

  it('a loop whose constant condition is false never runs', async () => {
    const r = await convert(counterLoop({ n: 0, index: 'length' }));
    expect(r.controlFlow?.loops[0]).toMatchObject({ result: 'never-runs', trips: 0 });
  });
});

/**
 * i = 0; while (i < n) { j = 0; while (j < bound) { acc += x; j += 1 }; i += 1 }
 * bound = i (a Loop inside the Loop) or a constant (unrolled inside the Loop body)
 */
function nestedLoop(bound: 'i' | number): ProgramBuilder {
  const b = new ProgramBuilder();
  b.feed('x', 'float32', [-1, 3]).feed('n', 'int64', [1]);
  b.variable('i', 'int64', [1]).variable('cond', 'bool', [1]).variable('acc', 'float32', [-1, 3]).variable('scopes', 'float32', []);
  b.op('fill_constant', {}, { Out: ['i'] }, { shape: [1], value: 0, dtype: 3 });
  b.op('scale', { X: ['x'] }, { Out: ['acc'] }, { scale: 0, bias: 0, bias_after_scale: true });
  b.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['cond'] }, { axis: -1 });
  const outer = b.subBlock((s) => {
    s.variable('j', 'int64', [1]).variable('c2', 'bool', [1]).variable('inner_scopes', 'float32', []);
    const lim = typeof bound === 'number' ? 'lim' : 'i';
    if (typeof bound === 'number') s.variable('lim', 'int64', [1]).op('fill_constant', {}, { Out: ['lim'] }, { shape: [1], value: bound, dtype: 3 });
    s.op('fill_constant', {}, { Out: ['j'] }, { shape: [1], value: 0, dtype: 3 });
    s.op('less_than', { X: ['j'], Y: [lim] }, { Out: ['c2'] }, { axis: -1 });
    const inner = s.subBlock((t) => {
      t.op('elementwise_add', { X: ['acc'], Y: ['x'] }, { Out: ['acc'] }, { axis: -1 });
      t.op('increment', { X: ['j'] }, { Out: ['j'] }, { step: 1 });
      t.op('less_than', { X: ['j'], Y: [lim] }, { Out: ['c2'] }, { axis: -1 });
    });
    s.op('while', { X: ['acc', 'x', 'j', lim], Condition: ['c2'] }, { Out: ['acc', 'j', 'c2'], StepScopes: ['inner_scopes'] }, { sub_block: { block: inner }, is_test: true });
    s.op('increment', { X: ['i'] }, { Out: ['i'] }, { step: 1 });
    s.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['cond'] }, { axis: -1 });
  });
  b.op('while', { X: ['acc', 'x', 'i', 'n'], Condition: ['cond'] }, { Out: ['acc', 'i', 'cond'], StepScopes: ['scopes'] }, { sub_block: { block: outer }, is_test: true });
  b.fetch('acc');
  return b;
}

describe('native ONNX: nested loops', () => {
  it('a Loop inside a Loop (inner bound = outer counter): acc = x * n(n-1)/2', async () => {
    const r = await convert(nestedLoop('i'));
    expect(r.controlFlow?.loops.map((l) => [l.block, l.subBlock, l.result])).toEqual([[1, 2, 'loop'], [0, 1, 'loop']]);
    onnxChecker(r.bytes!);
    for (const n of [0, 1, 4]) {
      const got = await run(r.bytes!, { x: f32([2, 3], X), n: i64(n) });
      let want = X.map(() => 0);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) want = want.map((a, k) => Math.fround(a + X[k]!));
      expect(got['acc']!.dims).toEqual([2, 3]);
      nums(got['acc']!).forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 5));
    }
  });

  it('a constant inner loop is unrolled inside the outer Loop: acc = 3 n x', async () => {
    const r = await convert(nestedLoop(3));
    expect(r.controlFlow?.loops.map((l) => [l.block, l.subBlock, l.result, l.trips])).toEqual([[1, 2, 'unrolled', 3], [0, 1, 'loop', null]]);
    onnxChecker(r.bytes!);
    const got = await run(r.bytes!, { x: f32([2, 3], X), n: i64(5) });
    let want = X.map(() => 0);
    for (let i = 0; i < 5 * 3; i++) want = want.map((a, k) => Math.fround(a + X[k]!));
    nums(got['acc']!).forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 5));
  });
});

/**
 * c = sum(x) > 0; a = 2x in block 1 when c; b = x - 1 (and a row of x's max, so the shapes differ)
 * in block 2 when !c; out = select_input([b, a], c)
 */
function branchProgram(cond: 'data' | 'const'): ProgramBuilder {
  const b = new ProgramBuilder();
  b.feed('x', 'float32', [-1, 4]);
  b.variable('s', 'float32', [1]).variable('zero', 'float32', [1]).variable('c', 'bool', [1]).variable('nc', 'bool', [1]).variable('m', 'int32', [1])
    .variable('a', 'float32', [-1, 4]).variable('bb', 'float32', [-1, 4]).variable('out', 'float32', [-1, 4]).variable('sc1', 'float32', []).variable('sc2', 'float32', []);
  if (cond === 'data') {
    b.op('reduce_sum', { X: ['x'] }, { Out: ['s'] }, { dim: [0], keep_dim: false, reduce_all: true });
    b.op('fill_constant', {}, { Out: ['zero'] }, { shape: [1], value: 0, dtype: 5 });
    b.op('greater_than', { X: ['s'], Y: ['zero'] }, { Out: ['c'] }, { axis: -1 });
  } else {
    b.variable('one', 'int64', [1]).variable('two', 'int64', [1]);
    b.op('fill_constant', {}, { Out: ['one'] }, { shape: [1], value: 1, dtype: 3 });
    b.op('fill_constant', {}, { Out: ['two'] }, { shape: [1], value: 2, dtype: 3 });
    b.op('less_than', { X: ['one'], Y: ['two'] }, { Out: ['c'] }, { axis: -1 });
  }
  const thenB = b.subBlock((s) => { s.op('scale', { X: ['x'] }, { Out: ['a'] }, { scale: 2, bias: 0, bias_after_scale: true }); });
  b.op('conditional_block', { Cond: ['c'], Input: ['x'] }, { Out: ['a'], Scope: ['sc1'] }, { sub_block: { block: thenB }, is_scalar_condition: true });
  b.op('logical_not', { X: ['c'] }, { Out: ['nc'] });
  const elseB = b.subBlock((s) => {
    s.variable('xm1', 'float32', [-1, 4]).variable('mx', 'float32', [1, 4]);
    s.op('scale', { X: ['x'] }, { Out: ['xm1'] }, { scale: 1, bias: -1, bias_after_scale: true });
    s.op('reduce_max', { X: ['x'] }, { Out: ['mx'] }, { dim: [0], keep_dim: true, reduce_all: false });
    s.op('concat', { X: ['xm1', 'mx'] }, { Out: ['bb'] }, { axis: 0 });
  });
  b.op('conditional_block', { Cond: ['nc'], Input: ['x'] }, { Out: ['bb'], Scope: ['sc2'] }, { sub_block: { block: elseB }, is_scalar_condition: true });
  b.op('cast', { X: ['c'] }, { Out: ['m'] }, { in_dtype: 0, out_dtype: 2 });
  b.op('select_input', { X: ['bb', 'a'], Mask: ['m'] }, { Out: ['out'] });
  b.fetch('out');
  return b;
}

describe('native ONNX: conditional_block', () => {
  it('a data-dependent condition becomes If (branches of different shapes) + select_input', async () => {
    for (const opset of [11, 17]) {
      const r = await convert(branchProgram('data'), { opsetVersion: opset });
      expect(r.controlFlow?.branches.map((b) => b.result)).toEqual(['if', 'if']);
      onnxChecker(r.bytes!);
      // positive sum: 2x
      const pos = [0.5, -0.2, 1.3, 0.07, -0.9, 2.2, 0.4, -0.1];
      let got = await run(r.bytes!, { x: f32([2, 4], pos) });
      expect(got['out']!.dims).toEqual([2, 4]);
      nums(got['out']!).forEach((v, k) => expect(v).toBeCloseTo(2 * pos[k]!, 6));
      // negative sum: [x - 1; max over rows]
      const neg = pos.map((v) => -v);
      got = await run(r.bytes!, { x: f32([2, 4], neg) });
      expect(got['out']!.dims).toEqual([3, 4]);
      const want = [...neg.map((v) => v - 1), ...[0, 1, 2, 3].map((c) => Math.max(neg[c]!, neg[4 + c]!))];
      nums(got['out']!).forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 6));
    }
  });

  it('a condition known at conversion time folds the branches away (no If in the graph)', async () => {
    const r = await convert(branchProgram('const'));
    expect(r.controlFlow?.branches.map((b) => b.result)).toEqual(['folded-taken', 'folded-skipped']);
    onnxChecker(r.bytes!);
    expect(Buffer.from(r.bytes!).includes(Buffer.from('If'))).toBe(false);
    const x = [0.5, -0.2, 1.3, 0.07];
    const got = await run(r.bytes!, { x: f32([1, 4], x) });
    nums(got['out']!).forEach((v, k) => expect(v).toBeCloseTo(2 * x[k]!, 6));
  });
});

describe('native ONNX: loop bodies read outer values by name', () => {
  it('a fetched var rewritten in place after the loop keeps the body\'s reads pointing at its first value', async () => {
    // y = 2x; i = 0; acc = 0x; while (i < n) { acc += y; i++ }; y = 3y (in place); fetch y, acc
    const b = new ProgramBuilder();
    b.feed('x', 'float32', [-1, 3]).feed('n', 'int64', [1]);
    b.variable('y', 'float32', [-1, 3]).variable('i', 'int64', [1]).variable('cond', 'bool', [1]).variable('acc', 'float32', [-1, 3]).variable('sc', 'float32', []);
    b.op('scale', { X: ['x'] }, { Out: ['y'] }, { scale: 2 });
    b.op('scale', { X: ['x'] }, { Out: ['acc'] }, { scale: 0 });
    b.op('fill_constant', {}, { Out: ['i'] }, { shape: [1], value: 0, dtype: 3 });
    b.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['cond'] });
    const body = b.subBlock((s) => {
      s.op('elementwise_add', { X: ['acc'], Y: ['y'] }, { Out: ['acc'] }, { axis: -1 });
      s.op('increment', { X: ['i'] }, { Out: ['i'] }, { step: 1 });
      s.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['cond'] });
    });
    b.op('while', { X: ['acc', 'y', 'i', 'n'], Condition: ['cond'] }, { Out: ['acc', 'i', 'cond'], StepScopes: ['sc'] }, { sub_block: { block: body } });
    b.op('scale', { X: ['y'] }, { Out: ['y'] }, { scale: 3 });
    b.fetch('y').fetch('acc');
    const r = await convert(b);
    onnxChecker(r.bytes!);
    const got = await run(r.bytes!, { x: f32([2, 3], X), n: i64(4) });
    nums(got['y']!).forEach((v, k) => expect(v).toBeCloseTo(6 * X[k]!, 5));
    nums(got['acc']!).forEach((v, k) => expect(v).toBeCloseTo(8 * X[k]!, 5));
  });
});

describe('native ONNX: loop-carried values without a value before the loop', () => {
  it('a var first written in the body leaves the Loop with its last value (it starts as an empty placeholder)', async () => {
    // i = 0; while (i < n) { last = x * i; i++ }; fetch last  -> x * (n - 1)
    const b = new ProgramBuilder();
    b.feed('x', 'float32', [-1, 3]).feed('n', 'int64', [1]);
    b.variable('i', 'int64', [1]).variable('cond', 'bool', [1]).variable('last', 'float32', [-1, 3]).variable('sc', 'float32', []);
    b.op('fill_constant', {}, { Out: ['i'] }, { shape: [1], value: 0, dtype: 3 });
    b.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['cond'] });
    const body = b.subBlock((s) => {
      s.variable('fi', 'float32', [1]);
      s.op('cast', { X: ['i'] }, { Out: ['fi'] }, { in_dtype: 3, out_dtype: 5 });
      s.op('elementwise_mul', { X: ['x'], Y: ['fi'] }, { Out: ['last'] }, { axis: -1 });
      s.op('increment', { X: ['i'] }, { Out: ['i'] }, { step: 1 });
      s.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['cond'] });
    });
    b.op('while', { X: ['x', 'i', 'n'], Condition: ['cond'] }, { Out: ['last', 'i', 'cond'], StepScopes: ['sc'] }, { sub_block: { block: body } });
    b.fetch('last');
    const r = await convert(b);
    onnxChecker(r.bytes!);
    for (const n of [1, 3]) {
      const got = await run(r.bytes!, { x: f32([2, 3], X), n: i64(n) });
      expect(got['last']!.dims).toEqual([2, 3]);
      nums(got['last']!).forEach((v, k) => expect(v).toBeCloseTo(X[k]! * (n - 1), 5));
    }
  });
});

describe('native ONNX: tensor arrays and refusals', () => {
  it('read_from_array and lod_array_length after a loop', async () => {
    const b = counterLoop({ n: 'feed', index: 'length' });
    b.variable('k', 'int64', [1]).variable('item', 'float32', [-1, 3]).variable('count', 'int64', [1]);
    b.op('fill_constant', {}, { Out: ['k'] }, { shape: [1], value: 2, dtype: 3 });
    b.op('read_from_array', { X: ['arr'], I: ['k'] }, { Out: ['item'] });
    b.op('lod_array_length', { X: ['arr'] }, { Out: ['count'] });
    b.fetch('item').fetch('count');
    const r = await convert(b);
    onnxChecker(r.bytes!);
    const got = await run(r.bytes!, { x: f32([2, 3], X), n: i64(5) });
    expect(nums(got['count']!)).toEqual([5]);
    nums(got['item']!).forEach((v, k) => expect(v).toBeCloseTo(Math.fround(X[k]! * 2) + 1, 6));
  });

  it('a loop body that never writes its condition is refused, naming the op and block', async () => {
    const b = new ProgramBuilder();
    b.feed('x', 'float32', [-1, 3]);
    b.variable('c', 'bool', [1]).variable('y', 'float32', [-1, 3]).variable('sc', 'float32', []);
    b.op('fill_constant', {}, { Out: ['c'] }, { shape: [1], value: 1, dtype: 0 });
    const body = b.subBlock((s) => { s.op('scale', { X: ['x'] }, { Out: ['y'] }, { scale: 2 }); });
    b.op('while', { X: ['x'], Condition: ['c'] }, { Out: ['y'], StepScopes: ['sc'] }, { sub_block: { block: body } });
    b.fetch('y');
    await expect(convert(b)).rejects.toMatchObject({ code: 'E_ONNX_OP_UNSUPPORTED', message: expect.stringMatching(/op while .* in block 0: the loop body \(block 1\) never writes its condition c/) });
  });

  it('an op that cannot be expressed inside a sub-block names its block', async () => {
    // arr[5] = x on an empty array: Paddle pads with empty tensors, ONNX sequences cannot
    const b = new ProgramBuilder();
    b.feed('x', 'float32', [-1, 3]);
    b.variable('i', 'int64', [1]).variable('n', 'int64', [1]).variable('c', 'bool', [1]).array('arr', 'float32', [-1, 3])
      .variable('five', 'int64', [1]).variable('out', 'float32', [-1, 3]).variable('sc', 'float32', []);
    b.op('fill_constant', {}, { Out: ['i'] }, { shape: [1], value: 0, dtype: 3 });
    b.op('fill_constant', {}, { Out: ['n'] }, { shape: [1], value: 1, dtype: 3 });
    b.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['c'] });
    const body = b.subBlock((s) => {
      s.op('fill_constant', {}, { Out: ['five'] }, { shape: [1], value: 5, dtype: 3 });
      s.op('write_to_array', { X: ['x'], I: ['five'] }, { Out: ['arr'] });
      s.op('increment', { X: ['i'] }, { Out: ['i'] }, { step: 1 });
      s.op('less_than', { X: ['i'], Y: ['n'] }, { Out: ['c'] });
    });
    b.op('while', { X: ['x', 'i', 'n', 'arr'], Condition: ['c'] }, { Out: ['i', 'c', 'arr'], StepScopes: ['sc'] }, { sub_block: { block: body } });
    b.op('tensor_array_to_tensor', { X: ['arr'] }, { Out: ['out'] }, { axis: 0, use_stack: false });
    b.fetch('out');
    await expect(convert(b)).rejects.toMatchObject({ code: 'E_ONNX_OP_UNSUPPORTED', message: expect.stringMatching(/op write_to_array \(output arr\) in block 1: writes index 5 past the end of an array of 0/) });
  });

  it('sub-blocks round-trip through the program writer and loader', () => {
    const b = nestedLoop('i');
    const d = join(dir, 'rt');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    const m = loadModel(d, { params: 'skip' });
    expect(m.blocks.map((x) => [x.idx, x.parentIdx, x.ops.length])).toEqual([[0, -1, 7], [1, 0, 5], [2, 1, 3]]);
    expect(m.blocks[0]!.ops.find((o) => o.type === 'while')!.attrs['sub_block']).toBe(1);
    expect(m.blocks[1]!.ops.find((o) => o.type === 'while')!.attrs['sub_block']).toBe(2);
    // byte-exact: decoding the written program and encoding it again gives the same bytes
    const bytes = counterLoop({ n: 'feed', index: 'length' }).programBytes();
    expect(Buffer.from(encodeProgram(decodeProgram(bytes, 'x.pdmodel'))).equals(Buffer.from(bytes))).toBe(true);
    const arr = loadModelFromBytes(bytes).blocks[0]!.vars.get('arr')!;
    expect([arr.dtype, arr.shape]).toEqual(['float32', [-1, 3]]);
  });
});

/** load a program written in memory (a temp folder) */
function loadModelFromBytes(bytes: Uint8Array): ReturnType<typeof loadModel> {
  const d = join(dir, `load-${seq++}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'inference.pdmodel'), bytes);
  return loadModel(d, { params: 'skip' });
}

// ---------------------------------------------------------------- zoo: the PP-ShiTu mainbody detector and SLANet

const PIL_PY = pyHas('PIL') ? PYTHON : undefined;

/** a photo resized to w x h (bilinear) as HWC 0..255 plus its original size, via PIL; undefined without it */
function decodePhoto(file: string, w: number, h: number): { img: Rgb; origH: number; origW: number } | undefined {
  if (!PIL_PY) return undefined;
  const r = spawnSync(PIL_PY, ['-c', 'import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1]).convert("RGB")\nsys.stdout.buffer.write(b"%d %d\\n" % (im.size[1], im.size[0]))\nsys.stdout.buffer.write(im.resize((int(sys.argv[2]), int(sys.argv[3])), Image.BILINEAR).tobytes())', file, String(w), String(h)], { maxBuffer: 64 << 20 });
  expect(r.status, String(r.stderr)).toBe(0);
  const buf = r.stdout as Buffer;
  const nl = buf.indexOf(10);
  const [origH, origW] = buf.subarray(0, nl).toString().split(' ').map(Number) as [number, number];
  return { img: { h, w, data: Float32Array.from(buf.subarray(nl + 1)) }, origH, origW };
}

/** overwrite float32 params of a made-params folder in place (name -> values) */

/** add graph outputs (float32, shape left to onnxruntime) so a test can read intermediate tensors */
function exposeOutputs(bytes: Uint8Array, names: string[]): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  for (const n of names) m.graph!.output!.push({ name: n, type: { tensorType: { elemType: 1 } } });
  return onnx.ModelProto.encode(m).finish();
}

const PICO_LEVELS = [
  { stride: 8, size: 80, cls: 'sigmoid_0.tmp_0', reg: 'transpose_1.tmp_0' },
  { stride: 16, size: 40, cls: 'sigmoid_1.tmp_0', reg: 'transpose_3.tmp_0' },
  { stride: 32, size: 20, cls: 'sigmoid_2.tmp_0', reg: 'transpose_5.tmp_0' },
  { stride: 64, size: 10, cls: 'sigmoid_3.tmp_0', reg: 'transpose_7.tmp_0' },
];
const PICO_NMS = { score_threshold: 0.025, nms_top_k: 1000, keep_top_k: 100, nms_threshold: 0.6 };

/**
 * The picodet head's post-processing in float64, from the head outputs of one image: per level the
 * grid points ((x+0.5)s, (y+0.5)s), the top 1000 by score where a level has more, the distribution-
 * focal integral (softmax over the 8 bins, dot the projection) times the stride, distance2bbox
 * clipped to im_shape, divided by scale_factor; then Paddle's multiclass_nms3 (one class,
 * normalized boxes): rows [label, score, x1, y1, x2, y2].
 */
function picodetReference(head: Record<string, HostTensor>, b: number, project: number[], imShape: [number, number], scale: [number, number]): number[][] {
  const boxes: number[][] = [];
  const scores: number[] = [];
  for (const L of PICO_LEVELS) {
    const hw = L.size * L.size;
    const cls = nums(head[L.cls]!).slice(b * hw, (b + 1) * hw);
    const reg = nums(head[L.reg]!).slice(b * hw * 32, (b + 1) * hw * 32);
    let order = [...cls.keys()];
    if (hw > 1000) order = order.sort((p, q) => cls[q]! - cls[p]! || p - q).slice(0, 1000);
    for (const i of order) {
      const px = ((i % L.size) + 0.5) * L.stride;
      const py = (Math.floor(i / L.size) + 0.5) * L.stride;
      const d = [0, 1, 2, 3].map((side) => {
        const logits = reg.slice(i * 32 + side * 8, i * 32 + side * 8 + 8);
        const mx = Math.max(...logits);
        const e = logits.map((v) => Math.exp(v - mx));
        const s = e.reduce((a, v) => a + v, 0);
        return e.reduce((a, v, k) => a + (v / s) * project[k]!, 0) * L.stride;
      });
      const [h, w] = imShape;
      const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
      const [sy, sx] = scale;
      boxes.push([clip(px - d[0]!, w) / sx, clip(py - d[1]!, h) / sy, clip(px + d[2]!, w) / sx, clip(py + d[3]!, h) / sy]);
      scores.push(cls[i]!);
    }
  }
  // multiclass_nms3, one class: score > threshold, stable sort by score, nms_top_k, greedy IoU <= threshold, keep_top_k
  const area = (q: number[]) => (q[2]! < q[0]! || q[3]! < q[1]! ? 0 : (q[2]! - q[0]!) * (q[3]! - q[1]!));
  const iou = (p: number[], q: number[]) => {
    if (q[0]! > p[2]! || q[2]! < p[0]! || q[1]! > p[3]! || q[3]! < p[1]!) return 0;
    const inter = (Math.min(p[2]!, q[2]!) - Math.max(p[0]!, q[0]!)) * (Math.min(p[3]!, q[3]!) - Math.max(p[1]!, q[1]!));
    return inter / (area(p) + area(q) - inter);
  };
  const cand = [...scores.keys()].filter((i) => scores[i]! > PICO_NMS.score_threshold).sort((p, q) => scores[q]! - scores[p]! || p - q).slice(0, PICO_NMS.nms_top_k);
  const kept: number[] = [];
  for (const i of cand) if (kept.every((k) => iou(boxes[k]!, boxes[i]!) <= PICO_NMS.nms_threshold)) kept.push(i);
  return kept.slice(0, PICO_NMS.keep_top_k).map((i) => [0, scores[i]!, ...boxes[i]!]);
}

describeShared('native ONNX: control-flow zoo models', () => {
  const zoo = (name: string) => shared('zoo', name);

  it('ppshitu_mainbody_det_picodet_v1 (made params): Loop over the batch with If branches; [N,6] rows + [B] counts match a float64 picodet decode + multiclass_nms3 on photos, and an input set with no detections', async (t) => {
    const photos = ['coco_000000570688.jpg', 'ILSVRC2012_val_00010010.jpeg'].map((f) => decodePhoto(shared('pipeline', 'images', f), 640, 640));
    if (photos.some((p) => p === undefined)) { t.skip(); console.warn('[pserve tests] no python3 with PIL: picodet photos not decoded (apt-get install python3-pil)'); return; }
    const results: string[] = [];
    // made params, with the distribution-focal projection Paddle trains to 0..7 and a class bias
    // that leaves some detections (-4) or none (-30)
    for (const [label, bias] of [['rich', -4], ['none', -30]] as const) {
      const folder = makeZooParams(zoo('ppshitu_mainbody_det_picodet_v1'), join(dir, `picodet-${label}`));
      const heads = ['conv2d_84.b_0', 'conv2d_85.b_0', 'conv2d_86.b_0', 'conv2d_87.b_0'];
      setParams(folder, { dygraph_tmp_4: () => [0, 1, 2, 3, 4, 5, 6, 7], ...Object.fromEntries(heads.map((h) => [h, (old: Float32Array) => [bias, ...Array.from(old).slice(1)]])) });
      const r = await convertToOnnx(folder);
      expect(r.outputs.map((o) => [o.name, o.dtype, o.shape])).toEqual([['save_infer_model/scale_0.tmp_1', 'float32', [-1, 6]], ['save_infer_model/scale_1.tmp_1', 'int32', [-1]]]);
      expect(r.controlFlow?.loops).toEqual([{ block: 0, subBlock: 1, condition: 'tmp_4', result: 'loop', trips: null, why: 'the trip count is not a conversion-time constant' }]);
      expect(r.controlFlow?.branches.map((x) => x.result)).toEqual(Array(8).fill('if'));
      onnxChecker(r.bytes!);
      const bytes = exposeOutputs(r.bytes!, PICO_LEVELS.flatMap((L) => [L.cls, L.reg]));
      for (const batch of label === 'rich' ? [[0], [0, 1]] : [[0]]) {
        const B = batch.length;
        const image = new Float32Array(B * 3 * 640 * 640);
        batch.forEach((p, k) => image.set(normalize(photos[p]!.img, IMAGENET.mean, IMAGENET.std), k * 3 * 640 * 640));
        const imShape = batch.map(() => [640, 640] as [number, number]);
        const scale = batch.map((p) => [640 / photos[p]!.origH, 640 / photos[p]!.origW] as [number, number]);
        const got = await run(bytes, {
          image: { dtype: 'float32', dims: [B, 3, 640, 640], data: image },
          im_shape: f32([B, 2], imShape.flat()),
          scale_factor: f32([B, 2], scale.flat()),
        });
        const rows = nums(got['save_infer_model/scale_0.tmp_1']!);
        const counts = nums(got['save_infer_model/scale_1.tmp_1']!);
        const want = batch.map((_, k) => picodetReference(got, k, [0, 1, 2, 3, 4, 5, 6, 7], imShape[k]!, scale[k]!));
        expect(counts).toEqual(want.map((w) => w.length));
        expect(got['save_infer_model/scale_0.tmp_1']!.dims).toEqual([counts.reduce((a, c) => a + c, 0), 6]);
        let worst = 0;
        want.flat().forEach((w, i) => {
          expect(rows[i * 6]).toBe(w[0]);
          expect(Math.abs(rows[i * 6 + 1]! - w[1]!)).toBeLessThanOrEqual(1e-6);
          for (let c = 2; c < 6; c++) worst = Math.max(worst, Math.abs(rows[i * 6 + c]! - w[c]!) / Math.max(1, Math.abs(w[c]!)));
        });
        expect(worst).toBeLessThanOrEqual(1e-4);
        results.push(`${label} batch ${B}: counts [${counts.join(',')}], box max rel diff ${worst.toExponential(2)}`);
        if (label === 'rich') expect(Math.min(...counts), results.join('; ')).toBeGreaterThan(0);
        else expect(counts).toEqual([0]);
      }
    }
    console.log(`[pserve tests] picodet: ${results.join('; ')}`);
  }, 240_000);

  it('slanet_table (made params) converts (a 501-trip while -> Loop) and runs on a [1,3,488,488] input', async (t) => {
    const photo = decodePhoto(shared('pipeline', 'images', 'coco_000000570688.jpg'), 488, 488);
    if (!photo) { t.skip(); console.warn('[pserve tests] no python3 with PIL: slanet input not decoded'); return; }
    const folder = makeZooParams(zoo('slanet_table'), join(dir, 'slanet'));
    const r = await convertToOnnx(folder);
    expect(r.controlFlow?.loops).toEqual([{ block: 0, subBlock: 1, condition: 'tmp_4', result: 'loop', trips: 501, why: '501 trips of 54 body ops is past the unroll limit (32 trips, 4096 ops)' }]);
    onnxChecker(r.bytes!);
    const got = await run(r.bytes!, { x: { dtype: 'float32', dims: [1, 3, 488, 488], data: normalize(photo.img, IMAGENET.mean, IMAGENET.std) } });
    expect(got['fill_constant_15.tmp_0']!.dims).toEqual([1, 501, 4]);
    expect(got['softmax_1.tmp_0']!.dims).toEqual([1, 501, 30]);
    const probs = nums(got['softmax_1.tmp_0']!);
    for (let s = 0; s < 501; s++) {
      const row = probs.slice(s * 30, s * 30 + 30);
      expect(Math.abs(row.reduce((a, v) => a + v, 0) - 1)).toBeLessThan(1e-4);
    }
    // every step wrote its row: boxes are sigmoids in (0, 1), none left at the zeros they started as
    const boxes = nums(got['fill_constant_15.tmp_0']!);
    expect(boxes.every((v) => v > 0 && v < 1)).toBe(true);
  }, 240_000);
});
