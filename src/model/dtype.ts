/** dtype names, Paddle VarType codes, element sizes, and typed-array constructors, in one table. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'bool' |
  'complex64' | 'complex128' | 'uint16' | 'uint32' | 'uint64' | 'float8_e4m3fn' | 'float8_e5m2' | 'string' | 'unknown';

/** kserve: the KServe v2 datatype (FORMATS; Triton's TYPE_ names are the same with a prefix) */
interface Row { dtype: DType; varType: number; size: number; pir?: string; kserve?: string }

const ROWS: Row[] = [
  { dtype: 'bool', varType: 0, size: 1, pir: 't_bool', kserve: 'BOOL' },
  { dtype: 'int16', varType: 1, size: 2, pir: 't_i16', kserve: 'INT16' },
  { dtype: 'int32', varType: 2, size: 4, pir: 't_i32', kserve: 'INT32' },
  { dtype: 'int64', varType: 3, size: 8, pir: 't_i64', kserve: 'INT64' },
  { dtype: 'float16', varType: 4, size: 2, pir: 't_f16', kserve: 'FP16' },
  { dtype: 'float32', varType: 5, size: 4, pir: 't_f32', kserve: 'FP32' },
  { dtype: 'float64', varType: 6, size: 8, pir: 't_f64', kserve: 'FP64' },
  { dtype: 'uint8', varType: 20, size: 1, pir: 't_ui8', kserve: 'UINT8' },
  { dtype: 'int8', varType: 21, size: 1, pir: 't_i8', kserve: 'INT8' },
  { dtype: 'bfloat16', varType: 22, size: 2, pir: 't_bf16', kserve: 'BF16' },
  { dtype: 'complex64', varType: 23, size: 8, pir: 't_c64' },
  { dtype: 'complex128', varType: 24, size: 16, pir: 't_c128' },
  { dtype: 'float8_e4m3fn', varType: 32, size: 1 },
  { dtype: 'float8_e5m2', varType: 33, size: 1 },
  { dtype: 'uint16', varType: 36, size: 2, kserve: 'UINT16' },
  { dtype: 'uint32', varType: 37, size: 4, kserve: 'UINT32' },
  { dtype: 'uint64', varType: 38, size: 8, kserve: 'UINT64' },
];

const byVarType = new Map(ROWS.map((r) => [r.varType, r]));
const byName = new Map(ROWS.map((r) => [r.dtype, r]));
const byPir = new Map(ROWS.filter((r) => r.pir).map((r) => [r.pir!, r]));
const byKserve = new Map(ROWS.filter((r) => r.kserve).map((r) => [r.kserve!, r]));

export function dtypeFromVarType(code: number | undefined): DType {
  return (code === undefined ? undefined : byVarType.get(code)?.dtype) ?? 'unknown';
}

export function varTypeFromDtype(d: DType): number | undefined {
  return byName.get(d)?.varType;
}

/** `0.t_f32` or `t_f32` */
export function dtypeFromPir(tag: string): DType {
  const t = tag.replace(/^\d+\./, '');
  return byPir.get(t)?.dtype ?? 'unknown';
}

/** PIR `1.a_dtype` attributes spell dtypes by name ("float32", "int64", ...). */
export function dtypeFromName(name: string): DType {
  return byName.has(name as DType) ? (name as DType) : 'unknown';
}

/** KServe v2 datatype of a dtype (FP32, INT64, BYTES for string), undefined when KServe has none */
export function kserveDatatype(d: string): string | undefined {
  return d === 'string' ? 'BYTES' : byName.get(d as DType)?.kserve;
}

/** a KServe v2 datatype in pserve's dtype spelling (FP32 -> float32); an unknown one lower-cased */
export function dtypeFromKserve(t: string): string {
  return t === 'BYTES' ? 'string' : byKserve.get(t)?.dtype ?? t.toLowerCase();
}

/** Triton's model_config DataType of a dtype (TYPE_FP32, TYPE_STRING, ...) */
export function tritonDatatype(d: string): string | undefined {
  const k = kserveDatatype(d);
  return k === undefined ? undefined : `TYPE_${k === 'BYTES' ? 'STRING' : k}`;
}

export function elementSize(d: DType): number | undefined {
  return byName.get(d)?.size;
}

export type TypedArray = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array |
  Uint16Array | Uint32Array | BigUint64Array;

/** A typed array over `bytes` for numeric dtypes (float16/bfloat16 come back as raw Uint16Array). */
export function typedView(d: DType, bytes: Uint8Array): TypedArray {
  const { buffer, byteOffset, byteLength } = bytes;
  const n = (s: number) => byteLength / s;
  switch (d) {
    case 'float32': return new Float32Array(buffer, byteOffset, n(4));
    case 'float64': return new Float64Array(buffer, byteOffset, n(8));
    case 'int8': return new Int8Array(buffer, byteOffset, n(1));
    case 'int16': return new Int16Array(buffer, byteOffset, n(2));
    case 'int32': return new Int32Array(buffer, byteOffset, n(4));
    case 'int64': return new BigInt64Array(buffer, byteOffset, n(8));
    case 'uint8': case 'bool': case 'float8_e4m3fn': case 'float8_e5m2': return new Uint8Array(buffer, byteOffset, n(1));
    case 'float16': case 'bfloat16': case 'uint16': return new Uint16Array(buffer, byteOffset, n(2));
    case 'uint32': return new Uint32Array(buffer, byteOffset, n(4));
    case 'uint64': return new BigUint64Array(buffer, byteOffset, n(8));
    case 'complex64': return new Float32Array(buffer, byteOffset, n(4));
    case 'complex128': return new Float64Array(buffer, byteOffset, n(8));
    default: return new Uint8Array(buffer, byteOffset, byteLength);
  }
}
