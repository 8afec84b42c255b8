/** pserve bundle / smoke / package: layout, manifest, one platform's runtime, tamper detection, reproducible archives. */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { x as untar } from 'tar';
import { verifyBundle, readManifest, listFiles, sha256File } from '../src/bundle/manifest.js';
import { tarHeader, FIXED_MTIME } from '../src/bundle/package.js';
import { shapesFromInferenceYml, startBundleServer } from '../src/bundle/smoke.js';
import { renderConfigYml } from '../src/bundle/config-yml.js';
// the server template is plain JS that a recipient runs; its readers are exported for these tests
// @ts-expect-error no typings for the template
import { parseYaml, parseServingConf } from '../templates/server/config.mjs';
import { uciHousingOnnx } from './onnx-test-models.js';
import { ROOT, cli, cliJson, describeShared, shared, tempDir, walkFiles, writableCopy } from './helpers.js';

describe('config readers of the server template', () => {
  it('reads the config.yml that bundle writes back to what it says', () => {
    const text = renderConfigYml({ name: 'uci', port: 9393, device: 'auto', fetchAliases: ['price', 'b'], pserveVersion: '0.1.0' });
    expect(parseYaml(text)).toEqual({
      http_port: 9393, rpc_port: 0, worker_num: 1, dag: { is_thread_op: false },
      op: { uci: { concurrency: 1, local_service_conf: { client_type: 'local_predictor', model_config: 'serving_server', device_type: 0, devices: '', fetch_list: ['price', 'b'], thread_num: 0 } } },
      pserve: { model: 'model.onnx', host: '127.0.0.1', device: 'auto', max_batch: 8, workers: 0, max_body_bytes: 16777216, header_timeout_ms: 10000, body_timeout_ms: 30000, drain_timeout_ms: 10000 },
    });
  });

  it('reads hand-written Paddle Serving YAML: block lists, comments, quotes', () => {
    const y = parseYaml('# c\nop:\n  det:   # the op\n    local_service_conf:\n      fetch_list:\n      - "a#b"\n      - c\n      device_type: 1\nhttp_port: 18080\n');
    expect(y).toEqual({ op: { det: { local_service_conf: { fetch_list: ['a#b', 'c'], device_type: 1 } } }, http_port: 18080 });
    expect(() => parseYaml('a: 1\n   b: 2\n')).toThrow(/unexpected indentation/);
  });

  it('reads serving confs, including <...> blocks and hand-edited shape lists', () => {
    const c = parseServingConf('feed_var { name: "x" alias_name: "img" is_lod_tensor: false feed_type: 1 shape: 3 shape: 48 }\nfetch_var < name: \'y\' fetch_type: 1 >\n');
    expect(c).toEqual({ feeds: [{ name: 'x', alias: 'img', type: 1, lod: false, shape: [3, 48] }], fetches: [{ name: 'y', alias: 'y', type: 1, lod: false, shape: [] }] });
  });

  it('takes unknown dims from inference.yml (the opt shape of trt_dynamic_shapes)', () => {
    const yml = readFileSync(shared('pplcnet_textline_ori_pir', 'inference.yml'), 'utf8');
    expect(shapesFromInferenceYml(yml)).toEqual({ x: [1, 3, 80, 160] });
  });
});

describe('package tar headers', () => {
  it('writes fixed owner, time and mode, and a valid checksum', () => {
    const h = tarHeader('b/model.onnx', 294, 'file');
    expect(h.length).toBe(512);
    expect(h.subarray(0, 12).toString()).toBe('b/model.onnx');
    expect(h.subarray(100, 107).toString()).toBe('0000644');
    expect(parseInt(h.subarray(136, 147).toString(), 8)).toBe(FIXED_MTIME);
    const sum = [...h].reduce((a, b, i) => a + (i >= 148 && i < 156 ? 32 : b), 0);
    expect(parseInt(h.subarray(148, 154).toString(), 8)).toBe(sum);
    const long = `${'d'.repeat(120)}/${'f'.repeat(90)}`;
    expect(tarHeader(long, 1, 'file').subarray(345, 465).toString().replace(/\0+$/, '')).toBe('d'.repeat(120));
    expect(() => tarHeader('x'.repeat(300), 1, 'file')).toThrow(/too long/);
  });
});

