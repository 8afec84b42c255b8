/**
 * The pipeline's use of the image decoder (../image/) and the vector index (../index/): decoding as
 * cv2.imdecode does, and a PaddleClas index folder opened once for the vector_search step. No image
 * or search code lives here; the image operations are imported by steps.mjs from ../image/ops.mjs.
 */
import { decodeImage } from '../image/decode.mjs';
import { openGallery, searchGallery } from '../index/vector-index.mjs';
import { RequestError } from '../tensors.mjs';
import { PipelineConfigError } from './params.mjs';

/**
 * encoded bytes -> BGR HWC uint8, chosen by content as cv2.imdecode(IMREAD_COLOR) does; view: the pixels may be
 * left in the thread's kernel memory, for a caller that reads them at once (chain.mjs); rows: with view, the rows
 * that caller reads (decodeImage's `rows`)
 */
export const decode = (bytes, view = false, rows = undefined) => decodeImage(bytes, { order: 'bgr', view, rows });

/**
 * A PaddleClas index folder (vector.index + id_map.pkl), read once at start: search(queries, n, d, k)
 * answers { ids, scores, docs } per query row, as faiss's search and the id map give them (rows
 * shorter than k when the gallery is smaller).
 */
export function openIndex(dir, where) {
  let g;
  try {
    g = openGallery(dir);
  } catch (e) {
    throw new PipelineConfigError(`${where}: cannot read the index: ${e.code ? `${e.code}: ` : ''}${e.message}${e.file ? ` (${e.file})` : ''}`);
  }
  return {
    dim: g.index.d,
    search(queries, n, d, k) {
      if (d !== g.index.d) throw new RequestError(400, `the features have ${d} values, the index holds ${g.index.d}-d vectors`);
      const hits = searchGallery(g, queries, k);
      return {
        ids: hits.map((row) => row.map((h) => h.id)),
        scores: hits.map((row) => row.map((h) => h.score)),
        docs: hits.map((row) => row.map((h) => h.doc)),
      };
    },
  };
}
