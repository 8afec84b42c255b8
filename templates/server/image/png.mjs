// PNG decoder giving what cv2.imdecode(IMREAD_COLOR) gives: every colour type and bit depth (Adam7 interlace
// too) as 3-channel 8-bit; alpha dropped (no compositing), palette looked up, gray replicated, 1/2/4-bit gray
// scaled to 0..255 (libpng's expand), 16-bit samples reduced to their high byte (libpng's strip_16), no gamma.
// Chunk CRCs are checked like libpng does for critical chunks. zlib comes from node:zlib. The eXIf orientation
// is returned (decodeImage applies it, as cv2.imdecode does).
import * as zlib from 'node:zlib';
import { ImageError, checkImageSize } from './errors.mjs';
import { exifOrientation } from './exif.mjs';
import { jpegKernels } from './jpeg-wasm.mjs';

const FMT = 'PNG';
const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

// zlib's own CRC where this Node has it (20.15+), the table otherwise
const nativeCrc = /** @type {((d: Uint8Array) => number) | undefined} */ (/** @type {any} */ (zlib).crc32);

/** @param {Uint8Array} d @param {number} from @param {number} to */
function crc32(d, from, to) {
  if (nativeCrc) return nativeCrc(d.subarray(from, to)) >>> 0;
  let c = -1;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ d[i]) & 255] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** @param {Uint8Array} d @param {number} p */
const u32 = (d, p) => d[p] * 16777216 + ((d[p + 1] << 16) | (d[p + 2] << 8) | d[p + 3]);

/**
 * @param {Uint8Array} data
 * @param {{ bgr?: boolean }} [opts]
 * @returns {{ width: number, height: number, channels: number, data: Uint8Array, orientation: number }}
 */
