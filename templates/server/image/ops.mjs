// The preprocessing steps of the seeds' pipeline servers (FORMATS.md §8) as small pure functions over HWC
// images and typed arrays. Each one follows the Python it replaces to the rounding: Python's round (half to
// even), numpy slicing, NumPy's dtype rules (uint8 / 255 is float64; a float32 array minus a Python float
// stays float32 with the constant rounded to float32; minus a float64 array computes in float64 and rounds
// the result), so tensors equal the seeds' tensors, not just approximately.
import { ImageError } from './errors.mjs';
import { checkResize, cv2ColumnTaps, cv2Rows, resizeCv2Linear, resizePilBilinear } from './resize.mjs';
import { jpegKernels, kernelOffset } from './jpeg-wasm.mjs';
import { takeBuffer } from '../buffers.mjs';

/**
 * @typedef {{ width: number, height: number, channels: number, data: Uint8Array }} Image  HWC uint8
 * @typedef {{ width: number, height: number, channels: number, data: Float32Array | Float64Array }} FloatImage  HWC float
 * @typedef {'cv2' | 'pil'} Interp  cv2.resize INTER_LINEAR or PIL BILINEAR
 */

/** Python 3's round() of a float to an int: half to even. @param {number} x */
export function pyRound(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** @param {string} what @param {string} msg */
const argError = (what, msg) => new ImageError('E_IMAGE_ARG', `${what}: ${msg}`);

/**
 * Resize with the named library's bilinear filter, bit-exact on uint8. `win` ({ x, y, width, height }):
 * compute and return only that rectangle of the result (bit-identical to cropping the whole result).
 * `view` (cv2): the result may be a view of the thread's kernel memory (resizeCv2Linear), for a caller that reads it at once.
 * @param {Image} img @param {number} width @param {number} height @param {Interp} [interp]
 * @param {{ x: number, y: number, width: number, height: number }} [win]
 * @param {{ view?: boolean }} [opts]
 * @returns {Image}
 */
export function resize(img, width, height, interp = 'cv2', win = undefined, opts = {}) {
  return interp === 'pil' ? resizePilBilinear(img, width, height, win) : resizeCv2Linear(img, width, height, win, opts);
}

/**
 * Short side to `size`, aspect kept: Paddle Serving's Resize(int) and PaddleClas's ResizeImage(resize_short):
 * percent = size / min(h, w) (capped so the long side stays <= maxSize), dims int(round(dim * percent)).
 * @param {Image} img @param {number} size @param {{ interp?: Interp, maxSize?: number }} [opts]
 * @returns {Image}
 */
export function resizeShort(img, size, opts = {}) {
  const [w, h] = resizeShortSize(img, size, opts.maxSize);
  return resize(img, w, h, opts.interp);
}

/**
 * The [width, height] resizeShort resizes to.
 * @param {{ width: number, height: number }} img @param {number} size @param {number} [maxSize]
 * @returns {[number, number]}
 */
export function resizeShortSize(img, size, maxSize = 2147483647) {
  if (!Number.isInteger(size) || size < 1) throw argError('resize_short', `size ${size} is not a positive integer`);
  const longSide = Math.max(img.width, img.height);
  let percent = size / Math.min(img.width, img.height);
  if (pyRound(percent * longSide) > maxSize) percent = maxSize / longSide;
  return [pyRound(img.width * percent), pyRound(img.height * percent)];
}

/**
 * A rectangle of an image (copy). x, y: top-left corner; must lie inside the image.
 * @param {Image} img @param {number} x @param {number} y @param {number} width @param {number} height
 * @returns {Image}
 */
export function crop(img, x, y, width, height) {
  if (!(x >= 0 && y >= 0 && width >= 1 && height >= 1 && x + width <= img.width && y + height <= img.height) || ![x, y, width, height].every(Number.isInteger)) {
    throw argError('crop', `rectangle ${width}x${height} at (${x}, ${y}) is not inside the ${img.width}x${img.height} image`);
  }
  const c = img.channels;
  const out = new Uint8Array(width * height * c);
  for (let r = 0; r < height; r++) {
    const s = ((y + r) * img.width + x) * c;
    out.set(img.data.subarray(s, s + width * c), r * width * c);
  }
  return { width, height, channels: c, data: out };
}

/**
 * Center crop to size x size (or [width, height]). rounding 'floor': cv2 style (w - cw) // 2 (Paddle Serving,
 * PaddleClas); 'round': PaddleVideo's do_round, int(round((w - cw) / 2)) with Python's half-to-even round.
 * @param {Image} img @param {number | [number, number]} size @param {{ rounding?: 'floor' | 'round' }} [opts]
 * @returns {Image}
 */
export function centerCrop(img, size, opts = {}) {
  const r = centerCropRect(img.width, img.height, size, opts);
  return crop(img, r.x, r.y, r.width, r.height);
}

/**
 * The rectangle centerCrop keeps of a width x height image (refused when the crop is larger).
 * @param {number} width @param {number} height @param {number | [number, number]} size @param {{ rounding?: 'floor' | 'round' }} [opts]
 * @returns {{ x: number, y: number, width: number, height: number }}
 */
export function centerCropRect(width, height, size, opts = {}) {
  const [cw, ch] = Array.isArray(size) ? size : [size, size];
  if (cw > width || ch > height) throw argError('center_crop', `crop ${cw}x${ch} is larger than the ${width}x${height} image`);
  const round = opts.rounding === 'round';
  const x = round ? pyRound((width - cw) / 2) : Math.floor((width - cw) / 2);
  const y = round ? pyRound((height - ch) / 2) : Math.floor((height - ch) / 2);
  return { x, y, width: cw, height: ch };
}

/**
 * PaddleVideo's Scale(short_size): unchanged when the short side already equals it; else the short side becomes
 * `short` and, with fixedRatio (the default), the long side int(short * 4 / 3) whatever the aspect (w <= h means
 * "width is the short side", as upstream). keepRatio false: a square; keepRatio true: the long side scaled
 * (int(x + 0.5) with doRound, else truncated).
 * @param {Image} img @param {number} short
 * @param {{ fixedRatio?: boolean, keepRatio?: boolean, doRound?: boolean, interp?: Interp }} [opts] interp: 'pil' (default, backend pillow) or 'cv2'
 * @returns {Image}
 */
export function scaleShort(img, short, opts = {}) {
  const size = scaleShortSize(img, short, opts);
  return size ? resize(img, size[0], size[1], opts.interp ?? 'pil') : img;
}

/**
 * The [width, height] scaleShort resizes to, or null when it keeps the image as it is.
 * @param {{ width: number, height: number }} img @param {number} short
 * @param {{ fixedRatio?: boolean, keepRatio?: boolean, doRound?: boolean }} [opts]
 * @returns {[number, number] | null}
 */
export function scaleShortSize(img, short, opts = {}) {
  const { width: w, height: h } = img;
  const fixedRatio = opts.fixedRatio ?? true;
  if ((w <= h && w === short) || (h <= w && h === short)) return null;
  let ow, oh;
  if (w <= h) {
    ow = short;
    if (fixedRatio) oh = Math.trunc((short * 4.0) / 3.0);
    else if (opts.keepRatio === false) oh = short;
    else {
      const f = short / w;
      oh = opts.doRound ? Math.trunc(h * f + 0.5) : Math.trunc((h * short) / w);
      ow = opts.doRound ? Math.trunc(w * f + 0.5) : short;
    }
  } else {
    oh = short;
    if (fixedRatio) ow = Math.trunc((short * 4.0) / 3.0);
    else if (opts.keepRatio === false) ow = short;
    else {
      const f = short / h;
      ow = opts.doRound ? Math.trunc(w * f + 0.5) : Math.trunc((w * short) / h);
      oh = opts.doRound ? Math.trunc(h * f + 0.5) : short;
    }
  }
  return [ow, oh];
}

/**
 * Mirror left-right (PIL FLIP_LEFT_RIGHT, cv2.flip(img, 1)).
 * @param {Image} img @returns {Image}
 */
export function flipHorizontal(img) {
  const { width: w, height: h, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * c, d = (y * w + (w - 1 - x)) * c;
      for (let k = 0; k < c; k++) out[d + k] = data[s + k];
    }
  }
  return { width: w, height: h, channels: c, data: out };
}

