/**
 * The JPEG decoder's two implementations of its last stages give the same bytes: the WebAssembly SIMD kernels
 * (templates/server/image/jpeg-wasm.mjs: ISLOW IDCT, fancy upsampling, YCbCr->RGB) that run wherever WebAssembly
 * SIMD validates, and the JS paths that run where it does not. test/image-decode.test.ts compares the default
 * (kernel) path with cv2.imdecode; this file holds the JS path to the same bytes, on the fixture photos, on
 * the same photos with other sampling factors written into their frame headers (every upsampling path), on
 * progressive/restart/CMYK/gray variants made by test/oracles/image_variants.py, and on mutated files (the same
 * pixels or the same E_IMAGE_ code and message either way).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, PY, ROOT, describeShared, pyHas, shared, tempDir } from './helpers.js';
import { decodeJpeg } from '../templates/server/image/jpeg.mjs';
import { decodePng } from '../templates/server/image/png.mjs';
import { embeddedKernels, jpegKernels, kernelOffset, useJpegKernels } from '../templates/server/image/jpeg-wasm.mjs';
import { resizeCv2Linear } from '../templates/server/image/resize.mjs';
import { normalizeToChw } from '../templates/server/image/ops.mjs';
import { kernelBytes } from '../templates/server/image/jpeg-wasm-asm.mjs';
import { encodeJpeg, picture } from './jpeg-encode.js';

afterAll(() => useJpegKernels(true));

type Outcome = { data?: Uint8Array; width?: number; height?: number; code?: string; message?: string };

function decodeBoth(bytes: Uint8Array, bgr: boolean): [Outcome, Outcome] {
  const one = (on: boolean): Outcome => {
    useJpegKernels(on);
    try {
      const r = bytes[0] === 0x89 ? decodePng(bytes, { bgr }) : decodeJpeg(bytes, { bgr });
      return { data: r.data, width: r.width, height: r.height };
    } catch (e) {
      const err = e as { name?: string; code?: string; message?: string; offset?: number };
      if (err?.name !== 'ImageError') throw e;
      return { code: err.code, message: err.message, offset: err.offset };
    }
  };
  const a = one(true);
  const b = one(false);
  useJpegKernels(true);
  return [a, b];
}

function expectSame(bytes: Uint8Array, label: string, bgr = true): boolean {
  const [k, js] = decodeBoth(bytes, bgr);
  if (k.data && js.data) {
    expect([k.width, k.height], label).toEqual([js.width, js.height]);
    expect(Buffer.compare(Buffer.from(k.data), Buffer.from(js.data)), `${label}: kernel and JS pixels differ`).toBe(0);
    return true;
  }
  // the byte offset too: the CLI prints it (pserve index build names where an image is broken)
  expect({ code: k.code, message: k.message, offset: k.offset }, label).toEqual({ code: js.code, message: js.message, offset: js.offset });
  return false;
}

/** the frame header's sampling factors replaced (components beyond `facs` kept) */
function withSampling(b: Uint8Array, facs: number[]): Uint8Array | null {
  const d = Uint8Array.from(b);
  let p = 2;
  while (p + 4 < d.length && d[p] === 0xff) {
    const m = d[p + 1]!;
    if (m === 0xc0 || m === 0xc1 || m === 0xc2) {
      const nc = d[p + 9]!;
      for (let k = 0; k < nc && k < facs.length; k++) d[p + 11 + 3 * k] = facs[k]!;
      return d;
    }
    p += 2 + ((d[p + 2]! << 8) | d[p + 3]!);
  }
  return null;
}

describe('JPEG kernels', () => {
  it('WebAssembly SIMD validates on this Node, so the kernels are in use', () => {
    expect(jpegKernels(1 << 16)).not.toBeNull();
  });

  it('the embedded module is what jpeg-wasm-asm.mjs assembles (after a kernel change: node templates/server/image/jpeg-wasm-asm.mjs)', () => {
    const built = kernelBytes();
    expect(WebAssembly.validate(built)).toBe(true);
    expect(Buffer.compare(Buffer.from(embeddedKernels()), Buffer.from(built))).toBe(0);
  });
});

