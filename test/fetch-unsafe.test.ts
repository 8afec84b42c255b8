/**
 * Hostile archives: each is refused with its error code, nothing is written outside --dest, nothing
 * half-written inside it, no lock entry is recorded and the bad download is not kept for resuming.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, rawTar, startServer, type RawTarEntry, type TestServer } from './fetch-server.js';
import { tempDir } from './helpers.js';

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
