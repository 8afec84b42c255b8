/**
 * Every wire protocol the real clients speak, spoken by an independent client: Python from Debian
 * (requests, grpc, google.protobuf) with messages compiled by protoc from the .proto files the
 * bundle ships (server/proto/), against uci_housing bundled and run as a recipient would. Each
 * protocol returns Paddle Serving's recorded 18.901151657104492 and answers bad input in its own
 * error form; /metrics counts those errors. Skips with a message when python3's grpc, protobuf,
 * requests or protoc are missing (CI installs python3-grpcio python3-protobuf python3-requests
 * protobuf-compiler).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, PY, ROOT, cliJson, pyHas, shared, tempDir } from './helpers.js';

const PRICE = 18.901151657104492;
const X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332];

function pythonMissing(): string | null {
  if (!pyHas('grpc, google.protobuf, requests')) return `${PY} lacks grpc/protobuf/requests`;
  if (spawnSync('protoc', ['--version']).status !== 0) {
    if (process.env['CI']) throw new Error('protoc is missing, which the protocol checks need in CI (apt-get install protobuf-compiler)');
    return 'protoc is missing (apt-get install protobuf-compiler)';
  }
  return null;
}
const missing = HAVE_SHARED ? pythonMissing() : '../shared/fixtures is absent';
if (missing) console.warn(`server-protocols: skipped, ${missing}`);
const describeIf = (missing ? describe.skip : describe) as typeof describe;

interface Server { child: ChildProcess; url: string; grpc: string; stdout: string; stderr: string; exit: Promise<number | null> }

function start(dir: string, args: string[]): Promise<Server> {
  const child = spawn(process.execPath, ['server.mjs', '--port', '0', ...args], { cwd: dir, env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const s: Server = { child, url: '', grpc: '', stdout: '', stderr: '', exit: new Promise((ok) => child.once('exit', (c) => ok(c))) };
  child.stderr!.on('data', (c: Buffer) => { s.stderr += c.toString(); });
  return new Promise((ok, fail) => {
    child.stdout!.on('data', (c: Buffer) => {
      s.stdout += c.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+).*?(?:gRPC on ([\d.]+:\d+))?$/m.exec(s.stdout);
      if (m && !s.url) { s.url = m[1]!; s.grpc = m[2] ?? ''; ok(s); }
    });
    void s.exit.then((code) => fail(new Error(`server exited ${code}: ${s.stderr}`)));
  });
}

describeIf('wire protocols of the real clients (Python, protoc) against a uci_housing bundle', () => {
  const work = tempDir('pserve-protocols-');
  const dir = join(tempDir('pserve-protocols-recipient-'), 'uci');
  let s: Server;
  let r: Record<string, any>;

  beforeAll(async () => {
    const b = cliJson(['bundle', '--serving_server', shared('uci_housing', 'uci_housing_model'), '--out', join(work, 'uci'), '--name', 'uci']);
    expect(b.code, b.stderr).toBe(0);
    cpSync(join(work, 'uci'), dir, { recursive: true });
    s = await start(dir, ['--rpc-port', '0', '--max-body-bytes', '1000000']);
    expect(s.grpc, s.stdout).not.toBe('');
    const py = spawnSync(PY, [join(ROOT, 'test', 'clients', 'protocol_clients.py'), s.url, s.grpc, join(dir, 'server', 'proto'), work], { encoding: 'utf8', timeout: 90_000 });
    expect(py.status, py.stderr).toBe(0);
    r = JSON.parse(py.stdout);
  }, 150_000);
  afterAll(() => { if (s?.child.exitCode === null) s.child.kill('SIGKILL'); });

  const near = (v: unknown) => expect(Math.abs(Number(v) - PRICE), String(v)).toBeLessThan(1e-5);

  it('the bundle ships the .proto files and the gRPC library it needs', () => {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: { path: string }[] };
    const paths = new Set(manifest.files.map((f) => f.path));
    for (const p of ['server/proto/general_model_service.proto', 'server/proto/pipeline_service.proto', 'server/proto/grpc_predict_v2.proto', 'server/protobuf.mjs', 'server/grpc.mjs', 'node_modules/@grpc/grpc-js/package.json', 'node_modules/@grpc/grpc-js/build/src/index.js', 'node_modules/@js-sdsl/ordered-map/package.json']) {
      expect(paths.has(p), p).toBe(true);
    }
  });

  it('Paddle Serving HttpClient: protobuf, JSON and gzip on /GeneralModelService/inference', () => {
    expect(r['general_proto']).toMatchObject({ status: 200, type: 'application/proto', shape: [1, 1], alias: 'price', name: 'fc_0.tmp_1', elem_type: 1, engine: 'general_infer_0', log_id: 7, canonical: true });
    near(r['general_proto'].value);
    expect(r['general_json']).toMatchObject({ status: 200, engine: 'general_infer_0' });
    near(r['general_json'].value);
    expect(r['general_all_fetches']).toEqual({ aliases: ['price'] });
    expect(r['general_gzip']).toMatchObject({ status: 200, encoding: 'gzip', rows: 64 });
    near(r['general_gzip'].value);
    near(r['general_gzip'].last);
    expect(r['general_proto_gzip']).toMatchObject({ status: 200, type: 'application/proto', encoding: 'gzip', rows: 200 });
    near(r['general_proto_gzip'].value);
  });

  it('Paddle Serving HttpClient: bad bodies get a Response with err_no in the form asked for', () => {
    expect(r['general_bad_proto']).toMatchObject({ status: 400, type: 'application/proto', err_no: 5000 });
    expect(r['general_bad_proto'].err_msg).toMatch(/not a GeneralModelService Request: protobuf: length \d+ runs past the end/);
    expect(r['general_bad_alias']).toMatchObject({ status: 400, err_no: 5000 });
    expect(r['general_bad_alias'].err_msg).toMatch(/"nope": unknown feed/);
    expect(r['general_bad_count'].err_msg).toMatch(/5 elements given, shape \[1,13\] needs 13/);
    expect(r['general_too_big']).toMatchObject({ status: 413, type: 'application/proto' });
    expect(r['general_too_big'].err_msg).toMatch(/over the limit of 1000000/);
  });

  it('pipeline HTTP: upstream comma form, rows split by ;, any method, errors as 200 + err_no', () => {
    expect(r['pipeline_comma']).toMatchObject({ status: 200, err_no: 0 });
    near(r['pipeline_comma'].value);
    expect(r['pipeline_rows']).toMatchObject({ status: 200, err_no: 0 });
    expect(r['pipeline_rows'].values).toHaveLength(2);
    for (const v of r['pipeline_rows'].values) near(v);
    expect(r['pipeline_bad']).toMatchObject({ status: 200, err_no: 5000, key: [], value: [], tensors: [] });
    expect(r['pipeline_bad'].err_msg).toMatch(/item 1 is "oops", not a number/);
    expect(r['pipeline_bad_service']).toMatchObject({ status: 200, err_no: 3002 });
  });

  it('pipeline gRPC: PipelineService.inference with values and with tensors; errors as err_no', () => {
    expect(r['pipeline_grpc']).toMatchObject({ err_no: 0, key: ['price'] });
    near(r['pipeline_grpc'].value);
    expect(r['pipeline_grpc_tensors']).toMatchObject({ err_no: 0, name: 'price', shape: [1, 1] });
    near(r['pipeline_grpc_tensors'].value);
    expect(r['pipeline_grpc_bad']).toMatchObject({ err_no: 5000, bad_name: 3002, garbage: 5000 });
    expect(r['pipeline_grpc_bad'].garbage_msg).toMatch(/not a baidu\.paddle_serving\.pipeline_serving\.Request/);
  });

  it('GeneralModelService over gRPC (as brpc serves it): the same Request/Response; errors as err_no', () => {
    expect(r['general_grpc']).toMatchObject({ engine: 'general_infer_0', bad_err_no: 5000 });
    near(r['general_grpc'].value);
    expect(r['general_grpc'].bad_msg).toMatch(/"nope": unknown feed/);
  });

  it('KServe gRPC: health, metadata, ModelInfer raw and typed; errors as gRPC statuses', () => {
    expect(r['kserve_grpc_meta']).toEqual({
      live: true, ready: true, model_ready: true, extensions: ['binary_tensor_data', 'model_configuration', 'statistics'],
      inputs: [['x', 'FP32', [-1, 13]]], outputs: [['price', 'FP32', [-1, 1]]],
    });
    expect(r['kserve_grpc_infer']).toMatchObject({ name: 'price', datatype: 'FP32', shape: [1, 1], id: 'r1', canonical: true });
    near(r['kserve_grpc_infer'].value);
    near(r['kserve_grpc_typed'].value);
    const bad = r['kserve_grpc_bad'];
    expect(bad.unknown_model.code).toBe('NOT_FOUND');
    expect(bad.bad_version.code).toBe('NOT_FOUND');
    expect(bad.wrong_size).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(bad.wrong_size.details).toMatch(/3 elements given/);
    expect(bad.wrong_type.details).toMatch(/datatype INT64, the model wants FP32/);
    expect(bad.garbage).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(bad.garbage.details).toMatch(/not a inference\.ModelInferRequest/);
    expect(bad.too_big.code).toBe('RESOURCE_EXHAUSTED');
  });

  it('KServe REST: binary tensors in and out, gzip/deflate, errors, Triton config and stats', () => {
    expect(r['kserve_binary']).toMatchObject({ status: 200, type: 'application/octet-stream', size: 4, shape: [1, 1] });
    near(r['kserve_binary'].value);
    expect(r['kserve_binary_in_json_out']).toMatchObject({ status: 200, type: 'application/json' });
    near(r['kserve_binary_in_json_out'].value);
    expect(r['kserve_binary_gzip']).toMatchObject({ status: 200, encoding: 'gzip', rows: 200 });
    near(r['kserve_binary_gzip'].value);
    near(r['kserve_json_gzip'].value);
    const bad = r['kserve_rest_bad'];
    expect(bad.too_long).toMatchObject({ status: 400 });
    expect(bad.too_long.error).toMatch(/Inference-Header-Content-Length is 999, the body has 13 bytes/);
    expect(bad.short.error).toMatch(/binary_data_size 400 runs past the end/);
    expect(bad.extra.error).toMatch(/4 bytes after the last binary input/);
    expect(bad.bad_gzip).toMatchObject({ status: 400 });
    expect(bad.bad_gzip.error).toMatch(/not valid gzip/);
    expect(bad.version).toMatchObject({ status: 404 });
    const t = r['triton_extras'];
    expect(t.extensions).toContain('binary_tensor_data');
    expect(t.config).toMatchObject({ name: 'uci', platform: 'onnxruntime_onnx', max_batch_size: 8, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [13] }], output: [{ name: 'price', data_type: 'TYPE_FP32', dims: [1] }] });
    expect(t.stats).toMatchObject({ name: 'uci', version: '1' });
    expect(t.stats.inference_stats.success.count).toBeGreaterThan(5);
    expect(t.all).toBe(1);
  });

  it('a gzip bomb is refused with 413 without inflating it all; /metrics counts every protocol\'s errors', async () => {
    // ~1 KB that inflates to 16 MB, against a 1 MB body limit
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 9 });
    expect(bomb.length).toBeLessThan(20_000);
    const res = await fetch(`${s.url}/v2/models/uci/infer`, { method: 'POST', body: bomb, headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(/inflates past the limit of 1000000 bytes/);
    const ok = await fetch(`${s.url}/v2/models/uci/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 13], datatype: 'FP32', data: X }] }) });
    expect(ok.status).toBe(200);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    for (const p of ['general', 'pipeline', 'pipeline_grpc', 'kserve_grpc', 'kserve']) {
      expect(text, p).toMatch(new RegExp(`^pserve_request_errors_total\\{protocol="${p}"\\} [1-9]\\d*$`, 'm'));
      expect(text, p).toMatch(new RegExp(`^pserve_requests_total\\{protocol="${p}",code="200"\\} [1-9]\\d*$`, 'm'));
    }
    expect(text).toMatch(/^pserve_requests_total\{protocol="kserve_grpc",code="400"\} [1-9]\d*$/m);
    // the oversized gRPC message, refused by grpc-js before any handler, is counted too
    expect(text).toMatch(/^pserve_requests_total\{protocol="kserve_grpc",code="413"\} 1$/m);
  });

  it('pserve serve --rpc-port passes the gRPC port to the server; a bad port is a usage error', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'pserve.js'), 'serve', dir, '--port', '0', '--rpc-port', '0'], { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exit = new Promise<number | null>((ok) => child.once('exit', (c) => ok(c)));
    await new Promise<void>((ok, fail) => {
      child.stdout!.on('data', (c: Buffer) => { out += c.toString(); if (/gRPC on 127\.0\.0\.1:\d+/.test(out)) ok(); });
      void exit.then((c) => fail(new Error(`pserve serve exited ${c}: ${out}`)));
    });
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    const bad = cliJson<any>(['serve', dir, '--rpc-port', '70000']);
    expect(bad.code).toBe(2);
    expect(bad.json.error.code).toBe('E_USAGE');
  }, 60_000);

  it('the gRPC port opens HTTP/2 flow-control windows as large as the body limit, so a tensor goes in one flight', async () => {
    const session = http2.connect(`http://${s.grpc}`);
    try {
      session.on('error', () => {});
      await new Promise<void>((ok) => session.once('remoteSettings', () => ok()));
      // --max-body-bytes 1000000: each stream's window, and the connection's after the server's first WINDOW_UPDATE
      expect(session.remoteSettings.initialWindowSize).toBe(1_000_000);
      const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ServerLive', 'content-type': 'application/grpc', te: 'trailers' });
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      stream.resume();
      await new Promise((ok) => stream.on('close', ok));
      expect(session.state.remoteWindowSize).toBeGreaterThanOrEqual(1_000_000 - 5);
    } finally {
      session.destroy();
    }
  });

  it('a gRPC message trickled past the body timeout ends the call with DEADLINE_EXCEEDED, counted as a 408', async () => {
    const t = await start(dir, ['--rpc-port', '0', '--body-timeout-ms', '1000']);
    try {
      const session = http2.connect(`http://${t.grpc}`);
      session.on('error', () => {}); // the server ends the session when it stops
      const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => {});
      const t0 = performance.now();
      // a frame that declares 100 bytes, and only 10 of them
      stream.write(Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10)]));
      const status = await new Promise<string | undefined>((ok) => {
        stream.on('trailers', (h) => ok(String(h['grpc-status'])));
        stream.on('response', (h) => { if (h['grpc-status'] !== undefined) ok(String(h['grpc-status'])); });
        stream.on('close', () => ok(undefined));
        stream.resume();
      });
      const ms = performance.now() - t0;
      session.destroy();
      expect(status).toBe('4');
      expect(ms).toBeGreaterThan(900);
      expect(ms).toBeLessThan(10_000);
      const text = await (await fetch(`${t.url}/metrics`)).text();
      expect(text).toMatch(/^pserve_requests_total\{protocol="kserve_grpc",code="408"\} 1$/m);
    } finally {
      t.child.kill('SIGTERM');
      await t.exit;
    }
  }, 60_000);

  it('config.yml rpc_port turns gRPC on; SIGTERM drains both ports and exits 0', async () => {
    const cfg = join(dir, 'config.yml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^rpc_port: .*$/m, 'rpc_port: 0'));
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    // rpc_port 0 in config.yml is "off" (as pserve writes it); a port number turns it on
    const off = await start(dir, []);
    expect(off.grpc).toBe('');
    off.child.kill('SIGTERM');
    expect(await off.exit, `${off.stdout} | ${off.stderr} | ${off.child.signalCode}`).toBe(0);
    const free = await new Promise<number>((ok) => { const srv = createServer(); srv.listen(0, '127.0.0.1', () => { const p = (srv.address() as AddressInfo).port; srv.close(() => ok(p)); }); });
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^rpc_port: .*$/m, `rpc_port: ${free}`));
    const on = await start(dir, []);
    expect(on.grpc).toBe(`127.0.0.1:${free}`);
    on.child.kill('SIGTERM');
    expect(await on.exit).toBe(0);
    // a gRPC port in use: one plain line, exit 1
    const taken = createServer();
    await new Promise<void>((ok) => taken.listen(free, '127.0.0.1', () => ok()));
    try {
      const r = spawnSync(process.execPath, ['server.mjs', '--port', '0'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toBe(`pserve-server: E_SERVER_LISTEN: cannot bind gRPC 127.0.0.1:${free}: EADDRINUSE: the port is in use by another process (pick one with --rpc-port)`);
    } finally { taken.close(); }
  }, 60_000);
});
