/**
 * Atomic outputs: everything is built in a temporary sibling (same directory, so rename is atomic
 * on one filesystem) and renamed into place only when complete. A failure or a kill leaves the
 * destination exactly as it was; stale temporaries are named `.<base>.pserve-tmp-*` so they are
 * easy to recognise and are never mistaken for output.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PserveError, fsError } from '../errors.js';

export function tempSibling(dest: string): string {
  const abs = resolve(dest);
  return join(dirname(abs), `.${basename(abs)}.pserve-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Build a directory at `dest`: `build` fills a fresh temp sibling, then it replaces `dest`.
 * With replace=false an existing non-empty dest is an error (E_EXISTS) raised before any work.
 */
export async function writeDirAtomic<T>(dest: string, build: (tmp: string) => Promise<T> | T, opts: { replace?: boolean } = {}): Promise<T> {
  const abs = resolve(dest);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new PserveError('E_NOT_DIR', 'output path exists and is not a directory', { file: abs });
    if (!opts.replace) throw new PserveError('E_EXISTS', 'output directory already exists (use --force to replace it)', { file: abs });
  }
  try { mkdirSync(dirname(abs), { recursive: true }); } catch (e) { throw fsError(e, dirname(abs), 'output parent directory'); }
  const tmp = tempSibling(abs);
  mkdirSync(tmp);
  try {
    const result = await build(tmp);
    if (existsSync(abs)) {
      // swap: move the old tree aside first so that dest is never missing AND never partial
      const old = tempSibling(abs);
      renameSync(abs, old);
      try { renameSync(tmp, abs); } catch (e) { renameSync(old, abs); throw e; }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, abs);
    }
    return result;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Write one file atomically: `build` writes to the given temp path, which is then renamed to `dest`. */
export async function writeFileAtomic<T>(dest: string, build: (tmpFile: string) => Promise<T> | T): Promise<T> {
  const abs = resolve(dest);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new PserveError('E_IS_DIR', 'output path is a directory, expected a file', { file: abs });
  try { mkdirSync(dirname(abs), { recursive: true }); } catch (e) { throw fsError(e, dirname(abs), 'output parent directory'); }
  const tmp = tempSibling(abs);
  try {
    const result = await build(tmp);
    renameSync(tmp, abs);
    return result;
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
