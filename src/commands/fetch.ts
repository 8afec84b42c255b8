/** `pserve fetch <set|URL>...`: named model sets, downloaded, verified against the lock, unpacked safely. */
import { resolve } from 'node:path';
import type { CommandContext, CommandResult } from '../cli/context.js';
import { bytesHuman, table } from '../cli/render.js';
import { defaultCacheDir } from '../fetch/cache.js';
import { fetchArchives, type FetchedArchive } from '../fetch/fetch-archives.js';
import { checkMirror } from '../fetch/http.js';
import { loadRegistry, resolveTargets } from '../fetch/registry.js';
import { unpackLimitsFromEnv } from '../fetch/unpack.js';
import { PserveError } from '../errors.js';
import { parseOptions, z } from './options.js';

const Options = z.object({
  targets: z.array(z.string().min(1)).default([]),
  dest: z.string().min(1).optional(),
  mirror: z.string().min(1).optional(),
  lock: z.string().min(1).optional(),
  offline: z.boolean().optional(),
  force: z.boolean().optional(),
  registry: z.string().min(1).optional(),
  list: z.boolean().optional(),
});

export interface FetchReport {
  dest: string;
  lock: string;
  cache: string;
  files: FetchedArchive[];
}

export interface SetListing {
  sets: { name: string; description: string; archives: { url: string; kind: string; into: string }[] }[];
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<FetchReport | SetListing>> {
  const o = parseOptions(Options, opts, 'fetch');
  const registry = loadRegistry(o.registry === undefined ? undefined : resolve(ctx.cwd, o.registry));
  if (o.list) {
    const sets = Object.entries(registry.sets).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, s]) => ({ name, description: s.description, archives: s.archives }));
    const text = table(['set', 'archives', 'description'], sets.map((s) => [s.name, s.archives.length, s.description]));
    return { data: { sets }, text };
  }
  if (o.targets.length === 0) {
    throw new PserveError('E_USAGE', 'pserve fetch: name at least one set or URL (pserve fetch --list shows the sets)', { kind: 'usage' });
  }
  const mirrorRaw = o.mirror ?? process.env['PSERVE_MIRROR'];
  const mirror = mirrorRaw ? checkMirror(mirrorRaw) : undefined;
  const archives = resolveTargets(registry, o.targets);
  const dest = resolve(ctx.cwd, o.dest ?? '.');
  const lockFile = resolve(ctx.cwd, o.lock ?? 'pserve.lock.json');
  const cache = defaultCacheDir();
  const files = await fetchArchives(archives, {
    dest, lockFile, cacheDir: cache, mirror, offline: o.offline === true, force: o.force === true,
    limits: unpackLimitsFromEnv(),
    retries: envInt('PSERVE_FETCH_RETRIES', 5),
    backoffMs: envInt('PSERVE_FETCH_BACKOFF_MS', 500),
    progress: (e) => ctx.progress(e),
  });
  const rows = files.map((f) => [f.dest.join(', ') || '(empty)', bytesHuman(f.size), f.cached ? 'cache' : f.resumedFrom ? `resumed@${bytesHuman(f.resumedFrom)}` : 'download', f.upToDate ? 'up to date' : f.lock, f.sha256.slice(0, 16)]);
  const text = `${table(['installed', 'size', 'from', 'lock', 'sha256'], rows)}\nlock ${lockFile}`;
  // --json speaks in absolute paths
  return { data: { dest, lock: lockFile, cache, files: files.map((f) => ({ ...f, dest: f.dest.map((d) => resolve(dest, d)) })) }, text };
}

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new PserveError('E_USAGE', `${name} must be a non-negative integer, got "${v}"`, { kind: 'usage' });
  return n;
}
