/**
 * The image decoders (templates/server/image) on every kind of file they claim to read, compared bit for bit
 * with cv2.imdecode(IMREAD_COLOR): JPEG 4:4:4/4:2:2/4:2:0, progressive, restart intervals, grayscale, tiny
 * images, all eight EXIF orientations; PNG of every colour type, 1/4/8/16-bit, Adam7; BMP 1/4/8/24/32-bit.
 * The files are made in the test by test/oracles/image_variants.py from a fixture photo (nothing committed).
 * Bad input (truncated, corrupt, unknown, huge) is refused with its E_ code, before any big allocation.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, PY, ROOT, pyHas, shared, tempDir, describeShared } from './helpers.js';
import { decodeImage, imageDims, sniffImage } from '../templates/server/image/decode.mjs';
import { decodeJpeg } from '../templates/server/image/jpeg.mjs';
import { decodePng } from '../templates/server/image/png.mjs';
import { decodeBmp } from '../templates/server/image/bmp.mjs';

const missing = !HAVE_SHARED ? 'the shared fixtures are absent' : !pyHas('cv2, PIL, numpy') ? `${PY} lacks cv2/PIL/numpy` : null;
if (missing) console.warn(`image-decode: cv2 comparisons skipped, ${missing}`);
const describeIf = (missing ? describe.skip : describe) as typeof describe;

describeIf('decoders match cv2.imdecode on every variant', () => {
  const out = tempDir('pserve-imgvar-');
  let cases: { file: string; shape: number[] }[] = [];
  beforeAll(() => {
    const r = spawnSync(PY, [join(ROOT, 'test', 'oracles', 'image_variants.py'), shared('pipeline', 'images', 'daisy.jpg'), out], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`image_variants.py failed: ${r.stderr}`);
    cases = JSON.parse(readFileSync(join(out, 'cases.json'), 'utf8'));
  }, 150_000);

  it('every variant decodes to exactly cv2.imdecode\'s pixels', () => {
    expect(cases.length).toBeGreaterThanOrEqual(35);
    const kinds = new Set<string>();
    for (const c of cases) {
      const img = decodeImage(new Uint8Array(readFileSync(join(out, c.file))));
      const ref = readFileSync(join(out, `${c.file}.bgr`));
      expect([img.height, img.width, img.channels], c.file).toEqual(c.shape);
      let n = 0;
      for (let i = 0; i < ref.length; i++) if (ref[i] !== img.data[i]) n++;
      expect(n, `${c.file}: ${n} bytes differ from cv2.imdecode`).toBe(0);
      kinds.add(c.file.split('_')[0]!);
    }
    expect([...kinds].sort()).toEqual(['bmp', 'jpeg', 'png']);
  });
});

describeShared('imageDims: the size a header claims, without decoding', () => {
  it('equals the decoded size (before EXIF orientation) for every fixture photo and gallery image, JPEG and PNG; BMP too', () => {
    const dirs = [shared('pipeline', 'images'), shared('pipeline', 'gallery', 'images')];
    let n = 0;
    for (const d of dirs) {
      for (const f of readdirSync(d)) {
        const b = new Uint8Array(readFileSync(join(d, f)));
        if (!sniffImage(b)) continue;
        const img = decodeImage(b, { exif: false });
        expect(imageDims(b), f).toEqual({ width: img.width, height: img.height });
        n++;
      }
    }
    expect(n).toBeGreaterThan(10);
    const bmp = Buffer.alloc(54);
    bmp.write('BM', 0, 'latin1');
    bmp.writeInt32LE(7, 18);
    bmp.writeInt32LE(-5, 22); // top-down rows
    expect(imageDims(bmp)).toEqual({ width: 7, height: 5 });
    // cut before the frame header, or not an image: no claim
    const daisy = new Uint8Array(readFileSync(shared('pipeline', 'images', 'daisy.jpg')));
    expect(imageDims(daisy.subarray(0, 20))).toBeNull();
    expect(imageDims(new Uint8Array([1, 2, 3, 4]))).toBeNull();
  });
});

describeShared('bad images are refused with their E_ code', () => {
  const daisy = () => new Uint8Array(readFileSync(shared('pipeline', 'images', 'daisy.jpg')));
  const code = (f: () => unknown) => {
    try { f(); } catch (e) { return (e as { code?: string }).code; }
    return 'no error';
  };
  const pngChunk = (type: string, body: Uint8Array) => {
    const t = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const b = Buffer.alloc(12 + body.length);
    b.writeUInt32BE(body.length, 0);
    t.copy(b, 4);
    b.writeUInt32BE(crc32(t), 8 + body.length);
    return b;
  };
  const png = (w: number, h: number, raw: Uint8Array, color = 2, depth = 8) => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = depth; ihdr[9] = color;
    return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]));
  };

  it('sniffs by content, not name (anmuxi_001.jpg is a PNG) and refuses unknown formats', () => {
    expect(sniffImage(new Uint8Array(readFileSync(shared('pipeline', 'gallery', 'images', 'anmuxi_001.jpg'))))).toBe('png');
    expect(code(() => decodeImage(new TextEncoder().encode('GIF89a....')))).toBe('E_IMAGE_FORMAT');
    expect(code(() => decodeImage(new Uint8Array(0)))).toBe('E_IMAGE_FORMAT');
  });

  it('truncated JPEGs: E_IMAGE_TRUNCATED wherever the cut is', () => {
    const d = daisy();
    for (const n of [3, 20, 200, 700, d.length >> 1, d.length - 400]) {
      expect(code(() => decodeJpeg(d.subarray(0, n))), `cut at ${n}`).toBe('E_IMAGE_TRUNCATED');
    }
  });

  it('corrupt and unsupported JPEGs', () => {
    const d = daisy();
    const sof = d.findIndex((b, i) => b === 0xff && d[i + 1] === 0xc0);
    const big = d.slice(); big[sof + 5] = 0xff; big[sof + 6] = 0xff; big[sof + 7] = 0xff; big[sof + 8] = 0xff;
    expect(code(() => decodeJpeg(big))).toBe('E_IMAGE_TOO_LARGE');
    // 8000x8000 is under the pixel limit, but 40 KB cannot code its million blocks: refused before allocating
    const claims = d.slice(); claims[sof + 5] = 0x1f; claims[sof + 6] = 0x40; claims[sof + 7] = 0x1f; claims[sof + 8] = 0x40;
    expect(code(() => decodeJpeg(claims))).toBe('E_IMAGE_TRUNCATED');
    const arith = d.slice(); arith[sof + 1] = 0xc9;
    expect(code(() => decodeJpeg(arith))).toBe('E_IMAGE_UNSUPPORTED');
    const twelve = d.slice(); twelve[sof + 4] = 12;
    expect(code(() => decodeJpeg(twelve))).toBe('E_IMAGE_UNSUPPORTED');
    const sos = d.findIndex((b, i) => b === 0xff && d[i + 1] === 0xda);
    const garbage = d.slice(); garbage.fill(0xff, sos + 20, sos + 60); // a run of 0xFF: markers inside entropy data
    expect(['E_IMAGE_CORRUPT', 'E_IMAGE_TRUNCATED']).toContain(code(() => decodeJpeg(garbage)));
    // bytes between the scan and EOI are skipped as libjpeg skips them (cv2 decodes such files)
    const junk = Uint8Array.from([...d.subarray(0, d.length - 2), 0, 0, 0x6a, 0x75, 0x6e, 0x6b, 0xff, 0xd9]);
    expect(Buffer.compare(decodeJpeg(junk).data, decodeJpeg(d).data)).toBe(0);
    const noTables = Uint8Array.from([...d.subarray(0, 2), ...d.subarray(sof)]);
    expect(code(() => decodeJpeg(noTables))).toBe('E_IMAGE_CORRUPT');
  });

  it('PNG: huge sizes refused before inflating, bad CRC, truncated, short data, bad filter', () => {
    const tiny = png(2, 2, new Uint8Array([0, 1, 2, 3, 4, 5, 6, 0, 7, 8, 9, 10, 11, 12]));
    expect(decodePng(tiny).data).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    expect(code(() => decodePng(png(100000, 100000, new Uint8Array(10))))).toBe('E_IMAGE_TOO_LARGE');
    const bad = tiny.slice(); bad[20] ^= 1; // inside IHDR: CRC no longer matches
    expect(code(() => decodePng(bad))).toBe('E_IMAGE_CORRUPT');
    expect(code(() => decodePng(tiny.subarray(0, 40)))).toBe('E_IMAGE_TRUNCATED');
    expect(code(() => decodePng(png(4, 4, new Uint8Array(20))))).toBe('E_IMAGE_CORRUPT');
    expect(code(() => decodePng(png(1, 1, new Uint8Array([9, 1, 2, 3]))))).toBe('E_IMAGE_CORRUPT');
    // a zlib bomb: 2x2 claimed, megabytes of zeros inflated -> refused at the size the header allows
    expect(code(() => decodePng(png(2, 2, new Uint8Array(4 << 20))))).toBe('E_IMAGE_CORRUPT');
    expect(code(() => decodePng(png(2, 2, new Uint8Array(14), 2, 4)))).toBe('E_IMAGE_CORRUPT');
  });

  it('BMP: huge, truncated, compressed', () => {
    const bmp = (w: number, h: number, bpp: number, comp: number, pixels: number) => {
      const b = Buffer.alloc(54 + pixels);
      b.write('BM', 0, 'latin1'); b.writeUInt32LE(54 + pixels, 2); b.writeUInt32LE(54, 10); b.writeUInt32LE(40, 14);
      b.writeInt32LE(w, 18); b.writeInt32LE(h, 22); b.writeUInt16LE(1, 26); b.writeUInt16LE(bpp, 28); b.writeUInt32LE(comp, 30);
      return new Uint8Array(b);
    };
    expect(decodeBmp(bmp(1, 1, 24, 0, 4)).data).toEqual(new Uint8Array([0, 0, 0]));
    expect(code(() => decodeBmp(bmp(100000, 100000, 24, 0, 16)))).toBe('E_IMAGE_TOO_LARGE');
    expect(code(() => decodeBmp(bmp(64, 64, 24, 0, 100)))).toBe('E_IMAGE_TRUNCATED');
    expect(code(() => decodeBmp(bmp(4, 4, 8, 1, 100)))).toBe('E_IMAGE_UNSUPPORTED');
    expect(code(() => decodeBmp(bmp(4, 4, 16, 0, 100)))).toBe('E_IMAGE_UNSUPPORTED');
  });
});
