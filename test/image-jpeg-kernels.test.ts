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
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PY, ROOT, describeShared, pyHas, shared, tempDir } from './helpers.js';
import { decodeJpeg } from '../templates/server/image/jpeg.mjs';
import { jpegKernels, useJpegKernels } from '../templates/server/image/jpeg-wasm.mjs';

afterAll(() => useJpegKernels(true));

type Outcome = { data?: Uint8Array; width?: number; height?: number; code?: string; message?: string };

function decodeBoth(bytes: Uint8Array, bgr: boolean): [Outcome, Outcome] {
  const one = (on: boolean): Outcome => {
    useJpegKernels(on);
    try {
      const r = decodeJpeg(bytes, { bgr });
      return { data: r.data, width: r.width, height: r.height };
    } catch (e) {
      const err = e as { name?: string; code?: string; message?: string };
      if (err?.name !== 'ImageError') throw e;
      return { code: err.code, message: err.message };
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
  expect({ code: k.code, message: k.message }, label).toEqual({ code: js.code, message: js.message });
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

const noOracle = !pyHas('cv2, PIL, numpy');
(noOracle ? describe.skip : describeShared)('JPEG kernels and JS paths on generated variants', () => {
  it('progressive, restart intervals, gray, CMYK, tiny, every subsampling', () => {
    const out = tempDir('pserve-jpegk-');
    const r = spawnSync(PY, [join(ROOT, 'test', 'oracles', 'image_variants.py'), shared('pipeline', 'images', 'daisy.jpg'), out], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const files = readdirSync(out).filter((f) => f.endsWith('.jpg'));
    expect(files.length).toBeGreaterThanOrEqual(20);
    for (const f of files) {
      const b = new Uint8Array(readFileSync(join(out, f)));
      expect(expectSame(b, f), `${f} decodes`).toBe(true);
      expectSame(b, `${f} rgb`, false);
    }
  }, 150_000);
});
