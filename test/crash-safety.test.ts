/**
 * SIGKILL at random moments: the destination is either untouched or complete, never partial, and
 * the sources are never modified. Each case runs the real CLI as a child process and kills it
 * after a delay drawn from a seeded generator that spans the command's whole run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProgramBuilder } from '../src/formats/program-builder.js';
import { BIN, sha, tempDir, treeHash } from './helpers.js';
import { Rng } from './fuzz/harness.js';

/** Start the CLI, kill it with SIGKILL after `ms` (unless it finished), resolve with how it ended. */
export function runAndKill(args: string[], ms: number, cwd: string): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: 'ignore', env: { ...process.env, CI: '1' } });
    let killed = false;
    const t = setTimeout(() => { killed = child.kill('SIGKILL'); }, ms);
    child.on('exit', (code) => { clearTimeout(t); resolve({ killed, code }); });
  });
}

/** Time one full run, to spread the kill moments over it. */
export async function timeRun(args: string[], cwd: string): Promise<number> {
  const t0 = performance.now();
  const r = await runAndKill(args, 600_000, cwd);
  if (r.code !== 0) throw new Error(`pserve ${args.join(' ')} exited ${r.code}`);
  return performance.now() - t0;
}

describe('crash safety: convert', () => {
  const tmp = tempDir('pserve-kill-');
  // a model with a 96 MB params file, so that a kill lands inside the copy as well as before it
  const model = join(tmp, 'model');
  mkdirSync(model);
  const big = new Float32Array(24 * 2 ** 20);
  for (let i = 0; i < big.length; i += 4096) big[i] = i;
  const b = new ProgramBuilder().feed('x', 'float32', [-1, 1024]).param('w', [1024, big.length / 1024], big);
  b.variable('y', 'float32', [-1, big.length / 1024]).op('matmul_v2', { X: ['x'], Y: ['w'] }, { Out: ['y'] }, { trans_x: false, trans_y: false }).fetch('y');
  writeFileSync(join(model, 'inference.pdmodel'), b.programBytes());
  writeFileSync(join(model, 'inference.pdiparams'), b.paramsBytes());
  const before = treeHash(model);

  it('SIGKILL during convert leaves serving_server/ and serving_client/ absent or complete', async () => {
    const args = (out: string) => ['convert', '--dirname', model, '--serving_server', join(out, 'srv'), '--serving_client', join(out, 'cli')];
    const ref = join(tmp, 'ref');
    mkdirSync(ref);
    const full = await timeRun(args(ref), tmp);
    const complete = { srv: treeHash(join(ref, 'srv')), cli: treeHash(join(ref, 'cli')) };
    const rng = new Rng(7);
    let killedMidway = 0;
    for (let i = 0; i < 10; i++) {
      const out = join(tmp, `run${i}`);
      mkdirSync(out);
      const at = 20 + rng.int(Math.ceil(full * 1.1));
      const r = await runAndKill(args(out), at, tmp);
      if (r.killed) killedMidway++;
      for (const [name, want] of Object.entries(complete)) {
        const d = join(out, name);
        if (existsSync(d)) expect(treeHash(d), `${name} after a kill at ${at} ms`).toEqual(want);
      }
      // nothing else but our own temp siblings (named .x.pserve-tmp-*) may be left
      for (const e of readdirSync(out)) expect(e === 'srv' || e === 'cli' || /\.pserve-tmp-/.test(e), e).toBe(true);
    }
    expect(killedMidway).toBeGreaterThan(0);
    expect(treeHash(model)).toEqual(before);
  });
});

describe('crash safety: bundle and package', () => {
  const tmp = tempDir('pserve-kill-bundle-');
  const sample = join(import.meta.dirname, '..', 'fixtures', 'tiny_classifier');

  it('SIGKILL during bundle leaves the bundle folder absent or complete; during package, the .tgz absent or complete', async () => {
    const conv = join(tmp, 'conv');
    mkdirSync(conv);
    expect(await timeRun(['convert', '--dirname', sample, '--serving_server', join(conv, 'srv'), '--serving_client', join(conv, 'cli')], tmp)).toBeGreaterThan(0);
    const before = { model: treeHash(sample), srv: treeHash(join(conv, 'srv')), cli: treeHash(join(conv, 'cli')) };
    const bundleArgs = (out: string) => ['bundle', '--serving_server', join(conv, 'srv'), '--serving_client', join(conv, 'cli'), '--out', out, '--name', 'cls'];
    const ref = join(tmp, 'ref-bundle');
    const fullBundle = await timeRun(bundleArgs(ref), tmp);
    const refTree = treeHash(ref);
    const refTgz = join(tmp, 'ref.tgz');
    const fullPackage = await timeRun(['package', ref, '--out', refTgz], tmp);
    const tgzHash = sha(refTgz);
    const rng = new Rng(11);
    let killed = 0;
    for (let i = 0; i < 6; i++) {
      const out = join(tmp, `b${i}`);
      const r = await runAndKill(bundleArgs(out), 20 + rng.int(Math.ceil(fullBundle * 1.1)), tmp);
      if (r.killed) killed++;
      if (existsSync(out)) expect(treeHash(out)).toEqual(refTree);
      const tgz = join(tmp, `p${i}.tgz`);
      const p = await runAndKill(['package', ref, '--out', tgz], 20 + rng.int(Math.ceil(fullPackage * 1.1)), tmp);
      if (p.killed) killed++;
      if (existsSync(tgz)) expect(sha(tgz)).toBe(tgzHash);
    }
    expect(killed).toBeGreaterThan(0);
    // sources untouched
    expect(treeHash(sample)).toEqual(before.model);
    expect(treeHash(join(conv, 'srv'))).toEqual(before.srv);
    expect(treeHash(join(conv, 'cli'))).toEqual(before.cli);
    expect(treeHash(ref)).toEqual(refTree);
  });
});
