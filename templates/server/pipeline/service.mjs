/**
 * The server side of a pipeline bundle: one inference pool per model of `pipeline.models`, the
 * prepared pipeline, and the HTTP routes:
 *
 *   POST /{service}/{method}       Paddle Serving's pipeline gateway form (any method, as upstream):
 *                                  {"key":[...],"value":[...]} -> {"err_no":0,"err_msg":"","key":[...],
 *                                  "value":[Python str() of each answer],"tensors":[]}
 *   POST /pserve/pipeline/{service} the same request, plain JSON answer {"ok":true,"result":{key: value}}
 *
 * server.mjs uses a PipelineRuntime where it would use one model's InferencePool (start, ready,
 * close) and asks it first for a route.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseServingConf } from '../config.mjs';
import { InferencePool, WorkerStopped, bindModel } from '../inference.mjs';
import { RemotePool } from '../remote-pool.mjs';
import { DTYPES, RequestError } from '../tensors.mjs';
import { PipelineConfigError } from './params.mjs';
import { checkPipeline, preparePipeline, runPipeline } from './pipeline.mjs';
import { pyStr, toPlainJson } from './pyrepr.mjs';
import { StepWorkers } from './step-worker.mjs';

/** a step's tensor in the dtype the model wants */
function castTo(dtype, t, what) {
  const T = DTYPES[dtype];
  if (!T) throw new RequestError(500, `${what}: the model wants ${dtype}, which pipelines cannot feed`, 10000);
  if (t.data instanceof T.Array) return t.data;
  if (T.kind === 'bigint') return T.Array.from(t.data, (x) => BigInt(Math.trunc(Number(x))));
  return T.Array.from(t.data, Number);
}

export class PipelineRuntime {
  /** opts: { cfg, base, serviceName, device, explicit, threads, workers, maxBatch, log, onRun, onRestart }; config.yml pserve.step_workers (default 2) */
  constructor(opts) {
    const sw = opts.cfg.pserve?.step_workers ?? 2;
    if (!Number.isInteger(sw) || sw < 0 || sw > 64) throw new PipelineConfigError(`pserve.step_workers must be an integer in 0..64, found ${JSON.stringify(sw)}`);
    this.opts = { ...opts, stepWorkers: sw };
    this.stepWorkers = null;
    this.checked = checkPipeline(opts.cfg.pipeline);
    this.pools = new Map();
    this.prepared = null;
  }

  /** start every model's workers, bind the models, prepare the steps; resolves as InferencePool.start does */
  async start() {
    const o = this.opts;
    const bindings = {};
    let first = null;
    for (const [name, m] of Object.entries(this.checked.models)) {
      const modelPath = resolve(o.base, m.onnx);
      if (!o.modelBackend && !existsSync(modelPath)) throw new PipelineConfigError(`pipeline.models.${name}: model not found: ${modelPath}`);
      // --model-backend: the model steps go to a KServe v2 server (Triton, ...); the rest stays here
      const pool = o.modelBackend ? new RemotePool({ url: o.modelBackend, model: m.backend_model ?? name, log: o.log }) : new InferencePool({
        count: o.workers,
        session: { modelPath, device: first ? first.deviceOfEp : o.device, explicit: first ? true : o.explicit, threads: o.threads },
        maxRows: m.max_batch ?? o.maxBatch,
        // the input tensors come back for the next requests' preprocessing to write into
        reuseInputs: true,
        onRun: o.onRun,
        onRestart: o.onRestart,
        log: o.log,
      });
      this.pools.set(name, pool);
      const started = await pool.start();
      if (!first) first = { ...started, deviceOfEp: { cuda: 'gpu', webgpu: 'webgpu', cpu: 'cpu' }[started.ep] };
      let conf = { feeds: [], fetches: [] };
      if (m.serving_server) {
        const confFile = join(resolve(o.base, m.serving_server), 'serving_server_conf.prototxt');
        if (existsSync(confFile)) conf = parseServingConf(readFileSync(confFile, 'utf8'));
      }
      const model = bindModel(started.io, conf);
      const batchable = m.batch && [...model.feeds, ...model.fetches].every((f) => f.shape[0] === -1);
      bindings[name] = { bind: (p, where) => this.bindStep(name, model, pool, batchable, p, where) };
    }
    // image steps off the HTTP thread (0: on it)
    if (o.stepWorkers > 0) this.stepWorkers = new StepWorkers(o.stepWorkers);
    this.prepared = await preparePipeline(this.checked, { base: o.base, models: bindings, stepWorkers: this.stepWorkers });
    return first ?? { ep: 'cpu', io: { inputNames: [], outputNames: [] }, notes: [] };
  }