/**
 * PaddleVideo's TenCrop(size) over a list of frames: for each of the five crops (top-left, top-right,
 * bottom-left, bottom-right, centre; steps (w - size) // 4) all frames cropped, then all of them mirrored.
 * 25 frames give 250 images, in upstream's order.
 * @param {Image[]} frames @param {number} size
 * @returns {Image[]}
 */
export function tenCrop(frames, size) {
  if (frames.length === 0) return [];
  const { width: w, height: h } = frames[0];
  if (size > w || size > h) throw argError('ten_crop', `crop ${size} is larger than the ${w}x${h} frames`);
  const ws = Math.floor((w - size) / 4), hs = Math.floor((h - size) / 4);
  const offsets = [[0, 0], [4 * ws, 0], [0, 4 * hs], [4 * ws, 4 * hs], [2 * ws, 2 * hs]];
  /** @type {Image[]} */
  const out = [];
  for (const [x, y] of offsets) {
    const crops = frames.map((f) => crop(f, x, y, size, size));
    out.push(...crops, ...crops.map(flipHorizontal));
  }
  return out;
}

/**
 * PaddleVideo's Sampler in test mode (valid_mode=True): the frame indices taken from a video of `frames` frames.
 * Default: avg = int(T / numSeg); segment i starts at (avg - 1) // 2 + i * avg when avg >= segLen, at i * avg
 * when avg >= 1, else at i; segLen consecutive frames from there, modulo T. selectLeft (PP-TSN): when
 * T > numSeg, int(T / numSeg / 2 + T / numSeg * i), else 0; modulo T.
 * @param {number} frames T
 * @param {{ numSeg: number, segLen?: number, selectLeft?: boolean }} opts
 * @returns {number[]}
 */
