/**
 * Builds small Paddle programs and combined params in memory: for tests, for fuzz seeds and for
 * the project's own generated fixtures (scripts/gen-fixtures.mjs). Output is what Paddle 2.x
 * writes: a ProgramDesc with feed/fetch ops and a `.pdiparams` stream sorted by name.
 */
import { varTypeFromDtype, type DType } from '../model/dtype.js';
import { encodeProgram, type OpAttr, type OpDesc, type ProgramDesc, type VarDesc } from './paddle-program.js';
import { encodeTensorRecord } from './pdiparams.js';

export type BuilderAttr = number | boolean | string | number[] | string[] | { f: number } | { floats: number[] } | { l: number } | { longs: number[] } | { block: number };

interface ParamData { dtype: DType; shape: number[]; data: Uint8Array }

export class ProgramBuilder {
  private vars: VarDesc[] = [];
  private ops: OpDesc[] = [];
  private feeds = 0;
  private fetches = 0;
  private params = new Map<string, ParamData>();
  /** sub-blocks (while / conditional_block bodies): block k+1 is subs[k] */
  private subs: { parent: number; vars: VarDesc[]; ops: OpDesc[] }[] = [];
  /** the block that variable() / op() write to */
  private cur = 0;

  constructor(private version = 2004000) {
    this.vars.push({ name: 'feed', type: { type: 9 }, persistable: true });
    this.vars.push({ name: 'fetch', type: { type: 10 }, persistable: true });
  }

  variable(name: string, dtype: DType, shape: number[], opts: { persistable?: boolean; lodLevel?: number } = {}): this {
    const lt: VarDesc['type'] = { type: 7, lod_tensor: { tensor: { data_type: varTypeFromDtype(dtype), dims: shape } } };
    if (opts.lodLevel) lt.lod_tensor!.lod_level = opts.lodLevel;
    const v: VarDesc = { name, type: lt };
    if (opts.persistable) v.persistable = true;
    this.target().vars.push(v);
    return this;
  }

  /** A LOD_TENSOR_ARRAY var (what write_to_array fills), declared in the current block. */
  array(name: string, dtype: DType, elementShape: number[]): this {
    this.target().vars.push({ name, type: { type: 13, tensor_array: { tensor: { data_type: varTypeFromDtype(dtype), dims: elementShape } } } });
    return this;
  }

  /**
   * A sub-block whose parent is the current block: `body` declares its vars and ops (variable(),
   * op(), and nested subBlock() calls go there). Returns its index, for a `{ block: idx }` attribute.
   */
  subBlock(body: (b: this) => void): number {
    const parent = this.cur;
    this.subs.push({ parent, vars: [], ops: [] });
    const idx = this.subs.length;
    this.cur = idx;
    try { body(this); } finally { this.cur = parent; }
    return idx;
  }

  private target(): { vars: VarDesc[]; ops: OpDesc[] } {
    return this.cur === 0 ? { vars: this.vars, ops: this.ops } : this.subs[this.cur - 1]!;
  }

  /** A parameter: declared persistable and stored in the params stream. */
  param(name: string, shape: number[], values: Float32Array | Int32Array | BigInt64Array | Float64Array, dtype: DType = 'float32'): this {
    this.variable(name, dtype, shape, { persistable: true });
    this.params.set(name, { dtype, shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return this;
  }

  feed(name: string, dtype: DType, shape: number[], lodLevel = 0): this {
    this.variable(name, dtype, shape, { lodLevel });
    this.ops.push(op('feed', { X: ['feed'] }, { Out: [name] }, { col: this.feeds++ }));
    return this;
  }

  fetch(name: string): this {
    this.ops.push(op('fetch', { X: [name] }, { Out: ['fetch'] }, { col: this.fetches++ }));
    return this;
  }

  op(type: string, inputs: Record<string, string[]>, outputs: Record<string, string[]>, attrs: Record<string, BuilderAttr> = {}): this {
    this.target().ops.push(op(type, inputs, outputs, attrs));
    return this;
  }

  program(): ProgramDesc {
    // feed ops first, fetch ops last, as save_inference_model lays them out
    const feeds = this.ops.filter((o) => o.type === 'feed');
    const fetches = this.ops.filter((o) => o.type === 'fetch');
    const rest = this.ops.filter((o) => o.type !== 'feed' && o.type !== 'fetch');
    return {
      blocks: [
        { idx: 0, parent_idx: -1, vars: this.vars, ops: [...feeds, ...rest, ...fetches], forward_block_idx: -1 },
        ...this.subs.map((b, k) => ({ idx: k + 1, parent_idx: b.parent, vars: b.vars, ops: b.ops, forward_block_idx: -1 })),
      ],
      version: { version: this.version },
    };
  }

  programBytes(): Uint8Array {
    return encodeProgram(this.program());
  }

  /** The combined params stream: tensors sorted by name (byte-wise). */
  paramsBytes(): Uint8Array {
    const names = [...this.params.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const parts = names.map((n) => {
      const p = this.params.get(n)!;
      return encodeTensorRecord({ data_type: varTypeFromDtype(p.dtype), dims: p.shape }, p.data);
    });
    const total = parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }

  /** Per-variable params (legacy layout): file name -> bytes. */
  separateParams(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [n, p] of this.params) out.set(n, encodeTensorRecord({ data_type: varTypeFromDtype(p.dtype), dims: p.shape }, p.data));
    return out;
  }
}

function op(type: string, inputs: Record<string, string[]>, outputs: Record<string, string[]>, attrs: Record<string, BuilderAttr>): OpDesc {
  return {
    type,
    inputs: Object.entries(inputs).map(([parameter, args]) => ({ parameter, arguments: args })),
    outputs: Object.entries(outputs).map(([parameter, args]) => ({ parameter, arguments: args })),
    attrs: Object.entries(attrs).map(([name, v]) => attr(name, v)),
  };
}

function attr(name: string, v: BuilderAttr): OpAttr {
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: 0, i: v } : { name, type: 1, f: v };
  if (typeof v === 'boolean') return { name, type: 6, b: v };
  if (typeof v === 'string') return { name, type: 2, s: v };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { name, type: 5, strings: v as string[] };
    return (v as number[]).every(Number.isInteger) ? { name, type: 3, ints: v as number[] } : { name, type: 4, floats: v as number[] };
  }
  if ('f' in v) return { name, type: 1, f: v.f };
  if ('floats' in v) return { name, type: 4, floats: v.floats };
  if ('l' in v) return { name, type: 9, l: v.l };
  if ('block' in v) return { name, type: 8, block_idx: v.block };
  return { name, type: 11, longs: v.longs };
}

/** Deterministic pseudo-random floats (mulberry32) so generated fixtures are byte-stable. */
export function seededFloats(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
