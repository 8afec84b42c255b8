/**
 * A randomized differential test of the chain path that decodes a JPEG for a cv2 resize (+ crop) in one group:
 * the decoder converts only the rows the resize reads (cv2SourceRows, DESC.lo/hi), in the kernels' memory. Random
 * baseline JPEGs (the test encoder: every sampling layout, odd and 1-pixel sizes, separate scans, restart markers,
 * EXIF orientations, some PNG/BMP) and random resize/crop parameters: the chain's result must be the steps' result
 * one after the other, bit for bit (or the same error), with the kernels' memory scribbled over before each run,
 * and nothing the chain returns may point into kernel memory.
 */
import { spawnSync } from 'node:child_process';
import { deflateSync, crc32 } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { PY, pyHas } from './helpers.js';
import { encodeJpeg, picture } from './jpeg-encode.js';
import { encodeBmp } from '../src/bundle/smoke-pipeline.js';

const T = '../templates/server/pipeline/';
const I = '../templates/server/image/';
const { STEPS } = await import(`${T}steps.mjs`);
const { runChain, compileChain } = await import(`${T}chain.mjs`);
const { kernelOffset, jpegKernels, useJpegKernels } = await import(`${I}jpeg-wasm.mjs`);
const { decodeImage } = await import(`${I}decode.mjs`);

const SEED = Number(process.env.PSERVE_FUZZ_SEED ?? 20261130);
let seed = SEED;
/** mulberry32: deterministic per seed (PSERVE_FUZZ_SEED picks another run) */
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <X>(xs: X[]): X => xs[Math.floor(rnd() * xs.length)]!;
const bits = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** an EXIF APP1 segment (big-endian TIFF) with one Orientation entry */
const exifApp1 = (o: number) => Buffer.from([0xff, 0xe1, 0, 34, 0x45, 0x78, 0x69, 0x66, 0, 0, 0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, o, 0, 0, 0, 0, 0, 0]);

