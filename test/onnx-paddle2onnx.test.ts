/**
 * The paddle2onnx engine against a stand-in executable that REPLAYS what real paddle2onnx 1.2.7 and
 * 1.2.11 printed and how they exited (../shared/fixtures/paddle2onnx_transcripts): the same stdout and
 * stderr bytes, the same exit status or signal (134 = SIGABRT), and the output file written or not
 * (0 bytes where the real one wrote 0 bytes; where it wrote a model, an ONNX of the same program at the
 * opset that version chose: real paddle2onnx 1.2.7's own file for ppyolo_tiny, else the native engine's).
 * A few failure kinds the transcripts do not hold (a crash without an op list, exit 255, a garbage file)
 * are replayed from folders the test writes in the same layout.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArgs, parseConvertFailed, parseUnsupported, parseWarnings } from '../src/convert/paddle2onnx.js';
import { cli, cliJson, describeShared, ROOT, shared, tempDir } from './helpers.js';

const dir = tempDir('pserve-p2o-');
const bin = join(dir, 'bin');
const argvLog = join(dir, 'argv.json');
const TRANSCRIPTS = shared('paddle2onnx_transcripts');

/** Replays one transcript folder: FAKE_VERSION_DIR/<case>, with -h and --version from help/ and version/. */
const FAKE = `#!${process.execPath}
const fs = require('fs');
const path = require('path');
const a = process.argv.slice(2);
const caseDir = a[0] === '-h' || a[0] === '--help' ? path.join(process.env.FAKE_VERSION_DIR, 'help')
  : a[0] === '--version' ? path.join(process.env.FAKE_VERSION_DIR, 'version')
  : process.env.FAKE_CASE_DIR;
const read = (f) => { try { return fs.readFileSync(path.join(caseDir, f)); } catch { return undefined; } };
if (caseDir === process.env.FAKE_CASE_DIR) fs.writeFileSync(process.env.FAKE_ARGV, JSON.stringify(a));
const status = Number(String(read('exit_status.txt')).trim());
const outInfo = String(read('output_file.txt') ?? 'not written').trim();
const out = a.indexOf('--save_file') >= 0 ? a[a.indexOf('--save_file') + 1] : undefined;
const finish = () => {
  const m = /^written: (\\d+) bytes/.exec(outInfo);
  if (m && out) fs.writeFileSync(out, Number(m[1]) === 0 ? Buffer.alloc(0) : fs.readFileSync(process.env.FAKE_ONNX));
  const signal = { 134: 'SIGABRT', 137: 'SIGKILL', 139: 'SIGSEGV' }[status];
  if (signal) process.kill(process.pid, signal);
  else process.exit(status);
};
process.stdout.write(read('stdout.txt') ?? '', () => process.stderr.write(read('stderr.txt') ?? '', finish));
`;

function argvOf(caseDir: string): string[] {
  return readFileSync(join(caseDir, 'argv.txt'), 'utf8').trim().split(/\s+/);
}
function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}
/** The fixture a transcript's argv names ("../shared/fixtures/x" relative to the project root). */
function fixturePath(p: string): string {
  return shared(p.replace(/^\.\.\/shared\/fixtures\//, ''));
}

function runCase(versionDir: string, caseDir: string, save: string, onnxFile: string, engine = 'paddle2onnx', extra: string[] = []) {
  const recorded = argvOf(caseDir);
  const args = ['onnx', '--model_dir', fixturePath(flag(recorded, 'model_dir')!), '--save_file', save, '--engine', engine];
  const mf = flag(recorded, 'model_filename');
  if (mf) args.push('--model_filename', mf);
  const pf = flag(recorded, 'params_filename');
  // pserve itself refuses a params file that is not there, before any tool runs: the stand-in is what
  // says it is missing, so pserve is given the real one
  if (pf && !/nosuch/.test(pf)) args.push('--params_filename', pf);
  const ov = flag(recorded, 'opset_version');
  if (ov) args.push('--opset_version', ov);
  return cliJson<Record<string, any>>([...args, ...extra], {
    env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_VERSION_DIR: versionDir, FAKE_CASE_DIR: caseDir, FAKE_ARGV: argvLog, FAKE_ONNX: onnxFile },
    timeout: 300_000,
  });
}

/** An ONNX of `modelDir` from the native engine at `opset`, made once per (model, opset). */
const natives = new Map<string, string>();
function nativeOnnx(modelDir: string, opset: number, extra: string[] = []): string {
  const key = `${modelDir}@${opset}`;
  let f = natives.get(key);
  if (f) return f;
  f = join(dir, `native-${natives.size}-op${opset}.onnx`);
  const r = cli(['onnx', '--model_dir', modelDir, ...extra, '--save_file', f, '--engine', 'native', '--opset_version', String(opset), '--no-validate'], { timeout: 300_000 });
  expect(r.code, r.stderr).toBe(0);
  natives.set(key, f);
  return f;
}

beforeAll(() => {
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'paddle2onnx'), FAKE);
  chmodSync(join(bin, 'paddle2onnx'), 0o755);
});

