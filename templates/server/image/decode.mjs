// Decode an encoded image by its content (magic bytes, never a file name), like cv2.imdecode(buf, IMREAD_COLOR):
// 3-channel HWC uint8, BGR by default, the EXIF orientation (JPEG APP1, PNG eXIf) applied as OpenCV does.
// `order: 'rgb'` and `exif: false` give what PIL's Image.open(...).convert('RGB') gives for 8-bit JPEG/PNG/BMP
// (16-bit PNGs and CMYK JPEGs follow OpenCV's conversion, not PIL's).
import { ImageError } from './errors.mjs';
import { decodeJpeg } from './jpeg.mjs';
import { decodePng } from './png.mjs';
import { decodeBmp } from './bmp.mjs';

/** @typedef {{ width: number, height: number, channels: number, data: Uint8Array }} Image */

/**
 * The format of encoded image bytes, or null.
 * @param {Uint8Array} b
 * @returns {'jpeg' | 'png' | 'bmp' | null}
 */
export function sniffImage(b) {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  return null;
}

/**
 * The size an encoded image claims in its header (JPEG SOF, PNG IHDR, BMP info header), without decoding;
 * null when the bytes are none of those or the header is not there. A claim, not a check: decoding decides.
 * @param {Uint8Array} b
 * @returns {{ width: number, height: number } | null}
 */
export function imageDims(b) {
  const kind = sniffImage(b);
  if (kind === 'png') return b.length >= 24 ? { width: readU32(b, 16), height: readU32(b, 20) } : null;
  if (kind === 'bmp') {
    if (b.length < 26) return null;
    const w = b[18] | (b[19] << 8) | (b[20] << 16) | (b[21] << 24);
    const h = b[22] | (b[23] << 8) | (b[24] << 16) | (b[25] << 24);
    return { width: Math.abs(w), height: Math.abs(h) };
  }
  if (kind !== 'jpeg') return null;
  // the segments before the frame header: each 0xFF marker + 2-byte length, up to a SOFn
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return null;
    const m = b[p + 1];
    if (m === 0xff) { p++; continue; }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { p += 2; continue; }
    const len = (b[p + 2] << 8) | b[p + 3];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return p + 9 <= b.length ? { width: (b[p + 7] << 8) | b[p + 8], height: (b[p + 5] << 8) | b[p + 6] } : null;
    }
    if (m === 0xda || m === 0xd9 || len < 2) return null;
    p += 2 + len;
  }
  return null;
}

/** @param {Uint8Array} b @param {number} p */
const readU32 = (b, p) => ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);

/**
 * @param {Uint8Array} bytes encoded JPEG, PNG or BMP
 * @param {{ order?: 'bgr' | 'rgb', exif?: boolean, view?: boolean, rows?: (width: number, height: number) => [number, number] | null }} [opts] order: channel order of the result (default 'bgr',
 *   as cv2); exif: apply the EXIF orientation (default true, as cv2.imdecode; PIL's Image.open does not); view: a
 *   JPEG's pixels may be left in this thread's kernel memory (decodeJpeg's `view`: for a caller that reads them at once);
 *   rows: with view, (width, height) -> [first, end) of the rows that caller reads (decodeJpeg's `rows`)
 * @returns {Image}
 */
export function decodeImage(bytes, opts = {}) {
  const bgr = (opts.order ?? 'bgr') === 'bgr';
  const kind = sniffImage(bytes);
  if (kind === 'jpeg' || kind === 'png') {
    const { orientation, ...plain } = kind === 'jpeg' ? decodeJpeg(bytes, { bgr, view: opts.view, rows: opts.exif === false ? undefined : opts.rows }) : decodePng(bytes, { bgr });
    return opts.exif === false ? plain : orient(plain, orientation);
  }
  if (kind === 'bmp') return decodeBmp(bytes, { bgr });
  const head = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
  throw new ImageError('E_IMAGE_FORMAT', `not a JPEG, PNG or BMP image (first bytes: ${head || 'none'})`, 0);
}

/**
 * EXIF orientation 1..8 applied the way OpenCV's ApplyExifOrientation does (transpose, then flips).
 * @param {Image} img @param {number} o
 * @returns {Image}
 */
export function orient(img, o) {
  if (o <= 1 || o > 8) return img;
  const { width: w, height: h, channels: c, data } = img;
  const transpose = o >= 5;
  const W = transpose ? h : w, H = transpose ? w : h;
  // after the transpose (5..8): 2, 6 flip x; 4, 8 flip y; 3, 7 flip both; 5 transpose only
  const flipX = o === 2 || o === 3 || o === 6 || o === 7;
  const flipY = o === 3 || o === 4 || o === 7 || o === 8;
  const out = new Uint8Array(W * H * c);
  const rowBytes = W * c;
  // destination row y reads one source row (no transpose) or column (transpose), forwards or backwards
  const x0 = flipX ? W - 1 : 0, dx = flipX ? -1 : 1;
  for (let y = 0, d0 = 0; y < H; y++, d0 += rowBytes) {
    const ty = flipY ? H - 1 - y : y;
    let s = transpose ? (x0 * w + ty) * c : (ty * w + x0) * c;
    const step = transpose ? dx * w * c : dx * c;
    if (step === c) { out.set(data.subarray(s, s + rowBytes), d0); continue; }
    if (c === 3) {
      for (let x = 0, d = d0; x < W; x++, d += 3, s += step) { out[d] = data[s]; out[d + 1] = data[s + 1]; out[d + 2] = data[s + 2]; }
    } else {
      for (let x = 0, d = d0; x < W; x++, d += c, s += step) for (let k = 0; k < c; k++) out[d + k] = data[s + k];
    }
  }
  return { width: W, height: H, channels: c, data: out };
}
