// Bilinear resizing of HWC uint8 images, reproducing two libraries exactly:
//  - OpenCV's cv2.resize(INTER_LINEAR) on uint8 (imgproc resize.cpp, x86-64 build with SSE2 baseline as in
//    Debian's python3-opencv 4.6): source coordinate (d+0.5)*scale-0.5 in float32, weights round(w*2048)
//    (INTER_RESIZE_COEF_BITS 11), columns clamped, rows clamped without touching the weights, a horizontal pass
//    into int32 rows and a vertical pass. OpenCV's vertical pass for uint8 is its SIMD kernel's rounding,
//    ((S0>>4)*b0>>16) + ((S1>>4)*b1>>16), then (t+2)>>2 -- not the scalar (S0*b0 + S1*b1 + 2^21)>>22, which
//    differs by 1 in about 1% of values. Measured against Debian's cv2 4.6 on 432 shapes (1, 3 and 4 channels,
//    widths 1..170), every value of every row follows the SIMD rounding, tails included.
//    An exact 2x reduction is OpenCV's INTER_AREA fast path, (a+b+c+d+2)>>2; an unchanged size is a copy.
//  - PIL's Image.resize(BILINEAR) on 8-bit images (Pillow libImaging/Resample.c): triangle filter whose support
//    grows with the reduction factor, weights normalised then scaled to 22-bit integers, a horizontal pass
//    rounded to uint8, then a vertical pass, each (sum + 2^21) >> 22 clipped.
import { ImageError, MAX_IMAGE_PIXELS } from './errors.mjs';
import { jpegKernels, kernelOffset } from './jpeg-wasm.mjs';

/** @typedef {{ width: number, height: number, channels: number, data: Uint8Array }} Image */

/** C's lrint in the default rounding mode: half to even. @param {number} v */
function rint(v) {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** @param {{ width: number, height: number }} img @param {number} w @param {number} h @param {string} what */
export function checkResize(img, w, h, what) {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1 || w > 65535 || h > 65535 || w * h > MAX_IMAGE_PIXELS) {
    throw new ImageError('E_IMAGE_ARG', `${what}: target size ${w}x${h} is not a size of 1..65535 pixels per side and at most ${MAX_IMAGE_PIXELS} pixels`);
  }
  if (img.width < 1 || img.height < 1) throw new ImageError('E_IMAGE_ARG', `${what}: empty source image`);
}

/**
 * A rectangle of a resize's output: { x, y, width, height } inside the width x height result.
 * @typedef {{ x: number, y: number, width: number, height: number }} Window
 */

/** @param {Window | undefined} win @param {number} width @param {number} height @param {string} what @returns {Window} */
function windowOf(win, width, height, what) {
  if (!win) return { x: 0, y: 0, width, height };
  const { x, y, width: ww, height: wh } = win;
  if (![x, y, ww, wh].every(Number.isInteger) || x < 0 || y < 0 || ww < 1 || wh < 1 || x + ww > width || y + wh > height) {
    throw new ImageError('E_IMAGE_ARG', `${what}: window ${ww}x${wh} at (${x}, ${y}) is not inside the ${width}x${height} result`);
  }
  return win;
}

/** rows [y, y + h) and columns [x, x + w) of an HWC uint8 image, copied @param {Image} img @param {Window} r @returns {Image} */
function copyRect(img, r) {
  const c = img.channels, rowLen = r.width * c, stride = img.width * c;
  if (r.x === 0 && r.y === 0 && r.width === img.width && r.height === img.height) return { width: r.width, height: r.height, channels: c, data: img.data.slice() };
  const out = new Uint8Array(rowLen * r.height);
  for (let y = 0; y < r.height; y++) {
    const s = (r.y + y) * stride + r.x * c;
    out.set(img.data.subarray(s, s + rowLen), y * rowLen);
  }
  return { width: r.width, height: r.height, channels: c, data: out };
}

/**
 * OpenCV INTER_LINEAR's column taps for destination columns x0 .. x0 + n - 1 of a resize from srcSize to
 * dstSize: tap(i, sx, fx, last) with the left source column sx and the float32 fraction fx, clamped as
 * resize.cpp does (before the first column: column 0, fraction 0; at or past the last: the last column,
 * fraction 0, `last` true).
 * @param {number} x0 @param {number} n @param {number} dstSize @param {number} srcSize
 * @param {(i: number, sx: number, fx: number, last: boolean) => void} tap
 */
