/**
 * Conversion-time evaluation of the small scalar ops that steer control flow (loop counters,
 * conditions, branch flags): when every input of such an op is a constant, its outputs are
 * constants too. The converter uses this to fold branches decided by constants, to find the trip
 * count of a `while` whose counter and bound are constants (and unroll it), and to write the
 * folded values as initializers instead of nodes. Legacy (named-slot) programs only.
 */
import { dtypeFromVarType, type DType } from '../../model/dtype.js';
import type { OpNode } from '../../model/types.js';
import type { ConstValue } from './graph-builder.js';
import { castNumber, ENCODABLE } from './ops/tensor-util.js';

/** larger constants are left to the mappers */
const MAX_FOLD_ELEMENTS = 64;

const INT_TYPES = new Set<DType>(['int8', 'int16', 'int32', 'int64', 'uint8']);

type Get = (name: string) => ConstValue | undefined;

function one(op: OpNode, slot: string): string | undefined {
  const l = op.inputs[slot];
  return l && l.length === 1 && l[0] !== '' ? l[0] : undefined;
}

function hasAny(op: OpNode, slot: string): boolean {
  return (op.inputs[slot] ?? []).some((n) => n !== '');
}

/** numpy-style broadcast of two small constants (Paddle's default axis -1) */
function broadcast(a: ConstValue, b: ConstValue, fn: (x: number, y: number) => number, dtype: DType): ConstValue | undefined {
  const r = Math.max(a.dims.length, b.dims.length);
  const da = [...Array(r - a.dims.length).fill(1), ...a.dims];
  const db = [...Array(r - b.dims.length).fill(1), ...b.dims];
  const dims: number[] = [];
  for (let i = 0; i < r; i++) {
    if (da[i] !== db[i] && da[i] !== 1 && db[i] !== 1) return undefined;
    dims.push(Math.max(da[i]!, db[i]!));
  }
  const n = dims.reduce((p, d) => p * d, 1);
  const values: number[] = [];
  const idx = (d: number[], flat: number): number => {
    let off = 0; let rem = flat; let stride = 1;
    for (let i = r - 1; i >= 0; i--) {
      const c = rem % dims[i]!; rem = Math.floor(rem / dims[i]!);
      if (d[i] !== 1) off += c * stride;
      stride *= d[i]!;
    }
    return off;
  };
  for (let k = 0; k < n; k++) values.push(castNumber(fn(a.values[idx(da, k)]!, b.values[idx(db, k)]!), dtype));
  return { dtype, dims, values };
}

const COMPARE: Record<string, (x: number, y: number) => boolean> = {
  less_than: (x, y) => x < y, less_equal: (x, y) => x <= y, greater_than: (x, y) => x > y,
  greater_equal: (x, y) => x >= y, equal: (x, y) => x === y, not_equal: (x, y) => x !== y,
};
const LOGIC: Record<string, (x: boolean, y: boolean) => boolean> = {
  logical_and: (x, y) => x && y, logical_or: (x, y) => x || y, logical_xor: (x, y) => x !== y,
};
const ARITH: Record<string, (x: number, y: number, int: boolean) => number> = {
  elementwise_add: (x, y) => x + y,
  elementwise_sub: (x, y) => x - y,
  elementwise_mul: (x, y) => x * y,
  elementwise_div: (x, y, int) => (int ? Math.trunc(x / y) : x / y),
  elementwise_floordiv: (x, y) => Math.floor(x / y),
  elementwise_max: (x, y) => Math.max(x, y),
  elementwise_min: (x, y) => Math.min(x, y),
  elementwise_mod: (x, y) => { const m = x % y; return m !== 0 && (m < 0) !== (y < 0) ? m + y : m; },
};

/** the op types foldOp may evaluate */
export const FOLDABLE = new Set(['assign', 'scale', 'increment', 'cast', 'logical_not', ...Object.keys(COMPARE), ...Object.keys(LOGIC), ...Object.keys(ARITH)]);

/**
 * The op's outputs (Paddle var name -> value) when all its inputs are small constants and the op
 * is one of FOLDABLE; undefined otherwise.
 */
