/**
 * The bundle server end to end, as a recipient runs it: uci_housing -> pserve bundle -> the folder
 * copied outside the project -> `node server.mjs` with a bare environment -> Paddle Serving's
 * recorded answer on every protocol; bad requests get a 4xx and the server keeps serving.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliJson, describeShared, shared, tempDir } from './helpers.js';

const X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332];
const PRICE = 18.901151657104492;

interface Server { child: ChildProcess; url: string; stdout: string; stderr: string; exit: Promise<number | null> }

function start(dir: string, args: string[] = []): Promise<Server> {
  // a bare environment: no NODE_PATH, nothing from the project
  const child = spawn(process.execPath, ['server.mjs', '--port', '0', ...args], { cwd: dir, env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const s: Server = { child, url: '', stdout: '', stderr: '', exit: new Promise((ok) => child.once('exit', (c) => ok(c))) };
  child.stderr!.on('data', (c: Buffer) => { s.stderr += c.toString(); });
  return new Promise((ok, fail) => {
    child.stdout!.on('data', (c: Buffer) => {
      s.stdout += c.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(s.stdout);
      if (m && !s.url) { s.url = m[1]!; ok(s); }
    });
    void s.exit.then((code) => fail(new Error(`server exited ${code}: ${s.stderr}`)));
  });
}

async function post(url: string, body: unknown, raw = false): Promise<{ status: number; json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ? String(body) : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text.startsWith('{') ? JSON.parse(text) : text };
}

describeShared('bundle server: uci_housing end to end', () => {
  const work = tempDir('pserve-server-');
  const away = tempDir('pserve-recipient-');
  const dir = join(away, 'uci');
  let s: Server;
  // made before the server starts: writing 20 MB of JSON can take longer than the server's 5 s
  // keep-alive timeout on a loaded machine, and a request on the keep-alive socket the server
  // closed meanwhile fails (EPIPE, "other side closed")
  let bigBody = '';

  beforeAll(async () => {
    bigBody = JSON.stringify({ feed: [{ x: new Array(5_000_000).fill(0.5) }] });
    const b = cliJson(['bundle', '--serving_server', shared('uci_housing', 'uci_housing_model'), '--out', join(work, 'uci'), '--name', 'uci']);
    expect(b.code, b.stderr).toBe(0);
    cpSync(join(work, 'uci'), dir, { recursive: true });
    s = await start(dir);
  }, 60_000);
  afterAll(() => { if (s?.child.exitCode === null) s.child.kill('SIGKILL'); });

  it('answers the recorded input on the web-service form', async () => {
    const r = await post(`${s.url}/uci/prediction`, { feed: [{ x: X }], fetch: ['price'] });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json.result)).toEqual(['price']);
    expect(r.json.result.price[0][0]).toBeCloseTo(PRICE, 5);
    expect(Math.abs(r.json.result.price[0][0] - PRICE)).toBeLessThan(1e-5);
  });

  it('answers the recorded input on the pipeline form', async () => {
    const r = await post(`${s.url}/uci/prediction`, { key: ['x'], value: [JSON.stringify(X)] });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ err_no: 0, err_msg: '', key: ['price'], tensors: [] });
    expect(Math.abs(JSON.parse(r.json.value[0])[0][0] - PRICE)).toBeLessThan(1e-5);
  });

  it('answers the recorded input on KServe v2, by alias and by var name', async () => {
    const r = await post(`${s.url}/v2/models/uci/infer`, { inputs: [{ name: 'x', shape: [1, 13], datatype: 'FP32', data: X }] });
    expect(r.status).toBe(200);
    expect(r.json.outputs[0]).toMatchObject({ name: 'price', datatype: 'FP32', shape: [1, 1] });
    expect(Math.abs(r.json.outputs[0].data[0] - PRICE)).toBeLessThan(1e-5);
    const byName = await post(`${s.url}/v2/models/uci/infer`, { inputs: [{ name: 'x', shape: [1, 13], datatype: 'FP32', data: X }], outputs: [{ name: 'fc_0.tmp_1' }] });
    expect(byName.json.outputs[0].name).toBe('fc_0.tmp_1');
    expect(Math.abs(byName.json.outputs[0].data[0] - PRICE)).toBeLessThan(1e-5);
  });

  it('serves health, metadata, batches and concurrent requests', async () => {
    expect((await fetch(`${s.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${s.url}/v2/health/ready`)).status).toBe(200);
    const meta = await (await fetch(`${s.url}/v2/models/uci`)).json() as any;
    expect(meta).toMatchObject({ name: 'uci', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 13] }], outputs: [{ name: 'price', shape: [-1, 1] }] });
    const batch = await post(`${s.url}/uci/prediction`, { feed: [{ x: X }, { x: X }, { x: X }], fetch: ['price'] });
    expect(batch.json.result.price).toHaveLength(3);
    const kb = await post(`${s.url}/v2/models/uci/infer`, { inputs: [{ name: 'x', shape: [2, 13], datatype: 'FP32', data: [...X, ...X] }] });
    expect(kb.json.outputs[0].shape).toEqual([2, 1]);
    const many = await Promise.all(Array.from({ length: 16 }, () => post(`${s.url}/uci/prediction`, { feed: [{ x: X }], fetch: ['price'] })));
    for (const r of many) expect(Math.abs(r.json.result.price[0][0] - PRICE)).toBeLessThan(1e-5);
  });

  it('answers bad requests with a 4xx and a reason, and keeps serving', async () => {
    const bad: [unknown, boolean, number, RegExp][] = [
      ['{"feed": [', true, 400, /not JSON/],
      [{ feed: [{ nope: X }] }, false, 400, /unknown feed "nope"/],
      [{ feed: [{ x: X.slice(0, 5) }] }, false, 400, /5 elements/],
      [{ feed: [{ x: X.map(String) }] }, false, 400, /expected a float32 number/],
      [{ feed: [{ x: X }], fetch: ['nope'] }, false, 400, /unknown fetch "nope"/],
    ];
    for (const [body, raw, status, reason] of bad) {
      const r = await post(`${s.url}/uci/prediction`, body, raw);
      expect(r.status).toBe(status);
      expect(r.json.error).toMatch(reason);
    }
    // the pipeline gateway answers errors as HTTP 200 with err_no (what its clients read)
    const pipe = await post(`${s.url}/uci/prediction`, { key: ['x'], value: ['[1,2'] });
    expect(pipe.status).toBe(200);
    expect(pipe.json).toMatchObject({ err_no: 5000, key: [], value: [], tensors: [] });
    const wrongService = await post(`${s.url}/nope/prediction`, { key: ['x'], value: [JSON.stringify(X)] });
    expect(wrongService.status).toBe(200);
    expect(wrongService.json.err_no).toBe(3002);
    const dtype = await post(`${s.url}/v2/models/uci/infer`, { inputs: [{ name: 'x', shape: [1, 13], datatype: 'INT64', data: X }] });
    expect(dtype.status).toBe(400);
    expect(dtype.json.error).toMatch(/datatype INT64, the model wants FP32/);
    const shape = await post(`${s.url}/v2/models/uci/infer`, { inputs: [{ name: 'x', shape: [1, 12], datatype: 'FP32', data: X.slice(0, 12) }] });
    expect(shape.status).toBe(400);
    expect((await fetch(`${s.url}/v2/models/other`)).status).toBe(404);
    const big = await post(`${s.url}/uci/prediction`, bigBody, true);
    expect(big.status).toBe(413);
    expect(big.json.error).toMatch(/over the limit/);
    const ok = await post(`${s.url}/uci/prediction`, { feed: [{ x: X }], fetch: ['price'] });
    expect(Math.abs(ok.json.result.price[0][0] - PRICE)).toBeLessThan(1e-5);
  });

  it('counts requests, errors and latency in /metrics', async () => {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toMatch(/^pserve_requests_total\{protocol="webservice",code="200"\} \d+$/m);
    expect(text).toMatch(/^pserve_requests_total\{protocol="pipeline",code="200"\} 1$/m);
    // pipeline errors go out as HTTP 200 with err_no, and are counted by the status they stand for
    expect(text).toMatch(/^pserve_requests_total\{protocol="pipeline",code="400"\} 1$/m);
    expect(text).toMatch(/^pserve_requests_total\{protocol="pipeline",code="404"\} 1$/m);
    expect(text).toMatch(/^pserve_request_errors_total\{protocol="pipeline"\} 2$/m);
    expect(text).toMatch(/^pserve_request_errors_total\{protocol="webservice"\} [1-9]\d*$/m);
    expect(text).toMatch(/^pserve_request_duration_seconds_bucket\{protocol="kserve",le="\+Inf"\} \d+$/m);
    expect(text).toMatch(/# TYPE pserve_request_duration_seconds histogram/);
  });

  it('drains an in-flight request on SIGTERM, then exits 0', async () => {
    const inflight = post(`${s.url}/uci/prediction`, { feed: [{ x: X }], fetch: ['price'] });
    await new Promise((r) => setTimeout(r, 5));
    s.child.kill('SIGTERM');
    const r = await inflight;
    expect(r.status).toBe(200);
    expect(await s.exit).toBe(0);
    expect(s.stderr).toMatch(/SIGTERM: draining/);
  });

  it('honours config.yml: service name, port, fetch_list and body timeout', async () => {
    const d2 = join(away, 'uci2');
    cpSync(dir, d2, { recursive: true });
    const cfg = readFileSync(join(d2, 'config.yml'), 'utf8')
      .replace(/^  uci:$/m, '  housing:')
      .replace('body_timeout_ms: 30000', 'body_timeout_ms: 300')
      .replace('header_timeout_ms: 10000', 'header_timeout_ms: 300');
    writeFileSync(join(d2, 'config.yml'), cfg);
    const s2 = await start(d2);
    try {
      expect(s2.stdout).toMatch(/service "housing"/);
      const r = await post(`${s2.url}/housing/prediction`, { feed: [{ x: X }] });
      expect(Object.keys(r.json.result)).toEqual(['price']);
      expect((await post(`${s2.url}/uci/prediction`, { feed: [{ x: X }] })).status).toBe(404);
      // a client that sends headers but never finishes its body is cut off
      const { port } = new URL(s2.url);
      const answer = await new Promise<string>((ok) => {
        const sock = connect(Number(port), '127.0.0.1', () => {
          sock.write('POST /housing/prediction HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"feed":');
        });
        let got = '';
        sock.on('data', (c) => { got += c.toString(); });
        sock.on('close', () => ok(got));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      s2.child.kill('SIGTERM');
      expect(await s2.exit).toBe(0);
    }
  }, 20_000);

  it('says plainly that CUDA is missing: --device gpu fails, device_type 1 falls back to CPU', async () => {
    const gpu = spawn(process.execPath, ['server.mjs', '--port', '0', '--device', 'gpu'], { cwd: dir, env: { PATH: process.env['PATH'] ?? '' } });
    let err = '';
    gpu.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    const code = await new Promise((ok) => gpu.once('exit', ok));
    expect(code).toBe(1);
    expect(err).toMatch(/CUDA is not available/);
    expect(err).not.toMatch(/\n\s+at /);

    const d3 = join(away, 'uci3');
    cpSync(dir, d3, { recursive: true });
    writeFileSync(join(d3, 'config.yml'), readFileSync(join(d3, 'config.yml'), 'utf8').replace('device_type: 0', 'device_type: 1'));
    const s3 = await start(d3);
    try {
      expect(s3.stdout).toMatch(/device cpu/);
      expect(s3.stderr).toMatch(/CUDA is not available.*using cpu/);
    } finally {
      s3.child.kill('SIGTERM');
      await s3.exit;
    }
  }, 20_000);
});
