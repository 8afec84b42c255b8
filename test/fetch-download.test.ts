/**
 * downloadResumable on its own, against the real 127.0.0.1 test server: which failures are retried
 * and what happens to the partial download.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PserveError } from '../src/errors.js';
import { cachePaths, writeJsonAtomic } from '../src/fetch/cache.js';
import { writeLockFile } from '../src/fetch/lock-file.js';
import { downloadResumable, type ByteConsumer } from '../src/fetch/download.js';
import { startServer, type TestServer } from './fetch-server.js';
import { tempDir } from './helpers.js';

const work = tempDir('pserve-download-');
let srv: TestServer;
const agent = new Agent();
const body = randomBytes(300_000);

beforeAll(async () => {
  srv = await startServer();
  srv.routes.set('/d/model_infer.tar', { body });
});
afterAll(async () => { await agent.close(); await srv?.close(); });

let n = 0;
/** download with a consumer that fails with `fail` on its first write; the error and the retries made */
async function failing(fail: unknown, path = '/d/model_infer.tar'): Promise<{ err: PserveError; retries: number; partial: boolean }> {
  const url = `${srv.base}${path}`;
  const paths = cachePaths(join(work, `c${++n}`), url);
  let retries = 0;
  const consumer = (): ByteConsumer<void> => ({
    async write() { throw fail; },
    async finish() { /* nothing */ },
    abort() { /* nothing */ },
  });
  const err = await downloadResumable({
    url, paths, direct: true, dispatcher: () => agent,
    consumer, retries: 3, backoffMs: 1, onRetry: () => { retries++; },
  }).then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as PserveError);
  expect(err).toBeInstanceOf(PserveError);
  return { err, retries, partial: existsSync(paths.partial) };
}

describe('download failures', () => {
  it('an errno code that is not a network one maps like any fs error and is not retried', async () => {
    const acc = await failing(Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES' }));
    expect([acc.err.code, acc.err.kind, acc.retries]).toEqual(['E_ACCESS', 'permanent', 0]);
    const emfile = await failing(Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }));
    expect([emfile.err.code, emfile.err.kind, emfile.retries]).toEqual(['E_IO', 'permanent', 0]);
  });

  it('an unknown error is permanent; a network reset is retried', async () => {
    const odd = await failing(new Error('something unexpected'));
    expect([odd.err.code, odd.err.kind, odd.retries]).toEqual(['E_NETWORK', 'permanent', 0]);
    const reset = await failing(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    expect([reset.err.code, reset.err.kind, reset.retries]).toEqual(['E_NETWORK', 'transient', 3]);
  });

  it('keeps the partial download on an HTTP 403, drops it when the unpacker refuses the bytes', async () => {
    const url = `${srv.base}/d/denied_infer.tar`;
    const paths = cachePaths(join(work, `c${++n}`), url);
    const run = () => downloadResumable({
      url, paths, direct: true, dispatcher: () => agent, retries: 0, backoffMs: 1,
      consumer: (): ByteConsumer<void> => ({ async write() { /* fine */ }, async finish() { /* fine */ }, abort() { /* fine */ } }),
    }).then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as PserveError);
    srv.routes.set('/d/denied_infer.tar', { body, dropAfter: 100_000, dropTimes: 1 });
    expect((await run()).kind).toBe('transient');
    const have = statSync(paths.partial).size;
    expect(have).toBeGreaterThan(0);
    srv.routes.set('/d/denied_infer.tar', { body, status: 403 });
    const denied = await run();
    expect([denied.code, denied.kind]).toEqual(['E_HTTP_STATUS', 'permanent']);
    expect(statSync(paths.partial).size).toBe(have);
    expect(existsSync(paths.partialMeta)).toBe(true);

    const refused = await failing(new PserveError('E_NOT_ARCHIVE', 'expected a tar archive'));
    expect([refused.err.code, refused.partial]).toEqual(['E_NOT_ARCHIVE', false]);
    const bomb = await failing(new PserveError('E_ARCHIVE_BOMB', 'too big'));
    expect([bomb.err.code, bomb.partial]).toEqual(['E_ARCHIVE_BOMB', false]);
  });

  it('a failed JSON side-file write leaves no temp behind; the lock writer maps it', async () => {
    const dir = join(work, 'json');
    mkdirSync(join(dir, 'taken'), { recursive: true });
    expect(() => writeJsonAtomic(join(dir, 'taken'), { a: 1 })).toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
    const err = await writeLockFile(join(dir, 'taken'), { lockfileVersion: 1, archives: {} }).catch((e: unknown) => e as PserveError);
    expect(err).toBeInstanceOf(PserveError);
    expect(err!.code).toBe('E_IS_DIR');
    expect(readdirSync(dir)).toEqual(['taken']);
    await writeLockFile(join(dir, 'sub', 'pserve.lock.json'), { lockfileVersion: 1, archives: {} });
    expect(readFileSync(join(dir, 'sub', 'pserve.lock.json'), 'utf8')).toBe('{\n  "lockfileVersion": 1,\n  "archives": {}\n}\n');
  });
});
