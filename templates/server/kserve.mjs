/**
 * KServe v2 / Open Inference Protocol beyond JSON bodies (FORMATS.md §9):
 * - the binary tensor data extension over REST (tritonclient.http's default): a JSON header of
 *   `Inference-Header-Content-Length` bytes, then each input's raw little-endian elements
 *   (`parameters.binary_data_size`); outputs asked for with `binary_data` / `binary_data_output`
 *   come back the same way;
 * - ModelInfer over gRPC (raw_input_contents / raw_output_contents, or typed contents);
 * - Triton's model configuration (GET /v2/models/{m}/config) and statistics (/stats).
 */
import { RequestError, resolveShape } from './tensors.mjs';
import { settleBody } from './numbers.mjs';
import { bytesOf, fromBytes, toFeedArray } from './serving-proto.mjs';

/** the extensions this server implements, for server metadata */
export const EXTENSIONS = ['binary_tensor_data', 'model_configuration', 'statistics'];
const MAX_HEADER = 64 * 1024 * 1024;

/** Per-model inference statistics in Triton's shape. */
export class InferStats {
  constructor() { this.success = { count: 0, ns: 0 }; this.fail = { count: 0, ns: 0 }; this.last = 0; }
  inferred(ok, t0) {
    const s = ok ? this.success : this.fail;
    s.count += 1;
    s.ns += Number(process.hrtime.bigint() - t0);
    this.last = Date.now();
  }
}

/**
 * A binary-extension body split into its JSON header and the bytes after it. headerLength is the
 * Inference-Header-Content-Length value as sent (a string).
 */
export function splitBinaryBody(body, headerLength) {
  const s = String(headerLength).trim();
  if (!/^\d{1,12}$/.test(s)) throw new RequestError(400, `Inference-Header-Content-Length "${s.slice(0, 40)}" is not a byte count`);
  const n = Number(s);
  if (n > body.length) throw new RequestError(400, `Inference-Header-Content-Length is ${n}, the body has ${body.length} bytes`);
  if (n > MAX_HEADER) throw new RequestError(413, `Inference-Header-Content-Length ${n} is over ${MAX_HEADER}`);
  let header;
  try { header = JSON.parse(body.toString('utf8', 0, n)); } catch (e) { throw new RequestError(400, `the inference header (the first ${n} bytes) is not JSON: ${e.message}`); }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new RequestError(400, 'the inference header must be a JSON object');
  return { header, binary: body.subarray(n) };
}

const GRPC_CONTENTS = {
  FP32: 'fp32_contents', FP64: 'fp64_contents', INT64: 'int64_contents', INT32: 'int_contents', INT16: 'int_contents', INT8: 'int_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents', BOOL: 'bool_contents',
};

