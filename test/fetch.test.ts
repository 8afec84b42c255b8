/**
 * `pserve fetch` end to end: the real CLI against a real HTTP server on 127.0.0.1 serving archives
 * built here. Nothing in this file contacts any other host: every URL goes through --mirror.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachePaths } from '../src/fetch/cache.js';
import { DEFAULT_UNPACK_LIMITS } from '../src/fetch/unpack.js';
import { fetchJson, runCli, startServer, type TestServer } from './fetch-server.js';
import { HAVE_SHARED, describeShared, shared, tempDir } from './helpers.js';

const SHITU = '/dygraph/rec/models/inference';
const UP = 'https://paddle-imagenet-models-name.bj.bcebos.com';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A tree of files: relative path -> bytes. */
type Tree = Record<string, Buffer>;

async function makeTar(work: string, name: string, tree: Tree, gzip = false): Promise<Buffer> {
  const src = join(work, `src-${name}-${randomBytes(3).toString('hex')}`);
  for (const [rel, body] of Object.entries(tree)) {
    mkdirSync(join(src, rel, '..'), { recursive: true });
    writeFileSync(join(src, rel), body);
  }
  const out = join(work, `${name}-${randomBytes(3).toString('hex')}`);
  const tops = [...new Set(Object.keys(tree).map((p) => p.split('/')[0]!))];
  await tar.c({ cwd: src, file: out, portable: true, gzip }, tops);
  return readFileSync(out);
}

