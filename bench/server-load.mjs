// The bundle server under load, shared by test/server-load.test.ts and bench/server.bench.mjs:
// a keep-alive loopback client that fires a mix of valid and invalid requests over the three
// protocols, checks every answer is a complete HTTP response with the status it should have,
// and reports latency percentiles; plus the slow clients (a trickling body, stalled headers).
import http from 'node:http';
import { connect } from 'node:net';

export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/**
 * The request mix for a model with one feed `alias` of `shape` (batch 1), service `name`:
 * five valid requests over the three protocols, then bad JSON, an unknown alias, a wrong element
 * count, a wrong service and a body over `maxBody`. Each entry says the status it must get.
 */
export function requestMix({ name, alias, shape, maxBody }) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, (_, i) => Math.round(Math.sin(i * 12.9898) * 1e4) / 1e4);
  const webservice = `/${name}/prediction`;
  const kserve = `/v2/models/${name}/infer`;
  const json = (o) => JSON.stringify(o);
  const nested = (flat, dims) => {
    let out = flat;
    for (let d = dims.length - 1; d >= 1; d--) {
      const next = [];
      for (let i = 0; i < out.length; i += dims[d]) next.push(out.slice(i, i + dims[d]));
      out = next;
    }
    return out;
  };
  const big = Array.from({ length: Math.ceil(maxBody / 6) + 1 }, () => 0.123);
  return [
    { kind: 'webservice', path: webservice, body: json({ feed: [{ [alias]: nested(data, shape) }] }), status: 200 },
    { kind: 'pipeline', path: webservice, body: json({ key: [alias], value: [json(nested(data, shape))] }), status: 200 },
    { kind: 'kserve', path: kserve, body: json({ inputs: [{ name: alias, shape, datatype: 'FP32', data }] }), status: 200 },
    { kind: 'kserve', path: kserve, body: json({ inputs: [{ name: alias, shape, datatype: 'FP32', data: data.map((v) => -v) }] }), status: 200 },
    { kind: 'webservice', path: webservice, body: json({ feed: [{ [alias]: nested(data.map((v) => v / 2), shape) }] }), status: 200 },
    { kind: 'bad json', path: webservice, body: json({ feed: [{ [alias]: data }] }).slice(0, 200), status: 400 },
    { kind: 'unknown alias', path: webservice, body: json({ feed: [{ nope: data }] }), status: 400 },
    { kind: 'wrong count', path: kserve, body: json({ inputs: [{ name: alias, shape, datatype: 'FP32', data: data.slice(1) }] }), status: 400 },
    // the pipeline gateway answers its errors as HTTP 200 with err_no
    { kind: 'wrong service', path: '/nope/prediction', body: json({ key: [alias], value: [json(data)] }), status: 200, errNo: 3002 },
    { kind: 'oversized', path: kserve, body: json({ inputs: [{ name: alias, shape, datatype: 'FP32', data: big }] }), status: 413 },
  ];
}

/** One request on `agent`; resolves { status, ms, body } or { error } (a dropped connection or a cut response). */
function once(url, agent, { path, body }) {
  return new Promise((done) => {
    const t0 = performance.now();
    const payload = Buffer.from(body);
    const req = http.request(url + path, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => done({ error: `response: ${e.message}` }));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const declared = Number(res.headers['content-length']);
        if (!res.complete || (Number.isFinite(declared) && declared !== Buffer.byteLength(text))) done({ error: `incomplete response (${Buffer.byteLength(text)} of ${declared} bytes)` });
        else done({ status: res.statusCode, ms: performance.now() - t0, body: text });
      });
    });
    req.on('error', (e) => done({ error: `request: ${e.code ?? e.message}` }));
    req.end(payload);
  });
}

/**
 * `n` requests from `mix` (round robin) at `concurrency`, over a keep-alive agent. Every answer is
 * checked: a complete response with the expected status, and for 200s a finite body per `check`.
 */
