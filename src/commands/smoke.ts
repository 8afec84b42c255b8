/** `pserve smoke DIR`: verify a bundle and prove it answers on every protocol; exit 0 only if all pass. */
import type { CommandContext, CommandResult } from '../cli/context.js';
import { PserveError } from '../errors.js';
import { smokeBundle, type SmokeReport } from '../bundle/smoke.js';
import { parseOptions, z } from './options.js';

const Options = z.object({
  dir: z.string().min(1),
  device: z.enum(['cpu', 'gpu', 'webgpu', 'auto']).optional(),
  shape: z.array(z.string()).optional(),
  timeout: z.coerce.number().positive().max(3600).optional(),
});

export function parseShapes(list: string[] = []): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of list) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(s.trim());
    if (!m) throw new PserveError('E_USAGE', `--shape "${s}": expected alias=d0,d1,... (e.g. x=1,3,48,192)`, { kind: 'usage' });
    out[m[1]!] = m[2]!.split(',').map(Number);
  }
  return out;
}

export function renderSmoke(r: SmokeReport): string {
  const lines = [`smoke ${r.bundle} (service ${r.name}, device ${r.device ?? '?'})`, `  ok    manifest: ${r.verified} files match`];
  for (const [k, v] of Object.entries(r.inputs)) lines.push(`  input ${k} ${v.dtype} [${v.shape.join(',')}] (dims from ${v.shapeFrom})`);
  for (const c of r.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail} (${c.ms} ms)`);
  lines.push(r.ok ? 'smoke passed' : `smoke FAILED: ${r.failures.length} check(s)`);
  return lines.join('\n');
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<SmokeReport>> {
  const o = parseOptions(Options, opts, 'smoke');
  const report = await smokeBundle(o.dir, {
    ...(o.device ? { device: o.device } : {}),
    shapes: parseShapes(o.shape),
    ...(o.timeout ? { timeoutS: o.timeout } : {}),
  }, ctx.progress);
  return { data: report, text: renderSmoke(report), exitCode: report.ok ? 0 : 1 };
}