export function sampleFrames(frames, opts) {
  const { numSeg } = opts;
  const segLen = opts.segLen ?? 1;
  if (!Number.isInteger(frames) || frames < 1) throw argError('sampler', `the video has ${frames} frames`);
  if (!Number.isInteger(numSeg) || numSeg < 1 || !Number.isInteger(segLen) || segLen < 1) throw argError('sampler', `num_seg ${numSeg} and seg_len ${segLen} must be positive integers`);
  /** @type {number[]} */
  const idx = [];
  if (opts.selectLeft) {
    for (let i = 0; i < numSeg; i++) {
      const avg = frames / numSeg;
      idx.push(frames > numSeg ? Math.trunc(avg / 2.0 + avg * i) % frames : 0);
    }
    return idx;
  }
  const avg = Math.trunc(frames / numSeg);
  for (let i = 0; i < numSeg; i++) {
    let start;
    if (avg >= segLen) start = Math.floor((avg - 1) / 2) + i * avg;
    else if (avg >= 1) start = i * avg;
    else start = i;
    for (let j = start; j < start + segLen; j++) idx.push(j % frames);
  }
  return idx;
}

/**
 * `img[int(y1):int(y2), int(x1):int(x2)]` with numpy's slicing rules (int() truncates toward zero; negative
 * ends count from the far side; ends are clamped). An empty result is refused (cv2.resize would fail on it).
 * @param {Image} img @param {number[]} box [x1, y1, x2, y2]
 * @returns {Image}
 */
