/**
 * Ctrl-C and SIGTERM: every command removes its own temp output, prints one line
 * (`pserve: interrupted; nothing was written`) and exits 130 / 143. Temp folders left by a SIGKILL
 * (owner pid gone) are removed by the next run of the same command on the same target.
 * Real CLI, child processes, signals sent at several moments of the run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, cli, tempDir, treeHash } from './helpers.js';

interface Ended { code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string; sent: boolean }

const litter = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((e) => e.includes('.pserve-tmp-')) : []);

/**
 * Start the CLI and send `sig` at a moment: 'temp' = as soon as its temp output exists beside
 * `out` (the middle of the work), or a number of ms after the start.
 */
function runAndSignal(args: string[], sig: NodeJS.Signals, when: 'temp' | number, watchDir: string, cwd: string): Promise<Ended> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1', NO_COLOR: '1' } });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    let sent = false;
    const send = () => { if (child.exitCode === null && !sent) sent = child.kill(sig); };
    let poll: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    if (when === 'temp') poll = setInterval(() => { if (litter(watchDir).length) { clearInterval(poll); send(); } }, 2);
    else timer = setTimeout(send, when);
    child.on('close', (code, signal) => { clearInterval(poll); clearTimeout(timer); resolve({ code, signal, stderr, stdout, sent }); });
  });
}

const sample = join(ROOT, 'fixtures', 'tiny_classifier');

describe('interrupts: bundle and package clean up and say so', () => {
  const tmp = tempDir('pserve-int-');
  const conv = join(tmp, 'conv');
  mkdirSync(conv);
  const bundleArgs = (out: string) => ['bundle', '--serving_server', join(conv, 'srv'), '--serving_client', join(conv, 'cli'), '--out', out, '--name', 'cls'];

  it('SIGINT and SIGTERM at several moments of bundle and package: exit 130/143, one line, no litter', async () => {
    expect(cli(['convert', '--dirname', sample, '--serving_server', join(conv, 'srv'), '--serving_client', join(conv, 'cli')], { cwd: tmp }).code).toBe(0);
    const ref = join(tmp, 'ref');
    expect(cli(bundleArgs(ref), { cwd: tmp }).code).toBe(0);
    const refTree = treeHash(ref);
    let interrupted = 0;
    const moments: ('temp' | number)[] = ['temp', 'temp', 150, 400];
    let i = 0;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      for (const when of moments) {
        const parent = join(tmp, `b${i++}`);
        mkdirSync(parent);
        const out = join(parent, 'bundle');
        const r = await runAndSignal(bundleArgs(out), sig, when, parent, tmp);
        expect(litter(parent), `bundle ${sig} at ${when}`).toEqual([]);
        if (r.code === 0) { expect(treeHash(out)).toEqual(refTree); continue; }
        // a signal inside node's own bootstrap (before any JavaScript runs) takes the default action
        if (r.signal === sig && typeof when === 'number') { expect(existsSync(out)).toBe(false); continue; }
        interrupted++;
        expect(r.code, `${sig} at ${when}: ${r.stderr}`).toBe(sig === 'SIGINT' ? 130 : 143);
        expect(r.stderr.trim().split('\n')).toEqual(['pserve: interrupted; nothing was written']);
        expect(existsSync(out)).toBe(false);

        const tgzDir = join(tmp, `p${i}`);
        mkdirSync(tgzDir);
        const tgz = join(tgzDir, 'b.tgz');
        const p = await runAndSignal(['package', ref, '--out', tgz, '--json'], sig, when, tgzDir, tmp);
        expect(litter(tgzDir), `package ${sig} at ${when}`).toEqual([]);
        if (p.code === 0) { expect(existsSync(tgz)).toBe(true); continue; }
        if (p.signal === sig && typeof when === 'number') { expect(existsSync(tgz)).toBe(false); continue; }
        interrupted++;
        expect(p.code).toBe(sig === 'SIGINT' ? 130 : 143);
        // --json: still one JSON object on stdout, and the one line on stderr
        expect(JSON.parse(p.stdout)).toMatchObject({ ok: false, error: { code: 'E_INTERRUPTED' } });
        expect(p.stderr.trim().split('\n')).toEqual(['pserve: interrupted; nothing was written']);
        expect(existsSync(tgz)).toBe(false);
      }
    }
    // the 'temp' moments always land inside the work
    expect(interrupted).toBeGreaterThanOrEqual(4);
  });

  it('a temp folder left by SIGKILL is recognised (owner pid gone) and removed by the next run on the same target', async () => {
    const parent = join(tmp, 'killed');
    mkdirSync(parent);
    const out = join(parent, 'bundle');
    const r = await runAndSignal(bundleArgs(out), 'SIGKILL', 'temp', parent, tmp);
    expect(r.signal).toBe('SIGKILL');
    const left = litter(parent);
    expect(left.length).toBeGreaterThan(0);
    // the next run of the same command on the same target removes it and succeeds
    const again = cli([...bundleArgs(out)], { cwd: tmp });
    expect(again.code, again.stderr).toBe(0);
    expect(litter(parent)).toEqual([]);
    expect(existsSync(join(out, 'manifest.json'))).toBe(true);
  });
});
