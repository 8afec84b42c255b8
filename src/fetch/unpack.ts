/**
 * Safe unpacking into a directory that the caller created empty (a temp sibling of the final place).
 * Every entry is checked BEFORE anything is written: no absolute paths, no "..", no links whose
 * target leaves the directory (also not via another link from the same archive), no device files or
 * fifos, caps on the total size and entry count, and for compressed archives a cap on the ratio of
 * unpacked to compressed bytes, so a small download cannot fill the disk (a decompression bomb).
 * Any violation aborts the whole unpack with a PserveError; the caller
 * throws the temp directory away, so nothing is ever half-written into place.
 */
import { createWriteStream, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
// the unpacker alone: the package index also loads create/list/replace (~10 ms more start-up)
import { Unpack } from 'tar/unpack';
import type yauzl from 'yauzl';
import { PserveError } from '../errors.js';

export interface UnpackLimits {
  /** sum of the uncompressed sizes of all entries */
  maxBytes: number;
  maxEntries: number;
  /** unpacked:compressed bytes allowed once more than `ratioFloorBytes` are unpacked (tgz, zip) */
  maxRatio?: number;
  ratioFloorBytes?: number;
}

/**
 * Why these numbers. Real model sets compress badly: float32/float16 weights gzip to ~0.9 of their
 * size (1.1:1), quantised int8 weights to ~1.5:1, programs, vocabularies and configs to ~3-5:1;
 * a whole set lands at 1.1-3:1. A one-layer deflate bomb reaches ~1030:1 (deflate's ceiling), so
 * 200:1 sits two orders of magnitude above any real set and well below a bomb. The ratio is
 * judged on the running totals, so one all-zero tensor inside a real set is diluted by the rest.
 * Below the 1 GiB floor the ratio is not judged at all: small archives (configs, a tiny model)
 * may compress well, and 1 GiB is then the most a bomb can write before it is stopped. 32 GiB of
 * output covers the biggest sets a user deploys with pserve (a 13B-parameter fp16 model is ~26 GB)
 * while a disk that holds models still has room left when a bomb hits the absolute cap.
 */
export const DEFAULT_UNPACK_LIMITS: Required<UnpackLimits> = {
  maxBytes: 32 * 1024 ** 3,
  maxEntries: 200_000,
  maxRatio: 200,
  ratioFloorBytes: 1024 ** 3,
};

/**
 * Limits with env overrides (PSERVE_FETCH_MAX_BYTES / PSERVE_FETCH_MAX_ENTRIES /
 * PSERVE_FETCH_MAX_RATIO / PSERVE_FETCH_RATIO_FLOOR_BYTES), for small disks, trusted archives and tests.
 */
export function unpackLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): UnpackLimits {
  const num = (name: string, dflt: number) => {
    const v = env[name];
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new PserveError('E_USAGE', `${name} must be a positive integer, got "${v}"`, { kind: 'usage' });
    return n;
  };
  return {
    maxBytes: num('PSERVE_FETCH_MAX_BYTES', DEFAULT_UNPACK_LIMITS.maxBytes),
    maxEntries: num('PSERVE_FETCH_MAX_ENTRIES', DEFAULT_UNPACK_LIMITS.maxEntries),
    maxRatio: num('PSERVE_FETCH_MAX_RATIO', DEFAULT_UNPACK_LIMITS.maxRatio),
    ratioFloorBytes: num('PSERVE_FETCH_RATIO_FLOOR_BYTES', DEFAULT_UNPACK_LIMITS.ratioFloorBytes),
  };
}

/**
 * The ratio rule: an E_ARCHIVE_BOMB error once `unpacked` is past the floor AND more than
 * maxRatio times the compressed bytes it came from; undefined while the archive is within bounds.
 */
