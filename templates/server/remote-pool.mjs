/**
 * A model that runs elsewhere: a KServe v2 server (Triton, KServe, another pserve bundle) reached
 * over HTTP with the binary tensor extension. It stands where an InferencePool stands (start,
 * ready, run, close), so a pipeline front (`server.mjs --model-backend URL`) keeps its decoding,
 * preprocessing and index search and sends only its model steps to the GPU pods.
 *
 *   GET  {url}/v2/models/{model}        metadata: input/output names, datatypes, shapes
 *   POST {url}/v2/models/{model}/infer  JSON header (Inference-Header-Content-Length) + raw tensors
 */
import { DTYPES, RequestError } from './tensors.mjs';

const FROM_KSERVE = Object.fromEntries(Object.entries(DTYPES).map(([d, t]) => [t.kserve, d]));

export class RemoteModelError extends Error {
  constructor(message, code = 'E_MODEL_BACKEND') { super(message); this.code = code; }
}

export class RemotePool {
  /** opts: { url, model, timeoutMs, log } */
  constructor({ url, model, timeoutMs = 30000, log = () => {} }) {
    let u;
    try { u = new URL(url); } catch { throw new RemoteModelError(`--model-backend "${url}" is not a URL`, 'E_USAGE'); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RemoteModelError(`--model-backend must be an http(s) URL, found "${url}"`, 'E_USAGE');
    this.base = url.replace(/\/+$/, '');
    this.model = model;
    this.timeoutMs = timeoutMs;
    this.log = log;
    this.failures = 0;
  }

  get ready() { return this.failures < 3 ? 1 : 0; }

  async start() {
    const where = `${this.base}/v2/models/${encodeURIComponent(this.model)}`;
    let meta;
    try {
      const r = await fetch(where, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      meta = await r.json();
    } catch (e) {
      throw new RemoteModelError(`model backend ${where}: ${String(e?.message ?? e)}`);
    }
    const io = (list, kind) => (Array.isArray(list) ? list : []).map((t) => {
      const type = FROM_KSERVE[t.datatype];
      if (!type) throw new RemoteModelError(`model backend ${where}: ${kind} ${t.name} has datatype ${t.datatype}, which pserve does not carry`);
      return { name: String(t.name), type, shape: (t.shape ?? []).map(Number) };
    });
    const inputs = io(meta.inputs, 'input');
    const outputs = io(meta.outputs, 'output');
    this.log(`model "${this.model}" runs on ${this.base} (KServe v2)`);
    return {
      ep: 'remote',
      notes: [],
      io: {
        inputNames: inputs.map((t) => t.name), outputNames: outputs.map((t) => t.name),
        inputMetadata: inputs.map(({ type, shape }) => ({ type, shape })), outputMetadata: outputs.map(({ type, shape }) => ({ type, shape })),
      },
    };
  }

  /** input: [{ onnx, dtype, data, shape }]; fetches: output names; resolves { name: { data, dims } } */
  async run(input, fetches) {
    const header = {
      inputs: input.map((x) => ({ name: x.onnx, datatype: DTYPES[x.dtype].kserve, shape: x.shape, parameters: { binary_data_size: x.data.byteLength } })),
      outputs: fetches.map((name) => ({ name, parameters: { binary_data: true } })),
    };
    const head = Buffer.from(JSON.stringify(header));
    const body = Buffer.concat([head, ...input.map((x) => Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength))]);
    let r;
    try {
      r = await fetch(`${this.base}/v2/models/${encodeURIComponent(this.model)}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      this.failures += 1;
      throw new RequestError(503, `model backend unreachable: ${String(e?.message ?? e)}`, 3001);
    }
    const bytes = Buffer.from(await r.arrayBuffer());
    if (!r.ok) {
      let why = bytes.toString('utf8', 0, Math.min(bytes.length, 400));
      try { why = JSON.parse(why).error ?? why; } catch { /* text */ }
      if (r.status >= 500) this.failures += 1;
      throw new Error(`model backend answered ${r.status}: ${why}`);
    }
    this.failures = 0;
    const hlen = Number(r.headers.get('inference-header-content-length') ?? bytes.length);
    if (!Number.isInteger(hlen) || hlen > bytes.length) throw new Error('model backend: bad Inference-Header-Content-Length');
    const reply = JSON.parse(bytes.subarray(0, hlen).toString('utf8'));
    const out = {};
    let at = hlen;
    for (const o of reply.outputs ?? []) {
      const dtype = FROM_KSERVE[o.datatype];
      if (!dtype) throw new Error(`model backend: output ${o.name} has datatype ${o.datatype}`);
      const T = DTYPES[dtype].Array;
      const dims = (o.shape ?? []).map(Number);
      const size = o.parameters?.binary_data_size;
      let data;
      if (size !== undefined) {
        if (at + size > bytes.length || size % T.BYTES_PER_ELEMENT) throw new Error(`model backend: output ${o.name} claims ${size} bytes`);
        // the raw little-endian elements: a view of the reply's own buffer where they are aligned
        // in it (nothing else writes there; a view that goes on to an inference worker is copied
        // by movable), else an aligned copy
        const off = bytes.byteOffset + at;
        data = off % T.BYTES_PER_ELEMENT === 0 ? new T(bytes.buffer, off, size / T.BYTES_PER_ELEMENT) : new T(bytes.buffer.slice(off, off + size));
        at += size;
      } else {
        data = DTYPES[dtype].kind === 'bigint' ? T.from(o.data ?? [], (v) => BigInt(v)) : T.from(o.data ?? []);
      }
      out[o.name] = { data, dims };
    }
    for (const f of fetches) if (!out[f]) throw new Error(`model backend did not return output ${f}`);
    return out;
  }

  async close() { /* nothing held open: fetch's connections close themselves */ }
}