describe('paddle2onnx log parsing', () => {
  it('takes op names only from a non-empty "not supported yet" list followed by the abort line', () => {
    const oops = '[Paddle2ONNX] Oops, there are some operators not supported yet, including ';
    const abort = '[ERROR] Due to the unsupported operators, the conversion is aborted.\n';
    expect(parseUnsupported(`${oops}multiclass_nms3,prior_box,\n`, abort)).toEqual(['multiclass_nms3', 'prior_box']);
    expect(parseUnsupported(`${oops}multiclass_nms3,prior_box,\n${abort}`)).toEqual(['multiclass_nms3', 'prior_box']);
    // 1.2.7 on success: an empty list, and the next line's words are not op names
    expect(parseUnsupported(`${oops}\n[Paddle2ONNX] Use opset_version = 11 for ONNX export.\n`)).toBeUndefined();
    expect(parseUnsupported(`${oops}\n[Paddle2ONNX] Use opset_version = 11 for ONNX export.\n`, abort)).toBeUndefined();
    // a list without the abort line names nothing
    expect(parseUnsupported(`${oops}prior_box,\n[Paddle2ONNX] PaddlePaddle model is exported as ONNX format now.\n`)).toBeUndefined();
    expect(parseUnsupported('all good')).toBeUndefined();
    expect(parseConvertFailed('[Paddle2ONNX] Cannot open file a/b.pdiparams to read.\n[Paddle2ONNX] Failed to load parameters of PaddlePaddle model.\n[Paddle2ONNX] Paddle model parsing failed.\n[Paddle2ONNX] Paddle model convert failed.\n'))
      .toBe('Cannot open file a/b.pdiparams to read. Failed to load parameters of PaddlePaddle model.');
    expect(parseConvertFailed('[Paddle2ONNX] PaddlePaddle model is exported as ONNX format now.')).toBeUndefined();
    expect(parseWarnings('[Paddle2ONNX] x\n[WARN][Paddle2ONNX] [multiclass_nms3: m.tmp_1] [WARNING] Due to the operator multiclass_nms3, batch 1.\n'))
      .toEqual(['Due to the operator multiclass_nms3, batch 1.']);
  });

  it('--engine paddle2onnx without the tool is a coded error (exit 1: exit 2 is only E_USAGE); auto falls back to native', () => {
    const MODEL = join(ROOT, 'fixtures', 'tiny_classifier');
    const r = cliJson<Record<string, any>>(['onnx', '--model_dir', MODEL, '--save_file', join(dir, 'x.onnx'), '--engine', 'paddle2onnx'], { env: { PATH: '/usr/bin:/bin' } });
    expect(r.code).toBe(1);
    expect(r.json['error'].code).toBe('E_PADDLE2ONNX_MISSING');
    const r2 = cliJson<Record<string, any>>(['onnx', '--model_dir', MODEL, '--save_file', join(dir, 'x.onnx')], { env: { PATH: '/usr/bin:/bin' } });
    expect(r2.code).toBe(0);
    expect(r2.json['engine']).toBe('native');
    expect(r2.json['reason']).toBe('paddle2onnx not found on PATH');
    expect(existsSync(join(dir, 'x.onnx'))).toBe(true);
  });

  it('builds argv without optional flags an old version lacks', () => {
    const probe = { path: 'p', flags: new Set(['model_dir', 'save_file']), readsPir: false };
    expect(buildArgs(probe, { modelDir: 'd', saveFile: 'o.onnx' })).toEqual(['--model_dir', 'd', '--save_file', 'o.onnx']);
  });
});

