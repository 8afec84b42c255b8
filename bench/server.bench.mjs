// The bundle server under load: requests/s and p50/p99 latency for ppocr_cls_v2 (x [1,3,48,192])
// at concurrency 1 and 8, KServe v2 JSON over loopback with keep-alive, against a bare in-process
// loop calling session.run on the same model.onnx in the same run. Also the bundle's size.
// Without ../shared/fixtures it measures the project's own fixtures/tiny_classifier (x [1,3,32,32]).
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { requestMix, runLoad, serverRss } from './server-load.mjs';

const DURATION_MS = 4000;
const LOAD_N = 10000;
const RSS_BOUND_MIB = 48;

/** CPU milliseconds a process has used so far (Linux /proc; null elsewhere) */
function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch { return null; }
}
const ownCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

function pct(xs, p) { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; }

async function load(concurrency, once) {
  const lat = [];
  const end = performance.now() + DURATION_MS;
  let n = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await once();
      lat.push(performance.now() - t0);
      n += 1;
    }
  }));
  return { rps: n / (DURATION_MS / 1000), p50: pct(lat, 50), p99: pct(lat, 99), n };
}

export async function run({ root, tmp, shared, log }) {
  const bin = join(root, 'bin', 'pserve.js');
  const sh = (args) => {
    const r = spawnSync(process.execPath, [bin, ...args, '--json'], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
    if (r.status !== 0) throw new Error(`pserve ${args.join(' ')}: ${r.stdout} ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  let modelName = 'ppocr_cls_v2';
  let SHAPE = [1, 3, 48, 192];
  if (shared) {
    sh(['convert', '--dirname', join(shared, 'ppocr_cls_v2'), '--serving_server', join(tmp, 'srv'), '--serving_client', join(tmp, 'cli')]);
    sh(['bundle', '--serving_server', join(tmp, 'srv'), '--out', join(tmp, 'bundle'), '--name', 'cls']);
  } else {
    modelName = 'tiny_classifier';
    SHAPE = [1, 3, 32, 32];
    const sample = join(root, 'fixtures', 'tiny_classifier');
    const files = ['--model_filename', 'inference.pdmodel', '--params_filename', 'inference.pdiparams'];
    sh(['convert', '--dirname', sample, ...files, '--serving_server', join(tmp, 'srv'), '--serving_client', join(tmp, 'cli')]);
    sh(['onnx', '--model_dir', sample, ...files, '--save_file', join(tmp, 'model.onnx')]);
    sh(['bundle', '--serving_server', join(tmp, 'srv'), '--onnx', join(tmp, 'model.onnx'), '--out', join(tmp, 'bundle'), '--name', 'cls']);
  }
  const dir = join(tmp, 'bundle');
  const bundle = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(dir, 'manifest.json'), 'utf8')));
  const bundleBytes = bundle.files.reduce((s, f) => s + f.size, 0);
  const pkg = sh(['package', dir, '--out', join(tmp, 'cls.tgz')]);

  const n = SHAPE.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, (_, i) => Math.round(((i * 7919) % 1000) / 1000 * 1e4) / 1e4);
  const body = JSON.stringify({ inputs: [{ name: 'x', shape: SHAPE, datatype: 'FP32', data }] });

  // bare loop: the same model.onnx, the bundle's onnxruntime-node, in this process, opened by the
  // server's own openSession so the session options (threads, no spinning) are the same
  const require = createRequire(join(dir, 'server.mjs'));
  const ort = require('onnxruntime-node');
  const { openSession } = await import(pathToFileURL(join(dir, 'server', 'inference.mjs')).href);
  const { session } = await openSession(ort, require, join(dir, 'model.onnx'), 'cpu', { explicit: false, threads: 0, log });
  const feed = { [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(data), SHAPE) };
  for (let i = 0; i < 20; i++) await session.run(feed);

  const { startBundleServer } = await import(pathToFileURL(join(root, 'dist', 'bundle', 'smoke.js')).href);
  // a 1 MiB body limit so that the load's oversized requests are cheap to make (valid ones are 160 KB)
  const server = await startBundleServer(dir, ['--max-body-bytes', String(2 ** 20)]);
  // the client shares the machine's cores with the server: node:http with keep-alive and the body
  // encoded once costs about a third of what fetch() does per 160 KB request
  const url = `${server.url}/v2/models/cls/infer`;
  const payload = Buffer.from(body);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const once = () => new Promise((done, fail) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        const j = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (res.statusCode !== 200) fail(new Error(JSON.stringify(j))); else done(j);
      });
    });
    req.on('error', fail);
    req.end(payload);
  });
  for (let i = 0; i < 20; i++) await once();
  const rows = [];
  try {
    for (const c of [1, 8]) {
      const b0 = ownCpuMs();
      const bare = await load(c, () => session.run(feed));
      const bareCpu = (ownCpuMs() - b0) / bare.n;
      const s0 = cpuMs(server.child.pid);
      const c0 = ownCpuMs();
      const srv = await load(c, once);
      const clientCpu = (ownCpuMs() - c0) / srv.n;
      const serverCpu = s0 === null ? null : (cpuMs(server.child.pid) - s0) / srv.n;
      const cpu = `CPU per request: server ${serverCpu === null ? '?' : serverCpu.toFixed(2)} ms + load client ${clientCpu.toFixed(2)} ms, vs ${bareCpu.toFixed(2)} ms per bare run`;
      log(`   c=${c}: ${cpu}`);
      log(`   c=${c}: server ${srv.rps.toFixed(0)} req/s p50 ${srv.p50.toFixed(2)} p99 ${srv.p99.toFixed(2)} ms; bare ${bare.rps.toFixed(0)} run/s p50 ${bare.p50.toFixed(2)} p99 ${bare.p99.toFixed(2)} ms`);
      const ratio = srv.rps / bare.rps;
      rows.push({ area: 'server', name: `${modelName} requests/s, concurrency ${c}`, value: srv.rps, unit: 'req/s', baseline: 'bare session.run loop', baselineValue: bare.rps, ratio, target: c === 8 ? '>= 0.8x bare' : 'report', meets: c === 8 ? ratio >= 0.8 : true, reading: `sessions run on worker threads, so JSON parsing and HTTP overlap the runs; but on ${availableParallelism()} cores CPU time is the limit: ${cpu} (the client shares the cores)` });
      rows.push({ area: 'server', name: `${modelName} p50 latency, concurrency ${c}`, value: srv.p50, unit: 'ms', baseline: 'bare session.run loop', baselineValue: bare.p50, ratio: srv.p50 / bare.p50, target: 'report', meets: true, reading: `p99 ${srv.p99.toFixed(2)} ms (bare ${bare.p99.toFixed(2)} ms)` });
    }
    // the load of issue 7: 10,000 requests at concurrency 64 mixing valid and invalid bodies
    const mix = requestMix({ name: 'cls', alias: 'x', shape: SHAPE, maxBody: 2 ** 20 });
    await runLoad({ url: server.url, mix, n: 3000, concurrency: 64 }); // RSS settles near 300 MiB after ~4,000 requests, then moves by ±15 MiB
    const rssBefore = await serverRss(server.url);
    const r = await runLoad({ url: server.url, mix, n: LOAD_N, concurrency: 64 });
    const rssAfter = await serverRss(server.url);
    const growth = (rssAfter - rssBefore) / 2 ** 20;
    const clean = r.dropped === 0 && r.fiveXX === 0 && r.wrong === 0;
    log(`   load: ${LOAD_N} at c=64: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(1)} p99 ${r.p99.toFixed(1)} ms, statuses ${JSON.stringify(r.byStatus)}, dropped ${r.dropped}, RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB${r.problems.length ? `, problems: ${r.problems.join('; ')}` : ''}`);
    rows.push({ area: 'server', name: `${modelName} load: ${LOAD_N} mixed requests at concurrency 64, p99`, value: r.p99, unit: 'ms', baseline: 'same load, p50', baselineValue: r.p50, ratio: r.p99 / r.p50, target: 'zero 5xx, zero dropped, p99 reported', meets: clean, reading: `${r.rps.toFixed(0)} req/s; half valid (3 protocols), half invalid (bad JSON, unknown alias, wrong count, wrong service, oversized); ${r.fiveXX} 5xx, ${r.dropped} dropped, ${r.wrong} wrong answers` });
    rows.push({ area: 'server', name: `${modelName} load: RSS growth after warm-up`, value: growth, unit: 'MiB', baseline: 'RSS after warm-up', baselineValue: rssBefore / 2 ** 20, ratio: rssAfter / rssBefore, target: `< ${RSS_BOUND_MIB} MiB growth`, meets: growth < RSS_BOUND_MIB, reading: 'sampled from /metrics after a 3,000-request warm-up and at the end; V8 heap and onnxruntime arena settle, then move by about ±15 MiB (no steady climb over 12,000 requests)' });
  } finally {
    await server.stop();
    await session.release();
  }
  rows.push({ area: 'server', name: 'bundle size (one platform)', value: bundleBytes / 2 ** 20, unit: 'MiB', baseline: 'onnxruntime-node all platforms', baselineValue: 290, ratio: bundleBytes / 2 ** 20 / 290, target: 'one platform only', meets: true, reading: `packaged .tgz ${(pkg.size / 2 ** 20).toFixed(1)} MiB; the native runtime is ~44 MiB of it` });
  return rows;
}
