/**
 * Builds one ONNX graph over onnx-proto's `onnx` namespace: nodes in order, initializers,
 * inputs/outputs with symbolic dims, unique names, and the constants mappers may need to read
 * back (fill_constant, full_int_array and parameters).
 */
import onnxProto from 'onnx-proto';
import { PserveError } from '../../errors.js';
import type { DType, TypedArray } from '../../model/dtype.js';

export const onnx = onnxProto.onnx;

/** ONNX TensorProto.DataType codes by pserve dtype name */
export const ONNX_DTYPE: Partial<Record<DType, number>> = {
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8, bool: 9,
  float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16,
};

export function onnxDtype(d: DType, what: string): number {
  const t = ONNX_DTYPE[d];
  if (t === undefined) throw new PserveError('E_ONNX_DTYPE', `${what}: dtype ${d} has no ONNX equivalent`);
  return t;
}

/** numbers are INT attributes; floats must say so with `{ f }` (1.0 and 1 are the same number in JS) */
export type AttrIn = number | string | number[] | string[] | boolean | { f: number } | { floats: number[] } | { graph: import('onnx-proto').onnx.IGraphProto };

export const f = (v: number): { f: number } => ({ f: v });

/** A constant known at conversion time. */
export interface ConstValue {
  dtype: DType;
  dims: number[];
  /** numbers for every dtype (int64 values are within 2^53 here) */
  values: number[];
}

export interface Dim { value?: number; param?: string }

export class GraphBuilder {
  readonly nodes: import('onnx-proto').onnx.INodeProto[] = [];
  /** shared with every subgraph builder: constants live in the main graph, which subgraphs see by name */
  readonly initializers: import('onnx-proto').onnx.ITensorProto[];
  readonly inputs: import('onnx-proto').onnx.IValueInfoProto[] = [];
  readonly outputs: import('onnx-proto').onnx.IValueInfoProto[] = [];
  /** constants by tensor name */
  readonly consts: Map<string, ConstValue>;
  /** PIR `builtin.combine` results: a name standing for a list of tensors (with their declared shapes) */
  readonly lists: Map<string, { tensors: string[]; shapes: (number[] | undefined)[] }>;
  /** one name space for the main graph and all its subgraphs (ONNX forbids a subgraph to shadow an outer name) */
  private readonly names: { used: Set<string>; counter: number; graphs: number };
  /** node-name prefix: empty in the main graph, `g<k>_` in the k-th subgraph */
  private readonly prefix: string;

  /** how fake-quantization ops are written: QuantizeLinear/DequantizeLinear pairs, or the same arithmetic in float ops */
  quant: 'qdq' | 'float' = 'qdq';

  constructor(readonly opset: number, parent?: GraphBuilder) {
    this.initializers = parent ? parent.initializers : [];
    this.consts = parent ? parent.consts : new Map();
    this.lists = parent ? parent.lists : new Map();
    this.names = parent ? parent.names : { used: new Set(), counter: 0, graphs: 0 };
    this.prefix = parent ? `g${++this.names.graphs}_` : '';
    if (parent) this.quant = parent.quant;
  }

  /** A builder for a subgraph (Loop body, If branch): its own nodes, inputs and outputs; names, constants and initializers shared. */
  sub(): GraphBuilder {
    return new GraphBuilder(this.opset, this);
  }

  /** This builder's nodes, inputs and outputs as a GraphProto (for a Loop / If attribute). */
  graph(name: string): import('onnx-proto').onnx.IGraphProto {
    return { name, node: this.nodes, input: this.inputs, output: this.outputs };
  }

  /** A fresh name derived from `base`, never used before in this graph. */
  fresh(base: string): string {
    let n: string;
    do { n = `${base}.pserve_${this.names.counter++}`; } while (this.names.used.has(n));
    this.names.used.add(n);
    return n;
  }

  claim(name: string): void { this.names.used.add(name); }

