/**
 * The step kinds a pipeline in config.yml is made of (FORMATS §8). Each kind declares its
 * parameters (params.mjs specs), which of them name other steps' outputs (`refs`), an optional
 * `prepare` that runs once at start (label files, the vector index) and `run`, a function of its
 * inputs and parameters. Steps never know each other: the pipeline (pipeline.mjs) wires them.
 *
 * Values that flow between steps:
 *   bytes   Buffer
 *   image   { width, height, channels, data } HWC, data Uint8Array (or Float32Array once normalised)
 *   tensor  { data: Float32Array | other typed array, dims: number[] }
 *   lists of these (a batch: several request keys, video frames, crops)
 * Image steps given a list apply to each element.
 *
 * Steps marked `pure` are functions of their parameters and inputs alone (no request, no state):
 * consecutive pure steps that only feed each other form a chain (chain.mjs) that runs as one unit,
 * with fused kernels where they exist. A chain holding a step marked `offload` (image work of tens
 * of milliseconds) runs on a step-worker.mjs thread when the server has them, so the HTTP thread
 * stays free.
 *
 * The image operations themselves (decoding as cv2.imdecode does, cv2/PIL resizing, crops,
 * normalisation, the frame sampler) live in ../image/ and the vector search in ../index/: a step
 * only adapts them to the pipeline.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RequestError, flatten } from '../tensors.mjs';
import { parseValueText, toFeedArray } from '../serving-proto.mjs';
import { P, PipelineConfigError } from './params.mjs';
import { NpFloat32, PyFloat } from './pyrepr.mjs';
import { centerCrop, cropBox, normalizeImage, pyRound, resizeImage, resizeShort, sampleFrames, scaleShort, swapChannels, tenCrop, toChw } from '../image/ops.mjs';
import { decode, openIndex } from './image-adapter.mjs';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** a function applied to each element of a list, or to a single value */
const each = (v, f) => (Array.isArray(v) ? v.map((x, i) => f(x, i)) : f(v, 0));

export function asImage(v, step) {
  if (!v || typeof v !== 'object' || !Number.isInteger(v.width) || !Number.isInteger(v.height) || !v.data) {
    throw new RequestError(500, `step "${step}": expected an image`, 10000);
  }
  return v;
}

function asTensor(v, step) {
  if (!v || !ArrayBuffer.isView(v.data) || !Array.isArray(v.dims)) throw new RequestError(500, `step "${step}": expected a tensor`, 10000);
  return v;
}

export { pyRound };

/** base64 as Python's b64decode reads it (non-alphabet characters skipped, padding optional) */
function base64Bytes(s, what) {
  if (typeof s !== 'string') throw new RequestError(400, `${what}: expected a base64 string`);
  const buf = Buffer.from(s, 'base64');
  if (buf.length === 0 && s.trim() !== '') throw new RequestError(400, `${what}: not base64`);
  return buf;
}

/**
 * decode_image on one element (i: its index in the list); view: the pixels may stay in the thread's kernel
 * memory (chain.mjs, when the next step of the chain reads them at once); rows: with view, the rows it reads
 */
export function decodeOne(b, i, step, view = false, rows = undefined) {
  try { return decode(b, view, rows); } catch (e) {
    throw new RequestError(400, `step "${step}": image ${i} cannot be decoded: ${e.message}`);
  }
}

/** the value of one request key (pipeline form: parallel key and value lists) */
function requestValue(req, key, step) {
  const i = req.key.indexOf(key);
  if (i < 0) throw new RequestError(400, `step "${step}": the request has no key "${key}" (it has ${req.key.map((k) => `"${k}"`).join(', ') || 'none'})`);
  return req.value[i];
}

/**
 * "(131, 240, 320, 3)" (Python's str of a shape tuple) or "[131, 240, 320, 3]": read as data, never
 * evaluated (upstream calls eval on it).
 */
export function parseShapeString(s, what) {
  if (typeof s !== 'string' || s.length > 200) throw new RequestError(400, `${what}: expected a shape such as "(T, H, W, C)"`);
  const m = /^\s*[([]\s*((?:\d+\s*,\s*)*\d+)\s*,?\s*[)\]]\s*$/.exec(s);
  if (!m) throw new RequestError(400, `${what}: expected a shape such as "(131, 240, 320, 3)", found ${JSON.stringify(s.slice(0, 60))}`);
  const dims = m[1].split(',').map((x) => Number(x.trim()));
  if (dims.some((d) => !Number.isSafeInteger(d))) throw new RequestError(400, `${what}: dimension too large`);
  return dims;
}

