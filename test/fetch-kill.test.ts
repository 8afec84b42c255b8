/**
 * SIGKILL of `pserve fetch` at random moments while a slow server trickles the archive: the
 * destination never holds a partial tree (only a hidden temp that the next run removes), and the
 * next run resumes from the partial download with a Range request and installs the right bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, runCli, startServer, type TestServer } from './fetch-server.js';
import { tempDir } from './helpers.js';

const work = tempDir('pserve-fetch-kill-');
let srv: TestServer;
const tree: Record<string, Buffer> = {};
for (let i = 0; i < 6; i++) tree[`slow_model_infer/part${i}.bin`] = randomBytes(256 * 1024);
tree['slow_model_infer/inference.pdmodel'] = randomBytes(20_000);
let archive: Buffer;
const path = '/slow/slow_model_infer.tar';

beforeAll(async () => {
  srv = await startServer();
  const src = join(work, 'src');
  for (const [rel, body] of Object.entries(tree)) { mkdirSync(join(src, rel, '..'), { recursive: true }); writeFileSync(join(src, rel), body); }
  await tar.c({ cwd: src, file: join(work, 'slow.tar'), portable: true }, ['slow_model_infer']);
  archive = readFileSync(join(work, 'slow.tar'));
  srv.routes.set(path, { body: archive, trickle: { bytes: 48 * 1024, everyMs: 15 } });
});
afterAll(async () => { await srv?.close(); });

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** the tree is either absent or complete and exact; anything else visible is a failure */
function assertNoPartialTree(dest: string): boolean {
  const visible = existsSync(dest) ? readdirSync(dest).filter((n) => !n.startsWith('.')) : [];
  expect(visible.every((n) => n === 'slow_model_infer'), visible.join(',')).toBe(true);
  for (const n of existsSync(dest) ? readdirSync(dest).filter((x) => x.startsWith('.')) : []) expect(n).toMatch(/\.pserve-tmp-\d+-[0-9a-f]{8}$/);
  if (!visible.includes('slow_model_infer')) return false;
  expect(readdirSync(join(dest, 'slow_model_infer')).sort()).toEqual(Object.keys(tree).map((k) => k.split('/')[1]).sort());
  for (const [rel, body] of Object.entries(tree)) expect(sha(readFileSync(join(dest, rel))), rel).toBe(sha(body));
  return true;
}

describe('pserve fetch killed with SIGKILL', () => {
  it('leaves no partial unpacked tree, and the next run resumes and completes', async () => {
    const dest = join(work, 'out');
    const env = { PSERVE_CACHE_DIR: join(work, 'cache') };
    const lock = join(work, 'pserve.lock.json');
    const delays: number[] = [];
    for (let round = 0; round < 4; round++) {
      // a random moment: before the first byte, mid-download/unpack, or around the final rename
      const delay = 150 + Math.floor(Math.random() * 900);
      delays.push(delay);
      const { child, done } = runCli(['fetch', `${srv.base}${path}`, '--dest', dest, '--lock', lock, '--force'], env);
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      const res = await done;
      if (res.code === 0) {
        expect(assertNoPartialTree(dest), `round ${round}`).toBe(true);
      } else {
        expect(res.signal, `round ${round} after ${delay} ms: ${res.stderr}`).toBe('SIGKILL');
        assertNoPartialTree(dest);
      }
    }
    const before = srv.seen.length;
    const archives = join(work, 'cache', 'archives');
    // under load every kill may land before the cache directory exists
    // and a kill right after the partial file was opened leaves it empty: nothing to resume from,
    // so the next run rightly starts at byte 0 without a Range header
    const partial = existsSync(archives) && readdirSync(archives).some((n) => {
      if (!n.endsWith('.partial') || !existsSync(join(archives, `${n}.json`))) return false;
      try { return statSync(join(archives, n)).size > 0; } catch { return false; }
    });
    const r = await fetchJson<any>(['fetch', `${srv.base}${path}`, '--dest', dest, '--lock', lock, '--force'], env);
    expect(r.code, `${r.stderr} (kill delays ${delays.join(',')} ms)`).toBe(0);
    expect(assertNoPartialTree(dest)).toBe(true);
    // stale temp trees of the killed runs are gone
    expect(readdirSync(dest)).toEqual(['slow_model_infer']);
    if (partial) {
      const q = srv.seen.slice(before).filter((x) => x.path === path);
      expect(q[0]?.range, 'resumed with a Range request').toMatch(/^bytes=\d+-$/);
      expect(r.json.files[0].resumedFrom).toBeGreaterThan(0);
    }
    expect(r.json.files[0].sha256).toBe(sha(archive));
  });

  it('a kill in the middle of the transfer always leaves a resumable partial and no tree', async () => {
    const dest = join(work, 'out2');
    const cache = join(work, 'cache2');
    const env = { PSERVE_CACHE_DIR: cache };
    const lock = join(work, 'pserve2.lock.json');
    // its own route: past 400 KiB the full response crawls, so the transfer is still in flight
    // when the kill lands, whatever the load (a resumed Range request is served at normal pace)
    const crawlPath = '/crawl/slow_model_infer.tar';
    srv.routes.set(crawlPath, { body: archive, trickle: { bytes: 48 * 1024, everyMs: 15 }, crawlAfter: 400 * 1024 });
    const { child, done } = runCli(['fetch', `${srv.base}${crawlPath}`, '--dest', dest, '--lock', lock], env);
    const partialSize = (): number => {
      const dir = join(cache, 'archives');
      const f = existsSync(dir) ? readdirSync(dir).find((n) => n.endsWith('.partial')) : undefined;
      try { return f ? statSync(join(dir, f)).size : 0; } catch { return 0; }
    };
    // wait for the observable condition: some of the archive is on disk in the partial file
    const deadline = Date.now() + 45_000;
    while (partialSize() === 0) {
      if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`no partial download after 45 s: ${(await done).stderr}`); }
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    const k = await done;
    expect(k.signal, k.stderr).toBe('SIGKILL');
    const kept = partialSize();
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(archive.length);
    expect(assertNoPartialTree(dest)).toBe(false);
    expect(existsSync(lock)).toBe(false);
    const before = srv.seen.length;
    const r = await fetchJson<any>(['fetch', `${srv.base}${crawlPath}`, '--dest', dest, '--lock', lock], env);
    expect(r.code, r.stderr).toBe(0);
    const q = srv.seen.slice(before).filter((x) => x.path === crawlPath);
    expect(q[0]?.range, 'resumed with a Range request').toMatch(/^bytes=[1-9]\d*-$/);
    expect(r.json.files[0].resumedFrom).toBeGreaterThan(0);
    expect(r.json.files[0].sha256).toBe(sha(archive));
    expect(assertNoPartialTree(dest)).toBe(true);
    expect(readdirSync(dest)).toEqual(['slow_model_infer']);
  });
});
