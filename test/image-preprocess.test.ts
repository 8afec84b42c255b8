/**
 * pserve's image code (templates/server/image) against the libraries the seeds' servers use: every fixture
 * image decoded bit for bit like cv2.imdecode (and PIL's convert('RGB')), cv2.resize INTER_LINEAR and PIL
 * BILINEAR on uint8 at several sizes (down and up), and the three seeds' preprocessing (FORMATS.md §8:
 * classification, PP-ShiTu det and rec, PP-TSM, PP-TSN ten-crop) computed by test/oracles/image_oracle.py
 * with Debian's python3-opencv, python3-pil and numpy. The measured maxima are printed; uint8 steps must be
 * exact (0) and float tensors within 1/255 (they measure 0 too). Skips with a message when /usr/bin/python3
 * lacks cv2, PIL or numpy (CI installs python3-opencv python3-pil python3-numpy).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HAVE_SHARED, PY, ROOT, pyHas, shared, tempDir } from './helpers.js';
import { decodeImage } from '../templates/server/image/decode.mjs';
import { resizeCv2Linear, resizePilBilinear } from '../templates/server/image/resize.mjs';
import {
  centerCrop, cropBox, normalizeImage, resizeImage, resizeShort, sampleFrames, scaleShort, swapChannels, tenCrop,
  toChw, resize, centerCropRect, normalizeToChw, normalizeResizeChw,
} from '../templates/server/image/ops.mjs';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

const missing = !HAVE_SHARED ? 'the shared fixtures are absent' : !pyHas('cv2, PIL, numpy') ? `${PY} lacks cv2/PIL/numpy` : null;
if (missing) console.warn(`image-preprocess: skipped, ${missing}`);
const describeIf = (missing ? describe.skip : describe) as typeof describe;

interface Arr { file: string; shape: number[]; dtype: string }
interface ImageCase {
  path: string; name: string; decode: Arr; pil: Arr;
  resize: { w: number; h: number; cv2: Arr; pil: Arr }[];
  cls_resized: Arr; cls_cropped: Arr; cls: Arr; det: Arr; scale_factor: number[];
  rec_boxes: number[][]; rec: Arr; tsm_scaled: Arr; tsm: Arr;
}
interface Cases {
  images: ImageCase[];
  video: { frames: Arr; tsm_idx: number[]; tsm: Arr; tsn_idx: number[]; tsn_crops: Arr } | null;
  float_resize: { src: Arr; half64: Arr; src32: Arr; odd32: Arr };
  versions: Record<string, string>;
}
type Img = { width: number; height: number; channels: number; data: Uint8Array };

describeIf('image decoding and preprocessing match OpenCV / PIL / numpy', () => {
  const out = tempDir('pserve-image-');
  let cases: Cases;
  const maxima: Record<string, number> = {};
  const load = (a: Arr): Uint8Array | Float32Array => {
    const b = readFileSync(join(out, a.file));
    return a.dtype === 'float32' ? new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  };
  /** max |a - b| (and the same length), recorded under `key` for the report */
  const diff = (key: string, got: ArrayLike<number>, ref: ArrayLike<number>): number => {
    expect(got.length, key).toBe(ref.length);
    let m = 0;
    for (let i = 0; i < ref.length; i++) { const d = Math.abs(got[i]! - ref[i]!); if (d > m || Number.isNaN(d)) m = Number.isNaN(d) ? Infinity : d; }
    const k = key.split(' ')[0]!;
    maxima[k] = Math.max(maxima[k] ?? 0, m);
    return m;
  };
  const bytes = (p: string) => new Uint8Array(readFileSync(p));

  beforeAll(() => {
    const r = spawnSync(PY, [join(ROOT, 'test', 'oracles', 'image_oracle.py'), shared('pipeline'), out], { encoding: 'utf8', timeout: 240_000 });
    if (r.status !== 0) throw new Error(`image_oracle.py failed: ${r.stderr}`);
    cases = JSON.parse(readFileSync(join(out, 'cases.json'), 'utf8')) as Cases;
  }, 300_000);

  it('decodes every fixture image exactly like cv2.imdecode (BGR) and PIL convert("RGB")', () => {
    expect(cases.images.length).toBeGreaterThanOrEqual(11);
    for (const c of cases.images) {
      const img = decodeImage(bytes(c.path));
      expect([img.height, img.width, img.channels], c.name).toEqual(c.decode.shape);
      expect(diff(`decode ${c.name}`, img.data, load(c.decode)), c.name).toBe(0);
      const rgb = decodeImage(bytes(c.path), { order: 'rgb', exif: false });
      expect(diff(`decode-pil ${c.name}`, rgb.data, load(c.pil)), c.name).toBe(0);
    }
  });

  it('cv2.resize INTER_LINEAR and PIL BILINEAR are reproduced exactly, down and up', () => {
    for (const c of cases.images) {
      const img = decodeImage(bytes(c.path));
      for (const r of c.resize) {
        expect(diff(`resize-cv2 ${c.name} ${r.w}x${r.h}`, resizeCv2Linear(img, r.w, r.h).data, load(r.cv2)), `${c.name} cv2 ${r.w}x${r.h}`).toBe(0);
        expect(diff(`resize-pil ${c.name} ${r.w}x${r.h}`, resizePilBilinear(img, r.w, r.h).data, load(r.pil)), `${c.name} PIL ${r.w}x${r.h}`).toBe(0);
      }
    }
  });

  it('classification (§8 A): Resize(256), CenterCrop(224), RGB, CHW, Div(255), Normalize', () => {
    for (const c of cases.images) {
      const img = decodeImage(bytes(c.path));
      const resized = resizeShort(img, 256);
      expect(diff(`cls-resize ${c.name}`, resized.data, load(c.cls_resized)), c.name).toBe(0);
      const cropped = centerCrop(resized, 224);
      expect(diff(`cls-crop ${c.name}`, cropped.data, load(c.cls_cropped)), c.name).toBe(0);
      const t = toChw(normalizeImage(swapChannels(cropped), { div: 255, mean: MEAN, std: STD, arithmetic: 'float64' })).data;
      expect(diff(`cls-tensor ${c.name}`, t, load(c.cls)), c.name).toBeLessThanOrEqual(1 / 255);
      // the pipeline's fused path (resize of the crop's window only, one-pass normalise + CHW): the same bits
      const win = resize(img, resized.width, resized.height, 'cv2', centerCropRect(resized.width, resized.height, 224));
      expect(Buffer.from(win.data).equals(Buffer.from(cropped.data)), c.name).toBe(true);
      expect(Buffer.from(normalizeToChw(win, { div: 255, mean: MEAN, std: STD, arithmetic: 'float64' }, true).data.buffer).equals(Buffer.from(t.buffer)), c.name).toBe(true);
    }
  });

  it('PP-ShiTu DetOp (§8 B): RGB, Div, Normalize in float64, cv2.resize 640x640 on float64, CHW', () => {
    for (const c of cases.images) {
      const img = decodeImage(bytes(c.path));
      const f = normalizeImage(swapChannels(img), { div: 255, mean: MEAN, std: STD, arithmetic: 'float64' });
      const t = toChw(resizeImage(f, 640, 640, 'cv2')).data;
      expect(diff(`det-tensor ${c.name}`, t, load(c.det)), c.name).toBeLessThanOrEqual(1 / 255);
      // the pipeline's fused path (no normalised image): the same bits
      expect(Buffer.from(normalizeResizeChw(img, 640, 640, { div: 255, mean: MEAN, std: STD, arithmetic: 'float64' }, true).data.buffer).equals(Buffer.from(t.buffer)), c.name).toBe(true);
      expect([640 / img.height, 640 / img.width]).toEqual(c.scale_factor);
    }
  });

  it('cv2.resize on float images: float64 2x reduction (area path) and float32 at odd sizes', () => {
    const f = cases.float_resize;
    const f64 = (a: Arr) => { const b = readFileSync(join(out, a.file)); return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8); };
    const src = { width: 480, height: 320, channels: 3, data: f64(f.src) };
    expect(diff('float-resize64', resizeImage(src, 240, 160, 'cv2').data, f64(f.half64))).toBe(0);
    const src32 = { width: 480, height: 320, channels: 3, data: load(f.src32) as Float32Array };
    expect(diff('float-resize32', resizeImage(src32, 333, 517, 'cv2').data, load(f.odd32))).toBe(0);
  });

  it('PP-ShiTu RecOp (§8 B): crop by box with int() corners, RGB, cv2.resize 224, Div, Normalize, CHW', () => {
    for (const c of cases.images) {
      const img = decodeImage(bytes(c.path));
      const parts = c.rec_boxes.map((box) => {
        const q = resizeImage(swapChannels(cropBox(img, box)), 224, 224, 'cv2');
        return toChw(normalizeImage(q, { div: 255, mean: MEAN, std: STD, arithmetic: 'float64' })).data;
      });
      const batch = new Float32Array(parts.length * 3 * 224 * 224);
      parts.forEach((p, i) => batch.set(p, i * p.length));
      expect(diff(`rec-tensor ${c.name}`, batch, load(c.rec)), c.name).toBeLessThanOrEqual(1 / 255);
    }
  });

  it('PP-TSM steps on still images (§8 C): Scale(256) fixed 4:3 with PIL, CenterCrop(224) half-to-even, float32 normalise', () => {
    for (const c of cases.images) {
      const rgb = decodeImage(bytes(c.path), { order: 'rgb' });
      const scaled = scaleShort(rgb, 256);
      expect(diff(`tsm-scale ${c.name}`, scaled.data, load(c.tsm_scaled)), c.name).toBe(0);
      const cc = centerCrop(scaled, 224, { rounding: 'round' });
      const t = toChw(normalizeImage(cc, { div: 255, mean: MEAN, std: STD, arithmetic: 'float32' })).data;
      expect(diff(`tsm-tensor ${c.name}`, t, load(c.tsm)), c.name).toBeLessThanOrEqual(1 / 255);
    }
  });

  it('the seed video: PP-TSM sampler + scale + crop + normalise, PP-TSN sampler + cv2 scale + ten-crop', () => {
    const v = cases.video;
    if (!v) { console.warn('image-preprocess: example.avi could not be decoded by cv2 here; video leg not compared'); return; }
    const [T, H, W, C] = v.frames.shape as [number, number, number, number];
    const all = load(v.frames) as Uint8Array;
    const frame = (i: number): Img => ({ width: W, height: H, channels: C, data: all.subarray(i * H * W * C, (i + 1) * H * W * C) });
    expect(sampleFrames(T, { numSeg: 8, segLen: 1 })).toEqual(v.tsm_idx);
    const parts = v.tsm_idx.map((i) => {
      const cc = centerCrop(scaleShort(frame(i), 256), 224, { rounding: 'round' });
      return toChw(normalizeImage(cc, { div: 255, mean: MEAN, std: STD, arithmetic: 'float32' })).data;
    });
    const t = new Float32Array(parts.length * parts[0]!.length);
    parts.forEach((p, i) => t.set(p, i * p.length));
    expect(diff('video-tsm', t, load(v.tsm))).toBeLessThanOrEqual(1 / 255);

    expect(sampleFrames(T, { numSeg: 25, segLen: 1, selectLeft: true })).toEqual(v.tsn_idx);
    const crops = tenCrop(v.tsn_idx.map((i) => scaleShort(frame(i), 256, { interp: 'cv2' })), 224);
    expect(crops).toHaveLength(250);
    const got = new Uint8Array(250 * 224 * 224 * 3);
    crops.forEach((cimg, i) => got.set(cimg.data, i * cimg.data.length));
    expect(diff('video-tsn-tencrop', got, load(v.tsn_crops))).toBe(0);
  });

  it('reports the measured maxima', () => {
    console.log(`image-preprocess: max |pserve - ${Object.entries(cases.versions).map(([k, v]) => `${k} ${v}`).join(', ')}| per step: ${JSON.stringify(maxima)}`);
    expect(Object.keys(maxima).length).toBeGreaterThan(5);
  });
});