describeShared('pserve bundle, smoke, package on uci_housing', () => {
  const work = tempDir('pserve-bundle-');
  const dir = join(work, 'uci');

  beforeAll(() => {
    const r = cliJson(['bundle', '--serving_server', shared('uci_housing', 'uci_housing_model'), '--out', dir, '--name', 'uci']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, name: 'uci', onnx: { from: 'converted' } });
  }, 60_000);

  it('writes the bundle layout, a manifest that verifies, and one platform of native binaries', () => {
    for (const f of ['model.onnx', 'config.yml', 'server.mjs', 'README.md', 'manifest.json',
      'server/config.mjs', 'server/numbers.mjs', 'server/tensors.mjs', 'server/protocols.mjs',
      'server/inference.mjs', 'server/infer-worker.mjs', 'server/metrics.mjs',
      'serving_server/serving_server_conf.prototxt', 'serving_server/__model__',
      'serving_client/serving_client_conf.prototxt', 'serving_client/serving_client_conf.stream.prototxt']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    expect(readFileSync(join(dir, 'serving_client/serving_client_conf.prototxt'), 'utf8'))
      .toBe(readFileSync(shared('uci_housing', 'uci_housing_model', 'serving_server_conf.prototxt'), 'utf8'));
    const m = readManifest(dir);
    expect(m).toMatchObject({
      name: 'uci', format: 'pserve-bundle', runtime: { name: 'onnxruntime-node', platform: `${process.platform}-${process.arch}` },
      feeds: [{ name: 'x', alias: 'x', dtype: 'float32', shape: [-1, 13], servingShape: [13] }],
      fetches: [{ name: 'fc_0.tmp_1', alias: 'price', dtype: 'float32', shape: [-1, 1] }],
    });
    expect(m.createdFrom.model?.file).toBe('__model__');
    expect(m.files.map((f) => f.path)).toEqual(listFiles(dir).filter((p) => p !== 'manifest.json'));
    expect(verifyBundle(dir)).toMatchObject({ ok: true, problems: [] });
    // every module of the server template (sub-folders and the .proto files included) travels, byte
    // for byte, listed with its sha256
    const templateServer = join(ROOT, 'templates', 'server');
    for (const file of walkFiles(templateServer)) {
      const n = relative(templateServer, file).split(sep).join('/');
      if (!/\.(mjs|proto)$/.test(n)) continue;
      expect(m.files.find((f) => f.path === `server/${n}`)?.sha256, n).toBe(sha256File(file));
    }
    const napi = join(dir, 'node_modules/onnxruntime-node/bin/napi-v6');
    expect(readdirSync(napi)).toEqual([process.platform]);
    expect(readdirSync(join(napi, process.platform))).toEqual([process.arch]);
    expect(m.files.some((f) => f.path.endsWith('.map') || f.path.endsWith('.d.ts'))).toBe(false);
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).toMatch(/\/uci\/prediction/);
    expect(readme).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(readme).not.toMatch(/\{\{[A-Z_]+\}\}/);
  });

  it('smoke passes on a good bundle (--json)', () => {
    const r = cliJson<any>(['smoke', dir]);
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.checks.map((c: any) => c.name)).toEqual(['ready', 'web service', 'pipeline', 'kserve v2', 'kserve v2 binary', 'metrics', 'SIGTERM']);
  }, 60_000);

  it('smoke sends a batch of 3 rows and expects 3 rows back on every protocol', () => {
    const r = cliJson<any>(['smoke', dir, '--shape', 'x=3,13']);
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect(r.json.inputs.x).toEqual({ dtype: 'float32', shape: [3, 13], shapeFrom: '--shape' });
    for (const name of ['web service', 'pipeline', 'kserve v2', 'kserve v2 binary']) {
      expect(r.json.checks.find((c: any) => c.name === name).detail).toBe('price [3,1]');
    }
  }, 60_000);

  it('smoke fails with exit 1 and E_BUNDLE_TAMPERED on an altered model file', () => {
    const bad = join(work, 'tampered');
    cpSync(dir, bad, { recursive: true });
    const onnx = readFileSync(join(bad, 'model.onnx'));
    onnx[onnx.length - 1] ^= 1;
    writeFileSync(join(bad, 'model.onnx'), onnx);
    const r = cliJson<any>(['smoke', bad]);
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_BUNDLE_TAMPERED');
    expect(r.json.error.message).toMatch(/model\.onnx: sha256/);
    const text = cli(['smoke', bad]);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/E_BUNDLE_TAMPERED: the bundle does not match its manifest: model\.onnx/);
  });

  it('bundle refuses an --out inside --serving_server (usage error, nothing written)', () => {
    const srv = writableCopy(shared('uci_housing', 'uci_housing_model'), join(work, 'src-model'));
    const r = cliJson<any>(['bundle', '--serving_server', srv, '--out', join(srv, 'nested-bundle')]);
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('E_USAGE');
    expect(readdirSync(srv).filter((e) => e.includes('nested-bundle'))).toEqual([]);
  });

  it('bundle takes --onnx as given and checks its options', () => {
    const onnxFile = join(work, 'given.onnx');
    writeFileSync(onnxFile, uciHousingOnnx(shared('uci_housing', 'uci_housing_model')));
    const r = cliJson<any>(['bundle', '--serving_server', shared('uci_housing', 'uci_housing_model'), '--onnx', onnxFile, '--out', join(work, 'given'), '--platform', 'linux-arm64']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ name: 'uci_housing', platform: 'linux-arm64', onnx: { from: 'given' } });
    expect(readFileSync(join(work, 'given', 'model.onnx'))).toEqual(readFileSync(onnxFile));
    expect(readdirSync(join(work, 'given/node_modules/onnxruntime-node/bin/napi-v6/linux'))).toEqual(['arm64']);

    const again = cliJson<any>(['bundle', '--serving_server', shared('uci_housing', 'uci_housing_model'), '--onnx', onnxFile, '--out', join(work, 'given')]);
    expect(again.code).toBe(1);
    expect(again.json.error.code).toBe('E_EXISTS');
    const plat = cliJson<any>(['bundle', '--serving_server', shared('uci_housing', 'uci_housing_model'), '--onnx', onnxFile, '--out', join(work, 'p'), '--platform', 'beos-m68k']);
    expect(plat.code).toBe(2);
    expect(plat.json.error.code).toBe('E_USAGE');
    expect(plat.json.error.message).toMatch(/--platform: expected one of linux-x64/);
    expect(existsSync(join(work, 'p'))).toBe(false);
    const noConf = cliJson<any>(['bundle', '--serving_server', shared('mnist_mlp'), '--onnx', onnxFile, '--out', join(work, 'q')]);
    expect(noConf.code).toBe(1);
    expect(noConf.json.error.code).toBe('E_SERVING_CONF_MISSING');
    const usage = cliJson<any>(['bundle', '--serving_server', shared('uci_housing', 'uci_housing_model')]);
    expect(usage.code).toBe(2);
    expect(usage.json.error.code).toBe('E_USAGE');
    const name = cliJson<any>(['bundle', '--serving_server', shared('uci_housing', 'uci_housing_model'), '--onnx', onnxFile, '--out', join(work, 'n'), '--name', 'a/b']);
    expect(name.code).toBe(2);
  }, 60_000);

  it('package gives identical bytes twice, with file times changed in between', async () => {
    const a = cliJson<any>(['package', dir, '--out', join(work, 'a.tgz')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json).toMatchObject({ ok: true, top: 'uci' });
    const old = new Date('2011-03-04T05:06:07Z');
    for (const f of listFiles(dir, { withDirs: true })) utimesSync(join(dir, f), old, old);
    utimesSync(join(dir, 'model.onnx'), new Date(), new Date());
    const b = cliJson<any>(['package', dir, '--out', join(work, 'b.tgz')]);
    expect(b.code).toBe(0);
    const ba = readFileSync(join(work, 'a.tgz'));
    expect(readFileSync(join(work, 'b.tgz')).equals(ba)).toBe(true);
    expect(b.json.sha256).toBe(a.json.sha256);
    expect(b.json.size).toBe(ba.length);
    expect(ba.readUInt32LE(4)).toBe(0);
    // the archive unpacks to the bundle, which still verifies and runs
    const out = join(work, 'unpacked');
    mkdirSync(out);
    await untar({ file: join(work, 'a.tgz'), cwd: out });
    expect(verifyBundle(join(out, 'uci')).ok).toBe(true);
    expect(gunzipSync(ba).subarray(0, 4).toString()).toBe('uci/');
  }, 60_000);
});

