/**
 * `pserve export triton|k8s|dockerfile` through the real CLI. config.pbtxt is parsed by protobuf's
 * own text-format parser against a model_config.proto written from Triton's definition (protoc +
 * python3-protobuf), and the exported model is run in onnxruntime under the config's names;
 * Kubernetes objects are validated with kubernetes-models (the Kubernetes OpenAPI schemas) and the
 * InferenceService against a JSON schema of KServe's v1beta1 API; the bundle is started the way
 * the Deployment's command line starts it and the configured probe paths are asked.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Pod, Service } from 'kubernetes-models/v1';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { openSession } from '../src/runtime/onnx-runtime.js';
import { PY, ROOT, cliJson, describeShared, pyHas, shared, tempDir } from './helpers.js';

const havePy = pyHas('google.protobuf') && spawnSync('protoc', ['--version']).status === 0;
if (!havePy && process.env['CI']) throw new Error('protoc is missing, which the config.pbtxt checks need in CI (apt-get install protobuf-compiler)');
if (!havePy) console.warn('[export tests] python3-protobuf or protoc missing: config.pbtxt is not parsed against model_config.proto here (CI installs them)');

/** config.pbtxt -> JSON through protobuf's text-format parser on our model_config.proto */
function parsePbtxt(file: string): any {
  const dir = mkdtempSync(join(tmpdir(), 'pserve-pb-'));
  const protoDir = join(ROOT, 'test', 'proto');
  const c = spawnSync('protoc', [`-I${protoDir}`, `--python_out=${dir}`, join(protoDir, 'model_config.proto')], { encoding: 'utf8' });
  if (c.status !== 0) throw new Error(c.stderr);
  const r = spawnSync(PY, ['-c', [
    'import sys, json', `sys.path.insert(0, ${JSON.stringify(dir)})`, 'import model_config_pb2 as m',
    'from google.protobuf import text_format, json_format',
    'c = text_format.Parse(open(sys.argv[1]).read(), m.ModelConfig())',
    'print(json.dumps(json_format.MessageToDict(c, preserving_proto_field_name=True, including_default_value_fields=False)))',
  ].join('\n'), file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`text_format.Parse refused ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return p;
}

const X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332];

describeShared('pserve export', () => {
  const tmp = tempDir('pserve-export-');

  it('triton: a model repository whose config.pbtxt parses as Triton\'s ModelConfig and matches the model; the model answers under the config\'s names', async () => {
    expect(cliJson<any>(['convert', '--dirname', shared('uci_housing', 'uci_housing_model'), '--fetch_alias_names', 'price'], { cwd: tmp }).code).toBe(0);
    expect(cliJson<any>(['bundle', '--serving_server', 'serving_server', '--serving_client', 'serving_client', '--out', 'uci', '--name', 'uci'], { cwd: tmp }).code).toBe(0);
    const r = cliJson<any>(['export', 'triton', '--bundle', 'uci', '--out', 'repo'], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, command: 'export', target: 'triton', out: join(tmp, 'repo'), maxBatchSize: 8 });
    expect(readdirSync(join(tmp, 'repo', 'uci')).sort()).toEqual(['1', 'config.pbtxt']);
    expect(readdirSync(join(tmp, 'repo', 'uci', '1'))).toEqual(['model.onnx']);

    const session = await openSession(join(tmp, 'repo', 'uci', '1', 'model.onnx'));
    try {
      if (havePy) {
        const c = parsePbtxt(join(tmp, 'repo', 'uci', 'config.pbtxt'));
        expect(c).toEqual({
          name: 'uci', platform: 'onnxruntime_onnx', version_policy: { latest: { num_versions: 1 } }, max_batch_size: 8,
          input: [{ name: 'x', data_type: 'TYPE_FP32', dims: ['13'] }],
          output: [{ name: 'price', data_type: 'TYPE_FP32', dims: ['1'] }],
          instance_group: [{ count: 2, kind: 'KIND_CPU' }],
          dynamic_batching: { preferred_batch_size: [8] },
        });
        // every config tensor is the model's, by name and type, with the batch dim dropped
        for (const [list, io] of [[c.input, session.inputs], [c.output, session.outputs]] as const) {
          for (const t of list) {
            const m = io.find((v) => v.name === t.name);
            expect(m, t.name).toBeDefined();
            expect(m!.dtype).toBe('float32');
            expect(m!.shape.slice(1).map(String)).toEqual(t.dims);
          }
        }
      }
      // the renamed model answers the recorded price under the alias the clients use
      const out = await session.run({ x: { dtype: 'float32', dims: [1, 13], data: Float32Array.from(X) } });
      expect(Object.keys(out)).toEqual(['price']);
      expect(Math.abs((out['price']!.data as Float32Array)[0]! - 18.901151657104492)).toBeLessThan(1e-5);
    } finally { await session.close(); }

    // --device gpu, and refusals: an existing output without --force, a folder that is no bundle
    expect(cliJson<any>(['export', 'triton', '--bundle', 'uci', '--out', 'repo'], { cwd: tmp }).json.error.code).toBe('E_EXISTS');
    const gpu = cliJson<any>(['export', 'triton', '--bundle', 'uci', '--out', 'repo', '--force', '--device', 'gpu'], { cwd: tmp });
    expect(gpu.json.instanceGroup).toEqual({ kind: 'KIND_GPU', count: 2 });
    if (havePy) expect(parsePbtxt(join(tmp, 'repo', 'uci', 'config.pbtxt')).instance_group).toEqual([{ count: 2, kind: 'KIND_GPU' }]);
    expect(cliJson<any>(['export', 'triton', '--bundle', 'serving_server'], { cwd: tmp }).json.error.code).toBe('E_BUNDLE_NO_MANIFEST');
    expect(cliJson<any>(['export', 'nope', '--bundle', 'uci'], { cwd: tmp }).code).toBe(2);
  });

  it('k8s: objects valid against the Kubernetes schemas and KServe\'s API; the Deployment\'s command line serves its probe paths', async () => {
    const port = await freePort();
    expect(cliJson<any>(['bundle', '--serving_server', 'serving_server', '--out', 'k', '--name', 'uci', '--port', String(port)], { cwd: tmp }).code).toBe(0);
    expect(cliJson<any>(['export', 'k8s', '--bundle', 'k'], { cwd: tmp }).code).toBe(2); // --image is required
    const r = cliJson<any>(['export', 'k8s', '--bundle', 'k', '--image', 'registry.example/uci:1', '--out', 'k8s', '--replicas', '2', '--namespace', 'models'], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
    const load = (f: string) => parseYaml(readFileSync(join(tmp, 'k8s', f), 'utf8'));
    const dep = load('deployment.yaml');
    new Deployment(dep).validate();
    new Service(load('service.yaml')).validate();
    new HorizontalPodAutoscaler(load('hpa.yaml')).validate();
    const c = dep.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/v2/health/live');
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c.resources.requests).toEqual({ cpu: '1', memory: '1Gi' });
    expect(dep.spec.template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });
    expect(dep.metadata.namespace).toBe('models');
    expect(dep.spec.replicas).toBe(2);

    const ajv = new Ajv({ allErrors: true, strict: false });
    const checkIsvc = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'test', 'schemas', 'kserve-inferenceservice-v1beta1.schema.json'), 'utf8')));
    const custom = load('inferenceservice.yaml');
    expect(checkIsvc(custom), JSON.stringify(checkIsvc.errors)).toBe(true);
    new Pod({ metadata: { name: 'p' }, spec: { containers: custom.spec.predictor.containers } }).validate();
    const withRepo = cliJson<any>(['export', 'k8s', '--bundle', 'k', '--image', 'registry.example/uci:1', '--out', 'k8s-triton', '--storage-uri', 's3://models/uci-repo'], { cwd: tmp });
    const triton = parseYaml(readFileSync(join(tmp, 'k8s-triton', 'inferenceservice.yaml'), 'utf8'));
    expect(withRepo.json.inferenceService).toBe('triton');
    expect(checkIsvc(triton), JSON.stringify(checkIsvc.errors)).toBe(true);
    expect(triton.spec.predictor.model).toMatchObject({ modelFormat: { name: 'onnx' }, storageUri: 's3://models/uci-repo', protocolVersion: 'v2' });
    // a broken object is refused by the same checks
    expect(checkIsvc({ ...custom, spec: { predictor: { model: { storageUri: 'x' } } } })).toBe(false);
    expect(() => new Deployment({ ...dep, spec: { ...dep.spec, replicas: 'two' } }).validate()).toThrow();

    // start the bundle as the container's command line does (in the bundle folder: the image's WORKDIR)
    const [cmd, ...args] = c.command as string[];
    expect(cmd).toBe('node');
    const child = spawn(process.execPath, args, { cwd: join(tmp, 'k'), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((ok, fail) => {
        const t = setTimeout(() => fail(new Error('the server did not listen')), 60_000);
        child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('listening on')) { clearTimeout(t); ok(); } });
      });
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        const res = await fetch(`http://127.0.0.1:${port}${probe.httpGet.path}`);
        expect(res.status, probe.httpGet.path).toBe(200);
      }
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((ok) => child.on('close', ok));
    }
  });

  it('dockerfile: pinned base, non-root, HEALTHCHECK on ready, EXPOSE; same bundle, same bytes', () => {
    const a = cliJson<any>(['export', 'dockerfile', '--bundle', 'k', '--out', 'd1'], { cwd: tmp });
    expect(a.code, a.stderr).toBe(0);
    const b = cliJson<any>(['export', 'dockerfile', '--bundle', 'k', '--out', 'd2'], { cwd: tmp });
    const text = readFileSync(join(tmp, 'd1', 'Dockerfile'), 'utf8');
    expect(readFileSync(join(tmp, 'd2', 'Dockerfile'), 'utf8')).toBe(text);
    expect(b.json.files.map((f: string) => f.replace(join(tmp, 'd2'), ''))).toEqual(['/.dockerignore', '/Dockerfile', '/Dockerfile.dockerignore']);
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    const from = lines.find((l) => l.startsWith('FROM '))!;
    expect(from).toMatch(/ node:\d+\.\d+\.\d+-[a-z]+-slim$/);
    expect(lines).toContain('USER node');
    expect(lines.findIndex((l) => l === 'USER node')).toBeGreaterThan(lines.findIndex((l) => l.startsWith('COPY ')));
    const m = JSON.parse(readFileSync(join(tmp, 'k', 'manifest.json'), 'utf8'));
    expect(lines).toContain(`EXPOSE ${m.server.port}`);
    expect(lines.find((l) => l.startsWith('HEALTHCHECK '))).toContain('/v2/health/ready');
    expect(lines.at(-1)).toMatch(/^CMD \["node", "server\.mjs"/);
  });
});

