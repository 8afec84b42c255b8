// JPEG decoder that reproduces libjpeg-turbo's default decompression bit for bit (what cv2.imdecode and
// PIL use): baseline and progressive Huffman, the accurate integer IDCT ("ISLOW", jidctint.c arithmetic:
// 13-bit constants, 2 extra bits after the column pass, clamping to 0..255), "fancy" (triangle) chroma
// upsampling for 2x1, 1x2 and 2x2 subsampling (jdsample.c rounding, edge samples replicated) and the
// YCbCr->RGB tables of jdcolor.c (16-bit fixed point); 4-component (CMYK/YCCK) JPEGs as OpenCV converts them.
// Arithmetic coding, lossless and 12-bit JPEGs are refused. Written from the JPEG spec (ITU T.81) and the
// published libjpeg algorithms, not copied.
// Speed: where WebAssembly SIMD validates (Node >= 16.4), baseline entropy decoding, the IDCT (also the last pass
// of progressive images), chroma upsampling and colour conversion run as kernels from jpeg-wasm.mjs (the JPEG
// bytes, coefficients, planes and output live in their memory; the output is copied out). Progressive entropy
// decoding, gray/RGB/CMYK output, the rare sampling layouts, and every stage where the kernels are missing run
// here in JS; both give the same bytes (test/image-jpeg-kernels.test.ts). The JS baseline decoder keeps its bit
// reader in locals, decodes short Huffman codes with their extra bits in one 10-bit lookup and skips the IDCT of
// DC-only blocks.
import { ImageError, checkImageSize } from './errors.mjs';
import { exifOrientation } from './exif.mjs';
import { jpegKernels, kernelOffset, HUFF, DESC } from './jpeg-wasm.mjs';

const FMT = 'JPEG';

// zig-zag position -> natural (row-major) index; 16 extra entries like libjpeg so a corrupt run stays in range
const NATURAL = Int32Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
  63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
]);

// Huffman codes of up to LOOK bits are decoded with one table lookup; longer ones walk maxcode (jdhuff.c style)
const LOOK = 10;
const LMASK = (1 << LOOK) - 1;

/**
 * lookup: (length << 8) | symbol for every LOOK-bit window starting with a code of <= LOOK bits, else 0.
 * fastAc / fastDc: the same windows when the code and the extra bits it announces both fit in LOOK bits, as
 * (extended value << 16) | (run << 8) | bits consumed (AC: symbols with size > 0; DC: sizes 0..15), else 0.
 * @typedef {{ lookup: Uint16Array, fastAc: Int32Array, fastDc: Int32Array, maxcode: Int32Array, valptr: Int32Array,
 *   mincode: Int32Array, values: Uint8Array }} Huffman
 * @typedef {{ id: number, h: number, v: number, tq: number, bpl: number, bpc: number, coefs: Int16Array,
 *   dcTable: Huffman | null, acTable: Huffman | null, pred: number, width: number, height: number,
 *   qt: Uint16Array | null, plane: Uint8Array }} Component
 */

/** @param {number} v the s raw bits @param {number} s 1..15 */
const extend = (v, s) => (v < 1 << (s - 1) ? v - (1 << s) + 1 : v);

/** @param {Uint8Array} counts 16 code counts @param {Uint8Array} values @param {number} at */
function buildHuffman(counts, values, at) {
  const lookup = new Uint16Array(LMASK + 1);
  const maxcode = new Int32Array(18).fill(-1);
  const mincode = new Int32Array(17);
  const valptr = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1];
    valptr[len] = k;
    mincode[len] = code;
    for (let i = 0; i < n; i++) {
      if (len <= LOOK) {
        const shift = LOOK - len;
        const base = code << shift;
        for (let j = 0; j < 1 << shift; j++) lookup[base + j] = (len << 8) | values[k];
      }
      code++;
      k++;
    }
    if (code > 1 << len) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: Huffman table has more codes than fit in ${len} bits`, at);
    maxcode[len] = n ? code - 1 : -1;
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  const fastAc = new Int32Array(LMASK + 1);
  const fastDc = new Int32Array(LMASK + 1);
  for (let w = 0; w <= LMASK; w++) {
    const e = lookup[w];
    if (e === 0) continue;
    const len = e >> 8, rs = e & 255, s = rs & 15;
    if (s !== 0 && len + s <= LOOK) fastAc[w] = (extend((w >> (LOOK - len - s)) & ((1 << s) - 1), s) << 16) | ((rs >> 4) << 8) | (len + s);
    if (rs < 16 && len + rs <= LOOK) fastDc[w] = ((rs === 0 ? 0 : extend((w >> (LOOK - len - rs)) & ((1 << rs) - 1), rs)) << 16) | (len + rs);
  }
  return { lookup, fastAc, fastDc, maxcode, mincode, valptr, values };
}

/**
 * A code longer than LOOK bits, from the 16 bits at the read position.
 * @param {Huffman} t @param {number} code16 @param {Uint8Array} data @param {number} pos @param {number} cnt bits buffered
 * @returns {number} (length << 8) | symbol
 */
function slowDecode(t, code16, data, pos, cnt) {
  for (let len = LOOK + 1; len <= 16; len++) {
    const code = code16 >> (16 - len);
    if (code <= t.maxcode[len]) return (len << 8) | t.values[t.valptr[len] + code - t.mincode[len]];
  }
  // a bit-by-bit reader takes a 17th bit before giving up: with exactly 16 buffered that is one more refill
  // (4 bytes), which the offset in the message reflects
  if (cnt <= 16) {
    for (let i = 0; i < 4; i++) {
      if (pos >= data.length) break;
      if (data[pos] !== 0xff) pos++;
      else if (pos + 1 < data.length && data[pos + 1] === 0) pos += 2;
      else break;
    }
  }
  throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: bad Huffman code`, pos);
}

/** @param {boolean} atEnd @param {number} pos */
function overrunError(atEnd, pos) {
  return new ImageError(atEnd ? 'E_IMAGE_TRUNCATED' : 'E_IMAGE_CORRUPT',
    atEnd ? `${FMT}: the data ends inside the compressed image` : `${FMT}: a marker interrupts the compressed data`, pos);
}

/** @param {Uint8Array} data @param {number} pos offset of the next 0xFF byte at or after pos, or data.length */
function nextFF(data, pos) {
  const i = data.indexOf(0xff, pos);
  return i < 0 ? data.length : i;
}

/**
 * Bit-buffer refill byte by byte (stuffed 0xFF00, markers and the end of the data) for the baseline decoder, whose
 * reader state lives in locals: S = [pos, buf, cnt, fake, atEnd, next 0xFF offset], read back after the call.
 * Same rules as BitReader.fill.
 * @param {Uint8Array} data @param {Int32Array} S
 */
function slowFill(data, S) {
  const n = data.length;
  let pos = S[0], buf = S[1], cnt = S[2], fake = S[3];
  while (cnt <= 24) {
    let b = 0;
    if (pos >= n) {
      S[4] = 1;
      fake += 8;
    } else {
      b = data[pos];
      if (b === 0xff) {
        const next = pos + 1 < n ? data[pos + 1] : -1;
        if (next === 0) pos += 2;
        else { b = 0; fake += 8; if (next < 0) S[4] = 1; }
      } else pos++;
    }
    buf = (buf << 8) | b;
    cnt += 8;
  }
  S[0] = pos; S[1] = buf; S[2] = cnt; S[3] = fake;
  S[5] = nextFF(data, pos);
}

/**
 * Byte-align: the offset of the next marker, the whole bytes fetched but not consumed given back.
 * @param {Uint8Array} data @param {number} pos @param {number} cnt @param {number} fake
 */
function alignPos(data, pos, cnt, fake) {
  let unread = (cnt - fake) >> 3;
  let p = pos;
  while (unread > 0) {
    p--;
    if (data[p] === 0 && p > 0 && data[p - 1] === 0xff) p--;
    unread--;
  }
  return p;
}

class BitReader {
  /** @param {Uint8Array} data @param {number} pos */
  constructor(data, pos) {
    this.data = data;
    this.pos = pos;
    this.buf = 0;
    this.cnt = 0;
    // zero bits appended after the real ones once a marker or the end of the data is reached
    this.fake = 0;
    this.atEnd = false;
  }

  fill() {
    const d = this.data;
    while (this.cnt <= 24) {
      let b = 0;
      if (this.pos >= d.length) {
        this.atEnd = true;
        this.fake += 8;
      } else {
        b = d[this.pos];
        if (b === 0xff) {
          const next = this.pos + 1 < d.length ? d[this.pos + 1] : -1;
          if (next === 0) this.pos += 2;
          else { b = 0; this.fake += 8; if (next < 0) this.atEnd = true; }
        } else this.pos++;
      }
      this.buf = ((this.buf << 8) | b) >>> 0;
      this.cnt += 8;
    }
  }

