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
  modelBackend: z.string().url('expected an http(s) URL of a KServe v2 server').optional(),
});

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<{ ok: boolean; bundle: string; exitCode: number | null }>> {
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
  if (o.modelBackend) args.push('--model-backend', o.modelBackend);
  // stdout is the command's own (one JSON object with --json): the server's log goes to stderr then
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['inherit', 'pipe', 'pipe'] });
  // until the server listens its stderr is held back: a start-up failure is then said in one line
  let listening = false;
  let held = '';
  child.stdout!.on('data', (c: Buffer) => {
    if (!listening && c.toString().includes('listening on ')) {
      listening = true;
      if (held) process.stderr.write(held);
      held = '';
    }
    (ctx.json ? process.stderr : process.stdout).write(c);
  });
  child.stderr!.on('data', (c: Buffer) => {
    if (listening) process.stderr.write(c);
    else held = (held + c.toString()).slice(-64_000);
  });
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
  if (!listening && code !== 0) {
    // the server's own one-line reason, with its code (E_SERVER_LISTEN for a port in use, ...)
    const last = held.trim().split('\n').filter(Boolean).pop() ?? '';
    const m = /^pserve-server: (E_[A-Z0-9_]+): (.*)$/.exec(last);
    throw new PserveError(m ? m[1]! : 'E_SERVER_START', m ? m[2]! : `the server exited with code ${code} before listening`, { file: join(dir, 'server.mjs') });
  }
  return { data: { ok: code === 0, bundle: dir, exitCode: code }, text: '', exitCode: code ?? 1 };
}
