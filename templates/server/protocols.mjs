/**
 * The three request forms the server answers, from a parsed body to a response object: Paddle
 * Serving's web service and pipeline forms and KServe v2 (Triton). Each turns its body into
 * tensors (tensors.mjs), runs them on the inference pool and shapes the outputs as its clients
 * expect; a bad request is a RequestError with the reason.
 */
import { NO_KEY, NumArray, nest, parseJsonBody, settle, settleBody } from './numbers.mjs';
import { DTYPES, RequestError, flatten, resolveShape, tensorToJson, toTyped } from './tensors.mjs';
import { WorkerStopped } from './inference.mjs';
import { parseValueText } from './serving-proto.mjs';

/**
 * One output of a run: typed is the runtime's array; data (plain numbers, for JSON) is made only
 * when asked for. A class rather than an object literal with a getter, which V8 builds through
 * a runtime call on every request (~1 us each, and an accessor pair for the collector)
 */
class Output {
  constructor(key, spec, t) { this.key = key; this.spec = spec; this.t = t; this.typed = t.data; this.shape = Array.from(t.dims); }
  get data() { return tensorToJson(this.t).data; }
}

/** model: bindModel's feeds and fetches; pool: the InferencePool; defaultFetch: aliases answered when a request names none */
export function createProtocols({ model, pool, defaultFetch, batchable, serviceName, stats }) {
  const findFeed = (key) => model.feeds.find((f) => f.alias === key) ?? model.feeds.find((f) => f.name === key);
  const findFetch = (key) => model.fetches.find((f) => f.alias === key) ?? model.fetches.find((f) => f.name === key);

  async function infer(feeds, fetchKeys) {
    const fetches = fetchKeys.map((k) => {
      const f = findFetch(k);
      if (!f) throw new RequestError(400, `unknown fetch "${k}" (the model has ${model.fetches.map((x) => x.alias).join(', ')})`);
      return f;
    });
    const missing = model.feeds.filter((f) => !feeds.has(f));
    if (missing.length) throw new RequestError(400, `missing feed ${missing.map((f) => `"${f.alias}"`).join(', ')}`);
    const rows = [...feeds.values()][0]?.shape[0];
    const sameRows = feeds.size > 0 && [...feeds.values()].every((t) => t.shape.length > 0 && t.shape[0] === rows);
    const input = [...feeds].map(([f, t]) => ({ onnx: f.onnx, dtype: f.dtype, data: t.data, shape: t.shape }));
    let out;
    const t0 = process.hrtime.bigint();
    try {
      out = await pool.run(input, fetches.map((f) => f.onnx), batchable && sameRows);
    } catch (e) {
      stats?.inferred(false, t0);
      if (e instanceof WorkerStopped) throw new RequestError(503, e.message, 3001);
      throw new RequestError(400, `the model rejected the input: ${String(e?.message ?? e).split('\n')[0]}`, 5000);
    }
    stats?.inferred(true, t0);
    return fetches.map((f, i) => new Output(fetchKeys[i], f, out[f.onnx]));
  }

  function feedTensor(f, value, givenShape, what) {
    const flat = flatten(value, what);
    // the numbers are not read again after this, whether it succeeds or refuses them
    try {
      const shape = resolveShape(f, flat.data.length, givenShape ?? (flat.shape.length > 1 ? flat.shape : null), what);
      return { data: toTyped(f.dtype, flat.data, what), shape };
    } finally {
      flat.from?.done();
    }
  }

  /** Paddle Serving web service: {"feed":[{alias: value}, ...], "fetch":[alias]} */
  async function webService(body) {
    settleBody(body, 'feed', false, (key) => !key.endsWith('.shape') && !key.endsWith('.lod'));
    if (!Array.isArray(body.feed) || body.feed.length === 0) throw new RequestError(400, '"feed" must be a non-empty list of {alias: value} objects');
    const perFeed = new Map();
    body.feed.forEach((sample, s) => {
      if (!sample || typeof sample !== 'object' || Array.isArray(sample)) throw new RequestError(400, `feed[${s}] must be an object of {alias: value}`);
      for (const [key, value] of Object.entries(sample)) {
        if (key.endsWith('.shape') || key.endsWith('.lod')) continue;
        const f = findFeed(key);
        if (!f) throw new RequestError(400, `unknown feed "${key}" (the model takes ${model.feeds.map((x) => x.alias).join(', ')})`);
        const given = sample[`${key}.shape`];
        const t = feedTensor(f, value, Array.isArray(given) ? given : null, `feed[${s}].${key}`);
        if (!perFeed.has(f)) perFeed.set(f, []);
        perFeed.get(f).push(t);
      }
    });
    const feeds = new Map();
    for (const [f, parts] of perFeed) {
      if (parts.length !== body.feed.length) throw new RequestError(400, `feed "${f.alias}" is missing in ${body.feed.length - parts.length} of the ${body.feed.length} samples`);
      feeds.set(f, concatBatch(parts, f));
    }
    const fetchKeys = Array.isArray(body.fetch) && body.fetch.length ? body.fetch.map(String) : defaultFetch;
    const outs = await infer(feeds, fetchKeys);
    const result = {};
    for (const o of outs) result[o.key] = nest(o.data, o.shape);
    return { result };
  }

  function concatBatch(parts, f) {
    if (parts.length === 1) return parts[0];
    const rest = parts[0].shape.slice(1);
    for (const p of parts) {
      if (p.shape.slice(1).join(',') !== rest.join(',')) throw new RequestError(400, `feed "${f.alias}": samples have different shapes [${parts[0].shape}] and [${p.shape}]`);
    }
    if (f.shape[0] >= 0) throw new RequestError(400, `feed "${f.alias}": the model has a fixed batch of ${f.shape[0]}, ${parts.length} samples sent`);
    const data = new parts[0].data.constructor(parts.reduce((n, p) => n + p.data.length, 0));
    let at = 0;
    for (const p of parts) { data.set(p.data, at); at += p.data.length; }
    return { data, shape: [parts.reduce((n, p) => n + p.shape[0], 0), ...rest] };
  }

  /** Paddle Serving pipeline: {"key":[alias], "value":["<JSON array>"]} */
  async function pipeline(body) {
    settleBody(body, 'value', true, NO_KEY);
    if (!Array.isArray(body.key) || !Array.isArray(body.value)) throw new RequestError(400, '"key" and "value" must be lists');
    if (body.key.length !== body.value.length) throw new RequestError(400, `"key" has ${body.key.length} entries, "value" has ${body.value.length}`);
    const feeds = new Map();
    body.key.forEach((key, i) => {
      const f = findFeed(String(key));
      if (!f) throw new RequestError(400, `unknown key "${key}" (the model takes ${model.feeds.map((x) => x.alias).join(', ')})`);
      let value = body.value[i];
      if (typeof value === 'string' && !/^\s*\[/.test(value)) {
        // upstream's examples: "0.0137, -0.1136, ..." with ';' between batch rows
        value = parseValueText(value, `value for key "${key}"`);
      } else if (typeof value === 'string') {
        try { value = parseJsonBody(Buffer.from(value)); } catch { throw new RequestError(400, `value for key "${key}" is not a JSON array`); }
        if (!(value instanceof NumArray)) value = settle(value);
      }
      feeds.set(f, feedTensor(f, value, null, `key "${key}"`));
    });
    const outs = await infer(feeds, defaultFetch);
    return { err_no: 0, err_msg: '', key: outs.map((o) => o.key), value: outs.map((o) => JSON.stringify(nest(o.data, o.shape))), tensors: [] };
  }

  const kserveType = (dtype) => DTYPES[dtype]?.kserve ?? dtype.toUpperCase();
  const modelMetadata = () => ({
    name: serviceName,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: model.feeds.map((f) => ({ name: f.alias, datatype: kserveType(f.dtype), shape: f.shape })),
    outputs: model.fetches.map((f) => ({ name: f.alias, datatype: kserveType(f.dtype), shape: f.shape })),
  });

  /** KServe v2 / Triton: {"inputs":[{name, shape, datatype, data}], "outputs":[{name}]} */
  async function kserveInfer(body) {
    settleBody(body, 'inputs', false, (key) => key === 'data');
    if (!Array.isArray(body.inputs) || body.inputs.length === 0) throw new RequestError(400, '"inputs" must be a non-empty list');
    const feeds = new Map();
    body.inputs.forEach((inp, i) => {
      const f = inp && typeof inp === 'object' ? findFeed(String(inp.name)) : undefined;
      if (!f) throw new RequestError(400, `inputs[${i}]: unknown input "${inp?.name}" (the model takes ${model.feeds.map((x) => x.alias).join(', ')})`);
      if (!Array.isArray(inp.shape)) throw new RequestError(400, `input "${inp.name}": "shape" must be a list`);
      if (inp.datatype !== undefined && inp.datatype !== kserveType(f.dtype)) throw new RequestError(400, `input "${inp.name}": datatype ${inp.datatype}, the model wants ${kserveType(f.dtype)}`);
      if (inp.data === undefined) throw new RequestError(400, `input "${inp.name}": no "data"`);
      feeds.set(f, feedTensor(f, inp.data, inp.shape, `input "${inp.name}"`));
    });
    const keys = Array.isArray(body.outputs) && body.outputs.length ? body.outputs.map((o) => String(o?.name)) : defaultFetch;
    const outs = await infer(feeds, keys);
    return {
      model_name: serviceName,
      model_version: '1',
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs: outs.map((o) => ({ name: o.key, datatype: kserveType(o.spec.dtype), shape: o.shape, data: o.data })),
    };
  }

  return { webService, pipeline, kserveInfer, modelMetadata, infer, feedTensor, findFeed, findFetch, kserveType };
}