describeShared('JPEG kernels and JS paths decode to the same bytes', () => {
  const dirs = [shared('pipeline', 'images'), shared('pipeline', 'gallery', 'images')];
  const photos = dirs.flatMap((d) => readdirSync(d).map((f) => join(d, f)))
    .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(f)) }))
    .filter((p) => p.bytes[0] === 0xff && p.bytes[1] === 0xd8);

  it('fixture photos, RGB and BGR, and with every sampling layout in their headers', () => {
    expect(photos.length).toBeGreaterThanOrEqual(8);
    // (most of these make the entropy-coded data run into a bad code or the end: the error must match too)
    const layouts = [[0x11], [0x12], [0x21], [0x22], [0x41], [0x14], [0x22, 0x21, 0x12], [0x11, 0x22, 0x22], [0x12, 0x12, 0x12], [0x31]];
    let decoded = 0;
    for (const p of photos) {
      if (expectSame(p.bytes, p.name, true)) decoded++;
      expectSame(p.bytes, `${p.name} rgb`, false);
      for (const l of layouts) {
        const v = withSampling(p.bytes, l);
        if (v && expectSame(v, `${p.name} sampling ${l.map((x) => x.toString(16)).join(',')}`)) decoded++;
      }
    }
    expect(decoded).toBeGreaterThan(photos.length + 10);
  }, 120_000);

  it('PNG (its 8-bit RGB rows go through a kernel too): the fixture PNG, RGB and BGR, and mutated', () => {
    const png = new Uint8Array(readFileSync(shared('pipeline', 'gallery', 'images', 'anmuxi_001.jpg')));
    expect(png[0]).toBe(0x89);
    expect(expectSame(png, 'anmuxi_001 bgr', true)).toBe(true);
    expect(expectSame(png, 'anmuxi_001 rgb', false)).toBe(true);
    // made here: every filter type on rows of random bytes, odd sizes, then one row with an unknown filter (5)
    const chunk = (type: string, body: Uint8Array) => {
      const t = Buffer.concat([Buffer.from(type, 'latin1'), body]);
      const b = Buffer.alloc(12 + body.length);
      b.writeUInt32BE(body.length, 0); t.copy(b, 4); b.writeUInt32BE(crc32(t), 8 + body.length);
      return b;
    };
    const make = (w: number, h: number, badRow = -1) => {
      let seed = w * 31 + h;
      const raw = new Uint8Array(h * (1 + w * 3));
      for (let y = 0; y < h; y++) {
        raw[y * (1 + w * 3)] = y === badRow ? 5 : y % 5;
        for (let i = 1; i <= w * 3; i++) { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; raw[y * (1 + w * 3) + i] = seed >>> 24; }
      }
      const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
      return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]));
    };
    for (const [w, h] of [[23, 17], [1, 11], [64, 5], [3, 1]]) {
      expect(expectSame(make(w!, h!), `png ${w}x${h}`, true)).toBe(true);
      expect(expectSame(make(w!, h!), `png ${w}x${h} rgb`, false)).toBe(true);
    }
    const [k] = decodeBoth(make(23, 17, 9), true);
    expect(k.code).toBe('E_IMAGE_CORRUPT');
    expect(expectSame(make(23, 17, 9), 'png with an unknown filter')).toBe(false);
  }, 60_000);

  it('mutated photos: the same pixels or the same error', () => {
    let seed = 20261130;
    const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
    const small = photos.filter((p) => p.bytes.length < 50_000);
    let ok = 0;
    for (const p of small) {
      for (let i = 0; i < 40; i++) {
        const d = Uint8Array.from(p.bytes);
        const kind = rnd(3);
        let m = d;
        if (kind === 0) for (let j = 1 + rnd(3); j > 0; j--) d[rnd(d.length)] ^= 1 << rnd(8);
        else if (kind === 1) d[2 + rnd(Math.min(600, d.length - 2))] = rnd(256);
        else m = d.subarray(0, rnd(d.length));
        if (expectSame(m, `${p.name} mutation ${i}`, rnd(2) === 0)) ok++;
      }
    }
    expect(ok).toBeGreaterThan(0);
  }, 120_000);
});

