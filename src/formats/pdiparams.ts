/**
 * Paddle dense-tensor streams (FORMATS.md section 2): combined `.pdiparams` files (tensors
 * concatenated, sorted by name) and legacy one-file-per-variable params. Pure: reads go through a
 * RandomAccess so that a 200 MB file is walked header by header without being loaded.
 */
import { PserveError } from '../errors.js';
import { elementSize, dtypeFromVarType, type DType } from '../model/dtype.js';
import { LIMITS } from './limits.js';
import { TensorDescSpec, type TensorDesc } from './paddle-program.js';
import { decodeMessage, encodeMessage } from './protobuf.js';

export interface RandomAccess {
  readonly size: number;
  /** exactly `length` bytes at `offset`; callers check bounds first */
  read(offset: number, length: number): Uint8Array;
}

export class BytesSource implements RandomAccess {
  constructor(readonly bytes: Uint8Array) {}
  get size(): number { return this.bytes.length; }
  read(offset: number, length: number): Uint8Array { return this.bytes.subarray(offset, offset + length); }
}

export interface TensorRecord {
  /** where the record starts in its file */
  offset: number;
  /** raw LoD levels (size_t offsets, little-endian) */
  lod: Uint8Array[];
  /** the TensorDesc exactly as stored, and decoded */
  descBytes: Uint8Array;
  desc: TensorDesc;
  dtype: DType;
  dims: number[];
  numel: number;
  dataOffset: number;
  dataLength: number;
  /** offset just past the record */
  end: number;
}

function err(code: string, msg: string, what: string, offset: number): PserveError {
  return new PserveError(code, `${what}: ${msg}`, { offset });
}

/** Read one tensor record starting at `offset`, checking every claimed size against the bytes left. */
export function readTensorRecord(src: RandomAccess, offset: number, what: string): TensorRecord {
  const size = src.size;
  let pos = offset;
  const need = (n: number, field: string): void => {
    if (n > size - pos) throw err('E_PARAMS_TRUNCATED', `${field} needs ${n} bytes but only ${size - pos} remain`, what, pos);
  };
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

  need(12, 'tensor header');
  const head = view(src.read(pos, 12));
  const version = head.getUint32(0, true);
  if (version !== 0) throw err('E_PARAMS_VERSION', `tensor version must be 0, found ${version}`, what, pos);
  const lodLevels = head.getBigUint64(4, true);
  if (lodLevels > BigInt(LIMITS.maxLodLevels)) {
    throw err('E_PARAMS_INVALID', `LoD level count ${lodLevels} exceeds the limit of ${LIMITS.maxLodLevels}`, what, pos + 4);
  }
  pos += 12;
  const lod: Uint8Array[] = [];
  for (let i = 0; i < Number(lodLevels); i++) {
    need(8, `LoD level ${i} size`);
    const n = view(src.read(pos, 8)).getBigUint64(0, true);
    if (n > BigInt(size - pos - 8)) throw err('E_PARAMS_TRUNCATED', `LoD level ${i} claims ${n} bytes but only ${size - pos - 8} remain`, what, pos);
    if (n % 8n !== 0n) throw err('E_PARAMS_INVALID', `LoD level ${i} size ${n} is not a multiple of 8`, what, pos);
    pos += 8;
    lod.push(src.read(pos, Number(n)).slice());
    pos += Number(n);
  }
  need(8, 'tensor version and desc size');
  const tv = view(src.read(pos, 8));
  const tensorVersion = tv.getUint32(0, true);
  if (tensorVersion !== 0) throw err('E_PARAMS_VERSION', `tensor desc version must be 0, found ${tensorVersion}`, what, pos);
  const descSize = tv.getInt32(4, true);
  if (descSize < 0 || descSize > LIMITS.maxTensorDescBytes) {
    throw err('E_PARAMS_INVALID', `TensorDesc size ${descSize} is outside 0..${LIMITS.maxTensorDescBytes}`, what, pos + 4);
  }
  pos += 8;
  need(descSize, 'TensorDesc');
  const descBytes = src.read(pos, descSize).slice();
  let desc: TensorDesc;
  try {
    desc = decodeMessage(TensorDescSpec, descBytes, `${what} TensorDesc`) as TensorDesc;
  } catch (e) {
    if (e instanceof PserveError) throw err('E_PARAMS_INVALID', e.message, what, pos + (e.offset ?? 0));
    throw e;
  }
  const descAt = pos;
  pos += descSize;
  const dtype = dtypeFromVarType(desc.data_type);
  const esize = elementSize(dtype);
  if (esize === undefined) throw err('E_PARAMS_DTYPE', `unsupported tensor data type ${desc.data_type ?? '(none)'}`, what, descAt);
  const rawDims = desc.dims ?? [];
  if (rawDims.length > LIMITS.maxRank) throw err('E_PARAMS_INVALID', `rank ${rawDims.length} exceeds the limit of ${LIMITS.maxRank}`, what, descAt);
  const dims: number[] = [];
  let numel = 1;
  for (const d of rawDims) {
    const n = typeof d === 'bigint' ? Number(d) : d;
    if (!Number.isSafeInteger(n) || n < 0) throw err('E_PARAMS_INVALID', `dimension ${String(d)} is not a non-negative size`, what, descAt);
    dims.push(n);
    numel *= n;
    if (numel > LIMITS.maxElements) throw err('E_PARAMS_TOO_LARGE', `tensor of shape [${rawDims.join(',')}] exceeds ${LIMITS.maxElements} elements`, what, descAt);
  }
  const dataLength = numel * esize;
  if (dataLength > size - pos) {
    throw err('E_PARAMS_TRUNCATED', `tensor [${dims.join(',')}] ${dtype} claims ${dataLength} bytes but only ${size - pos} remain`, what, pos);
  }
  return { offset, lod, descBytes, desc, dtype, dims, numel, dataOffset: pos, dataLength, end: pos + dataLength };
}

