/**
 * Fuzzing of the image decoders a pipeline bundle runs on request bodies (templates/server/image): mutations
 * of real JPEGs (baseline 4:2:0 and 4:4:4 from the fixtures), a PNG and a BMP. Every input must decode or be
 * refused with an E_IMAGE_* code (as a PserveError on the CLI side), within the time bound; never a RangeError,
 * a TypeError or a hang.
 */
import { readFileSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';
import { afterAll, expect, it } from 'vitest';
import { PserveError } from '../../src/errors.js';
import { decodeImage } from '../../templates/server/image/decode.mjs';
import { describeShared, shared } from '../helpers.js';
import { fuzz, type FuzzStats } from './harness.js';

const totals: FuzzStats[] = [];
afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(`fuzz (images): ${totals.map((t) => `${t.name} ${t.runs} (ok ${t.ok}, ${JSON.stringify(t.errors)}, slowest ${t.slowestMs.toFixed(1)} ms)`).join('; ')}`);
});

/** the CLI's view: an image error is a PserveError with its code */
function decode(b: Uint8Array): unknown {
  try {
    return decodeImage(b);
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string };
    if (err?.name === 'ImageError' && typeof err.code === 'string') throw new PserveError(err.code, err.message ?? '');
    throw e;
  }
}

function png(): Uint8Array {
  const chunk = (type: string, body: Uint8Array) => {
    const t = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const b = Buffer.alloc(12 + body.length);
    b.writeUInt32BE(body.length, 0); t.copy(b, 4); b.writeUInt32BE(crc32(t), 8 + body.length);
    return b;
  };
  const w = 23, h = 17;
  const raw = new Uint8Array(h * (1 + w * 4));
  for (let y = 0; y < h; y++) { raw[y * (1 + w * 4)] = y % 5; for (let i = 1; i <= w * 4; i++) raw[y * (1 + w * 4) + i] = (i * 7 + y * 3) & 255; }
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 6;
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]));
}

function bmp(): Uint8Array {
  const w = 13, h = 9, stride = Math.ceil((w * 3) / 4) * 4;
  const b = Buffer.alloc(54 + stride * h);
  b.write('BM', 0, 'latin1'); b.writeUInt32LE(b.length, 2); b.writeUInt32LE(54, 10); b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18); b.writeInt32LE(-h, 22); b.writeUInt16LE(1, 26); b.writeUInt16LE(24, 28);
  for (let i = 54; i < b.length; i++) b[i] = (i * 13) & 255;
  return new Uint8Array(b);
}

/** offsets of JPEG markers: where truncation and huge values hurt most */
function markers(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < b.length; i++) if (b[i] === 0xff && b[i + 1] !== 0 && b[i + 1] !== 0xff) out.push(i, i + 2, i + 4);
  return out.slice(0, 200);
}

describeShared('image decoders under mutation', () => {
  it('JPEG, PNG and BMP: a result or an E_IMAGE_ code', () => {
    const jpegs = ['anmuxi_004.jpg', 'anmuxi_006.jpg'].map((f) => new Uint8Array(readFileSync(shared('pipeline', 'gallery', 'images', f))));
    const seeds = [...jpegs.map((bytes) => ({ bytes, boundaries: markers(bytes) })), { bytes: png() }, { bytes: bmp() }];
    const s = fuzz('images', seeds, decode, 600, 11, 3000);
    totals.push(s);
    expect(s.crashes, s.crashes.join('\n')).toEqual([]);
    expect(s.ok).toBeGreaterThan(0);
    expect(Object.keys(s.errors).every((c) => c.startsWith('E_IMAGE_'))).toBe(true);
  }, 180_000);
});
