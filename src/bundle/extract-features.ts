/**
 * `extractFeatures(bundleDir, imagePaths)`: the gallery features PaddleClas's build_gallery.py
 * computes with its RecPredictor (deploy/configs/inference_general.yaml): cv2.imread (BGR, EXIF
 * orientation) -> [:, :, ::-1] -> ResizeImage(224) (cv2.resize INTER_LINEAR to 224x224) ->
 * NormalizeImage(scale 0.00392157, ImageNet mean/std, float32) -> CHW -> the rec model, batches of
 * 32 -> each row divided by its L2 norm. The image operations are the bundle's own
 * (templates/server/image/), the model runs in onnxruntime.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PserveError, fsError } from '../errors.js';
import { openSession } from '../runtime/onnx-runtime.js';
import { TEMPLATES_DIR } from './build-bundle.js';

interface Image { width: number; height: number; channels: number; data: Uint8Array }
interface ImageOps {
  decodeImage(bytes: Uint8Array, opts?: { order?: 'bgr' | 'rgb' }): Image;
  resizeCv2Linear(img: Image, width: number, height: number): Image;
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
/**
 * inference_general.yaml writes the scale as this decimal, not 1/255, and PaddleClas's NormalizeImage
 * computes (x * float32(scale) - mean) / std in float32. This is deliberately NOT the pipeline's
 * normalize step: upstream builds the gallery (build_gallery.py, PaddleClas's Python predictor) and
 * answers queries (the recognition service's RecOp, Paddle Serving's Div(255) + Normalize in float64,
 * FORMATS §8 B step 5) with two different arithmetics, about 1e-7 apart, and pserve reproduces each
 * where upstream uses it, so a gallery pserve builds holds the vectors build_gallery.py writes and a
 * query gets the features the seed service computes.
 */
const SCALE = Math.fround(0.00392157);
const BATCH = 32;

/** The feature model of a bundle: a pipeline bundle's models/rec, else a plain bundle's model.onnx. */
export function findRecModel(bundleDir: string): string {
  for (const p of [join(bundleDir, 'models', 'rec', 'model.onnx'), join(bundleDir, 'model.onnx')]) if (existsSync(p)) return resolve(p);
  throw new PserveError('E_INDEX_NO_MODEL', 'the bundle has no feature model (models/rec/model.onnx or model.onnx)', {
    file: resolve(bundleDir), hint: 'build it with pserve bundle --recipe ppshitu, or give the features with --vectors F.npy',
  });
}

async function imageOps(): Promise<ImageOps> {
  const base = new URL('server/image/', TEMPLATES_DIR);
  const decode = await import(new URL('decode.mjs', base).href) as Pick<ImageOps, 'decodeImage'>;
  const resize = await import(new URL('resize.mjs', base).href) as Pick<ImageOps, 'resizeCv2Linear'>;
  return { decodeImage: decode.decodeImage, resizeCv2Linear: resize.resizeCv2Linear };
}

/** per channel, float32 (x * scale - mean) / std of each uint8 value x: TABLE[c * 256 + x] */
const TABLE = (() => {
  const f = Math.fround;
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) for (let x = 0; x < 256; x++) t[c * 256 + x] = f(f(f(x * SCALE) - f(MEAN[c]!)) / f(STD[c]!));
  return t;
})();

/** float32 (x * scale - mean) / std, HWC RGB uint8 -> CHW, written at `out[o..]` */
function normalizeChw(img: Image, out: Float32Array, o: number): void {
  const { width: w, height: h, data } = img;
  const plane = w * h;
  for (let c = 0; c < 3; c++) {
    const t = c * 256; const q = o + c * plane;
    for (let i = 0; i < plane; i++) out[q + i] = TABLE[t + data[i * 3 + c]!]!;
  }
}

/**
 * L2-normalised features of the images, one row each, in order.
 * @returns vectors (n*d float32) and d
 */
export async function extractFeatures(bundleDir: string, imagePaths: string[], onProgress?: (done: number, total: number) => void): Promise<{ vectors: Float32Array; d: number }> {
  const model = findRecModel(bundleDir);
  const ops = await imageOps();
  const session = await openSession(model, { label: 'the feature model' });
  try {
    const input = session.inputs[0];
    if (!input || session.inputs.length !== 1) throw new PserveError('E_INDEX_NO_MODEL', `the feature model has ${session.inputs.length} inputs; one image input [N,3,H,W] is expected`, { file: model });
    const dims = input.shape.map((v) => (typeof v === 'number' && v > 0 ? v : -1));
    const H = dims[2] && dims[2] > 0 ? dims[2] : 224;
    const W = dims[3] && dims[3] > 0 ? dims[3] : 224;
    let d = 0;
    let vectors = new Float32Array(0);
    for (let b0 = 0; b0 < imagePaths.length; b0 += BATCH) {
      const batch = imagePaths.slice(b0, b0 + BATCH);
      const x = new Float32Array(batch.length * 3 * H * W);
      batch.forEach((p, j) => {
        let bytes: Uint8Array;
        try { bytes = readFileSync(p); } catch (e) { throw fsError(e, p, 'gallery image'); }
        let img: Image;
        try { img = ops.resizeCv2Linear(ops.decodeImage(bytes, { order: 'rgb' }), W, H); } catch (e) {
          const err = e as { code?: string; message?: string };
          throw new PserveError(err.code ?? 'E_IMAGE', `gallery image: ${err.message ?? String(e)}`, { file: p });
        }
        normalizeChw(img, x, j * 3 * H * W);
      });
      const out = await session.run({ [input.name]: { dtype: 'float32', dims: [batch.length, 3, H, W], data: x } });
      const t = out[session.outputs[0]!.name]!;
      const rowLen = t.data.length / batch.length;
      if (d === 0) { d = rowLen; vectors = new Float32Array(imagePaths.length * d); }
      const f = Math.fround;
      for (let j = 0; j < batch.length; j++) {
        // numpy sums pairwise; a double sum rounded once is at least as close to it as a float32 loop
        let ss = 0;
        for (let i = 0; i < d; i++) { const v = Number(t.data[j * d + i]); ss += f(v * v); }
        const norm = f(Math.sqrt(ss));
        for (let i = 0; i < d; i++) vectors[(b0 + j) * d + i] = f(Number(t.data[j * d + i]) / norm);
      }
      onProgress?.(Math.min(b0 + BATCH, imagePaths.length), imagePaths.length);
    }
    return { vectors, d };
  } finally {
    await session.close();
  }
}
