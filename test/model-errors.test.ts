/**
 * Bad input: each case gets its own stable code, the file, exit status 1, one line, no stack
 * trace, and nothing large allocated for a size the file merely claims.
 */
import { copyFileSync, cpSync, mkdirSync, readFileSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PserveError } from '../src/errors.js';
import { BytesSource, encodeTensorHeader, readTensorRecord } from '../src/formats/pdiparams.js';
import { loadModel } from '../src/model/load-model.js';
import { ProgramBuilder, seededFloats } from '../src/formats/program-builder.js';
import { BIN, ROOT, cli, cliJson, tempDir } from './helpers.js';

const CLASSIFIER = join(ROOT, 'fixtures', 'tiny_classifier');
const MLP = join(ROOT, 'fixtures', 'tiny_mlp_separate');

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof PserveError) return e.code; throw e; }
  return 'no error';
}

function copyModel(src: string, dst: string): string {
  cpSync(src, dst, { recursive: true });
  return dst;
}

/** The CLI fails with the code on one line, exit 1, and shows no stack trace. */
function expectCliError(args: string[], code: string): void {
  const r = cli(args);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^pserve: ${code}: `));
  expect(r.stderr).not.toMatch(/\n\s+at |Error:/);
  const j = cliJson<{ ok: boolean; error: { code: string; file?: string } }>(args);
  expect(j.code).toBe(1);
  expect(j.json.ok).toBe(false);
  expect(j.json.error.code).toBe(code);
}

describe('bad models: codes, files, offsets', () => {
  const tmp = tempDir();

  it('truncated params file -> E_PARAMS_TRUNCATED with the file and offset', () => {
    const d = copyModel(CLASSIFIER, join(tmp, 'trunc'));
    const p = join(d, 'inference.pdiparams');
    truncateSync(p, readFileSync(p).length - 10);
    let err: PserveError | undefined;
    try { loadModel(d); } catch (e) { err = e as PserveError; }
    expect(err?.code).toBe('E_PARAMS_TRUNCATED');
    expect(err?.file).toBe(p);
    expect(typeof err?.offset).toBe('number');
    expectCliError(['inspect', d], 'E_PARAMS_TRUNCATED');
  });

  it('params file ending between tensors -> E_PARAMS_TRUNCATED naming the next parameter', () => {
    const d = copyModel(CLASSIFIER, join(tmp, 'short'));
    const p = join(d, 'inference.pdiparams');
    const bytes = readFileSync(p);
    const first = readTensorRecord(new BytesSource(bytes), 0, 'p');
    writeFileSync(p, bytes.subarray(0, first.end));
    let err: PserveError | undefined;
    try { loadModel(d); } catch (e) { err = e as PserveError; }
    expect(err?.code).toBe('E_PARAMS_TRUNCATED');
    expect(err?.message).toMatch(/after 1 of 9 parameters \(next expected: bn1_offset\)/);
  });

  it('trailing garbage after the last tensor -> E_PARAMS_TRAILING', () => {
    const d = copyModel(CLASSIFIER, join(tmp, 'trail'));
    appendFileSync(join(d, 'inference.pdiparams'), Buffer.from('garbage!'));
    expect(codeOf(() => loadModel(d))).toBe('E_PARAMS_TRAILING');
    expectCliError(['inspect', d], 'E_PARAMS_TRAILING');
  });

  it('a garbage program -> E_PROGRAM_INVALID', () => {
    const d = join(tmp, 'garbage');
    mkdirSync(d);
    writeFileSync(join(d, 'inference.pdmodel'), Buffer.from('\x00\x01 this is not a protobuf \xff\xff'));
    expect(codeOf(() => loadModel(d))).toBe('E_PROGRAM_INVALID');
    expectCliError(['inspect', d], 'E_PROGRAM_INVALID');
  });

  it('a program cut short -> E_PROGRAM_TRUNCATED', () => {
    const d = copyModel(CLASSIFIER, join(tmp, 'progcut'));
    const p = join(d, 'inference.pdmodel');
    truncateSync(p, 100);
    expect(codeOf(() => loadModel(d))).toBe('E_PROGRAM_TRUNCATED');
  });

  it('an empty program file -> E_PROGRAM_EMPTY', () => {
    const d = join(tmp, 'emptyprog');
    mkdirSync(d);
    writeFileSync(join(d, 'model.pdmodel'), '');
    expectCliError(['inspect', d], 'E_PROGRAM_EMPTY');
  });

  it('an empty directory -> E_NO_MODEL', () => {
    const d = join(tmp, 'empty');
    mkdirSync(d);
    expectCliError(['inspect', d], 'E_NO_MODEL');
  });

  it('a folder that only holds model folders: E_NO_MODEL names them', () => {
    const r = cli(['inspect', join(ROOT, 'fixtures')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_NO_MODEL: .*models found in .*tiny_classifier/);
  });

  it('a path that does not exist -> E_NOT_FOUND', () => {
    expectCliError(['inspect', join(tmp, 'nope')], 'E_NOT_FOUND');
  });

  it('a missing per-variable param file -> E_PARAM_FILE_MISSING', () => {
    const d = copyModel(MLP, join(tmp, 'missing'));
    writeFileSync(join(d, 'fc_0.b_0'), ''); // present but empty is truncated...
    expect(codeOf(() => loadModel(d))).toBe('E_PARAMS_TRUNCATED');
    const d2 = join(tmp, 'missing2');
    mkdirSync(d2);
    copyFileSync(join(MLP, '__model__'), join(d2, '__model__'));
    copyFileSync(join(MLP, 'fc_0.w_0'), join(d2, 'fc_0.w_0'));
    expect(codeOf(() => loadModel(d2))).toBe('E_PARAM_FILE_MISSING');
    expectCliError(['inspect', d2], 'E_PARAM_FILE_MISSING');
  });

  it('a tensor whose shape disagrees with the program -> E_PARAM_SHAPE_MISMATCH', () => {
    const d = copyModel(MLP, join(tmp, 'shape'));
    const wrong = new ProgramBuilder().param('fc_0.b_0', [4], seededFloats(4, 1)).separateParams().get('fc_0.b_0')!;
    writeFileSync(join(d, 'fc_0.b_0'), wrong);
    expect(codeOf(() => loadModel(d))).toBe('E_PARAM_SHAPE_MISMATCH');
    expectCliError(['inspect', d], 'E_PARAM_SHAPE_MISMATCH');
  });

  it('a tensor whose dtype disagrees with the program -> E_PARAM_DTYPE_MISMATCH', () => {
    const d = copyModel(MLP, join(tmp, 'dtype'));
    const wrong = new ProgramBuilder().param('fc_0.b_0', [3], new Float64Array(3), 'float64').separateParams().get('fc_0.b_0')!;
    writeFileSync(join(d, 'fc_0.b_0'), wrong);
    expect(codeOf(() => loadModel(d))).toBe('E_PARAM_DTYPE_MISMATCH');
  });

  it('a params file with a huge claimed size fails before allocating', () => {
    const d = copyModel(CLASSIFIER, join(tmp, 'huge'));
    const p = join(d, 'inference.pdiparams');
    // first tensor claims [2^31, 2^31] float32 = 2^64 bytes, then a few real bytes
    writeFileSync(p, Buffer.concat([Buffer.from(encodeTensorHeader({ data_type: 5, dims: [2 ** 31, 2 ** 31] })), Buffer.alloc(64)]));
    expect(codeOf(() => loadModel(d))).toBe('E_PARAMS_TOO_LARGE');
    // [1e9] float32 = 4 GB, under the element cap but far beyond the bytes left
    writeFileSync(p, Buffer.concat([Buffer.from(encodeTensorHeader({ data_type: 5, dims: [8] })), Buffer.alloc(32), Buffer.from(encodeTensorHeader({ data_type: 5, dims: [1e9] })), Buffer.alloc(64)]));
    expect(codeOf(() => loadModel(d))).toBe('E_PARAMS_TRUNCATED');
    // run the real CLI and measure its peak memory: nothing near 4 GB may be allocated
    const probe = `import { main } from ${JSON.stringify(join(ROOT, 'dist/cli/main.js'))};
      const code = await main(['inspect', ${JSON.stringify(d)}]);
      process.stdout.write(JSON.stringify({ code, maxRSS: process.resourceUsage().maxRSS }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
    const out = JSON.parse(r.stdout) as { code: number; maxRSS: number };
    expect(out.code).toBe(1);
    expect(r.stderr).toMatch(/^pserve: E_PARAMS_TRUNCATED: .*claims 4000000000 bytes/);
    expect(out.maxRSS).toBeLessThan(200 * 1024); // KiB
  });

  it('huge LoD level counts, LoD sizes and TensorDesc sizes are refused from the header', () => {
    const base = Buffer.from(encodeTensorHeader({ data_type: 5, dims: [1] }));
    const lodCount = Buffer.from(base); lodCount.writeBigUInt64LE(2n ** 62n, 4);
    expect(codeOf(() => readTensorRecord(new BytesSource(lodCount), 0, 't'))).toBe('E_PARAMS_INVALID');
    const lodSize = Buffer.alloc(40); lodSize.writeBigUInt64LE(1n, 4); lodSize.writeBigUInt64LE(2n ** 63n, 12);
    expect(codeOf(() => readTensorRecord(new BytesSource(lodSize), 0, 't'))).toBe('E_PARAMS_TRUNCATED');
    const desc = Buffer.from(base); desc.writeInt32LE(2 ** 31 - 1, 16);
    expect(codeOf(() => readTensorRecord(new BytesSource(desc), 0, 't'))).toBe('E_PARAMS_INVALID');
    const version = Buffer.from(base); version.writeUInt32LE(7, 0);
    expect(codeOf(() => readTensorRecord(new BytesSource(version), 0, 't'))).toBe('E_PARAMS_VERSION');
  });

  it('invalid PIR JSON -> E_PIR_INVALID', () => {
    const d = join(tmp, 'pir');
    mkdirSync(d);
    writeFileSync(join(d, 'inference.json'), '{"base_code":{"magic":"pir","version":1},"program":{"regions":[{"blocks":[{"ops":[{"#":"1.relu","O":[{"%":1,"TT":{"#":"0.t_dtensor","D":[{"#":"0.t_f32"},"oops"]}}]}]}]}]}}');
    expectCliError(['inspect', d], 'E_PIR_INVALID');
    writeFileSync(join(d, 'inference.json'), '{"base_code": {"magic": "pir"}, "program": [');
    expectCliError(['inspect', d], 'E_PIR_INVALID');
  });

  it('two programs in one directory -> E_MODEL_AMBIGUOUS (pick one with --model_filename)', () => {
    const d = join(tmp, 'two');
    mkdirSync(d);
    copyFileSync(join(CLASSIFIER, 'inference.pdmodel'), join(d, 'a.pdmodel'));
    copyFileSync(join(CLASSIFIER, 'inference.pdmodel'), join(d, 'b.pdmodel'));
    expectCliError(['inspect', d], 'E_MODEL_AMBIGUOUS');
    const r = cliJson<{ feeds: unknown[] }>(['inspect', d, '--model_filename', 'a.pdmodel']);
    expect(r.code).toBe(0);
  });

  it('a bad option is a usage error (exit 2)', () => {
    const r = spawnSync(process.execPath, [BIN, 'inspect'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
  });
});
