/**
 * Single-op regressions for the native ONNX engine: tiny models built in memory (legacy via
 * ProgramBuilder, PIR as the loaded op list), converted, run in onnxruntime and compared with
 * values computed here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PserveError } from '../src/errors.js';
import { convertToOnnx } from '../src/convert/onnx/index.js';
import type { LoadedModel } from '../src/model/load-model.js';
import type { AttrValue, OpNode, TensorSpec, VarSpec } from '../src/model/types.js';
import type { DType } from '../src/model/dtype.js';
import { ProgramBuilder } from '../src/formats/program-builder.js';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers.js';
import { openSession, type HostTensor, type OnnxSession } from '../src/runtime/onnx-runtime.js';

const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });

interface Var { name: string; dtype: DType; shape: number[] }

/** A parameter-free model as the loader would hand it over. */
function model(format: 'paddle-pir' | 'paddle-program', feeds: Var[], fetches: Var[], vars: Var[], ops: OpNode[]): LoadedModel {
  const spec = (v: Var): TensorSpec => ({ name: v.name, dtype: v.dtype, shape: v.shape, lodLevel: 0 });
  const all = new Map<string, VarSpec>([...feeds, ...fetches, ...vars].map((v) => [v.name, { ...spec(v), persistable: false }]));
  const io: OpNode[] = format === 'paddle-pir'
    ? [...feeds.map((f) => op('data', {}, { 0: [f.name] }, { name: f.name })), ...ops, ...fetches.map((f) => op('fetch', { 0: [f.name] }, {}, { name: f.name }))]
    : [...feeds.map((f, i) => op('feed', { X: ['feed'] }, { Out: [f.name] }, { col: i })), ...ops, ...fetches.map((f, i) => op('fetch', { X: [f.name] }, { Out: ['fetch'] }, { col: i }))];
  return {
    format, modelFile: 'mem', paramsFile: null, paramsLayout: 'none', feeds: feeds.map(spec), fetches: fetches.map(spec),
    blocks: [{ idx: 0, parentIdx: -1, ops: io, vars: all }], params: [], paramNames: [], warnings: [],
    readParam: () => { throw new Error('no params'); }, programBytes: new Uint8Array(0),
  };
}

function op(type: string, inputs: Record<string, string[]>, outputs: Record<string, string[]>, attrs: Record<string, AttrValue> = {}): OpNode {
  return { type, inputs, outputs, attrs };
}

/** A legacy program written to a temp dir (no params), converted from the files. */
async function runProgram(b: ProgramBuilder, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const d = join(tempDir('pserve-onnx-map-'), 'm');
  mkdirSync(d);
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  const r = await convertToOnnx(d, {});
  const s = await openSession(r.bytes!);
  sessions.push(s);
  return s.run(feeds);
}

async function run(m: LoadedModel, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const r = await convertToOnnx('mem', { model: m });
  const s = await openSession(r.bytes!);
  sessions.push(s);
  return s.run(feeds);
}

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; return 'no error'; } catch (e) { expect(e).toBeInstanceOf(PserveError); return (e as PserveError).code; }
}

const x4: HostTensor = { dtype: 'float32', dims: [1, 4], data: Float32Array.from([1, -2, 3, 0.5]) };

