/**
 * The download cache: one file per archive URL, so a second fetch (another --dest, a CI rerun,
 * --offline) never downloads again. Keyed by the canonical URL, not the mirror it came through.
 * Layout under the root: `archives/<16 hex of sha256(url)>-<file name>` plus, while in flight,
 * `.partial` (bytes so far) and `.partial.json` (the server's validators, for Range resume);
 * a complete archive has `.json` beside it: {url, sha256, size}.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod/v3';
import { tempSibling } from '../util/atomic.js';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['PSERVE_CACHE_DIR']) return resolve(env['PSERVE_CACHE_DIR']);
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'pserve');
}

export interface CachePaths {
  file: string;
  meta: string;
  partial: string;
  partialMeta: string;
}

export function cachePaths(cacheDir: string, url: string): CachePaths {
  const key = createHash('sha256').update(url).digest('hex').slice(0, 16);
  const name = basename(new URL(url).pathname).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120) || 'download';
  const file = join(cacheDir, 'archives', `${key}-${name}`);
  return { file, meta: `${file}.json`, partial: `${file}.partial`, partialMeta: `${file}.partial.json` };
}

const CacheMetaSchema = z.object({ url: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() });
export type CacheMeta = z.infer<typeof CacheMetaSchema>;

const PartialMetaSchema = z.object({
  url: z.string(),
  etag: z.string().optional(),
  lastModified: z.string().optional(),
  total: z.number().int().nonnegative().optional(),
});
export type PartialMeta = z.infer<typeof PartialMetaSchema>;

function readJson<T>(file: string, schema: z.ZodType<T>): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Small JSON files (cache side files, the lock): write-then-rename, so a kill never leaves half a
 * file, and a failed write or rename leaves no temp behind. Throws the raw fs error.
 */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = tempSibling(file);
  try {
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** A complete cached archive, if its file is there with the recorded size. */
export function readCacheMeta(p: CachePaths): CacheMeta | undefined {
  const m = readJson(p.meta, CacheMetaSchema);
  if (!m || !existsSync(p.file)) return undefined;
  try { return statSync(p.file).size === m.size ? m : undefined; } catch { return undefined; }
}

export function readPartialMeta(p: CachePaths): PartialMeta | undefined {
  return readJson(p.partialMeta, PartialMetaSchema);
}
