/** The README's generated parts are current, and the generated fixtures match their script. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

describe('generated content', () => {
  it('README op-coverage table matches the converter registry', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'op-coverage.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
  it('fixtures/ matches scripts/gen-fixtures.mjs byte for byte', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-fixtures.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
  it('src/formats/proto/*.gen.ts and templates/server/proto/*.gen.mjs are what scripts/gen-proto.mjs makes from the .proto schemas', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-proto.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
  it('.ci/run runs the README install and test commands', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
    expect(readme).toMatch(/npm ci && npx pserve demo/);
    expect(readme).toMatch(/^npm test/m);
    // the README's two commands (its first sh block, comments cut) are lines of .ci/run, as written
    const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    const commands = block.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
    expect(commands).toEqual(['npm ci && npx pserve demo', 'npm test']);
    const lines = ci.split('\n').map((l) => l.trim());
    for (const c of commands) expect(lines, c).toContain(c);
  });
});
