/**
 * What a new user trips on, end to end through the real CLI: each case failed before its fix.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cli, cliJson, describeShared, shared, tempDir } from './helpers.js';

describeShared('serving folders: the params file is found by content', () => {
  const tmp = tempDir('pserve-newcomer-');

  it('convert --params_filename weights.bin, then bundle --serving_server needs no --params_filename', () => {
    const m = join(tmp, 'm');
    mkdirSync(m);
    copyFileSync(shared('ppocr_cls_v2', 'inference.pdmodel'), join(m, 'inference.pdmodel'));
    copyFileSync(shared('ppocr_cls_v2', 'inference.pdiparams'), join(m, 'weights.bin'));
    const c = cliJson<any>(['convert', '--dirname', m, '--params_filename', 'weights.bin'], { cwd: tmp });
    expect(c.code, c.stderr).toBe(0);
    expect(readdirSync(join(tmp, 'serving_server')).sort()).toEqual(['inference.pdmodel', 'serving_server_conf.prototxt', 'serving_server_conf.stream.prototxt', 'weights.bin']);
    const b = cliJson<any>(['bundle', '--serving_server', 'serving_server', '--out', 'b'], { cwd: tmp });
    expect(b.code, b.stderr).toBe(0);
    expect(existsSync(join(tmp, 'b', 'model.onnx'))).toBe(true);
    const i = cliJson<any>(['inspect', 'serving_server'], { cwd: tmp });
    expect(i.code, i.stderr).toBe(0);
    expect(i.json.paramsFile).toBe(join(tmp, 'serving_server', 'weights.bin'));
  });

  it('two files that both read as the params stay ambiguous: no guess, a coded error', () => {
    const m = join(tmp, 'two');
    mkdirSync(m);
    copyFileSync(shared('ppocr_cls_v2', 'inference.pdmodel'), join(m, 'inference.pdmodel'));
    copyFileSync(shared('ppocr_cls_v2', 'inference.pdiparams'), join(m, 'a.bin'));
    copyFileSync(shared('ppocr_cls_v2', 'inference.pdiparams'), join(m, 'b.bin'));
    const b = cliJson<any>(['onnx', '--model_dir', m, '--save_file', join(tmp, 'x.onnx'), '--engine', 'native']);
    expect(b.code).toBe(1);
    expect(b.json.error.code).toBe('E_PARAMS_MISSING');
  });
});


describeShared('aliases in a bundle: pserve alias set keeps confs, config.yml and manifest.json in step', () => {
  const tmp = tempDir('pserve-newcomer-alias-');

  it('alias set inside the bundle, then smoke passes with the new alias; a hand edit is explained with the command that fixes it', () => {
    expect(cliJson<any>(['convert', '--dirname', shared('uci_housing', 'uci_housing_model'), '--fetch_alias_names', 'price'], { cwd: tmp }).code).toBe(0);
    expect(cliJson<any>(['bundle', '--serving_server', 'serving_server', '--serving_client', 'serving_client', '--out', 'b', '--name', 'uci'], { cwd: tmp }).code).toBe(0);
    const b = join(tmp, 'b');
    const set = cliJson<any>(['alias', 'set', 'fetch', 'features'], { cwd: b });
    expect(set.code, set.stderr).toBe(0);
    expect(set.json.bundle).toBe(b);
    expect(set.json.changed).toEqual(expect.arrayContaining([join(b, 'config.yml'), join(b, 'manifest.json'), join(b, 'README.md')]));
    expect(readFileSync(join(b, 'config.yml'), 'utf8')).toMatch(/fetch_list: \["features"\]/);
    const manifest = JSON.parse(readFileSync(join(b, 'manifest.json'), 'utf8'));
    expect(manifest.fetches[0].alias).toBe('features');
    const smoke = cliJson<any>(['smoke', b]);
    expect(smoke.code, smoke.stderr).toBe(0);
    expect(smoke.json.checks.find((c: any) => c.name === 'web service').detail).toMatch(/^features /);

    // a hand edit (what the old README suggested): detected, explained, with the command that fixes it
    const conf = join(b, 'serving_server', 'serving_server_conf.prototxt');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace('alias_name: "features"', 'alias_name: "cost"'));
    const serve = cliJson<any>(['serve', b]);
    expect(serve.code).toBe(1);
    expect(serve.json.error.code).toBe('E_BUNDLE_CONF_EDITED');
    expect(serve.json.error.hint).toMatch(/pserve alias set <feed\|fetch> <alias>/);
    // and the server itself, started by hand, says why with a code
    const direct = spawnSync(process.execPath, ['server.mjs', '--port', '0'], { cwd: b, encoding: 'utf8', timeout: 60_000 });
    expect(direct.status).toBe(1);
    expect(direct.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^pserve-server: E_CONFIG_FETCH_LIST: config\.yml fetch_list names "features".*pserve alias set fetch NEW/)]);
  });

  it('serve on a port in use: a coded one-line error; serve --json prints one JSON object (logs go to stderr)', async () => {
    const busy = createServer();
    await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', ok));
    const port = (busy.address() as { port: number }).port;
    try {
      expect(cliJson<any>(['bundle', '--serving_server', 'serving_server', '--out', 'c', '--name', 'uci'], { cwd: tmp }).code).toBe(0);
      const r = cli(['serve', join(tmp, 'c'), '--port', String(port)]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').pop()).toMatch(/^pserve: E_SERVER_LISTEN: cannot bind 127\.0\.0\.1:\d+: EADDRINUSE/);
      const j = cliJson<any>(['serve', join(tmp, 'c'), '--port', String(port)]);
      expect(j.code).toBe(1);
      expect(j.json).toMatchObject({ ok: false, command: 'serve', error: { code: 'E_SERVER_LISTEN' } });
    } finally { busy.close(); }
  });
});

describeShared('bundle --onnx: the given model is checked before anything is written', () => {
  const tmp = tempDir('pserve-newcomer-onnx-');

  it('a 12-byte text file and an ONNX that does not match the conf are refused, listing each mismatch', () => {
    expect(cliJson<any>(['convert', '--dirname', shared('uci_housing', 'uci_housing_model')], { cwd: tmp }).code).toBe(0);
    writeFileSync(join(tmp, 'junk.txt'), 'hello junk!\n');
    const junk = cliJson<any>(['bundle', '--serving_server', 'serving_server', '--onnx', 'junk.txt', '--out', 'b1'], { cwd: tmp });
    expect(junk.code).toBe(1);
    expect(junk.json.error.code).toBe('E_ONNX_INVALID');
    expect(existsSync(join(tmp, 'b1'))).toBe(false);

    expect(cliJson<any>(['onnx', '--model_dir', shared('ppocr_cls_v2'), '--save_file', 'cls.onnx', '--engine', 'native'], { cwd: tmp }).code).toBe(0);
    const other = cliJson<any>(['bundle', '--serving_server', 'serving_server', '--onnx', 'cls.onnx', '--out', 'b2'], { cwd: tmp });
    expect(other.code).toBe(1);
    expect(other.json.error.code).toBe('E_ONNX_MISMATCH');
    expect(other.json.error.message).toMatch(/feed x: rank 2 \[-1,13\] in the conf, rank 4/);
    expect(other.json.error.message).toMatch(/fetch fc_0\.tmp_1 .* is not an output of the model/);
    expect(existsSync(join(tmp, 'b2'))).toBe(false);
    expect(readdirSync(tmp).filter((e) => e.includes('pserve-tmp'))).toEqual([]);

    // the matching model is accepted
    expect(cliJson<any>(['onnx', '--model_dir', 'serving_server', '--save_file', 'uci.onnx', '--engine', 'native'], { cwd: tmp }).code).toBe(0);
    const ok = cliJson<any>(['bundle', '--serving_server', 'serving_server', '--onnx', 'uci.onnx', '--out', 'b3'], { cwd: tmp });
    expect(ok.code, ok.stderr).toBe(0);
  });
});
