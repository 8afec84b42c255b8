/** pserve bundle / smoke / package: layout, manifest, one platform's runtime, tamper detection, reproducible archives. */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { x as untar } from 'tar';
import { verifyBundle, readManifest, listFiles } from '../src/bundle/manifest.js';
import { tarHeader, FIXED_MTIME } from '../src/bundle/package.js';
import { shapesFromInferenceYml } from '../src/bundle/smoke.js';
import { renderConfigYml } from '../src/bundle/config-yml.js';
// the server template is plain JS that a recipient runs; its readers are exported for these tests
// @ts-expect-error no typings for the template
import { parseYaml, parseServingConf } from '../templates/server.mjs';
import { uciHousingOnnx } from './onnx-test-models.js';
import { cli, cliJson, describeShared, shared, tempDir } from './helpers.js';

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
    expect(r.json.checks.map((c: any) => c.name)).toEqual(['ready', 'web service', 'pipeline', 'kserve v2', 'metrics', 'SIGTERM']);
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
    expect(plat.json.error.code).toBe('E_PLATFORM_INVALID');
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
    expect(r.json.inputs.x).toEqual({ dtype: 'FP32', shape: [1, 3, 96, 128], shapeFrom: '--shape' });
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