interface Expect { code?: string; ops?: string[]; msg?: RegExp; opset?: number; warn?: RegExp }
const CASES: Record<string, (v: string) => Expect> = {
  success_plain: (v) => ({ opset: v === '1.2.7' ? 11 : 14 }),
  success_opset_bump: (v) => ({ opset: v === '1.2.7' ? 11 : 14 }),
  nms_batch1_warning: (v) => ({ opset: v === '1.2.7' ? 11 : 14, warn: /multiclass_nms3, the exported ONNX model will only supports inference with input batch_size == 1/ }),
  missing_params_file: () => ({ code: 'E_PADDLE2ONNX_FAILED', msg: /exited 0 but did not convert: Cannot open file \S*nosuch\.pdiparams to read\. Failed to load parameters/ }),
  lod_sequence_ops: () => ({ code: 'E_ONNX_UNSUPPORTED_OPS', ops: ['sequence_conv', 'sequence_pool'] }),
  quantized_unsupported: () => ({ code: 'E_ONNX_UNSUPPORTED_OPS', ops: ['fake_channel_wise_quantize_dequantize_abs_max', 'fake_quantize_dequantize_moving_average_abs_max'] }),
  unsupported_op: () => ({ code: 'E_ONNX_UNSUPPORTED_OPS', ops: ['prior_box'] }),
};

