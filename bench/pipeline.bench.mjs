// A pipeline request end to end vs the bare model run it contains. The model is the PP-ShiTu feature
// network (zoo/ppshitu_rec_pplcnet_x2_5, PP-LCNet x2.5 at 224x224: real compute) with made params, converted
// natively and bundled with --recipe imagenet; the request is PaddleClas's classification client body for
// daisy.jpg (decode, resize short 256, crop 224, normalise, model, top-1 label). Baseline: the same
// bundle's model.onnx run in the bench's process on the same [1,3,224,224] tensor shape, with the same
// runtime threads as one of the server's inference workers, one bare run after each request (a shared
// machine's load then weighs on both sides alike). Sequential requests: latency, not throughput. The
// reading gives the in-process time of the bundle's preprocessing chain and of the decode alone.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { madeParams } from './made-params.mjs';

const N = 40;
// requests before the timed ones: a server's first ~100 requests run colder code and take fresh
// memory from the OS (on a VM every first touch of a page is a costly fault: 600+ minor faults per
// request at first, ~30 once the allocator reuses its pages); a service is judged in steady state
const WARM = 100;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

export async function run({ root, tmp, shared, log }) {
  if (!shared) { log('   shared fixtures missing: pipeline bench skipped'); return []; }
  const cli = (args) => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'pserve.js'), ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    if (r.status !== 0) throw new Error(`pserve ${args[0]}: ${r.stderr}`);
  };
  await madeParams(root, join(shared, 'zoo', 'ppshitu_rec_pplcnet_x2_5'), join(tmp, 'model'));
  cli(['convert', '--dirname', join(tmp, 'model'), '--serving_server', join(tmp, 'ss'), '--serving_client', join(tmp, 'sc'), '--feed_alias_names', 'inputs', '--fetch_alias_names', 'prediction']);
  const bundle = join(tmp, 'bundle');
  cli(['bundle', '--recipe', 'imagenet', '--serving_server', join(tmp, 'ss'), '--labels', join(shared, 'pipeline', 'labels', 'imagenet.label'), '--out', bundle]);

  const workers = Math.min(2, availableParallelism());
  const threads = Math.max(1, Math.floor((availableParallelism() - 1) / workers));
  const child = spawn(process.execPath, ['server.mjs', '--port', '0'], { cwd: bundle, stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise((ok, fail) => {
    let out = '';
    const t = setTimeout(() => fail(new Error('server did not start')), 60000);
    child.stdout.on('data', (c) => { out += c; const m = /listening on (http:\/\/\S+)/.exec(out); if (m) { clearTimeout(t); ok(m[1]); } });
    child.on('exit', (code) => fail(new Error(`server exited ${code}`)));
  });
  const img = readFileSync(join(shared, 'pipeline', 'images', 'daisy.jpg')).toString('base64');
  const body = Buffer.from(`{"key": ["image"], "value": [${JSON.stringify(img)}]}`);
  // the client: one keep-alive connection, the body encoded once (fetch() adds ~1 ms of client work
  // per request to a latency that is measured end to end)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = () => new Promise((done, fail) => {
    const req = http.request(`${url}/imagenet/prediction`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => { try { done(JSON.parse(Buffer.concat(chunks).toString('utf8'))); } catch (e) { fail(e); } });
    });
    req.on('error', fail);
    req.end(body);
  });
  const ort = (await import(pathToFileURL(join(bundle, 'node_modules', 'onnxruntime-node', 'dist', 'index.js')).href).catch(() => import('onnxruntime-node')));
  const session = await (ort.default ?? ort).InferenceSession.create(join(bundle, 'models', 'imagenet', 'model.onnx'), { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  const Tensor = (ort.default ?? ort).Tensor;
  const x = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i) * 0.5);
  // a request, then a bare model run, alternately: both sides see the same load on a shared machine
  const pipe = [];
  const bare = [];
  try {
    for (let i = 0; i < N + WARM; i++) {
      let t0 = performance.now();
      const j = await post();
      if (j.err_no !== 0) throw new Error(`err_no ${j.err_no}: ${j.err_msg}`);
      if (i >= WARM) pipe.push(performance.now() - t0);
      t0 = performance.now();
      await session.run({ [session.inputNames[0]]: new Tensor('float32', x, [1, 3, 224, 224]) });
      if (i >= WARM) bare.push(performance.now() - t0);
    }
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    await session.release();
  }

  // where the time over the model goes: the bundle's own preprocessing chain (decode -> ... -> stack,
  // the one step-worker job of a request) and the decode alone, run here in-process on the same bytes
  const srv = (p) => import(pathToFileURL(join(bundle, 'server', p)).href);
  const { parseYaml } = await srv('config.mjs');
  const { checkPipeline, planUnits } = await srv('pipeline/pipeline.mjs');
  const { STEPS } = await srv('pipeline/steps.mjs');
  const { runChain } = await srv('pipeline/chain.mjs');
  const checked = checkPipeline(parseYaml(readFileSync(join(bundle, 'config.yml'), 'utf8')).pipeline);
  const chain = planUnits(checked.steps.map((s) => ({ ...s, kind: STEPS[s.op] })), checked.response).find((u) => u.offload);
  const members = chain.members.map((m) => ({ op: m.op, params: m.params, step: m.name }));
  const bytes = Buffer.from(img, 'base64');
  const timeIt = async (f) => { const ts = []; for (let i = 0; i < N + 10; i++) { const t0 = performance.now(); await f(); if (i >= 10) ts.push(performance.now() - t0); } return median(ts); };
  const pre = await timeIt(() => runChain(members, { in: [bytes] }));
  const dec = await timeIt(() => runChain(members.slice(0, 1), { in: [bytes] }));

  const p50 = median(pipe);
  const b50 = median(bare);
  log(`   pipeline p50 ${p50.toFixed(1)} ms, bare model p50 ${b50.toFixed(1)} ms (${threads} thread(s)); in-process preprocessing chain ${pre.toFixed(1)} ms (${members.map((m) => m.step).join(' -> ')}), decode alone ${dec.toFixed(1)} ms`);
  return [{
    area: 'pipeline',
    name: 'imagenet recipe request p50 (daisy.jpg 500x563, PP-LCNet x2.5 224x224)',
    value: p50,
    unit: 'ms',
    baseline: `the bundle's model alone (bench process, ${threads} runtime thread(s), one run after each request)`,
    baselineValue: b50,
    ratio: p50 / b50,
    target: '<= 1.2x the bare model run',
    meets: p50 / b50 <= 1.2,
    reading: `steady state (after ${WARM} warm-up requests), one request at a time, so the image work adds to the model time: a request alone runs its preprocessing chain on the HTTP thread (decode -> resize of the crop's window -> one-pass normalise + CHW -> stack), ${pre.toFixed(1)} ms in-process, of which the JPEG decode (WebAssembly kernels) is ${dec.toFixed(1)} ms; then the model on an inference worker (two thread hops), top-1 and Python str(); the rest is HTTP + JSON + base64 on both sides`,
  }];
}