export async function runLoad({ url, mix, n, concurrency, check = () => null }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const lat = [];
  const latOk = [];
  const byStatus = {};
  const problems = [];
  let dropped = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const r = mix[next++ % mix.length];
      const got = await once(url, agent, r);
      if (got.error) { dropped += 1; if (problems.length < 10) problems.push(`${r.kind}: ${got.error}`); continue; }
      lat.push(got.ms);
      const errNo = r.errNo !== undefined && got.status === 200 ? JSON.parse(got.body).err_no : undefined;
      if (got.status === 200 && r.errNo === undefined) latOk.push(got.ms);
      const key = r.errNo !== undefined && got.status === 200 ? `200 err_no ${errNo}` : got.status;
      byStatus[key] = (byStatus[key] ?? 0) + 1;
      const wrong = got.status !== r.status ? `status ${got.status}, expected ${r.status}: ${got.body.slice(0, 200)}`
        : r.errNo !== undefined ? (errNo === r.errNo ? null : `err_no ${errNo}, expected ${r.errNo}`)
        : got.status === 200 ? check(r, JSON.parse(got.body)) : null;
      if (wrong && problems.length < 10) problems.push(`${r.kind}: ${wrong}`);
      if (wrong) byStatus.wrong = (byStatus.wrong ?? 0) + 1;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  const fiveXX = Object.entries(byStatus).filter(([s]) => Number(s) >= 500).reduce((a, [, c]) => a + c, 0);
  return {
    n, seconds, rps: n / seconds, dropped, fiveXX, wrong: byStatus.wrong ?? 0, byStatus, problems,
    p50: percentile(lat, 50), p99: percentile(lat, 99), p50ok: percentile(latOk, 50), p99ok: percentile(latOk, 99),
  };
}

/** The server's resident memory, from its /metrics (process_resident_memory_bytes). */
export async function serverRss(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^process_resident_memory_bytes (\d+)$/m.exec(text);
  if (!m) throw new Error('/metrics has no process_resident_memory_bytes');
  return Number(m[1]);
}

/**
 * A raw client that sends `head` (request line and headers, perhaps unfinished), then `trickle`
 * one byte every `everyMs`; resolves with what the server answered and when it closed.
 */
export function slowClient(url, { head, trickle = '', everyMs = 200 }) {
  const { hostname, port } = new URL(url);
  const t0 = performance.now();
  return new Promise((done) => {
    let got = '';
    let timer;
    let sent = 0;
    const sock = connect(Number(port), hostname, () => {
      sock.write(head);
      timer = setInterval(() => {
        if (sent < trickle.length && !sock.destroyed) sock.write(trickle[sent++]);
      }, everyMs);
    });
    sock.on('data', (c) => { got += c.toString(); });
    sock.on('error', () => {});
    sock.on('close', () => { clearInterval(timer); done({ answer: got, closedAfterMs: performance.now() - t0, bytesTrickled: sent }); });
  });
}

/**
 * A wrk-like HTTP/1.1 load generator, cheap enough to share the server's cores: `concurrency`
 * keep-alive `node:net` connections, each writing the pre-encoded `request` bytes (request line,
 * headers and body) and reading the answer with a minimal response parser (status line,
 * Content-Length, Inference-Header-Content-Length) before it writes the next, for `durationMs`.
 * Every answer's status must be 200 (else the run fails); `check(body, headerLength)` looks at the
 * first answer of each connection and then one in `sampleEvery`, and returns a problem or null.
 * Resolves { n, seconds, rps, p50, p99, lat } (lat: each answer's milliseconds).
 */
