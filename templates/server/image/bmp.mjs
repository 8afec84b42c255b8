// BMP decoder (Windows bitmaps as cv2.imdecode(IMREAD_COLOR) reads them): uncompressed 1/4/8-bit palette,
// 24-bit, and 32-bit (BI_RGB or BI_BITFIELDS with 8-bit masks; the fourth byte is dropped), bottom-up or
// top-down. RLE and other compressions are refused.
import { ImageError, checkImageSize } from './errors.mjs';

const FMT = 'BMP';

/**
 * @param {Uint8Array} data
 * @param {{ bgr?: boolean }} [opts]
 * @returns {{ width: number, height: number, channels: number, data: Uint8Array }}
 */
export function decodeBmp(data, opts = {}) {
  if (data.length < 26 || data[0] !== 0x42 || data[1] !== 0x4d) throw new ImageError('E_IMAGE_FORMAT', `${FMT}: no "BM" signature`, 0);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const pixOffset = dv.getUint32(10, true);
  const hsize = dv.getUint32(14, true);
  if (hsize !== 12 && hsize < 40) throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: DIB header of ${hsize} bytes`, 14);
  if (14 + hsize > data.length) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends inside the DIB header`, 14);
  let width, height, bpp, compression = 0, colors = 0;
  if (hsize === 12) {
    width = dv.getUint16(18, true); height = dv.getInt16(20, true); bpp = dv.getUint16(24, true);
  } else {
    width = dv.getInt32(18, true); height = dv.getInt32(22, true); bpp = dv.getUint16(28, true);
    compression = dv.getUint32(30, true); colors = dv.getUint32(46, true);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  checkImageSize(FMT, width, height);
  if (![1, 4, 8, 24, 32].includes(bpp)) throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: ${bpp} bits per pixel (1, 4, 8, 24 and 32 are supported)`, 28);
  let shifts = [16, 8, 0];
  if (compression === 3 && bpp === 32) {
    // BI_BITFIELDS: masks after a 40-byte header, or inside a V4/V5 header
    if (14 + 40 + 12 > data.length) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends inside the colour masks`, 54);
    const masks = [dv.getUint32(54, true), dv.getUint32(58, true), dv.getUint32(62, true)];
    shifts = masks.map((m) => [0, 8, 16, 24].find((s) => m === (0xff << s) >>> 0) ?? -1);
    if (shifts.includes(-1)) throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: colour masks ${masks.map((m) => `0x${m.toString(16)}`).join(', ')} (8-bit masks only)`, 54);
  } else if (compression !== 0) {
    throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: compression ${compression} (RLE/JPEG/PNG inside BMP is not supported)`, 30);
  }
  /** @type {Uint8Array | null} */
  let palette = null;
  const entry = hsize === 12 ? 3 : 4;
  if (bpp <= 8) {
    const n = colors > 0 && colors <= 1 << bpp ? colors : 1 << bpp;
    const at = 14 + hsize;
    if (at + n * entry > data.length) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends inside the palette`, at);
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < n; i++) palette.set(data.subarray(at + i * entry, at + i * entry + 3), i * 3); // B, G, R
  }
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (pixOffset + stride * (height - 1) + Math.ceil((width * bpp) / 8) > data.length) {
    throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: ${width}x${height} at ${bpp} bits needs ${stride * height} bytes of pixels after offset ${pixOffset}, the file has ${Math.max(0, data.length - pixOffset)}`, pixOffset);
  }
  const out = new Uint8Array(width * height * 3);
  const ri = opts.bgr ? 2 : 0, bi = opts.bgr ? 0 : 2;
  for (let y = 0; y < height; y++) {
    const row = pixOffset + (topDown ? y : height - 1 - y) * stride;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      let b, g, r;
      if (bpp === 24) { b = data[row + 3 * x]; g = data[row + 3 * x + 1]; r = data[row + 3 * x + 2]; }
      else if (bpp === 32) {
        const v = dv.getUint32(row + 4 * x, true);
        r = (v >>> shifts[0]) & 255; g = (v >>> shifts[1]) & 255; b = (v >>> shifts[2]) & 255;
      } else {
        const bit = x * bpp;
        const idx = (data[row + (bit >> 3)] >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        const p = /** @type {Uint8Array} */ (palette);
        b = p[idx * 3]; g = p[idx * 3 + 1]; r = p[idx * 3 + 2];
      }
      out[o + ri] = r; out[o + 1] = g; out[o + bi] = b;
    }
  }
  return { width, height, channels: 3, data: out };
}