  /** Called after consuming bits: the real bits left must cover what was consumed. */
  overrun() {
    throw new ImageError(this.atEnd ? 'E_IMAGE_TRUNCATED' : 'E_IMAGE_CORRUPT',
      this.atEnd ? `${FMT}: the data ends inside the compressed image` : `${FMT}: a marker interrupts the compressed data`, this.pos);
  }

  /** @param {number} n 1..16 */
  bits(n) {
    if (this.cnt < n) this.fill();
    this.cnt -= n;
    if (this.cnt < this.fake) this.overrun();
    return (this.buf >>> this.cnt) & ((1 << n) - 1);
  }

  bit() {
    if (this.cnt < 1) this.fill();
    this.cnt--;
    if (this.cnt < this.fake) this.overrun();
    return (this.buf >>> this.cnt) & 1;
  }

  /** @param {number} s 1..15 */
  receiveExtend(s) {
    const v = this.bits(s);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
  }

  /** @param {Huffman} t */
  decode(t) {
    if (this.cnt < 16) this.fill();
    const e = t.lookup[(this.buf >>> (this.cnt - LOOK)) & LMASK];
    if (e !== 0) {
      this.cnt -= e >> 8;
      if (this.cnt < this.fake) this.overrun();
      return e & 255;
    }
    const l = slowDecode(t, (this.buf >>> (this.cnt - 16)) & 0xffff, this.data, this.pos, this.cnt);
    this.cnt -= l >> 8;
    if (this.cnt < this.fake) this.overrun();
    return l & 255;
  }

  /** Byte-align and return the offset of the next marker (after a scan or at a restart). */
  align() {
    const p = alignPos(this.data, this.pos, this.cnt, this.fake);
    this.pos = p;
    this.buf = 0;
    this.cnt = 0;
    this.fake = 0;
    this.atEnd = false;
    return p;
  }
}

// ISLOW IDCT constants (CONST_BITS = 13)
const F0_298 = 2446, F0_390 = 3196, F0_541 = 4433, F0_765 = 6270, F0_899 = 7373, F1_175 = 9633, F1_501 = 12299,
  F1_847 = 15137, F1_961 = 16069, F2_053 = 16819, F2_562 = 20995, F3_072 = 25172;

/**
 * Accurate integer IDCT of one block (libjpeg's jpeg_idct_islow arithmetic) on dequantised coefficients.
 * Everything is computed modulo 2^32 (Math.imul, int32 adds): every intermediate of the exact computation stays
 * far below 2^53 and the only non-ring steps are the descaling shifts, which take the low 32 bits anyway, so the
 * results are those of exact integer arithmetic followed by libjpeg's 32-bit DESCALE.
 * @param {Int32Array} b 64 coefficients times their quantisation steps, natural order
 * @param {Uint8Array} out @param {number} oo @param {number} stride
 * @param {Int32Array} ws 64 ints of workspace
 */
