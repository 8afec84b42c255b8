/**
 * `pserve alias set|list` end to end through the real CLI, on confs written by `pserve convert`
 * and by Paddle Serving itself (including LAC's, whose text and binary files disagree).
 */
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeServingConf, encodeServingConf, parseServingConf } from '../src/formats/serving-conf.js';
import { cli, cliJson, describeShared, shared, tempDir, fresh, writableCopy } from './helpers.js';

const CONFS = [
  ['serving_server', 'serving_server_conf.prototxt'],
  ['serving_server', 'serving_server_conf.stream.prototxt'],
  ['serving_client', 'serving_client_conf.prototxt'],
  ['serving_client', 'serving_client_conf.stream.prototxt'],
] as const;



function snapshot(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = join(dir, f);
    if (statSync(p).isFile()) m.set(f, readFileSync(p).toString('hex'));
  }
  return m;
}

function bytes(p: string): Buffer { return readFileSync(p); }

describe('alias usage errors (exit 2)', () => {
  const cwd = tempDir('pserve-alias-usage-');
  it.each([
    [['alias', 'rename']],
    [['alias', 'set', 'both', 'x']],
    [['alias', 'set', 'fetch']],
    [['alias', 'set', 'fetch', 'x', '--var', 'a', '--index', '0']],
    [['alias', 'set', 'fetch', 'x', '--index', 'one']],
    [['alias', 'list', 'fetch']],
    [['alias', 'list', '--var', 'a']],
    [['alias']],
  ])('%j', (args) => {
    const r = cliJson<{ error: { code: string } }>(args, { cwd });
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('E_USAGE');
  });

  it('no serving dir: E_NOT_FOUND with a hint', () => {
    const r = cli(['alias', 'list'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_NOT_FOUND.*run pserve convert first/);
  });
});

describeShared('the seed flow: convert with default dirs, then alias set fetch features', () => {
  const root = tempDir('pserve-alias-seed-');
  it('works with no other flag and changes exactly the one alias in all four files', () => {
    const model = join(root, 'model');
    writableCopy(shared('ppocr_cls_v2'), model);
    const cwd = fresh(root, 'work');
    const c = cli(['convert', '--dirname', model, '--model_filename', 'inference.pdmodel', '--params_filename', 'inference.pdiparams'], { cwd });
    expect(c.code).toBe(0);
    const before = CONFS.map(([d, f]) => bytes(join(cwd, d, f)));
    const modelBefore = snapshot(join(cwd, 'serving_server'));
    const old = parseServingConf(before[0]!.toString()).fetch_var![0]!.alias_name!;

    const r = cliJson<{ name: string; from: string; to: string; changed: string[] }>(['alias', 'set', 'fetch', 'features'], { cwd });
    expect(r.code).toBe(0);
    expect(r.json.from).toBe(old);
    expect(r.json.to).toBe('features');
    expect(r.json.changed.length).toBe(4);

    const after = CONFS.map(([d, f]) => bytes(join(cwd, d, f)));
    // text: only the alias string differs
    expect(after[0]!.toString()).toBe(before[0]!.toString().replace(`alias_name: "${old}"`, 'alias_name: "features"').replace(/(fetch_var \{\n  name: "[^"]*"\n  alias_name: )"[^"]*"/, '$1"features"'));
    expect(after[2]!.equals(after[0]!)).toBe(true);
    // binary: exactly what re-encoding the old conf with the new alias gives
    const conf = decodeServingConf(before[1]!);
    conf.fetch_var![0]!.alias_name = 'features';
    expect(after[1]!.equals(Buffer.from(encodeServingConf(conf)))).toBe(true);
    expect(after[3]!.equals(after[1]!)).toBe(true);
    // nothing else in the server dir moved
    const modelAfter = snapshot(join(cwd, 'serving_server'));
    for (const [f, h] of modelBefore) if (!f.startsWith('serving_server_conf')) expect(modelAfter.get(f)).toBe(h);

    const l = cliJson<{ fetches: { alias: string; name: string; dtype: string; shape: number[] }[]; warnings: string[] }>(['alias', 'list'], { cwd });
    expect(l.code).toBe(0);
    expect(l.json.fetches[0]!.alias).toBe('features');
    expect(l.json.warnings).toEqual([]);

    // setting it again is a no-op
    const again = cliJson<{ changed: string[] }>(['alias', 'set', 'fetch', 'features'], { cwd });
    expect(again.json.changed).toEqual([]);
  });
});

describeShared('alias set and list on real confs', () => {
  const root = tempDir('pserve-alias-');
  let blaze: string;

  beforeAll(() => {
    blaze = fresh(root, 'blaze');
    writableCopy(shared('blazeface', 'model'), join(blaze, 'model'));
  });

  it('alias list shows every var with name, alias, type and shape (in place, no client dir: a warning)', () => {
    const r = cliJson<{ feeds: unknown[]; fetches: unknown[]; warnings: string[]; clientDir: string | null }>(['alias', 'list', '--serving_server', 'model'], { cwd: blaze });
    expect(r.code).toBe(0);
    expect(r.json.clientDir).toBeNull();
    expect(r.json.feeds).toEqual([
      { index: 0, name: 'im_shape', alias: 'im_shape', type: 1, dtype: 'float32', lodLevel: 0, shape: [2] },
      { index: 1, name: 'image', alias: 'image', type: 1, dtype: 'float32', lodLevel: 0, shape: [3] },
      { index: 2, name: 'scale_factor', alias: 'scale_factor', type: 1, dtype: 'float32', lodLevel: 0, shape: [2] },
    ]);
    expect(r.json.fetches).toEqual([
      { index: 0, name: 'multiclass_nms3_0.tmp_0', alias: 'multiclass_nms3_0.tmp_0', type: 1, dtype: 'float32', lodLevel: 1, shape: [-1] },
      { index: 1, name: 'multiclass_nms3_0.tmp_2', alias: 'multiclass_nms3_0.tmp_2', type: 2, dtype: 'int32', lodLevel: 0, shape: [] },
    ]);
    expect(r.json.warnings.join('\n')).toMatch(/no client directory/);
    const t = cli(['alias', 'list', '--serving_server', 'model'], { cwd: blaze });
    expect(t.stdout).toMatch(/fetch\s+1\s+multiclass_nms3_0\.tmp_2\s+multiclass_nms3_0\.tmp_2\s+int32/);
  });

  it('several fetch vars and none selected: refuses, listing the candidates (exit 1, E_ALIAS_AMBIGUOUS)', () => {
    const before = snapshot(join(blaze, 'model'));
    const r = cliJson<{ error: { code: string; message: string } }>(['alias', 'set', 'fetch', 'boxes', '--serving_server', 'model'], { cwd: blaze });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_ALIAS_AMBIGUOUS');
    expect(r.json.error.message).toContain('0 multiclass_nms3_0.tmp_0 (alias multiclass_nms3_0.tmp_0)');
    expect(r.json.error.message).toContain('1 multiclass_nms3_0.tmp_2 (alias multiclass_nms3_0.tmp_2)');
    expect(snapshot(join(blaze, 'model'))).toEqual(before);
  });

  it('--var and --index pick one; the model files stay byte-identical (in-place case)', () => {
    const dir = join(blaze, 'model');
    const r1 = cli(['alias', 'set', 'fetch', 'boxes', '--var', 'multiclass_nms3_0.tmp_0', '--serving_server', 'model'], { cwd: blaze });
    expect(r1.code).toBe(0);
    const r2 = cli(['alias', 'set', 'fetch', 'count', '--index', '1', '--serving-server', 'model'], { cwd: blaze });
    expect(r2.code).toBe(0);
    const expected = readFileSync(shared('blazeface', 'model', 'serving_server_conf.prototxt'), 'utf8')
      .replace('alias_name: "multiclass_nms3_0.tmp_0"', 'alias_name: "boxes"').replace('alias_name: "multiclass_nms3_0.tmp_2"', 'alias_name: "count"');
    expect(readFileSync(join(dir, 'serving_server_conf.prototxt'), 'utf8')).toBe(expected);
    expect(decodeServingConf(bytes(join(dir, 'serving_server_conf.stream.prototxt')))).toEqual(parseServingConf(expected));
    for (const f of ['model.pdmodel', 'model.pdiparams']) expect(bytes(join(dir, f)).equals(bytes(shared('blazeface', 'model', f)))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['model.pdiparams', 'model.pdmodel', 'serving_server_conf.prototxt', 'serving_server_conf.stream.prototxt']);
  });

  it.each([
    [['fetch', 'boxes', '--index', '1'], 'E_ALIAS_DUPLICATE'],
    [['fetch', 'x', '--var', 'nope'], 'E_VAR_NOT_FOUND'],
    [['fetch', 'x', '--index', '7'], 'E_VAR_NOT_FOUND'],
    [['feed', ' x'], 'E_ALIAS_INVALID'],
  ])('alias set %j fails with %s and changes nothing', (args, code) => {
    const before = snapshot(join(blaze, 'model'));
    const r = cliJson<{ error: { code: string; message: string } }>(['alias', 'set', ...args, '--serving_server', 'model'], { cwd: blaze });
    expect(r.json.error.code).toBe(code);
    expect(r.code).toBe(1);
    expect(snapshot(join(blaze, 'model'))).toEqual(before);
  });

  it('an explicit --serving_client that does not exist is an error', () => {
    const r = cliJson<{ error: { code: string } }>(['alias', 'list', '--serving_server', 'model', '--serving_client', 'nope'], { cwd: blaze });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_NOT_FOUND');
  });

  it('LAC: text and binary disagree, so list warns, set refuses without --force and works with it', () => {
    const cwd = fresh(root, 'lac');
    writableCopy(shared('lac_convert_program_only', 'lac_model'), join(cwd, 'serving_server'));
    writableCopy(shared('lac_convert_program_only', 'lac_client'), join(cwd, 'serving_client'));
    const l = cliJson<{ warnings: string[]; feeds: { alias: string }[] }>(['alias', 'list'], { cwd });
    expect(l.code).toBe(0);
    expect(l.json.feeds[0]!.alias).toBe('words');
    expect(l.json.warnings.join('\n')).toContain('serving_server/serving_server_conf.stream.prototxt disagrees with serving_server/serving_server_conf.prototxt: feed_var[0] name "word" vs "words"');
    expect(cli(['alias', 'list'], { cwd }).stdout).toMatch(/warning: .*disagrees/);

    const before = snapshot(cwd);
    const r = cliJson<{ error: { code: string; message: string } }>(['alias', 'set', 'feed', 'text'], { cwd });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_CONF_MISMATCH');
    expect(r.json.error.message).toContain('fetch_var[0] fetch_type 0 vs 1');
    expect(snapshot(cwd)).toEqual(before);

    const f = cliJson<{ changed: string[]; warnings: string[] }>(['alias', 'set', 'feed', 'text', '--force'], { cwd });
    expect(f.code).toBe(0);
    expect(f.json.changed.length).toBe(4);
    const txt = readFileSync(join(cwd, 'serving_server', 'serving_server_conf.prototxt'), 'utf8');
    expect(txt).toBe(readFileSync(shared('lac_convert_program_only', 'lac_model', 'serving_server_conf.prototxt'), 'utf8').replace('alias_name: "words"', 'alias_name: "text"'));
    const bin = decodeServingConf(bytes(join(cwd, 'serving_server', 'serving_server_conf.stream.prototxt')));
    const orig = decodeServingConf(bytes(shared('lac_convert_program_only', 'lac_model', 'serving_server_conf.stream.prototxt')));
    orig.feed_var![0]!.alias_name = 'text';
    expect(bin).toEqual(orig);
  });

  it('server and client that disagree are named; a hand-edited text keeps its comments', () => {
    const cwd = fresh(root, 'hand');
    writableCopy(shared('serving_conf_only', 'PaddleClas_general_PPLCNetV2_base_pretrained_v1.0_serving'), join(cwd, 'serving_server'));
    writableCopy(shared('serving_conf_only', 'PaddleClas_general_PPLCNetV2_base_pretrained_v1.0_client'), join(cwd, 'serving_client'));
    const srv = join(cwd, 'serving_server', 'serving_server_conf.prototxt');
    const edited = `# written by hand\n${readFileSync(srv, 'utf8').replace('shape: 3\n  shape: 224\n  shape: 224', 'shape: 3 224 224 # one line')}`;
    writeFileSync(srv, edited);
    const l = cliJson<{ warnings: string[]; feeds: { shape: number[] }[] }>(['alias', 'list'], { cwd });
    expect(l.code).toBe(0);
    expect(l.json.feeds[0]!.shape).toEqual([3, 224, 224]);
    // no binary files here, and the two texts agree apart from trailing blank lines
    expect(l.json.warnings.filter((w) => w.includes('disagrees'))).toEqual([]);

    const s = cli(['alias', 'set', 'fetch', 'feats', '--var', 'batch_norm_25.tmp_2'], { cwd });
    expect(s.code).toBe(0);
    expect(readFileSync(srv, 'utf8')).toBe(edited.replace('alias_name: "features"', 'alias_name: "feats"'));

    // now make the client disagree
    const cl = join(cwd, 'serving_client', 'serving_client_conf.prototxt');
    writeFileSync(cl, readFileSync(cl, 'utf8').replace('alias_name: "x"', 'alias_name: "img"'));
    const l2 = cliJson<{ warnings: string[] }>(['alias', 'list'], { cwd });
    expect(l2.json.warnings.join('\n')).toContain('serving_client/serving_client_conf.prototxt disagrees with serving_server/serving_server_conf.prototxt: feed_var[0] alias_name "x" vs "img"');
    const s2 = cliJson<{ error: { code: string } }>(['alias', 'set', 'feed', 'image', '--index', '0'], { cwd });
    expect(s2.code).toBe(1);
    expect(s2.json.error.code).toBe('E_CONF_MISMATCH');
  });

  it('a broken conf is reported with its file and line', () => {
    const cwd = fresh(root, 'broken');
    mkdirSync(join(cwd, 'serving_server'));
    writeFileSync(join(cwd, 'serving_server', 'serving_server_conf.prototxt'), 'feed_var {\n  name: "x"\n  colour: 3\n}\n');
    const r = cli(['alias', 'list'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_SERVING_CONF_INVALID: .*line 3 column 3: unknown field "colour".*serving_server_conf\.prototxt/);
    writeFileSync(join(cwd, 'serving_server', 'serving_server_conf.stream.prototxt'), Buffer.from([0x0a, 0x30, 0x0a]));
    rmSync(join(cwd, 'serving_server', 'serving_server_conf.prototxt'));
    const b = cliJson<{ error: { code: string } }>(['alias', 'list'], { cwd });
    expect(b.json.error.code).toBe('E_SERVING_CONF_TRUNCATED');
    expect(existsSync(join(cwd, 'serving_client'))).toBe(false);
    truncateSync(join(cwd, 'serving_server', 'serving_server_conf.stream.prototxt'), 17 << 20);
    expect(cliJson<{ error: { code: string } }>(['alias', 'list'], { cwd }).json.error.code).toBe('E_SERVING_CONF_TOO_LARGE');
  });
});