function readLabels(base, file, format, where) {
  let text;
  try { text = readFileSync(join(base, file), 'utf8'); } catch (e) {
    throw new PipelineConfigError(`${where}: cannot read labels file ${file}: ${e.code ?? e.message}`);
  }
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (format === 'index_name') {
    // PaddleVideo: "<idx> <name>" lines into a dict by index
    const byIndex = [];
    lines.forEach((l, n) => {
      const parts = l.trim().split(' ');
      if (parts.length !== 2 || !/^\d+$/.test(parts[0])) throw new PipelineConfigError(`${where}: ${file} line ${n + 1}: expected "<index> <name>"`);
      byIndex[Number(parts[0])] = parts[1].trim();
    });
    return byIndex;
  }
  // PaddleClas classification: line.strip().replace(",", "")
  if (format === 'strip_comma') return lines.map((l) => l.trim().replace(/,/g, ''));
  return lines.map((l) => l.trim());
}

/** rows of a [N, C] tensor (any leading dims folded into N) */
function rowsOf(t) {
  const c = t.dims[t.dims.length - 1];
  const n = c > 0 ? t.data.length / c : 0;
  return { n, c };
}

/**
 * A float32 tensor the size of t, written row by row (rows of the last axis): row(x, y, o, c) reads
 * t.data[o, o + c) and writes out[o, o + c).
 * @param {{ data: ArrayLike<number>, dims: number[] }} t
 * @param {(x: ArrayLike<number>, y: Float32Array, o: number, c: number) => void} row
 * @returns {{ out: Float32Array, n: number, c: number }}
 */
function perRow(t, row) {
  const { n, c } = rowsOf(t);
  const out = new Float32Array(t.data.length);
  for (let r = 0; r < n; r++) row(t.data, out, r * c, c);
  return { out, n, c };
}

