/**
 * `pserve convert` end to end through the real CLI, against confs Paddle Serving itself wrote.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertModel } from '../src/commands/convert.js';
import type { CommandContext } from '../src/cli/context.js';
import { servingShape, servingTypeCode, toServingConfig } from '../src/convert/serving-config.js';
import { PserveError } from '../src/errors.js';
import { parseServingConf } from '../src/formats/serving-conf.js';
import { BIN, cli, cliJson, describeShared, shared, tempDir, fresh, writableCopy } from './helpers.js';

const same = (a: string, b: string) => Buffer.compare(readFileSync(a), readFileSync(b)) === 0;



describe('conf rules', () => {
  it('maps dtypes to Serving type codes, unknown ones to -1', () => {
    expect(['int64', 'float32', 'int32', 'float64', 'int16', 'float16', 'bfloat16', 'uint8', 'int8', 'bool', 'complex64', 'complex128'].map((d) => servingTypeCode(d as never)))
      .toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(servingTypeCode('uint16')).toBe(-1);
    expect(servingTypeCode('string')).toBe(-1);
  });

  it('drops unknown dims, writes -1 for LoD vars', () => {
    expect(servingShape({ name: 'x', dtype: 'float32', shape: [-1, 3, 224, 224], lodLevel: 0 })).toEqual([3, 224, 224]);
    expect(servingShape({ name: 'x', dtype: 'float32', shape: [-1, -1], lodLevel: 0 })).toEqual([]);
    expect(servingShape({ name: 'x', dtype: 'int64', shape: [-1, 1], lodLevel: 2 })).toEqual([-1]);
  });

  it('keeps feeds in order, sorts fetches by name (bytewise), aliases follow that order', () => {
    const t = (name: string) => ({ name, dtype: 'float32' as const, shape: [-1, 2], lodLevel: 0 });
    const c = toServingConfig({ feeds: [t('b'), t('a')], fetches: [t('z'), t('Y'), t('y')] }, { fetchAliases: ['p', 'q', 'r'] });
    expect(c.feed_var!.map((v) => v.name)).toEqual(['b', 'a']);
    expect(c.fetch_var!.map((v) => [v.name, v.alias_name])).toEqual([['Y', 'p'], ['y', 'q'], ['z', 'r']]);
  });

  it.each([
    [{ feedAliases: ['a', 'b'] }, 'E_ALIAS_COUNT'],
    [{ fetchAliases: ['p', 'p'] }, 'E_ALIAS_DUPLICATE'],
    [{ fetchAliases: ['p', ''] }, 'E_ALIAS_INVALID'],
    [{ fetchAliases: ['p', ' q'] }, 'E_ALIAS_INVALID'],
  ])('refuses alias lists %j with %s', (opts, code) => {
    const t = (name: string) => ({ name, dtype: 'float32' as const, shape: [2], lodLevel: 0 });
    try {
      toServingConfig({ feeds: [t('x')], fetches: [t('a'), t('b')] }, opts);
      expect.unreachable();
    } catch (e) {
      expect((e as PserveError).code).toBe(code);
    }
  });
});

describeShared('pserve convert on real models', () => {
  const root = tempDir('pserve-convert-');

  it('uci_housing --fetch_alias_names price: server and client confs byte-identical to Paddle Serving\'s', () => {
    const cwd = fresh(root, 'uci');
    const model = shared('uci_housing', 'uci_housing_model');
    const r = cliJson<{ copied: { name: string; file: string }[]; fetches: { alias: string }[] }>(['convert', '--dirname', model, '--fetch_alias_names', 'price'], { cwd });
    expect(r.code).toBe(0);
    for (const f of ['serving_server_conf.prototxt', 'serving_server_conf.stream.prototxt']) expect(same(join(cwd, 'serving_server', f), join(model, f))).toBe(true);
    for (const f of ['serving_client_conf.prototxt', 'serving_client_conf.stream.prototxt']) {
      expect(same(join(cwd, 'serving_client', f), shared('uci_housing', 'uci_housing_client', f))).toBe(true);
    }
    // program and per-variable params copied unchanged, under their own names; client holds only confs
    expect(r.json.copied.map((c) => c.name)).toEqual(['__model__', 'fc_0.b_0', 'fc_0.w_0']);
    expect(r.json.copied.map((c) => c.file)).toEqual(['__model__', 'fc_0.b_0', 'fc_0.w_0'].map((f) => join(cwd, 'serving_server', f)));
    for (const f of ['__model__', 'fc_0.b_0', 'fc_0.w_0']) expect(same(join(cwd, 'serving_server', f), join(model, f))).toBe(true);
    expect(readdirSync(join(cwd, 'serving_client')).sort()).toEqual(['serving_client_conf.prototxt', 'serving_client_conf.stream.prototxt']);
    expect(readdirSync(cwd).sort()).toEqual(['serving_client', 'serving_server']);
  });

  it('converting again replaces the previous output (kebab-case flags too)', () => {
    const cwd = join(root, 'uci');
    const r = cli(['convert', '--dirname', shared('uci_housing', 'uci_housing_model'), '--fetch-alias-names', 'value', '--serving-client', 'serving_client'], { cwd });
    expect(r.code).toBe(0);
    expect(readFileSync(join(cwd, 'serving_client', 'serving_client_conf.prototxt'), 'utf8')).toContain('alias_name: "value"');
    expect(readdirSync(cwd).sort()).toEqual(['serving_client', 'serving_server']);
  });

  it('blazeface with --serving_server = the model dir: confs byte-identical, model files untouched', () => {
    const cwd = fresh(root, 'blaze');
    const dir = writableCopy(shared('blazeface', 'model'), join(cwd, 'model'));
    rmSync(join(dir, 'serving_server_conf.prototxt'));
    rmSync(join(dir, 'serving_server_conf.stream.prototxt'));
    const before = { m: statSync(join(dir, 'model.pdmodel')).mtimeMs, p: statSync(join(dir, 'model.pdiparams')).mtimeMs };
    const r = cliJson<{ inPlace: boolean; copied: unknown[] }>(['convert', '--dirname', 'model', '--serving_server', 'model'], { cwd });
    expect(r.code).toBe(0);
    expect(r.json.inPlace).toBe(true);
    expect(r.json.copied).toEqual([]);
    for (const f of ['serving_server_conf.prototxt', 'serving_server_conf.stream.prototxt', 'model.pdmodel', 'model.pdiparams']) {
      expect(same(join(dir, f), shared('blazeface', 'model', f))).toBe(true);
    }
    expect(statSync(join(dir, 'model.pdmodel')).mtimeMs).toBe(before.m);
    expect(statSync(join(dir, 'model.pdiparams')).mtimeMs).toBe(before.p);
    expect(readdirSync(dir).sort()).toEqual(['model.pdiparams', 'model.pdmodel', 'serving_server_conf.prototxt', 'serving_server_conf.stream.prototxt']);
  });

  it('the model dir reached through a symlink is still the in-place case; server and client may share a dir', () => {
    const cwd = fresh(root, 'link');
    const dir = writableCopy(shared('blazeface', 'model'), join(cwd, 'real'));
    symlinkSync('real', join(cwd, 'link'));
    const before = readFileSync(join(dir, 'model.pdiparams'));
    const r = cliJson<{ inPlace: boolean }>(['convert', '--dirname', 'link', '--serving_server', 'real', '--serving_client', 'real'], { cwd });
    expect(r.code).toBe(0);
    expect(r.json.inPlace).toBe(true);
    expect(readFileSync(join(dir, 'model.pdiparams')).equals(before)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['model.pdiparams', 'model.pdmodel', 'serving_client_conf.prototxt', 'serving_client_conf.stream.prototxt', 'serving_server_conf.prototxt', 'serving_server_conf.stream.prototxt']);
    expect(same(join(dir, 'serving_client_conf.stream.prototxt'), shared('blazeface', 'model', 'serving_server_conf.stream.prototxt'))).toBe(true);

    const out = fresh(root, 'shared-out');
    expect(cli(['convert', '--dirname', shared('uci_housing', 'uci_housing_model'), '--serving_server', 'both', '--serving_client', 'both'], { cwd: out }).code).toBe(0);
    expect(readdirSync(join(out, 'both')).sort()).toEqual(['__model__', 'fc_0.b_0', 'fc_0.w_0', 'serving_client_conf.prototxt', 'serving_client_conf.stream.prototxt', 'serving_server_conf.prototxt', 'serving_server_conf.stream.prototxt']);
  });

  it('bisenetv2 --show_proto prints exactly the conf Paddle Serving wrote, needs no params, writes nothing', () => {
    const cwd = fresh(root, 'bise');
    const r = cli(['convert', '--dirname', shared('bisenetv2_convert_program_only', 'bisenetv2_demo_model'), '--show_proto'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(shared('bisenetv2_convert_program_only', 'serving_server', 'serving_server_conf.prototxt'), 'utf8'));
    expect(readdirSync(cwd)).toEqual([]);
    // Python-style --show_proto True works too
    expect(cli(['convert', '--dirname', shared('bisenetv2_convert_program_only', 'bisenetv2_demo_model'), '--show_proto', 'True'], { cwd }).stdout).toBe(r.stdout);
  });

  it('bisenetv2: the client conf Paddle Serving wrote is what we would write', () => {
    const r = cliJson<{ prototxt: string }>(['convert', '--dirname', shared('bisenetv2_convert_program_only', 'bisenetv2_demo_model'), '--show_proto'], { cwd: root });
    expect(r.json.prototxt).toBe(readFileSync(shared('bisenetv2_convert_program_only', 'serving_client', 'serving_client_conf.prototxt'), 'utf8'));
  });

  it('LoD feeds (textcnn) and several int64 feeds in col order (word2vec)', () => {
    const t = cli(['convert', '--dirname', shared('textcnn_lod', 'infer_model'), '--show_proto'], { cwd: root });
    expect(t.code).toBe(0);
    const tc = parseServingConf(t.stdout);
    expect(tc.feed_var!.some((v) => v.is_lod_tensor === true && v.feed_type === 0 && v.shape!.join() === '-1')).toBe(true);
    const w = cliJson<{ feeds: { name: string; type: number }[] }>(['convert', '--dirname', shared('word2vec_ngram', 'word2vec.inference.model'), '--show_proto'], { cwd: root });
    expect(w.json.feeds.length).toBe(4);
    expect(w.json.feeds.map((f) => [f.name, f.type])).toEqual([['firstw', 0], ['secondw', 0], ['thirdw', 0], ['fourthw', 0]]);
  });

  it('a Paddle 3 PIR model converts too (params copied under their own names)', () => {
    const cwd = fresh(root, 'pir');
    const r = cliJson<{ copied: { name: string }[] }>(['convert', '--dirname', shared('pplcnet_textline_ori_pir')], { cwd });
    expect(r.code).toBe(0);
    expect(r.json.copied.map((c) => c.name)).toEqual(['inference.json', 'inference.pdiparams']);
    expect(same(join(cwd, 'serving_server', 'inference.pdiparams'), shared('pplcnet_textline_ori_pir', 'inference.pdiparams'))).toBe(true);
  });
});

describeShared('pserve convert refuses bad input before writing anything', () => {
  const root = tempDir('pserve-convert-bad-');
  const uci = () => shared('uci_housing', 'uci_housing_model');

  it.each([
    ['alias count', ['--fetch_alias_names', 'a,b'], 'E_ALIAS_COUNT', 1],
    ['empty alias', ['--fetch_alias_names', ''], 'E_ALIAS_INVALID', 1],
    ['a bad --show_proto value', ['--show_proto', 'maybe'], 'E_USAGE', 2],
  ])('%s', (_n, extra, code, exit) => {
    const cwd = fresh(root, 'a');
    const r = cliJson<{ error?: { code: string } }>(['convert', '--dirname', uci(), ...(extra as string[])], { cwd });
    expect(r.code).toBe(exit);
    expect(r.json.error!.code).toBe(code);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('duplicate feed aliases (word2vec has 4 feeds)', () => {
    const cwd = fresh(root, 'dup');
    const r = cliJson<{ error: { code: string } }>(['convert', '--dirname', shared('word2vec_ngram', 'word2vec.inference.model'), '--feed_alias_names', 'a,b,a,c'], { cwd });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_ALIAS_DUPLICATE');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('missing --dirname is a usage error', () => {
    const r = cliJson<{ error: { code: string } }>(['convert'], { cwd: root });
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('E_USAGE');
  });

  it('a model dir that does not exist', () => {
    const r = cliJson<{ error: { code: string } }>(['convert', '--dirname', join(root, 'nope')], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_NOT_FOUND');
  });

  it('a program-only model cannot be converted (its params are missing), but --show_proto works', () => {
    const cwd = fresh(root, 'lac');
    const model = shared('lac_convert_program_only', 'lac_model');
    const r = cliJson<{ error: { code: string } }>(['convert', '--dirname', model], { cwd });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_PARAMS_MISSING');
    expect(readdirSync(cwd)).toEqual([]);
    // LAC's own conf names crf_decoding_0.tmp_0, but the program now fetches the scale op's output
    const s = cli(['convert', '--dirname', model, '--show_proto'], { cwd });
    expect(s.stdout).toContain('name: "save_infer_model/scale_0"');
  });

  it('an output path that is a file', () => {
    const cwd = fresh(root, 'file');
    writeFileSync(join(cwd, 'serving_client'), 'not a dir');
    const r = cliJson<{ error: { code: string } }>(['convert', '--dirname', uci()], { cwd });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_NOT_DIR');
    expect(readdirSync(cwd)).toEqual(['serving_client']);
  });

  it('an existing directory that is not a serving dir is not replaced', () => {
    const cwd = fresh(root, 'exists');
    mkdirSync(join(cwd, 'serving_server'));
    writeFileSync(join(cwd, 'serving_server', 'notes.txt'), 'mine');
    const r = cliJson<{ error: { code: string } }>(['convert', '--dirname', uci()], { cwd });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_EXISTS');
    expect(readFileSync(join(cwd, 'serving_server', 'notes.txt'), 'utf8')).toBe('mine');
    expect(readdirSync(cwd)).toEqual(['serving_server']);
  });

  it('an output directory that contains the model', () => {
    const cwd = fresh(root, 'contains');
    writableCopy(uci(), join(cwd, 'out', 'model'));
    const r = cliJson<{ error: { code: string } }>(['convert', '--dirname', 'out/model', '--serving_server', 'out'], { cwd });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_OUTPUT_CONTAINS_MODEL');
    expect(existsSync(join(cwd, 'out', 'model', '__model__'))).toBe(true);
  });

  it('a kill at any moment leaves each output directory either absent or complete', async () => {
    const model = shared('blazeface', 'model');
    for (const delay of [40, 90, 140, 190, 240, 400]) {
      const cwd = fresh(root, `kill-${delay}`);
      const child = spawn(process.execPath, [BIN, 'convert', '--dirname', model], { cwd, stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited;
      const entries = readdirSync(cwd).filter((e) => !/^\.serving_(server|client)\.pserve-tmp-/.test(e));
      if (entries.includes('serving_server')) {
        expect(readdirSync(join(cwd, 'serving_server')).sort()).toEqual(['model.pdiparams', 'model.pdmodel', 'serving_server_conf.prototxt', 'serving_server_conf.stream.prototxt']);
        for (const f of ['model.pdiparams', 'model.pdmodel', 'serving_server_conf.prototxt']) expect(same(join(cwd, 'serving_server', f), join(model, f))).toBe(true);
      }
      if (entries.includes('serving_client')) {
        expect(readdirSync(join(cwd, 'serving_client')).sort()).toEqual(['serving_client_conf.prototxt', 'serving_client_conf.stream.prototxt']);
      }
      expect(entries.every((e) => e === 'serving_server' || e === 'serving_client')).toBe(true);
    }
  });

  it('a failure while copying leaves neither output nor temporary directories', async () => {
    const cwd = fresh(root, 'fail');
    let n = 0;
    const ctx: CommandContext = {
      cwd, json: true, interactive: false, color: false, info: () => {},
      progress: (e) => { if (e.phase === 'progress' && ++n === 2) throw new PserveError('E_TEST_ABORT', 'stopped mid-copy'); },
    };
    await expect(convertModel({ dirname: uci(), serving_server: 'serving_server', serving_client: 'serving_client', show_proto: false }, ctx))
      .rejects.toMatchObject({ code: 'E_TEST_ABORT' });
    expect(readdirSync(cwd)).toEqual([]);
  });
});
