#!/usr/bin/env node
/**
 * The pserve bundle server: one ONNX model behind Paddle Serving's two HTTP forms, KServe v2 and
 * Prometheus metrics. Plain Node, nothing but the onnxruntime-node copy beside this file.
 *
 *   node server.mjs [--port P] [--host H] [--device cpu|gpu|webgpu|auto] [--config config.yml]
 *                   [--max-body-bytes N] [--header-timeout-ms N] [--body-timeout-ms N] [--drain-timeout-ms N]
 *                   [--max-batch N] [--workers N] [--threads N] [--rpc-port N]
 *
 * What it serves, and why it is shaped so, is in README.md next to this file.
 */
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseServingConf, parseYaml } from './server/config.mjs';
import { InferencePool, bindModel } from './server/inference.mjs';
import { Metrics } from './server/metrics.mjs';
import { NumArray, endLease, parseJsonBody, takeLease } from './server/numbers.mjs';
import { createProtocols } from './server/protocols.mjs';
import { RequestError } from './server/tensors.mjs';
import { COMPRESS_MIN, compressReply, inflateCapped, pickEncoding } from './server/encoding.mjs';
import { EXTENSIONS, InferStats, createKserve, splitBinaryBody } from './server/kserve.mjs';
import { PROTO_TYPE, createServingProto, ownBuffer } from './server/serving-proto.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const VERSION = '__PSERVE_VERSION__';

/** a request target that WHATWG URL parsing would leave as it is */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_-]+)*\/?$/;

/** bodies up to this declared size are read into one buffer allocated at the headers */
const PREALLOC_BODY_MAX = 4 * 1024 * 1024;

/** one line for a failed listen: the code and what it usually means */
function listenReason(e) {
  const why = {
    EADDRINUSE: 'the port is in use by another process (pick one with --port)',
    EADDRNOTAVAIL: 'the address is not available on this machine (is the interface up? pick one with --host)',
    EACCES: 'permission denied (ports below 1024 need privileges)',
  }[e?.code];
  return `${e?.code ?? 'error'}: ${why ?? String(e?.message ?? e).split('\n')[0]}`;
}

/** a start-up failure with a stable code, printed as `pserve-server: E_CODE: message` */
function startError(code, message) {
  return Object.assign(new Error(message), { code });
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw startError('E_USAGE', `unexpected argument "${a}"`);
    const key = m[1].replace(/_/g, '-');
    if (key === 'help') { out.help = true; continue; }
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw startError('E_USAGE', `--${key} needs a value`);
    out[key] = v;
  }
  return out;
}

/**
 * Workers and runtime threads per worker where config.yml, the environment and the flags leave
 * them at 0: two workers (one runs while the other takes the next batch; measured on 2 cores:
 * ahead of one worker with 1 or 2 threads), and the cores but one (the main thread's HTTP and
 * JSON) shared among them, at least one thread each. A single core gets one worker.
 */
export function defaultWorkers(workers, threads, cores = availableParallelism()) {
  const w = workers || Math.min(2, cores);
  return { workers: w, threads: threads || Math.max(1, Math.floor((cores - 1) / w)) };
}

function intOpt(v, name, min, max) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw startError('E_CONFIG_INVALID', `${name} must be an integer in ${min}..${max}, found ${JSON.stringify(v)}`);
  return n;
}