for (const version of ['1.2.7', '1.2.11']) {
  describeShared(`pserve onnx --engine paddle2onnx replaying real paddle2onnx ${version}`, () => {
    const vdir = join(TRANSCRIPTS, version);

    it('the transcripts hold every case this test replays', () => {
      for (const c of [...Object.keys(CASES), 'help', 'version']) expect(existsSync(join(vdir, c, 'argv.txt')), c).toBe(true);
    });

    for (const [name, want] of Object.entries(CASES)) {
      it(`${name}`, () => {
        const e = want(version);
        const caseDir = join(vdir, name);
        const recorded = argvOf(caseDir);
        const modelDir = fixturePath(flag(recorded, 'model_dir')!);
        const mf = flag(recorded, 'model_filename');
        // the file the stand-in writes when the real tool wrote a model
        let onnxFile = join(dir, 'unused.onnx');
        if (e.opset !== undefined) {
          const reference = join(modelDir, 'paddle2onnx_reference', `model_opset${e.opset}.onnx`);
          onnxFile = name === 'nms_batch1_warning' && existsSync(reference) ? reference
            : nativeOnnx(modelDir, e.opset, mf ? ['--model_filename', mf] : []);
        }
        const save = join(dir, `${version}-${name}.onnx`);
        writeFileSync(save, 'previous content');
        const r = runCase(vdir, caseDir, save, onnxFile);
        // pserve passed the recorded program, params and opset to the tool
        const argv = JSON.parse(readFileSync(argvLog, 'utf8')) as string[];
        expect(flag(argv, 'model_dir')).toBe(modelDir);
        expect(flag(argv, 'model_filename')).toBe(mf ?? (existsSync(join(modelDir, 'inference.pdmodel')) ? 'inference.pdmodel' : flag(argv, 'model_filename')));
        expect(flag(argv, 'opset_version')).toBe(flag(recorded, 'opset_version'));
        if (e.code) {
          expect(r.code, r.stderr).toBe(1);
          expect(r.json['ok']).toBe(false);
          expect(r.json['error'].code).toBe(e.code);
          if (e.ops) expect(r.json['error'].message).toBe(`paddle2onnx cannot convert ${e.ops.length} op type${e.ops.length > 1 ? 's' : ''}: ${e.ops.join(', ')}`);
          if (e.msg) expect(r.json['error'].message).toMatch(e.msg);
          expect(readFileSync(save, 'utf8')).toBe('previous content');
        } else {
          expect(r.code, JSON.stringify(r.json)).toBe(0);
          expect(r.json['engine']).toBe('paddle2onnx');
          expect(r.json['tool'].version).toBe(version);
          expect(r.json['opset']).toBe(e.opset);
          expect(r.json['validation'].ok).toBe(true);
          expect(readFileSync(save).equals(readFileSync(onnxFile)), "the tool's file, renamed into place").toBe(true); // Buffer.equals: a deep toEqual of megabytes takes seconds
          if (e.warn) expect(r.json['warnings'].join('\n')).toMatch(e.warn);
          else expect(r.json['warnings']).toBeUndefined();
        }
      }, 300_000);
    }

    it('auto picks paddle2onnx when on PATH; argv follows the flags its -h lists', () => {
      const caseDir = join(vdir, 'success_plain');
      const modelDir = shared('ppocr_cls_v2');
      const save = join(dir, `${version}-auto.onnx`);
      const onnxFile = nativeOnnx(modelDir, version === '1.2.7' ? 11 : 14);
      const r = cliJson<Record<string, any>>(['onnx', '--model_dir', modelDir, '--save_file', save], {
        env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_VERSION_DIR: vdir, FAKE_CASE_DIR: caseDir, FAKE_ARGV: argvLog, FAKE_ONNX: onnxFile },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json['engine']).toBe('paddle2onnx');
      expect(r.json['reason']).toBe(`paddle2onnx ${version} found at ${join(bin, 'paddle2onnx')}`);
      const argv = JSON.parse(readFileSync(argvLog, 'utf8')) as string[];
      expect(argv.slice(0, 6)).toEqual(['--model_dir', modelDir, '--model_filename', 'inference.pdmodel', '--params_filename', 'inference.pdiparams']);
      expect(argv[6]).toBe('--save_file');
      expect(argv[7]).toMatch(new RegExp(`\\.${version.replace(/\./g, '\\.')}-auto\\.onnx\\.pserve-tmp-`)); // a temp sibling, renamed after checks
      expect(argv.slice(8)).toEqual(['--enable_onnx_checker', 'True', '--enable_auto_update_opset', 'True']);
      // without --json, stdout names the engine and the opset
      const t = cli(['onnx', '--model_dir', modelDir, '--save_file', save], {
        env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_VERSION_DIR: vdir, FAKE_CASE_DIR: caseDir, FAKE_ARGV: argvLog, FAKE_ONNX: onnxFile },
      });
      expect(t.code, t.stderr).toBe(0);
      // the replayed log streams to stderr, line by line, the empty "Oops" list of 1.2.7 included
      expect(t.stderr).toMatch(/paddle2onnx: \[Paddle2ONNX\] PaddlePaddle model is exported as ONNX format now\./);
      if (version === '1.2.7') expect(t.stderr).toMatch(/paddle2onnx: \[Paddle2ONNX\] Oops, there are some operators not supported yet, including \n/);
      expect(t.stdout).toMatch(new RegExp(`^engine {4}paddle2onnx \\(paddle2onnx ${version.replace(/\./g, '\\.')} found at `));
      expect(t.stdout).toMatch(new RegExp(`opset ${version === '1.2.7' ? 11 : 14}\\)`));
    }, 300_000);
  });
}

