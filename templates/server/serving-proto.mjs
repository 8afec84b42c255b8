/**
 * Paddle Serving's own wire forms beyond JSON bodies:
 * - the C++ server's GeneralModelService (what `HttpClient` and brpc clients send, FORMATS.md §9):
 *   Request { tensor[], fetch_var_names, log_id } -> Response { outputs[{ tensor[], engine_name }] },
 *   as protobuf (`application/proto`) or as the same messages in JSON with proto field names;
 * - the pipeline service's protobuf Request/Response (PipelineService.inference over gRPC), whose
 *   tensors carry typed data fields and whose values may be upstream's text form.
 * Tensors are turned into feeds here and run through protocols.mjs's infer.
 */
import { loadSchema, decode, encode, ProtoError } from './protobuf.mjs';
import { schema as GENERAL } from './proto/general_model_service.gen.mjs';
import { schema as PIPELINE } from './proto/pipeline_service.gen.mjs';
import { DTYPES, RequestError, SERVING_TYPES, resolveShape, toTyped } from './tensors.mjs';

export const generalSpec = loadSchema(GENERAL);
export const pipelineSpec = loadSchema(PIPELINE);
export const GENERAL_PKG = 'baidu.paddle_serving.predictor.general_model';
export const PIPELINE_PKG = 'baidu.paddle_serving.pipeline_serving';
/** the reply Content-Type HttpClient compares byte for byte before decoding protobuf */
export const PROTO_TYPE = 'application/proto';

/**
 * Upstream's text form of a tensor value: numbers separated by ',' (spaces allowed), batch rows
 * separated by ';'. One row is a flat list; several rows are nested (each row the same length).
 */
export function parseValueText(text, what) {
  const rows = text.split(';').map((r) => r.trim()).filter((r, i, all) => r !== '' || all.length === 1);
  const parsed = rows.map((row, r) => {
    if (row === '') throw new RequestError(400, `${what}: empty value (expected numbers separated by ',' and rows by ';', or a JSON array)`);
    return row.split(',').map((x, i) => {
      const s = x.trim();
      const v = s === '' ? NaN : Number(s);
      if (!Number.isFinite(v)) throw new RequestError(400, `${what}: row ${r} item ${i} is ${JSON.stringify(s.slice(0, 40))}, not a number (expected numbers separated by ',' and rows by ';', or a JSON array)`);
      return v;
    });
  });
  if (parsed.length === 1) return parsed[0];
  if (parsed.some((p) => p.length !== parsed[0].length)) throw new RequestError(400, `${what}: rows separated by ';' have different lengths`);
  return parsed;
}

const BIG_RANGE = { int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n] };

/** values (an array, a typed array) as the typed array the feed's dtype needs */
export function toFeedArray(dtype, values, what) {
  const t = DTYPES[dtype];
  if (!t) throw new RequestError(400, `${what}: the model wants ${dtype}, which this server cannot carry`);
  if (values instanceof t.Array && t.kind !== 'bool') return values;
  if (t.kind === 'bigint') {
    // a BigInt64Array/BigUint64Array store wraps modulo 2^64: every value is checked against the
    // dtype's range first (proto3 JSON sends int64 as decimal strings, any length)
    const [lo, hi] = BIG_RANGE[dtype];
    const out = new t.Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      let b;
      if (typeof v === 'bigint') b = v;
      else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && /^-?\d+$/.test(v)) {
        // digits past the 20th (leading zeros aside) are out of any 64-bit range: refused unread
        const m = /^(-?)0*(\d*)$/.exec(v);
        b = m[2].length > 20 ? (m[1] ? lo - 1n : hi + 1n) : BigInt(`${m[1]}${m[2] || '0'}`);
      } else throw new RequestError(400, `${what}: element ${i} is ${JSON.stringify(String(v).slice(0, 40))}, expected an integer (${dtype})`);
      if (b < lo || b > hi) throw new RequestError(400, `${what}: element ${i} is ${String(v).slice(0, 40)}${String(v).length > 40 ? '...' : ''}, out of range for ${dtype}`);
      out[i] = b;
    }
    return out;
  }
  // numbers (and bools, 0 and 1) go to toTyped as they are; a copy only when some element is a
  // BigInt or a numeric string
  let plain = values;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'bigint' && (typeof v !== 'string' || v.trim() === '' || t.kind === 'bool')) continue;
    if (plain === values) plain = Array.from(values);
    plain[i] = Number(v);
  }
  return toTyped(dtype, plain, what);
}

/**
 * Request bodies read into a buffer of their own (server.mjs readBody with alignAt): nothing else
 * shares their memory, so a tensor inside one can be handed to an inference worker as it is.
 */
const OWNED = new WeakSet();
export const ownBuffer = (arrayBuffer) => { OWNED.add(arrayBuffer); return arrayBuffer; };