export function cropBox(img, box) {
  if (!Array.isArray(box) || box.length < 4 || !box.slice(0, 4).every(Number.isFinite)) throw argError('crop_box', `box ${JSON.stringify(box)} is not [x1, y1, x2, y2]`);
  const slice = (/** @type {number} */ a, /** @type {number} */ b, /** @type {number} */ n) => {
    let s = Math.trunc(a), e = Math.trunc(b);
    if (s < 0) s = Math.max(0, s + n);
    if (e < 0) e = Math.max(0, e + n);
    s = Math.min(s, n); e = Math.min(e, n);
    return [s, Math.max(0, e - s)];
  };
  const [x, w] = slice(box[0], box[2], img.width);
  const [y, h] = slice(box[1], box[3], img.height);
  if (w === 0 || h === 0) throw argError('crop_box', `box [${box.slice(0, 4).join(', ')}] is empty inside the ${img.width}x${img.height} image`);
  return crop(img, x, y, w, h);
}

/**
 * Reverse the channel order (BGR <-> RGB; cv2.cvtColor BGR2RGB, Paddle Serving's RGB2BGR/BGR2RGB, img[:, :, ::-1]).
 * @template {Image | FloatImage} T
 * @param {T} img @returns {T}
 */
export function swapChannels(img) {
  const { channels: c, data } = img;
  const out = /** @type {typeof data} */ (new /** @type {any} */ (data.constructor)(data.length));
  if (c === 3) {
    for (let i = 0; i < data.length; i += 3) { out[i] = data[i + 2]; out[i + 1] = data[i + 1]; out[i + 2] = data[i]; }
  } else {
    for (let i = 0; i < data.length; i += c) {
      for (let k = 0; k < c; k++) out[i + k] = data[i + c - 1 - k];
    }
  }
  return /** @type {T} */ ({ width: img.width, height: img.height, channels: c, data: out });
}

/**
 * cv2.resize(INTER_LINEAR) of a float64 (CV_64F) or float32 (CV_32F) image: float32 weights 1-fx and fx,
 * no fixed point; sums in the image's precision (float64: plain double arithmetic; float32: each product and
 * sum rounded to float32). An exact 2x reduction is OpenCV's area path, (a + b + c + d) * 0.25.
 * @param {FloatImage} img @param {number} width @param {number} height
 * @returns {FloatImage}
 */
export function resizeCv2LinearFloat(img, width, height) {
  checkResize(img, width, height, 'cv2 resize');
  const { width: sw, height: sh, channels: cn, data: src } = img;
  const f32 = src instanceof Float32Array;
  const r = f32 ? Math.fround : (/** @type {number} */ v) => v;
  const Out = f32 ? Float32Array : Float64Array;
  if (sw === width && sh === height) return { width, height, channels: cn, data: src.slice() };
  const out = new Out(width * height * cn);
  if (sw === 2 * width && sh === 2 * height) {
    const stride = sw * cn;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let k = 0; k < cn; k++) {
          const s = 2 * y * stride + 2 * x * cn + k;
          out[(y * width + x) * cn + k] = r(r(r(r(src[s] + src[s + cn]) + src[s + stride]) + src[s + stride + cn]) * 0.25);
        }
      }
    }
    return { width, height, channels: cn, data: out };
  }
  const xofs = new Int32Array(width), ax0 = new Float64Array(width), ax1 = new Float64Array(width);
  const single = new Uint8Array(width);
  cv2ColumnTaps(0, width, width, sw, (dx, sx, fx, last) => {
    xofs[dx] = sx * cn;
    ax0[dx] = Math.fround(1 - fx);
    ax1[dx] = fx;
    single[dx] = last ? 1 : 0;
  });
  const rowLen = width * cn;
  /** @param {number} sy @param {Float64Array} row */
  const hresize = (sy, row) => {
    const base = sy * sw * cn;
    for (let dx = 0, o = 0; dx < width; dx++) {
      const s = base + xofs[dx];
      if (single[dx]) { for (let k = 0; k < cn; k++, o++) row[o] = src[s + k]; continue; }
      const a0 = ax0[dx], a1 = ax1[dx];
      if (f32) for (let k = 0; k < cn; k++, o++) row[o] = r(r(src[s + k] * a0) + r(src[s + cn + k] * a1));
      else for (let k = 0; k < cn; k++, o++) row[o] = src[s + k] * a0 + src[s + cn + k] * a1;
    }
  };
  cv2Rows(0, height, height, sh, new Float64Array(rowLen), new Float64Array(rowLen), hresize, (dy, rowA, rowB, fy) => {
    const b0 = Math.fround(1 - fy), b1 = fy;
    const o = dy * rowLen;
    if (f32) for (let x = 0; x < rowLen; x++) out[o + x] = r(r(rowA[x] * b0) + r(rowB[x] * b1));
    else for (let x = 0; x < rowLen; x++) out[o + x] = rowA[x] * b0 + rowB[x] * b1;
  });
  return { width, height, channels: cn, data: out };
}