/** The steps. refs: the parameters that name other steps' outputs (the DAG's edges). */
export const STEPS = {
  // ---- request decoders ----
  request_base64: {
    doc: 'base64 values of the request keys -> bytes (every key, in request order, when keys is empty: a batch)',
    params: { keys: P.strings({ default: [] }), max_values: P.int({ min: 1, max: 4096, default: 64 }) },
    refs: [],
    run: ({ keys, max_values }, _in, { request, step }) => {
      const pick = keys.length ? keys : request.key;
      if (pick.length === 0) throw new RequestError(400, `step "${step}": the request has no keys`);
      // each value becomes a decoded image: bound how many one request may bring
      if (pick.length > max_values) throw new RequestError(400, `step "${step}": ${pick.length} values, at most ${max_values} per request (max_values)`);
      return pick.map((k) => base64Bytes(requestValue(request, k, step), `key "${k}"`));
    },
  },
  request_frames: {
    doc: 'video frames: base64 of raw uint8 [T,H,W,C] bytes + a shape string "(T, H, W, C)" -> list of T images',
    params: {
      data_key: P.string({ default: 'frames' }),
      shape_key: P.string({ default: 'frames_shape' }),
      channel_order: P.enum(['rgb', 'bgr'], { default: 'rgb' }),
      strict_keys: P.bool({ default: true }),
      max_frames: P.int({ min: 1, default: 100000 }),
    },
    refs: [],
    run: ({ data_key, shape_key, channel_order, strict_keys, max_frames }, _in, { request, step }) => {
      if (strict_keys) {
        for (const k of request.key) if (k !== data_key && k !== shape_key) throw new RequestError(400, `unexpected key received: ${k}`);
      }
      const dims = parseShapeString(requestValue(request, shape_key, step), `key "${shape_key}"`);
      const bytes = base64Bytes(requestValue(request, data_key, step), `key "${data_key}"`);
      if (dims.length !== 4 || dims[3] !== 3) throw new RequestError(400, `key "${shape_key}": expected (T, H, W, 3), found (${dims.join(', ')})`);
      const [t, h, w, c] = dims;
      if (t < 1 || h < 1 || w < 1 || t > max_frames) throw new RequestError(400, `key "${shape_key}": ${t} frames of ${w}x${h} (1..${max_frames} frames)`);
      if (t * h * w * c !== bytes.length) throw new RequestError(400, `key "${data_key}": ${bytes.length} bytes cannot be reshaped to (${dims.join(', ')})`);
      const per = h * w * c;
      const frames = [];
      for (let i = 0; i < t; i++) frames.push({ width: w, height: h, channels: 3, order: channel_order, data: new Uint8Array(bytes.buffer, bytes.byteOffset + i * per, per) });
      return frames;
    },
  },
  request_tensor: {
    doc: 'a tensor sent as text: a JSON array string or upstream\'s "0.1, 0.2; 0.3, 0.4" form -> tensor of dtype, shaped by shape (-1 first: the rows the request brings)',
    params: {
      key: P.string(),
      dtype: P.enum(['float32', 'float64', 'int32', 'int64'], { default: 'float32' }),
      shape: P.numbers({ minLength: 1, min: -1 }),
    },
    refs: [],
    run: ({ key, dtype, shape }, _in, { request, step }) => {
      const v = requestValue(request, key, step);
      if (typeof v !== 'string' || v.length > 64 * 1024 * 1024) throw new RequestError(400, `key "${key}": expected numbers as text`);
      let values;
      if (/^\s*\[/.test(v)) {
        try { values = flatten(JSON.parse(v), `key "${key}"`).data; } catch (e) { throw e instanceof RequestError ? e : new RequestError(400, `key "${key}": not a JSON array: ${e.message}`); }
      } else {
        values = parseValueText(v, `key "${key}"`).flat();
      }
      const inner = shape.slice(1).reduce((a, b) => a * b, 1);
      const rows = shape[0] === -1 ? (inner > 0 ? values.length / inner : 0) : shape[0];
      if (!Number.isInteger(rows) || rows * inner !== values.length || rows < 1) throw new RequestError(400, `key "${key}": ${values.length} numbers cannot be shaped [${shape.join(', ')}]`);
      return { data: toFeedArray(dtype, values, `key "${key}"`), dims: [rows, ...shape.slice(1)] };
    },
  },
  request_number: {
    doc: 'a number sent as a string ("0.5", "3") -> number',
    params: { key: P.string(), integer: P.bool({ default: false }) },
    refs: [],
    run: ({ key, integer }, _in, { request, step }) => {
      const v = requestValue(request, key, step);
      const s = typeof v === 'number' ? String(v) : v;
      if (typeof s !== 'string' || !/^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)\s*$/.test(s)) throw new RequestError(400, `key "${key}": expected a number, found ${JSON.stringify(String(v).slice(0, 40))}`);
      const n = Number(s);
      if (integer && !Number.isSafeInteger(n)) throw new RequestError(400, `key "${key}": expected an integer`);
      return n;
    },
  },

  // ---- images ----
  decode_image: {
    offload: true,
    pure: true,
    doc: 'encoded bytes -> BGR image, as cv2.imdecode(IMREAD_COLOR) (JPEG/PNG/BMP by content)',
    params: { in: P.ref() },
    refs: ['in'],
    run: ({ in: _r }, { in: v }, { step }) => each(v, (b, i) => decodeOne(b, i, step)),
  },
  resize_short: {
    offload: true,
    pure: true,
    doc: 'resize so the short side is `size`: new dims int(round(dim * size / min(h, w))) (Paddle Serving Resize(int))',
    params: { in: P.ref(), size: P.int({ min: 1, max: 16384 }), library: P.enum(['cv2', 'pil'], { default: 'cv2' }) },
    refs: ['in'],
    run: ({ size, library }, { in: v }, { step }) => each(v, (x) => resizeShort(asImage(x, step), size, { interp: library })),
  },
  resize: {
    offload: true,
    pure: true,
    doc: 'resize to width x height (aspect not kept), cv2 INTER_LINEAR or PIL BILINEAR',
    params: { in: P.ref(), width: P.int({ min: 1, max: 16384 }), height: P.int({ min: 1, max: 16384 }), library: P.enum(['cv2', 'pil'], { default: 'cv2' }) },
    refs: ['in'],
    run: ({ width, height, library }, { in: v }, { step }) => each(v, (x) => resizeImage(asImage(x, step), width, height, library)),
  },
  scale_fixed_ratio: {
    offload: true,
    pure: true,
    // an image whose short side already fits is passed on as it is: the output may share its input's buffer
    aliases: true,
    doc: 'PaddleVideo Scale(short_size, fixed_ratio=True): short side already short_size -> unchanged; else short side short_size and long side int(short_size*4/3)',
    params: { in: P.ref(), short_size: P.int({ min: 1, max: 16384 }), library: P.enum(['cv2', 'pil'], { default: 'pil' }) },
    refs: ['in'],
    run: ({ short_size, library }, { in: v }, { step }) => each(v, (x) => scaleShort(asImage(x, step), short_size, { fixedRatio: true, interp: library })),
  },
  center_crop: {
    pure: true,
    doc: 'centre square crop of `size`: start (dim-size)//2 (floor, Paddle Serving CenterCrop) or round((dim-size)/2) half to even (PaddleVideo, do_round)',
    params: { in: P.ref(), size: P.int({ min: 1, max: 16384 }), rounding: P.enum(['floor', 'round']) },
    refs: ['in'],
    run: ({ size, rounding }, { in: v }, { step }) => each(v, (x) => centerCrop(asImage(x, step), size, { rounding })),
  },
  ten_crop: {
    offload: true,
    pure: true,
    doc: 'PaddleVideo TenCrop(size) over a list: 4 corners + centre at multiples of (dim-size)//4, each followed by its left-right flips',
    params: { in: P.ref(), size: P.int({ min: 1, max: 16384 }) },
    refs: ['in'],
    run: ({ size }, { in: v }, { step }) => tenCrop((Array.isArray(v) ? v : [v]).map((x) => asImage(x, step)), size),
  },
  sample_frames: {
    pure: true,
    // its output is a few of its input's frames: a chain it starts sends only those to a step worker
    selects: true,
    doc: 'PaddleVideo Sampler(num_seg, seg_len, valid_mode=True[, select_left]) over a list of frames',
    params: { in: P.ref(), num_seg: P.int({ min: 1, max: 4096 }), seg_len: P.int({ min: 1, max: 4096, default: 1 }), select_left: P.bool({ default: false }) },
    refs: ['in'],
    run: ({ num_seg, seg_len, select_left }, { in: v }) => {
      const frames = Array.isArray(v) ? v : [v];
      return sampleFrames(frames.length, { numSeg: num_seg, segLen: seg_len, selectLeft: select_left }).map((i) => frames[i]);
    },
  },
  channel_order: {
    pure: true,
    doc: 'reverse the channel order (BGR <-> RGB; Paddle Serving BGR2RGB / RGB2BGR)',
    params: { in: P.ref() },
    refs: ['in'],
    run: (_p, { in: v }, { step }) => each(v, (x) => swapChannels(asImage(x, step))),
  },
  normalize: {
    offload: true,
    pure: true,
    doc: 'x / div, minus mean, divided by std per channel (HWC in, float32 HWC out); arithmetic in float32 (PaddleVideo) or float64 (Paddle Serving reader, numpy default)',
    params: {
      in: P.ref(),
      div: P.number({ min: 1e-12, default: 255 }),
      mean: P.numbers({ length: 3, default: MEAN }),
      std: P.numbers({ length: 3, default: STD, min: 1e-12 }),
      arithmetic: P.enum(['float32', 'float64'], { default: 'float32' }),
    },
    refs: ['in'],
    run: ({ div, mean, std, arithmetic }, { in: v }, { step }) => each(v, (x) => normalizeImage(asImage(x, step), { div, mean, std, arithmetic })),
  },
  to_chw: {
    offload: true,
    pure: true,
    doc: 'HWC image -> float32 tensor [C, H, W] (Transpose((2, 0, 1)))',
    params: { in: P.ref() },
    refs: ['in'],
    run: (_p, { in: v }, { step }) => each(v, (x) => toChw(asImage(x, step))),
  },
  stack: {
    pure: true,
    // one tensor is passed on as it is: the output shares its input's buffer
    aliases: true,
    doc: 'a list of tensors (or one) -> one tensor [N, ...]; `shape` (with one -1 allowed) reshapes it (e.g. [1, 8, 3, 224, 224])',
    params: { in: P.ref(), shape: P.numbers({ optional: true }) },
    refs: ['in'],
    run: ({ shape }, { in: v }, { step }) => {
      const list = Array.isArray(v) ? v : [v];
      if (list.length === 0) throw new RequestError(400, `step "${step}": nothing to stack`);
      const first = asTensor(list[0], step);
      const per = first.data.length;
      let data = first.data;
      // one tensor (the usual request) is taken as it is: no copy
      if (list.length > 1) {
        data = new first.data.constructor(per * list.length);
        list.forEach((t, i) => {
          if (asTensor(t, step).data.length !== per) throw new RequestError(400, `step "${step}": tensors of different sizes`);
          data.set(t.data, i * per);
        });
      }
      let dims = [list.length, ...first.dims];
      if (shape) dims = reshape(dims, shape, step);
      return { data, dims };
    },
  },
  image_info: {
    doc: 'a PaddleDetection detector\'s extra feeds for an image resized to target [h, w]: im_shape [[h, w]] and scale_factor [[h/H, w/W]]',
    params: { in: P.ref(), target: P.numbers({ length: 2, min: 1 }) },
    refs: ['in'],
    run: ({ target }, { in: v }, { step }) => {
      const list = Array.isArray(v) ? v : [v];
      const n = list.length;
      const imShape = new Float64Array(2 * n);
      const scale = new Float64Array(2 * n);
      list.forEach((x, i) => {
        const im = asImage(x, step);
        imShape[2 * i] = target[0]; imShape[2 * i + 1] = target[1];
        scale[2 * i] = target[0] / im.height; scale[2 * i + 1] = target[1] / im.width;
      });
      return { im_shape: { data: imShape, dims: [n, 2] }, scale_factor: { data: scale, dims: [n, 2] } };
    },
  },

  // ---- models ----
  model: {
    doc: 'run one of the bundle\'s models: feeds maps each model input (alias or name) to a step output; the output is { fetch alias: tensor }',
    params: { model: P.string(), feeds: P.refMap(), fetch: P.strings({ default: [] }) },
    refs: ['feeds'],
    prepare: (p, { models, where }) => {
      const m = models[p.model];
      if (!m) throw new PipelineConfigError(`${where}: no model "${p.model}" in pipeline.models (${Object.keys(models).join(', ') || 'none'})`);
      return m.bind(p, where);
    },
    // sole: the feeds nobody else reads, which the model may take without a copy
    run: (_p, inputs, { state, sole }) => state.run(inputs.feeds, sole),
  },

  // ---- post-processing ----
  softmax: {
    doc: 'softmax over the last axis (max subtracted first), float32 results',
    params: { in: P.ref() },
    refs: ['in'],
    run: (_p, { in: v }, { step }) => {
      const t = asTensor(v, step);
      const { out } = perRow(t, (x, y, o, c) => {
        let max = -Infinity;
        for (let j = 0; j < c; j++) max = Math.max(max, x[o + j]);
        let sum = 0;
        for (let j = 0; j < c; j++) sum += Math.fround(Math.exp(Math.fround(x[o + j] - max)));
        for (let j = 0; j < c; j++) y[o + j] = Math.fround(Math.exp(Math.fround(x[o + j] - max))) / Math.fround(sum);
      });
      return { data: out, dims: t.dims.slice() };
    },
  },
  topk: {
    doc: 'per row: the k best classes (first index on ties) with their labels; k = 1 gives one label and one score per row, as the seeds answer',
    params: {
      in: P.ref(),
      k: P.int({ min: 1, max: 1000, default: 1 }),
      labels: P.file(),
      label_format: P.enum(['strip_comma', 'index_name', 'line'], { default: 'line' }),
    },
    refs: ['in'],
    prepare: (p, { base, where }) => ({ labels: readLabels(base, p.labels, p.label_format, where) }),
    run: ({ k }, { in: v }, { step, state }) => {
      const t = asTensor(v, step);
      const { n, c } = rowsOf(t);
      const labels = [];
      const scores = [];
      const indices = [];
      for (let r = 0; r < n; r++) {
        const row = Array.from(t.data.subarray(r * c, (r + 1) * c), Number);
        const order = (k === 1 ? argmax(row) : null) ?? row.map((_, j) => j).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
        const lab = order.map((j) => {
          const l = state.labels[j];
          if (l === undefined) throw new RequestError(500, `step "${step}": class ${j} has no line in the labels file (${state.labels.length} labels)`, 10000);
          return l;
        });
        labels.push(k === 1 ? lab[0] : lab);
        scores.push(k === 1 ? new PyFloat(row[order[0]]) : order.map((j) => new PyFloat(row[j])));
        indices.push(k === 1 ? order[0] : order);
      }
      return { labels, scores, indices };
    },
  },
  det_boxes: {
    doc: 'detector rows [class, score, x1, y1, x2, y2] (+ per-image counts) -> boxes: sorted by score, first top_k, then score >= score_threshold (PP-ShiTu DetOp); append_whole_image adds [0, 0, W, H] with score 1.0 (RecOp)',
    params: {
      in: P.ref(),
      image: P.ref(),
      counts: P.ref({ optional: true }),
      score_threshold: P.number({ min: 0, max: 1, default: 0.2 }),
      top_k: P.int({ min: 0, max: 10000, default: 5 }),
      append_whole_image: P.bool({ default: true }),
    },
    refs: ['in', 'image', 'counts'],
    run: ({ score_threshold, top_k, append_whole_image }, { in: rows, image, counts }, { step }) => {
      const t = asTensor(rows, step);
      if (t.dims.length !== 2 || t.dims[1] !== 6) throw new RequestError(500, `step "${step}": detector output has shape [${t.dims}], expected [N, 6]`, 10000);
      const boxes = [];
      // the rows of the first image only (RecOp answers for the first image of a request)
      const n = counts ? Math.min(t.dims[0], Number(asTensor(counts, step).data[0])) : t.dims[0];
      for (let r = 0; r < n; r++) {
        const [cls, score, x1, y1, x2, y2] = Array.from(t.data.subarray(r * 6, r * 6 + 6), Number);
        if (cls < 0) continue; // Paddle's NMS pads an empty result with class -1
        // RCNNPostprocess: [x1, y1, w, h] with +1 sizes; DetOp: back to corners with -1 (float64, as Python)
        const w = x2 - x1 + 1;
        const h = y2 - y1 + 1;
        boxes.push({ category_id: Math.trunc(cls), score, bbox: [x1, y1, w + (x1 - 1), h + (y1 - 1)] });
      }
      // list.sort is stable, as Python's
      boxes.sort((a, b) => b.score - a.score);
      const kept = boxes.slice(0, top_k).filter((b) => b.score >= score_threshold);
      if (append_whole_image) {
        const im = asImage(Array.isArray(image) ? image[0] : image, step);
        kept.push({ category_id: 0, score: 1.0, bbox: [0, 0, im.width, im.height] });
      }
      return kept;
    },
  },
  crop_boxes: {
    pure: true,
    doc: 'crop each box from the image: img[int(y1):int(y2), int(x1):int(x2)] with numpy slicing rules',
    params: { in: P.ref(), boxes: P.ref() },
    refs: ['in', 'boxes'],
    run: (_p, { in: v, boxes }, { step }) => {
      const im = asImage(Array.isArray(v) ? v[0] : v, step);
      return boxes.map((b) => cropBox(im, b.bbox));
    },
  },
  l2_normalize: {
    doc: 'each row divided by its L2 norm (float32)',
    params: { in: P.ref() },
    refs: ['in'],
    run: (_p, { in: v }, { step }) => {
      const { out, n, c } = perRow(asTensor(v, step), (x, y, o, c) => {
        let s = 0;
        for (let j = 0; j < c; j++) s += x[o + j] * x[o + j];
        const norm = Math.fround(Math.sqrt(Math.fround(s)));
        for (let j = 0; j < c; j++) y[o + j] = x[o + j] / norm;
      });
      return { data: out, dims: [n, c] };
    },
  },
  vector_search: {
    doc: 'search the bundle\'s vector index (faiss vector.index + id_map.pkl) for each row: { ids, scores, docs } with k hits per row',
    params: { in: P.ref(), index: P.file(), k: P.int({ min: 1, max: 1000, default: 1 }) },
    refs: ['in'],
    prepare: (p, { base, where }) => openIndex(join(base, p.index), where),
    run: ({ k }, { in: v }, { step, state }) => {
      const t = asTensor(v, step);
      const { n, c } = rowsOf(t);
      return state.search(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), n, c, k);
    },
  },
  recognition_results: {
    doc: 'PP-ShiTu RecOp: for each box whose top hit scores >= score_threshold, {bbox: [int x4], rec_docs: label of the hit, rec_scores: float32 score}',
    params: {
      boxes: P.ref(),
      hits: P.ref(),
      score_threshold: P.number({ default: 0.5 }),
      doc_field: P.enum(['split_1', 'after_tab'], { default: 'split_1' }),
    },
    refs: ['boxes', 'hits'],
    run: ({ score_threshold, doc_field }, { boxes, hits }, { step }) => {
      if (hits.scores.length !== boxes.length) throw new RequestError(500, `step "${step}": ${boxes.length} boxes but ${hits.scores.length} search results`, 10000);
      const out = [];
      boxes.forEach((b, i) => {
        const score = Number(hits.scores[i][0]);
        if (!(score >= score_threshold)) return;
        const doc = String(hits.docs[i][0] ?? '');
        // upstream: id_map[id].split()[1] (Python's whitespace split); after_tab keeps labels with spaces whole
        const label = doc_field === 'split_1' ? (doc.trim().split(/\s+/)[1] ?? '') : doc.slice(doc.indexOf('\t') + 1);
        out.push({ bbox: b.bbox.map((x) => Math.trunc(x)), rec_docs: label, rec_scores: new NpFloat32(score) });
      });
      return out;
    },
  },
  nms: {
    doc: 'greedy NMS over result dicts ordered by score descending: IoU with +1 areas (float32 corners), drop overlaps > iou_threshold',
    params: { in: P.ref(), iou_threshold: P.number({ min: 0, max: 1, default: 0.05 }), score_key: P.string({ default: 'rec_scores' }), box_key: P.string({ default: 'bbox' }) },
    refs: ['in'],
    run: ({ iou_threshold, score_key, box_key }, { in: results }) => nmsResults(results, iou_threshold, score_key, box_key),
  },
};

