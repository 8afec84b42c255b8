/**
 * Hostile archives: each is refused with its error code, nothing is written outside --dest, nothing
 * half-written inside it, no lock entry is recorded and the bad download is not kept for resuming.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, rawTar, startServer, type RawTarEntry, type TestServer } from './fetch-server.js';
import { tempDir } from './helpers.js';
import { PserveError } from '../src/errors.js';
import { DEFAULT_UNPACK_LIMITS, tarSink, unpackLimitsFromEnv, unpackZip } from '../src/fetch/unpack.js';

const work = tempDir('pserve-fetch-unsafe-');
let srv: TestServer;
beforeAll(async () => { srv = await startServer(); });
afterAll(async () => { await srv?.close(); });

const okFile: RawTarEntry = { path: 'ok_infer/inference.pdmodel', body: randomBytes(3000) };

/** every file name in a tree, hidden ones included */
function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

/** bytes in the regular files under a directory */
function diskBytes(dir: string): number {
  return walk(dir).reduce((sum, rel) => { const st = statSync(join(dir, rel)); return sum + (st.isFile() ? st.size : 0); }, 0);
}

let n = 0;
async function refuse(body: Buffer, code: string, env: Record<string, string> = {}, ext = 'tar'): Promise<{ sandbox: string; dest: string; message: string }> {
  const sandbox = join(work, `case-${++n}`);
  const dest = join(sandbox, 'deep', 'out');
  mkdirSync(dest, { recursive: true });
  const cache = join(sandbox, 'cache');
  const path = `/bad/case${n}_infer.${ext}`;
  srv.routes.set(path, { body });
  const r = await fetchJson<any>(['fetch', `${srv.base}${path}`, '--dest', dest, '--lock', join(sandbox, 'pserve.lock.json')], { PSERVE_CACHE_DIR: cache, ...env });
  expect(r.code, r.stderr).toBe(1);
  expect(r.json.error.code).toBe(code);
  // nothing inside (not even a hidden temp tree), nothing beside it, no lock, no partial kept
  expect(walk(dest)).toEqual([]);
  expect(readdirSync(sandbox).sort()).toEqual(['cache', 'deep']);
  expect(readdirSync(join(sandbox, 'deep'))).toEqual(['out']);
  expect(walk(join(cache, 'archives'))).toEqual([]);
  return { sandbox, dest, message: r.json.error.message as string };
}