export function rawLoad({ url, request, concurrency, durationMs, check, sampleEvery = 64 }) {
  const { hostname, port } = new URL(url);
  const lat = [];
  let n = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  return new Promise((resolveRun, rejectRun) => {
    let open = concurrency;
    let failed = false;
    const fail = (why) => { if (!failed) { failed = true; rejectRun(new Error(why)); } };
    const finishOne = () => {
      if (--open > 0) return;
      if (failed) return;
      const seconds = (performance.now() - t0) / 1000;
      resolveRun({ n, seconds, rps: n / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99), lat });
    };
    for (let k = 0; k < concurrency; k++) {
      const sock = connect(Number(port), hostname);
      sock.setNoDelay(true);
      let buf = null;
      let need = -1;
      let bodyAt = 0;
      let status = 0;
      let headerLength = -1;
      let sent = 0;
      let answered = 0;
      const send = () => { sent = performance.now(); sock.write(request); };
      sock.on('connect', send);
      sock.on('error', (e) => { fail(`load connection: ${e.code ?? e.message}`); });
      sock.on('close', () => { if (performance.now() < end || need >= 0) fail('the server closed a keep-alive connection mid-run'); finishOne(); });
      sock.on('data', (chunk) => {
        buf = buf === null || buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        for (;;) {
          if (need < 0) {
            const he = buf.indexOf('\r\n\r\n');
            if (he < 0) return;
            const head = buf.latin1Slice(0, he);
            status = Number(head.slice(9, 12));
            const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
            if (!cl) { fail(`an answer without Content-Length: ${head.slice(0, 200)}`); sock.destroy(); return; }
            const ih = /\r\ninference-header-content-length: *(\d+)/i.exec(head);
            headerLength = ih ? Number(ih[1]) : -1;
            bodyAt = he + 4;
            need = bodyAt + Number(cl[1]);
          }
          if (buf.length < need) return;
          const body = buf.subarray(bodyAt, need);
          const now = performance.now();
          lat.push(now - sent);
          n += 1;
          if (status !== 200) { fail(`status ${status}: ${body.toString('utf8', 0, Math.min(body.length, 300))}`); sock.destroy(); return; }
          if (answered++ % sampleEvery === 0 && check) {
            const problem = check(body, headerLength);
            if (problem) { fail(problem); sock.destroy(); return; }
          }
          buf = buf.subarray(need);
          need = -1;
          if (now < end && !failed) send();
          else { sock.destroy(); return; }
          if (buf.length === 0) return;
        }
      });
    }
  });
}

/**
 * The same for gRPC unary calls, over one `node:http2` session (as a gRPC channel is one
 * connection): `concurrency` streams at a time, each POSTing the pre-framed request `frame`
 * (the 5-byte gRPC message prefix and the message) to `path`. Every call must end with
 * grpc-status 0 (else the run fails); `check(message)` looks at one reply in `sampleEvery`.
 * Resolves { n, seconds, rps, p50, p99, lat }.
 */
export async function rawGrpcLoad({ target, path, frame, concurrency, durationMs, check, sampleEvery = 64 }) {
  const http2 = await import('node:http2');
  const session = http2.connect(`http://${target}`);
  session.on('error', () => {});
  const headers = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' };
  const lat = [];
  let n = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  try {
    await Promise.all(Array.from({ length: concurrency }, () => new Promise((done, fail) => {
      let answered = 0;
      const call = () => {
        const sent = performance.now();
        const stream = session.request(headers);
        const chunks = [];
        let status = null;
        let message = '';
        stream.on('trailers', (t) => { status = t['grpc-status']; message = t['grpc-message'] ?? ''; });
        stream.on('response', (h) => { if (h['grpc-status'] !== undefined) { status = h['grpc-status']; message = h['grpc-message'] ?? ''; } });
        stream.on('data', (c) => chunks.push(c));
        stream.on('error', (e) => fail(new Error(`gRPC stream: ${e.code ?? e.message}`)));
        stream.on('end', () => {
          const now = performance.now();
          lat.push(now - sent);
          n += 1;
          if (String(status) !== '0') { fail(new Error(`grpc-status ${status}: ${decodeURIComponent(message)}`)); return; }
          if (answered++ % sampleEvery === 0 && check) {
            const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
            const problem = body.length >= 5 ? check(body.subarray(5, 5 + body.readUInt32BE(1))) : 'a reply without a message';
            if (problem) { fail(new Error(problem)); return; }
          }
          if (now < end) call(); else done();
        });
        stream.end(frame);
      };
      call();
    })));
  } finally {
    session.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { n, seconds, rps: n / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99), lat };
}
