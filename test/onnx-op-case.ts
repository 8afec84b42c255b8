/**
 * One-op conversion cases for mapper tests: a small Paddle program (legacy, written with
 * ProgramBuilder to real files; or PIR, as the loader hands it over) is converted at each opset
 * asked for, run in onnxruntime at batch 1 and 2, and every output compared with a float64
 * reference computed by the test from Paddle's documented semantics.
 */
import { PY } from './helpers.js';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { convertToOnnx, type ConvertToOnnxOptions } from '../src/convert/onnx/index.js';
import { ProgramBuilder, type BuilderAttr } from '../src/formats/program-builder.js';
import type { LoadedModel } from '../src/model/load-model.js';
import type { DType, TypedArray } from '../src/model/dtype.js';
import type { AttrValue, OpNode, TensorSpec, VarSpec } from '../src/model/types.js';
import { openSession, type HostTensor } from '../src/runtime/onnx-runtime.js';

/** a float64 tensor in the reference's hands */
export interface T64 { dims: number[]; data: Float64Array }

export interface CaseInput {
  slot: string;
  name: string;
  /** -1 marks the batch dim of a feed */
  shape: number[];
  dtype?: DType;
  /** a parameter (fixed values, no batch dim) instead of a feed */
  param?: number[];
  /** feed values for a given concrete shape (defaults to `realistic`) */
  values?: (n: number, dims: number[]) => number[];
}

export interface CaseOutput { slot: string; name: string; shape: number[]; dtype?: DType }

export interface OpCase {
  op: string;
  attrs?: Record<string, BuilderAttr>;
  ins: CaseInput[];
  outs: CaseOutput[];
  /** float64 reference: input name -> tensor, returns output name -> values (row-major) and dims */
  ref: (x: Record<string, T64>) => Record<string, T64>;
  opsets: number[];
  tol?: number;
  batches?: number[];
  /** conversion options besides the opset (e.g. quant: 'float') */
  options?: ConvertToOnnxOptions;
}

/**
 * Structured values in the range activations take: smooth image-like ramps and waves (what a
 * normalized natural image looks like after a conv), with exact edge points mixed in (0, +-0.5,
 * +-1, +-2.5, +-6) so thresholds and rounding ties are exercised.
 */
export function realistic(n: number, scale = 3, seed = 1): number[] {
  const special = [0, 0.5, -0.5, 1, -1, 2.5, -2.5, 6, -6, 0.25, 1.5, -1.5];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 7 === 3) { out.push(special[(i + seed) % special.length]!); continue; }
    const t = (i + seed * 13) / Math.max(n, 1);
    out.push(Math.fround(scale * (0.6 * Math.sin(2 * Math.PI * (3 * t + seed * 0.1)) + 0.4 * Math.cos(17 * t) * (1 - t) + 0.3 * (t - 0.5))));
  }
  return out;
}

export const positive = (n: number): number[] => realistic(n).map((v) => Math.fround(Math.abs(v) + 0.05));

function concrete(shape: number[], batch: number): number[] {
  return shape.map((d) => (d < 0 ? batch : d));
}

function typed(dtype: DType, values: number[]): TypedArray {
  switch (dtype) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'int64': return BigInt64Array.from(values.map((v) => BigInt(Math.trunc(v))));
    case 'bool': return Uint8Array.from(values.map((v) => (v ? 1 : 0)));
    default: throw new Error(`no test data for ${dtype}`);
  }
}

function numbers(t: HostTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint | boolean>, (v) => Number(v));
}

export function legacyProgram(c: OpCase): ProgramBuilder {
  const b = new ProgramBuilder();
  for (const i of c.ins) {
    if (i.param) {
      const dt = i.dtype ?? 'float32';
      b.param(i.name, i.shape, typed(dt, i.param) as Float32Array, dt);
    } else {
      b.feed(i.name, i.dtype ?? 'float32', i.shape);
    }
  }
  for (const o of c.outs) b.variable(o.name, o.dtype ?? 'float32', o.shape);
  const slots = (xs: { slot: string; name: string }[]) => {
    const m: Record<string, string[]> = {};
    for (const x of xs) (m[x.slot] ??= []).push(x.name);
    return m;
  };
  b.op(c.op, slots(c.ins), slots(c.outs), c.attrs ?? {});
  for (const o of c.outs) b.fetch(o.name);
  return b;
}

