/** `pserve demo`: the README's main job, in a fresh temp directory, offline, under 30 s. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliJson, tempDir } from './helpers.js';

describe('pserve demo', () => {
  it('runs inspect -> convert -> alias -> onnx -> bundle -> smoke, then the pipeline leg (bundle --recipe imagenet -> smoke), and reports the smoke results', () => {
    const cwd = tempDir('pserve-demo-');
    const t0 = performance.now();
    // no network: point every proxy at a closed port, so any attempt to reach out would fail
    const env = { HTTP_PROXY: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9', NO_PROXY: '' };
    const r = cli(['demo'], { cwd, env });
    const secs = (performance.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect(secs).toBeLessThan(30);
    const lines = r.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('ok   '))).toHaveLength(8);
    expect(r.stdout).toMatch(/6\/8 smoke\s+passed/);
    expect(r.stdout).toMatch(/8\/8 smoke\s+passed.*upstream client's form/);
    expect(r.stdout).toMatch(/demo passed/);
    expect(existsSync(join(cwd, 'pserve-demo', 'bundle', 'server.mjs'))).toBe(true);
    expect(readFileSync(join(cwd, 'pserve-demo', 'pipeline-bundle', 'config.yml'), 'utf8')).toMatch(/op: resize_short/);
    const conf = readFileSync(join(cwd, 'pserve-demo', 'serving_client', 'serving_client_conf.prototxt'), 'utf8');
    expect(conf).toMatch(/alias_name: "prob"/);
  });

  it('--json reports every step and the smoke checks; a second run replaces the first', () => {
    const cwd = tempDir('pserve-demo-json-');
    for (let i = 0; i < 2; i++) {
      const { code, json } = cliJson<{ ok: boolean; steps: { step: string; ok: boolean }[]; smoke: { ok: boolean; checks: { ok: boolean }[] }; pipelineSmoke: { ok: boolean; checks: { name: string; ok: boolean }[] } }>(['demo', '--dir', 'out'], { cwd });
      expect(code).toBe(0);
      expect(json.ok).toBe(true);
      expect(json.steps.map((s) => s.step)).toEqual(['inspect', 'convert', 'alias', 'onnx', 'bundle', 'smoke', 'pipeline', 'smoke']);
      expect(json.pipelineSmoke.ok).toBe(true);
      expect(json.pipelineSmoke.checks.map((c) => c.name)).toContain('pipeline (upstream client form)');
      expect(json.smoke.ok).toBe(true);
      expect(json.smoke.checks.length).toBeGreaterThan(3);
      expect(json.smoke.checks.every((c) => c.ok)).toBe(true);
      // paths name the final folder, not the temporary sibling it was built in
      expect(JSON.stringify(json)).not.toMatch(/pserve-tmp/);
    }
  });
});