/** little-endian raw elements (KServe raw/binary contents, Serving's tensor_content) as the dtype's typed array */
export function fromBytes(dtype, bytes, what) {
  const t = DTYPES[dtype];
  const size = t?.Array.BYTES_PER_ELEMENT;
  if (!t) throw new RequestError(400, `${what}: the model wants ${dtype}, which this server cannot carry`);
  if (bytes.length % size !== 0) throw new RequestError(400, `${what}: ${bytes.length} bytes is not a whole number of ${dtype} elements (${size} bytes each)`);
  if (OWNED.has(bytes.buffer) && bytes.byteOffset % size === 0) {
    // a view of the request's own body, no copy: its whole buffer moves to the worker (movable)
    const view = new t.Array(bytes.buffer, bytes.byteOffset, bytes.length / size);
    view.ownsBuffer = true;
    return view;
  }
  // copied: the body's offset need not be aligned, and the copy can move to a worker thread
  return new t.Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

/** the bytes of a typed array (a view, no copy) */
export const bytesOf = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);

// Serving's elem_type codes (tensors.mjs SERVING_TYPES, FORMATS.md §4) and where each is carried in the two Tensor messages
const ELEM_OF = Object.fromEntries(SERVING_TYPES.map((d, code) => [d, code]));
const GENERAL_FIELD = { 0: 'int64_data', 1: 'float_data', 2: 'int_data', 3: 'float64_data', 9: 'bool_data' };
const PIPELINE_FIELD = { 0: 'int64_data', 1: 'float_data', 5: 'float_data', 2: 'int_data', 4: 'int_data', 8: 'int_data', 3: 'float64_data', 6: 'uint32_data', 7: 'uint32_data', 9: 'bool_data' };

/** JSON for proto messages: typed arrays as lists, 64-bit integers as numbers (as brpc's json2pb writes them) */
export function protoJson(obj) {
  return JSON.stringify(obj, (_k, v) => {
    if (typeof v === 'bigint') return Number(v);
    if (ArrayBuffer.isView(v) && !Buffer.isBuffer(v)) return v instanceof BigInt64Array || v instanceof BigUint64Array ? Array.from(v, Number) : Array.from(v);
    if (Buffer.isBuffer(v)) return v.toString('base64');
    if (v && v.type === 'Buffer' && Array.isArray(v.data)) return Buffer.from(v.data).toString('base64');
    return v;
  });
}

