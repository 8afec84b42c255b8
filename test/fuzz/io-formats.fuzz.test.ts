/**
 * Fuzzing of the other decoders: serving conf text and binary, ONNX read back, tar and zip
 * unpacking, and HTTP request bodies sent to a running bundle server. Same rule as everywhere:
 * a result or a PserveError with a code, within a time bound; for archives also nothing written
 * outside the target; for the server no 5xx and no dropped connection.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tar from 'tar';
import yazl from 'yazl';
import { PserveError } from '../../src/errors.js';
import { decodeServingConf, parseServingConf, encodeServingConf, printServingConf } from '../../src/formats/serving-conf.js';
import { checkOnnxFile } from '../../src/convert/paddle2onnx.js';
import { convertToOnnx } from '../../src/convert/onnx/index.js';
import { tarSink, unpackZip } from '../../src/fetch/unpack.js';
import { HAVE_SHARED, ROOT, SHARED, walkFiles } from '../helpers.js';
import { MUTATORS, Rng, fuzz, postStatus, startTinyClassifierBundle, type FuzzStats } from './harness.js';

const totals: FuzzStats[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'pserve-fuzz-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
  const runs = totals.reduce((s, t) => s + t.runs, 0);
  // eslint-disable-next-line no-console
  console.log(`fuzz (io formats): ${runs} mutated inputs, ${totals.map((t) => `${t.name} ${t.runs} (ok ${t.ok}, slowest ${t.slowestMs.toFixed(1)} ms)`).join('; ')}`);
});

function report(s: FuzzStats): void {
  totals.push(s);
  expect(s.crashes, s.crashes.join('\n')).toEqual([]);
}


const sharedFiles = HAVE_SHARED ? [...walkFiles(SHARED)] : [];
const generatedConf = {
  feed_var: [{ name: 'x', alias_name: 'x', is_lod_tensor: false, feed_type: 1, shape: [3, 224, 224] }],
  fetch_var: [{ name: 'save_infer_model/scale_0.tmp_1', alias_name: 'features', is_lod_tensor: true, fetch_type: 0, shape: [-1] }],
};

/** Run async decoders with the same accounting as fuzz(). */
async function fuzzAsync(name: string, seeds: Uint8Array[], count: number, seed: number, decode: (b: Uint8Array, i: number) => Promise<void>): Promise<FuzzStats> {
  const rng = new Rng(seed);
  const names = Object.keys(MUTATORS);
  const s: FuzzStats = { name, runs: 0, ok: 0, errors: {}, crashes: [], slowestMs: 0 };
  for (let i = 0; i < count; i++) {
    let input = seeds[i % seeds.length]!;
    for (let k = 0, n = 1 + rng.int(2); k < n; k++) input = MUTATORS[rng.pick(names)]!(input, rng, []);
    const t0 = performance.now();
    try { await decode(input, i); s.ok++; } catch (e) {
      if (e instanceof PserveError) s.errors[e.code] = (s.errors[e.code] ?? 0) + 1;
      else s.crashes.push(`${name} #${i}: ${(e as Error)?.message ?? e}`);
    }
    s.slowestMs = Math.max(s.slowestMs, performance.now() - t0);
    s.runs++;
  }
  return s;
}