export function ratioViolation(unpacked: number, compressed: number, limits: UnpackLimits, archive: string, what = 'archive'): PserveError | undefined {
  const ratio = limits.maxRatio ?? DEFAULT_UNPACK_LIMITS.maxRatio;
  const floor = limits.ratioFloorBytes ?? DEFAULT_UNPACK_LIMITS.ratioFloorBytes;
  if (unpacked <= floor || unpacked <= ratio * Math.max(compressed, 1)) return undefined;
  return new PserveError('E_ARCHIVE_BOMB',
    `${what} unpacks to ${unpacked} bytes from ${compressed} compressed bytes, more than ${ratio}:1 (judged past ${floor} bytes)`,
    { file: archive, hint: 'a decompression bomb? raise PSERVE_FETCH_MAX_RATIO if this archive is trusted' });
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

/**
 * Checks entries one by one, in archive order, against the rules above. `archive` names the file
 * in errors. Returns the normalised relative path.
 */
export class EntryGuard {
  private bytes = 0;
  private entries = 0;
  private readonly symlinks = new Set<string>();
  readonly topLevel = new Set<string>();

  constructor(private readonly archive: string, private readonly limits: UnpackLimits) {}

  check(rawPath: string, type: EntryType, size: number, linkpath?: string, typeName: string = type): string {
    const fail = (code: string, msg: string) => new PserveError(code, `${msg}: "${rawPath}"`, { file: this.archive, hint: 'refused to unpack; nothing was installed' });
    this.entries++;
    if (this.entries > this.limits.maxEntries) {
      throw new PserveError('E_ARCHIVE_BOMB', `archive has more than ${this.limits.maxEntries} entries`, { file: this.archive, hint: 'raise PSERVE_FETCH_MAX_ENTRIES if this archive is trusted' });
    }
    if (!Number.isSafeInteger(size) || size < 0) throw fail('E_ARCHIVE_CORRUPT', `entry has an impossible size ${size}`);
    this.bytes += size;
    if (this.bytes > this.limits.maxBytes) {
      throw new PserveError('E_ARCHIVE_BOMB', `archive unpacks to more than ${this.limits.maxBytes} bytes (entry "${rawPath}" claims ${size})`, { file: this.archive, hint: 'raise PSERVE_FETCH_MAX_BYTES if this archive is trusted' });
    }
    if (type === 'other') throw fail('E_ARCHIVE_UNSAFE', `entry is a ${typeName}, only files, directories and links are unpacked`);
    const rel = safeRelative(rawPath);
    if (rel === null) throw fail('E_ARCHIVE_UNSAFE', rawPath.startsWith('/') || /^[A-Za-z]:/.test(rawPath) ? 'entry has an absolute path' : 'entry path contains ".."');
    if (this.underSymlink(rel)) throw fail('E_ARCHIVE_UNSAFE', 'entry is written through a symbolic link from the same archive');
    if (type === 'symlink' || type === 'hardlink') {
      if (linkpath === undefined || linkpath === '') throw fail('E_ARCHIVE_CORRUPT', 'link without a target');
      if (linkpath.startsWith('/') || /^[A-Za-z]:/.test(linkpath)) throw fail('E_ARCHIVE_UNSAFE', `link points to the absolute path "${linkpath}"`);
      // symlink targets are relative to the link's directory, hard link targets to the archive root;
      // walk the target segment by segment so that neither ".." nor another link can leave the tree
      const stack = type === 'symlink' && posix.dirname(rel) !== '.' ? posix.dirname(rel).split('/') : [];
      for (const seg of linkpath.replace(/\\/g, '/').split('/')) {
        if (seg === '' || seg === '.') continue;
        if (seg === '..') {
          if (stack.length === 0) throw fail('E_ARCHIVE_UNSAFE', `link target "${linkpath}" is outside the destination`);
          stack.pop();
          continue;
        }
        stack.push(seg);
        if (this.symlinks.has(stack.join('/'))) throw fail('E_ARCHIVE_UNSAFE', `link target "${linkpath}" goes through another link`);
      }
      if (type === 'symlink') this.symlinks.add(rel);
    }
    if (rel !== '.') this.topLevel.add(rel.split('/')[0]!);
    return rel;
  }

  private underSymlink(rel: string): boolean {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) if (this.symlinks.has(parts.slice(0, i).join('/'))) return true;
    return false;
  }
}

