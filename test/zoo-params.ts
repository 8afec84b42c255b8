/**
 * Params for zoo programs that come without them, in the real layout: the persistable vars of
 * block 0 (the loader's paramNames: sorted by name, byte-wise), one combined `.pdiparams` stream
 * written with the project's record encoder, next to a copy of the program, in a temp folder
 * (never in the repo or the fixtures). Values are deterministic (seeded by the var name) and sized
 * so a forward pass stays in range: conv / fc / recurrent weights with variance ~1/fan_in,
 * batch-norm means 0 and variances 1 (scale ~1, bias small), layer-norm scale ~1, quantization
 * scales and anything else that must be positive in (0.5, 1.5).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadModel } from '../src/model/load-model.js';
import { encodeTensorRecord } from '../src/formats/pdiparams.js';
import { seededFloats } from '../src/formats/program-builder.js';
import { varTypeFromDtype, type DType } from '../src/model/dtype.js';

type Role = 'bn_mean' | 'bn_var' | 'bn_scale' | 'bn_bias' | 'ln_scale' | 'ln_bias' | 'positive' | 'weight_rows' | 'weight_cols' | 'weight' | 'bias';

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return h >>> 0;
}

/** What each param is, from the ops that read it. */
function roles(model: ReturnType<typeof loadModel>): Map<string, Role> {
  const r = new Map<string, Role>();
  const set = (names: string[] | undefined, role: Role) => { for (const n of names ?? []) if (n && !r.has(n)) r.set(n, role); };
  for (const op of model.blocks[0]!.ops) {
    const i = op.inputs;
    switch (op.type) {
      case 'batch_norm': case 'sync_batch_norm':
        set(i['Mean'], 'bn_mean'); set(i['Variance'], 'bn_var'); set(i['Scale'], 'bn_scale'); set(i['Bias'], 'bn_bias'); break;
      case 'layer_norm': case 'instance_norm': case 'group_norm':
        set(i['Scale'], 'ln_scale'); set(i['Bias'], 'ln_bias'); break;
      case 'mul': case 'matmul': case 'matmul_v2':
        set(i['Y'], 'weight_rows'); break;
      case 'rnn': {
        const w = i['WeightList'] ?? [];
        set(w.slice(0, w.length / 2), 'weight_cols'); set(w.slice(w.length / 2), 'bias'); break;
      }
      case 'elementwise_add':
        set(i['Y'], 'bias'); break;
      default:
        for (const [slot, names] of Object.entries(i)) {
          if (/scale/i.test(slot)) set(names, 'positive');
          else if (slot === 'Filter' || slot === 'W') set(names, 'weight');
          else if (slot === 'Bias') set(names, 'bias');
        }
    }
  }
  return r;
}

function values(name: string, role: Role | undefined, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = seededFloats(n, hash(name)); // uniform (-1, 1), variance 1/3
  const map = (fn: (v: number) => number) => u.map(fn);
  switch (role) {
    case 'bn_mean': return map((v) => v * 0.05);
    case 'bn_var': return map((v) => 1 + v * 0.2);
    case 'bn_scale': case 'ln_scale': return map((v) => 1 + v * 0.1);
    case 'bn_bias': case 'ln_bias': case 'bias': return map((v) => v * 0.05);
    case 'positive': return map((v) => 1 + v * 0.5);
    case 'weight_rows': return map((v) => v * Math.sqrt(3 / Math.max(1, shape[0] ?? 1)));
    case 'weight_cols': return map((v) => v * Math.sqrt(3 / Math.max(1, shape[shape.length - 1] ?? 1)));
    case 'weight': default: {
      if (shape.length <= 1) return map((v) => v * 0.05);
      // He-style for conv filters [out, in/groups, kh, kw]: variance 2/fan_in
      const fanIn = n / shape[0]!;
      return map((v) => v * Math.sqrt(6 / Math.max(1, fanIn)));
    }
  }
}

function bytesOf(dtype: DType, f: Float32Array): Uint8Array {
  let a: Float32Array | Float64Array | Int32Array | BigInt64Array;
  switch (dtype) {
    case 'float32': a = f; break;
    case 'float64': a = Float64Array.from(f); break;
    case 'int32': a = Int32Array.from(f, () => 1); break;
    case 'int64': a = BigInt64Array.from(f, () => 1n); break;
    default: throw new Error(`zoo-params: no generator for dtype ${dtype}`);
  }
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Make `dest` a model folder: a copy of the program from `srcDir` plus a generated combined params
 * file beside it. Returns the folder.
 */
export function makeZooParams(srcDir: string, dest: string, modelFilename = 'inference.pdmodel'): string {
  mkdirSync(dest, { recursive: true });
  const src = join(srcDir, modelFilename);
  const prog = join(dest, basename(modelFilename));
  // a copy, not a link: nothing written in `dest` can ever reach the shared fixture
  copyFileSync(src, prog);
  const model = loadModel(dest, { modelFilename: basename(modelFilename), params: 'skip' });
  const role = roles(model);
  const parts: Uint8Array[] = [];
  for (const name of model.paramNames) {
    let v;
    for (const b of model.blocks) { v = b.vars.get(name); if (v) break; }
    if (!v) throw new Error(`zoo-params: param ${name} has no var`);
    const shape = v.shape.map((d) => (d < 0 ? 1 : d));
    const dtype = v.dtype === 'unknown' ? 'float32' : v.dtype;
    parts.push(encodeTensorRecord({ data_type: varTypeFromDtype(dtype), dims: shape }, bytesOf(dtype, values(name, role.get(name), shape))));
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  // a legacy `__model__` takes its combined params as `__params__` (never written through the program's link)
  const base = basename(modelFilename);
  // the params name is never the program's own (a PIR inference.json would otherwise be written
  // through the link, into the shared fixture): refuse rather than overwrite a source
  const paramsName = base === '__model__' ? '__params__' : `${base.replace(/\.(pdmodel|json)$/, '')}.pdiparams`;
  if (paramsName === base) throw new Error(`zoo-params: ${base} cannot take a params file name of its own`);
  writeFileSync(join(dest, paramsName), out);
  return dest;
}

/** Overwrite some float32 params of a made-params folder in place (a bias, a projection a test needs). */
export function setParams(folder: string, values: Record<string, (old: Float32Array) => number[]>): void {
  const m = loadModel(folder);
  const file = m.params[0]!.file;
  const bytes = readFileSync(file);
  for (const [name, fn] of Object.entries(values)) {
    const p = m.params.find((q) => q.name === name);
    if (!p || p.dtype !== 'float32') throw new Error(`no float32 param ${name}`);
    const old = new Float32Array(p.numel);
    for (let k = 0; k < p.numel; k++) old[k] = bytes.readFloatLE(p.dataOffset + k * 4);
    fn(old).forEach((v, k) => bytes.writeFloatLE(v, p.dataOffset + k * 4));
  }
  writeFileSync(file, bytes);
}