describe('fuzz: serving confs, ONNX, archives, HTTP bodies', () => {
  it('serving conf text: 5000 mutations', () => {
    const seeds = [new TextEncoder().encode(printServingConf(generatedConf))];
    for (const f of sharedFiles) if (f.endsWith('.prototxt') && !f.endsWith('.stream.prototxt')) seeds.push(readFileSync(f));
    const dec = new TextDecoder();
    report(fuzz('conf-text', seeds.map((bytes) => ({ bytes })), (b) => parseServingConf(dec.decode(b)), 5000, 21));
  });

  it('serving conf binary: 5000 mutations', () => {
    const seeds = [encodeServingConf(generatedConf)];
    for (const f of sharedFiles) if (f.endsWith('.stream.prototxt')) seeds.push(readFileSync(f));
    report(fuzz('conf-binary', seeds.map((bytes) => ({ bytes })), (b) => decodeServingConf(b), 5000, 22));
  });

  it('ONNX read back: 1500 mutations', async () => {
    const r = await convertToOnnx(join(ROOT, 'fixtures', 'tiny_classifier'), {});
    const file = join(tmp, 'm.onnx');
    report(fuzz('onnx', [{ bytes: r.bytes! }], (b) => { writeFileSync(file, b); return checkOnnxFile(file, 'fuzz.onnx'); }, 1500, 23));
  });

  it('tar unpacking: 600 mutations, nothing outside the target', async () => {
    const src = join(tmp, 'tarsrc');
    mkdirSync(join(src, 'model', 'sub'), { recursive: true });
    writeFileSync(join(src, 'model', 'inference.pdmodel'), Buffer.alloc(3000, 7));
    writeFileSync(join(src, 'model', 'sub', 'a.txt'), 'hello');
    const tarFile = join(tmp, 'seed.tar');
    tar.c({ sync: true, file: tarFile, cwd: src, portable: true }, ['model']);
    const tgzFile = join(tmp, 'seed.tgz');
    tar.c({ sync: true, gzip: true, file: tgzFile, cwd: src, portable: true }, ['model']);
    const outside = join(tmp, 'tar-out');
    mkdirSync(outside);
    const s = await fuzzAsync('tar', [readFileSync(tarFile), readFileSync(tgzFile)], 600, 24, async (b, i) => {
      const dir = join(outside, `u${i}`);
      mkdirSync(dir);
      const sink = tarSink(dir, 'fuzz.tar', { maxBytes: 1 << 20, maxEntries: 100 });
      try {
        await sink.write(Buffer.from(b));
        await sink.finish();
      } catch (e) {
        sink.abort();
        throw e;
      } finally {
        // the only thing in the parent is what each run made; the folders go with the temp dir at
        // the end (an aborted tar writer may still be closing files here, and a removal racing it
        // fails with ENOTEMPTY on a loaded machine)
        expect(readdirSync(outside).every((e) => /^u\d+$/.test(e))).toBe(true);
      }
    });
    report(s);
  });

  it('zip unpacking: 400 mutations, nothing outside the target', async () => {
    const z = new yazl.ZipFile();
    z.addBuffer(Buffer.alloc(4000, 3), 'ppTSM/ppTSM.pdmodel');
    z.addBuffer(Buffer.from('x'.repeat(500)), 'ppTSM/ppTSM.pdiparams');
    z.end();
    const chunks: Buffer[] = [];
    for await (const c of z.outputStream) chunks.push(c as Buffer);
    const seed = Buffer.concat(chunks);
    const outside = join(tmp, 'zip-out');
    mkdirSync(outside);
    const zipFile = join(tmp, 'fuzz.zip');
    const s = await fuzzAsync('zip', [seed], 400, 25, async (b, i) => {
      const dir = join(outside, `u${i}`);
      mkdirSync(dir);
      writeFileSync(zipFile, b);
      try {
        await unpackZip(zipFile, dir, 'fuzz.zip', { maxBytes: 1 << 20, maxEntries: 100 });
      } finally {
        expect(readdirSync(outside).every((e) => /^u\d+$/.test(e))).toBe(true);
        rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 25 });
      }
    });
    report(s);
  });

  it('regression (found by this fuzzer): a zip entry name with a NUL byte is refused, not a TypeError and a hang', async () => {
    const z = new yazl.ZipFile();
    z.addBuffer(Buffer.alloc(100, 1), 'ppTSM/ppTSM.pdmodel');
    z.end();
    const chunks: Buffer[] = [];
    for await (const c of z.outputStream) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    // put a NUL into the name in both the local header and the central directory
    let at = bytes.indexOf('ppTSM.pdmodel');
    while (at >= 0) { bytes[at + 4] = 0; at = bytes.indexOf('ppTSM.pdmodel', at + 1); }
    for (let i = bytes.indexOf('ppTS'); i >= 0; i = bytes.indexOf('ppTS', i + 1)) if (bytes[i + 10] === 0x2e) bytes[i + 10] = 0;
    const file = join(tmp, 'nul.zip');
    writeFileSync(file, bytes);
    const dir = join(tmp, 'nul-out');
    mkdirSync(dir);
    let code = '';
    try { await unpackZip(file, dir, 'nul.zip', { maxBytes: 1 << 20, maxEntries: 10 }); } catch (e) { code = (e as PserveError).code; }
    expect(code).toMatch(/^E_ARCHIVE_(UNSAFE|CORRUPT)$/);
  });

  it('HTTP request bodies: 1500 mutations to a running bundle, no 5xx, no dropped connection', async () => {
    const server = await startTinyClassifierBundle(tmp);
    try {
      const x = Array.from({ length: 3 * 32 * 32 }, (_, i) => (i % 17) / 17);
      const seeds = [
        { path: '/cls/prediction', body: JSON.stringify({ feed: [{ x }], fetch: ['softmax_0.tmp_0'] }) },
        { path: '/cls/prediction', body: JSON.stringify({ key: ['x'], value: [JSON.stringify(x)] }) },
        { path: '/v2/models/cls/infer', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 32, 32], datatype: 'FP32', data: x }] }) },
      ];
      const rng = new Rng(26);
      const names = Object.keys(MUTATORS);
      const statuses: Record<number, number> = {};
      let dropped = 0;
      const s: FuzzStats = { name: 'http-body', runs: 0, ok: 0, errors: {}, crashes: [], slowestMs: 0 };
      const url = new URL(server.url);
      const send = (path: string, body: Uint8Array) => postStatus(url, path, body, { 'content-type': 'application/json' });
      for (let i = 0; i < 1500; i += 8) {
        const batch = Array.from({ length: 8 }, () => {
          const seed = rng.pick(seeds);
          let b: Uint8Array = new TextEncoder().encode(seed.body);
          for (let k = 0, n = 1 + rng.int(2); k < n; k++) b = MUTATORS[rng.pick(names)]!(b, rng, []);
          return send(seed.path, b);
        });
        for (const code of await Promise.all(batch)) {
          statuses[code] = (statuses[code] ?? 0) + 1;
          if (code === -1) dropped++;
          if (code >= 500 || code === -1) s.crashes.push(`status ${code}`);
          else s.ok++;
          s.runs++;
        }
      }
      // eslint-disable-next-line no-console
      console.log(`http-body statuses: ${JSON.stringify(statuses)}`);
      expect(dropped).toBe(0);
      report(s);
      // and it still answers correctly afterwards
      expect(await send(seeds[0]!.path, new TextEncoder().encode(seeds[0]!.body))).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