export function cv2ColumnTaps(x0, n, dstSize, srcSize, tap) {
  const scale = 1 / (dstSize / srcSize);
  for (let i = 0; i < n; i++) {
    let fx = Math.fround((x0 + i + 0.5) * scale - 0.5);
    let sx = Math.floor(fx);
    fx = Math.fround(fx - sx);
    if (sx < 0) { fx = 0; sx = 0; }
    const last = sx >= srcSize - 1;
    if (last) { fx = 0; sx = srcSize - 1; }
    tap(i, sx, fx, last);
  }
}

/**
 * OpenCV INTER_LINEAR's vertical pass for destination rows y0 .. y0 + n - 1: each blends two source rows,
 * clamped to the image without touching the float32 fraction fy (as resize.cpp). Source rows are resized
 * horizontally once, by hresize(sy, into) (or hresize2 for two new rows at once), and kept while the next
 * destination rows read them; emit(j, rowA, rowB, fy) then writes destination row y0 + j.
 * @template {Int32Array | Float64Array} R
 * @param {number} y0 @param {number} n @param {number} dstSize @param {number} srcSize
 * @param {R} rowA @param {R} rowB @param {(sy: number, into: R) => void} hresize
 * @param {(j: number, rowA: R, rowB: R, fy: number) => void} emit
 * @param {(ya: number, intoA: R, yb: number, intoB: R) => void} [hresize2]
 */
export function cv2Rows(y0, n, dstSize, srcSize, rowA, rowB, hresize, emit, hresize2) {
  const scale = 1 / (dstSize / srcSize);
  let haveA = -1, haveB = -1;
  for (let j = 0; j < n; j++) {
    let fy = Math.fround((y0 + j + 0.5) * scale - 0.5);
    const sy = Math.floor(fy);
    fy = Math.fround(fy - sy);
    const a = sy < 0 ? 0 : sy >= srcSize ? srcSize - 1 : sy;
    const b = sy + 1 < 0 ? 0 : sy + 1 >= srcSize ? srcSize - 1 : sy + 1;
    if (hresize2 && haveA !== a && haveB !== a && b !== a && haveA !== b && haveB !== b) {
      hresize2(a, rowA, b, rowB);
      haveA = a; haveB = b;
    } else if (haveA !== a) {
      if (haveB === a) { const t = rowA; rowA = rowB; rowB = t; haveA = a; haveB = -1; }
      else { hresize(a, rowA); haveA = a; }
    }
    if (haveB !== b) {
      if (b === haveA) rowB.set(rowA); else hresize(b, rowB);
      haveB = b;
    }
    emit(j, rowA, rowB, fy);
  }
}

/**
 * The source rows cv2Rows reads for destination rows y0 .. y0 + n - 1 (n >= 1): [first, end), the same arithmetic.
 * @param {number} y0 @param {number} n @param {number} dstSize @param {number} srcSize
 * @returns {[number, number]}
 */
export function cv2SourceRows(y0, n, dstSize, srcSize) {
  const scale = 1 / (dstSize / srcSize);
  const at = (/** @type {number} */ y) => Math.floor(Math.fround((y + 0.5) * scale - 0.5));
  const clamp = (/** @type {number} */ r) => (r < 0 ? 0 : r >= srcSize ? srcSize - 1 : r);
  return [clamp(at(y0)), clamp(at(y0 + n - 1) + 1) + 1];
}

/**
 * cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR) on uint8, bit-exact. With `win`, only
 * that rectangle of the result is computed and returned (every output pixel depends only on its own
 * coordinates, so a window equals the same crop of the whole result, bit for bit): a resize followed by a
 * centre crop costs the crop's pixels, not the resized image's. Three-channel images go through the
 * WebAssembly kernels (cv2h, cv2v) when this runtime has them. `view`: the result may be a view of this
 * thread's kernel memory (valid until the next kernel use on this thread: for a caller that reads it at once).
 * @param {Image} img
 * @param {number} width
 * @param {number} height
 * @param {Window} [win]
 * @param {{ view?: boolean }} [opts]
 * @returns {Image}
 */