function idctIslow(b, out, oo, stride, ws) {
  for (let col = 0; col < 8; col++) {
    const d0 = b[col], d1 = b[col + 8], d2 = b[col + 16], d3 = b[col + 24], d4 = b[col + 32], d5 = b[col + 40], d6 = b[col + 48], d7 = b[col + 56];
    if ((d1 | d2 | d3 | d4 | d5 | d6 | d7) === 0) {
      const dc = d0 << 2;
      ws[col] = dc; ws[col + 8] = dc; ws[col + 16] = dc; ws[col + 24] = dc;
      ws[col + 32] = dc; ws[col + 40] = dc; ws[col + 48] = dc; ws[col + 56] = dc;
      continue;
    }
    let z1 = Math.imul(d2 + d6, F0_541);
    let tmp2 = z1 - Math.imul(d6, F1_847);
    let tmp3 = z1 + Math.imul(d2, F0_765);
    let tmp0 = (d0 + d4) << 13;
    let tmp1 = (d0 - d4) << 13;
    const t10 = tmp0 + tmp3, t13 = tmp0 - tmp3, t11 = tmp1 + tmp2, t12 = tmp1 - tmp2;
    z1 = d7 + d1;
    let z2 = d5 + d3, z3 = d7 + d3, z4 = d5 + d1;
    const z5 = Math.imul(z3 + z4, F1_175);
    z1 = Math.imul(z1, -F0_899); z2 = Math.imul(z2, -F2_562);
    z3 = Math.imul(z3, -F1_961) + z5; z4 = Math.imul(z4, -F0_390) + z5;
    tmp0 = Math.imul(d7, F0_298) + z1 + z3;
    tmp1 = Math.imul(d5, F2_053) + z2 + z4;
    tmp2 = Math.imul(d3, F3_072) + z2 + z3;
    tmp3 = Math.imul(d1, F1_501) + z1 + z4;
    ws[col] = (t10 + tmp3 + 1024) >> 11;
    ws[col + 56] = (t10 - tmp3 + 1024) >> 11;
    ws[col + 8] = (t11 + tmp2 + 1024) >> 11;
    ws[col + 48] = (t11 - tmp2 + 1024) >> 11;
    ws[col + 16] = (t12 + tmp1 + 1024) >> 11;
    ws[col + 40] = (t12 - tmp1 + 1024) >> 11;
    ws[col + 24] = (t13 + tmp0 + 1024) >> 11;
    ws[col + 32] = (t13 - tmp0 + 1024) >> 11;
  }
  for (let row = 0, o = oo; row < 64; row += 8, o += stride) {
    const w0 = ws[row], w1 = ws[row + 1], w2 = ws[row + 2], w3 = ws[row + 3], w4 = ws[row + 4], w5 = ws[row + 5], w6 = ws[row + 6], w7 = ws[row + 7];
    let v;
    if ((w1 | w2 | w3 | w4 | w5 | w6 | w7) === 0) {
      v = ((w0 + 16) >> 5) + 128;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      out[o] = v; out[o + 1] = v; out[o + 2] = v; out[o + 3] = v; out[o + 4] = v; out[o + 5] = v; out[o + 6] = v; out[o + 7] = v;
      continue;
    }
    let z1 = Math.imul(w2 + w6, F0_541);
    let tmp2 = z1 - Math.imul(w6, F1_847);
    let tmp3 = z1 + Math.imul(w2, F0_765);
    let tmp0 = (w0 + w4) << 13;
    let tmp1 = (w0 - w4) << 13;
    const t10 = tmp0 + tmp3, t13 = tmp0 - tmp3, t11 = tmp1 + tmp2, t12 = tmp1 - tmp2;
    z1 = w7 + w1;
    let z2 = w5 + w3, z3 = w7 + w3, z4 = w5 + w1;
    const z5 = Math.imul(z3 + z4, F1_175);
    z1 = Math.imul(z1, -F0_899); z2 = Math.imul(z2, -F2_562);
    z3 = Math.imul(z3, -F1_961) + z5; z4 = Math.imul(z4, -F0_390) + z5;
    tmp0 = Math.imul(w7, F0_298) + z1 + z3;
    tmp1 = Math.imul(w5, F2_053) + z2 + z4;
    tmp2 = Math.imul(w3, F3_072) + z2 + z3;
    tmp3 = Math.imul(w1, F1_501) + z1 + z4;
    // DESCALE by CONST_BITS + PASS1_BITS + 3 = 18, recentre, clamp (the SIMD code saturates)
    v = ((t10 + tmp3 + 131072) >> 18) + 128; out[o] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((t10 - tmp3 + 131072) >> 18) + 128; out[o + 7] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((t11 + tmp2 + 131072) >> 18) + 128; out[o + 1] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((t11 - tmp2 + 131072) >> 18) + 128; out[o + 6] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((t12 + tmp1 + 131072) >> 18) + 128; out[o + 2] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((t12 - tmp1 + 131072) >> 18) + 128; out[o + 5] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((t13 + tmp0 + 131072) >> 18) + 128; out[o + 3] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((t13 - tmp0 + 131072) >> 18) + 128; out[o + 4] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

/**
 * A block whose AC coefficients are all zero: one value, what idctIslow gives for it.
 * @param {number} dcq DC coefficient times its quantisation step
 * @param {Uint8Array} out @param {number} o @param {number} stride
 */
function idctDcOnly(dcq, out, o, stride) {
  let v = (((dcq << 2) + 16) >> 5) + 128;
  v = v < 0 ? 0 : v > 255 ? 255 : v;
  for (let r = 0; r < 8; r++, o += stride) {
    out[o] = v; out[o + 1] = v; out[o + 2] = v; out[o + 3] = v; out[o + 4] = v; out[o + 5] = v; out[o + 6] = v; out[o + 7] = v;
  }
}

// jdcolor.c tables: SCALEBITS 16, FIX(x) = round(x * 65536)
const CR_R = new Int32Array(256), CB_B = new Int32Array(256), CR_G = new Int32Array(256), CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (91881 * x + 32768) >> 16;
  CB_B[i] = (116130 * x + 32768) >> 16;
  CR_G[i] = -46802 * x;
  CB_G[i] = -22554 * x + 32768;
}

/**
 * One baseline (sequential Huffman) scan: each block is decoded, dequantised and transformed straight into its
 * component's sample plane. The bit reader lives in locals (pos, buf, cnt, fake: the zero bits appended past a
 * marker or the end); its refills, error codes and offsets are BitReader's.
 * @param {Uint8Array} data @param {number} start first byte of the entropy-coded data
 * @param {Component[]} sc the scan's components @param {number} restartInterval
 * @param {number} mcusPerLine @param {number} mcusPerColumn
 * @param {Int32Array} blk 64 zeros (left zeroed) @param {Int32Array} ws @param {Int32Array} nzl 64 ints
 * @returns {number} offset after the scan's data
 */
function decodeBaselineScan(data, start, sc, restartInterval, mcusPerLine, mcusPerColumn, blk, ws, nzl) {
  const single = sc.length === 1;
  const c0 = sc[0];
  const unitsPerLine = single ? Math.ceil(c0.width / 8) : mcusPerLine;
  const unitRows = single ? Math.ceil(c0.height / 8) : mcusPerColumn;
  // the blocks of one MCU (one block in a single-component scan): where each goes in its plane; a component named
  // twice in a (corrupt) scan keeps one DC predictor, as libjpeg's per-component state does
  const comp = [], off = [], colStep = [], rowStep = [], strides = [];
  /** @type {Uint8Array[]} */ const planes = [];
  /** @type {Uint16Array[]} */ const qs = [];
  /** @type {Huffman[]} */ const dcs = [];
  /** @type {Huffman[]} */ const acs = [];
  for (let ci = 0; ci < sc.length; ci++) {
    const c = sc[ci];
    const stride = c.bpl * 8;
    const bh = single ? 1 : c.h, bv = single ? 1 : c.v;
    for (let v = 0; v < bv; v++) {
      for (let h = 0; h < bh; h++) {
        comp.push(sc.indexOf(c)); off.push(v * 8 * stride + h * 8); colStep.push(bh * 8); rowStep.push(bv * 8 * stride); strides.push(stride);
        planes.push(c.plane); qs.push(/** @type {Uint16Array} */ (c.qt));
        dcs.push(/** @type {Huffman} */ (c.dcTable)); acs.push(/** @type {Huffman} */ (c.acTable));
      }
    }
  }
  const nb = comp.length;
  const preds = new Float64Array(sc.length);
  const co = blk;
  const S = new Int32Array(6);
  let pos = start, buf = 0, cnt = 0, fake = 0, ff = nextFF(data, pos);
  let restartsLeft = restartInterval, expectRst = 0;
  for (let my = 0; my < unitRows; my++) {
    for (let mx = 0; mx < unitsPerLine; mx++) {
      if (restartInterval !== 0) {
        if (restartsLeft === 0) {
          const at = alignPos(data, pos, cnt, fake);
          if (at + 1 >= data.length) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends before restart marker RST${expectRst}`, at);
          if (data[at] !== 0xff || data[at + 1] !== 0xd0 + expectRst) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: expected restart marker RST${expectRst}`, at);
          pos = at + 2; buf = 0; cnt = 0; fake = 0; S[4] = 0; ff = nextFF(data, pos);
          expectRst = (expectRst + 1) & 7;
          restartsLeft = restartInterval;
          preds.fill(0);
        }
        restartsLeft--;
      }
      for (let b = 0; b < nb; b++) {
        const q = qs[b];
        // DC: size category, then that many bits
        if (cnt < 16) {
          while (cnt <= 24 && pos < ff) { buf = (buf << 8) | data[pos++]; cnt += 8; }
          if (cnt <= 24) { S[0] = pos; S[1] = buf; S[2] = cnt; S[3] = fake; slowFill(data, S); pos = S[0]; buf = S[1]; cnt = S[2]; fake = S[3]; ff = S[5]; }
        }
        let diff;
        const fd = dcs[b].fastDc[(buf >>> (cnt - LOOK)) & LMASK];
        if (fd !== 0) {
          cnt -= fd & 255;
          diff = fd >> 16;
        } else {
          const dt = dcs[b];
          let l = dt.lookup[(buf >>> (cnt - LOOK)) & LMASK];
          if (l === 0) {
            if (cnt < fake) throw overrunError(S[4] !== 0, pos);
            l = slowDecode(dt, (buf >>> (cnt - 16)) & 0xffff, data, pos, cnt);
          }
          cnt -= l >> 8;
          const t = l & 255;
          diff = 0;
          if (t !== 0) {
            if (cnt < t) {
              while (cnt <= 24 && pos < ff) { buf = (buf << 8) | data[pos++]; cnt += 8; }
              if (cnt <= 24) { S[0] = pos; S[1] = buf; S[2] = cnt; S[3] = fake; slowFill(data, S); pos = S[0]; buf = S[1]; cnt = S[2]; fake = S[3]; ff = S[5]; }
            }
            cnt -= t;
            // a corrupt table may announce more bits than the buffer holds: checked now, before a refill hides it
            if (cnt < fake) throw overrunError(S[4] !== 0, pos);
            diff = extend((buf >>> cnt) & ((1 << t) - 1), t);
          }
        }
        const ci = comp[b];
        const p = preds[ci] + diff;
        preds[ci] = p;
        co[0] = Math.imul((p << 16) >> 16, q[0]); // the DC is kept as a 16-bit coefficient
        // AC: (run, size) symbols; the short ones with their value in one lookup
        const fa = acs[b].fastAc;
        let nn = 0;
        for (let k = 1; k < 64;) {
          if (cnt < 16) {
            while (cnt <= 24 && pos < ff) { buf = (buf << 8) | data[pos++]; cnt += 8; }
            if (cnt <= 24) { S[0] = pos; S[1] = buf; S[2] = cnt; S[3] = fake; slowFill(data, S); pos = S[0]; buf = S[1]; cnt = S[2]; fake = S[3]; ff = S[5]; }
          }
          const w = (buf >>> (cnt - LOOK)) & LMASK;
          const f = fa[w];
          if (f !== 0) {
            cnt -= f & 255;
            k += (f >> 8) & 15;
            const z = NATURAL[k];
            co[z] = Math.imul(f >> 16, q[z]);
            nzl[nn++] = z;
            k++;
            continue;
          }
          const at = acs[b];
          let l = at.lookup[w];
          if (l === 0) {
            if (cnt < fake) throw overrunError(S[4] !== 0, pos);
            l = slowDecode(at, (buf >>> (cnt - 16)) & 0xffff, data, pos, cnt);
          }
          cnt -= l >> 8;
          const s = l & 15, r = (l >> 4) & 15;
          if (s === 0) {
            if (r === 15) { k += 16; continue; }
            break;
          }
          k += r;
          if (cnt < s) {
            while (cnt <= 24 && pos < ff) { buf = (buf << 8) | data[pos++]; cnt += 8; }
            if (cnt <= 24) { S[0] = pos; S[1] = buf; S[2] = cnt; S[3] = fake; slowFill(data, S); pos = S[0]; buf = S[1]; cnt = S[2]; fake = S[3]; ff = S[5]; }
          }
          cnt -= s;
          const z = NATURAL[k];
          co[z] = Math.imul(extend((buf >>> cnt) & ((1 << s) - 1), s), q[z]);
          nzl[nn++] = z;
          k++;
        }
        // bits consumed past a marker or the end: checked once per block (zero bits never make a bad code)
        if (cnt < fake) throw overrunError(S[4] !== 0, pos);
        const o = my * rowStep[b] + mx * colStep[b] + off[b];
        if (nn === 0) idctDcOnly(co[0], planes[b], o, strides[b]);
        else {
          idctIslow(blk, planes[b], o, strides[b], ws);
          for (let i = 0; i < nn; i++) blk[nzl[i]] = 0;
        }
      }
    }
  }
  return alignPos(data, pos, cnt, fake);
}

/** @param {number} n bytes of a kernel memory region, padded */
const pad16 = (n) => ((n + 15) & ~15) + 64;

/**
 * The WebAssembly entropy decoder and where its inputs live (byte offsets in its memory): the JPEG bytes, 8 Huffman
 * table slots, 4 quantisation tables (int32), NATURAL, the MCU's block descriptors, DC predictors, status words
 * and one zeroed block of coefficients.
 * @typedef {{ scan: (...a: number[]) => number, heap: Uint8Array, i32: Int32Array, u16: Uint16Array, data: number,
 *   tables: number, q: number, nat: number, descs: number, preds: number, state: number, coef: number }} ScanKernel
 */

/**
 * decodeBaselineScan done by the WebAssembly kernel: the same blocks, planes, errors and offsets.
 * @param {number} length of the JPEG data @param {number} start @param {Component[]} sc @param {number} restartInterval
 * @param {number} mcusPerLine @param {number} mcusPerColumn @param {ScanKernel} sk
 * @returns {number} offset after the scan's data
 */