export function decodePng(data, opts = {}) {
  for (let i = 0; i < 8; i++) if (data[i] !== SIGNATURE[i]) throw new ImageError('E_IMAGE_FORMAT', `${FMT}: no PNG signature`, 0);
  let pos = 8;
  let hdr = null;
  /** @type {Uint8Array | null} */
  let palette = null;
  /** @type {Uint8Array[]} */
  const idat = [];
  let idatBytes = 0;
  let ended = false;
  let orientation = 1;
  while (pos < data.length) {
    if (pos + 12 > data.length) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends inside a chunk header`, pos);
    const len = u32(data, pos);
    const type = String.fromCharCode(data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]);
    if (len > 0x7fffffff || pos + 12 + len > data.length) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: chunk ${type} of ${len} bytes runs past the end of the data`, pos);
    const body = pos + 8;
    const critical = (data[pos + 4] & 0x20) === 0;
    if (critical && crc32(data, pos + 4, body + len) !== u32(data, body + len)) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: CRC mismatch in chunk ${type}`, pos);
    if (type === 'IHDR') {
      if (len < 13) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: IHDR of ${len} bytes`, pos);
      hdr = { width: u32(data, body), height: u32(data, body + 4), depth: data[body + 8], color: data[body + 9], compression: data[body + 10], filter: data[body + 11], interlace: data[body + 12] };
      checkImageSize(FMT, hdr.width, hdr.height);
      const depths = DEPTHS[/** @type {0|2|3|4|6} */ (hdr.color)];
      if (!depths || !depths.includes(hdr.depth)) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: colour type ${hdr.color} with bit depth ${hdr.depth}`, body + 8);
      if (hdr.compression !== 0 || hdr.filter !== 0 || hdr.interlace > 1) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: unknown compression/filter/interlace method`, body + 10);
    } else if (type === 'PLTE') {
      if (len % 3 !== 0 || len > 768) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: PLTE of ${len} bytes`, pos);
      palette = data.subarray(body, body + len);
    } else if (type === 'IDAT') {
      if (!hdr) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: IDAT before IHDR`, pos);
      idat.push(data.subarray(body, body + len));
      idatBytes += len;
    } else if (type === 'eXIf') {
      // libpng hands OpenCV the eXIf chunk read before the image data
      if (idat.length === 0) orientation = exifOrientation(data, body, body + len) ?? orientation;
    } else if (type === 'IEND') {
      ended = true;
      break;
    } else if (critical) {
      throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: unknown critical chunk ${type}`, pos);
    }
    pos = body + len + 4;
  }
  if (!hdr) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: no IHDR chunk`, pos);
  if (idat.length === 0) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: no image data (IDAT)`, pos);
  if (hdr.color === 3 && !palette) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: palette image without PLTE`, pos);
  const { width, height, depth, color } = hdr;
  const spp = CHANNELS[/** @type {0|2|3|4|6} */ (color)];
  const bpp = Math.max(1, (spp * depth) >> 3); // filter unit in bytes
  const passes = hdr.interlace
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  const dims = passes.map(([x0, y0, dx, dy]) => {
    const w = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const h = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    return { w, h, rowBytes: Math.ceil((w * spp * depth) / 8) };
  });
  const expected = dims.reduce((s, d) => s + (d.w && d.h ? d.h * (d.rowBytes + 1) : 0), 0);
  let raw;
  try {
    raw = zlib.inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat, idatBytes), { maxOutputLength: expected + 1, finishFlush: 2 /* Z_SYNC_FLUSH */ });
  } catch (e) {
    const msg = String(/** @type {Error} */ (e)?.message ?? e);
    if (/maxOutputLength|buffer/i.test(msg)) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: image data inflates to more than the ${expected} bytes its header allows`);
    throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: bad zlib data: ${msg}`);
  }
  if (raw.length < expected) throw new ImageError(ended ? 'E_IMAGE_CORRUPT' : 'E_IMAGE_TRUNCATED', `${FMT}: image data has ${raw.length} of the ${expected} bytes its header needs`);

  const out = new Uint8Array(width * height * 3);
  const ri = opts.bgr ? 2 : 0, bi = opts.bgr ? 0 : 2;
  if (depth === 8 && color === 2 && !hdr.interlace) {
    const rowBytes = width * 3;
    // the WebAssembly kernel where there is one: raw rows in, RGB or BGR rows out, then copied out
    const rawOff = 64, outOff = rawOff + ((expected + 15) & ~15) + 64, zeroOff = outOff + ((height * rowBytes + 15) & ~15) + 64;
    const k = jpegKernels(zeroOff + rowBytes + 64);
    if (k) {
      const heap = new Uint8Array(k.memory.buffer);
      heap.set(raw.subarray(0, expected), rawOff);
      heap.fill(0, zeroOff, zeroOff + rowBytes + 64);
      const bad = k.exports[opts.bgr ? 'pngBgr' : 'pngRgb'](rawOff, outOff, height, rowBytes, 3, zeroOff);
      if (bad >= 0) { const at = bad * (rowBytes + 1); throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: unknown row filter ${raw[at]}`, at); }
      return { width, height, channels: 3, data: new Uint8Array(k.memory.buffer.slice(outOff, outOff + height * rowBytes)), orientation };
    }
    // in JS: each row is unfiltered straight into the output (the row above, still RGB, is the filters' previous
    // row), then turned into BGR once the row below no longer needs it
    let prev = new Uint8Array(rowBytes);
    for (let y = 0, at = 0; y < height; y++, at += rowBytes + 1) {
      const cur = out.subarray(y * rowBytes, (y + 1) * rowBytes);
      unfilter(raw[at], raw, at + 1, cur, prev, rowBytes, 3, at);
      if (opts.bgr && y > 0) swapRB(prev);
      prev = cur;
    }
    if (opts.bgr) swapRB(prev);
    return { width, height, channels: 3, data: out, orientation };
  }
  let at = 0;
  for (let p = 0; p < passes.length; p++) {
    const { w, h, rowBytes } = dims[p];
    if (!w || !h) continue;
    const [x0, y0, dx, dy] = passes[p];
    let prev = new Uint8Array(rowBytes);
    let cur = new Uint8Array(rowBytes);
    for (let y = 0; y < h; y++) {
      const ft = raw[at];
      unfilter(ft, raw, at + 1, cur, prev, rowBytes, bpp, at);
      at += rowBytes + 1;
      const oy = y0 + y * dy;
      if (depth === 8 && dx === 1 && color !== 3) {
        // the common case in one tight loop: 8-bit gray, gray+alpha, RGB or RGBA, not interlaced
        const o0 = oy * width * 3;
        if (color === 0 || color === 4) {
          for (let x = 0, s = 0, o = o0; x < w; x++, s += spp, o += 3) { const v = cur[s]; out[o] = v; out[o + 1] = v; out[o + 2] = v; }
        } else {
          for (let x = 0, s = 0, o = o0; x < w; x++, s += spp, o += 3) { out[o + ri] = cur[s]; out[o + 1] = cur[s + 1]; out[o + bi] = cur[s + 2]; }
        }
        const t = prev; prev = cur; cur = t;
        continue;
      }
      for (let x = 0; x < w; x++) {
        const o = (oy * width + x0 + x * dx) * 3;
        let r, g, b;
        if (color === 3) {
          const idx = sample(cur, x, depth);
          if (idx * 3 + 2 >= /** @type {Uint8Array} */ (palette).length) { r = g = b = 0; } // libpng: out-of-range index is black
          else { r = palette[idx * 3]; g = palette[idx * 3 + 1]; b = palette[idx * 3 + 2]; }
        } else if (depth < 8) {
          r = g = b = sample(cur, x, depth) * (depth === 1 ? 255 : depth === 2 ? 85 : 17);
        } else {
          const s = depth === 16 ? 2 : 1;
          const base = x * spp * s;
          if (color === 0 || color === 4) { r = g = b = cur[base]; }
          else { r = cur[base]; g = cur[base + s]; b = cur[base + 2 * s]; }
        }
        out[o + ri] = r; out[o + 1] = g; out[o + bi] = b;
      }
      const t = prev; prev = cur; cur = t;
    }
  }
  return { width, height, channels: 3, data: out, orientation };
}

/** @param {Uint8Array} row RGB pixels, turned into BGR in place */
function swapRB(row) {
  for (let i = 0; i + 2 < row.length; i += 3) { const t = row[i]; row[i] = row[i + 2]; row[i + 2] = t; }
}

/** @param {Uint8Array} row @param {number} x @param {number} depth */
function sample(row, x, depth) {
  if (depth === 8) return row[x];
  const bit = x * depth;
  return (row[bit >> 3] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
}

/**
 * @param {number} ft @param {Uint8Array} src @param {number} s @param {Uint8Array} cur @param {Uint8Array} prev
 * @param {number} n @param {number} bpp @param {number} at
 */
function unfilter(ft, src, s, cur, prev, n, bpp, at) {
  // the first bpp bytes have no left neighbour (a = c = 0), the rest do: two loops, no per-byte test
  const m = bpp < n ? bpp : n;
  switch (ft) {
    case 0: for (let i = 0; i < n; i++) cur[i] = src[s + i]; break;
    case 1:
      for (let i = 0; i < m; i++) cur[i] = src[s + i];
      for (let i = m; i < n; i++) cur[i] = src[s + i] + cur[i - bpp];
      break;
    case 2: for (let i = 0; i < n; i++) cur[i] = src[s + i] + prev[i]; break;
    case 3:
      for (let i = 0; i < m; i++) cur[i] = src[s + i] + (prev[i] >> 1);
      for (let i = m; i < n; i++) cur[i] = src[s + i] + ((cur[i - bpp] + prev[i]) >> 1);
      break;
    case 4:
      // Paeth with a = c = 0 predicts b
      for (let i = 0; i < m; i++) cur[i] = src[s + i] + prev[i];
      for (let i = m; i < n; i++) {
        const a = cur[i - bpp], b = prev[i], c = prev[i - bpp];
        // |p - a|, |p - b|, |p - c| for p = a + b - c; the choice made with sign masks, not branches (the
        // branches would be unpredictable): ma = 0 when pa <= pb and pa <= pc, mb = 0 when pb <= pc
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - c - c);
        const ma = ((pb - pa) | (pc - pa)) >> 31, mb = (pc - pb) >> 31;
        const t = b ^ ((b ^ c) & mb);
        cur[i] = src[s + i] + (a ^ ((a ^ t) & ma));
      }
      break;
    default: throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: unknown row filter ${ft}`, at);
  }
}
