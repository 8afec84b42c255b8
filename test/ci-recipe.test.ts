/**
 * The README's GitHub Actions job, run as CI would run it: its `run:` lines in order, each under
 * `bash -eo pipefail` (what `shell: bash` means on GitHub), in a fresh folder, with `pserve` on
 * PATH and the model downloads served from a loopback mirror. A failing step must fail.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, tempDir } from './helpers.js';
import { startServer, type TestServer } from './fetch-server.js';

const SHITU = '/dygraph/rec/models/inference';

/** The job's YAML block and its `run:` lines, as written in the README. */
function recipe(): { yaml: string; runs: string[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /```yaml\n(jobs:[\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README has no GitHub Actions job');
  const runs = [...m[1]!.matchAll(/^\s*- run: (.*)$/gm)].map((r) => r[1]!.replace(/\s+#.*$/, '').trim());
  return { yaml: m[1]!, runs };
}

describe('the README CI recipe', () => {
  const tmp = tempDir('pserve-ci-recipe-');
  let srv: TestServer;
  const bin = join(tmp, 'bin');

  beforeAll(async () => {
    srv = await startServer();
    // the feature model archive holds the project's sample classifier under the PP-ShiTu names
    const src = join(tmp, 'src', 'general_PPLCNet_x2_5_lite_v1.0_infer');
    mkdirSync(src, { recursive: true });
    copyFileSync(join(ROOT, 'fixtures', 'tiny_classifier', 'inference.pdmodel'), join(src, 'inference.pdmodel'));
    copyFileSync(join(ROOT, 'fixtures', 'tiny_classifier', 'inference.pdiparams'), join(src, 'inference.pdiparams'));
    const det = join(tmp, 'src', 'picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer');
    mkdirSync(det, { recursive: true });
    writeFileSync(join(det, 'README'), 'detector\n');
    const gal = join(tmp, 'src', 'drink_dataset_v1.0', 'gallery');
    mkdirSync(gal, { recursive: true });
    writeFileSync(join(gal, 'drink_label.txt'), 'gallery/100.jpeg\tnongfu_spring\n');
    for (const [name, top] of [['general_PPLCNet_x2_5_lite_v1.0_infer', `${SHITU}/general_PPLCNet_x2_5_lite_v1.0_infer.tar`], ['picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer', `${SHITU}/picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar`], ['drink_dataset_v1.0', '/dygraph/rec/data/drink_dataset_v1.0.tar']] as const) {
      const file = join(tmp, `${name}.tar`);
      await tar.c({ cwd: join(tmp, 'src'), file, portable: true }, [name]);
      srv.routes.set(top, { body: readFileSync(file) });
    }
    // `npm install -g pserve-cli` puts a `pserve` command on PATH; this checkout's is used instead
    mkdirSync(bin);
    writeFileSync(join(bin, 'pserve'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(bin, 'pserve'), 0o755);
  });
  afterAll(async () => { await srv?.close(); });

  const env = () => ({
    PATH: `${bin}:${process.env['PATH']}`, HOME: tmp, PSERVE_MIRROR: srv.base, PSERVE_CACHE_DIR: join(tmp, 'cache'), CI: 'true', NO_COLOR: '1',
  });
  /** one step as GitHub runs it with `shell: bash` (async: the mirror runs in this process) */
  const step = (line: string, cwd: string) => new Promise<{ status: number | null; stderr: string }>((ok) => {
    const c = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', line], { cwd, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    c.on('close', (status) => ok({ status, stderr }));
  });

  it('installs the package that is ours, under shell: bash, and writes --json to files, not through tee', () => {
    const { yaml, runs } = recipe();
    expect(yaml).toMatch(/defaults:\n\s+run:\n\s+shell: bash\n/);
    expect(runs[0]).toBe('npm install -g pserve-cli');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.name).toBe('pserve-cli');
    expect(pkg.bin).toEqual({ pserve: 'bin/pserve.js' });
    for (const r of runs) {
      expect(r).not.toMatch(/\|\s*tee\b/);
      expect(r).not.toMatch(/>\s*package\.json\b/);
    }
  });

  it('runs every step in order, each --json result ok, the bundle packed', async () => {
    const { runs } = recipe();
    const work = join(tmp, 'job');
    mkdirSync(work);
    for (const line of runs.slice(1)) {
      const r = await step(line, work);
      expect(r.status, `${line}\n${r.stderr}`).toBe(0);
    }
    for (const f of ['fetch', 'convert', 'alias', 'bundle', 'smoke', 'package']) {
      const j = JSON.parse(readFileSync(join(work, 'out', `${f}.json`), 'utf8'));
      expect(j, f).toMatchObject({ ok: true, command: f === 'alias' ? 'alias' : f });
    }
    expect(existsSync(join(work, 'recognition-linux-x64.tgz'))).toBe(true);

    // a failing command fails its step: smoke on a tampered bundle
    writeFileSync(join(work, 'bundle', 'model.onnx'), 'tampered');
    const smoke = runs.find((r) => r.startsWith('pserve smoke'))!;
    const failed = await step(smoke, work);
    expect(failed.status).toBe(1);
    expect(JSON.parse(readFileSync(join(work, 'out', 'smoke.json'), 'utf8'))).toMatchObject({ ok: false, error: { code: 'E_BUNDLE_TAMPERED' } });
    // what the old recipe did: `| tee` under GitHub's default shell (bash -e, no pipefail) passed
    const old = spawnSync('bash', ['-e', '-c', 'pserve smoke bundle --json | tee old-smoke.json'], { cwd: work, env: env(), encoding: 'utf8', timeout: 120_000 });
    expect(old.status).toBe(0);
  }, 300_000);
});