export function createKserve({ protocols, model, serviceName, stats, metrics, maxBatch, batchable, workers, ep }) {
  const { kserveType, findFeed } = protocols;
  const names = () => model.feeds.map((x) => x.alias).join(', ');

  function input(inp, i, what0) {
    const f = inp && typeof inp === 'object' ? findFeed(String(inp.name)) : undefined;
    const what = `${what0}[${i}] "${inp?.name}"`;
    if (!f) throw new RequestError(400, `${what}: unknown input (the model takes ${names()})`);
    if (!Array.isArray(inp.shape) || inp.shape.some((d) => !Number.isSafeInteger(Number(d)))) throw new RequestError(400, `${what}: "shape" must be a list of integers`);
    const want = kserveType(f.dtype);
    if (inp.datatype !== undefined && inp.datatype !== '' && inp.datatype !== want) throw new RequestError(400, `${what}: datatype ${inp.datatype}, the model wants ${want}`);
    return { f, what, want, shape: inp.shape.map(Number) };
  }

  /** which outputs a REST request wants, each with whether it goes as binary */
  function wanted(body) {
    const all = body.parameters?.binary_data_output === true;
    if (Array.isArray(body.outputs) && body.outputs.length) {
      return body.outputs.map((o) => ({ name: String(o?.name), binary: o?.parameters?.binary_data === true || (o?.parameters?.binary_data === undefined && all) }));
    }
    return null;
  }

  /**
   * KServe REST infer with the binary extension: body is the JSON header, binary the bytes after
   * it (empty for a plain JSON request). Returns { json } or { json, chunks } (binary outputs).
   */
  async function restInfer(body, binary) {
    const want = wanted(body);
    const anyBinaryOut = body.parameters?.binary_data_output === true || (want?.some((w) => w.binary) ?? false);
    const anyBinaryIn = Array.isArray(body.inputs) && body.inputs.some((x) => x?.parameters?.binary_data_size !== undefined);
    if (!anyBinaryIn && binary.length > 0) throw new RequestError(400, `${binary.length} bytes follow the inference header but no input has parameters.binary_data_size`);
    if (!anyBinaryIn && !anyBinaryOut) return { json: await protocols.kserveInfer(body) };
    settleBody(body, 'inputs', false, (key) => key === 'data');
    if (!Array.isArray(body.inputs) || body.inputs.length === 0) throw new RequestError(400, '"inputs" must be a non-empty list');
    const feeds = new Map();
    let at = 0;
    body.inputs.forEach((inp, i) => {
      const { f, what, shape } = input(inp, i, 'inputs');
      const size = inp.parameters?.binary_data_size;
      if (size !== undefined) {
        if (!Number.isSafeInteger(size) || size < 0) throw new RequestError(400, `${what}: parameters.binary_data_size must be a byte count`);
        if (inp.data !== undefined) throw new RequestError(400, `${what}: both "data" and parameters.binary_data_size`);
        if (size > binary.length - at) throw new RequestError(400, `${what}: binary_data_size ${size} runs past the end of the body (${binary.length - at} bytes left)`);
        const data = fromBytes(f.dtype, binary.subarray(at, at + size), what);
        at += size;
        feeds.set(f, { data, shape: resolveShape(f, data.length, shape, what) });
      } else {
        if (inp.data === undefined) throw new RequestError(400, `${what}: no "data" and no parameters.binary_data_size`);
        feeds.set(f, protocols.feedTensor(f, inp.data, shape, what));
      }
    });
    if (at !== binary.length) throw new RequestError(400, `${binary.length - at} bytes after the last binary input are not claimed by any binary_data_size`);
    const keys = want ? want.map((w) => w.name) : model.fetches.map((f) => f.alias);
    const binaryOf = want ? want.map((w) => w.binary) : keys.map(() => anyBinaryOut);
    const outs = await protocols.infer(feeds, keys);
    const chunks = [];
    const json = {
      model_name: serviceName,
      model_version: '1',
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs: outs.map((o, i) => {
        const head = { name: o.key, datatype: kserveType(o.spec.dtype), shape: o.shape };
        if (!binaryOf[i]) return { ...head, data: o.data };
        const b = bytesOf(o.typed);
        chunks.push(b);
        return { ...head, parameters: { binary_data_size: b.length } };
      }),
    };
    return { json, chunks };
  }

  /** the reply body and headers of restInfer's result */
  function restReply(result) {
    const head = Buffer.from(JSON.stringify(result.json));
    if (!result.chunks || result.chunks.length === 0) return { body: head, type: 'application/json', headers: {} };
    return { body: Buffer.concat([head, ...result.chunks]), type: 'application/octet-stream', headers: { 'inference-header-content-length': String(head.length) } };
  }

  /** gRPC ModelInfer: a decoded ModelInferRequest -> a ModelInferResponse object */
  async function grpcInfer(req) {
    checkModel(req.model_name ?? '', req.model_version);
    const inputs = req.inputs ?? [];
    const raw = req.raw_input_contents ?? [];
    if (inputs.length === 0) throw new RequestError(400, 'ModelInferRequest.inputs must list the inputs');
    if (raw.length > 0 && raw.length !== inputs.length) throw new RequestError(400, `raw_input_contents has ${raw.length} entries for ${inputs.length} inputs`);
    const feeds = new Map();
    inputs.forEach((inp, i) => {
      const { f, what, want, shape } = input(inp, i, 'inputs');
      let data;
      if (raw.length > 0) {
        if (inp.contents && Object.keys(inp.contents).length) throw new RequestError(400, `${what}: both contents and raw_input_contents`);
        data = fromBytes(f.dtype, raw[i], what);
      } else {
        const field = GRPC_CONTENTS[want];
        const values = field ? inp.contents?.[field] : undefined;
        if (values === undefined) throw new RequestError(400, `${what}: no contents.${field ?? '<none for ' + want + '>'} and no raw_input_contents`);
        data = toFeedArray(f.dtype, values, what);
      }
      if (feeds.has(f)) throw new RequestError(400, `${what}: given twice`);
      feeds.set(f, { data, shape: resolveShape(f, data.length, shape, what) });
    });
    const keys = (req.outputs ?? []).length ? req.outputs.map((o) => String(o.name ?? '')) : model.fetches.map((f) => f.alias);
    const outs = await protocols.infer(feeds, keys);
    return {
      model_name: serviceName,
      model_version: '1',
      id: req.id ?? '',
      outputs: outs.map((o) => ({ name: o.key, datatype: kserveType(o.spec.dtype), shape: o.shape })),
      raw_output_contents: outs.map((o) => bytesOf(o.typed)),
    };
  }

  /** the one model, at its only version 1 ('' or none: "the server's choice"); else a 404 */
  function checkModel(name, v) {
    if (name !== serviceName) throw new RequestError(404, `unknown model "${name}" (this server has "${serviceName}")`, 3002);
    if (v !== undefined && v !== '' && v !== '1') throw new RequestError(404, `model "${serviceName}" has no version "${v}" (it has version 1)`, 3002);
  }

  const tritonType = (dtype) => { const k = kserveType(dtype); return k === 'BYTES' ? 'TYPE_STRING' : `TYPE_${k}`; };
  const maxBatchSize = batchable ? maxBatch : 0;

  /** Triton's JSON model configuration (GET /v2/models/{m}/config) */
  function modelConfig() {
    const dims = (shape) => (maxBatchSize > 0 ? shape.slice(1) : shape);
    return {
      name: serviceName,
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      version_policy: { latest: { num_versions: 1 } },
      max_batch_size: maxBatchSize,
      input: model.feeds.map((f) => ({ name: f.alias, data_type: tritonType(f.dtype), format: 'FORMAT_NONE', dims: dims(f.shape), is_shape_tensor: false, allow_ragged_batch: false, optional: false })),
      output: model.fetches.map((f) => ({ name: f.alias, data_type: tritonType(f.dtype), dims: dims(f.shape), label_filename: '', is_shape_tensor: false })),
      batch_input: [],
      batch_output: [],
      optimization: { priority: 'PRIORITY_DEFAULT', input_pinned_memory: { enable: true }, output_pinned_memory: { enable: true } },
      ...(maxBatchSize > 0 ? { dynamic_batching: { preferred_batch_size: [], max_queue_delay_microseconds: 0, preserve_ordering: false } } : {}),
      instance_group: [{ name: `${serviceName}_0`, kind: ep === 'cpu' ? 'KIND_CPU' : 'KIND_GPU', count: workers, gpus: [], secondary_devices: [], profile: [], passive: false, host_policy: '' }],
      default_model_filename: 'model.onnx',
      cc_model_filenames: {},
      metric_tags: {},
      parameters: {},
      model_warmup: [],
    };
  }

  /** Triton's statistics (GET /v2/models/{m}/stats and /v2/models/stats) */
  function modelStats() {
    const zero = { count: 0, ns: 0 };
    const done = stats.success;
    return {
      model_stats: [{
        name: serviceName,
        version: '1',
        last_inference: stats.last,
        inference_count: metrics.runRows,
        execution_count: metrics.runs,
        inference_stats: {
          success: { ...done },
          fail: { ...stats.fail },
          queue: zero,
          compute_input: zero,
          compute_infer: { ...done },
          compute_output: zero,
          cache_hit: zero,
          cache_miss: zero,
        },
        batch_stats: [],
        memory_usage: [],
      }],
    };
  }

  return { restInfer, restReply, grpcInfer, checkModel, modelConfig, modelStats };
}
