/**
 * Usage errors through the real CLI: one line, code E_USAGE, exit 2, found before any work; and
 * exit 2 is never paired with another code.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cli, cliJson, tempDir } from './helpers.js';

const oneLine = (s: string) => s.trim().split('\n');

describe('pserve usage errors', () => {
  const tmp = tempDir('pserve-usage-');

  it('no arguments: exit 2 with one E_USAGE line naming the commands', () => {
    const r = cli([]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^pserve: E_USAGE: no command given: expected one of inspect, convert, /);
    expect(r.stdout).toBe('');
  });

  it('an unknown command (with commander\'s suggestion) is one line', () => {
    const r = cli(['inspct', 'x']);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toEqual([expect.stringMatching(/^pserve: E_USAGE: unknown command 'inspct' \(Did you mean inspect\?\)/)]);
  });

  it('-v, -V and --version print the version', () => {
    const v = cli(['--version']).stdout.trim();
    expect(v).toMatch(/^\d+\.\d+\.\d+/);
    expect(cli(['-v']).stdout.trim()).toBe(v);
    expect(cli(['-V']).stdout.trim()).toBe(v);
    expect(JSON.parse(cli(['-v', '--json']).stdout)).toEqual({ ok: true, version: v });
  });

  it('bundle --platform linux-riscv fails before converting anything', () => {
    const out = join(tmp, 'b');
    const t0 = performance.now();
    const r = cliJson<any>(['bundle', '--serving_server', join(ROOT, 'fixtures', 'tiny_classifier'), '--out', out, '--platform', 'linux-riscv']);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ ok: false, error: { code: 'E_USAGE' } });
    expect(r.json.error.message).toMatch(/--platform: expected one of linux-x64/);
    expect(existsSync(out)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it.each([
    [['inspect']],
    [['inspect', '--bogus', 'x']],
    [['onnx', '--model_dir', 'x']],
    [['bundle', '--out', 'x']],
    [['smoke', 'x', '--shape', 'nonsense']],
    [['serve', 'x', '--port', 'abc']],
    [['fetch']],
  ])('%j: exit 2 always comes with E_USAGE, in one line', (args) => {
    const r = cli(args as string[], { cwd: tmp });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^pserve: E_USAGE: /);
    const j = cliJson<any>(args as string[], { cwd: tmp });
    expect(j.code).toBe(2);
    expect(j.json.error.code).toBe('E_USAGE');
  });
});