/**
 * Div then Normalize of an HWC image, keeping HWC, in the arithmetic the seed uses: 'float64' returns a
 * Float64Array image (Paddle Serving's Div(255) on uint8 gives float64; later steps such as the PP-ShiTu
 * detector's cv2.resize then work on float64, and toChw casts to float32 at the end, as the client does);
 * 'float32' returns a Float32Array image rounded at every step with float32 constants (PaddleVideo's
 * Normalization after astype('float32')).
 * @param {Image | FloatImage} img
 * @param {{ div?: number, mean?: number[], std?: number[], arithmetic?: 'float32' | 'float64' }} opts
 * @returns {FloatImage}
 */
export function normalizeImage(img, opts) {
  const c = img.channels;
  const { div, mean, std, f64 } = normalizeArgs(c, opts);
  const src = img.data;
  const f = Math.fround;
  if (src instanceof Uint8Array) {
    // 256 possible inputs per channel: a table computed with the very same operations gives the same bits
    const out = f64 ? new Float64Array(src.length) : new Float32Array(src.length);
    const lut = normalizeTable(c, opts);
    for (let k = 0; k < c; k++) {
      const t = k * 256;
      for (let i = k; i < src.length; i += c) out[i] = lut[t + src[i]];
    }
    return { width: img.width, height: img.height, channels: c, data: out };
  }
  if (f64) {
    const out = new Float64Array(src.length);
    for (let k = 0; k < c; k++) {
      const m = mean[k], s = std[k];
      for (let i = k; i < src.length; i += c) out[i] = (src[i] / div - m) / s;
    }
    return { width: img.width, height: img.height, channels: c, data: out };
  }
  const d = f(div), m = mean.map(f), s = std.map(f);
  const out = new Float32Array(src.length);
  for (let k = 0; k < c; k++) {
    const mk = m[k], sk = s[k];
    for (let i = k; i < src.length; i += c) out[i] = f(f(f(f(src[i]) / d) - mk) / sk);
  }
  return { width: img.width, height: img.height, channels: c, data: out };
}

/**
 * normalizeImage's options checked for a c-channel image, with their defaults.
 * @param {number} c @param {{ div?: number, mean?: number[], std?: number[], arithmetic?: 'float32' | 'float64' }} opts
 */
export function normalizeArgs(c, opts) {
  const div = opts.div ?? 255;
  const mean = opts.mean ?? new Array(c).fill(0);
  const std = opts.std ?? new Array(c).fill(1);
  if (mean.length !== c || std.length !== c) throw argError('normalize', `mean and std need ${c} values each, got ${mean.length} and ${std.length}`);
  if (std.some((s) => s === 0) || div === 0) throw argError('normalize', 'std and div must not be 0');
  return { div, mean, std, f64: (opts.arithmetic ?? 'float32') === 'float64' };
}

/**
 * What normalizeImage makes of each uint8 value, per channel: table[k * 256 + v] is output channel k's value
 * for v (float64 numbers; in float32 arithmetic each already rounded to float32). After a channel reversal,
 * output channel k reads input channel c - 1 - k through table k.
 * @param {number} c @param {{ div?: number, mean?: number[], std?: number[], arithmetic?: 'float32' | 'float64' }} opts
 * @returns {Float64Array}
 */
