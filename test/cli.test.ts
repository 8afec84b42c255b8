/** CLI behaviour every command shares: usage errors, --version, progress on odd terminals. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { progressMode } from '../src/cli/progress.js';
import { BIN, ROOT, cli, cliJson, tempDir } from './helpers.js';

describe('usage errors', () => {
  it('unknown options and commands: one line with E_USAGE, exit 2', () => {
    for (const args of [['convert', '--bogus'], ['nosuch'], ['alias']]) {
      const r = cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^pserve: E_USAGE: /);
    }
  });
  it('option values are checked with readable wording', () => {
    expect(cli(['onnx', '--model_dir', 'x', '--save_file', 'y', '--opset_version', 'abc']).stderr).toMatch(/--opset_version: expected a number/);
    expect(cli(['package', ROOT]).stderr).toMatch(/--out: is required/);
    expect(cli(['onnx', '--model_dir', 'x', '--save_file', 'y', '--engine', 'foo']).stderr).toMatch(/--engine: expected one of auto, paddle2onnx, native, got "foo"/);
    const j = cliJson<{ ok: boolean; error: { code: string } }>(['nosuch']);
    expect(j.code).toBe(2);
    expect(j.json.error.code).toBe('E_USAGE');
  });
  it('--version, and --version --json', () => {
    expect(cli(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const j = cliJson<{ version: string }>(['--version']);
    expect(j.json.version).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('progress drawing', () => {
  it('spinners only on a TTY that reports columns, never in CI or with --json', () => {
    const tty = (columns: number | undefined) => ({ isTTY: true, columns }) as unknown as NodeJS.WriteStream;
    expect(progressMode(false, tty(120), {})).toBe('tty');
    expect(progressMode(false, tty(0), {})).toBe('lines');
    expect(progressMode(false, tty(undefined), {})).toBe('lines');
    expect(progressMode(false, tty(120), { CI: 'true' })).toBe('lines');
    expect(progressMode(true, tty(120), {})).toBe('silent');
  });

  const haveScript = spawnSync('script', ['--version']).status === 0;
  (haveScript ? it : it.skip)('a command on a 0-column pseudo-terminal finishes and exits (regression: it spun forever)', () => {
    const d = tempDir('pserve-tty-');
    const out = join(d, 'u.onnx');
    const cmd = `stty cols 0 rows 0; ${process.execPath} ${BIN} onnx --model_dir ${join(ROOT, 'fixtures', 'tiny_classifier')} --save_file ${out}`;
    const env = { ...process.env };
    delete env['CI'];
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000, env });
    expect(r.status).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(r.stdout.length).toBeLessThan(10_000);
  });
});
