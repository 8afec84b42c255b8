/**
 * The one seam between pipeline steps and the image (../image/) and index (../index/) modules: the
 * steps call these names, each of which is a function of those modules (no image or search code
 * lives here).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../image/decode.mjs';
import { ImageError } from '../image/errors.mjs';
import * as ops from '../image/ops.mjs';
import { readFaissIndex } from '../index/faiss-io.mjs';
import { readIdMapPickle } from '../index/pickle.mjs';
import { searchIndex } from '../index/search.mjs';
import { PipelineConfigError } from './params.mjs';

/** encoded bytes -> BGR HWC uint8, chosen by content as cv2.imdecode(IMREAD_COLOR) does */
export const decode = (bytes) => decodeImage(bytes, { order: 'bgr' });

/** cv2.resize INTER_LINEAR or PIL BILINEAR (uint8, bit-exact); cv2 on float images in their precision */
export const resize = (img, width, height, library) => ops.resizeImage(img, width, height, library);

/** (img, x, y, width, height) -> the rectangle */
export const crop = ops.crop;
export const flipHorizontal = ops.flipHorizontal;
export const swapRB = ops.swapChannels;
/** (img, { div, mean, std, arithmetic }) -> HWC float64 or float32 image (numpy's rounding for that arithmetic) */
export const normalize = ops.normalizeImage;
/** HWC image -> { data: Float32Array, dims: [C, H, W] } */
export const toChw = ops.toChw;
/** (T, { numSeg, segLen, selectLeft }) -> frame indices */
export const sampleFrames = ops.sampleFrames;
/**
 * A PaddleClas index folder (vector.index + id_map.pkl), read once at start: search(queries, n, d, k)
 * answers { ids, scores, docs } per query row, as faiss's search and the id map give them.
 */
export function openIndex(dir, where) {
  let index;
  let idMap;
  try {
    index = readFaissIndex(readFileSync(join(dir, 'vector.index')));
    idMap = readIdMapPickle(readFileSync(join(dir, 'id_map.pkl'))).map;
  } catch (e) {
    throw new PipelineConfigError(`${where}: cannot read the index in ${dir}: ${e.code ? `${e.code}: ` : ''}${e.message}`);
  }
  return {
    dim: index.d,
    search(queries, n, d, k) {
      if (d !== index.d) throw new ImageError('E_IMAGE_ARG', `features of ${d} values, the index holds ${index.d}-d vectors`);
      const r = searchIndex(index, queries, k);
      const ids = [];
      const scores = [];
      const docs = [];
      for (let i = 0; i < n; i++) {
        const row = Array.from(r.labels.slice(i * k, (i + 1) * k), Number);
        ids.push(row);
        scores.push(Array.from(r.distances.slice(i * k, (i + 1) * k)));
        docs.push(row.map((id) => idMap.get(id) ?? null));
      }
      return { ids, scores, docs };
    },
  };
}