export function resizeCv2Linear(img, width, height, win, opts = {}) {
  checkResize(img, width, height, 'cv2 resize');
  const w = windowOf(win, width, height, 'cv2 resize');
  const { width: sw, height: sh, channels: cn, data: src } = img;
  if (sw === width && sh === height) return copyRect(img, w);
  if (sw === 2 * width && sh === 2 * height) return areaHalf(img, w);
  const ow = w.width, oh = w.height;
  if (cn === 3) {
    const k = resizeCv2Kernel(img, width, height, w, !!opts.view);
    if (k) return k;
  }

  // column taps: per destination x of the window, source offset and two weights (OpenCV's xofs/ialpha)
  const xofs = new Int32Array(ow), xofs1 = new Int32Array(ow), ax0 = new Int32Array(ow), ax1 = new Int32Array(ow);
  cv2ColumnTaps(w.x, ow, width, sw, (i, sx, fx) => {
    xofs[i] = sx * cn;
    // the right neighbour is only read when it exists (its weight is 0 at the last column)
    xofs1[i] = sx + 1 < sw ? (sx + 1) * cn : sx * cn;
    ax0[i] = rint(Math.fround(1 - fx) * 2048);
    ax1[i] = rint(fx * 2048);
  });
  const rowLen = ow * cn;
  const srcStride = sw * cn;
  /** @param {number} sy @param {Int32Array} out */
  const hresize = cn === 3
    ? (sy, out) => {
      const r = sy * srcStride;
      for (let i = 0, o = 0; i < ow; i++, o += 3) {
        const s = r + xofs[i], s1 = r + xofs1[i], a0 = ax0[i], a1 = ax1[i];
        out[o] = src[s] * a0 + src[s1] * a1;
        out[o + 1] = src[s + 1] * a0 + src[s1 + 1] * a1;
        out[o + 2] = src[s + 2] * a0 + src[s1 + 2] * a1;
      }
    }
    : (sy, out) => {
      const r = sy * srcStride;
      for (let i = 0, o = 0; i < ow; i++) {
        const s = r + xofs[i], s1 = r + xofs1[i], a0 = ax0[i], a1 = ax1[i];
        for (let k = 0; k < cn; k++, o++) out[o] = src[s + k] * a0 + src[s1 + k] * a1;
      }
    };
  // two source rows at once (a reduction needs two new rows for most destination rows): the column taps
  // are read once for both
  /** @param {number} ya @param {Int32Array} outA @param {number} yb @param {Int32Array} outB */
  const hresize2 = cn === 3
    ? (ya, outA, yb, outB) => {
      const ra = ya * srcStride, rb = yb * srcStride;
      for (let i = 0, o = 0; i < ow; i++, o += 3) {
        const x0 = xofs[i], x1 = xofs1[i], a0 = ax0[i], a1 = ax1[i];
        const s = ra + x0, s1 = ra + x1, t = rb + x0, t1 = rb + x1;
        outA[o] = src[s] * a0 + src[s1] * a1;
        outA[o + 1] = src[s + 1] * a0 + src[s1 + 1] * a1;
        outA[o + 2] = src[s + 2] * a0 + src[s1 + 2] * a1;
        outB[o] = src[t] * a0 + src[t1] * a1;
        outB[o + 1] = src[t + 1] * a0 + src[t1 + 1] * a1;
        outB[o + 2] = src[t + 2] * a0 + src[t1 + 2] * a1;
      }
    }
    : (ya, outA, yb, outB) => { hresize(ya, outA); hresize(yb, outB); };
  const out = new Uint8Array(rowLen * oh);
  cv2Rows(w.y, oh, height, sh, new Int32Array(rowLen), new Int32Array(rowLen), hresize, (j, rowA, rowB, fy) => {
    const b0 = rint(Math.fround(1 - fy) * 2048), b1 = rint(fy * 2048);
    const o = j * rowLen;
    // OpenCV's SIMD rounding; a uint8 row sum is at most 255 * 2049 < 32768 << 4 and the result at most
    // 255, so its saturations never act and are left out
    for (let x = 0; x < rowLen; x++) out[o + x] = ((((rowA[x] >> 4) * b0) >> 16) + (((rowB[x] >> 4) * b1) >> 16) + 2) >> 2;
  }, hresize2);
  return { width: ow, height: oh, channels: cn, data: out };
}