  /** a model step's run function, its feeds and fetches checked against the model now */
  bindStep(name, model, pool, batchable, p, where) {
    const find = (list, k) => list.find((f) => f.alias === k) ?? list.find((f) => f.name === k) ?? list.find((f) => f.onnx === k);
    const feeds = Object.keys(p.feeds).map((k) => {
      const f = find(model.feeds, k);
      if (!f) throw new PipelineConfigError(`${where}: model "${name}" has no input "${k}" (it has ${model.feeds.map((x) => x.alias).join(', ')})`);
      return [k, f];
    });
    const missing = model.feeds.filter((f) => !feeds.some(([, g]) => g === f));
    if (missing.length) throw new PipelineConfigError(`${where}: model "${name}" also needs ${missing.map((f) => `"${f.alias}"`).join(', ')} in feeds`);
    const fetches = (p.fetch.length ? p.fetch : model.fetches.map((f) => f.alias)).map((k) => {
      const f = find(model.fetches, k);
      if (!f) throw new PipelineConfigError(`${where}: model "${name}" has no output "${k}" (it has ${model.fetches.map((x) => x.alias).join(', ')})`);
      return [k, f];
    });
    return {
      /** values: { feed: tensor }; sole: the feeds ("feeds.<key>") no other step reads, moved uncopied */
      run: async (values, sole) => {
        const input = feeds.map(([k, f]) => {
          const t = values[k];
          if (!t || !ArrayBuffer.isView(t.data)) throw new RequestError(500, `model "${name}": feed "${k}" is not a tensor`, 10000);
          if (t.dims.length !== f.shape.length || t.dims.some((d, i) => f.shape[i] >= 0 && f.shape[i] !== d)) {
            throw new RequestError(400, `model "${name}": feed "${k}" has shape [${t.dims.join(', ')}], the model wants [${f.shape.join(', ')}]`);
          }
          const data = castTo(f.dtype, t, `model "${name}" feed "${k}"`);
          // the pool moves the buffer to its worker: a step's output that other steps read stays
          // readable (copied first); one only this model reads goes as it is
          return { onnx: f.onnx, dtype: f.dtype, data: data === t.data && !sole?.has(`feeds.${k}`) ? data.slice() : data, shape: t.dims.slice() };
        });
        const rows = input[0]?.shape[0];
        let out;
        try {
          out = await pool.run(input, fetches.map(([, f]) => f.onnx), batchable && input.every((x) => x.shape[0] === rows));
        } catch (e) {
          if (e instanceof WorkerStopped) throw new RequestError(503, e.message, 3001);
          throw new RequestError(400, `model "${name}" rejected the input: ${String(e?.message ?? e).split('\n')[0]}`, 5000);
        }
        return Object.fromEntries(fetches.map(([k, f]) => [k, { data: out[f.onnx].data, dims: Array.from(out[f.onnx].dims) }]));
      },
    };
  }

  get ready() {
    if (this.pools.size === 0) return 1;
    return Math.min(...[...this.pools.values()].map((p) => p.ready));
  }

  async close() {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    await this.stepWorkers?.close();
  }

  /** the request form both routes take: {"key":[...],"value":[...]} with one value per key */
  static request(body) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new RequestError(400, 'body must be a JSON object {"key":[...],"value":[...]}');
    if (!Array.isArray(body.key) || !Array.isArray(body.value)) throw new RequestError(400, '"key" and "value" must be lists');
    if (body.key.length !== body.value.length) throw new RequestError(400, `"key" has ${body.key.length} entries, "value" has ${body.value.length}`);
    return { key: body.key.map(String), value: body.value };
  }

  /**
   * A route for the pipeline, or null. readBody(req) resolves the body bytes (the server's limits
   * apply, a gzip/deflate Content-Encoding undone); send(res, status, obj) answers.
   */
  route(req, res, path, method, { readBody, send }) {
    const service = this.opts.serviceName;
    let m;
    const parse = async () => {
      const raw = await readBody(req);
      try { return JSON.parse(raw.toString('utf8')); } catch (e) {
        throw new RequestError(400, `body is not JSON: ${e.message}`);
      }
    };
    if ((m = /^\/pserve\/pipeline\/([^/]+)$/.exec(path))) {
      return ['pipeline-json', async () => {
        if (method !== 'POST') throw new RequestError(405, 'use POST');
        if (decodeURIComponent(m[1]) !== service) throw new RequestError(404, `no pipeline "${decodeURIComponent(m[1])}" (this server has "${service}")`, 3002);
        const answer = await runPipeline(this.prepared, PipelineRuntime.request(await parse()));
        send(res, 200, { ok: true, result: toPlainJson(answer) });
      }];
    }
    if ((m = /^\/([^/]+)\/([^/]+)$/.exec(path)) && m[1] !== 'v2' && m[1] !== 'pserve') {
      return ['pipeline', async () => {
        res.protocol = 'pipeline';
        if (method !== 'POST') throw new RequestError(405, 'use POST');
        if (decodeURIComponent(m[1]) !== service) throw new RequestError(404, 'Failed to inference: Service name error.', 3002);
        const answer = await runPipeline(this.prepared, PipelineRuntime.request(await parse()));
        const keys = Object.keys(answer);
        send(res, 200, { err_no: 0, err_msg: '', key: keys, value: keys.map((k) => pyStr(answer[k])), tensors: [] });
      }];
    }
    return null;
  }
}