describeShared('pserve onnx --engine paddle2onnx: failure kinds the transcripts do not hold', () => {
  const vdir = join(TRANSCRIPTS, '1.2.11');
  const head = '[Paddle2ONNX] Start to parse PaddlePaddle model...\n[Paddle2ONNX] Start to parsing Paddle model...\n';
  const kinds: [string, { stdout: string; stderr: string; status: number; out: string }, string, RegExp][] = [
    // a list but no abort line: a crash, not an op refusal
    ['abort', { stdout: `${head}[Paddle2ONNX] Oops, there are some operators not supported yet, including \n`, stderr: '', status: 134, out: 'not written' }, 'E_PADDLE2ONNX_CRASHED', /killed by SIGABRT/],
    ['exit255', { stdout: head, stderr: '[ERROR] Failed to parse PaddlePaddle model.\n', status: 255, out: 'not written' }, 'E_PADDLE2ONNX_FAILED', /status 255: .*Failed to parse/],
    ['empty', { stdout: `${head}[Paddle2ONNX] PaddlePaddle model is exported as ONNX format now.\n`, stderr: '', status: 0, out: 'written: 0 bytes' }, 'E_PADDLE2ONNX_BAD_OUTPUT', /empty file/],
    ['nofile', { stdout: `${head}[Paddle2ONNX] PaddlePaddle model is exported as ONNX format now.\n`, stderr: '', status: 0, out: 'not written' }, 'E_PADDLE2ONNX_BAD_OUTPUT', /wrote no file/],
    ['garbage', { stdout: `${head}[Paddle2ONNX] PaddlePaddle model is exported as ONNX format now.\n`, stderr: '', status: 0, out: 'written: 5 bytes' }, 'E_PADDLE2ONNX_BAD_OUTPUT', /not an ONNX model/],
  ];
  const garbage = join(dir, 'garbage.bin');
  it('a --model_dir naming the program file passes its folder as --model_dir', () => {
    const modelDir = shared('ppocr_cls_v2');
    const r = cliJson<Record<string, any>>(['onnx', '--model_dir', join(modelDir, 'inference.pdmodel'), '--save_file', join(dir, 'file.onnx'), '--engine', 'paddle2onnx', '--no-validate'], {
      env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_VERSION_DIR: vdir, FAKE_CASE_DIR: join(vdir, 'success_plain'), FAKE_ARGV: argvLog, FAKE_ONNX: nativeOnnx(modelDir, 14) },
    });
    expect(r.code, r.stderr).toBe(0);
    const argv = JSON.parse(readFileSync(argvLog, 'utf8')) as string[];
    expect(argv.slice(0, 4)).toEqual(['--model_dir', modelDir, '--model_filename', 'inference.pdmodel']);
  }, 300_000);

  for (const [name, t, code, msg] of kinds) {
    it(`${name}: ${code}, and the existing --save_file is left as it was`, () => {
      writeFileSync(garbage, Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01]));
      const caseDir = join(dir, 'synthetic', name);
      mkdirSync(caseDir, { recursive: true });
      writeFileSync(join(caseDir, 'argv.txt'), 'paddle2onnx --model_dir ../shared/fixtures/ppocr_cls_v2 --model_filename inference.pdmodel --params_filename inference.pdiparams --save_file out.onnx\n');
      writeFileSync(join(caseDir, 'stdout.txt'), t.stdout);
      writeFileSync(join(caseDir, 'stderr.txt'), t.stderr);
      writeFileSync(join(caseDir, 'exit_status.txt'), `${t.status}\n`);
      writeFileSync(join(caseDir, 'output_file.txt'), `${t.out}\n`);
      const save = join(dir, `syn-${name}.onnx`);
      writeFileSync(save, 'previous content');
      const r = runCase(vdir, caseDir, save, garbage);
      expect(r.code).toBe(1);
      expect(r.json['error'].code).toBe(code);
      expect(r.json['error'].message).toMatch(msg);
      expect(readFileSync(save, 'utf8')).toBe('previous content');
    });
  }

});