export function normalizeTable(c, opts) {
  const { div, mean, std, f64 } = normalizeArgs(c, opts);
  const f = Math.fround;
  const lut = new Float64Array(256 * c);
  for (let k = 0; k < c; k++) {
    for (let x = 0; x < 256; x++) lut[k * 256 + x] = f64 ? (x / div - mean[k]) / std[k] : f(f(f(x / f(div)) - f(mean[k])) / f(std[k]));
  }
  return lut;
}

/**
 * swapChannels (when swap), normalizeImage and toChw of a uint8 HWC image in one pass: the float32 [C, H, W]
 * tensor written straight from the pixels through normalizeTable, bit-identical to the three steps (each
 * value is the table's float64 number cast to float32, as toChw casts normalizeImage's). Float images take
 * the three steps.
 * @param {Image | FloatImage} img
 * @param {{ div?: number, mean?: number[], std?: number[], arithmetic?: 'float32' | 'float64' }} opts
 * @param {boolean} [swap]
 * @returns {{ data: Float32Array, dims: number[] }}
 */
export function normalizeToChw(img, opts, swap = false) {
  const { width: w, height: h, channels: c, data: src } = img;
  if (!(src instanceof Uint8Array)) return toChw(normalizeImage(swap ? swapChannels(img) : img, opts));
  const lut = normalizeTable(c, opts);
  const plane = w * h;
  if (c === 3) {
    const k = normalizeToChwKernel(src, lut, plane, swap);
    if (k) return { data: k, dims: [c, h, w] };
  }
  const out = new Float32Array(plane * c);
  if (c === 3) {
    // output plane k reads input channel k, or 2 - k after the reversal
    const l0 = lut.subarray(0, 256), l1 = lut.subarray(256, 512), l2 = lut.subarray(512, 768);
    const i0 = swap ? 2 : 0, i2 = swap ? 0 : 2;
    for (let p = 0, i = 0; p < plane; p++, i += 3) {
      out[p] = l0[src[i + i0]];
      out[plane + p] = l1[src[i + 1]];
      out[2 * plane + p] = l2[src[i + i2]];
    }
  } else {
    for (let k = 0; k < c; k++) {
      const t = k * 256, o = k * plane;
      for (let p = 0, i = swap ? c - 1 - k : k; p < plane; p++, i += c) out[o + p] = lut[t + src[i]];
    }
  }
  return { data: out, dims: [c, h, w] };
}

/**
 * normalizeToChw of 3-channel pixels in the WebAssembly kernel (normChw): the same table (float32 entries, as
 * each float64 number is cast when stored) read per byte; the pixels where they lie when already in kernel memory
 * (a resize's window), else copied in. The tensor is copied out into a buffer of its own (one a model's earlier
 * input left for reuse when there is one: ../buffers.mjs). Null without the kernels.
 * @param {Uint8Array} src @param {Float64Array} lut @param {number} plane @param {boolean} swap
 * @returns {Float32Array | null}
 */
function normalizeToChwKernel(src, lut, plane, swap) {
  const inPlace = kernelOffset(src);
  const srcOff = inPlace >= 0 ? inPlace : 64;
  let at = (srcOff + src.length + 64 + 15) & ~15;
  const lutOff = at; at += 3 * 1024;
  const out = at; at += 12 * plane;
  const k = jpegKernels(at);
  if (!k) return null;
  const buf = k.memory.buffer;
  if (inPlace < 0) new Uint8Array(buf).set(src, srcOff);
  new Float32Array(buf, lutOff, 768).set(lut);
  k.exports.normChw(srcOff, lutOff, out, plane, swap ? 2 : 0, swap ? 0 : 2);
  // into a buffer an earlier tensor left (written whole), else a fresh one
  const kept = takeBuffer(12 * plane);
  if (!kept) return new Float32Array(buf.slice(out, out + 12 * plane));
  new Uint8Array(kept).set(new Uint8Array(buf, out, 12 * plane));
  return new Float32Array(kept);
}