/** Convert and run a legacy case at every opset and batch, comparing with `ref`. */
export async function runCase(c: OpCase, dir: string): Promise<void> {
  const d = join(dir, `${c.op}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d, { recursive: true });
  const b = legacyProgram(c);
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  if (c.ins.some((i) => i.param)) writeFileSync(join(d, 'inference.pdiparams'), b.paramsBytes());
  for (const opset of c.opsets) {
    const r = await convertToOnnx(d, { ...c.options, opsetVersion: opset });
    expect(r.opset).toBe(opset);
    if (process.env['PSERVE_ONNX_CHECKER']) checker(r.bytes!, join(d, `opset${opset}.onnx`));
    await compare(c, r.bytes!, `${c.op} @opset ${opset}`);
  }
}

/** PSERVE_ONNX_CHECKER=1: every converted case also goes through onnx.checker with full shape inference (python3-onnx) */
function checker(bytes: Uint8Array, file: string): void {
  writeFileSync(file, bytes);
  const r = spawnSync(PY, ['-c', 'import sys,onnx; onnx.checker.check_model(sys.argv[1], full_check=True)', file], { encoding: 'utf8' });
  expect(r.status, `onnx.checker on ${file}: ${r.stderr}`).toBe(0);
}

async function compare(c: OpCase, bytes: Uint8Array, label: string): Promise<void> {
  const s = await openSession(bytes);
  try {
    for (const batch of c.batches ?? [1, 2]) {
      const feeds: Record<string, HostTensor> = {};
      const ref: Record<string, T64> = {};
      c.ins.forEach((i, k) => {
        const dims = i.param ? i.shape : concrete(i.shape, batch);
        const n = dims.reduce((a, v) => a * v, 1);
        const vals = i.param ?? (i.values ? i.values(n, dims) : realistic(n, 3, k + 1));
        const dt = i.dtype ?? 'float32';
        const t = typed(dt, vals);
        if (!i.param) feeds[i.name] = { dtype: dt, dims, data: t };
        ref[i.name] = { dims, data: Float64Array.from(t as ArrayLike<number | bigint>, (v) => Number(v)) };
      });
      const want = c.ref(ref);
      const got = await s.run(feeds);
      for (const o of c.outs) {
        const w = want[o.name];
        if (!w) continue;
        const g = got[o.name]!;
        expect(g.dims, `${label} batch ${batch} ${o.name} dims`).toEqual(w.dims);
        const gv = numbers(g);
        const tol = c.tol ?? 1e-5;
        let worst = 0;
        let at = -1;
        for (let j = 0; j < gv.length; j++) {
          const e = w.data[j]!;
          const a = gv[j]!;
          if (Number.isNaN(e) && Number.isNaN(a)) continue;
          if (e === a) continue;
          const diff = Math.abs(a - e) / Math.max(1, Math.abs(e));
          if (!(diff <= worst)) { worst = diff; at = j; }
        }
        expect(worst, `${label} batch ${batch} ${o.name}[${at}]: got ${gv[at]}, want ${w.data[at]}`).toBeLessThanOrEqual(tol);
      }
    }
  } finally {
    await s.close();
  }
}

/** A PIR case: the op list as the PIR loader produces it (positional slots), converted and compared. */
export async function runPirCase(c: OpCase & {
  /** ops before the one under test (full, full_int_array making its operands) */
  pre?: OpNode[];
  /** operands made by `pre` ops: slot -> var name */
  operands?: Record<string, string>;
  extraVars?: { name: string; dtype: DType; shape: number[] }[];
}): Promise<void> {
  const spec = (v: { name: string; dtype?: DType; shape: number[] }): TensorSpec => ({ name: v.name, dtype: v.dtype ?? 'float32', shape: v.shape, lodLevel: 0 });
  const feeds = c.ins.filter((i) => !i.param);
  const all = new Map<string, VarSpec>([...c.ins, ...c.outs, ...(c.extraVars ?? [])].map((v) => [v.name, { ...spec(v), persistable: false }]));
  const slots = (xs: { slot: string; name: string }[]) => Object.fromEntries(xs.map((x) => [x.slot, [x.name]]));
  const ops: OpNode[] = [
    ...feeds.map((f) => pirOp('data', {}, { 0: [f.name] }, { name: f.name })),
    ...(c.pre ?? []),
    pirOp(c.op, { ...slots(c.ins), ...Object.fromEntries(Object.entries(c.operands ?? {}).map(([k, v]) => [k, [v]])) }, slots(c.outs), (c.attrs ?? {}) as Record<string, AttrValue>),
    ...c.outs.map((o) => pirOp('fetch', { 0: [o.name] }, {}, { name: o.name })),
  ];
  const m: LoadedModel = {
    format: 'paddle-pir', modelFile: 'mem', paramsFile: null, paramsLayout: 'none', feeds: feeds.map(spec), fetches: c.outs.map(spec),
    blocks: [{ idx: 0, parentIdx: -1, ops, vars: all }], params: [], paramNames: [], warnings: [],
    readParam: () => { throw new Error('no params'); }, programBytes: new Uint8Array(0),
  };
  for (const opset of c.opsets) {
    const r = await convertToOnnx('mem', { ...c.options, model: m, opsetVersion: opset });
    await compare(c, r.bytes!, `PIR ${c.op} @opset ${opset}`);
  }
}

export function pirOp(type: string, inputs: Record<string, string[]>, outputs: Record<string, string[]>, attrs: Record<string, AttrValue> = {}): OpNode {
  return { type, inputs, outputs, attrs };
}

// ---- float64 helpers for references ----

export function map1(t: T64, fn: (v: number, i: number) => number): T64 {
  return { dims: t.dims, data: t.data.map(fn) };
}

/** numpy-style broadcast of two tensors */
export function map2(a: T64, b: T64, fn: (x: number, y: number) => number): T64 {
  const r = Math.max(a.dims.length, b.dims.length);
  const pa = [...new Array(r - a.dims.length).fill(1), ...a.dims];
  const pb = [...new Array(r - b.dims.length).fill(1), ...b.dims];
  const dims = pa.map((d, i) => Math.max(d, pb[i]!));
  const n = dims.reduce((x, y) => x * y, 1);
  const out = new Float64Array(n);
  const idx = new Array(r).fill(0);
  const flat = (p: number[]) => { let o = 0; for (let i = 0; i < r; i++) o = o * p[i]! + (p[i] === 1 ? 0 : idx[i]); return o; };
  for (let k = 0; k < n; k++) {
    let rem = k;
    for (let i = r - 1; i >= 0; i--) { idx[i] = rem % dims[i]!; rem = Math.floor(rem / dims[i]!); }
    out[k] = fn(a.data[flat(pa)]!, b.data[flat(pb)]!);
  }
  return { dims, data: out };
}

/** reduce over `axes` (all when null) with an accumulator; keepdim keeps unit dims */
export function reduceRef(t: T64, axes: number[] | null, keepdim: boolean, init: number, acc: (s: number, v: number) => number, fin: (s: number, count: number) => number = (s) => s): T64 {
  const r = t.dims.length;
  const ax = new Set((axes ?? t.dims.map((_, i) => i)).map((a) => (a < 0 ? a + r : a)));
  const outDimsKeep = t.dims.map((d, i) => (ax.has(i) ? 1 : d));
  const n = outDimsKeep.reduce((x, y) => x * y, 1);
  const sums = new Float64Array(n).fill(init);
  let count = 1;
  for (const a of ax) count *= t.dims[a]!;
  const idx = new Array(r).fill(0);
  for (let k = 0; k < t.data.length; k++) {
    let rem = k;
    for (let i = r - 1; i >= 0; i--) { idx[i] = rem % t.dims[i]!; rem = Math.floor(rem / t.dims[i]!); }
    let o = 0;
    for (let i = 0; i < r; i++) o = o * outDimsKeep[i]! + (ax.has(i) ? 0 : idx[i]);
    sums[o] = acc(sums[o]!, t.data[k]!);
  }
  const data = sums.map((s) => fin(s, count));
  const dims = keepdim ? outDimsKeep : t.dims.filter((_, i) => !ax.has(i));
  return { dims, data };
}

/** erf in float64 (Taylor series below 4, where float32 cannot tell it from +-1 beyond) */
export function erf(x: number): number {
  if (Math.abs(x) >= 4) return Math.sign(x) * (1 - 1.541725790028002e-8 * Math.exp(-(Math.abs(x) ** 2) + 16));
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x * x / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
