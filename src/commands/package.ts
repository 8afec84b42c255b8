/** `pserve package DIR --out FILE.tgz`: a reproducible archive of a bundle. */
import type { CommandContext, CommandResult } from '../cli/context.js';
import { bytesHuman } from '../cli/render.js';
import { packageBundle, type PackageReport } from '../bundle/package.js';
import { parseOptions, z } from './options.js';

const Options = z.object({ dir: z.string().min(1), out: z.string().min(1) });

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<PackageReport & { ok: true }>> {
  const o = parseOptions(Options, opts, 'package');
  ctx.progress({ id: 'package', phase: 'start', text: `packing ${o.dir}` });
  const r = await packageBundle(o.dir, o.out);
  ctx.progress({ id: 'package', phase: 'done', text: `${r.path}` });
  return { data: { ok: true, ...r }, text: `${r.path}\n${bytesHuman(r.size)}, ${r.entries} entries under ${r.top}/\nsha256 ${r.sha256}` };
}