/** every layout the decoder handles differently, in files small enough for the naive DCT */
function layoutFiles(): { name: string; bytes: Uint8Array }[] {
  const L = (h: number, v: number, id = 1) => ({ id, h, v });
  const three = (y: [number, number], cb: [number, number], cr: [number, number] = cb) => [L(...y, 1), L(...cb, 2), L(...cr, 3)];
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const [w, h] of [[37, 29], [16, 16], [5, 3], [2, 9]]) {
    const sizes = `${w}x${h}`;
    out.push({ name: `444_${sizes}`, bytes: encodeJpeg(w, h, three([1, 1], [1, 1]), picture) });
    out.push({ name: `422_${sizes}`, bytes: encodeJpeg(w, h, three([2, 1], [1, 1]), picture) });
    out.push({ name: `420_${sizes}`, bytes: encodeJpeg(w, h, three([2, 2], [1, 1]), picture) });
    out.push({ name: `440_${sizes}`, bytes: encodeJpeg(w, h, three([1, 2], [1, 1]), picture) });
    out.push({ name: `411_${sizes}`, bytes: encodeJpeg(w, h, three([4, 1], [1, 1]), picture) });
    out.push({ name: `mixed_${sizes}`, bytes: encodeJpeg(w, h, three([2, 2], [1, 2], [2, 1]), picture) });
    out.push({ name: `ysub_${sizes}`, bytes: encodeJpeg(w, h, three([1, 1], [2, 2]), picture) });
    out.push({ name: `gray22_${sizes}`, bytes: encodeJpeg(w, h, [L(2, 2)], picture) });
    out.push({ name: `cmyk_${sizes}`, bytes: encodeJpeg(w, h, [L(2, 2, 1), L(1, 1, 2), L(1, 1, 3), L(2, 2, 4)], picture, { adobe: 0 }) });
  }
  out.push({ name: '420_separate_scans', bytes: encodeJpeg(37, 29, three([2, 2], [1, 1]), picture, { interleaved: false }) });
  out.push({ name: '440_separate_scans_rst', bytes: encodeJpeg(37, 29, three([1, 2], [1, 1]), picture, { interleaved: false, restart: 2 }) });
  out.push({ name: '422_rst', bytes: encodeJpeg(37, 29, three([2, 1], [1, 1]), picture, { restart: 1 }) });
  out.push({ name: '420_q1', bytes: encodeJpeg(37, 29, three([2, 2], [1, 1]), picture, { q: 1 }) });
  return out;
}

