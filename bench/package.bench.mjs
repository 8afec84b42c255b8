// `pserve package` of a bundle (the sample classifier with its onnxruntime runtime, ~45 MiB) vs
// `tar czf` of the same folder, in the same run. Medians of interleaved runs, warm page cache.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

function time(cmd, args, cwd) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: '1' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function run({ root, tmp }) {
  const bin = join(root, 'bin', 'pserve.js');
  const node = process.execPath;
  const sample = join(root, 'fixtures', 'tiny_classifier');
  time(node, [bin, 'convert', '--dirname', sample, '--serving_server', join(tmp, 'srv'), '--serving_client', join(tmp, 'cli')], tmp);
  time(node, [bin, 'bundle', '--serving_server', join(tmp, 'srv'), '--serving_client', join(tmp, 'cli'), '--out', join(tmp, 'bundle'), '--name', 'cls'], tmp);
  const pserve = [], tar = [];
  for (let i = 0; i < 5; i++) {
    pserve.push(time(node, [bin, 'package', 'bundle', '--out', `p${i}.tgz`], tmp));
    tar.push(time('tar', ['czf', `t${i}.tgz`, 'bundle'], tmp));
  }
  const p = median(pserve), t = median(tar);
  const ps = statSync(join(tmp, 'p0.tgz')).size, ts = statSync(join(tmp, 't0.tgz')).size;
  return [
    { area: 'package', name: `pserve package, bundle of ${(ps / 2 ** 20).toFixed(1)} MiB packed`, value: p, unit: 'ms', baseline: 'tar czf of the same folder', baselineValue: t, ratio: p / t, target: 'reported (no target in the issue)', meets: true, reading: `sorting, fixed headers and the manifest check cost little; gzip at zlib level 6 (as tar's gzip) dominates both; .tgz ${(ps / 2 ** 20).toFixed(1)} vs ${(ts / 2 ** 20).toFixed(1)} MiB` },
  ];
}
