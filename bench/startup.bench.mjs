// CLI start-up: `pserve --version` vs bare `node -e 0`, and `pserve inspect` of a ~2 MB model
// (ppocrv3_det, 1.6 MB program + 2.4 MB params) vs bare node. Medians of interleaved runs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

function time(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: '1' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function run({ root, shared }) {
  const bin = join(root, 'bin', 'pserve.js');
  const node = process.execPath;
  const runs = 15;
  const bare = [], version = [], inspect = [];
  const model = shared ? join(shared, 'ppocrv3_det') : join(root, 'fixtures', 'tiny_classifier');
  time(node, [bin, '--version']); time(node, [bin, 'inspect', model, '--json']); // warm the page cache
  for (let i = 0; i < runs; i++) {
    bare.push(time(node, ['-e', '0']));
    version.push(time(node, [bin, '--version']));
    inspect.push(time(node, [bin, 'inspect', model, '--json']));
  }
  const b = median(bare), v = median(version), s = median(inspect);
  return [
    { area: 'start-up', name: 'pserve --version', value: v, unit: 'ms', baseline: 'node -e 0', baselineValue: b, ratio: v / b, target: '<= 2x bare node', meets: v / b <= 2, reading: 'node start-up plus reading package.json; nothing else is imported for --version' },
    { area: 'start-up', name: `pserve inspect ${shared ? 'ppocrv3_det (1.6 MB program, 2.4 MB params)' : 'tiny_classifier'}`, value: s, unit: 'ms', baseline: 'node -e 0', baselineValue: b, ratio: s / b, target: '<= 4x bare node', meets: s / b <= 4, reading: 'commander + zod import, protobuf decode of 238 ops, one positioned read per params header' },
  ];
}
