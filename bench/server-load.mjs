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