/**
 * resizeCv2Linear's horizontal and vertical passes for 3-channel images in the WebAssembly kernels: the same
 * taps, rows and rounding (cv2ColumnTaps, cv2Rows), the int32 rows and the window in kernel memory. The source is
 * read where it lies when it is already there (a decoder's output), else copied in; what is written goes after
 * it. Null when the kernels are missing or the memory would pass their bound (the JS passes then run).
 * @param {Image} img @param {number} width @param {number} height @param {Window} w @param {boolean} view
 * @returns {Image | null}
 */
function resizeCv2Kernel(img, width, height, w, view) {
  const { width: sw, height: sh, data: src } = img;
  const ow = w.width, oh = w.height, rowLen = ow * 3, stride = sw * 3, srcLen = stride * sh;
  // regions padded: the kernels read 16 bytes from a pixel and write whole groups of 16
  const pad = (/** @type {number} */ n) => ((n + 15) & ~15) + 64;
  const inPlace = kernelOffset(src);
  const srcOff = inPlace >= 0 ? inPlace : 64;
  let at = (srcOff + srcLen + 64 + 15) & ~15;
  const offs = at; at += pad(4 * ow);
  const wts = at; at += pad(16 * ow);
  const rowA = at; at += pad(4 * rowLen);
  const rowB = at; at += pad(4 * rowLen);
  const out = at; at += pad(rowLen * oh);
  const k = jpegKernels(at);
  if (!k) return null;
  const buf = k.memory.buffer;
  if (inPlace < 0) new Uint8Array(buf).set(src, srcOff);
  const i32 = new Int32Array(buf), i16 = new Int16Array(buf);
  cv2ColumnTaps(w.x, ow, width, sw, (i, sx, fx) => {
    i32[(offs >> 2) + i] = sx * 3;
    const a0 = rint(Math.fround(1 - fx) * 2048), a1 = rint(fx * 2048), t = (wts >> 1) + 8 * i;
    i16[t] = a0; i16[t + 1] = a1; i16[t + 2] = a0; i16[t + 3] = a1; i16[t + 4] = a0; i16[t + 5] = a1; i16[t + 6] = 0; i16[t + 7] = 0;
  });
  const { cv2h, cv2v } = k.exports;
  cv2Rows(w.y, oh, height, sh, new Int32Array(buf, rowA, rowLen), new Int32Array(buf, rowB, rowLen),
    (sy, into) => cv2h(srcOff + sy * stride, srcOff + sy * stride, offs, wts, into.byteOffset, into.byteOffset, ow),
    (j, a, b, fy) => cv2v(a.byteOffset, b.byteOffset, out + j * rowLen, rowLen, rint(Math.fround(1 - fy) * 2048), rint(fy * 2048)),
    (ya, intoA, yb, intoB) => cv2h(srcOff + ya * stride, srcOff + yb * stride, offs, wts, intoA.byteOffset, intoB.byteOffset, ow));
  const data = view ? new Uint8Array(buf, out, rowLen * oh) : new Uint8Array(buf.slice(out, out + rowLen * oh));
  return { width: ow, height: oh, channels: 3, data };
}

/**
 * OpenCV's INTER_AREA fast path for an exact 2x reduction (what INTER_LINEAR becomes there), over a window
 * of the result. @param {Image} img @param {Window} w
 */
function areaHalf(img, w) {
  const { width: sw, channels: cn, data: src } = img;
  const out = new Uint8Array(w.width * w.height * cn);
  const stride = sw * cn;
  for (let y = 0; y < w.height; y++) {
    const r0 = 2 * (w.y + y) * stride, r1 = r0 + stride, o = y * w.width * cn;
    for (let x = 0; x < w.width; x++) {
      const s = 2 * (w.x + x) * cn;
      for (let k = 0; k < cn; k++) out[o + x * cn + k] = (src[r0 + s + k] + src[r0 + s + cn + k] + src[r1 + s + k] + src[r1 + s + cn + k] + 2) >> 2;
    }
  }
  return { width: w.width, height: w.height, channels: cn, data: out };
}

