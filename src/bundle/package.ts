/**
 * A reproducible .tgz of a bundle: entries sorted byte-wise under one top folder, every mtime,
 * uid, gid, owner name and mode fixed, and a gzip header without a timestamp or OS byte that
 * depends on the machine. The same files give the same bytes, whatever their times on disk.
 * Only a bundle that matches its manifest is packed: every file listed with its sha256 (checked
 * on the very bytes that go into the archive) and nothing else.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
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

/**
 * The uncompressed tar of `dir` with entries under `top/`. With `manifest`, the bundle must match
 * it: an unlisted path is refused before anything is read (E_BUNDLE_UNLISTED), and a missing,
 * resized or altered file (hashed as it is packed) is refused as E_BUNDLE_TAMPERED.
 */
export function tarBundle(dir: string, top: string, manifest?: BundleManifest): { tar: Buffer; entries: number } {
  const parts: Buffer[] = [];
  const paths = listFiles(dir, { withDirs: true });
  const hint = 'rebuild it with pserve bundle';
  const expected = manifest ? new Map(manifest.files.map((f) => [f.path, f])) : undefined;
  if (manifest && expected) {
    const present = new Set(paths);
    const problems = manifest.files.filter((f) => !present.has(f.path)).map((f) => `${String(f.path)}: missing`);
    const unlisted = unlistedPaths(manifest, paths);
    if (problems.length || unlisted.length) throw bundleMismatchError(dir, { problems, unlisted }, hint);
  }
  const problems: string[] = [];
  parts.push(tarHeader(`${top}/`, 0, 'dir'));
  for (const p of paths) {
    if (p.endsWith('/')) { parts.push(tarHeader(`${top}/${p}`, 0, 'dir')); continue; }
    const abs = join(dir, p);
    const size = statSync(abs).size;
    if (size > MAX_ENTRY_SIZE) throw new PserveError('E_PACKAGE_FILE_TOO_LARGE', `file of ${size} bytes is over the ustar limit of ${MAX_ENTRY_SIZE}`, { file: abs });
    const want = expected?.get(p);
    if (want && want.size !== size) { problems.push(`${p}: size ${size}, manifest says ${want.size}`); continue; }
    let data: Buffer;
    try { data = readFileSync(abs); } catch (e) { throw fsError(e, abs, 'bundle file'); }
    if (data.length !== size) throw new PserveError('E_PACKAGE_FILE_CHANGED', 'file changed while it was packed', { file: abs });
    if (want) {
      const h = createHash('sha256').update(data).digest('hex');
      if (h !== want.sha256) { problems.push(`${p}: sha256 ${h.slice(0, 12)}..., manifest says ${String(want.sha256).slice(0, 12)}...`); continue; }
    }
    parts.push(tarHeader(`${top}/${p}`, size, 'file'), data);
    const pad = (512 - (size % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  if (problems.length) throw bundleMismatchError(dir, { problems, unlisted: [] }, hint);
  parts.push(Buffer.alloc(1024, 0));
  return { tar: Buffer.concat(parts), entries: paths.length + 1 };
}

/** gzip with mtime 0 (zlib's default) and OS byte 255 "unknown" so the bytes do not vary by machine */
export function deterministicGzip(data: Buffer): Buffer {
  const gz = gzipSync(data, { level: 6, memLevel: 8, strategy: constants.Z_DEFAULT_STRATEGY });
  gz.writeUInt32LE(0, 4);
  gz[9] = 255;
  return gz;
}

export async function packageBundle(dir: string, out: string): Promise<PackageReport> {
  const abs = resolve(dir);
  const manifest = readManifest(abs);
  const top = manifest.name.replace(/[^A-Za-z0-9_.-]/g, '_') || basename(abs);
  const dest = resolve(out);
  if (dest.startsWith(`${abs}/`)) throw new PserveError('E_USAGE', '--out must be outside the bundle folder (the archive would contain itself)', { kind: 'usage', file: dest });
  const { tar, entries } = tarBundle(abs, top, manifest);
  const gz = deterministicGzip(tar);
  await writeFileAtomic(dest, (tmp) => {
    let fd: number;
    try { fd = openSync(tmp, 'w'); } catch (e) { throw fsError(e, dest, 'archive'); }
    try { writeSync(fd, gz); } catch (e) { throw fsError(e, dest, 'archive'); } finally { closeSync(fd); }
  });
  return { path: dest, size: gz.length, sha256: createHash('sha256').update(gz).digest('hex'), entries, top };
}
