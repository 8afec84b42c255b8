/**
 * A reproducible .tgz of a bundle: entries sorted byte-wise under one top folder, every mtime,
 * uid, gid, owner name and mode fixed, and a gzip header without a timestamp or OS byte that
 * depends on the machine. The same files give the same bytes, whatever their times on disk.
 * Only a bundle that matches its manifest is packed: every file listed with its sha256 (checked
 * on the very bytes that go into the archive) and nothing else.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { constants, createGzip } from 'node:zlib';
import { PserveError, fsError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { bundleMismatchError, listFiles, readManifest, unlistedPaths, type BundleManifest } from './manifest.js';

/** 2000-01-01T00:00:00Z: a fixed time that archive tools do not warn about */
export const FIXED_MTIME = 946684800;
/** ustar keeps file sizes in 11 octal digits */
const MAX_ENTRY_SIZE = 8 ** 11 - 1;

export interface PackageReport { path: string; size: number; sha256: string; entries: number; top: string }

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** ustar header for `name` (split into prefix/name when over 100 bytes). */
export function tarHeader(name: string, size: number, type: 'file' | 'dir'): Buffer {
  const h = Buffer.alloc(512, 0);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = cut > 0 ? name.slice(0, cut) : '';
    base = name.slice(cut + 1);
    if (!prefix || Buffer.byteLength(base) > 100 || Buffer.byteLength(prefix) > 155) {
      throw new PserveError('E_PACKAGE_NAME_TOO_LONG', `path is too long for a ustar archive (${Buffer.byteLength(name)} bytes)`, { file: name });
    }
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(type === 'dir' ? 0o755 : 0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(type === 'dir' ? 0 : size, 12), 124, 'ascii');
  h.write(octal(FIXED_MTIME, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type === 'dir' ? '5' : '0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** ustar padding after `size` bytes of data */
function padOf(size: number): number {
  return (512 - (size % 512)) % 512;
}

/**
 * Streams the gzip'd tar of `dir` (entries under `top/`) into `file`: one file at a time, 1 MiB at a
 * time, so memory stays flat whatever the model's size. With `manifest`, an unlisted path is
 * refused before anything is read (E_BUNDLE_UNLISTED); a missing, resized or altered file (hashed
 * on the very bytes that are packed) is refused as E_BUNDLE_TAMPERED once every file was seen, and
 * the caller throws the partial output away.
 */
async function writeTgz(file: string, dir: string, top: string, manifest: BundleManifest): Promise<{ size: number; sha256: string; entries: number }> {
  const paths = listFiles(dir, { withDirs: true });
  const hint = 'rebuild it with pserve bundle';
  const expected = new Map(manifest.files.map((f) => [f.path, f]));
  const present = new Set(paths);
  const missing = manifest.files.filter((f) => !present.has(f.path)).map((f) => `${String(f.path)}: missing`);
  const unlisted = unlistedPaths(manifest, paths);
  if (missing.length || unlisted.length) throw bundleMismatchError(dir, { problems: missing, unlisted }, hint);

  let fd: number;
  try { fd = openSync(file, 'w'); } catch (e) { throw fsError(e, file, 'archive'); }
  const outHash = createHash('sha256');
  let size = 0;
  let head: Buffer | undefined = Buffer.alloc(0);
  let writeError: unknown;
  // level, memLevel and strategy fixed: the same input gives the same deflate stream, however it is chunked
  const gzip = createGzip({ level: 6, memLevel: 8, strategy: constants.Z_DEFAULT_STRATEGY, chunkSize: 1 << 20 });
  const emit = (b: Buffer) => {
    try { writeSync(fd, b); } catch (e) { writeError ??= e; }
    outHash.update(b);
    size += b.length;
  };
  gzip.on('data', (chunk: Buffer) => {
    if (head === undefined) { emit(chunk); return; }
    // the gzip header: mtime 0 (zlib's default) and OS byte 255 "unknown", so bytes do not vary by machine
    head = Buffer.concat([head, chunk]);
    if (head.length < 10) return;
    head.writeUInt32LE(0, 4);
    head[9] = 255;
    const first = head;
    head = undefined;
    emit(first);
  });
  const ended = new Promise<void>((ok, fail) => { gzip.once('end', ok); gzip.once('error', fail); });
  const put = (b: Buffer) => new Promise<void>((ok) => { if (gzip.write(b)) ok(); else gzip.once('drain', ok); });

  const problems: string[] = [];
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    await put(tarHeader(`${top}/`, 0, 'dir'));
    for (const p of paths) {
      if (p.endsWith('/')) { await put(tarHeader(`${top}/${p}`, 0, 'dir')); continue; }
      const abs = join(dir, p);
      const want = expected.get(p);
      let src: number;
      try { src = openSync(abs, 'r'); } catch (e) { throw fsError(e, abs, 'bundle file'); }
      try {
        const fileSize = fstatSync(src).size;
        if (fileSize > MAX_ENTRY_SIZE) throw new PserveError('E_PACKAGE_FILE_TOO_LARGE', `file of ${fileSize} bytes is over the ustar limit of ${MAX_ENTRY_SIZE}`, { file: abs });
        if (want && want.size !== fileSize) { problems.push(`${p}: size ${fileSize}, manifest says ${want.size}`); continue; }
        await put(tarHeader(`${top}/${p}`, fileSize, 'file'));
        const h = createHash('sha256');
        let done = 0;
        while (done < fileSize) {
          const n = readSync(src, buf, 0, Math.min(buf.length, fileSize - done), done);
          if (n === 0) throw new PserveError('E_PACKAGE_FILE_CHANGED', 'file changed while it was packed', { file: abs });
          const chunk = Buffer.from(buf.subarray(0, n));
          h.update(chunk);
          await put(chunk);
          done += n;
        }
        const pad = padOf(fileSize);
        if (pad) await put(Buffer.alloc(pad, 0));
        const got = h.digest('hex');
        if (want && got !== want.sha256) problems.push(`${p}: sha256 ${got.slice(0, 12)}..., manifest says ${String(want.sha256).slice(0, 12)}...`);
      } finally {
        closeSync(src);
      }
    }
    await put(Buffer.alloc(1024, 0));
    gzip.end();
    await ended;
  } finally {
    gzip.destroy();
    closeSync(fd);
  }
  if (writeError) throw fsError(writeError, file, 'archive');
  if (problems.length) throw bundleMismatchError(dir, { problems, unlisted: [] }, hint);
  return { size, sha256: outHash.digest('hex'), entries: paths.length + 1 };
}

export async function packageBundle(dir: string, out: string): Promise<PackageReport> {
  const abs = resolve(dir);
  const manifest = readManifest(abs);
  const top = manifest.name.replace(/[^A-Za-z0-9_.-]/g, '_') || basename(abs);
  const dest = resolve(out);
  if (dest.startsWith(`${abs}/`)) throw new PserveError('E_USAGE', '--out must be outside the bundle folder (the archive would contain itself)', { kind: 'usage', file: dest });
  const r = await writeFileAtomic(dest, (tmp) => writeTgz(tmp, abs, top, manifest));
  return { path: dest, size: r.size, sha256: r.sha256, entries: r.entries, top };
}