async function makeZip(tree: Tree): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [rel, body] of Object.entries(tree)) z.addBuffer(body, rel, { mtime: new Date(Date.UTC(2022, 0, 1)), mode: 0o100644 });
  z.end();
  const parts: Buffer[] = [];
  for await (const c of z.outputStream as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

function expectTree(root: string, tree: Tree): void {
  for (const [rel, body] of Object.entries(tree)) {
    const p = join(root, rel);
    expect(existsSync(p), p).toBe(true);
    expect(sha(readFileSync(p)), p).toBe(sha(body));
  }
}

const work = tempDir('pserve-fetch-');
let srv: TestServer;

const feature: Tree = {
  'general_PPLCNet_x2_5_lite_v1.0_infer/inference.pdmodel': randomBytes(40_000),
  'general_PPLCNet_x2_5_lite_v1.0_infer/inference.pdiparams': randomBytes(600_000),
  'general_PPLCNet_x2_5_lite_v1.0_infer/inference.pdiparams.info': randomBytes(3_000),
};
const detector: Tree = {
  'picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer/inference.pdmodel': randomBytes(30_000),
  'picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer/inference.pdiparams': randomBytes(300_000),
};
const drink: Tree = {
  'drink_dataset_v1.0/gallery/drink_label.txt': Buffer.from('gallery/100.jpeg\tnongfu_spring\n'),
  'drink_dataset_v1.0/index/vector.index': randomBytes(20_000),
  'drink_dataset_v1.0/index/id_map.pkl': randomBytes(2_000),
  'drink_dataset_v1.0/test_images/nongfu_spring.jpeg': randomBytes(9_000),
};
const pptsm: Tree = {
  'ppTSM/ppTSM.pdmodel': randomBytes(20_000),
  'ppTSM/ppTSM.pdiparams': randomBytes(200_000),
};
const archives: Record<string, Buffer> = {};

beforeAll(async () => {
  srv = await startServer();
  archives['feature'] = await makeTar(work, 'feature', feature);
  archives['detector'] = await makeTar(work, 'detector', detector);
  archives['drink'] = await makeTar(work, 'drink', drink);
  archives['pptsm'] = await makeZip(pptsm);
  srv.routes.set(`${SHITU}/general_PPLCNet_x2_5_lite_v1.0_infer.tar`, { body: archives['feature']! });
  srv.routes.set(`${SHITU}/picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar`, { body: archives['detector']! });
  srv.routes.set('/dygraph/rec/data/drink_dataset_v1.0.tar', { body: archives['drink']! });
  srv.routes.set('/PaddleVideo-release2.3/ppTSM.zip', { body: archives['pptsm']!, contentType: 'application/zip' });
});
afterAll(async () => { await srv?.close(); });

let n = 0;
/** a fresh dest, cache and lock for one scenario */
function scene(): { dest: string; cache: string; lock: string; env: Record<string, string> } {
  const d = join(work, `scene-${++n}`);
  mkdirSync(d, { recursive: true });
  const cache = join(d, 'cache');
  return { dest: join(d, 'out'), cache, lock: join(d, 'pserve.lock.json'), env: { PSERVE_CACHE_DIR: cache } };
}

describe('pserve fetch', () => {
  it('fetches ppshitu through --mirror: three archives unpacked, lock recorded with url/sha256/size', async () => {
    const s = scene();
    const before = srv.seen.length;
    const r = await fetchJson<any>(['fetch', 'ppshitu', '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.files).toHaveLength(3);
    expectTree(join(s.dest, 'models'), feature);
    expectTree(join(s.dest, 'models'), detector);
    expectTree(s.dest, drink);
    const lock = JSON.parse(readFileSync(s.lock, 'utf8'));
    expect(lock.lockfileVersion).toBe(1);
    const url = `${UP}${SHITU}/general_PPLCNet_x2_5_lite_v1.0_infer.tar`;
    expect(lock.archives[url]).toEqual({ url, sha256: sha(archives['feature']!), size: archives['feature']!.length });
    expect(Object.keys(lock.archives)).toHaveLength(3);
    for (const f of r.json.files) {
      expect(f.cached).toBe(false);
      expect(f.lock).toBe('recorded');
      expect(f.source.startsWith(srv.base)).toBe(true);
      expect(f.url.startsWith(UP)).toBe(true);
    }
    expect(r.json.files[0].dest).toEqual([join(s.dest, 'models/general_PPLCNet_x2_5_lite_v1.0_infer')]);
    expect(r.json.files[2].dest).toEqual([join(s.dest, 'drink_dataset_v1.0')]);
    // only the three archive paths were asked for, all on the loopback server
    expect(srv.seen.slice(before).map((q) => q.path).sort()).toEqual([
      `${SHITU}/general_PPLCNet_x2_5_lite_v1.0_infer.tar`, `${SHITU}/picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar`, '/dygraph/rec/data/drink_dataset_v1.0.tar',
    ].sort());
    // no temporaries left behind
    expect(readdirSync(join(s.dest, 'models')).filter((x) => x.startsWith('.'))).toEqual([]);

    // again, same cache: nothing downloaded; what is installed matches the lock, so: up to date, exit 0
    const seen = srv.seen.length;
    const again = await fetchJson<any>(['fetch', 'ppshitu', '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.files.map((f: any) => f.upToDate)).toEqual([true, true, true]);
    expectTree(join(s.dest, 'models'), feature);
    // a tree that differs from the verified archive is refused without --force, and left as it is
    const edited = join(s.dest, 'models', Object.keys(feature)[0]!);
    writeFileSync(edited, 'edited by hand');
    const differ = await fetchJson<any>(['fetch', 'ppshitu', '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(differ.code).toBe(1);
    expect(differ.json.error.code).toBe('E_EXISTS');
    expect(differ.json.error.message).toMatch(/different from the verified archive/);
    expect(readFileSync(edited, 'utf8')).toBe('edited by hand');
    const forced = await fetchJson<any>(['fetch', 'ppshitu', '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock, '--force'], s.env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.json.files.every((f: any) => f.cached && f.lock === 'verified')).toBe(true);
    expect(srv.seen.length).toBe(seen);
    expectTree(join(s.dest, 'models'), feature);
  });

  it('takes the mirror from PSERVE_MIRROR and prints one line per file without --json', async () => {
    const s = scene();
    const r = await runCli(['fetch', 'ppshitu', '--dest', s.dest, '--lock', s.lock], { ...s.env, PSERVE_MIRROR: `${srv.base}/` }).done;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('ok '))).toHaveLength(3);
    expect(r.stderr).toContain('picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar');
    expect(r.stdout).toContain('models/general_PPLCNet_x2_5_lite_v1.0_infer');
    expectTree(s.dest, drink);
  });

  it('resumes a connection dropped half-way with a Range request and ends with the right bytes', async () => {
    const s = scene();
    const path = '/resume/general_PPLCNet_x2_5_lite_v1.0_infer.tar';
    const body = archives['feature']!;
    srv.routes.set(path, { body, dropAfter: Math.floor(body.length / 2), dropTimes: 1 });
    const before = srv.seen.length;
    // hashed on the worker thread (the shared ring), whatever the core count: the failed attempt closes one worker, the resumed one digests
    const r = await fetchJson<any>(['fetch', `https://example.invalid${path}`, '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], { ...s.env, PSERVE_FETCH_HASH_WORKER_MIN: '1' });
    expect(r.code, r.stderr).toBe(0);
    const reqs = srv.seen.slice(before).filter((q) => q.path === path);
    expect(reqs).toHaveLength(2);
    expect(reqs[0]!.range).toBeUndefined();
    expect(reqs[1]!.range).toMatch(/^bytes=\d+-$/);
    const from = Number(/bytes=(\d+)-/.exec(reqs[1]!.range!)![1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(Math.floor(body.length / 2));
    expect(reqs[1]!.ifRange).toMatch(/^"/);
    expect(r.json.files[0].resumedFrom).toBe(from);
    expect(r.json.files[0].sha256).toBe(sha(body));
    expect(r.json.files[0].size).toBe(body.length);
    expectTree(s.dest, feature);
    // the cache holds the whole archive, byte for byte
    expect(sha(readFileSync(cachePaths(s.cache, `https://example.invalid${path}`).file))).toBe(sha(body));
  });

  it('starts over when the partial download belongs to another version of the file (validator changed)', async () => {
    const s = scene();
    const path = '/validator/picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar';
    const body = archives['detector']!;
    srv.routes.set(path, { body });
    const url = `https://example.invalid${path}`;
    const p = cachePaths(s.cache, `${url}`);
    mkdirSync(join(p.file, '..'), { recursive: true });
    // an older version: same length prefix of different bytes, recorded under another ETag
    writeFileSync(p.partial, randomBytes(100_000));
    writeFileSync(p.partialMeta, JSON.stringify({ url: `${srv.base}${path}`, etag: '"older"', total: body.length }));
    const before = srv.seen.length;
    const r = await fetchJson<any>(['fetch', url, '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(r.code, r.stderr).toBe(0);
    const reqs = srv.seen.slice(before);
    expect(reqs[0]!.range).toBe('bytes=100000-');
    expect(reqs[0]!.ifRange).toBe('"older"');
    expect(r.json.files[0].resumedFrom).toBe(0);
    expectTree(s.dest, detector);
  });

  it('refuses a changed archive against the lock, naming both sha256, and leaves installed files untouched', async () => {
    const s = scene();
    const path = '/changing/general_PPLCNet_x2_5_lite_v1.0_infer.tar';
    const url = `https://example.invalid${path}`;
    srv.routes.set(path, { body: archives['feature']! });
    const first = await fetchJson<any>(['fetch', url, '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(first.code, first.stderr).toBe(0);
    const installed = join(s.dest, 'general_PPLCNet_x2_5_lite_v1.0_infer', 'inference.pdiparams');
    const mtime = statSync(installed).mtimeMs;
    const lockBefore = readFileSync(s.lock, 'utf8');

    const changedTree: Tree = { ...feature, 'general_PPLCNet_x2_5_lite_v1.0_infer/inference.pdiparams': randomBytes(600_000) };
    const changed = await makeTar(work, 'changed', changedTree);
    srv.routes.set(path, { body: changed });
    // another machine: the same lock, an empty cache
    const r = await fetchJson<any>(['fetch', url, '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock, '--force'], { PSERVE_CACHE_DIR: join(s.cache, '..', 'cache2') });
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_CHECKSUM_MISMATCH');
    expect(r.json.error.message).toContain(sha(archives['feature']!));
    expect(r.json.error.message).toContain(sha(changed));
    expectTree(s.dest, feature);
    expect(statSync(installed).mtimeMs).toBe(mtime);
    expect(readFileSync(s.lock, 'utf8')).toBe(lockBefore);
    expect(readdirSync(s.dest)).toEqual(['general_PPLCNet_x2_5_lite_v1.0_infer']);
  });

  it('reports a 404 clearly and installs nothing', async () => {
    const s = scene();
    const r = await fetchJson<any>(['fetch', `${srv.base}/nope/missing_infer.tar`, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_HTTP_NOT_FOUND');
    expect(r.json.error.message).toContain('404');
    expect(existsSync(s.dest) ? readdirSync(s.dest) : []).toEqual([]);
    expect(existsSync(s.lock)).toBe(false);
  });

  it('refuses a body that is not an archive (an HTML page)', async () => {
    const s = scene();
    srv.routes.set('/html/model_infer.tar', { body: Buffer.from(`<!DOCTYPE html><html><body>${'login '.repeat(200)}</body></html>`), contentType: 'text/html' });
    const r = await fetchJson<any>(['fetch', `${srv.base}/html/model_infer.tar`, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('E_NOT_ARCHIVE');
    expect(r.json.error.message).toContain('HTML');
    expect(existsSync(s.dest) ? readdirSync(s.dest) : []).toEqual([]);
  });

  it('--offline uses the cache when it has the archive and fails clearly when it does not', async () => {
    const s = scene();
    const miss = await fetchJson<any>(['fetch', 'pptsm', '--offline', '--dest', s.dest, '--lock', s.lock], s.env);
    expect(miss.code).toBe(1);
    expect(miss.json.error.code).toBe('E_OFFLINE_MISSING');
    expect(miss.json.error.message).toContain('https://videotag.bj.bcebos.com/PaddleVideo-release2.3/ppTSM.zip');

    const warm = await fetchJson<any>(['fetch', 'pptsm', '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(warm.code, warm.stderr).toBe(0);
    const seen = srv.seen.length;
    const dest2 = join(s.dest, '..', 'offline-out');
    const hit = await fetchJson<any>(['fetch', 'pptsm', '--offline', '--dest', dest2, '--lock', s.lock], s.env);
    expect(hit.code, hit.stderr).toBe(0);
    expect(hit.json.files[0].cached).toBe(true);
    expect(hit.json.files[0].lock).toBe('verified');
    expect(srv.seen.length).toBe(seen);
    expectTree(join(dest2, 'inference'), pptsm);
  });

  it('a run that only verifies leaves the lock file alone; a recording run merges with what another run wrote meanwhile', async () => {
    const s = scene();
    const warm = await fetchJson<any>(['fetch', 'pptsm', '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(warm.code, warm.stderr).toBe(0);
    const before = statSync(s.lock);
    const text = readFileSync(s.lock, 'utf8');
    const hit = await fetchJson<any>(['fetch', 'pptsm', '--offline', '--force', '--dest', s.dest, '--lock', s.lock], s.env);
    expect(hit.code, hit.stderr).toBe(0);
    expect(hit.json.files[0].lock).toBe('verified');
    expect(statSync(s.lock).ino).toBe(before.ino);
    expect(readFileSync(s.lock, 'utf8')).toBe(text);

    // another fetch records an entry while this one downloads: both must survive
    const other = { url: 'https://example.invalid/other_infer.tar', sha256: 'a'.repeat(64), size: 7 };
    const url = `${srv.base}/x/merge_infer.tar`;
    srv.routes.set('/x/merge_infer.tar', { body: archives['detector']! });
    const { fetchArchives } = await import('../src/fetch/fetch-archives.js');
    const got = await fetchArchives([{ url, kind: 'tar', into: 'm' }], {
      dest: s.dest, lockFile: s.lock, cacheDir: s.cache, limits: DEFAULT_UNPACK_LIMITS,
      progress: (e) => {
        if (e.phase !== 'start') return;
        const l = JSON.parse(readFileSync(s.lock, 'utf8'));
        l.archives[other.url] = other;
        writeFileSync(s.lock, JSON.stringify(l));
      },
    });
    expect(got[0]!.lock).toBe('recorded');
    const lock = JSON.parse(readFileSync(s.lock, 'utf8'));
    expect(Object.keys(lock.archives).sort()).toEqual([other.url, url, 'https://videotag.bj.bcebos.com/PaddleVideo-release2.3/ppTSM.zip'].sort());
    expect(lock.archives[other.url]).toEqual(other);
    expect(lock.archives[url]).toEqual({ url, sha256: sha(archives['detector']!), size: archives['detector']!.length });
  });

  it('fetches a zip (pptsm) and unpacks it under inference/', async () => {
    const s = scene();
    const r = await fetchJson<any>(['fetch', 'pptsm', '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.files[0].kind).toBe('zip');
    expect(r.json.files[0].sha256).toBe(sha(archives['pptsm']!));
    expect(r.json.files[0].dest).toEqual([join(s.dest, 'inference/ppTSM')]);
    expectTree(join(s.dest, 'inference'), pptsm);
  });

  it('fetches a gzip\'d tar and a plain file', async () => {
    const s = scene();
    const tgzTree: Tree = { 'tiny_infer/model.pdmodel': randomBytes(5000) };
    srv.routes.set('/x/tiny_infer.tar.gz', { body: await makeTar(work, 'tiny', tgzTree, true) });
    srv.routes.set('/x/ppocr_keys_v1.txt', { body: Buffer.from('a\nb\nc\n'), contentType: 'text/plain' });
    const r = await fetchJson<any>(['fetch', `${srv.base}/x/tiny_infer.tar.gz`, `${srv.base}/x/ppocr_keys_v1.txt`, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.files.map((f: any) => f.kind)).toEqual(['tgz', 'file']);
    expectTree(s.dest, { ...tgzTree, 'ppocr_keys_v1.txt': Buffer.from('a\nb\nc\n') });
  });

  it('--list shows the built-in sets; --registry adds sets; a bad registry or set name is an error', async () => {
    const s = scene();
    const l = await fetchJson<any>(['fetch', '--list'], s.env);
    expect(l.code).toBe(0);
    const names = l.json.sets.map((x: any) => x.name);
    for (const want of ['ppshitu', 'ppshituv2', 'pptsm', 'ppocrv3', 'ppocrv4', 'ppocr-cls']) expect(names).toContain(want);
    const shitu = l.json.sets.find((x: any) => x.name === 'ppshitu');
    expect(shitu.archives.map((a: any) => a.url)).toEqual([
      `${UP}${SHITU}/general_PPLCNet_x2_5_lite_v1.0_infer.tar`,
      `${UP}${SHITU}/picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar`,
      `${UP}/dygraph/rec/data/drink_dataset_v1.0.tar`,
    ]);
    const text = await runCli(['fetch', '--list'], s.env).done;
    expect(text.stdout).toContain('pptsm');

    const reg = join(s.dest, '..', 'reg.json');
    writeFileSync(reg, JSON.stringify({ sets: { mine: { description: 'my model', archives: [{ url: `https://models.example${SHITU}/picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar`, kind: 'tar', into: 'm' }] } } }));
    const mine = await fetchJson<any>(['fetch', 'mine', '--registry', reg, '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(mine.code, mine.stderr).toBe(0);
    expectTree(join(s.dest, 'm'), detector);

    writeFileSync(reg, JSON.stringify({ sets: { bad: { archives: [{ url: 'https://x/y.tar', kind: 'tar', into: '../up' }] } } }));
    const bad = await fetchJson<any>(['fetch', 'bad', '--registry', reg], s.env);
    expect(bad.code).toBe(1);
    expect(bad.json.error.code).toBe('E_REGISTRY_INVALID');

    const unknown = await fetchJson<any>(['fetch', 'no-such-set'], s.env);
    expect(unknown.code).toBe(1);
    expect(unknown.json.error.code).toBe('E_UNKNOWN_SET');
    const none = await fetchJson<any>(['fetch'], s.env);
    expect(none.code).toBe(2);
    const badMirror = await fetchJson<any>(['fetch', 'ppshitu', '--mirror', 'ftp://x'], s.env);
    expect(badMirror.code).toBe(2);
  });
});

describeShared('pserve fetch with a real Paddle model', () => {
  it('fetches ppocrv3-det built from the shared fixture and the result loads with inspect', async () => {
    if (!HAVE_SHARED) return;
    const s = scene();
    const tree: Tree = {};
    for (const f of ['inference.pdmodel', 'inference.pdiparams']) tree[`ch_PP-OCRv3_det_infer/${f}`] = readFileSync(shared('ppocrv3_det', f));
    srv.routes.set('/PP-OCRv3/chinese/ch_PP-OCRv3_det_infer.tar', { body: await makeTar(work, 'ocr', tree) });
    const r = await fetchJson<any>(['fetch', 'ppocrv3-det', '--mirror', srv.base, '--dest', s.dest, '--lock', s.lock], s.env);
    expect(r.code, r.stderr).toBe(0);
    expectTree(join(s.dest, 'inference'), tree);
    const ins = await fetchJson<any>(['inspect', join(s.dest, 'inference', 'ch_PP-OCRv3_det_infer')], s.env);
    expect(ins.code, ins.stderr).toBe(0);
    expect(ins.json.feeds[0].name).toBe('x');
  });
});