/** Every record of a stream, to its last byte; bytes left over are an error. */
export function readTensorStream(src: RandomAccess, what: string, maxCount = Number.MAX_SAFE_INTEGER): TensorRecord[] {
  const out: TensorRecord[] = [];
  let pos = 0;
  while (pos < src.size) {
    if (out.length >= maxCount) {
      throw err('E_PARAMS_TRAILING', `${src.size - pos} bytes left over after ${out.length} tensors`, what, pos);
    }
    const rec = readTensorRecord(src, pos, what);
    out.push(rec);
    pos = rec.end;
  }
  return out;
}

/** The header bytes of a record (everything before the raw data). */
export function encodeTensorHeader(desc: TensorDesc | Uint8Array, lod: Uint8Array[] = []): Uint8Array {
  const descBytes = desc instanceof Uint8Array ? desc : encodeMessage(TensorDescSpec, desc);
  let n = 12 + 8 + descBytes.length;
  for (const l of lod) n += 8 + l.length;
  const out = new Uint8Array(n);
  const v = new DataView(out.buffer);
  let p = 0;
  v.setUint32(p, 0, true); p += 4;
  v.setBigUint64(p, BigInt(lod.length), true); p += 8;
  for (const l of lod) { v.setBigUint64(p, BigInt(l.length), true); p += 8; out.set(l, p); p += l.length; }
  v.setUint32(p, 0, true); p += 4;
  v.setInt32(p, descBytes.length, true); p += 4;
  out.set(descBytes, p);
  return out;
}

/** A whole record: header then data. */
export function encodeTensorRecord(desc: TensorDesc | Uint8Array, data: Uint8Array, lod: Uint8Array[] = []): Uint8Array {
  const head = encodeTensorHeader(desc, lod);
  const out = new Uint8Array(head.length + data.length);
  out.set(head, 0);
  out.set(data, head.length);
  return out;
}