describe('pserve fetch refuses unsafe archives', () => {
  it('an entry with ../', async () => {
    const r = await refuse(rawTar([okFile, { path: 'ok_infer/../../evil.txt', body: Buffer.from('pwned') }]), 'E_ARCHIVE_UNSAFE');
    expect(r.message).toContain('..');
    expect(existsSync(join(r.sandbox, 'evil.txt'))).toBe(false);
    expect(existsSync(join(r.sandbox, 'deep', 'evil.txt'))).toBe(false);
  });

  it('an absolute path', async () => {
    const target = join(tmpdir(), `pserve-evil-${randomBytes(4).toString('hex')}`, 'evil.txt');
    const r = await refuse(rawTar([okFile, { path: target, body: Buffer.from('pwned') }]), 'E_ARCHIVE_UNSAFE');
    expect(r.message).toContain('absolute');
    expect(existsSync(target)).toBe(false);
  });

  it('a symlink escaping the destination', async () => {
    await refuse(rawTar([okFile, { path: 'ok_infer/escape', type: '2', linkpath: '../../../etc' }]), 'E_ARCHIVE_UNSAFE');
  });

  it('a symlink to an absolute path', async () => {
    await refuse(rawTar([okFile, { path: 'ok_infer/passwd', type: '2', linkpath: '/etc/passwd' }]), 'E_ARCHIVE_UNSAFE');
  });

  it('a symlink that escapes through another link (a -> ., b -> a/..)', async () => {
    await refuse(rawTar([okFile, { path: 'ok_infer/a', type: '2', linkpath: '.' }, { path: 'ok_infer/b', type: '2', linkpath: 'a/../..' }]), 'E_ARCHIVE_UNSAFE');
  });

  it('a file written through a symlink from the same archive', async () => {
    await refuse(rawTar([okFile, { path: 'ok_infer/dir', type: '2', linkpath: '.' }, { path: 'ok_infer/dir/x', body: Buffer.from('x') }]), 'E_ARCHIVE_UNSAFE');
  });

  it('a hard link outside the destination', async () => {
    await refuse(rawTar([okFile, { path: 'ok_infer/h', type: '1', linkpath: '../etc/passwd' }]), 'E_ARCHIVE_UNSAFE');
  });

  it('a character device and a fifo', async () => {
    await refuse(rawTar([okFile, { path: 'ok_infer/null', type: '3' }]), 'E_ARCHIVE_UNSAFE');
    await refuse(rawTar([okFile, { path: 'ok_infer/pipe', type: '6' }]), 'E_ARCHIVE_UNSAFE');
  });

  it('a bomb that claims more than the cap in one header', async () => {
    // 8 GiB claimed, a few bytes sent: refused on the header, before anything is written
    const r = await refuse(rawTar([okFile, { path: 'ok_infer/huge.bin', body: Buffer.alloc(512), claimSize: 0o77777777777 }]), 'E_ARCHIVE_BOMB', { PSERVE_FETCH_MAX_BYTES: String(1 << 20) });
    expect(r.message).toContain(String(1 << 20));
  });

  it('a gzip bomb whose entries add up to more than the cap', async () => {
    const zeros = Buffer.alloc(1 << 20);
    const tgz = gzipSync(rawTar([0, 1, 2, 3].map((i) => ({ path: `ok_infer/zeros${i}.bin`, body: zeros }))));
    expect(tgz.length).toBeLessThan(64 * 1024);
    await refuse(tgz, 'E_ARCHIVE_BOMB', { PSERVE_FETCH_MAX_BYTES: String(3 << 20) }, 'tar.gz');
  });

  it('a gzip bomb past the compression ratio is refused long before its full output', async () => {
    // 64 MiB of zeros in one entry whose header looks modest: ~1000:1, far past 200:1
    const tgz = gzipSync(rawTar([okFile, { path: 'ok_infer/zeros.bin', body: Buffer.alloc(64 << 20) }]));
    expect(tgz.length).toBeLessThan(256 * 1024);
    const r = await refuse(tgz, 'E_ARCHIVE_BOMB', { PSERVE_FETCH_RATIO_FLOOR_BYTES: String(1 << 20) }, 'tar.gz');
    expect(r.message).toContain('200:1');
  });

  it('a zip entry whose declared sizes are past the ratio, and one past it only in total', async () => {
    const zip = async (entries: [string, Buffer][]) => {
      const z = new yazl.ZipFile();
      for (const [name, body] of entries) z.addBuffer(body, name);
      z.end();
      const parts: Buffer[] = [];
      for await (const c of z.outputStream as AsyncIterable<Buffer>) parts.push(c);
      return Buffer.concat(parts);
    };
    const env = { PSERVE_FETCH_RATIO_FLOOR_BYTES: String(1 << 20) };
    const one = await refuse(await zip([['ok_infer/a.txt', Buffer.from('fine')], ['ok_infer/zeros.bin', Buffer.alloc(4 << 20)]]), 'E_ARCHIVE_BOMB', env, 'zip');
    expect(one.message).toContain('entry "ok_infer/zeros.bin"');
    // each entry below the floor, together past it at ~1000:1
    const many = await zip(Array.from({ length: 6 }, (_, i) => [`ok_infer/z${i}.bin`, Buffer.alloc(512 * 1024)] as [string, Buffer]));
    const r = await refuse(many, 'E_ARCHIVE_BOMB', env, 'zip');
    expect(r.message).toMatch(/^archive unpacks to \d+ bytes/);
    // and directly: what reached the disk before the refusal is far less than the whole
    const file = join(work, 'many.zip');
    writeFileSync(file, many);
    const dir = join(work, 'many-out');
    mkdirSync(dir);
    const e = await unpackZip(file, dir, 'many.zip', { ...DEFAULT_UNPACK_LIMITS, ratioFloorBytes: 1 << 20 }).then(() => undefined, (x: unknown) => x);
    expect((e as PserveError).code).toBe('E_ARCHIVE_BOMB');
    expect(diskBytes(dir)).toBeLessThanOrEqual(2 * 512 * 1024);
  });

  it('the ratio rule stops a gzip bomb after about the floor, judged on inflated bytes', async () => {
    const full = 64 << 20;
    const tgz = gzipSync(rawTar([{ path: 'bomb/zeros.bin', body: Buffer.alloc(full) }]));
    const dir = join(work, 'bomb-out');
    mkdirSync(dir);
    const sink = tarSink(dir, 'bomb.tgz', { ...DEFAULT_UNPACK_LIMITS, ratioFloorBytes: 1 << 20 });
    let fed = 0;
    let err: unknown;
    try {
      for (; fed < tgz.length; fed += 16 * 1024) await sink.write(tgz.subarray(fed, fed + 16 * 1024));
      await sink.finish();
    } catch (e) { err = e; sink.abort(); }
    expect((err as PserveError)?.code, String(err)).toBe('E_ARCHIVE_BOMB');
    expect(fed).toBeLessThan(tgz.length);
    // about the floor (1 MiB; measured 1,047,552 bytes) of the 64 MiB the archive holds
    expect(diskBytes(dir)).toBeLessThan(2 << 20);
  });

  it('a normal tgz (random weights, ~1:1) passes under the same lowered floor', async () => {
    const sandbox = join(work, 'normal');
    const tgz = gzipSync(rawTar([okFile, { path: 'ok_infer/inference.pdiparams', body: randomBytes(3 << 20) }, { path: 'ok_infer/vocab.txt', body: Buffer.from('token\n'.repeat(50_000)) }]));
    srv.routes.set('/good/normal_infer.tar.gz', { body: tgz });
    const r = await fetchJson<any>(['fetch', `${srv.base}/good/normal_infer.tar.gz`, '--dest', join(sandbox, 'out'), '--lock', join(sandbox, 'pserve.lock.json')],
      { PSERVE_CACHE_DIR: join(sandbox, 'cache'), PSERVE_FETCH_RATIO_FLOOR_BYTES: String(1 << 20) });
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(join(sandbox, 'out', 'ok_infer', 'inference.pdiparams')).size).toBe(3 << 20);
  });

  it('limits: defaults, env overrides and a bad value', () => {
    expect(unpackLimitsFromEnv({})).toEqual({ maxBytes: 32 * 1024 ** 3, maxEntries: 200_000, maxRatio: 200, ratioFloorBytes: 1024 ** 3 });
    expect(unpackLimitsFromEnv({ PSERVE_FETCH_MAX_BYTES: '1000', PSERVE_FETCH_MAX_RATIO: '50', PSERVE_FETCH_RATIO_FLOOR_BYTES: '4096' }))
      .toEqual({ maxBytes: 1000, maxEntries: 200_000, maxRatio: 50, ratioFloorBytes: 4096 });
    expect(() => unpackLimitsFromEnv({ PSERVE_FETCH_MAX_RATIO: 'many' })).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });

  it('more entries than the cap', async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ path: `ok_infer/f${i}`, body: Buffer.from('x') }));
    await refuse(rawTar(many), 'E_ARCHIVE_BOMB', { PSERVE_FETCH_MAX_ENTRIES: '25' });
  });

  it('a zip with ../ or an absolute path', async () => {
    const zip = async (name: string, disguise: string) => {
      const z = new yazl.ZipFile();
      z.addBuffer(Buffer.from('fine'), 'ok_infer/a.txt');
      z.addBuffer(Buffer.from('pwned'), disguise);
      z.end();
      const parts: Buffer[] = [];
      for await (const c of z.outputStream as AsyncIterable<Buffer>) parts.push(c);
      // the zip writer refuses these names, so write a same-length stand-in and swap the bytes
      return Buffer.from(Buffer.concat(parts).toString('latin1').split(disguise).join(name), 'latin1');
    };
    const r = await refuse(await zip('../../evil.txt', 'xx/xx/evil.txt'), 'E_ARCHIVE_UNSAFE', {}, 'zip');
    expect(existsSync(join(r.sandbox, 'deep', 'evil.txt'))).toBe(false);
    await refuse(await zip('/tmp/pserve-zip-evil.txt', 'tmp/pserve-zip-evil.txtx'), 'E_ARCHIVE_UNSAFE', {}, 'zip');
    expect(existsSync('/tmp/pserve-zip-evil.txt')).toBe(false);
  });

  it('a corrupt tar header and a truncated tar', async () => {
    const t = rawTar([okFile, { path: 'ok_infer/b.bin', body: randomBytes(4096) }]);
    const broken = Buffer.from(t);
    broken.fill(0x41, 3584 + 20, 3584 + 60); // the second header: its checksum no longer holds
    await refuse(broken, 'E_ARCHIVE_CORRUPT');
    await refuse(t.subarray(0, 5000), 'E_ARCHIVE_CORRUPT');
  });
});
