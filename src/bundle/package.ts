/**
 * A reproducible .tgz of a bundle: entries sorted byte-wise under one top folder, every mtime,
 * uid, gid, owner name and mode fixed, and a gzip header without a timestamp or OS byte that
 * depends on the machine. The same files give the same bytes, whatever their times on disk.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import { PserveError, fsError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { listFiles, readManifest } from './manifest.js';

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

/** The uncompressed tar of `dir` with entries under `top/`. */
export function tarBundle(dir: string, top: string): { tar: Buffer; entries: number } {
  const parts: Buffer[] = [];
  const paths = listFiles(dir, { withDirs: true });
  parts.push(tarHeader(`${top}/`, 0, 'dir'));
  for (const p of paths) {
    if (p.endsWith('/')) { parts.push(tarHeader(`${top}/${p}`, 0, 'dir')); continue; }
    const abs = join(dir, p);
    const size = statSync(abs).size;
    if (size > MAX_ENTRY_SIZE) throw new PserveError('E_PACKAGE_FILE_TOO_LARGE', `file of ${size} bytes is over the ustar limit of ${MAX_ENTRY_SIZE}`, { file: abs });
    let data: Buffer;
    try { data = readFileSync(abs); } catch (e) { throw fsError(e, abs, 'bundle file'); }
    if (data.length !== size) throw new PserveError('E_PACKAGE_FILE_CHANGED', 'file changed while it was packed', { file: abs });
    parts.push(tarHeader(`${top}/${p}`, size, 'file'), data);
    const pad = (512 - (size % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
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
  const { tar, entries } = tarBundle(abs, top);
  const gz = deterministicGzip(tar);
  const dest = resolve(out);
  if (dest.startsWith(`${abs}/`)) throw new PserveError('E_USAGE', '--out must be outside the bundle folder (the archive would contain itself)', { kind: 'usage', file: dest });
  await writeFileAtomic(dest, (tmp) => {
    let fd: number;
    try { fd = openSync(tmp, 'w'); } catch (e) { throw fsError(e, dest, 'archive'); }
    try { writeSync(fd, gz); } catch (e) { throw fsError(e, dest, 'archive'); } finally { closeSync(fd); }
  });
  return { path: dest, size: gz.length, sha256: createHash('sha256').update(gz).digest('hex'), entries, top };
}