describe('pserve export triton of a pipeline bundle', () => {
  const tmp = tempDir('pserve-export-pipe-');
  it('writes each model of the pipeline as a Triton model named as the front asks for it', async () => {
    expect(cliJson<any>(['convert', '--dirname', join(ROOT, 'fixtures', 'tiny_classifier'), '--serving_server', 'srv', '--serving_client', 'cli'], { cwd: tmp }).code).toBe(0);
    writeFileSync(join(tmp, 'labels.txt'), 'a,\nb,\nc,\nd,\n');
    expect(cliJson<any>(['bundle', '--recipe', 'imagenet', '--serving_server', 'srv', '--labels', 'labels.txt', '--out', 'pf'], { cwd: tmp }).code).toBe(0);
    const r = cliJson<any>(['export', 'triton', '--bundle', 'pf', '--out', 'repo'], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.models.map((m: any) => m.model)).toEqual(['imagenet']);
    expect(r.json.front).toMatch(/--model-backend/);
    const session = await openSession(join(tmp, 'repo', 'imagenet', '1', 'model.onnx'));
    try {
      if (havePy) {
        const c = parsePbtxt(join(tmp, 'repo', 'imagenet', 'config.pbtxt'));
        expect(c).toMatchObject({ name: 'imagenet', platform: 'onnxruntime_onnx', max_batch_size: 8, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: ['3', '32', '32'] }] });
        expect(c.output.map((o: any) => o.name)).toEqual(session.outputs.map((o) => o.name));
      }
      expect(session.inputs.map((i) => i.name)).toEqual(['x']);
    } finally { await session.close(); }
  });
});