describe('JPEG kernels and JS paths on every sampling layout', () => {
  it('4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1, mixed factors, subsampled Y, gray, CMYK, separate scans, restarts', () => {
    for (const f of layoutFiles()) {
      expect(expectSame(f.bytes, f.name), `${f.name} decodes`).toBe(true);
      expectSame(f.bytes, `${f.name} rgb`, false);
    }
  });

  (pyHas('cv2, numpy') ? it : it.skip)('and what they decode to is cv2.imdecode\'s', () => {
    const dir = tempDir('pserve-jpeglayouts-');
    const files = layoutFiles();
    for (const f of files) writeFileSync(join(dir, `${f.name}.jpg`), f.bytes);
    const py = 'import sys, cv2, numpy as np\nfor n in sys.argv[2:]:\n    cv2.imdecode(np.fromfile(sys.argv[1] + "/" + n + ".jpg", np.uint8), cv2.IMREAD_COLOR).tofile(sys.argv[1] + "/" + n + ".bgr")';
    const r = spawnSync(PY, ['-c', py, dir, ...files.map((f) => f.name)], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    for (const f of files) {
      const ref = readFileSync(join(dir, `${f.name}.bgr`));
      const img = decodeJpeg(f.bytes, { bgr: true });
      let n = 0;
      for (let i = 0; i < ref.length; i++) if (ref[i] !== img.data[i]) n++;
      expect(img.data.length, f.name).toBe(ref.length);
      expect(n, `${f.name}: ${n} bytes differ from cv2.imdecode`).toBe(0);
    }
  }, 60_000);
});

const noOracle = !pyHas('cv2, PIL, numpy');
(noOracle ? describe.skip : describeShared)('JPEG kernels and JS paths on generated variants', () => {
  it('progressive, restart intervals, gray, CMYK, tiny, every subsampling; the PNG variants', () => {
    const out = tempDir('pserve-jpegk-');
    const r = spawnSync(PY, [join(ROOT, 'test', 'oracles', 'image_variants.py'), shared('pipeline', 'images', 'daisy.jpg'), out], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const files = readdirSync(out).filter((f) => f.endsWith('.jpg') || f.endsWith('.png'));
    expect(files.length).toBeGreaterThanOrEqual(30);
    for (const f of files) {
      const b = new Uint8Array(readFileSync(join(out, f)));
      expect(expectSame(b, f), `${f} decodes`).toBe(true);
      expectSame(b, `${f} rgb`, false);
    }
  }, 150_000);
});

describe('cv2 INTER_LINEAR: the 3-channel kernels (cv2h, cv2v) and the JS passes give the same bytes', () => {
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  type Img = { width: number; height: number; channels: number; data: Uint8Array };
  const both = (img: Img, w: number, h: number, win?: { x: number; y: number; width: number; height: number }, view = false) => {
    useJpegKernels(true);
    const k = resizeCv2Linear(img, w, h, win, { view });
    const kData = Buffer.from(k.data);
    const inKernel = kernelOffset(k.data);
    useJpegKernels(false);
    const js = resizeCv2Linear(img, w, h, win);
    useJpegKernels(true);
    return { k, kData, inKernel, js };
  };

  it('random sizes, up and down, whole results and windows; a source already in kernel memory is read in place', () => {
    let windows = 0;
    for (let t = 0; t < 300; t++) {
      const sw = 1 + Math.floor(rnd() * 80), sh = 1 + Math.floor(rnd() * 80);
      // smooth gradients plus noise (natural-looking), or pure noise
      const smooth = rnd() < 0.5;
      const img = { width: sw, height: sh, channels: 3, data: Uint8Array.from({ length: sw * sh * 3 }, (_, i) => (smooth ? (i * 7 + Math.floor(i / (sw * 3)) * 5 + Math.floor(rnd() * 9)) & 255 : Math.floor(rnd() * 256))) };
      const W = 1 + Math.floor(rnd() * 120), H = 1 + Math.floor(rnd() * 120);
      const ww = 1 + Math.floor(rnd() * W), wh = 1 + Math.floor(rnd() * H);
      const win = rnd() < 0.3 ? undefined : { x: Math.floor(rnd() * (W - ww + 1)), y: Math.floor(rnd() * (H - wh + 1)), width: ww, height: wh };
      if (win) windows++;
      const { k, kData, inKernel, js } = both(img, W, H, win);
      expect([k.width, k.height], `${sw}x${sh} -> ${W}x${H}`).toEqual([js.width, js.height]);
      expect(Buffer.compare(kData, Buffer.from(js.data)), `${sw}x${sh} -> ${W}x${H} ${JSON.stringify(win)}`).toBe(0);
      expect(inKernel).toBe(-1);
    }
    expect(windows).toBeGreaterThan(100);
    // a resize's view as the next resize's source (read where it lies, its own result written after it)
    const src = { width: 97, height: 61, channels: 3, data: Uint8Array.from({ length: 97 * 61 * 3 }, (_, i) => (i * 13) & 255) };
    useJpegKernels(true);
    const first = resizeCv2Linear(src, 150, 90, undefined, { view: true });
    expect(kernelOffset(first.data)).toBeGreaterThan(0);
    const before = Buffer.from(first.data);
    const second = resizeCv2Linear(first, 41, 77);
    expect(Buffer.from(first.data).equals(before), 'the source view is left as it was').toBe(true);
    useJpegKernels(false);
    const want = resizeCv2Linear(resizeCv2Linear(src, 150, 90), 41, 77);
    useJpegKernels(true);
    expect(Buffer.compare(Buffer.from(second.data), Buffer.from(want.data))).toBe(0);
  });
});

describe('normalise + CHW: the 3-channel kernel (normChw) and the JS pass give the same floats', () => {
  it('float64 and float32 arithmetic, channels reversed or not, odd sizes; pixels in kernel memory read in place', () => {
    let seed = 11;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (let t = 0; t < 120; t++) {
      const w = 1 + Math.floor(rnd() * 70), h = 1 + Math.floor(rnd() * 70);
      const img = { width: w, height: h, channels: 3, data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rnd() * 256)) };
      const opts = t % 3 === 0
        ? { div: 1 + rnd() * 300, mean: [rnd(), rnd() * 100, -rnd()], std: [0.1 + rnd(), 0.5 + rnd() * 50, 0.01 + rnd()], arithmetic: rnd() < 0.5 ? 'float64' : 'float32' }
        : { div: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], arithmetic: t % 2 ? 'float64' : 'float32' };
      const swap = rnd() < 0.5;
      useJpegKernels(true);
      const k = normalizeToChw(img, opts, swap);
      useJpegKernels(false);
      const js = normalizeToChw(img, opts, swap);
      useJpegKernels(true);
      expect(k.dims).toEqual([3, h, w]);
      expect(bits(k.data).equals(bits(js.data)), `${w}x${h} ${JSON.stringify(opts)} swap ${swap}`).toBe(true);
      expect(kernelOffset(new Uint8Array(k.data.buffer))).toBe(-1);
    }
    // a resize's window left in kernel memory, normalised where it lies
    const src = { width: 90, height: 70, channels: 3, data: Uint8Array.from({ length: 90 * 70 * 3 }, (_, i) => (i * 31) & 255) };
    const opts = { div: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], arithmetic: 'float64' };
    const win = resizeCv2Linear(src, 64, 50, { x: 3, y: 5, width: 40, height: 41 }, { view: true });
    expect(kernelOffset(win.data)).toBeGreaterThan(0);
    const k = normalizeToChw(win, opts, true);
    useJpegKernels(false);
    const js = normalizeToChw(resizeCv2Linear(src, 64, 50, { x: 3, y: 5, width: 40, height: 41 }), opts, true);
    useJpegKernels(true);
    expect(bits(k.data).equals(bits(js.data))).toBe(true);
  });
});