/** an 8-bit RGB PNG, filter 0 */
function encodePng(w: number, h: number, rgb: Uint8Array): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const t = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const len = Buffer.alloc(4); len.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(t) >>> 0);
    return Buffer.concat([len, t, crc]);
  };
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) Buffer.from(rgb.buffer, rgb.byteOffset + y * 3 * w, 3 * w).copy(raw, y * (1 + 3 * w) + 1);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** a random image file: mostly baseline JPEGs of every layout, some with EXIF, restarts or separate scans */
function randomImage(): { name: string; bytes: Uint8Array } {
  const w = rnd() < 0.15 ? int(1, 3) : int(1, 72), h = rnd() < 0.15 ? int(1, 3) : int(1, 72);
  const dx = int(0, 40), dy = int(0, 30);
  const sample = (c: number, x: number, y: number) => picture(c, x + dx, y + dy);
  const kind = rnd();
  if (kind < 0.06) {
    const rgb = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = sample(c, x, y);
    return rnd() < 0.5 ? { name: `png ${w}x${h}`, bytes: encodePng(w, h, rgb) } : { name: `bmp ${w}x${h}`, bytes: encodeBmp(w, h, rgb) };
  }
  const L = (hh: number, v: number, id: number) => ({ id, h: hh, v });
  const layouts: [string, { id: number; h: number; v: number }[]][] = [
    ['444', [L(1, 1, 1), L(1, 1, 2), L(1, 1, 3)]],
    ['422', [L(2, 1, 1), L(1, 1, 2), L(1, 1, 3)]],
    ['420', [L(2, 2, 1), L(1, 1, 2), L(1, 1, 3)]],
    ['420', [L(2, 2, 1), L(1, 1, 2), L(1, 1, 3)]],
    ['440', [L(1, 2, 1), L(1, 1, 2), L(1, 1, 3)]],
    ['411', [L(4, 1, 1), L(1, 1, 2), L(1, 1, 3)]],
    ['gray', [L(1, 1, 1)]],
    // colour spaces the kernels' colour path does not take (decided after the scan: the decode starts again whole)
    ['rgb-ids', [L(1, 1, 0x52), L(1, 1, 0x47), L(1, 1, 0x42)]],
    ['adobe0', [L(2, 2, 1), L(1, 1, 2), L(1, 1, 3)]],
    ['cmyk', [L(2, 2, 1), L(1, 1, 2), L(1, 1, 3), L(2, 2, 4)]],
  ];
  const [lname, comps] = pick(layouts);
  // coarse quantisers leave sparse blocks (the reduced IDCT, idctBlock4), fine ones dense blocks
  const opts: { interleaved?: boolean; restart?: number; q?: number; adobe?: number } = { q: pick([1, 2, 3, 3, 8, 20, 50]) };
  if (lname === 'adobe0') opts.adobe = 0;
  if (lname === 'cmyk') opts.adobe = pick([0, 2]);
  if (rnd() < 0.2) opts.interleaved = false;
  if (rnd() < 0.25) opts.restart = int(1, 3);
  let bytes = encodeJpeg(w, h, comps, sample, opts);
  let name = `${lname} ${w}x${h} ${JSON.stringify(opts)}`;
  const r = rnd();
  if (r < 0.25) {
    // EXIF before the scan (the decoder then reads every row) or after it (it starts again whole)
    const o = int(1, 8);
    const app = exifApp1(o);
    const late = rnd() < 0.5;
    bytes = late ? Buffer.concat([bytes.subarray(0, bytes.length - 2), app, Buffer.from([0xff, 0xd9])]) : Buffer.concat([bytes.subarray(0, 2), app, bytes.subarray(2)]);
    name += ` exif ${o}${late ? ' late' : ''}`;
  }
  const m = rnd();
  if (m < 0.15) {
    // corrupt or cut entropy-coded data: whatever the decoder makes of it (or its error), the same both ways
    const b = Buffer.from(bytes);
    const sos = b.lastIndexOf(Buffer.from([0xff, 0xda]));
    const from = sos + 14, n = b.length - 2 - from;
    if (n > 4) {
      if (m < 0.05) { bytes = b.subarray(0, from + int(0, n)); name += ' cut'; } else {
        for (let i = int(1, 4); i > 0; i--) b[from + int(0, n - 1)] = int(0, 255);
        bytes = b; name += ' corrupt';
      }
    }
  }
  return { name, bytes };
}

/** a decode followed by a random cv2 (sometimes PIL) resize, maybe a crop, maybe normalise + CHW */
function randomChain(): any[] {
  const nz = () => ({ op: 'normalize', params: { div: 255, mean: MEAN, std: STD, arithmetic: rnd() < 0.5 ? 'float64' : 'float32' } });
  const r = rnd();
  if (r < 0.1) {
    // the other groups a decode can lead: normalise + CHW of the decoded image, normalise before a cv2 resize
    const m: any[] = [{ op: 'decode_image', params: {} }];
    if (rnd() < 0.5) m.push({ op: 'channel_order', params: {} });
    m.push(nz());
    if (r < 0.05) m.push({ op: 'resize', params: { width: int(1, 90), height: int(1, 90), library: 'cv2' } });
    m.push({ op: 'to_chw', params: {} });
    return m.map((x, i) => ({ ...x, step: `s${i}` }));
  }
  const lib = rnd() < 0.85 ? 'cv2' : 'pil';
  const size = () => (rnd() < 0.1 ? int(1, 3) : int(1, 120));
  const rs = pick([
    () => ({ op: 'resize_short', params: { size: size(), library: lib } }),
    () => ({ op: 'resize', params: { width: size(), height: size(), library: lib } }),
    () => ({ op: 'scale_fixed_ratio', params: { short_size: size(), library: lib } }),
  ])();
  const m: any[] = [{ op: 'decode_image', params: {} }, rs];
  // mostly crops smaller than the resized image (a few rows read), some as big or bigger (read whole, or refused)
  const crop = rnd();
  if (crop < 0.75) m.push({ op: 'center_crop', params: { size: crop < 0.5 ? int(1, 16) : crop < 0.7 ? size() : int(100, 200), rounding: rnd() < 0.5 ? 'floor' : 'round' } });
  if (rnd() < 0.5) {
    if (rnd() < 0.5) m.push({ op: 'channel_order', params: {} });
    m.push({ op: 'normalize', params: { div: 255, mean: MEAN, std: STD, arithmetic: rnd() < 0.5 ? 'float64' : 'float32' } }, { op: 'to_chw', params: {} });
  }
  return m.map((x, i) => ({ ...x, step: `s${i}` }));
}