/** null when the path is absolute or climbs with ".."; else the normalised relative path. */
export function safeRelative(raw: string): string | null {
  const p = raw.replace(/\\/g, '/');
  // a NUL (or other control byte) in a name is never legitimate, and fs calls throw on NUL
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(p)) return null;
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return null;
  if (p.split('/').includes('..')) return null;
  const n = posix.normalize(p).replace(/\/+$/, '');
  return n === '' ? '.' : n;
}

function tarType(t: string): EntryType {
  switch (t) {
    case 'File': case 'OldFile': case 'ContiguousFile': return 'file';
    case 'Directory': return 'dir';
    case 'SymbolicLink': return 'symlink';
    case 'Link': return 'hardlink';
    default: return 'other';
  }
}

/** Bytes in, files out; `finish()` resolves when every entry is on disk. */
export interface UnpackSink {
  /** resolves when the sink can take more (backpressure); rejects once the unpack failed */
  write(chunk: Buffer): Promise<void>;
  finish(): Promise<{ topLevel: string[] }>;
  /** stop now; the caller removes the directory */
  abort(): void;
}

/**
 * A streaming tar (or gzip'd tar) unpacker. Errors surface from write()/finish() as PserveErrors.
 * A gzip'd stream is inflated here rather than inside the tar parser, so that the inflated bytes
 * can be counted against the compressed bytes that went in (the ratio rule) as they appear, long
 * before a bomb's entries, whose headers may all look modest, have filled the disk.
 */
export function tarSink(dir: string, archive: string, limits: UnpackLimits): UnpackSink {
  const guard = new EntryGuard(archive, limits);
  let failure: PserveError | undefined;
  let failed!: (e: PserveError) => void;
  const failedP = new Promise<never>((_, rej) => { failed = rej; });
  failedP.catch(() => undefined);
  const fail = (e: unknown) => {
    if (failure) return;
    failure = toUnpackError(e, archive);
    failed(failure);
  };
  const unpack = new Unpack({
    cwd: dir,
    strict: true,
    preservePaths: false,
    noMtime: false,
    // owners from the archive are meaningless here (and chown would fail for non-root)
    preserveOwner: false,
    filter: (path, entry) => {
      if (failure) return false;
      const e = entry as unknown as { type: string; size: number; linkpath?: string };
      try {
        guard.check(path, tarType(e.type), e.type === 'Link' || e.type === 'SymbolicLink' || e.type === 'Directory' ? 0 : e.size, e.linkpath, e.type);
        return true;
      } catch (err) {
        fail(err);
        unpack.abort(toUnpackError(err, archive));
        return false;
      }
    },
  } as ConstructorParameters<typeof Unpack>[0]);
  unpack.on('error', (e: unknown) => fail(e));
  const closed = new Promise<void>((res) => unpack.on('close', () => res()));

  // where written bytes go: the tar parser, or (gzip magic in the first bytes) an inflater in front of it
  type Input = { write(b: Buffer): boolean; end(): void; once(ev: 'drain', f: () => void): unknown };
  let input: Input | undefined;
  let gunzip: ReturnType<typeof createGunzip> | undefined;
  let head: Buffer = Buffer.alloc(0);
  let unpackedOut = 0;
  const stop = (e: unknown) => {
    fail(e);
    gunzip?.destroy();
    try { unpack.abort(failure ?? new Error('aborted')); } catch { /* already reported */ }
  };
  const route = (first: Buffer): Input => {
    if (first.length < 2 || first[0] !== 0x1f || first[1] !== 0x8b) return unpack as unknown as Input;
    const z = createGunzip();
    gunzip = z;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        unpackedOut += chunk.length;
        // the inflater's own count of compressed bytes it has consumed, not what was handed to it
        const bomb = ratioViolation(unpackedOut, z.bytesWritten, limits, archive);
        if (bomb) { stop(bomb); done(); return; }
        done(null, chunk);
      },
    });
    z.on('error', stop);
    count.on('error', stop);
    z.pipe(count).pipe(unpack as unknown as NodeJS.WritableStream);
    return z;
  };
  const push = async (chunk: Buffer) => {
    if (!input) {
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      if (head.length < 2) return;
      input = route(head);
      chunk = head;
      head = Buffer.alloc(0);
    }
    const ok = input.write(chunk);
    if (failure) throw failure;
    if (!ok) await Promise.race([new Promise<void>((res) => input!.once('drain', () => res())), failedP]);
  };
  return {
    async write(chunk) {
      if (failure) throw failure;
      await push(chunk);
      if (failure) throw failure;
    },
    async finish() {
      if (failure) throw failure;
      if (!input) input = route(head);
      if (head.length) { const h = head; head = Buffer.alloc(0); input.write(h); }
      input.end();
      await Promise.race([closed, failedP]);
      if (failure) throw failure;
      return { topLevel: [...guard.topLevel] };
    },
    abort() {
      stop(new PserveError('E_ABORTED', 'unpack aborted'));
    },
  };
}