export async function startServer(argv = process.argv.slice(2), env = {}) {
  const args = parseArgs(argv);
  if (args.help) {
    process.stdout.write('node server.mjs [--port P] [--host H] [--device cpu|gpu|webgpu|auto] [--config config.yml] [--max-body-bytes N] [--header-timeout-ms N] [--body-timeout-ms N] [--drain-timeout-ms N] [--max-batch N] [--workers N] [--threads N] [--rpc-port N] [--model-backend URL] [--backend-model NAME]\n');
    return null;
  }
  const log = env.log ?? ((line) => process.stderr.write(`pserve-server: ${line}\n`));
  const processEnv = env.processEnv ?? process.env;
  const configPath = resolve(HERE, args.config ?? 'config.yml');
  const cfg = parseYaml(readFileSync(configPath, 'utf8'));
  const ops = cfg.op && typeof cfg.op === 'object' ? Object.entries(cfg.op) : [];
  if (ops.length === 0) throw startError('E_CONFIG_INVALID', `${configPath}: no op section (expected op.<service name>.local_service_conf)`);
  const [serviceName, op] = ops[0];
  const lsc = op?.local_service_conf ?? {};
  const ps = cfg.pserve ?? {};
  const base = dirname(configPath);
  const confDir = resolve(base, String(lsc.model_config ?? 'serving_server'));
  const confFile = join(confDir, 'serving_server_conf.prototxt');
  const conf = existsSync(confFile) ? parseServingConf(readFileSync(confFile, 'utf8')) : { feeds: [], fetches: [] };
  const modelPath = resolve(base, String(ps.model ?? 'model.onnx'));
  // a pipeline bundle (config.yml's pipeline: section) names its models there
  if (!cfg.pipeline && !(args['model-backend'] ?? ps.model_backend) && !existsSync(modelPath)) throw startError('E_MODEL_MISSING', `model not found: ${modelPath}`);

  const deviceFromConf = Number(lsc.device_type ?? 0) === 0 ? 'cpu' : 'gpu';
  const device = String(args.device ?? ps.device ?? deviceFromConf);
  if (!['cpu', 'gpu', 'webgpu', 'auto'].includes(device)) throw startError('E_USAGE', `--device must be cpu, gpu, webgpu or auto, found "${device}"`);
  const port = intOpt(args.port ?? cfg.http_port ?? 9393, '--port', 0, 65535);
  const host = String(args.host ?? ps.host ?? '127.0.0.1');
  // a stateless front: the models run on a KServe v2 server (Triton, KServe, another bundle)
  const modelBackend = args['model-backend'] ?? ps.model_backend ?? null;
  // gRPC (pipeline, GeneralModelService, KServe v2): off unless --rpc-port or config.yml's rpc_port
  const rpcPort = args['rpc-port'] ?? (cfg.rpc_port === null || cfg.rpc_port === undefined || cfg.rpc_port === '' ? null : cfg.rpc_port);
  const rpcWanted = rpcPort !== null && !(args['rpc-port'] === undefined && Number(rpcPort) === 0) ? intOpt(rpcPort, '--rpc-port', 0, 65535) : null;
  // limits: a flag wins, then the environment (PSERVE_MAX_BODY_BYTES, ...), then config.yml's pserve section
  const pick = (flag, key, fallback) => args[flag] ?? processEnv[`PSERVE_${key.toUpperCase()}`] ?? ps[key] ?? fallback;
  const maxBody = intOpt(pick('max-body-bytes', 'max_body_bytes', 16 * 1024 * 1024), 'max_body_bytes', 1, 2 ** 31 - 1);
  const headerTimeout = intOpt(pick('header-timeout-ms', 'header_timeout_ms', 10000), 'header_timeout_ms', 1, 3600000);
  const bodyTimeout = intOpt(pick('body-timeout-ms', 'body_timeout_ms', 30000), 'body_timeout_ms', 1, 3600000);
  const drainTimeout = intOpt(pick('drain-timeout-ms', 'drain_timeout_ms', 10000), 'drain_timeout_ms', 0, 3600000);
  const maxBatch = intOpt(pick('max-batch', 'max_batch', 8), 'max_batch', 1, 4096);
  // 0 = chosen from the machine (defaultWorkers); thread_num is Paddle Serving's key for the
  // runtime's threads, here per worker (0 = onnxruntime's default, one per physical core)
  const workersWanted = intOpt(pick('workers', 'workers', 0), 'workers', 0, 64);
  const threadsWanted = intOpt(args.threads ?? processEnv.PSERVE_THREADS ?? lsc.thread_num ?? 0, 'thread_num', 0, 1024);
  const { workers, threads } = defaultWorkers(workersWanted, threadsWanted);

  const metrics = new Metrics();
  const poolOpts = {
    count: workers,
    session: { modelPath, device, explicit: args.device === 'gpu', threads },
    maxRows: maxBatch,
    onRun: (requests, rows) => metrics.sessionRun(requests, rows),
    onRestart: () => { metrics.workerRestarts += 1; },
    log,
  };
  // a pipeline runs one pool per model and answers its own routes (server/pipeline/service.mjs)
  const pool = cfg.pipeline
    ? new (await import('./server/pipeline/service.mjs')).PipelineRuntime({ cfg, base, serviceName, device, explicit: args.device === 'gpu', threads, workers, maxBatch, log, onRun: poolOpts.onRun, onRestart: poolOpts.onRestart, modelBackend })
    : modelBackend
      ? new (await import('./server/remote-pool.mjs')).RemotePool({ url: modelBackend, model: String(args['backend-model'] ?? ps.backend_model ?? serviceName), log })
      : new InferencePool(poolOpts);
  metrics.pool = pool;
  let started;
  try { started = await pool.start(); } catch (e) { await pool.close(); throw e; }
  const { ep, io, notes } = started;
  for (const n of notes) log(n);
  const model = bindModel(io, conf);
  const defaultFetch = Array.isArray(lsc.fetch_list) && lsc.fetch_list.length ? lsc.fetch_list.map(String) : model.fetches.map((f) => f.alias);
  for (const a of defaultFetch) {
    if (!model.fetches.some((f) => f.alias === a || f.name === a)) throw startError('E_CONFIG_FETCH_LIST', `config.yml fetch_list names "${a}", which is not a fetch alias of the serving conf (${model.fetches.map((f) => f.alias).join(', ')}); was an alias edited by hand? \`pserve alias set fetch NEW\` in the bundle folder renames it in the confs, config.yml and manifest.json together`);
  }
  const batchable = maxBatch > 1 && model.feeds.length > 0 && [...model.feeds, ...model.fetches].every((f) => f.shape[0] === -1);
  let draining = false;

  const isReady = () => !draining && pool.ready > 0;
  const stats = new InferStats();
  const protocols = createProtocols({ model, pool, defaultFetch, batchable, serviceName, stats });
  const { webService, pipeline, modelMetadata } = protocols;
  const servingProto = createServingProto({ protocols, model, serviceName, defaultFetch });
  const kserve = createKserve({ protocols, model, serviceName, stats, metrics, maxBatch, batchable, workers, ep });

  /**
   * alignAt: a byte offset of the body to place 8-byte aligned in a buffer of the body's own (the
   * KServe binary extension's first tensor, after its JSON header), so its tensors can go to an
   * inference worker without a copy
   */
  function readBody(req, alignAt = -1) {
    return new Promise((resolveBody, reject) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBody) { reject(new RequestError(413, `body of ${declared} bytes is over the limit of ${maxBody}`)); return; }
      // a declared length (checked above) gets one buffer that the chunks are copied into; a
      // chunked or very large body is collected and joined, so that a client cannot make the
      // server set aside many large buffers by declaring sizes it never sends
      const prealloc = Number.isInteger(declared) && declared > 0 && declared <= PREALLOC_BODY_MAX;
      let whole = !prealloc ? null
        : alignAt >= 0 && alignAt < declared ? Buffer.from(ownBuffer(Buffer.allocUnsafeSlow(declared + ((8 - (alignAt % 8)) % 8)).buffer), (8 - (alignAt % 8)) % 8, declared)
        : Buffer.allocUnsafe(declared);
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        const at = size;
        size += c.length;
        if (size > maxBody) { reject(new RequestError(413, `body is over the limit of ${maxBody} bytes`)); req.pause(); return; }
        if (whole !== null && size <= whole.length) { c.copy(whole, at); return; }
        if (whole !== null) { chunks.push(whole.subarray(0, at)); whole = null; }
        chunks.push(c);
      });
      req.on('end', () => resolveBody(whole !== null ? whole.subarray(0, size) : Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  function discardBody(req) {
    return new Promise((done) => {
      req.removeAllListeners('data');
      req.once('end', done);
      req.once('close', done);
      req.once('error', done);
      req.resume();
    });
  }

  /** the body with its Content-Encoding (gzip, deflate) undone, inflated no further than the body limit */
  async function decodedBody(req, alignAt = -1) {
    const raw = await readBody(req, req.headers['content-encoding'] ? -1 : alignAt);
    return inflateCapped(raw, req.headers['content-encoding'], maxBody);
  }

  async function jsonBody(req, errNo) {
    const raw = await decodedBody(req);
    try {
      const body = parseJsonBody(raw);
      return body instanceof NumArray ? body.toArray() : body;
    } catch (e) {
      throw new RequestError(400, `body is not JSON: ${e.message}`, errNo);
    } finally {
      req.numbers = takeLease();
    }
  }

  function send(res, status, obj, type = 'application/json', extra = {}) {
    let body = typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj);
    const headers = { 'content-type': type, ...extra };
    // a reply compressed as the client's Accept-Encoding allows (over COMPRESS_MIN bytes)
    if (res.coding && Buffer.byteLength(body) > COMPRESS_MIN) {
      const c = compressReply(Buffer.isBuffer(body) ? body : Buffer.from(body), res.coding);
      body = c.body;
      if (c.coding) headers['content-encoding'] = c.coding;
    }
    headers['content-length'] = Buffer.byteLength(body);
    if (draining || status === 413) headers.connection = 'close';
    if (status === 503) headers['retry-after'] = '1';
    res.writeHead(status, headers);
    res.end(body);
  }

  async function route(req, res) {
    // a plain path (no dot segments, escapes or query) is its own pathname: no URL parse
    const raw = req.url ?? '/';
    const path = (PLAIN_PATH.test(raw) ? raw : new URL(raw, 'http://localhost').pathname).replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    let m;
    // the pipeline's routes read bodies as every route does: limits, then Content-Encoding undone
    const piped = pool.route?.(req, res, path, method, { readBody: decodedBody, send });
    if (piped) return piped;
    if (path === '/metrics' && method === 'GET') return ['metrics', () => send(res, 200, metrics.text(), 'text/plain; version=0.0.4')];
    if (path === '/v2/health/live') return ['health', () => send(res, 200, { live: true })];
    if (path === '/v2/health/ready') return ['health', () => send(res, isReady() ? 200 : 503, { ready: isReady() })];
    if (path === '/v2' && method === 'GET') return ['kserve', () => send(res, 200, { name: 'pserve', version: VERSION, extensions: EXTENSIONS })];
    if (path === '/v2/models/stats' && method === 'GET') return ['kserve', () => send(res, 200, kserve.modelStats())];
    if ((m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer|\/config|\/stats)?$/.exec(path))) {
      const name = decodeURIComponent(m[1]);
      return ['kserve', async () => {
        kserve.checkModel(name, m[2] === undefined ? undefined : decodeURIComponent(m[2]));
        if (m[3] === '/ready') return send(res, isReady() ? 200 : 503, { name, ready: isReady() });
        if (m[3] === '/config') return send(res, 200, kserve.modelConfig());
        if (m[3] === '/stats') return send(res, 200, kserve.modelStats());
        if (m[3] === '/infer') {
          if (method !== 'POST') throw new RequestError(405, 'use POST for infer');
          const headerLength = req.headers['inference-header-content-length'];
          let result;
          if (headerLength !== undefined) {
            // the binary tensor data extension: a JSON header, then raw tensors
            const { header, binary } = splitBinaryBody(await decodedBody(req, /^\d{1,9}$/.test(String(headerLength)) ? Number(headerLength) : -1), headerLength);
            result = await kserve.restInfer(header, binary);
          } else {
            result = await kserve.restInfer(await jsonBody(req), Buffer.alloc(0));
          }
          const r = kserve.restReply(result);
          return send(res, 200, r.body, r.type, r.headers);
        }
        return send(res, 200, modelMetadata());
      }];
    }
    if (path === '/GeneralModelService/inference' || path === '/GeneralModelService/debug') {
      // Paddle Serving's C++ server as HttpClient speaks it: protobuf or JSON by Content-Type
      res.protoReply = /^application\/(x-)?proto(buf)?\b/i.test(String(req.headers['content-type'] ?? ''));
      return ['general', async () => {
        if (method !== 'POST') throw new RequestError(405, 'use POST for GeneralModelService/inference');
        const reply = await servingProto.general(servingProto.decodeGeneral(await decodedBody(req), res.protoReply));
        return send(res, 200, servingProto.encodeGeneral(reply, res.protoReply), res.protoReply ? PROTO_TYPE : 'application/json');
      }];
    }
    if ((m = /^\/([^/]+)\/([^/]+)$/.exec(path)) && !path.startsWith('/v2/')) {
      const name = decodeURIComponent(m[1]);
      // both Paddle Serving forms share /{name}/prediction: the body says which one it is; the
      // pipeline gateway takes any method name
      const anyMethod = m[2] !== 'prediction';
      return [anyMethod ? 'pipeline' : 'prediction', async () => {
        if (anyMethod) res.protocol = 'pipeline';
        if (method !== 'POST') throw new RequestError(405, `use POST for ${m[2]}`);
        const body = await jsonBody(req);
        const isPipeline = anyMethod || (body && typeof body === 'object' && ('key' in body || 'value' in body));
        const proto = isPipeline ? 'pipeline' : 'webservice';
        res.protocol = proto;
        if (name !== serviceName) throw new RequestError(404, `no service "${name}" (this server has "${serviceName}")`, 3002);
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new RequestError(400, 'body must be a JSON object');
        return send(res, 200, isPipeline ? await pipeline(body) : await webService(body));
      }];
    }
    return ['other', () => { throw new RequestError(404, `no route for ${method} ${path}`, 3002); }];
  }

  // Node checks these timeouts every connectionsCheckingInterval (30 s by default): check often
  // enough that a slow client is cut near the configured time
  const checkEvery = Math.max(50, Math.min(1000, Math.floor(Math.min(headerTimeout, bodyTimeout) / 4)));
  const server = http.createServer({ headersTimeout: Math.min(headerTimeout, bodyTimeout), requestTimeout: bodyTimeout, connectionsCheckingInterval: checkEvery }, async (req, res) => {
    const t0 = process.hrtime.bigint();
    metrics.inflight += 1;
    let protocol = 'other';
    res.coding = pickEncoding(req.headers['accept-encoding']);
    try {
      const [p, handler] = await route(req, res);
      protocol = p;
      await handler();
    } catch (e) {
      const err = e instanceof RequestError ? e : new RequestError(500, `internal error: ${String(e?.message ?? e).split('\n')[0]}`, 10000);
      if (res.protocol) protocol = res.protocol;
      // read the rest of an oversized body before answering: closing on a client that is still
      // writing resets the connection before it can read the 413 (the body timeout still applies)
      if (err.status === 413 && !req.complete) await discardBody(req);
      if (!res.headersSent) {
        // the pipeline gateway answers errors as HTTP 200 with err_no (what its clients read);
        // /metrics still counts them by the status they stand for
        if (protocol === 'pipeline') {
          res.metricStatus = err.status;
          send(res, 200, servingProto.pipelineError(err));
        } else if (protocol === 'general') {
          const body = servingProto.encodeGeneral(servingProto.generalError(err), res.protoReply === true);
          send(res, err.status, body, res.protoReply ? PROTO_TYPE : 'application/json');
        } else send(res, err.status, { error: err.message });
      }
    } finally {
      if (req.numbers) endLease(req.numbers);
      if (res.protocol) protocol = res.protocol;
      metrics.inflight -= 1;
      if (protocol !== 'metrics') metrics.observe(protocol, res.metricStatus ?? res.statusCode, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  });

  try {
    await new Promise((ok, fail) => { server.once('error', fail); server.listen(port, host, ok); });
  } catch (e) {
    await pool.close();
    throw startError('E_SERVER_LISTEN', `cannot bind ${host}:${port}: ${listenReason(e)}`);
  }
  let grpcServer = null;
  if (rpcWanted !== null) {
    const { startGrpc } = await import('./server/grpc.mjs');
    try {
      grpcServer = await startGrpc({ port: rpcWanted, host, maxBody, requestTimeoutMs: bodyTimeout, serviceName, version: VERSION, isReady, isDraining: () => draining, protocols, servingProto, kserve, metrics });
    } catch (e) {
      server.close();
      await pool.close();
      throw startError('E_SERVER_LISTEN', `cannot bind gRPC ${host}:${rpcWanted}: ${listenReason(e).replace('(pick one with --port)', '(pick one with --rpc-port)')}`);
    }
  }
  const addr = server.address();
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const listeningLine = `listening on http://${shownHost}:${addr.port} (service "${serviceName}", device ${ep}, ${workers} inference worker${workers === 1 ? '' : 's'} x ${threads || 'default'} threads, max batch ${maxBatch}, ${cfg.pipeline ? `pipeline of models ${Object.keys(cfg.pipeline.models ?? {}).join(', ')}` : `model ${modelPath}`})${grpcServer ? `; gRPC on ${shownHost}:${grpcServer.port}` : ''}`;

  function shutdown(signal) {
    if (draining) return;
    draining = true;
    log(`${signal}: draining ${metrics.inflight} in-flight request(s), then exiting`);
    const force = setTimeout(() => { server.closeAllConnections(); }, drainTimeout);
    force.unref();
    const grpcClosed = grpcServer ? grpcServer.close(drainTimeout) : Promise.resolve();
    server.close(() => {
      clearTimeout(force);
      void grpcClosed.then(() => pool.close()).then(() => { if (env.onClosed) env.onClosed(); else process.exit(0); });
    });
    server.closeIdleConnections();
  }

  return { server, port: addr.port, rpcPort: grpcServer?.port ?? null, host: addr.address, serviceName, device: ep, workers, threads, pool, model, listeningLine, shutdown };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  try {
    const s = await startServer();
    if (s) {
      // handlers first: a supervisor may signal as soon as it reads the listening line
      process.on('SIGTERM', () => s.shutdown('SIGTERM'));
      process.on('SIGINT', () => s.shutdown('SIGINT'));
      process.stdout.write(`pserve-server: ${s.listeningLine}\n`);
    }
  } catch (e) {
    const code = typeof e?.code === 'string' && /^E_[A-Z0-9_]+$/.test(e.code) ? e.code : 'E_SERVER_START';
    process.stderr.write(`pserve-server: ${code}: ${String(e?.message ?? e).split('\n')[0]}\n`);
    process.exit(1);
  }
}
