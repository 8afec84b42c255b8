/**
 * The bundle's gRPC port (config.yml rpc_port, --rpc-port; off unless set), served with
 * @grpc/grpc-js (pure JavaScript, copied into the bundle's node_modules):
 * - Paddle Serving's pipeline service: /baidu.paddle_serving.pipeline_serving.PipelineService/inference
 *   (PipelineClient, pipeline_rpc_client.py); errors are a Response with err_no, as upstream;
 * - Paddle Serving's C++ service as brpc serves it over gRPC:
 *   /baidu.paddle_serving.predictor.general_model.GeneralModelService/inference;
 * - KServe v2: /inference.GRPCInferenceService/{ServerLive, ServerReady, ModelReady,
 *   ServerMetadata, ModelMetadata, ModelInfer}; errors are gRPC statuses.
 * Messages are encoded and decoded by protobuf.mjs from the tables of proto/; the library only
 * moves bytes. A body that does not decode gets the protocol's error, never a crash.
 */
import { createRequire } from 'node:module';
import { decode, encode, loadSchema, ProtoError } from './protobuf.mjs';
import { schema as KSERVE } from './proto/grpc_predict_v2.gen.mjs';
import { GENERAL_PKG, PIPELINE_PKG, generalSpec, pipelineSpec } from './serving-proto.mjs';
import { RequestError } from './tensors.mjs';
import { EXTENSIONS } from './kserve.mjs';

const kserveSpec = loadSchema(KSERVE);

/** HTTP-like status of a RequestError -> gRPC status code */
function grpcCode(status) {
  return { 400: 3, 404: 5, 405: 12, 408: 4, 413: 8, 415: 3, 503: 14 }[status] ?? 13;
}

/**
 * Start the gRPC server; resolves { port, close(drainMs) }. handlers: the protocol objects of the
 * HTTP server (createProtocols, createServingProto, createKserve) and its metrics.
 */