function toUnpackError(e: unknown, archive: string): PserveError {
  if (e instanceof PserveError) return e;
  const err = e as NodeJS.ErrnoException & { tarCode?: string };
  if (err?.code === 'ENOSPC') return new PserveError('E_DISK_FULL', 'no space left on device while unpacking', { file: archive });
  if ((err?.tarCode === 'TAR_BAD_ARCHIVE' || err?.code === 'TAR_BAD_ARCHIVE') && /unrecognized/i.test(err.message)) {
    return new PserveError('E_NOT_ARCHIVE', 'not a tar archive (unrecognised format)', { file: archive });
  }
  if (err?.tarCode === 'TAR_BAD_ARCHIVE' || err?.code === 'TAR_BAD_ARCHIVE') {
    return new PserveError('E_ARCHIVE_CORRUPT', `tar archive is damaged: ${err.message.replace(/^TAR_BAD_ARCHIVE: /, '')}`, { file: archive });
  }
  if (err?.code === 'Z_DATA_ERROR' || err?.code === 'Z_BUF_ERROR' || /zlib|decompress/i.test(err?.message ?? '')) {
    return new PserveError('E_ARCHIVE_CORRUPT', `gzip stream is corrupt: ${err?.message}`, { file: archive });
  }
  if (err?.tarCode === 'TAR_ENTRY_ERROR' && /escape|symbolic link|'\.\.'/.test(err?.message ?? '')) {
    return new PserveError('E_ARCHIVE_UNSAFE', `refused entry: ${err.message}`, { file: archive });
  }
  return new PserveError('E_ARCHIVE_CORRUPT', `cannot unpack: ${err?.message ?? String(e)}`, { file: archive });
}

/** First bytes of a tar, a gzip'd tar or a zip, checked before anything is unpacked. */
export function sniffArchive(head: Buffer, kind: 'tar' | 'tgz' | 'zip'): boolean {
  if (kind === 'zip') return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6);
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true;
  if (kind === 'tgz') return false;
  if (head.length < 512) return false;
  if (head.subarray(257, 262).toString('latin1') === 'ustar') return true;
  // pre-POSIX tar: no magic, but the header checksum (field at 148, summed as spaces) must hold
  const field = head.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : head[i]!;
  return sum === parseInt(field, 8);
}