describe('preprocessing steps: rules that need no oracle', () => {
  const img = (w: number, h: number): Img => ({ width: w, height: h, channels: 3, data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 7) % 256) });

  it('resize_short rounds like Python (half to even) and center crop uses both upstream roundings', () => {
    // 256 / 375 * 500 = 341.33 -> 341
    expect(resizeShort(img(500, 375), 256)).toMatchObject({ width: 341, height: 256 });
    // PaddleVideo: round((341 - 224) / 2) = round(58.5) = 58; Paddle Serving: (341 - 224) // 2 = 58; 59 would be round-half-up
    const wide = img(341, 256);
    const a = centerCrop(wide, 224, { rounding: 'round' });
    const b = centerCrop(img(343, 256), 224, { rounding: 'round' }); // round(59.5) = 60
    expect(a.data.subarray(0, 3)).toEqual(wide.data.subarray(((256 - 224) / 2 * 341 + 58) * 3, ((256 - 224) / 2 * 341 + 58) * 3 + 3));
    expect(b.data[0]).toBe(img(343, 256).data[(16 * 343 + 60) * 3]);
  });

  it('Scale(256) fixed ratio: 341 on the long side whatever the aspect; unchanged when the short side is 256', () => {
    expect(scaleShort(img(320, 240), 256)).toMatchObject({ width: 341, height: 256 });
    expect(scaleShort(img(240, 900), 256)).toMatchObject({ width: 256, height: 341 });
    const same = img(400, 256);
    expect(scaleShort(same, 256)).toBe(same);
  });

  it('the sampler gives the documented PP-TSM frames for T=131 and wraps short videos', () => {
    expect(sampleFrames(131, { numSeg: 8 })).toEqual([7, 23, 39, 55, 71, 87, 103, 119]);
    expect(sampleFrames(5, { numSeg: 8 })).toEqual([0, 1, 2, 3, 4, 0, 1, 2]);
    expect(sampleFrames(20, { numSeg: 25, selectLeft: true })).toEqual(new Array(25).fill(0));
  });

  it('crop by box follows numpy slicing and refuses empty boxes', () => {
    const i = img(10, 8);
    expect(cropBox(i, [1.9, 2.2, 5.99, 7.5])).toMatchObject({ width: 4, height: 5 });
    expect(cropBox(i, [-0.5, 0, 3, 3])).toMatchObject({ width: 3, height: 3 });
    expect(() => cropBox(i, [5, 5, 5, 9])).toThrow(expect.objectContaining({ code: 'E_IMAGE_ARG' }));
    expect(() => resize(i, 0, 5)).toThrow(expect.objectContaining({ code: 'E_IMAGE_ARG' }));
    expect(() => centerCrop(i, 224)).toThrow(expect.objectContaining({ code: 'E_IMAGE_ARG' }));
  });
});
