/**
 * Atomic outputs: everything is built in a temporary sibling (same directory, so rename is atomic
 * on one filesystem) and renamed into place only when complete. A failure or a kill leaves the
 * destination exactly as it was; stale temporaries are named `.<base>.pserve-tmp-*` so they are
 * easy to recognise and are never mistaken for output.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PserveError, fsError } from '../errors.js';
import { onInterrupt } from './interrupt.js';

const TEMP_MARK = '.pserve-tmp-';

/**
 * A fresh temp path beside `dest`, named `.<base>.pserve-tmp-<pid>-<hex>`. It is registered for
 * removal if the command is interrupted (a path that was renamed into place is gone by then, so
 * removing it is a no-op); the pid in the name lets a later run recognise it as litter.
 */
export function tempSibling(dest: string): string {
  const abs = resolve(dest);
  const tmp = join(dirname(abs), `.${basename(abs)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  onInterrupt(() => rmSync(tmp, { recursive: true, force: true }));
  return tmp;
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * Remove the temp siblings of `dest` left by runs that were killed outright (SIGKILL, power loss):
 * their owner pid is gone, so nobody will ever rename them. Temps of live processes are left alone.
 * Returns the paths removed.
 */
export function removeStaleTemps(dest: string): string[] {
  const abs = resolve(dest);
  return removeStale(dirname(abs), basename(abs), 'stale temporary output');
}

/** removeStaleTemps for every name in `dir` (a folder that receives several outputs, as fetch's destination) */
export function removeStaleTempsIn(dir: string, what = 'stale temporary output'): string[] {
  return removeStale(dir, undefined, what);
}

function removeStale(dir: string, base: string | undefined, what: string): string[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const removed: string[] = [];
  for (const n of names) {
    // the tail after the last mark: `<pid>-<hex>`; with no base, any `.<name>` before it
    const at = base === undefined ? n.lastIndexOf(TEMP_MARK) : n.startsWith(`.${base}${TEMP_MARK}`) ? base.length + 1 : -1;
    if (at < 2 || !n.startsWith('.')) continue;
    const m = /^(\d+)-[0-9a-f]{8}$/.exec(n.slice(at + TEMP_MARK.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    const p = join(dir, n);
    try { rmSync(p, { recursive: true, force: true }); } catch (e) { throw fsError(e, p, what); }
    removed.push(p);
  }
  return removed;
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
  removeStaleTemps(abs);
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
  removeStaleTemps(abs);
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