describe('a JPEG decoded for a reader of some rows (view + rows): those rows are the whole decode\'s', () => {
  it('every first and last row near the top and bottom, 4:4:4, 4:2:2, 4:2:0, other layouts (decoded whole), on scribbled memory', () => {
    const files: { name: string; bytes: Uint8Array }[] = layoutFiles();
    if (HAVE_SHARED) for (const n of ['daisy.jpg', 'ILSVRC2012_val_00010010.jpeg']) files.push({ name: n, bytes: new Uint8Array(readFileSync(shared('pipeline', 'images', n))) });
    let checked = 0;
    for (const f of files) {
      const whole = decodeJpeg(f.bytes, { bgr: true });
      const h = whole.height, row = whole.width * 3;
      const firsts = [...new Set([...Array.from({ length: Math.min(h, 40) }, (_, i) => i), ...Array.from({ length: Math.min(h, 40) }, (_, i) => h - 1 - i)])];
      for (const y0 of firsts) {
        for (const y1 of [y0 + 1, Math.min(h, y0 + 9), Math.min(h, y0 + 17), h]) {
          const k = jpegKernels(1 << 16);
          if (k) new Uint8Array(k.memory.buffer).fill(0x5a);
          const part = decodeJpeg(f.bytes, { bgr: true, view: true, rows: () => [y0, y1] });
          const a = Buffer.from(part.data.subarray(y0 * row, y1 * row)), b = Buffer.from(whole.data.subarray(y0 * row, y1 * row));
          expect(a.equals(b), `${f.name}: rows ${y0}..${y1}`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  }, 120_000);
});