/**
 * The PP-ShiTu detector input in one go: swapChannels (when swap), normalizeImage, resizeCv2LinearFloat to
 * width x height and toChw, bit-identical to those steps, from a uint8 HWC image. The normalised image is
 * never made: each source pixel is read through normalizeTable inside the horizontal pass (the same float64
 * (or float32) numbers the normalised image would hold, combined with the same weights in the same order),
 * and the vertical pass writes the float32 CHW tensor directly. Float images take the separate steps.
 * @param {Image | FloatImage} img @param {number} width @param {number} height
 * @param {{ div?: number, mean?: number[], std?: number[], arithmetic?: 'float32' | 'float64' }} opts
 * @param {boolean} [swap]
 * @returns {{ data: Float32Array, dims: number[] }}
 */
export function normalizeResizeChw(img, width, height, opts, swap = false) {
  const { width: sw, height: sh, channels: cn, data: src } = img;
  if (!(src instanceof Uint8Array)) return toChw(resizeCv2LinearFloat(normalizeImage(swap ? swapChannels(img) : img, opts), width, height));
  const { f64 } = normalizeArgs(cn, opts);
  checkResize(img, width, height, 'cv2 resize');
  if (sw === width && sh === height) return normalizeToChw(img, opts, swap);
  const lut = normalizeTable(cn, opts);
  // source channel of output channel k
  const sc = Int32Array.from({ length: cn }, (_, k) => (swap ? cn - 1 - k : k));
  const r = f64 ? (/** @type {number} */ v) => v : Math.fround;
  const plane = width * height;
  const out = new Float32Array(plane * cn);
  if (sw === 2 * width && sh === 2 * height) {
    const stride = sw * cn;
    for (let k = 0; k < cn; k++) {
      const t = k * 256, c = sc[k];
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const s = 2 * y * stride + 2 * x * cn + c;
          out[k * plane + y * width + x] = r(r(r(r(lut[t + src[s]] + lut[t + src[s + cn]]) + lut[t + src[s + stride]]) + lut[t + src[s + stride + cn]]) * 0.25);
        }
      }
    }
    return { data: out, dims: [cn, height, width] };
  }
  const xofs = new Int32Array(width), xofs1 = new Int32Array(width), ax0 = new Float64Array(width), ax1 = new Float64Array(width);
  const single = new Uint8Array(width);
  cv2ColumnTaps(0, width, width, sw, (dx, sx, fx, last) => {
    xofs[dx] = sx;
    xofs1[dx] = last ? sx : sx + 1;
    ax0[dx] = Math.fround(1 - fx);
    ax1[dx] = fx;
    single[dx] = last ? 1 : 0;
  });
  // the columns from `edge` on read the last source column alone (sx >= sw - 1: a suffix, sx grows with dx)
  let edge = width;
  while (edge > 0 && single[edge - 1]) edge--;
  // three channels in float64 (the PP-ShiTu detector): each column's taps read straight through the tables;
  // otherwise one source row normalised (planar, norm[k * sw + x]), then horizontally resized; rows are
  // planar either way: row[k * width + dx]
  const fast = cn === 3 && f64;
  const norm = new Float64Array(fast ? 0 : sw * cn);
  const l0 = lut.subarray(0, 256), l1 = lut.subarray(256, 512), l2 = lut.subarray(512, 768);
  const i0 = sc[0], i2 = sc[cn - 1];
  /** @param {number} sy @param {Float64Array} row */
  const hresize = fast ? (sy, row) => {
    const base = sy * sw * 3;
    for (let dx = 0; dx < edge; dx++) {
      const s0 = base + xofs[dx] * 3, s1 = base + xofs1[dx] * 3, a0 = ax0[dx], a1 = ax1[dx];
      row[dx] = l0[src[s0 + i0]] * a0 + l0[src[s1 + i0]] * a1;
      row[width + dx] = l1[src[s0 + 1]] * a0 + l1[src[s1 + 1]] * a1;
      row[2 * width + dx] = l2[src[s0 + i2]] * a0 + l2[src[s1 + i2]] * a1;
    }
    for (let dx = edge; dx < width; dx++) {
      const s0 = base + xofs[dx] * 3;
      row[dx] = l0[src[s0 + i0]];
      row[width + dx] = l1[src[s0 + 1]];
      row[2 * width + dx] = l2[src[s0 + i2]];
    }
  } : (sy, row) => {
    const base = sy * sw * cn;
    for (let k = 0; k < cn; k++) {
      const t = k * 256, o = k * sw;
      for (let x = 0, i = base + sc[k]; x < sw; x++, i += cn) norm[o + x] = lut[t + src[i]];
    }
    for (let k = 0; k < cn; k++) {
      const o = k * width, q = k * sw;
      if (f64) for (let dx = 0; dx < edge; dx++) row[o + dx] = norm[q + xofs[dx]] * ax0[dx] + norm[q + xofs1[dx]] * ax1[dx];
      else for (let dx = 0; dx < edge; dx++) row[o + dx] = r(r(norm[q + xofs[dx]] * ax0[dx]) + r(norm[q + xofs1[dx]] * ax1[dx]));
      for (let dx = edge; dx < width; dx++) row[o + dx] = norm[q + xofs[dx]];
    }
  };
  const rowLen = width * cn;
  cv2Rows(0, height, height, sh, new Float64Array(rowLen), new Float64Array(rowLen), hresize, (dy, rowA, rowB, fy) => {
    const b0 = Math.fround(1 - fy), b1 = fy;
    if (fast) {
      const o = dy * width, o1 = plane + o, o2 = 2 * plane + o, w2 = 2 * width;
      for (let x = 0; x < width; x++) {
        out[o + x] = rowA[x] * b0 + rowB[x] * b1;
        out[o1 + x] = rowA[width + x] * b0 + rowB[width + x] * b1;
        out[o2 + x] = rowA[w2 + x] * b0 + rowB[w2 + x] * b1;
      }
      return;
    }
    for (let k = 0; k < cn; k++) {
      const o = k * plane + dy * width, q = k * width;
      if (f64) for (let x = 0; x < width; x++) out[o + x] = rowA[q + x] * b0 + rowB[q + x] * b1;
      else for (let x = 0; x < width; x++) out[o + x] = r(r(rowA[q + x] * b0) + r(rowB[q + x] * b1));
    }
  });
  return { data: out, dims: [cn, height, width] };
}