const camelToSnake = (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** a JSON request of proto messages: proto field names, or protobuf's lowerCamel JSON names */
function snakeKeys(v, depth = 0) {
  if (depth > 16 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) { for (let i = 0; i < v.length; i++) v[i] = snakeKeys(v[i], depth + 1); return v; }
  const out = {};
  for (const [k, x] of Object.entries(v)) out[/[A-Z]/.test(k) ? camelToSnake(k) : k] = snakeKeys(x, depth + 1);
  return out;
}

/**
 * One feed from a Serving Tensor message: the feed by alias (then var name), its values from the
 * data field of its elem_type (or tensor_content / byte_data), its shape as sent (with batch).
 */
function feedOf(protocols, model, t, i, fieldOf, bytesField) {
  const key = String(t.alias_name || t.name || '');
  const what = `tensor[${i}] "${key}"`;
  const f = protocols.findFeed(key);
  if (!f) throw new RequestError(400, `${what}: unknown feed (the model takes ${model.feeds.map((x) => x.alias).join(', ')})`);
  const elem = t.elem_type ?? 0;
  if (!Number.isInteger(elem) || elem < 0) throw new RequestError(400, `${what}: elem_type ${elem} is not a Serving type code`);
  let data;
  const raw = t[bytesField];
  const field = fieldOf[elem];
  if (field && t[field] !== undefined && t[field].length > 0) data = toFeedArray(f.dtype, t[field], what);
  else if (raw !== undefined && raw.length > 0) {
    const dt = SERVING_TYPES[elem];
    if (dt !== f.dtype) throw new RequestError(400, `${what}: elem_type ${elem} (${dt ?? 'unknown'}) in ${bytesField}, the model wants ${f.dtype}`);
    data = fromBytes(f.dtype, typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw, what);
  } else if (elem === 20 || elem === 12 || elem === 13) throw new RequestError(400, `${what}: elem_type ${elem} (strings/bytes), the model wants ${f.dtype} numbers`);
  else if (field) data = toFeedArray(f.dtype, [], what);
  else throw new RequestError(400, `${what}: elem_type ${elem} is not one this server reads (0 int64, 1 float32, 2 int32, 3 float64, 9 bool, or raw bytes in ${bytesField})`);
  let shape = Array.isArray(t.shape) && t.shape.length ? t.shape.map(Number) : null;
  // a LoD feed's conf shape is -1 (HttpClient sends [1, -1]): the model's own shape decides
  if (shape && shape.some((d) => d < 0) && shape.every((d) => Number.isInteger(d) && d >= -1)) shape = null;
  return [f, { data, shape: resolveShape(f, data.length, shape, what) }];
}

/** one fetch as a Serving Tensor message of the given form */
function tensorOf(o, form) {
  const dtype = o.spec.dtype;
  const elem = ELEM_OF[dtype] ?? 1;
  const t = { elem_type: elem, shape: o.shape, name: form === 'general' ? o.spec.name : o.key };
  if (form === 'general') t.alias_name = o.spec.alias;
  const fieldOf = form === 'general' ? GENERAL_FIELD : PIPELINE_FIELD;
  const field = fieldOf[elem];
  if (dtype === 'bool') t.bool_data = Array.from(o.typed, (x) => x !== 0);
  else if (field) t[field] = o.typed;
  else if (form === 'general') t.tensor_content = bytesOf(o.typed);
  else t.byte_data = bytesOf(o.typed);
  // a LoD fetch of the conf: the dense output is one sequence per batch row
  if (o.spec.lod === true) t.lod = Array.from({ length: o.shape[0] + 1 }, (_, i) => i);
  return t;
}

export function createServingProto({ protocols, model, serviceName, defaultFetch, engineName = 'general_infer_0' }) {

  /** GeneralModelService.inference: a decoded Request -> a Response object */
  async function general(req) {
    if (!req || typeof req !== 'object' || Array.isArray(req)) throw new RequestError(400, 'the body must be a Request message { tensor, fetch_var_names, log_id }');
    const tensors = req.tensor ?? [];
    if (!Array.isArray(tensors) || tensors.length === 0) throw new RequestError(400, 'Request.tensor must list one tensor per feed');
    const feeds = new Map();
    tensors.forEach((t, i) => {
      if (!t || typeof t !== 'object') throw new RequestError(400, `tensor[${i}] must be a Tensor message`);
      const [f, v] = feedOf(protocols, model, t, i, GENERAL_FIELD, 'tensor_content');
      if (feeds.has(f)) throw new RequestError(400, `tensor[${i}]: feed "${f.alias}" given twice`);
      feeds.set(f, v);
    });
    const names = Array.isArray(req.fetch_var_names) ? req.fetch_var_names.map(String).filter((x) => x !== '') : [];
    // none named: every fetch of the model, as the C++ server answers
    const keys = names.length ? names : model.fetches.map((f) => f.alias);
    const outs = await protocols.infer(feeds, keys);
    const res = { outputs: [{ tensor: outs.map((o) => tensorOf(o, 'general')), engine_name: engineName }], profile_time: [], err_no: 0, err_msg: '' };
    if (req.log_id !== undefined) res.log_id = req.log_id;
    return res;
  }

  /** an HTTP body of GeneralModelService: protobuf when `proto`, else JSON */
  function decodeGeneral(body, proto) {
    if (proto) {
      try { return decode(generalSpec, `${GENERAL_PKG}.Request`, body); } catch (e) {
        if (e instanceof ProtoError) throw new RequestError(400, `the body is not a GeneralModelService Request: ${e.message}`);
        throw e;
      }
    }
    let v;
    try { v = JSON.parse(body.toString('utf8')); } catch (e) { throw new RequestError(400, `the body is not JSON: ${e.message}`); }
    return snakeKeys(v);
  }

  const encodeGeneral = (res, proto) => (proto ? encode(generalSpec, `${GENERAL_PKG}.Response`, res) : Buffer.from(protoJson(res)));
  const generalError = (err) => ({ err_no: err.errNo ?? 5000, err_msg: err.message });
  /** the pipeline service's error reply (HTTP gateway and gRPC alike): err_no and err_msg, nothing else */
  const pipelineError = (err) => ({ err_no: err.errNo ?? 5000, err_msg: err.message, key: [], value: [], tensors: [] });

  /** PipelineService.inference: a decoded pipeline Request -> a Response object */
  async function pipelineRequest(req) {
    if (req.name && req.name !== serviceName) throw new RequestError(404, `no service "${req.name}" (this server has "${serviceName}")`, 3002);
    const tensors = req.tensors ?? [];
    if (tensors.length === 0) {
      const r = await protocols.pipeline({ key: req.key ?? [], value: req.value ?? [] });
      return { err_no: 0, err_msg: '', key: r.key, value: r.value, tensors: [] };
    }
    const feeds = new Map();
    tensors.forEach((t, i) => {
      const [f, v] = feedOf(protocols, model, t, i, PIPELINE_FIELD, 'byte_data');
      feeds.set(f, v);
    });
    const outs = await protocols.infer(feeds, defaultFetch);
    return { err_no: 0, err_msg: '', key: [], value: [], tensors: outs.map((o) => tensorOf(o, 'pipeline')) };
  }

  return { general, decodeGeneral, encodeGeneral, generalError, pipelineError, pipelineRequest };
}