describe('native ONNX mappers', () => {
  it('PIR dropout reads the rate from operand 2 and scales by 1-p in downgrade_in_infer', async () => {
    const m = model('paddle-pir', [{ name: 'x', dtype: 'float32', shape: [-1, 4] }], [{ name: 'y', dtype: 'float32', shape: [-1, 4] }],
      [{ name: 'p', dtype: 'float32', shape: [] }, { name: 'mask', dtype: 'uint8', shape: [-1, 4] }], [
        op('full', {}, { 0: ['p'] }, { shape: [], value: 0.25, dtype: 'float32' }),
        op('dropout', { 0: ['x'], 1: [''], 2: ['p'] }, { 0: ['y'], 1: ['mask'] }, { is_test: true, mode: 'downgrade_in_infer', seed: 0, fix_seed: false }),
      ]);
    const y = (await run(m, { x: x4 }))['y']!;
    expect(Array.from(y.data as Float32Array)).toEqual([0.75, -1.5, 2.25, 0.375]);
    // a rate that is not a constant is refused
    const m2 = model('paddle-pir', [{ name: 'x', dtype: 'float32', shape: [-1, 4] }, { name: 'p', dtype: 'float32', shape: [] }],
      [{ name: 'y', dtype: 'float32', shape: [-1, 4] }], [], [op('dropout', { 0: ['x'], 1: [''], 2: ['p'] }, { 0: ['y'] }, { mode: 'downgrade_in_infer' })]);
    expect(await code(convertToOnnx('mem', { model: m2 }))).toBe('E_ONNX_OP_UNSUPPORTED');
  });

  it('fill_constant str_value "inf", "-INF", "+inf" and "nan" become infinities and NaN', async () => {
    const b = new ProgramBuilder().feed('x', 'float32', [1, 4]);
    const vals = ['inf', '-INF', '+inf', 'nan'];
    vals.forEach((v, i) => {
      b.variable(`c${i}`, 'float32', [1]).variable(`y${i}`, 'float32', [1, 4])
        .op('fill_constant', {}, { Out: [`c${i}`] }, { dtype: 5, shape: [1], value: { f: 0 }, str_value: v })
        .op('elementwise_add', { X: ['x'], Y: [`c${i}`] }, { Out: [`y${i}`] }, { axis: -1 })
        .fetch(`y${i}`);
    });
    const r = await runProgram(b, { x: x4 });
    expect(Array.from(r['y0']!.data as Float32Array)).toEqual([Infinity, Infinity, Infinity, Infinity]);
    expect(Array.from(r['y1']!.data as Float32Array)).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
    expect(Array.from(r['y2']!.data as Float32Array)).toEqual([Infinity, Infinity, Infinity, Infinity]);
    expect(Array.from(r['y3']!.data as Float32Array).every(Number.isNaN)).toBe(true);
  });

  it('squeeze with axes that are all not size 1 is the identity (legacy and PIR), not squeeze-all', async () => {
    const x: HostTensor = { dtype: 'float32', dims: [1, 4, 1], data: Float32Array.from([1, 2, 3, 4]) };
    const b = new ProgramBuilder().feed('x', 'float32', [1, 4, 1]).variable('y', 'float32', [1, 4, 1]).variable('xs', 'float32', [0, 1, 4, 1])
      .op('squeeze2', { X: ['x'] }, { Out: ['y'], XShape: ['xs'] }, { axes: [1] }).fetch('y');
    const y = (await runProgram(b, { x }))['y']!;
    expect(y.dims).toEqual([1, 4, 1]);
    expect(Array.from(y.data as Float32Array)).toEqual([1, 2, 3, 4]);
    const m = model('paddle-pir', [{ name: 'x', dtype: 'float32', shape: [1, 4, 1] }], [{ name: 'y', dtype: 'float32', shape: [1, 4, 1] }],
      [{ name: 'ax', dtype: 'int64', shape: [1] }], [
        op('full_int_array', {}, { 0: ['ax'] }, { value: [-2], dtype: 'int64' }),
        op('squeeze', { 0: ['x'], 1: ['ax'] }, { 0: ['y'] }),
      ]);
    const y2 = (await run(m, { x }))['y']!;
    expect(y2.dims).toEqual([1, 4, 1]);
  });

  it('an int64 constant of INT64_MAX (2^63 as a double) stays INT64_MAX: slice to the end keeps the tail', async () => {
    const m = model('paddle-pir', [{ name: 'x', dtype: 'float32', shape: [1, 4] }], [{ name: 'y', dtype: 'float32', shape: [1, 3] }],
      [{ name: 's', dtype: 'int64', shape: [1] }, { name: 'e', dtype: 'int64', shape: [1] }], [
        op('full_int_array', {}, { 0: ['s'] }, { value: [1], dtype: 'int64' }),
        op('full_int_array', {}, { 0: ['e'] }, { value: [9223372036854775807], dtype: 'int64' }),
        op('slice', { 0: ['x'], 1: ['s'], 2: ['e'] }, { 0: ['y'] }, { axes: [1], decrease_axis: [] }),
      ]);
    const y = (await run(m, { x: x4 }))['y']!;
    expect(Array.from(y.data as Float32Array)).toEqual([-2, 3, 0.5]);
  });

  it('with external data, a model that fails validation leaves the old model and data file as they were', async () => {
    const d = tempDir('pserve-onnx-ext-');
    const src = join(d, 'src');
    mkdirSync(src);
    // x + w + inf: the parameter goes to external data, the output is not finite, so validation fails
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 256]).param('w', [256], new Float32Array(256).fill(1))
      .variable('c', 'float32', [1]).variable('a', 'float32', [-1, 256]).variable('y', 'float32', [-1, 256])
      .op('elementwise_add', { X: ['x'], Y: ['w'] }, { Out: ['a'] }, { axis: -1 })
      .op('fill_constant', {}, { Out: ['c'] }, { dtype: 5, shape: [1], value: { f: 0 }, str_value: 'inf' })
      .op('elementwise_add', { X: ['a'], Y: ['c'] }, { Out: ['y'] }, { axis: -1 }).fetch('y');
    writeFileSync(join(src, 'inference.pdmodel'), b.programBytes());
    writeFileSync(join(src, 'inference.pdiparams'), b.paramsBytes());
    const file = join(d, 'm.onnx');
    writeFileSync(file, 'old model');
    writeFileSync(`${file}.data`, 'old data');
    expect(await code(convertToOnnx(src, { saveFile: file, externalDataThreshold: 100 }))).toBe('E_ONNX_VALIDATE');
    expect(readFileSync(file, 'utf8')).toBe('old model');
    expect(readFileSync(`${file}.data`, 'utf8')).toBe('old data');
    expect(readdirSync(d).sort()).toEqual(['m.onnx', 'm.onnx.data', 'src']);
    // without validation both files are written, and onnxruntime reads the data beside the model
    const r = await convertToOnnx(src, { saveFile: file, externalDataThreshold: 100, validate: false });
    expect(r.externalDataFile).toBe(`${file}.data`);
    expect(readFileSync(`${file}.data`).byteLength).toBe(1024);
    expect(readdirSync(d).sort()).toEqual(['m.onnx', 'm.onnx.data', 'src']);
    const s = await openSession(file);
    sessions.push(s);
    const y = (await s.run({ x: { dtype: 'float32', dims: [1, 256], data: new Float32Array(256) } }))['y']!;
    expect((y.data as Float32Array)[0]).toBe(Infinity);
  });

  it('PIR concat, stack and add_n take their tensors through builtin.combine', async () => {
    const a: HostTensor = { dtype: 'float32', dims: [1, 2], data: Float32Array.from([1, 2]) };
    const b: HostTensor = { dtype: 'float32', dims: [1, 2], data: Float32Array.from([10, 20]) };
    const v = (name: string, shape: number[]) => ({ name, dtype: 'float32' as DType, shape });
    const m = model('paddle-pir', [v('a', [1, 2]), v('b', [1, 2])], [v('c', [1, 4]), v('s', [1, 2, 2]), v('n', [1, 2])],
      [{ name: 'l', dtype: 'unknown', shape: [] }, { name: 'ax', dtype: 'int32', shape: [1] }], [
        op('combine', { 0: ['a'], 1: ['b'] }, { 0: ['l'] }),
        op('full', {}, { 0: ['ax'] }, { shape: [1], value: -1, dtype: 'int32' }),
        op('concat', { 0: ['l'], 1: ['ax'] }, { 0: ['c'] }),
        op('stack', { 0: ['l'] }, { 0: ['s'] }, { axis: -1 }),
        op('add_n', { 0: ['l'] }, { 0: ['n'] }),
      ]);
    const r = await run(m, { a, b });
    expect(Array.from(r['c']!.data as Float32Array)).toEqual([1, 2, 10, 20]);
    expect(r['s']!.dims).toEqual([1, 2, 2]);
    expect(Array.from(r['s']!.data as Float32Array)).toEqual([1, 10, 2, 20]);
    expect(Array.from(r['n']!.data as Float32Array)).toEqual([11, 22]);
    // an op that does not take a list refuses one instead of writing a dangling name
    const bad = model('paddle-pir', [v('a', [1, 2])], [v('y', [1, 2])], [{ name: 'l', dtype: 'unknown', shape: [] }], [
      op('combine', { 0: ['a'] }, { 0: ['l'] }),
      op('relu', { 0: ['l'] }, { 0: ['y'] }),
    ]);
    expect(await code(convertToOnnx('mem', { model: bad }))).toBe('E_ONNX_OP_UNSUPPORTED');
  });
});