function decodeBaselineScanWasm(length, start, sc, restartInterval, mcusPerLine, mcusPerColumn, sk, keep) {
  const single = sc.length === 1;
  const c0 = sc[0];
  const unitsPerLine = single ? Math.ceil(c0.width / 8) : mcusPerLine;
  const unitRows = single ? Math.ceil(c0.height / 8) : mcusPerColumn;
  const { heap, i32, u16 } = sk;
  /** @type {Map<Huffman, number>} */
  const placed = new Map();
  const place = (/** @type {Huffman} */ t) => {
    let o = placed.get(t);
    if (o === undefined) {
      o = sk.tables + HUFF.size * placed.size;
      placed.set(t, o);
      i32.set(t.fastDc, (o + HUFF.fastDc) >> 2);
      i32.set(t.fastAc, (o + HUFF.fastAc) >> 2);
      u16.set(t.lookup, (o + HUFF.lookup) >> 1);
      i32.set(t.maxcode, (o + HUFF.maxcode) >> 2);
      i32.set(t.valptr, (o + HUFF.valptr) >> 2);
      i32.set(t.mincode, (o + HUFF.mincode) >> 2);
      heap.set(t.values, o + HUFF.values);
    }
    return o;
  };
  let nb = 0;
  for (let ci = 0; ci < sc.length; ci++) {
    const c = sc[ci];
    const stride = c.bpl * 8;
    const q = sk.q + 256 * ci;
    i32.set(/** @type {Uint16Array} */ (c.qt), q >> 2);
    const dc = place(/** @type {Huffman} */ (c.dcTable)), ac = place(/** @type {Huffman} */ (c.acTable));
    const bh = single ? 1 : c.h, bv = single ? 1 : c.v;
    for (let v = 0; v < bv; v++) {
      for (let h = 0; h < bh; h++) {
        const d = (sk.descs + DESC.size * nb++) >> 2;
        // a component named twice in a (corrupt) scan keeps one DC predictor
        i32[d + (DESC.pred >> 2)] = sk.preds + 4 * sc.indexOf(c);
        i32[d + (DESC.dc >> 2)] = dc;
        i32[d + (DESC.ac >> 2)] = ac;
        i32[d + (DESC.q >> 2)] = q;
        i32[d + (DESC.plane >> 2)] = c.plane.byteOffset;
        i32[d + (DESC.stride >> 2)] = stride;
        i32[d + (DESC.rowStep >> 2)] = bv * 8 * stride;
        i32[d + (DESC.colStep >> 2)] = bh * 8;
        i32[d + (DESC.off >> 2)] = v * 8 * stride + h * 8;
        // keep: the plane rows [first, end) to fill; a block at z = plane + row * stride + col is transformed when
        // lo < z < hi, i.e. first - 7 <= row < end (0 <= col < stride)
        const kr = keep ? keep.get(c) : undefined;
        i32[d + (DESC.lo >> 2)] = kr ? c.plane.byteOffset + (kr[0] - 7) * stride - 1 : -2147483648;
        i32[d + (DESC.hi >> 2)] = kr ? c.plane.byteOffset + kr[1] * stride : 2147483647;
      }
    }
  }
  i32.fill(0, sk.preds >> 2, (sk.preds >> 2) + 4);
  const status = sk.scan(sk.data, sk.data + length, sk.data + start, unitRows, unitsPerLine, nb, sk.descs, restartInterval, sk.coef, sk.nat, sk.state);
  const st = sk.state >> 2;
  const at = i32[st];
  if (status === 0) return at;
  if (status === 1) throw overrunError(i32[st + 1] !== 0, at);
  if (status === 2) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: bad Huffman code`, at);
  if (status === 3) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends before restart marker RST${i32[st + 2]}`, at);
  throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: expected restart marker RST${i32[st + 2]}`, at);
}

/** @param {Uint8Array} d @param {number} p */
const u16 = (d, p) => (d[p] << 8) | d[p + 1];

/**
 * @typedef {{ width: number, height: number, channels: number, data: Uint8Array }} Image
 * HWC uint8 pixels, rows top to bottom.
 */

/**
 * Decode a JPEG to 3-channel HWC uint8 (RGB order, or BGR with `bgr`), like libjpeg-turbo's defaults.
 * Grayscale JPEGs are replicated to 3 channels (cv2.IMREAD_COLOR). EXIF orientation is returned, not applied.
 * `view`: the pixels may be left in this thread's kernel memory (valid until the next kernel use on this thread:
 * for a caller that reads them at once, as a resize that follows). `rows` (with `view`): (width, height) -> [first,
 * end) or null: the caller reads only those rows, the others may be left unwritten (an image without an EXIF
 * rotation; the kernels' colour path).
 * @param {Uint8Array} data
 * @param {{ bgr?: boolean, view?: boolean, rows?: (width: number, height: number) => [number, number] | null }} [opts]
 * @returns {Image & { orientation: number }}
 */
export function decodeJpeg(data, opts = {}) {
  // the entropy-coded bytes are copied into the kernels' memory: never from a view of it
  if (kernelOffset(data) >= 0) data = data.slice();
  if (data.length < 2 || data[0] !== 0xff || data[1] !== 0xd8) throw new ImageError('E_IMAGE_FORMAT', `${FMT}: no SOI marker`, 0);
  /** @type {(Uint16Array | null)[]} */
  const qts = [null, null, null, null];
  /** @type {(Huffman | null)[]} */
  const dcTables = [null, null, null, null];
  /** @type {(Huffman | null)[]} */
  const acTables = [null, null, null, null];
  /** @type {Component[]} */
  let comps = [];
  let frame = null;
  let progressive = false;
  let restartInterval = 0;
  let jfif = false;
  let adobe = -1;
  let orientation = 1;
  let eobrun = 0;
  let mcusPerLine = 0, mcusPerColumn = 0, maxH = 1, maxV = 1;
  let sawEoi = false;
  /** WebAssembly kernels and where the planes, the output and the upsampling rows live in their memory */
  let kern = null;
  let outOff = 0, sumsOff = 0, rowsOff = 0, progOff = 0;
  /** @type {Int32Array | null} the kernels' memory as int32 */
  let i32v = null;
  /** @type {ScanKernel | null} */
  let sk = null;
  let scans = 0;
  /**
   * With `view` and `rows`, per component the plane rows [first, end) the kernels' colour conversion of those
   * rows reads (set at the first scan; false: every row). Blocks outside are not transformed.
   * @type {Map<Component, [number, number]> | false | null}
   */
  let keep = null;
  const ws = new Int32Array(64);
  const blk = new Int32Array(64);
  const nzl = new Int32Array(64);
  let pos = 2;
  const need = (n, what) => { if (pos + n > data.length) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends inside ${what}`, pos); };

  while (!sawEoi) {
    // find the next marker, skipping fill bytes
    if (pos >= data.length) break;
    // libjpeg skips bytes before a marker (with a warning, "extraneous bytes before marker"), so do we
    if (data[pos] !== 0xff) {
      if (scans === 0 && !frame) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: expected a marker, found byte 0x${data[pos].toString(16)}`, pos);
      while (pos < data.length && data[pos] !== 0xff) pos++;
      continue;
    }
    while (pos < data.length && data[pos] === 0xff) pos++;
    if (pos >= data.length) break;
    const marker = data[pos++];
    if (marker === 0xd9) { sawEoi = true; break; }
    if (marker >= 0xd0 && marker <= 0xd7) continue; // stray RSTn between segments
    if (marker === 0x01) continue;
    need(2, 'a segment length');
    const len = u16(data, pos);
    if (len < 2) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: segment length ${len} < 2`, pos);
    need(len, `marker 0x${marker.toString(16)}'s segment`);
    const seg = pos + 2;
    const end = pos + len;
    switch (marker) {
      case 0xdb: { // DQT
        let p = seg;
        while (p < end) {
          const pq = data[p] >> 4, tq = data[p] & 15;
          if (tq > 3 || pq > 1) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: bad DQT table ${tq} precision ${pq}`, p);
          p++;
          const n = pq ? 128 : 64;
          if (p + n > end) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: DQT segment too short`, p);
          const t = new Uint16Array(64);
          for (let k = 0; k < 64; k++) t[NATURAL[k]] = pq ? u16(data, p + 2 * k) : data[p + k];
          qts[tq] = t;
          p += n;
        }
        break;
      }
      case 0xc4: { // DHT
        let p = seg;
        while (p < end) {
          if (p + 17 > end) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: DHT segment too short`, p);
          const tc = data[p] >> 4, th = data[p] & 15;
          if (tc > 1 || th > 3) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: bad DHT class ${tc} id ${th}`, p);
          const counts = data.subarray(p + 1, p + 17);
          let total = 0;
          for (let k = 0; k < 16; k++) total += counts[k];
          if (total > 256 || p + 17 + total > end) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: DHT table of ${total} codes does not fit its segment`, p);
          const values = new Uint8Array(256);
          values.set(data.subarray(p + 17, p + 17 + total));
          const t = buildHuffman(counts, values, p);
          if (tc === 0) dcTables[th] = t; else acTables[th] = t;
          p += 17 + total;
        }
        break;
      }
      case 0xdd: // DRI
        if (len < 4) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: DRI segment too short`, seg);
        restartInterval = u16(data, seg);
        break;
      case 0xe0:
        if (len >= 7 && data[seg] === 0x4a && data[seg + 1] === 0x46 && data[seg + 2] === 0x49 && data[seg + 3] === 0x46 && data[seg + 4] === 0) jfif = true;
        break;
      case 0xe1:
        orientation = exifOrientation(data, seg, end) ?? orientation;
        break;
      case 0xee:
        if (len >= 14 && data[seg] === 0x41 && data[seg + 1] === 0x64 && data[seg + 2] === 0x6f && data[seg + 3] === 0x62 && data[seg + 4] === 0x65) adobe = data[seg + 11];
        break;
      case 0xc0: case 0xc1: case 0xc2: { // SOF baseline, extended, progressive (Huffman)
        if (frame) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: more than one frame header`, pos);
        if (len < 8) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: SOF segment too short`, seg);
        const precision = data[seg];
        if (precision !== 8) throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: ${precision}-bit samples are not supported (8-bit only)`, seg);
        const height = u16(data, seg + 1), width = u16(data, seg + 3), nc = data[seg + 5];
        if (height === 0) throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: height 0 (DNL marker) is not supported`, seg + 1);
        checkImageSize(FMT, width, height);
        if (nc !== 1 && nc !== 3 && nc !== 4) throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: ${nc} components (1, 3 or 4 are supported)`, seg + 5);
        if (len < 8 + 3 * nc) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: SOF segment too short for ${nc} components`, seg);
        progressive = marker === 0xc2;
        for (let k = 0; k < nc; k++) {
          const b = seg + 6 + 3 * k;
          const h = data[b + 1] >> 4, v = data[b + 1] & 15, tq = data[b + 2];
          if (h < 1 || h > 4 || v < 1 || v > 4 || tq > 3) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: component ${k} has sampling ${h}x${v}, table ${tq}`, b);
          comps.push({ id: data[b], h, v, tq, bpl: 0, bpc: 0, coefs: new Int16Array(0), dcTable: null, acTable: null, pred: 0, width: 0, height: 0, qt: null, plane: new Uint8Array(0) });
        }
        maxH = Math.max(...comps.map((c) => c.h));
        maxV = Math.max(...comps.map((c) => c.v));
        mcusPerLine = Math.ceil(width / (8 * maxH));
        mcusPerColumn = Math.ceil(height / (8 * maxV));
        let coded = 0;
        for (const c of comps) {
          if (maxH % c.h !== 0 || maxV % c.v !== 0) throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: fractional sampling ${c.h}x${c.v} of ${maxH}x${maxV}`, seg);
          c.width = Math.ceil((width * c.h) / maxH);
          c.height = Math.ceil((height * c.v) / maxV);
          c.bpl = mcusPerLine * c.h;
          c.bpc = mcusPerColumn * c.v;
          coded += Math.ceil(c.width / 8) * Math.ceil(c.height / 8);
        }
        // every block costs at least one bit (its DC code), so the bytes left bound the blocks: a small file
        // claiming a big image is refused before the coefficients are allocated
        if (coded > 8 * (data.length - end) + 64) {
          throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: ${width}x${height} needs ${coded} blocks, the ${data.length - end} bytes left can hold at most ${8 * (data.length - end)}`, seg);
        }
        // the sample planes, then the output and the upsampling rows, in the kernels' memory when there are kernels
        // (each region padded: the kernels work in groups of 16 pixels)
        const pad = (/** @type {number} */ n) => ((n + 15) & ~15) + 64;
        let at = 64;
        const planeOff = comps.map((c) => { const o = at; at += pad(c.bpl * 8 * c.bpc * 8); return o; });
        outOff = at; at += pad(width * height * 3);
        sumsOff = at + 16; at += 2 * pad(2 * width + 32) + 16;
        rowsOff = at; at += 2 * pad(2 * width + 32);
        // baseline: the entropy decoder's data copy, tables, MCU layout and state
        const dataOff = at; at += progressive ? 0 : pad(data.length);
        // progressive: every component's coefficients (int16), its quantisation table (int32) and a scratch block
        const coefsOff = comps.map((c) => { const o = at; at += progressive ? pad(c.bpl * c.bpc * 128) : 0; return o; });
        progOff = at; at += progressive ? 512 : 0;
        const tblOff = at; at += 8 * HUFF.size;
        const scanOff = at; at += 4 * 256 + 320 + 64 * DESC.size + 16 + 16 + 256;
        kern = jpegKernels(at);
        const heap = kern ? new Uint8Array(kern.memory.buffer) : null;
        if (heap && kern) {
          heap.fill(0, 0, outOff);
          if (progressive) heap.fill(0, coefsOff[0], progOff + 512);
          i32v = new Int32Array(kern.memory.buffer);
          if (!progressive) {
            heap.set(data, dataOff);
            heap.fill(0, dataOff + data.length, tblOff);
            const q = scanOff, nat = q + 4 * 256, descs = nat + 320, preds = descs + 64 * DESC.size, state = preds + 16, coef = state + 16;
            heap.fill(0, coef, coef + 256);
            i32v.set(NATURAL, nat >> 2);
            sk = { scan: kern.exports.scan, heap, i32: i32v, u16: new Uint16Array(kern.memory.buffer), data: dataOff, tables: tblOff, q, nat, descs, preds, state, coef };
          }
        }
        comps.forEach((c, i) => {
          // progressive: every coefficient kept until the last scan; baseline: each block is transformed as it is
          // decoded, straight into the component's sample plane (one block of coefficients at a time)
          c.coefs = progressive && heap ? new Int16Array(heap.buffer, coefsOff[i], c.bpl * c.bpc * 64) : new Int16Array(progressive ? c.bpl * c.bpc * 64 : 64);
          const n = c.bpl * 8 * c.bpc * 8;
          c.plane = heap ? heap.subarray(planeOff[i], planeOff[i] + n) : new Uint8Array(n);
        });
        frame = { width, height };
        break;
      }
      case 0xc3: case 0xc5: case 0xc6: case 0xc7: case 0xc9: case 0xca: case 0xcb: case 0xcd: case 0xce: case 0xcf:
        throw new ImageError('E_IMAGE_UNSUPPORTED', `${FMT}: SOF${marker - 0xc0} (${marker >= 0xc9 ? 'arithmetic coding' : marker === 0xc3 ? 'lossless' : 'hierarchical'}) is not supported`, pos - 1);
      case 0xda: { // SOS
        if (!frame) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: scan before the frame header`, pos);
        const ns = data[seg];
        if (ns < 1 || ns > 4 || len < 6 + 2 * ns) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: bad scan header`, seg);
        /** @type {Component[]} */
        const sc = [];
        for (let k = 0; k < ns; k++) {
          const id = data[seg + 1 + 2 * k], t = data[seg + 2 + 2 * k];
          const c = comps.find((x) => x.id === id);
          if (!c) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: scan names unknown component ${id}`, seg);
          c.dcTable = dcTables[t >> 4] ?? null;
          c.acTable = acTables[t & 15] ?? null;
          sc.push(c);
        }
        const ss = data[seg + 1 + 2 * ns], se = data[seg + 2 + 2 * ns], ah = data[seg + 3 + 2 * ns] >> 4, al = data[seg + 3 + 2 * ns] & 15;
        if (!progressive && (ss !== 0 || se !== 63)) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: baseline scan with spectral range ${ss}..${se}`, seg);
        if (progressive && (se > 63 || ss > se || (ss === 0 && se !== 0) || (ss > 0 && ns !== 1) || al > 13)) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: bad progressive scan ${ss}..${se} ah ${ah} al ${al}`, seg);
        for (const c of sc) {
          if (!qts[c.tq]) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: component ${c.id} uses undefined quantisation table ${c.tq}`, seg);
          // libjpeg latches a component's table when the component is first scanned
          if (!c.qt || !progressive) c.qt = qts[c.tq];
          if ((ss === 0 && ah === 0 && !c.dcTable) || (se > 0 && !c.acTable)) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: scan uses an undefined Huffman table`, seg);
          c.pred = 0;
        }
        eobrun = 0;
        scans++;
        if (progressive) pos = decodeScan(new BitReader(data, end), sc, ss, se, ah, al);
        else if (sk) {
          if (keep === null) keep = planeRows();
          pos = decodeBaselineScanWasm(data.length, end, sc, restartInterval, mcusPerLine, mcusPerColumn, sk, keep || null);
        }
        else pos = decodeBaselineScan(data, end, sc, restartInterval, mcusPerLine, mcusPerColumn, blk, ws, nzl);
        continue;
      }
      default:
        break; // APPn, COM, and others: skipped
    }
    pos = end;
  }
  /**
   * The plane rows the kernels' colour path reads for the output rows opts.rows names (4:4:4, 4:2:2 and 4:2:0
   * YCbCr: chroma rows n and its neighbour for 4:2:0), or false.
   * @returns {Map<Component, [number, number]> | false}
   */
  function planeRows() {
    if (!opts.view || !opts.rows || orientation !== 1 || !frame || comps.length !== 3) return false;
    const [cy, cb, cr] = comps;
    if (cy.h !== maxH || cy.v !== maxV || cb.h !== cr.h || cb.v !== cr.v) return false;
    const fh = maxH / cb.h, fv = maxV / cb.v;
    if (!((fh === 1 && fv === 1) || (fh === 2 && (fv === 1 || fv === 2) && cb.width > 2))) return false;
    const r = opts.rows(frame.width, frame.height);
    if (!r) return false;
    const y0 = Math.max(0, r[0]), y1 = Math.min(frame.height, r[1]);
    if (y0 >= y1) return false;
    const chroma = /** @type {[number, number]} */ (fv === 1 ? [y0, y1] : [Math.max(0, (y0 >> 1) - 1), Math.min(cb.height, ((y1 - 1) >> 1) + 2)]);
    return new Map([[cy, [y0, y1]], [cb, chroma], [cr, chroma]]);
  }

  if (!frame || scans === 0) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends before ${frame ? 'any scan' : 'the frame header'}`, pos);
  if (!sawEoi && !progressive) {
    // a baseline image is complete after its scan; a missing EOI is tolerated like libjpeg does
  }

  /**
   * One progressive scan: coefficients (or their bits) accumulated in each component's coefficient array.
   * @param {BitReader} br @param {Component[]} sc @param {number} ss @param {number} se @param {number} ah @param {number} al
   * @returns {number} offset after the scan's data
   */
  function decodeScan(br, sc, ss, se, ah, al) {
    const single = sc.length === 1;
    const c0 = sc[0];
    const units = single ? Math.ceil(c0.width / 8) * Math.ceil(c0.height / 8) : mcusPerLine * mcusPerColumn;
    const unitsPerLine = single ? Math.ceil(c0.width / 8) : mcusPerLine;
    /** @type {(c: Component, off: number) => void} */
    let decodeBlock;
    if (ss === 0) decodeBlock = ah === 0 ? blockDcFirst : blockDcRefine;
    else decodeBlock = ah === 0 ? blockAcFirst : blockAcRefine;

    function blockDcFirst(c, off) {
      const t = br.decode(/** @type {Huffman} */ (c.dcTable));
      c.pred += t === 0 ? 0 : br.receiveExtend(t);
      c.coefs[off] = c.pred * (1 << al);
    }
    function blockDcRefine(c, off) {
      if (br.bit()) c.coefs[off] |= 1 << al;
    }
    function blockAcFirst(c, off) {
      if (eobrun > 0) { eobrun--; return; }
      const co = c.coefs, ac = /** @type {Huffman} */ (c.acTable);
      for (let k = ss; k <= se; k++) {
        const rs = br.decode(ac);
        const s = rs & 15, r = rs >> 4;
        if (s !== 0) {
          k += r;
          co[off + NATURAL[k]] = br.receiveExtend(s) * (1 << al);
        } else if (r === 15) {
          k += 15;
        } else {
          eobrun = (1 << r) - 1;
          if (r) eobrun += br.bits(r);
          break;
        }
      }
    }
    function blockAcRefine(c, off) {
      const co = c.coefs, ac = /** @type {Huffman} */ (c.acTable);
      const p1 = 1 << al, m1 = -1 << al;
      let k = ss;
      if (eobrun === 0) {
        for (; k <= se; k++) {
          const rs = br.decode(ac);
          let r = rs >> 4, s = rs & 15;
          if (s !== 0) {
            if (s !== 1) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: bad progressive refinement code`, br.pos);
            s = br.bit() ? p1 : m1;
          } else if (r !== 15) {
            eobrun = 1 << r;
            if (r) eobrun += br.bits(r);
            break;
          }
          do {
            const z = off + NATURAL[k];
            if (co[z] !== 0) {
              if (br.bit() && (co[z] & p1) === 0) co[z] += co[z] >= 0 ? p1 : m1;
            } else if (--r < 0) break;
            k++;
          } while (k <= se);
          if (s !== 0) co[off + NATURAL[k]] = s;
        }
      }
      if (eobrun > 0) {
        for (; k <= se; k++) {
          const z = off + NATURAL[k];
          if (co[z] !== 0 && br.bit() && (co[z] & p1) === 0) co[z] += co[z] >= 0 ? p1 : m1;
        }
        eobrun--;
      }
    }

    let restartsLeft = restartInterval;
    let expectRst = 0;
    for (let u = 0; u < units; u++) {
      if (restartInterval && restartsLeft === 0) {
        const at = br.align();
        if (at + 1 >= data.length) throw new ImageError('E_IMAGE_TRUNCATED', `${FMT}: the data ends before restart marker RST${expectRst}`, at);
        if (data[at] !== 0xff || data[at + 1] !== 0xd0 + expectRst) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: expected restart marker RST${expectRst}`, at);
        br.pos = at + 2;
        expectRst = (expectRst + 1) & 7;
        restartsLeft = restartInterval;
        eobrun = 0;
        for (const c of sc) c.pred = 0;
      }
      restartsLeft--;
      if (single) {
        const by = Math.floor(u / unitsPerLine), bx = u - by * unitsPerLine;
        decodeBlock(c0, (by * c0.bpl + bx) * 64);
      } else {
        const my = Math.floor(u / mcusPerLine), mx = u - my * mcusPerLine;
        for (const c of sc) {
          for (let v = 0; v < c.v; v++) {
            const row = (my * c.v + v) * c.bpl + mx * c.h;
            for (let h = 0; h < c.h; h++) decodeBlock(c, (row + h) * 64);
          }
        }
      }
    }
    return br.align();
  }

  // progressive: IDCT every component into its plane now that all scans are in
  if (progressive) {
    for (const c of comps) {
      const stride = c.bpl * 8;
      const q = /** @type {Uint16Array} */ (c.qt ?? qts[c.tq]);
      if (!q) throw new ImageError('E_IMAGE_CORRUPT', `${FMT}: component ${c.id} has no quantisation table`, pos);
      // only blocks that cover real samples matter; the rest stay 0
      const bw = Math.ceil(c.width / 8), bh = Math.ceil(c.height / 8);
      if (kern && i32v) {
        i32v.set(q, progOff >> 2);
        kern.exports.dequantIdct(c.coefs.byteOffset, progOff, c.plane.byteOffset, stride, bw, bh, c.bpl, progOff + 256);
        continue;
      }
      for (let by = 0; by < bh; by++) {
        for (let bx = 0; bx < bw; bx++) {
          const co = c.coefs, at = (by * c.bpl + bx) * 64;
          let ac = 0;
          for (let i = 1; i < 64; i++) { const v = co[at + i]; blk[i] = v * q[i]; ac |= v; }
          if (ac === 0) idctDcOnly(co[at] * q[0], c.plane, by * 8 * stride + bx * 8, stride);
          else { blk[0] = co[at] * q[0]; idctIslow(blk, c.plane, by * 8 * stride + bx * 8, stride, ws); }
        }
      }
    }
    blk.fill(0);
  }
  const planes = comps.map((c) => c.plane);

  const { width, height } = /** @type {{ width: number, height: number }} */ (frame);
  checkImageSize(FMT, width, height);
  const bgr = !!opts.bgr;
  // libjpeg's guess of the colour space: JFIF -> YCbCr; Adobe transform 0 -> RGB; ids 'R','G','B' -> RGB
  let rgb = false;
  if (comps.length === 3 && !jfif) {
    if (adobe === 0) rgb = true;
    else if (adobe < 0 && comps[0].id === 0x52 && comps[1].id === 0x47 && comps[2].id === 0x42) rgb = true;
  }
  if (keep) {
    // blocks were left untransformed for rows the kernels' colour path below does not convert: any other path (or
    // an EXIF rotation met after the scan) reads every row, so the image is decoded again whole
    const [cy, cb, cr] = comps;
    const fh = maxH / cb.h, fv = maxV / cb.v;
    const kernelPath = !rgb && cy.h === maxH && cy.v === maxV && cb.h === cr.h && cb.v === cr.v && ((fh === 1 && fv === 1) || (fh === 2 && (fv === 1 || fv === 2) && cb.width > 2));
    if (!kernelPath || orientation !== 1) return decodeJpeg(data, { bgr: opts.bgr, view: opts.view });
  }
  if (kern && comps.length === 3 && !rgb && comps[0].h === maxH && comps[0].v === maxV && comps[1].h === comps[2].h && comps[1].v === comps[2].v) {
    const [cy, cb] = comps;
    const fh = maxH / cb.h, fv = maxV / cb.v;
    if ((fh === 1 && fv === 1) || (fh === 2 && (fv === 1 || fv === 2) && cb.width > 2)) {
      const k = kern.exports;
      const ycc = bgr ? k.yccBgr : k.yccRgb;
      const yo = planes[0].byteOffset, bo = planes[1].byteOffset, ro = planes[2].byteOffset;
      const ys = cy.bpl * 8, cs = cb.bpl * 8, cw = cb.width, ch = cb.height;
      const sb = sumsOff, sr = sumsOff + pad16(2 * width + 32), ub = rowsOff, ur = rowsOff + pad16(2 * width + 32);
      // view with `rows`: only the rows its reader will read are converted (the others are left as they were)
      let y0 = 0, y1 = height;
      if (opts.view && opts.rows && orientation === 1) {
        const r = opts.rows(width, height);
        if (r) { y0 = Math.max(0, r[0]); y1 = Math.min(height, r[1]); }
      }
      for (let y = y0; y < y1; y++) {
        const o = outOff + y * width * 3;
        if (fh === 1) { ycc(yo + y * ys, bo + y * cs, ro + y * cs, o, width); continue; }
        let n = y, f = y, bl = 4, br = 8; // 2x1: 4 s[j] as the sums, biases scaled to match (3 s + s' + 1 or 2) >> 2
        if (fv === 2) {
          n = y >> 1;
          f = y & 1 ? (n < ch - 1 ? n + 1 : ch - 1) : (n > 0 ? n - 1 : 0);
          bl = 8; br = 7;
        }
        k.colsum(bo + n * cs, bo + f * cs, sb, cw);
        k.colsum(ro + n * cs, ro + f * cs, sr, cw);
        k.up2(sb, ub, cw, bl, br);
        k.up2(sr, ur, cw, bl, br);
        ycc(yo + y * ys, ub, ur, o, width);
      }
      // view: the caller reads the pixels where the kernels wrote them (until their next use on this thread)
      const out = opts.view ? new Uint8Array(kern.memory.buffer, outOff, width * height * 3) : new Uint8Array(kern.memory.buffer.slice(outOff, outOff + width * height * 3));
      return { width, height, channels: 3, data: out, orientation };
    }
  }
  const out = new Uint8Array(width * height * 3);
  // the common layouts in one pass each, straight into the output (clamping stores do the range limiting)
  const oc = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const ri = bgr ? 2 : 0, bi = bgr ? 0 : 2;
  if (comps.length === 1 && comps[0].h === maxH && comps[0].v === maxV) {
    gray(planes[0], comps[0].bpl * 8, out, width, height);
    return { width, height, channels: 3, data: out, orientation };
  }
  if (comps.length === 3 && !rgb && comps[0].h === maxH && comps[0].v === maxV && comps[1].h === comps[2].h && comps[1].v === comps[2].v) {
    const [cy, cb] = comps;
    const fh = maxH / cb.h, fv = maxV / cb.v;
    const args = /** @type {const} */ ([planes[0], cy.bpl * 8, planes[1], planes[2], cb.bpl * 8, cb.width, cb.height, oc, width, height, ri, bi]);
    if (fh === 1 && fv === 1) { ycc11(...args); return { width, height, channels: 3, data: out, orientation }; }
    if (fh === 2 && (fv === 1 || fv === 2) && cb.width > 2) { yccH2(...args, fv); return { width, height, channels: 3, data: out, orientation }; }
    if (fh === 1 && fv === 2) { ycc12(...args); return { width, height, channels: 3, data: out, orientation }; }
  }
  // otherwise row by row: each component's row upsampled into a small buffer, then converted into the output
  const rows = comps.map((c, i) => rowUpsampler(c, planes[i], c.bpl * 8, width, maxH, maxV));
  for (let y = 0; y < height; y++) {
    const o = y * width * 3;
    if (comps.length === 1) { const g = rows[0](y); planarToInterleaved(g, g, g, out, o, width, false); }
    // libjpeg: Adobe transform 2 is YCCK (converted to CMYK), else CMYK; OpenCV then maps CMYK to BGR
    else if (comps.length === 4) cmykToRgb(rows[0](y), rows[1](y), rows[2](y), rows[3](y), adobe === 2, out, o, width, bgr);
    else if (rgb) planarToInterleaved(rows[0](y), rows[1](y), rows[2](y), out, o, width, bgr);
    else yccToRgb(rows[0](y), rows[1](y), rows[2](y), out, o, width, bgr);
  }
  return { width, height, channels: 3, data: out, orientation };
}

/**
 * A full-resolution single component replicated to 3 channels.
 * @param {Uint8Array} p @param {number} ps @param {Uint8Array} out @param {number} width @param {number} height
 */
function gray(p, ps, out, width, height) {
  for (let y = 0, o = 0; y < height; y++) {
    for (let x = 0, r = y * ps; x < width; x++, r++, o += 3) { const v = p[r]; out[o] = v; out[o + 1] = v; out[o + 2] = v; }
  }
}

// The fused YCbCr paths below: Y at full resolution, Cb and Cr sampled alike; each output pixel is jdcolor.c's
// ycc_rgb_convert of Y and the chroma values rowUpsampler would give (same filters, same edge rules).
// Arguments: Y plane and stride, Cb and Cr planes and their stride, chroma width and height, the clamping output,
// image width and height, offsets of R and B in a pixel.

/**
 * 4:4:4.
 * @param {Uint8Array} Y @param {number} ys @param {Uint8Array} Cb @param {Uint8Array} Cr @param {number} cs
 * @param {number} cw @param {number} ch @param {Uint8ClampedArray} out @param {number} width @param {number} height
 * @param {number} ri @param {number} bi
 */
function ycc11(Y, ys, Cb, Cr, cs, cw, ch, out, width, height, ri, bi) {
  for (let y = 0, o = 0; y < height; y++) {
    for (let x = 0, r = y * ys, c = y * cs; x < width; x++, r++, c++, o += 3) {
      const yy = Y[r], cb = Cb[c], cr = Cr[c];
      out[o + ri] = yy + CR_R[cr];
      out[o + 1] = yy + ((CB_G[cb] + CR_G[cr]) >> 16);
      out[o + bi] = yy + CB_B[cb];
    }
  }
}

/**
 * 4:4:0 (chroma halved vertically): (3 near + far + 1 or 2) >> 2, rows above and below.
 * @param {Uint8Array} Y @param {number} ys @param {Uint8Array} Cb @param {Uint8Array} Cr @param {number} cs
 * @param {number} cw @param {number} ch @param {Uint8ClampedArray} out @param {number} width @param {number} height
 * @param {number} ri @param {number} bi
 */
function ycc12(Y, ys, Cb, Cr, cs, cw, ch, out, width, height, ri, bi) {
  for (let y = 0, o = 0; y < height; y++) {
    const i = y >> 1, odd = y & 1;
    const far = odd ? (i < ch - 1 ? i + 1 : ch - 1) : (i > 0 ? i - 1 : 0);
    const bias = odd ? 2 : 1;
    for (let x = 0, r = y * ys, n = i * cs, f = far * cs; x < width; x++, r++, n++, f++, o += 3) {
      const yy = Y[r];
      const cb = (Cb[n] * 3 + Cb[f] + bias) >> 2, cr = (Cr[n] * 3 + Cr[f] + bias) >> 2;
      out[o + ri] = yy + CR_R[cr];
      out[o + 1] = yy + ((CB_G[cb] + CR_G[cr]) >> 16);
      out[o + bi] = yy + CB_B[cb];
    }
  }
}

/**
 * Chroma halved horizontally, 4:2:2 (fv 1) or 4:2:0 (fv 2): column sums 3 near + far (4:2:0: the row above
 * for even output rows, below for odd; 4:2:2: the row itself, so the sum is 4 s), then the horizontal
 * triangle filter on them, left (3 s[j] + s[j-1] + bl) >> 4, right (3 s[j] + s[j+1] + br) >> 4. With the sums
 * 4 s and biases 4, 8 that is exactly jdsample's 4:2:2 rounding, (3 s + s' + 1 | 2) >> 2; 4:2:0's are 8, 7.
 * @param {Uint8Array} Y @param {number} ys @param {Uint8Array} Cb @param {Uint8Array} Cr @param {number} cs
 * @param {number} cw @param {number} ch @param {Uint8ClampedArray} out @param {number} width @param {number} height
 * @param {number} ri @param {number} bi @param {1 | 2} fv
 */
function yccH2(Y, ys, Cb, Cr, cs, cw, ch, out, width, height, ri, bi, fv) {
  const full = Math.min(cw - 1, width >> 1);
  const bl = fv === 2 ? 8 : 4, br = fv === 2 ? 7 : 8;
  for (let y = 0; y < height; y++) {
    const i = fv === 2 ? y >> 1 : y;
    const far = fv === 1 ? i : y & 1 ? (i < ch - 1 ? i + 1 : ch - 1) : (i > 0 ? i - 1 : 0);
    const n = i * cs, f = far * cs;
    let r = y * ys, o = y * width * 3;
    let bc = Cb[n] * 3 + Cb[f], rcur = Cr[n] * 3 + Cr[f], bp = bc, rp = rcur;
    let j = 0;
    for (; j < full; j++, r += 2, o += 6) {
      const bn = Cb[n + j + 1] * 3 + Cb[f + j + 1], rn = Cr[n + j + 1] * 3 + Cr[f + j + 1];
      let cb = (bc * 3 + bp + bl) >> 4, cr = (rcur * 3 + rp + bl) >> 4;
      let yy = Y[r];
      out[o + ri] = yy + CR_R[cr];
      out[o + 1] = yy + ((CB_G[cb] + CR_G[cr]) >> 16);
      out[o + bi] = yy + CB_B[cb];
      cb = (bc * 3 + bn + br) >> 4; cr = (rcur * 3 + rn + br) >> 4;
      yy = Y[r + 1];
      out[o + 3 + ri] = yy + CR_R[cr];
      out[o + 4] = yy + ((CB_G[cb] + CR_G[cr]) >> 16);
      out[o + 3 + bi] = yy + CB_B[cb];
      bp = bc; bc = bn; rp = rcur; rcur = rn;
    }
    for (; j < cw; j++, r += 2, o += 6) {
      const last = j + 1 >= cw;
      const bn = last ? bc : Cb[n + j + 1] * 3 + Cb[f + j + 1], rn = last ? rcur : Cr[n + j + 1] * 3 + Cr[f + j + 1];
      if (2 * j < width) {
        const cb = (bc * 3 + bp + bl) >> 4, cr = (rcur * 3 + rp + bl) >> 4, yy = Y[r];
        out[o + ri] = yy + CR_R[cr];
        out[o + 1] = yy + ((CB_G[cb] + CR_G[cr]) >> 16);
        out[o + bi] = yy + CB_B[cb];
      }
      if (2 * j + 1 < width) {
        const cb = (bc * 3 + bn + br) >> 4, cr = (rcur * 3 + rn + br) >> 4, yy = Y[r + 1];
        out[o + 3 + ri] = yy + CR_R[cr];
        out[o + 4] = yy + ((CB_G[cb] + CR_G[cr]) >> 16);
        out[o + 3 + bi] = yy + CB_B[cb];
      }
      bp = bc; bc = bn; rp = rcur; rcur = rn;
    }
  }
}

/**
 * jdcolor.c's ycc_rgb_convert, interleaved into RGB (or BGR).
 * @param {Uint8Array} py @param {Uint8Array} pcb @param {Uint8Array} pcr @param {Uint8Array} out @param {number} o0
 * @param {number} n @param {boolean} bgr
 */
function yccToRgb(py, pcb, pcr, out, o0, n, bgr) {
  const ri = bgr ? 2 : 0, bi = bgr ? 0 : 2;
  for (let i = 0, o = o0; i < n; i++, o += 3) {
    const y = py[i], cb = pcb[i], cr = pcr[i];
    const r = y + CR_R[cr];
    const g = y + ((CB_G[cb] + CR_G[cr]) >> 16);
    const b = y + CB_B[cb];
    out[o + ri] = r < 0 ? 0 : r > 255 ? 255 : r;
    out[o + 1] = g < 0 ? 0 : g > 255 ? 255 : g;
    out[o + bi] = b < 0 ? 0 : b > 255 ? 255 : b;
  }
}

/**
 * 4-component JPEGs as cv2.imdecode returns them: libjpeg's CMYK output (YCCK first converted with the YCbCr
 * tables and inverted, K kept), then OpenCV's icvCvt_CMYK2BGR: each of C, M, Y becomes k - ((255 - v) * k >> 8)
 * as R, G, B (Adobe's inverted CMYK).
 * @param {Uint8Array} p0 @param {Uint8Array} p1 @param {Uint8Array} p2 @param {Uint8Array} p3 @param {boolean} ycck
 * @param {Uint8Array} out @param {number} o0 @param {number} n @param {boolean} bgr
 */
function cmykToRgb(p0, p1, p2, p3, ycck, out, o0, n, bgr) {
  const ri = bgr ? 2 : 0, bi = bgr ? 0 : 2;
  const clamp = (/** @type {number} */ v) => (v < 0 ? 0 : v > 255 ? 255 : v);
  for (let i = 0, o = o0; i < n; i++, o += 3) {
    let c = p0[i], m = p1[i], y = p2[i];
    const k = p3[i];
    if (ycck) {
      const yy = c, cb = m, cr = y;
      c = 255 - clamp(yy + CR_R[cr]);
      m = 255 - clamp(yy + ((CB_G[cb] + CR_G[cr]) >> 16));
      y = 255 - clamp(yy + CB_B[cb]);
    }
    out[o + ri] = k - (((255 - c) * k) >> 8);
    out[o + 1] = k - (((255 - m) * k) >> 8);
    out[o + bi] = k - (((255 - y) * k) >> 8);
  }
}

/**
 * @param {Uint8Array} a @param {Uint8Array} b @param {Uint8Array} c @param {Uint8Array} out @param {number} o0
 * @param {number} n @param {boolean} swap
 */
function planarToInterleaved(a, b, c, out, o0, n, swap) {
  const x = swap ? c : a, z = swap ? a : c;
  for (let i = 0, o = o0; i < n; i++, o += 3) { out[o] = x[i]; out[o + 1] = b[i]; out[o + 2] = z[i]; }
}

/**
 * One output row of jdsample.c's horizontal triangle filter over column values s[j]:
 * left = (3 s[j] + s[j-1] + biasL) >> shift, right = (3 s[j] + s[j+1] + biasR) >> shift, edges repeated.
 * 2x1 uses the row itself (shift 2, biases 1, 2); 2x2 the column sums 3 near + far (shift 4, biases 8, 7).
 * @param {Int32Array} s @param {number} cw @param {Uint8Array} out @param {number} o @param {number} width
 * @param {number} shift @param {number} biasL @param {number} biasR
 */
function fancyRow(s, cw, out, o, width, shift, biasL, biasR) {
  const full = Math.min(cw - 1, width >> 1);
  let prev = s[0];
  let j = 0;
  for (; j < full; j++) {
    const cur = s[j], t = cur * 3, x = o + 2 * j;
    out[x] = (t + prev + biasL) >> shift;
    out[x + 1] = (t + s[j + 1] + biasR) >> shift;
    prev = cur;
  }
  for (; j < cw; j++) {
    const cur = s[j], t = cur * 3, x = o + 2 * j;
    const next = j + 1 < cw ? s[j + 1] : cur;
    if (2 * j < width) out[x] = (t + prev + biasL) >> shift;
    if (2 * j + 1 < width) out[x + 1] = (t + next + biasR) >> shift;
    prev = cur;
  }
}

/**
 * One component brought to full resolution one output row at a time, the way jdsample.c does it: "fancy"
 * triangle filters for 2x1, 1x2 and 2x2 (2x1 and 2x2 only when the component is wider than 2 samples), box
 * replication otherwise. Rows and columns past the component's real samples are the edge samples repeated
 * (jdmainct.c context rows). Returns y -> the row's `width` samples (a view, valid until the next call).
 * @param {Component} c @param {Uint8Array} plane @param {number} stride
 * @param {number} width @param {number} maxH @param {number} maxV
 * @returns {(y: number) => Uint8Array}
 */
function rowUpsampler(c, plane, stride, width, maxH, maxV) {
  const fh = maxH / c.h, fv = maxV / c.v;
  const cw = c.width, ch = c.height;
  const buf = new Uint8Array(width);
  if (fh === 1 && fv === 1) return (y) => plane.subarray(y * stride, y * stride + width);
  if (fh === 2 && fv === 1 && cw > 2) {
    const row = new Int32Array(cw);
    return (y) => {
      const r = y * stride;
      for (let j = 0; j < cw; j++) row[j] = plane[r + j];
      fancyRow(row, cw, buf, 0, width, 2, 1, 2);
      return buf;
    };
  }
  if (fh === 1 && fv === 2) {
    return (y) => {
      const i = y >> 1;
      const odd = y & 1;
      const far = odd ? (i < ch - 1 ? i + 1 : ch - 1) : (i > 0 ? i - 1 : 0);
      const rn = i * stride, rf = far * stride, bias = odd ? 2 : 1;
      for (let x = 0; x < width; x++) buf[x] = (plane[rn + x] * 3 + plane[rf + x] + bias) >> 2;
      return buf;
    };
  }
  if (fh === 2 && fv === 2 && cw > 2) {
    const sums = new Int32Array(cw);
    return (y) => {
      const i = y >> 1;
      const far = y & 1 ? (i < ch - 1 ? i + 1 : ch - 1) : (i > 0 ? i - 1 : 0);
      const rn = i * stride, rf = far * stride;
      for (let j = 0; j < cw; j++) sums[j] = plane[rn + j] * 3 + plane[rf + j];
      fancyRow(sums, cw, buf, 0, width, 4, 8, 7);
      return buf;
    };
  }
  return (y) => {
    const r = Math.floor(y / fv) * stride;
    for (let x = 0; x < width; x++) buf[x] = plane[r + Math.floor(x / fh)];
    return buf;
  };
}