export async function startGrpc({ port, host, maxBody, requestTimeoutMs, version, isReady, isDraining, protocols, servingProto, kserve, metrics, log }) {
  // resolved from the bundle's root (its node_modules), as server.mjs would
  const require = createRequire(new URL('../server.mjs', import.meta.url));
  const grpc = require('@grpc/grpc-js');
  // the library's own log lines would repeat, less plainly, what the server says (PSERVE_DEBUG=1 keeps them)
  if (!process.env.PSERVE_DEBUG) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const protocolOf = (path) => (path.startsWith(`/${PIPELINE_PKG}.`) ? 'pipeline_grpc' : path.startsWith(`/${GENERAL_PKG}.`) ? 'general_grpc' : 'kserve_grpc');
  /**
   * The HTTP limits, on gRPC calls, where grpc-js answers before any handler runs:
   * - a message over the body limit is refused by grpc-js (RESOURCE_EXHAUSTED): seen on its way
   *   out and counted in /metrics as the 413 it stands for, like an oversized HTTP body;
   * - a request message that has not fully arrived within the body timeout ends the call with
   *   DEADLINE_EXCEEDED (counted as a 408), as a trickled HTTP body is cut.
   */
  const limits = (method, call) => {
    const t0 = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - t0) / 1e9;
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      if (status?.code === grpc.status.RESOURCE_EXHAUSTED && /^Received message larger than max/.test(String(status.details ?? ''))) {
        metrics.observe(protocolOf(method.path), 413, seconds());
      }
      sendStatus(status);
    };
    const start = call.start.bind(call);
    call.start = (listener) => {
      const timer = setTimeout(() => {
        metrics.observe(protocolOf(method.path), 408, seconds());
        call.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: `the request message did not arrive within ${requestTimeoutMs} ms`, metadata: null });
      }, requestTimeoutMs);
      timer.unref();
      start({
        onReceiveMetadata: (m) => listener.onReceiveMetadata(m),
        onReceiveMessage: (m) => { clearTimeout(timer); listener.onReceiveMessage(m); },
        onReceiveHalfClose: () => listener.onReceiveHalfClose(),
        onCancel: () => { clearTimeout(timer); listener.onCancel(); },
      });
    };
    return call;
  };
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxBody,
    'grpc.max_send_message_length': 512 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
    // channelz (per-call and per-session bookkeeping for grpc's admin service, which this server
    // does not serve) costs on every call
    'grpc.enable_channelz': 0,
    interceptors: [limits],
  });
  const raw = (b) => b;

  /**
   * One unary method. run(decoded) -> reply object; errorReply(err) -> a reply object for
   * protocols whose errors travel in the message (pipeline), else null (a gRPC status).
   */
  function method(protocol, spec, reqType, resType, run, errorReply = () => null) {
    return (call, callback) => {
      const t0 = process.hrtime.bigint();
      metrics.inflight += 1;
      let status = 200;
      let finished = false;
      const timer = setTimeout(() => {
        // the same deadline as an HTTP request's whole-request timeout
        reply(new RequestError(408, `the request took longer than ${requestTimeoutMs} ms`, 6000));
      }, requestTimeoutMs);
      timer.unref();
      function reply(err, value) {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        metrics.inflight -= 1;
        if (err) {
          status = err.status;
          const asMessage = errorReply(err);
          metrics.observe(protocol, status, Number(process.hrtime.bigint() - t0) / 1e9);
          if (asMessage) callback(null, encode(spec, resType, asMessage));
          else callback({ code: grpcCode(err.status), details: err.message });
          return;
        }
        metrics.observe(protocol, status, Number(process.hrtime.bigint() - t0) / 1e9);
        callback(null, encode(spec, resType, value));
      }
      (async () => {
        if (isDraining()) throw new RequestError(503, 'the server is shutting down', 3001);
        let req;
        try { req = decode(spec, reqType, call.request); } catch (e) {
          if (e instanceof ProtoError) throw new RequestError(400, `the message is not a ${reqType}: ${e.message}`);
          throw e;
        }
        return run(req);
      })().then((v) => reply(null, v), (e) => {
        const err = e instanceof RequestError ? e : new RequestError(500, `internal error: ${String(e?.message ?? e).split('\n')[0]}`, 10000);
        reply(err);
      });
    };
  }

  const def = (path, handler) => ({ path, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw, handler });

  // Paddle Serving pipeline
  const pipe = `${PIPELINE_PKG}.`;
  const pipelineService = {
    inference: def(`/${PIPELINE_PKG}.PipelineService/inference`, method('pipeline_grpc', pipelineSpec, `${pipe}Request`, `${pipe}Response`, (req) => servingProto.pipelineRequest(req), (err) => servingProto.pipelineError(err))),
  };
  // Paddle Serving C++ (brpc's gRPC)
  const gen = `${GENERAL_PKG}.`;
  const general = method('general_grpc', generalSpec, `${gen}Request`, `${gen}Response`, (req) => servingProto.general(req), (err) => servingProto.generalError(err));
  const generalService = {
    inference: def(`/${GENERAL_PKG}.GeneralModelService/inference`, general),
    debug: def(`/${GENERAL_PKG}.GeneralModelService/debug`, general),
  };
  // KServe v2
  const k = (name, run) => def(`/inference.GRPCInferenceService/${name}`, method('kserve_grpc', kserveSpec, `inference.${name}Request`, `inference.${name}Response`, run));
  const checkModel = (req) => kserve.checkModel(req.name ?? '', req.version);
  const kserveService = {
    ServerLive: k('ServerLive', async () => ({ live: true })),
    ServerReady: k('ServerReady', async () => ({ ready: isReady() })),
    ModelReady: k('ModelReady', async (req) => { checkModel(req); return { ready: isReady() }; }),
    ServerMetadata: k('ServerMetadata', async () => ({ name: 'pserve', version, extensions: EXTENSIONS })),
    ModelMetadata: k('ModelMetadata', async (req) => { checkModel(req); return protocols.modelMetadata(); }),
    ModelInfer: k('ModelInfer', (req) => kserve.grpcInfer(req)),
  };
  for (const svc of [pipelineService, generalService, kserveService]) {
    server.addService(svc, Object.fromEntries(Object.entries(svc).map(([n, d]) => [n, d.handler])));
  }
  // HTTP/2 flow control: with the default 64 KiB windows a client may send only 64 KiB on the whole
  // connection before the server acknowledges it, so a 100 KB tensor takes extra round trips
  // and concurrent calls queue behind each other (measured at c=8: +25-45% requests/s, -10-25%
  // server CPU per call with the larger windows). Stream and connection windows are raised to the
  // body limit (4 MiB at most), which is what the HTTP port accepts in one request anyway. grpc-js
  // has no option for either: the stream window goes in through the settings it hands to
  // http2.createServer, the connection window on each new session; both fields are grpc-js's own
  // (1.14, the version bundled), and without them the defaults stay (test/server-protocols checks)
  const window = Math.min(4 * 1024 * 1024, Math.max(65535, maxBody));
  if (server.commonServerOptions && typeof server.commonServerOptions === 'object') {
    server.commonServerOptions.settings = { ...(server.commonServerOptions.settings ?? {}), initialWindowSize: window };
  }
  const bound = await new Promise((ok, fail) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (!err) { ok(p); return; }
      // grpc-js words a failed listen as "No address added ... errors: [listen EADDRINUSE ...]"
      const code = /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES)\b/.exec(String(err.message))?.[1];
      server.forceShutdown();
      fail(code ? Object.assign(new Error(err.message), { code }) : err);
    });
  });
  // package.json pins grpc-js to 1.14.x; should the fields be gone in another version, say so once
  if (!(server.commonServerOptions && typeof server.commonServerOptions === 'object') || !(server.http2Servers instanceof Map)) {
    log?.('gRPC: this @grpc/grpc-js does not expose its HTTP/2 settings; flow-control windows stay at 64 KiB (slower for large tensors)');
  }
  for (const h2 of server.http2Servers instanceof Map ? server.http2Servers.keys() : []) {
    h2.on('session', (session) => { try { session.setLocalWindowSize(window); } catch { /* a session already closing */ } });
  }
  log?.(`gRPC on ${host}:${bound} (PipelineService, GeneralModelService, inference.GRPCInferenceService)`);
  return {
    port: bound,
    /** finish calls in flight (up to drainMs), then stop */
    close(drainMs) {
      return new Promise((done) => {
        const force = setTimeout(() => { server.forceShutdown(); done(); }, drainMs);
        force.unref();
        server.tryShutdown(() => { clearTimeout(force); done(); });
      });
    },
  };
}