const oneByOne = async (members: any[], inputs: any) => {
  let v = inputs;
  for (const m of members) v = { in: await STEPS[m.op].run(m.params, v, { step: m.step }) };
  return v.in;
};
const datas = (v: any): ArrayBufferView[] => (Array.isArray(v) ? v.flatMap(datas) : [v.data]);

/**
 * Random chains on random images (make()): the chain against the steps one by one, `count` times or until
 * `budgetMs` passes. The outcome counts.
 */
async function differential(make: () => { name: string; bytes: Uint8Array }, count: number, budgetMs: number) {
  const outcomes = { same: 0, error: 0, grouped: 0 };
  const t0 = Date.now();
  for (let t = 0; t < count && Date.now() - t0 < budgetMs; t++) {
    const members = randomChain();
    if (compileChain(members)[0].steps.length > 1) outcomes.grouped++;
    const imgs = Array.from({ length: rnd() < 0.2 ? int(2, 3) : 1 }, make);
    const inputs = { in: imgs.length === 1 && rnd() < 0.5 ? imgs[0]!.bytes : imgs.map((x) => x.bytes) };
    const what = `${imgs.map((x) => x.name).join(' + ')}: ${JSON.stringify(members.map((m) => [m.op, m.params]))}`;
    let want: any; let wantErr: any;
    try { want = await oneByOne(members, inputs); } catch (e) { wantErr = e; }
    const k = jpegKernels(1 << 16);
    if (k) new Uint8Array(k.memory.buffer).fill(t & 1 ? 0x5a : 0xa5);
    let got: any; let gotErr: any;
    try { got = await runChain(members, inputs); } catch (e) { gotErr = e; }
    if (wantErr) {
      expect(gotErr?.message, what).toBe(wantErr.message);
      outcomes.error++;
      continue;
    }
    expect(gotErr, `${what}: ${gotErr?.message}`).toBeUndefined();
    const [a, b] = [datas(got), datas(want)];
    expect(a.length, what).toBe(b.length);
    a.forEach((x, i) => {
      expect(x.constructor, what).toBe(b[i]!.constructor);
      expect(bits(x).equals(bits(b[i]!)), what).toBe(true);
      expect(kernelOffset(x as Uint8Array), `${what}: a view of the kernels' memory`).toBe(-1);
    });
    // a later kernel use must not change what was returned
    const before = a.map((x) => Buffer.from(bits(x)));
    if (k) new Uint8Array(jpegKernels(1 << 16)!.memory.buffer).fill(0x33);
    a.forEach((x, i) => expect(bits(x).equals(before[i]!), `${what}: changed by a later kernel use`).toBe(true));
    outcomes.same++;
  }
  return outcomes;
}

