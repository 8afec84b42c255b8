/**
 * What a new user trips on, end to end through the real CLI: each case failed before its fix.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliJson, describeShared, shared, tempDir } from './helpers.js';

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