/**
 * [index of the largest value, the first one on ties]: what topk's sort puts first, found in one scan;
 * null when the row holds a NaN (the sort then decides, as it always did).
 * @param {number[]} row
 */
function argmax(row) {
  let best = 0;
  for (let j = 0; j < row.length; j++) {
    const v = row[j];
    if (v !== v) return null;
    if (v > row[best]) best = j;
  }
  return row.length ? [best] : [];
}

function reshape(dims, shape, step) {
  const total = dims.reduce((a, b) => a * b, 1);
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const free = shape.filter((d) => d === -1).length;
  if (free > 1 || (free === 0 && known !== total) || (free === 1 && (known === 0 || total % known !== 0))) {
    throw new RequestError(400, `step "${step}": cannot reshape [${dims.join(', ')}] to [${shape.join(', ')}]`);
  }
  return shape.map((d) => (d === -1 ? total / known : d));
}

/**
 * PaddleClas nms_to_rec_results: corners as float32, areas (x2-x1+1)*(y2-y1+1), order by score
 * descending (numpy argsort reversed: on equal scores the later index first), keep while IoU <= thresh.
 */
export function nmsResults(results, thresh, scoreKey = 'rec_scores', boxKey = 'bbox') {
  const f = Math.fround;
  const score = (r) => Number(r[scoreKey]?.v ?? r[scoreKey]);
  const bx = results.map((r) => r[boxKey].map((x) => f(Number(x))));
  const areas = bx.map(([x1, y1, x2, y2]) => f(f(f(x2 - x1) + 1) * f(f(y2 - y1) + 1)));
  let order = results.map((_, i) => i).sort((a, b) => score(results[b]) - score(results[a]) || b - a);
  const keep = [];
  while (order.length > 0) {
    const i = order[0];
    keep.push(results[i]);
    const rest = [];
    for (const j of order.slice(1)) {
      const w = Math.max(0, f(f(Math.min(bx[i][2], bx[j][2]) - Math.max(bx[i][0], bx[j][0])) + 1));
      const h = Math.max(0, f(f(Math.min(bx[i][3], bx[j][3]) - Math.max(bx[i][1], bx[j][1])) + 1));
      const inter = f(w * h);
      const ovr = f(inter / f(f(areas[i] + areas[j]) - inter));
      if (ovr <= f(thresh)) rest.push(j);
    }
    order = rest;
  }
  return keep;
}