describe('decode -> cv2 resize (+ crop) on the rows it reads: random JPEGs and parameters against the steps', () => {
  it('the same bytes or the same error, on scribbled kernel memory; nothing returned points into kernel memory', async () => {
    const outcomes = await differential(randomImage, 400, 15_000);
    console.log(JSON.stringify({ seed: SEED, ...outcomes }));
    expect(outcomes.same).toBeGreaterThan(60);
    expect(outcomes.grouped).toBeGreaterThan(60);
  }, 30_000);

  it.skipIf(!pyHas('PIL, numpy'))('progressive, grayscale and CMYK JPEGs from PIL (skipped without python3 PIL)', async () => {
    const py = [
      'import io, sys, base64, json, numpy as np',
      'from PIL import Image',
      'rng = np.random.default_rng(int(sys.argv[1]))',
      'out = []',
      'for i in range(24):',
      '    w, h = int(rng.integers(1, 80)), int(rng.integers(1, 80))',
      '    y, x = np.mgrid[0:h, 0:w]',
      '    a = np.stack([128 + 90 * np.sin(x / 5 + i), 128 + 60 * np.cos(y / 4), 128 + 70 * np.sin((x + y) / 7)], -1) + rng.integers(-20, 21, (h, w, 3))',
      '    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))',
      '    mode = ["RGB", "RGB", "RGB", "L", "CMYK"][i % 5]',
      '    b = io.BytesIO()',
      '    im.convert(mode).save(b, "JPEG", quality=int(rng.integers(30, 96)), progressive=bool(i % 2 == 0), subsampling=int(rng.integers(0, 3)))',
      '    out.append([f"PIL {mode} {w}x{h} progressive={i % 2 == 0}", base64.b64encode(b.getvalue()).decode()])',
      'print(json.dumps(out))',
    ].join('\n');
    const r = spawnSync(PY, ['-c', py, String(SEED % 100000)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as [string, string][]).map(([name, b]) => ({ name, bytes: new Uint8Array(Buffer.from(b, 'base64')) }));
    const outcomes = await differential(() => pick(files), 150, 10_000);
    expect(outcomes.same).toBeGreaterThan(40);
  }, 30_000);

  it('the kernels (sparse and whole IDCT) decode the random JPEGs to the JS paths\' bytes', () => {
    let n = 0;
    try {
      for (let t = 0; t < 150; t++) {
        const f = randomImage();
        if (f.bytes[0] !== 0xff) continue;
        useJpegKernels(true);
        const k = jpegKernels(1 << 16);
        if (k) new Uint8Array(k.memory.buffer).fill(0x5a);
        const outcome = () => {
          try { const r = decodeImage(f.bytes); return `${r.width}x${r.height} ${Buffer.from(r.data).toString('base64')}`; } catch (e: any) { return `${e.code}: ${e.message}`; }
        };
        const a = outcome();
        useJpegKernels(false);
        expect(a === outcome(), f.name).toBe(true);
        n++;
      }
    } finally {
      useJpegKernels(true);
    }
    expect(n).toBeGreaterThan(100);
  }, 30_000);
});

describe('kernel memory grown for a big image by the new kernels', () => {
  it('a cv2 resize of a 36 MB image grows it; 5 s without another such job, it is let go (a fresh, small instance after)', async () => {
    const { resizeCv2Linear } = await import(`${I}resize.mjs`);
    vi.useFakeTimers();
    try {
      const img = { width: 4000, height: 3000, channels: 3, data: new Uint8Array(4000 * 3000 * 3).fill(7) };
      const r = resizeCv2Linear(img, 224, 224);
      expect(r.data.length).toBe(224 * 224 * 3);
      expect(r.data.every((v: number) => v === 7)).toBe(true);
      const big = jpegKernels(1 << 16)!;
      expect(big.memory.buffer.byteLength).toBeGreaterThan(36e6);
      vi.advanceTimersByTime(4000);
      expect(jpegKernels(1 << 16)!.memory.buffer.byteLength).toBeGreaterThan(36e6);
      vi.advanceTimersByTime(1100);
      const small = jpegKernels(1 << 16)!;
      expect(small).not.toBe(big);
      expect(small.memory.buffer.byteLength).toBeLessThan(1 << 20);
    } finally {
      vi.useRealTimers();
    }
  });
});
