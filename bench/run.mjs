#!/usr/bin/env node
// `npm run bench`: runs every bench/*.bench.mjs (or those named on the command line) in one go,
// prints each row as it comes, and writes bench/results.md with the machine's description.
// Benchmarks report; they never fail on a timing.
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem, tmpdir, release, platform, arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const only = process.argv.slice(2);
const modules = readdirSync(here).filter((f) => f.endsWith('.bench.mjs')).sort()
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)));
const shared = process.env.PSERVE_SHARED_FIXTURES ?? resolve(root, '..', 'shared', 'fixtures');
const log = (s) => process.stderr.write(`${s}\n`);
const rows = [];
const failures = [];

for (const m of modules) {
  const tmp = mkdtempSync(join(tmpdir(), `pserve-bench-${m.replace(/\W/g, '')}-`));
  log(`== ${m}`);
  try {
    const mod = await import(pathToFileURL(join(here, m)).href);
    const got = await mod.run({ root, tmp, shared: existsSync(shared) ? shared : null, log });
    for (const r of got) {
      rows.push(r);
      log(`   ${r.area} | ${r.name}: ${fmt(r.value)} ${r.unit} vs ${r.baseline} ${fmt(r.baselineValue)} -> ratio ${fmt(r.ratio)} (${r.target}: ${r.meets ? 'meets' : 'MISSES'})`);
    }
  } catch (e) {
    failures.push(`${m}: ${e?.message ?? e}`);
    log(`   ${m} failed: ${e?.stack ?? e}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function fmt(v) {
  if (typeof v !== 'number') return String(v ?? '');
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

const cpu = cpus();
const machine = `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${platform()} ${release()} ${arch()}, Node ${process.version}`;
const lines = [
  '# pserve benchmark results',
  '',
  `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}. Machine: ${machine}.`,
  'Every baseline is measured in the same run on the same machine. Ratios: see each target for its direction.',
  '',
  '| area | benchmark | pserve | baseline | ratio | target | meets | what limits it |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.area} | ${r.name} | ${fmt(r.value)} ${r.unit} | ${r.baseline}: ${fmt(r.baselineValue)} ${r.unit} | ${fmt(r.ratio)} | ${r.target} | ${r.meets ? 'yes' : '**no**'} | ${r.reading} |`),
  '',
];
if (failures.length) lines.push('Benchmarks that did not run:', '', ...failures.map((f) => `- ${f}`), '');
if (only.length === 0) writeFileSync(join(here, 'results.md'), lines.join('\n'));
process.stdout.write(lines.join('\n'));