describeShared('pserve smoke on converted image models', () => {
  const work = tempDir('pserve-smoke-');
  it('ppocrv3_det (dynamic H/W) with --shape', () => {
    const c = cli(['convert', '--dirname', shared('ppocrv3_det'), '--serving_server', join(work, 'srv'), '--serving_client', join(work, 'cli')]);
    expect(c.code, c.stderr).toBe(0);
    const b = cliJson<any>(['bundle', '--serving_server', join(work, 'srv'), '--out', join(work, 'det'), '--name', 'det']);
    expect(b.code, b.stderr).toBe(0);
    const r = cliJson<any>(['smoke', join(work, 'det'), '--shape', 'x=1,3,96,128']);
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect(r.json.inputs.x).toEqual({ dtype: 'float32', shape: [1, 3, 96, 128], shapeFrom: '--shape' });
    expect(r.json.checks.find((c: any) => c.name === 'kserve v2').detail).toMatch(/\[1,1,96,128\]/);
  }, 120_000);

  it('ppocr_cls_v2 (dynamic H/W) with the default shape for unknown dims', () => {
    const c = cli(['convert', '--dirname', shared('ppocr_cls_v2'), '--serving_server', join(work, 'cls-srv'), '--serving_client', join(work, 'cls-cli')]);
    expect(c.code, c.stderr).toBe(0);
    const b = cliJson<any>(['bundle', '--serving_server', join(work, 'cls-srv'), '--out', join(work, 'cls'), '--name', 'cls']);
    expect(b.code, b.stderr).toBe(0);
    const r = cliJson<any>(['smoke', join(work, 'cls')]);
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.checks.every((k: any) => k.ok)).toBe(true);
    expect(r.json.checks.find((k: any) => k.name === 'kserve v2').detail).toMatch(/\[1,2\]/);
  }, 120_000);
});