export function foldOp(op: OpNode, get: Get): Map<string, ConstValue> | undefined {
  if (!FOLDABLE.has(op.type)) return undefined;
  const out = (slot: string): string | undefined => { const l = op.outputs[slot]; return l && l.length === 1 ? l[0] : undefined; };
  const cx = (slot: string): ConstValue | undefined => {
    const n = one(op, slot);
    const c = n === undefined ? undefined : get(n);
    return c && c.values.length <= MAX_FOLD_ELEMENTS ? c : undefined;
  };
  const num = (k: string, d: number): number => { const v = op.attrs[k]; return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? (v ? 1 : 0) : d; };
  const res = (slot: string, v: ConstValue | undefined): Map<string, ConstValue> | undefined => {
    const o = out(slot);
    return o === undefined || v === undefined || !ENCODABLE.has(v.dtype) ? undefined : new Map([[o, v]]);
  };
  const x = cx('X');
  switch (op.type) {
    case 'assign':
      return res('Out', x);
    case 'scale': {
      if (!x || hasAny(op, 'ScaleTensor')) return undefined;
      const s = num('scale', 1); const b = num('bias', 0); const after = op.attrs['bias_after_scale'] !== false;
      const int = INT_TYPES.has(x.dtype);
      const sc = int ? Math.trunc(s) : s; const bc = int ? Math.trunc(b) : b;
      return res('Out', { dtype: x.dtype, dims: x.dims, values: x.values.map((v) => castNumber(after ? sc * v + bc : sc * (v + bc), x.dtype)) });
    }
    case 'increment': {
      if (!x) return undefined;
      const step = num('step', 1);
      return res('Out', { dtype: x.dtype, dims: x.dims, values: x.values.map((v) => castNumber(v + step, x.dtype)) });
    }
    case 'cast': {
      if (!x) return undefined;
      const t = dtypeFromVarType(num('out_dtype', 5));
      if (!ENCODABLE.has(t)) return undefined;
      return res('Out', { dtype: t, dims: x.dims, values: x.values.map((v) => castNumber(v, t)) });
    }
    case 'logical_not':
      return x ? res('Out', { dtype: 'bool', dims: x.dims, values: x.values.map((v) => (v ? 0 : 1)) }) : undefined;
    default: break;
  }
  const y = cx('Y');
  if (!x || !y) return undefined;
  if (num('axis', -1) !== -1 && x.dims.length !== y.dims.length) return undefined;
  const cmp = COMPARE[op.type];
  if (cmp) return res('Out', broadcast(x, y, (a, b) => (cmp(a, b) ? 1 : 0), 'bool'));
  const lg = LOGIC[op.type];
  if (lg) return res('Out', broadcast(x, y, (a, b) => (lg(a !== 0, b !== 0) ? 1 : 0), 'bool'));
  const ar = ARITH[op.type];
  if (ar) {
    if (x.dtype !== y.dtype) return undefined;
    const int = INT_TYPES.has(x.dtype);
    if (int && (op.type === 'elementwise_div' || op.type === 'elementwise_floordiv' || op.type === 'elementwise_mod') && y.values.some((v) => v === 0)) return undefined;
    return res('Out', broadcast(x, y, (a, b) => ar(a, b, int), x.dtype));
  }
  return undefined;
}

/**
 * The value a constant-making op (fill_constant without tensor inputs) writes, for the
 * conversion-time evaluation of a loop body (the mapper writes the same constant when mapped).
 */
export function constantSource(op: OpNode): Map<string, ConstValue> | undefined {
  if (op.type !== 'fill_constant' || Object.values(op.inputs).some((l) => l.some((n) => n !== ''))) return undefined;
  const out = op.outputs['Out']?.[0];
  const shape = Array.isArray(op.attrs['shape']) ? op.attrs['shape'].map(Number) : [];
  const n = shape.reduce((p, d) => p * d, 1);
  const code = op.attrs['dtype'];
  const dtype = dtypeFromVarType(typeof code === 'number' ? code : 5);
  if (!out || shape.some((d) => d < 0) || n > MAX_FOLD_ELEMENTS || !ENCODABLE.has(dtype)) return undefined;
  const sv = typeof op.attrs['str_value'] === 'string' ? op.attrs['str_value'].trim() : '';
  const raw = sv !== '' ? Number(sv) : Number(op.attrs['value'] ?? 0);
  if (!Number.isFinite(raw)) return undefined;
  return new Map([[out, { dtype, dims: shape, values: new Array(n).fill(castNumber(raw, dtype)) }]]);
}