/**
 * HWC image (uint8 or float) -> float32 tensor [C, H, W] (Transpose((2, 0, 1)), then the float32 cast).
 * @param {Image | FloatImage} img
 * @returns {{ data: Float32Array, dims: number[] }}
 */
export function toChw(img) {
  const { width: w, height: h, channels: c, data } = img;
  const plane = w * h;
  const out = new Float32Array(plane * c);
  for (let k = 0; k < c; k++) {
    const o = k * plane;
    for (let p = 0, i = k; p < plane; p++, i += c) out[o + p] = data[i];
  }
  return { data: out, dims: [c, h, w] };
}

/**
 * Resize any image a step may hold: uint8 with cv2 INTER_LINEAR or PIL BILINEAR (bit-exact), float with
 * cv2 INTER_LINEAR in the image's precision (PIL is refused on float images, as PIL has no float RGB).
 * @param {Image | FloatImage} img @param {number} width @param {number} height @param {Interp} [library]
 * @returns {Image | FloatImage}
 */
export function resizeImage(img, width, height, library = 'cv2') {
  if (img.data instanceof Uint8Array) return resize(/** @type {Image} */ (img), width, height, library);
  if (library === 'pil') throw argError('resize', 'PIL BILINEAR works on uint8 images; this image is already float (normalise after resizing)');
  return resizeCv2LinearFloat(/** @type {FloatImage} */ (img), width, height);
}