/**
 * Pillow's precompute_coeffs for the bilinear (triangle) filter, then normalize_coeffs_8bpc.
 * @param {number} inSize @param {number} outSize
 * @returns {{ ksize: number, bounds: Int32Array, kk: Int32Array }}
 */
function pilCoeffs(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const v = t < 1 ? 1 - t : 0;
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * 4194304) : Math.trunc(0.5 + k * 4194304);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** Pillow's clip8 after adding the 2^21 rounding term. @param {number} v */
const clip8 = (v) => (v >= 1073741824 ? 255 : v <= 0 ? 0 : v >> 22);

/**
 * PIL Image.resize((width, height), Image.BILINEAR) on an 8-bit L or RGB image (HWC), bit-exact. (PIL resizes
 * RGBA premultiplied by alpha; that is not reproduced: the seeds only resize RGB.) With `win`, only that
 * rectangle of the result is computed (the horizontal pass over the window's columns and the source rows its
 * rows read), equal bit for bit to the same crop of the whole result.
 * @param {Image} img
 * @param {number} width
 * @param {number} height
 * @param {Window} [win]
 * @returns {Image}
 */
export function resizePilBilinear(img, width, height, win) {
  checkResize(img, width, height, 'PIL resize');
  const w = windowOf(win, width, height, 'PIL resize');
  const { width: sw, height: sh, channels: cn } = img;
  if (sw === width && sh === height) return copyRect(img, w);
  const ow = w.width, oh = w.height;
  // the source rows the window's rows read: all of [first row's start, last row's end) (bounds grow with the row)
  const vert = height !== sh ? pilCoeffs(sh, height) : null;
  const r0 = vert ? vert.bounds[w.y * 2] : w.y;
  const r1 = vert ? vert.bounds[(w.y + oh - 1) * 2] + vert.bounds[(w.y + oh - 1) * 2 + 1] : w.y + oh;
  // horizontal pass (Pillow limits it to the rows the vertical pass reads, as here), into rows r0..r1
  let mid;
  if (width !== sw) {
    const { ksize, bounds, kk } = pilCoeffs(sw, width);
    const src = img.data;
    mid = new Uint8Array((r1 - r0) * ow * cn);
    if (cn === 3) {
      // three channels summed together, tap by tap (the same sums, in the same order, per channel)
      for (let y = r0; y < r1; y++) {
        const r = y * sw * 3, o = (y - r0) * ow * 3;
        for (let i = 0; i < ow; i++) {
          const xx = w.x + i;
          const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], kb = xx * ksize;
          let s0 = 2097152, s1 = 2097152, s2 = 2097152;
          for (let x = 0, p = r + xmin * 3; x < xmax; x++, p += 3) {
            const k = kk[kb + x];
            s0 += src[p] * k; s1 += src[p + 1] * k; s2 += src[p + 2] * k;
          }
          mid[o + i * 3] = clip8(s0); mid[o + i * 3 + 1] = clip8(s1); mid[o + i * 3 + 2] = clip8(s2);
        }
      }
    } else for (let y = r0; y < r1; y++) {
      const r = y * sw * cn, o = (y - r0) * ow * cn;
      for (let i = 0; i < ow; i++) {
        const xx = w.x + i;
        const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1], kb = xx * ksize;
        for (let c = 0; c < cn; c++) {
          let s = 2097152;
          for (let x = 0; x < xmax; x++) s += src[r + (x + xmin) * cn + c] * kk[kb + x];
          mid[o + i * cn + c] = clip8(s);
        }
      }
    }
  } else {
    mid = copyRect(img, { x: w.x, y: r0, width: ow, height: r1 - r0 }).data;
  }
  if (!vert) return { width: ow, height: oh, channels: cn, data: mid };
  const { ksize, bounds, kk } = vert;
  const rowLen = ow * cn;
  const out = new Uint8Array(rowLen * oh);
  for (let j = 0; j < oh; j++) {
    const yy = w.y + j;
    const ymin = bounds[yy * 2] - r0, ymax = bounds[yy * 2 + 1], kb = yy * ksize, o = j * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let s = 2097152;
      for (let y = 0; y < ymax; y++) s += mid[(y + ymin) * rowLen + i] * kk[kb + y];
      out[o + i] = clip8(s);
    }
  }
  return { width: ow, height: oh, channels: cn, data: out };
}
