/**
 * The fetch pipeline for a list of archives: cache or network → sha256 → unpack into a temporary
 * sibling → verify against the lock → rename into place → record in the lock. The visible tree
 * changes only by rename, after everything is verified; a kill at any moment leaves at most a
 * hidden `.…pserve-tmp-…` directory (removed by the next run) and a resumable `.partial` download.
 */
import { closeSync, copyFileSync, createReadStream, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import type { Dispatcher } from 'undici';
import { PserveError, fsError } from '../errors.js';
import { removeStaleTempsIn, tempSibling } from '../util/atomic.js';
import { cachePaths, readCacheMeta, writeJsonAtomic, type CachePaths } from './cache.js';
import { BLOCK, WORKER_HASH_MIN, downloadResumable, type ByteConsumer } from './download.js';
import { sha256Stream } from './sha256.js';
import { applyMirror, defaultDispatcher } from './http.js';
import { readLockFile, writeLockFile, type LockFile } from './lock-file.js';
import type { ArchiveSpec } from './registry.js';
import { sniffArchive, tarSink, unpackZip, type UnpackLimits } from './unpack.js';
import { bytesHuman } from '../util/format.js';

/** Same shape as the CLI's progress event; the library reports, it never draws. */
export interface FetchProgress {
  id: string;
  phase: 'start' | 'progress' | 'done' | 'fail' | 'info';
  text: string;
  bytes?: number;
  total?: number;
}

export interface FetchOptions {
  /** --dest: where archives unpack (each under its `into`) */
  dest: string;
  lockFile: string;
  cacheDir: string;
  mirror?: string;
  offline?: boolean;
  force?: boolean;
  limits: UnpackLimits;
  dispatcher?: Dispatcher;
  retries?: number;
  backoffMs?: number;
  progress?(e: FetchProgress): void;
  now?(): number;
}

export interface FetchedArchive {
  /** the canonical URL (the lock key) */
  url: string;
  /** where the bytes came from: the mirror URL, or the cache file */
  source: string;
  kind: ArchiveSpec['kind'];
  sha256: string;
  size: number;
  /** what was installed: top-level paths under --dest */
  dest: string[];
  cached: boolean;
  resumedFrom: number;
  /** 'recorded' when this fetch added it to the lock, 'verified' when it matched the lock */
  lock: 'recorded' | 'verified';
  /** the installed tree was already there, identical to the verified archive: nothing was changed */
  upToDate: boolean;
}

function rate(bytes: number, ms: number): number {
  return ms > 0 ? (bytes * 1000) / ms : 0;
}

function eta(secs: number): string {
  if (!Number.isFinite(secs)) return '?';
  if (secs < 60) return `${Math.ceil(secs)}s`;
  const m = Math.floor(secs / 60);
  return m < 60 ? `${m}m${String(Math.ceil(secs % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Checks the first bytes, then hands everything on. */
function sniffing<T>(inner: ByteConsumer<T>, kind: 'tar' | 'tgz' | 'zip', source: string): ByteConsumer<T> {
  let head: Buffer | undefined = Buffer.alloc(0);
  const need = kind === 'zip' ? 4 : 512;
  const judge = (b: Buffer) => {
    if (!sniffArchive(b, kind)) {
      const text = /^\s*</.test(b.subarray(0, 64).toString('latin1')) ? ' (it looks like an HTML page)' : '';
      throw new PserveError('E_NOT_ARCHIVE', `expected a ${kind} archive but the body is not one${text}`, { file: source, hint: 'a login page, a proxy error or the wrong URL; nothing was installed' });
    }
  };
  return {
    async write(chunk) {
      if (head === undefined) return inner.write(chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < need) return;
      judge(head);
      const all = head;
      head = undefined;
      return inner.write(all);
    },
    async finish() {
      if (head !== undefined) {
        judge(head);
        if (head.length) await inner.write(head);
        head = undefined;
      }
      return inner.finish();
    },
    abort: () => inner.abort(),
  };
}

const NULL_SINK: ByteConsumer<{ topLevel: string[] }> = {
  async write() { /* bytes only go to the cache file */ },
  async finish() { return { topLevel: [] }; },
  abort() { /* nothing */ },
};

/** Stream a complete cache file through the same consumer a download would feed. */
async function readCached<T>(file: string, size: number, sink: ByteConsumer<T>, onBytes: (n: number) => void): Promise<{ sha256: string; size: number; result: T }> {
  const hash = sha256Stream({ worker: size >= WORKER_HASH_MIN });
  let n = 0;
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: BLOCK }) as AsyncIterable<Buffer>) {
      await Promise.all([hash.update(chunk), sink.write(chunk)]);
      n += chunk.length;
      onBytes(n);
    }
    return { sha256: await hash.digest(), size: n, result: await sink.finish() };
  } catch (e) {
    sink.abort();
    hash.close();
    throw e instanceof PserveError ? e : fsError(e, file, 'cached archive');
  }
}

/**
 * Remove a temp tree after a failed unpack. The tar writer may still be closing files it had open
 * when the unpack was aborted; retrying covers the ENOTEMPTY/EBUSY that race gives.
 */
export function removeTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 25 });
}

function finalizeCache(p: CachePaths, url: string, sha256: string, size: number): void {
  try {
    renameSync(p.partial, p.file);
    writeJsonAtomic(p.meta, { url, sha256, size });
    rmSync(p.partialMeta, { force: true });
  } catch (e) {
    throw fsError(e, p.file, 'cache file');
  }
}

function dropCache(p: CachePaths): void {
  for (const f of [p.file, p.meta, p.partial, p.partialMeta]) rmSync(f, { force: true });
}

export async function fetchArchives(archives: ArchiveSpec[], o: FetchOptions): Promise<FetchedArchive[]> {
  let owned: ReturnType<typeof defaultDispatcher> | undefined;
  const dispatcher = o.offline ? undefined : () => o.dispatcher ?? (owned ??= defaultDispatcher()).dispatcher;
  const now = o.now ?? Date.now;
  const lock: LockFile = readLockFile(o.lockFile);
  const out: FetchedArchive[] = [];
  // what this run recorded; a run that only verified never writes (a read-only lock stays usable)
  const added: LockFile['archives'] = {};
  try {
    for (const a of archives) {
      const r = await fetchOne(a, o, lock, dispatcher, now);
      out.push(r);
      if (r.lock !== 'recorded') continue;
      added[a.url] = lock.archives[a.url]!;
      // merge with the lock as it is now, so a fetch running beside this one keeps its entries
      const current = readLockFile(o.lockFile);
      lock.archives = { ...current.archives, ...added };
      await writeLockFile(o.lockFile, lock);
    }
  } finally {
    await owned?.close();
  }
  return out;
}

async function fetchOne(a: ArchiveSpec, o: FetchOptions, lock: LockFile, dispatcher: (() => Dispatcher) | undefined, now: () => number): Promise<FetchedArchive> {
  const name = basename(new URL(a.url).pathname) || 'download';
  const id = a.url;
  const source = applyMirror(a.url, o.mirror);
  const paths = cachePaths(o.cacheDir, a.url);
  const locked = lock.archives[a.url];
  const into = resolve(o.dest, a.into);
  const report = (e: Omit<FetchProgress, 'id'>) => o.progress?.({ id, ...e });

  let createdInto = false;
  if (!existsSync(into)) {
    try { mkdirSync(into, { recursive: true }); createdInto = true; } catch (e) { throw fsError(e, into, 'destination directory'); }
  } else if (!statSync(into).isDirectory()) {
    throw new PserveError('E_NOT_DIR', 'destination exists and is not a directory', { file: into });
  }
  const tmp = tempSibling(join(into, name));
  try {
    removeStaleTempsIn(into, 'destination directory');
    try { mkdirSync(tmp); } catch (e) { throw fsError(e, tmp, 'destination directory'); }
  } catch (e) {
    if (createdInto) { try { rmdirSync(into); } catch { /* leave it */ } }
    throw e;
  }

  const t0 = now();
  let lastEmit = 0;
  const onBytes = (done: number, total: number | undefined) => {
    const t = now();
    if (t - lastEmit < 200 && done !== total) return;
    lastEmit = t;
    const r = rate(done, t - t0);
    const parts = [name, total !== undefined ? `${bytesHuman(done)} / ${bytesHuman(total)}` : bytesHuman(done), `${bytesHuman(Math.round(r))}/s`];
    if (total !== undefined && r > 0) parts.push(`ETA ${eta((total - done) / r)}`);
    report({ phase: 'progress', text: parts.join('  '), bytes: done, ...(total !== undefined ? { total } : {}) });
  };

  // every attempt unpacks into a fresh folder of its own inside tmp: an aborted attempt's tar writer
  // may still be closing files, and none of them may end up in the tree that gets installed
  let work = tmp;
  let attempts = 0;
  const newSink = (): ByteConsumer<{ topLevel: string[] }> => {
    work = join(tmp, `attempt-${++attempts}`);
    try { mkdirSync(work); } catch (e) { throw fsError(e, work, 'destination directory'); }
    if (a.kind === 'tar' || a.kind === 'tgz') return sniffing(tarSink(work, source, o.limits), a.kind, source);
    if (a.kind === 'zip') return sniffing(NULL_SINK, 'zip', source);
    return NULL_SINK;
  };

  try {
    report({ phase: 'start', text: `${name}` });
    let got: { sha256: string; size: number; resumedFrom: number; cached: boolean };
    const meta = readCacheMeta(paths);
    const cacheUsable = meta !== undefined && (!locked || (locked.sha256 === meta.sha256 && locked.size === meta.size));
    if (cacheUsable) {
      const r = await readCached(paths.file, meta.size, newSink(), (n) => onBytes(n, meta.size));
      if (r.sha256 !== meta.sha256 || r.size !== meta.size) {
        dropCache(paths);
        throw new PserveError('E_CACHE_CORRUPT', `cached archive changed on disk: expected sha256 ${meta.sha256}, found ${r.sha256}`, { file: paths.file, hint: 'it was removed; run again to download it afresh' });
      }
      got = { sha256: r.sha256, size: r.size, resumedFrom: 0, cached: true };
    } else if (o.offline) {
      throw new PserveError('E_OFFLINE_MISSING', `--offline: ${a.url} is not in the cache${meta ? ` with the locked sha256 ${locked?.sha256}` : ''}`, {
        file: paths.file, hint: 'run once without --offline (or point PSERVE_CACHE_DIR at a filled cache)',
      });
    } else {
      if (!dispatcher) throw new Error('no dispatcher');
      const r = await downloadResumable({
        url: source, paths, dispatcher, direct: !o.dispatcher, consumer: newSink, retries: o.retries, backoffMs: o.backoffMs,
        onBytes,
        onRetry: (n, err, from) => report({ phase: 'info', text: `${name}: ${err.code} ${err.message}; retry ${n}${from ? ` resuming at ${bytesHuman(from)}` : ''}` }),
      });
      got = { sha256: r.sha256, size: r.size, resumedFrom: r.resumedFrom, cached: false };
    }

    if (locked && (locked.sha256 !== got.sha256 || locked.size !== got.size)) {
      if (!got.cached) dropCache(paths);
      throw new PserveError('E_CHECKSUM_MISMATCH',
        `${a.url} changed: expected sha256 ${locked.sha256} (${locked.size} bytes, from ${o.lockFile}), got sha256 ${got.sha256} (${got.size} bytes)`,
        { file: source, hint: 'nothing was installed; if the new archive is trusted, delete its entry from the lock file' });
    }
    if (!got.cached) finalizeCache(paths, a.url, got.sha256, got.size);

    if (a.kind === 'zip') {
      try { await unpackZip(paths.file, work, source, o.limits); } catch (e) {
        // a zip is only judged after the download: do not keep a hostile or broken one around
        if (e instanceof PserveError && /^E_(ARCHIVE_|NOT_ARCHIVE)/.test(e.code)) dropCache(paths);
        throw e;
      }
    }
    else if (a.kind === 'file') {
      try { copyFileSync(paths.file, join(work, name)); } catch (e) { throw fsError(e, join(work, name), 'downloaded file'); }
    }

    const { shown: installed, upToDate } = install(work, into, o.force === true, o.dest);
    const status = locked ? 'verified' : 'recorded';
    lock.archives[a.url] = { url: a.url, sha256: got.sha256, size: got.size };
    report({ phase: 'done', text: `${name}  sha256 ${got.sha256.slice(0, 12)}…${got.cached ? '  (cache)' : ''}  → ${installed.join(', ') || '(empty)'}${upToDate ? '  (up to date)' : ''}`, bytes: got.size });
    return { url: a.url, source: got.cached ? paths.file : source, kind: a.kind, sha256: got.sha256, size: got.size, dest: installed, cached: got.cached, resumedFrom: got.resumedFrom, lock: status, upToDate };
  } catch (e) {
    report({ phase: 'fail', text: `${name}: ${e instanceof PserveError ? e.code : 'error'}` });
    throw e;
  } finally {
    removeTree(tmp);
    if (createdInto) { try { rmdirSync(into); } catch { /* not empty: something was installed */ } }
  }
}

/**
 * Move the unpacked top-level entries from the temp tree into place. All conflicts are checked
 * before the first rename; a replaced tree is moved aside first and deleted only after the new one
 * is in place, so the path is never missing and never partial.
 */
function install(tmp: string, into: string, force: boolean, dest: string): { shown: string[]; upToDate: boolean } {
  const names = readdirSync(tmp).sort();
  const conflicts = names.filter((n) => present(join(into, n)));
  // like `wget -nc`: what is already there and identical to the verified archive is left alone
  const same = new Set(force ? [] : conflicts.filter((n) => sameTree(join(tmp, n), join(into, n))));
  const differ = conflicts.filter((n) => !same.has(n));
  if (differ.length && !force) {
    throw new PserveError('E_EXISTS', `already there and different from the verified archive: ${differ.map((n) => relative(dest, join(into, n)) || '.').join(', ')}`, { file: join(into, differ[0]!), hint: 'use --force to replace it with the verified download' });
  }
  const shown: string[] = [];
  for (const n of names) {
    const target = join(into, n);
    if (same.has(n)) { shown.push(relative(dest, target) || n); continue; }
    try {
      if (present(target)) {
        const old = tempSibling(target);
        renameSync(target, old);
        try { renameSync(join(tmp, n), target); } catch (e) { renameSync(old, target); throw e; }
        rmSync(old, { recursive: true, force: true });
      } else {
        renameSync(join(tmp, n), target);
      }
    } catch (e) {
      throw fsError(e, target, 'install target');
    }
    shown.push(relative(dest, target) || n);
  }
  return { shown, upToDate: names.length > 0 && same.size === names.length };
}

/** Two trees with the same names, types, link targets and file bytes. */
function sameTree(a: string, b: string): boolean {
  let sa, sb;
  try { sa = lstatSync(a); sb = lstatSync(b); } catch { return false; }
  if (sa.isSymbolicLink() || sb.isSymbolicLink()) return sa.isSymbolicLink() && sb.isSymbolicLink() && readlinkSync(a) === readlinkSync(b);
  if (sa.isDirectory() || sb.isDirectory()) {
    if (!sa.isDirectory() || !sb.isDirectory()) return false;
    const na = readdirSync(a).sort();
    const nb = readdirSync(b).sort();
    return na.length === nb.length && na.every((n, i) => n === nb[i] && sameTree(join(a, n), join(b, n)));
  }
  if (!sa.isFile() || !sb.isFile() || sa.size !== sb.size) return false;
  return sameBytes(a, b, sa.size);
}

function sameBytes(a: string, b: string, size: number): boolean {
  const fa = openSync(a, 'r');
  try {
    const fb = openSync(b, 'r');
    try {
      const n = Math.min(size, BLOCK) || 1;
      const ba = Buffer.allocUnsafe(n);
      const bb = Buffer.allocUnsafe(n);
      for (let off = 0; off < size;) {
        const ra = readSync(fa, ba, 0, n, off);
        const rb = readSync(fb, bb, 0, n, off);
        if (ra !== rb || ra === 0 || !ba.subarray(0, ra).equals(bb.subarray(0, rb))) return false;
        off += ra;
      }
      return true;
    } finally { closeSync(fb); }
  } finally { closeSync(fa); }
}

/** exists, counting a dangling symlink as there */
function present(p: string): boolean {
  try { lstatSync(p); return true; } catch { return false; }
}
