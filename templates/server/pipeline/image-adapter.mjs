/**
 * The one seam between pipeline steps and the image (../image/) and index (../index/) modules: the
 * steps call these names, each of which is a function of those modules (no image or search code
 * lives here).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../image/decode.mjs';
import { ImageError } from '../image/errors.mjs';
import { resizeCv2Linear, resizePilBilinear } from '../image/resize.mjs';
import { readFaissIndex } from '../index/faiss-io.mjs';
import { readIdMapPickle } from '../index/pickle.mjs';
import { searchIndex } from '../index/search.mjs';
import { PipelineConfigError } from './params.mjs';

const pending = (what) => () => { throw new ImageError('E_IMAGE_UNSUPPORTED', `${what} is not available in this build`); };

/** encoded bytes -> BGR HWC uint8, chosen by content as cv2.imdecode(IMREAD_COLOR) does */
export const decode = (bytes) => decodeImage(bytes, { order: 'bgr' });

/** cv2.resize INTER_LINEAR or PIL BILINEAR */
export function resize(img, width, height, library) {
  return library === 'pil' ? resizePilBilinear(img, width, height) : resizeCv2Linear(img, width, height);
}

export const crop = pending('crop');
export const flipHorizontal = pending('flip');
export const swapRB = pending('channel swap');
export const normalize = pending('normalize');
export const toChw = pending('HWC to CHW');
export const sampleFrames = pending('frame sampler');
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
