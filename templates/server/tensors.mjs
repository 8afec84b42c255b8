/**
 * Tensors: JSON values in, typed arrays to onnxruntime, JSON values out. The dtype table, the
 * request error (HTTP status, pipeline err_no and a reason for the person), and the checks that
 * turn a request's values and shapes into tensors or into a 4xx with that reason.
 */
import { NumArray, settle } from './numbers.mjs';

/** ONNX Runtime type name -> KServe datatype and the typed array that holds it. */
export const DTYPES = {
  float32: { kserve: 'FP32', Array: Float32Array, kind: 'float' },
  float64: { kserve: 'FP64', Array: Float64Array, kind: 'float' },
  int8: { kserve: 'INT8', Array: Int8Array, kind: 'int', min: -128, max: 127 },
  int16: { kserve: 'INT16', Array: Int16Array, kind: 'int', min: -32768, max: 32767 },
  int32: { kserve: 'INT32', Array: Int32Array, kind: 'int', min: -2147483648, max: 2147483647 },
  int64: { kserve: 'INT64', Array: BigInt64Array, kind: 'bigint' },
  uint8: { kserve: 'UINT8', Array: Uint8Array, kind: 'int', min: 0, max: 255 },
  uint16: { kserve: 'UINT16', Array: Uint16Array, kind: 'int', min: 0, max: 65535 },
  uint32: { kserve: 'UINT32', Array: Uint32Array, kind: 'int', min: 0, max: 4294967295 },
  uint64: { kserve: 'UINT64', Array: BigUint64Array, kind: 'bigint' },
  bool: { kserve: 'BOOL', Array: Uint8Array, kind: 'bool' },
};
/** Paddle Serving feed_type codes (FORMATS §4) */
export const SERVING_TYPES = ['int64', 'float32', 'int32', 'float64', 'int16', 'float16', 'bfloat16', 'uint8', 'int8', 'bool', 'complex64', 'complex128'];

/** A request was wrong: HTTP status, Paddle pipeline err_no, a reason for the person. */
export class RequestError extends Error {
  constructor(status, message, errNo = 5000) { super(message); this.status = status; this.errNo = errNo; }
}

/** Flatten a (nested) JSON array, checking it is rectangular; returns values and the nesting shape. */
export function flatten(value, what) {
  if (value instanceof NumArray) return { data: value.f64, shape: value.dims, from: value };
  if (!Array.isArray(value)) return { data: [value], shape: [] };
  settle(value);
  // flat list: no copy; toTyped rejects any element that is not a number (nested arrays included)
  if (value.length > 0 && !Array.isArray(value[0])) return { data: value, shape: [value.length] };
  const shape = [];
  for (let v = value; Array.isArray(v); v = v[0]) {
    shape.push(v.length);
    if (shape.length > 16) throw new RequestError(400, `${what}: nested more than 16 levels`);
    if (v.length === 0) break;
  }
  const data = [];
  const walk = (v, d) => {
    if (d === shape.length) {
      if (Array.isArray(v)) throw new RequestError(400, `${what}: ragged array (deeper than its first element)`);
      data.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) throw new RequestError(400, `${what}: ragged array (dimension ${d} should be ${shape[d]})`);
    for (const x of v) walk(x, d + 1);
  };
  walk(value, 0);
  return { data, shape };
}

export function toTyped(dtype, data, what) {
  const t = DTYPES[dtype];
  if (!t) throw new RequestError(400, `${what}: the model wants ${dtype}, which this JSON server cannot carry`);
  // numbers read by readNumbers are finite doubles: a float tensor is one conversion
  // (the typed-array constructor converts in native code, with the same rounding as element
  // stores; a JS loop here is megamorphic over the dtypes and ~15x slower)
  if (t.kind === 'float' && data instanceof Float64Array) return new t.Array(data);
  const out = new t.Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (t.kind === 'bool') {
      if (v === true || v === 1) out[i] = 1;
      else if (v === false || v === 0) out[i] = 0;
      else throw new RequestError(400, `${what}: element ${i} is ${JSON.stringify(v)}, expected bool`);
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RequestError(400, `${what}: element ${i} is ${JSON.stringify(v)}, expected a ${dtype} number`);
    if (t.kind === 'float') { out[i] = v; continue; }
    if (!Number.isInteger(v)) throw new RequestError(400, `${what}: element ${i} is ${v}, expected an integer (${dtype})`);
    if (t.kind === 'bigint') {
      if (!Number.isSafeInteger(v) || (dtype === 'uint64' && v < 0)) throw new RequestError(400, `${what}: element ${i} is ${v}, out of range for ${dtype}`);
      out[i] = BigInt(v);
    } else {
      if (v < t.min || v > t.max) throw new RequestError(400, `${what}: element ${i} is ${v}, out of range for ${dtype}`);
      out[i] = v;
    }
  }
  return out;
}

const prod = (dims) => dims.reduce((a, b) => a * b, 1);

/**
 * The tensor shape for `n` elements of `feed`: from the shape the client sent when it sent one
 * (nested arrays or an explicit shape), else from the model's shape with the batch dim solved.
 */
export function resolveShape(feed, n, given, what) {
  const model = feed.shape;
  let shape = given;
  if (shape && shape.length === model.length - 1 && model.length > 0 && model[0] < 0) shape = [1, ...shape];
  if (!shape || shape.length <= 1 && model.length > 1) {
    const rest = model.slice(1);
    if (model.length === 0) shape = [];
    else if (rest.some((d) => d < 0)) {
      throw new RequestError(400, `${what}: the model shape [${model.join(',')}] has unknown dims; send nested arrays or a shape`);
    } else if (model[0] >= 0) shape = model.slice();
    else {
      const per = prod(rest);
      if (per === 0 || n % per !== 0) throw new RequestError(400, `${what}: ${n} elements do not fill whole rows of [${rest.join(',')}] (${per} each)`);
      shape = [n / per, ...rest];
    }
  }
  if (shape.length !== model.length) throw new RequestError(400, `${what}: shape [${shape.join(',')}] has rank ${shape.length}, the model wants [${model.join(',')}]`);
  shape.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0) throw new RequestError(400, `${what}: shape [${shape.join(',')}] has an invalid dim`);
    if (model[i] >= 0 && model[i] !== d) throw new RequestError(400, `${what}: shape [${shape.join(',')}] does not match the model's [${model.join(',')}] at dim ${i}`);
  });
  if (prod(shape) !== n) throw new RequestError(400, `${what}: ${n} elements given, shape [${shape.join(',')}] needs ${prod(shape)}`);
  return shape;
}

export function tensorToJson(tensor) {
  const d = tensor.data;
  const data = d instanceof BigInt64Array || d instanceof BigUint64Array ? Array.from(d, Number) : Array.from(d);
  return { data, shape: Array.from(tensor.dims) };
}
