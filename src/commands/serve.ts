/** `pserve serve DIR`: run a bundle's server in the foreground (after checking its manifest). */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandContext, CommandResult } from '../cli/context.js';
import { PserveError } from '../errors.js';
import { bundleMismatchError, readManifest, verifyBundle } from '../bundle/manifest.js';
import { parseOptions, z } from './options.js';

const Options = z.object({
  dir: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535).optional(),
  rpcPort: z.coerce.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  device: z.enum(['cpu', 'gpu', 'webgpu', 'auto']).optional(),
  verify: z.boolean().optional(),
});

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<{ ok: boolean; exitCode: number | null }>> {
  const o = parseOptions(Options, opts, 'serve');
  const dir = resolve(o.dir);
  if (!existsSync(join(dir, 'server.mjs'))) throw new PserveError('E_BUNDLE_NO_SERVER', 'no server.mjs: is this a pserve bundle?', { file: dir });
  if (o.verify !== false) {
    const v = verifyBundle(dir, readManifest(dir));
    if (!v.ok) throw bundleMismatchError(dir, v, 'rebuild it, or pass --no-verify');
    ctx.info(`pserve: ${v.checked} files match manifest.json`);
  }
  const args = ['server.mjs'];
  if (o.port !== undefined) args.push('--port', String(o.port));
  if (o.rpcPort !== undefined) args.push('--rpc-port', String(o.rpcPort));
  if (o.host) args.push('--host', o.host);
  if (o.device) args.push('--device', o.device);
  const child = spawn(process.execPath, args, { cwd: dir, stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => () => { child.kill(sig); };
  const onTerm = forward('SIGTERM');
  const onInt = forward('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const code = await new Promise<number | null>((ok, fail) => {
    child.once('exit', (c) => ok(c));
    child.once('error', (e) => fail(new PserveError('E_SERVER_START', `could not start node server.mjs: ${e.message}`, { file: join(dir, 'server.mjs') })));
  }).finally(() => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  });
  return { data: { ok: code === 0, exitCode: code }, text: '', exitCode: code ?? 1 };
}