/** Unpack a zip file (random access: the central directory is at its end) into `dir`. */
export async function unpackZip(file: string, dir: string, archive: string, limits: UnpackLimits): Promise<{ topLevel: string[] }> {
  const guard = new EntryGuard(archive, limits);
  // loaded only for zips: most fetches never need it, and every import costs start-up time
  const { default: yauzlLib } = await import('yauzl');
  const zip = await new Promise<yauzl.ZipFile>((res, rej) => {
    yauzlLib.open(file, { lazyEntries: true, autoClose: true, validateEntrySizes: true, strictFileNames: false, decodeStrings: true }, (err, z) => (err ? rej(err) : res(z!)));
  }).catch((e: Error) => { throw new PserveError(/end of central directory/i.test(e.message) ? 'E_NOT_ARCHIVE' : 'E_ARCHIVE_CORRUPT', `not a readable zip: ${e.message}`, { file: archive }); });
  if (zip.entryCount > limits.maxEntries) {
    zip.close();
    throw new PserveError('E_ARCHIVE_BOMB', `archive has ${zip.entryCount} entries, more than ${limits.maxEntries}`, { file: archive, hint: 'raise PSERVE_FETCH_MAX_ENTRIES if this archive is trusted' });
  }
  // running totals for the ratio rule; the compressed side never counts more than the file holds
  // (entries that share compressed bytes, the overlapping-entry bomb, gain nothing by it)
  let unpackedTotal = 0;
  let compressedTotal = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const failWith = (e: unknown) => {
        if (e instanceof PserveError) return reject(e);
        const msg = (e as Error)?.message ?? String(e);
        // the zip reader itself rejects "../" and absolute names while decoding them
        const code = (e as NodeJS.ErrnoException)?.code === 'ENOSPC' ? 'E_DISK_FULL' : /relative path|absolute path/i.test(msg) ? 'E_ARCHIVE_UNSAFE' : 'E_ARCHIVE_CORRUPT';
        reject(new PserveError(code, `cannot unpack: ${msg}`, { file: archive, ...(code === 'E_ARCHIVE_UNSAFE' ? { hint: 'refused to unpack; nothing was installed' } : {}) }));
      };
      zip.on('error', failWith);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        try {
          // unix mode lives in the high 16 bits of the external attributes when made on unix
          const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
          const fmt = mode & 0o170000;
          const isDir = entry.fileName.endsWith('/');
          const type: EntryType = isDir ? 'dir' : fmt === 0o120000 ? 'symlink' : fmt === 0 || fmt === 0o100000 ? 'file' : fmt === 0o040000 ? 'dir' : 'other';
          if (type === 'symlink') {
            // the link target is the entry's content; small by definition
            if (entry.uncompressedSize > 4096) throw new PserveError('E_ARCHIVE_UNSAFE', `symbolic link "${entry.fileName}" has a ${entry.uncompressedSize}-byte target`, { file: archive });
            zip.openReadStream(entry, (err, rs) => {
              if (err) return failWith(err);
              const parts: Buffer[] = [];
              rs!.on('data', (c: Buffer) => parts.push(c));
              rs!.on('error', failWith);
              rs!.on('end', () => {
                try {
                  const target = Buffer.concat(parts).toString('utf8');
                  const rel = guard.check(entry.fileName, 'symlink', 0, target);
                  mkdirSync(dirname(join(dir, rel)), { recursive: true });
                  symlinkSync(target, join(dir, rel));
                  zip.readEntry();
                } catch (e) { failWith(e); }
              });
            });
            return;
          }
          const rel = guard.check(entry.fileName, type, type === 'file' ? entry.uncompressedSize : 0, undefined, `mode ${fmt.toString(8)}`);
          if (type === 'file') {
            // judged on the declared sizes, before a byte is inflated: the zip reader stops any
            // entry whose stream runs past its declared size (validateEntrySizes), so they bind
            unpackedTotal += entry.uncompressedSize;
            compressedTotal = Math.min(compressedTotal + entry.compressedSize, zip.fileSize);
            const bomb = ratioViolation(entry.uncompressedSize, entry.compressedSize, limits, archive, `entry "${entry.fileName}"`)
              ?? ratioViolation(unpackedTotal, compressedTotal, limits, archive);
            if (bomb) throw bomb;
          }
          const out = join(dir, rel);
          if (type === 'dir') { mkdirSync(out, { recursive: true }); zip.readEntry(); return; }
          mkdirSync(dirname(out), { recursive: true });
          zip.openReadStream(entry, (err, rs) => {
            if (err) return failWith(err);
            try {
              const ws = createWriteStream(out, { flags: 'wx', mode: (mode & 0o777) || 0o644 });
              rs!.on('error', failWith);
              ws.on('error', failWith);
              ws.on('finish', () => zip.readEntry());
              rs!.pipe(ws);
            } catch (e) { failWith(e); }
          });
        } catch (e) { failWith(e); }
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  return { topLevel: [...guard.topLevel] };
}
