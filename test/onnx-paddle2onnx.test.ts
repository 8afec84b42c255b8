/**
 * The paddle2onnx engine against a stand-in executable that records its argv and behaves as the
 * real tool does in each documented way: writes a good file, lists unsupported ops then SIGABRTs,
 * exits 255, exits 0 leaving an empty or garbage file.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArgs, parseUnsupported } from '../src/convert/paddle2onnx.js';
import { cli, cliJson, ROOT, tempDir } from './helpers.js';

const dir = tempDir('pserve-p2o-');
const bin = join(dir, 'bin');
const argvLog = join(dir, 'argv.json');
const good = join(dir, 'good.onnx');
const MODEL = join(ROOT, 'fixtures', 'tiny_classifier');

const FAKE = `#!${process.execPath}
const fs = require('fs');
const a = process.argv.slice(2);
if (a[0] === '-h') { console.log('usage: paddle2onnx --model_dir D --model_filename F --params_filename F --save_file OUT --opset_version N --enable_onnx_checker B --enable_auto_update_opset B'); process.exit(0); }
if (a[0] === '--version') { console.log('paddle2onnx-1.2.3 with python>=3.8, paddlepaddle>=2.0.0'); process.exit(0); }
fs.writeFileSync(process.env.FAKE_ARGV, JSON.stringify(a));
const out = a[a.indexOf('--save_file') + 1];
const mode = process.env.FAKE_MODE;
console.log('[Paddle2ONNX] Start to parse PaddlePaddle model...');
if (mode === 'ok') { fs.copyFileSync(process.env.FAKE_SOURCE, out); console.log('[Paddle2ONNX] ONNX model saved'); process.exit(0); }
if (mode === 'unsupported') {
  console.error('[ERROR][Paddle2ONNX] Oops, there are some operators not supported yet, including sequence_conv,sequence_pool,');
  process.kill(process.pid, 'SIGABRT');
}
if (mode === 'abort') { fs.writeFileSync(out, 'partial'); process.kill(process.pid, 'SIGABRT'); }
if (mode === 'exit255') { console.error('[ERROR] Failed to parse PaddlePaddle model.'); process.exit(255); }
if (mode === 'empty') { fs.writeFileSync(out, ''); process.exit(0); }
if (mode === 'garbage') { fs.writeFileSync(out, Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01])); process.exit(0); }
`;

function run(mode: string, save: string, extra: string[] = [], engine = 'auto') {
  return cliJson<Record<string, any>>(['onnx', '--model_dir', MODEL, '--save_file', save, '--engine', engine, ...extra], {
    env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_MODE: mode, FAKE_ARGV: argvLog, FAKE_SOURCE: good },
  });
}

beforeAll(() => {
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'paddle2onnx'), FAKE);
  chmodSync(join(bin, 'paddle2onnx'), 0o755);
  // a real ONNX of the model, written by the native engine, for the stand-in to "produce"
  const r = cli(['onnx', '--model_dir', MODEL, '--save_file', good, '--engine', 'native', '--no-validate']);
  expect(r.code, r.stderr).toBe(0);
});

describe('pserve onnx --engine paddle2onnx (stand-in executable)', () => {
  it('auto picks paddle2onnx when on PATH; argv follows the flags its -h lists', () => {
    const save = join(dir, 'ok.onnx');
    const r = run('ok', save);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json['engine']).toBe('paddle2onnx');
    expect(r.json['tool'].version).toBe('1.2.3');
    expect(r.json['validation'].ok).toBe(true);
    expect(readFileSync(save)).toEqual(readFileSync(good));
    const argv = JSON.parse(readFileSync(argvLog, 'utf8')) as string[];
    expect(argv.slice(0, 6)).toEqual(['--model_dir', MODEL, '--model_filename', 'inference.pdmodel', '--params_filename', 'inference.pdiparams']);
    expect(argv[6]).toBe('--save_file');
    expect(argv[7]).toMatch(/\.ok\.onnx\.pserve-tmp-/); // written to a temp sibling, renamed after checks
    expect(argv.slice(8)).toEqual(['--enable_onnx_checker', 'True', '--enable_auto_update_opset', 'True']);
    // without --json the tool's log streams to stderr, and stdout names the engine
    const t = cli(['onnx', '--model_dir', MODEL, '--save_file', save], { env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_MODE: 'ok', FAKE_ARGV: argvLog, FAKE_SOURCE: good } });
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/paddle2onnx: \[Paddle2ONNX\] Start to parse/);
    expect(t.stdout).toMatch(/^engine {4}paddle2onnx \(paddle2onnx 1\.2\.3 found at /);
  });

  it('a --model_dir naming the program file passes its folder as --model_dir', () => {
    const r = cliJson<Record<string, any>>(['onnx', '--model_dir', join(MODEL, 'inference.pdmodel'), '--save_file', join(dir, 'file.onnx'), '--engine', 'paddle2onnx'], {
      env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_MODE: 'ok', FAKE_ARGV: argvLog, FAKE_SOURCE: good },
    });
    expect(r.code, r.stderr).toBe(0);
    const argv = JSON.parse(readFileSync(argvLog, 'utf8')) as string[];
    expect(argv.slice(0, 4)).toEqual(['--model_dir', MODEL, '--model_filename', 'inference.pdmodel']);
  });

  it('passes --opset_version and then leaves auto-update off', () => {
    const r = run('ok', join(dir, 'ok11.onnx'), ['--opset_version', '11'], 'paddle2onnx');
    expect(r.code, r.stderr).toBe(0);
    const argv = JSON.parse(readFileSync(argvLog, 'utf8')) as string[];
    expect(argv).toContain('--opset_version');
    expect(argv[argv.indexOf('--opset_version') + 1]).toBe('11');
    expect(argv).not.toContain('--enable_auto_update_opset');
  });

  const failures: [string, string, RegExp][] = [
    ['unsupported', 'E_ONNX_UNSUPPORTED_OPS', /sequence_conv, sequence_pool/],
    ['abort', 'E_PADDLE2ONNX_CRASHED', /SIGABRT/],
    ['exit255', 'E_PADDLE2ONNX_FAILED', /status 255: .*Failed to parse/],
    ['empty', 'E_PADDLE2ONNX_BAD_OUTPUT', /empty file/],
    ['garbage', 'E_PADDLE2ONNX_BAD_OUTPUT', /not an ONNX model/],
  ];
  for (const [mode, code, msg] of failures) {
    it(`${mode}: ${code}, and the existing --save_file is left as it was`, () => {
      const save = join(dir, `${mode}.onnx`);
      writeFileSync(save, 'previous content');
      const r = run(mode, save);
      expect(r.code).toBe(1);
      expect(r.json['error'].code).toBe(code);
      expect(r.json['error'].message).toMatch(msg);
      expect(readFileSync(save, 'utf8')).toBe('previous content');
    });
  }

  it('--engine paddle2onnx without the tool is a usage error; auto falls back to native', () => {
    const r = cliJson<Record<string, any>>(['onnx', '--model_dir', MODEL, '--save_file', join(dir, 'x.onnx'), '--engine', 'paddle2onnx'], { env: { PATH: '/usr/bin:/bin' } });
    expect(r.code).toBe(2);
    expect(r.json['error'].code).toBe('E_PADDLE2ONNX_MISSING');
    const r2 = cliJson<Record<string, any>>(['onnx', '--model_dir', MODEL, '--save_file', join(dir, 'x.onnx')], { env: { PATH: '/usr/bin:/bin' } });
    expect(r2.code).toBe(0);
    expect(r2.json['engine']).toBe('native');
    expect(r2.json['reason']).toBe('paddle2onnx not found on PATH');
    expect(existsSync(join(dir, 'x.onnx'))).toBe(true);
  });

  it('parses the unsupported-op line and builds argv without optional flags an old version lacks', () => {
    expect(parseUnsupported('x\n[ERROR] Oops, there are some operators not supported yet, including multiclass_nms3,prior_box,\nmore')).toEqual(['multiclass_nms3', 'prior_box']);
    expect(parseUnsupported('all good')).toBeUndefined();
    const probe = { path: 'p', flags: new Set(['model_dir', 'save_file']), readsPir: false };
    expect(buildArgs(probe, { modelDir: 'd', saveFile: 'o.onnx' })).toEqual(['--model_dir', 'd', '--save_file', 'o.onnx']);
    void copyFileSync;
  });
});