/** `unshare -rn` gives a network namespace whose loopback is down; not every machine allows it */
const canUnshare = spawnSync('unshare', ['-rn', 'true']).status === 0;

describe('bundle, smoke and package on the project\'s own tiny_classifier', () => {
  const work = tempDir('pserve-tiny-');
  const sample = join(ROOT, 'fixtures', 'tiny_classifier');
  // the same sources converted and bundled in two different folders
  const one = join(work, 'one', 'b');
  const two = join(work, 'elsewhere', 'deeper', 'b');

  beforeAll(() => {
    for (const b of [one, two]) {
      const root = join(b, '..');
      const c = cli(['convert', '--dirname', sample, '--model_filename', 'inference.pdmodel', '--params_filename', 'inference.pdiparams', '--serving_server', join(root, 'srv'), '--serving_client', join(root, 'cli')]);
      expect(c.code, c.stderr).toBe(0);
      const r = cliJson(['bundle', '--serving_server', join(root, 'srv'), '--serving_client', join(root, 'cli'), '--out', b, '--name', 'tiny']);
      expect(r.code, r.stderr).toBe(0);
    }
  }, 60_000);

  const copyOf = (name: string) => {
    const d = join(work, name);
    rmSync(d, { recursive: true, force: true });
    cpSync(one, d, { recursive: true });
    return d;
  };

  it('the manifest holds no absolute path: bundles built in two folders pack to the same bytes', () => {
    const m = readManifest(one);
    expect(m.createdFrom.servingServer).toBe('srv');
    expect(JSON.stringify(m)).not.toContain(work);
    expect(m.createdFrom.model).toMatchObject({ file: 'inference.pdmodel' });
    const a = cliJson<any>(['package', one, '--out', join(work, 'one.tgz')]);
    const b = cliJson<any>(['package', two, '--out', join(work, 'two.tgz')]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(readFileSync(join(work, 'two.tgz')).equals(readFileSync(join(work, 'one.tgz')))).toBe(true);
  });

  it('package refuses a tampered bundle (same size, one byte flipped) with E_BUNDLE_TAMPERED and writes nothing', () => {
    const bad = copyOf('flipped');
    const onnx = readFileSync(join(bad, 'model.onnx'));
    onnx[onnx.length >> 1] ^= 1;
    writeFileSync(join(bad, 'model.onnx'), onnx);
    const r = cliJson<any>(['package', bad, '--out', join(work, 'flipped.tgz')]);
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_BUNDLE_TAMPERED');
    expect(r.json.error.message).toMatch(/model\.onnx: sha256/);
    expect(existsSync(join(work, 'flipped.tgz'))).toBe(false);
    rmSync(join(bad, 'README.md'));
    const gone = cliJson<any>(['package', bad, '--out', join(work, 'flipped.tgz')]);
    expect(gone.json.error.code).toBe('E_BUNDLE_TAMPERED');
    expect(gone.json.error.message).toMatch(/README\.md: missing/);
  });

  it('package, smoke and serve refuse files and folders that manifest.json does not list (E_BUNDLE_UNLISTED)', () => {
    const extra = copyOf('extra');
    writeFileSync(join(extra, 'extra.txt'), 'not built by pserve\n');
    mkdirSync(join(extra, 'serving_server', 'empty'));
    expect(verifyBundle(extra)).toMatchObject({ ok: false, problems: [], unlisted: ['extra.txt', 'serving_server/empty/'] });
    const p = cliJson<any>(['package', extra, '--out', join(work, 'extra.tgz')]);
    expect(p.code).toBe(1);
    expect(p.json.error.code).toBe('E_BUNDLE_UNLISTED');
    expect(p.json.error.message).toMatch(/2 file\(s\) that manifest\.json does not list: extra\.txt, serving_server\/empty\//);
    expect(existsSync(join(work, 'extra.tgz'))).toBe(false);
    const s = cli(['smoke', extra]);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/E_BUNDLE_UNLISTED: .*extra\.txt/);
    expect(s.stdout).toBe('');
    const v = cliJson<any>(['serve', extra]);
    expect(v.code).toBe(1);
    expect(v.json.error.code).toBe('E_BUNDLE_UNLISTED');
  });

  it('smoke --shape with batch 2 sends 2 rows on every protocol and expects 2 rows back', () => {
    const r = cliJson<any>(['smoke', one, '--shape', 'x=2,3,32,32']);
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect(r.json.inputs.x).toEqual({ dtype: 'float32', shape: [2, 3, 32, 32], shapeFrom: '--shape' });
    for (const name of ['web service', 'pipeline', 'kserve v2']) {
      expect(r.json.checks.find((c: any) => c.name === name).detail).toBe('softmax_0.tmp_0 [2,4]');
    }
  }, 60_000);

  it('smoke checks every --shape against the feeds before it starts anything (usage, exit 2)', () => {
    const cases: [string, RegExp][] = [
      ['y=1,2', /--shape y=1,2: the model has no feed "y"; its feeds are x \(rank 4, \[-1,3,32,32\]\)/],
      ['x=1,3,48', /--shape x=1,3,48: rank 3, feed "x" has rank 4/],
      ['x=0,3,32,32', /dim 0 is 0; every dim must be a positive integer/],
      ['x=1,4,32,32', /dim 1 is 4, feed "x" fixes it at 3/],
    ];
    for (const [shape, msg] of cases) {
      const t0 = Date.now();
      const r = cliJson<any>(['smoke', one, '--shape', shape]);
      expect(r.code, shape).toBe(2);
      expect(r.json.error.code).toBe('E_USAGE');
      expect(r.json.error.message).toMatch(msg);
      // no server was started: a server start takes a worker and a session, well over this
      expect(Date.now() - t0).toBeLessThan(5000);
    }
  });

  it('smoke in plain (non-TTY) mode prints each check once: no progress lines that repeat the summary', () => {
    const r = cli(['smoke', one]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    for (const name of ['ready', 'web service', 'pipeline', 'kserve v2', 'metrics', 'SIGTERM']) {
      expect(r.stdout.split(`${name}: `).length - 1, name).toBe(1);
    }
    expect(r.stdout).toMatch(/smoke passed\n$/);
  }, 60_000);

  it('server.mjs that cannot listen prints one error line and exits 1; smoke reports E_SERVER_LISTEN', async () => {
    const busy = createServer();
    await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', ok));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = spawnSync(process.execPath, ['server.mjs', '--port', String(port)], { cwd: one, encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`pserve-server: E_SERVER_LISTEN: cannot bind 127.0.0.1:${port}: EADDRINUSE: the port is in use by another process (pick one with --port)\n`);
    } finally { busy.close(); }
    // 192.0.2.1 (TEST-NET-1) is on no interface of this machine
    await expect(startBundleServer(one, ['--host', '192.0.2.1'], 30)).rejects.toMatchObject({
      code: 'E_SERVER_LISTEN', message: expect.stringMatching(/cannot bind 192\.0\.2\.1:0: EADDRNOTAVAIL/),
    });
  }, 60_000);

  it.skipIf(!canUnshare)('smoke with the loopback down reports E_SMOKE_NOT_READY with the socket error, never E_INTERNAL', () => {
    const r = spawnSync('unshare', ['-rn', process.execPath, join(ROOT, 'bin', 'pserve.js'), 'smoke', one, '--json'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CI: '1' } });
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.error.code).toBe('E_SMOKE_NOT_READY');
    expect(j.error.message).toMatch(/health\/ready failed: connect ENETUNREACH 127\.0\.0\.1:\d+$/);
    expect(j.error.hint).toMatch(/loopback/);
  }, 60_000);
});
