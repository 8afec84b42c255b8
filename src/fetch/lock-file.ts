/**
 * `pserve.lock.json`: what the first download of each archive was, so later fetches (another
 * machine, a CI run, a mirror) can refuse anything else. Keyed by the canonical URL.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod/v3';
import { PserveError, fsError } from '../errors.js';
import { writeJsonAtomic } from './cache.js';

const LockEntrySchema = z.object({
  url: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: 'sha256 must be 64 lower-case hex digits' }),
  size: z.number().int().nonnegative(),
}).strict();

const LockFileSchema = z.object({
  lockfileVersion: z.literal(1),
  archives: z.record(z.string(), LockEntrySchema),
}).strict();

export type LockEntry = z.infer<typeof LockEntrySchema>;
export type LockFile = z.infer<typeof LockFileSchema>;

export function readLockFile(file: string): LockFile {
  if (!existsSync(file)) return { lockfileVersion: 1, archives: {} };
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(file, 'utf8')); } catch (e) {
    if (e instanceof SyntaxError) throw new PserveError('E_LOCK_INVALID', `lock file is not JSON: ${e.message}`, { file });
    throw fsError(e, file, 'lock file');
  }
  const r = LockFileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new PserveError('E_LOCK_INVALID', `lock file: ${issue.path.join('.') || '(root)'}: ${issue.message}`, { file, hint: 'expected {"lockfileVersion": 1, "archives": {"<url>": {"url", "sha256", "size"}}}' });
  }
  for (const [k, v] of Object.entries(r.data.archives)) {
    if (k !== v.url) throw new PserveError('E_LOCK_INVALID', `lock file: archives["${k}"] records url "${v.url}"`, { file });
  }
  return r.data;
}

export async function writeLockFile(file: string, lock: LockFile): Promise<void> {
  const sorted: LockFile = { lockfileVersion: 1, archives: Object.fromEntries(Object.entries(lock.archives).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
  try { mkdirSync(dirname(resolve(file)), { recursive: true }); } catch (e) { throw fsError(e, dirname(resolve(file)), 'lock file directory'); }
  try {
    writeJsonAtomic(file, sorted);
  } catch (e) {
    throw fsError(e, file, 'lock file');
  }
}