  /** Add a node; returns its output names (fresh ones unless given). */
  node(opType: string, inputs: string[], outputs: string[] | number = 1, attrs: Record<string, AttrIn | undefined> = {}): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs;
    for (const o of outs) this.names.used.add(o);
    const attribute = Object.entries(attrs).filter(([, v]) => v !== undefined).map(([name, v]) => attrProto(name, v!));
    this.nodes.push({ opType, input: inputs, output: outs, name: `${this.prefix}${opType}_${this.nodes.length}`, attribute });
    return outs;
  }

  /** One-output convenience. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrIn | undefined> = {}, output?: string): string {
    return this.node(opType, inputs, output === undefined ? 1 : [output], attrs)[0]!;
  }

  /** An initializer from raw little-endian bytes (ONNX raw_data is little-endian too). */
  initializer(name: string, dtype: DType, dims: number[], raw: Uint8Array, external?: { location: string; offset: number }): string {
    this.names.used.add(name);
    const t: import('onnx-proto').onnx.ITensorProto = { name, dataType: onnxDtype(dtype, name), dims };
    if (external) {
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = [
        { key: 'location', value: external.location },
        { key: 'offset', value: String(external.offset) },
        { key: 'length', value: String(raw.byteLength) },
      ];
    } else {
      t.rawData = raw;
    }
    this.initializers.push(t);
    return name;
  }

  /** A small constant initializer from numbers; remembered so mappers can read it back. */
  constant(values: number[], dtype: DType = 'int64', dims?: number[], base = 'const'): string {
    const name = this.fresh(base);
    const d = dims ?? [values.length];
    this.initializer(name, dtype, d, encodeValues(values, dtype));
    this.consts.set(name, { dtype, dims: d, values });
    return name;
  }

  scalar(v: number, dtype: DType = 'float32'): string {
    return this.constant([v], dtype, []);
  }

  input(name: string, dtype: DType, dims: Dim[]): void {
    this.names.used.add(name);
    this.inputs.push(valueInfo(name, dtype, dims));
  }

  output(name: string, dtype: DType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, dtype, dims));
  }

  // ---- helpers whose spelling depends on the opset ----

  unsqueeze(x: string, axes: number[], output?: string): string {
    // Unsqueeze/Squeeze-1 take no negative axes (opset 11 added them): a mapper must name them by rank
    if (this.opset < 11 && axes.some((a) => a < 0)) throw new Error(`Unsqueeze axes [${axes.join(',')}] are negative, which opset ${this.opset} does not allow`);
    return this.opset >= 13 ? this.op('Unsqueeze', [x, this.constant(axes)], {}, output) : this.op('Unsqueeze', [x], { axes }, output);
  }

  squeeze(x: string, axes: number[] | null, output?: string): string {
    if (axes === null || axes.length === 0) return this.op('Squeeze', [x], {}, output);
    if (this.opset < 11 && axes.some((a) => a < 0)) throw new Error(`Squeeze axes [${axes.join(',')}] are negative, which opset ${this.opset} does not allow`);
    return this.opset >= 13 ? this.op('Squeeze', [x, this.constant(axes)], {}, output) : this.op('Squeeze', [x], { axes }, output);
  }

  cast(x: string, to: DType, output?: string): string {
    return this.op('Cast', [x], { to: onnxDtype(to, x) }, output);
  }

  /** Shape(x)[start:end] as int64 */
  shapeSlice(x: string, start: number, end: number): string {
    if (this.opset >= 15) return this.op('Shape', [x], { start, end });
    const s = this.op('Shape', [x]);
    if (this.opset < 10) return this.op('Slice', [s], { axes: [0], starts: [start], ends: [end] });
    return this.op('Slice', [s, this.constant([start]), this.constant([end]), this.constant([0])]);
  }
}

function valueInfo(name: string, dtype: DType, dims: Dim[]): import('onnx-proto').onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnxDtype(dtype, name),
        shape: { dim: dims.map((d) => (d.param !== undefined ? { dimParam: d.param } : { dimValue: d.value ?? 0 })) },
      },
    },
  };
}

function attrProto(name: string, v: AttrIn): import('onnx-proto').onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    return Number.isInteger(v) && !Object.is(v, -0) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  }
  if (typeof v === 'boolean') return { name, type: T.INT, i: v ? 1 : 0 };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { name, type: T.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    return { name, type: T.INTS, ints: v as number[] };
  }
  if ('f' in v) return { name, type: T.FLOAT, f: v.f };
  if ('graph' in v) return { name, type: T.GRAPH, g: v.graph };
  return { name, type: T.FLOATS, floats: v.floats };
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** A JS number as int64, clamped to the int64 range (INT64_MAX read as a double is 2^63, which would wrap to INT64_MIN); NaN is 0. */
function toInt64(v: number): bigint {
  if (Number.isNaN(v)) return 0n;
  if (v >= 2 ** 63) return INT64_MAX;
  if (v <= -(2 ** 63)) return INT64_MIN;
  return BigInt(Math.trunc(v));
}

export function encodeValues(values: number[], dtype: DType): Uint8Array {
  let a: TypedArray;
  switch (dtype) {
    case 'float32': a = Float32Array.from(values); break;
    case 'float64': a = Float64Array.from(values); break;
    case 'int32': a = Int32Array.from(values); break;
    case 'int64': a = BigInt64Array.from(values.map(toInt64)); break;
    case 'int8': a = Int8Array.from(values); break;
    case 'int16': a = Int16Array.from(values); break;
    case 'uint8': case 'bool': a = Uint8Array.from(values.map((v) => (dtype === 'bool' ? (v ? 1 : 0) : v))); break;
    default: throw new PserveError('E_ONNX_DTYPE', `cannot write a ${dtype} constant`);
  }
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