describe('pserve export triton: a pipeline of models only is a Triton ensemble', () => {
  const tmp = tempDir('pserve-export-ens-');
  it('the ensemble parses as ModelConfig and references only models of the repository, with their tensor names and types; the pipeline itself answers', async () => {
    expect(cliJson<any>(['convert', '--dirname', join(ROOT, 'fixtures', 'tiny_classifier'), '--serving_server', 'srv', '--serving_client', 'cli'], { cwd: tmp }).code).toBe(0);
    writeFileSync(join(tmp, 'labels.txt'), 'a,\nb,\nc,\nd,\n');
    expect(cliJson<any>(['bundle', '--recipe', 'imagenet', '--serving_server', 'srv', '--labels', 'labels.txt', '--out', 'pf'], { cwd: tmp }).code).toBe(0);
    // the pipeline as data: a request tensor straight into the model, no image steps
    const cfgFile = join(tmp, 'pf', 'config.yml');
    const cfg = readFileSync(cfgFile, 'utf8');
    const models = cfg.slice(cfg.indexOf('  models:'), cfg.indexOf('  steps:'));
    writeFileSync(cfgFile, `${cfg.slice(0, cfg.indexOf('\npipeline:\n') + 1)}pipeline:\n${models}  steps:\n    x:\n      op: request_tensor\n      key: x\n      shape: [-1, 3, 32, 32]\n    scores:\n      op: model\n      model: imagenet\n      feeds:\n        x: x\n      fetch: [softmax_0.tmp_0]\n  response:\n    prob: scores.softmax_0.tmp_0\n`);
    const r = cliJson<any>(['export', 'triton', '--bundle', 'pf', '--out', 'repo'], { cwd: tmp });
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect(r.json.ensemble).toBe('imagenet_ensemble');
    expect(readdirSync(join(tmp, 'repo')).sort()).toEqual(['imagenet', 'imagenet_ensemble']);
    expect(readdirSync(join(tmp, 'repo', 'imagenet_ensemble')).sort()).toEqual(['1', 'config.pbtxt']);
    if (havePy) {
      const ens = parsePbtxt(join(tmp, 'repo', 'imagenet_ensemble', 'config.pbtxt'));
      expect(ens).toMatchObject({ name: 'imagenet_ensemble', platform: 'ensemble', max_batch_size: 8, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: ['3', '32', '32'] }], output: [{ name: 'prob', data_type: 'TYPE_FP32', dims: ['4'] }] });
      // every step names a model of the repository, and maps its real tensor names with the same types
      for (const step of ens.ensemble_scheduling.step) {
        const m = parsePbtxt(join(tmp, 'repo', step.model_name, 'config.pbtxt'));
        expect(Object.keys(step.input_map).sort()).toEqual(m.input.map((t: any) => t.name).sort());
        for (const [k, v] of Object.entries(step.output_map)) {
          const t = m.output.find((o: any) => o.name === k);
          expect(t, k).toBeDefined();
          const ensOut = ens.output.find((o: any) => o.name === v);
          if (ensOut) expect(ensOut.data_type).toBe(t.data_type);
        }
        for (const [k, v] of Object.entries(step.input_map)) {
          const t = m.input.find((i: any) => i.name === k);
          expect(ens.input.find((i: any) => i.name === v)?.data_type).toBe(t.data_type);
        }
      }
    }
    // the same config.yml runs in the bundle: upstream's text form of a tensor in, the model's probabilities out
    const child = spawn(process.execPath, ['server.mjs', '--port', '0'], { cwd: join(tmp, 'pf'), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((ok, fail) => {
        let out = '';
        const t = setTimeout(() => fail(new Error('no listening line')), 60_000);
        child.stdout.on('data', (d: Buffer) => { out += d.toString(); const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out); if (m) { clearTimeout(t); ok(m[1]!); } });
      });
      const values = Array.from({ length: 3 * 32 * 32 }, (_, i) => ((i % 17) / 17).toFixed(3)).join(', ');
      const res = await (await fetch(`${url}/imagenet/prediction`, { method: 'POST', body: JSON.stringify({ key: ['x'], value: [values] }) })).json() as any;
      expect(res.err_no, res.err_msg).toBe(0);
      expect(res.key).toEqual(['prob']);
    } finally {
      child.kill('SIGTERM');
      await new Promise((ok) => child.on('close', ok));
    }
  }, 120_000);
});

describe('pserve export usage', () => {
  it('needs a target and --bundle', () => {
    expect(cliJson<any>(['export', 'triton']).code).toBe(2);
  });
});
