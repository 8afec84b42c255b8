/**
 * The vector index, one import for the server's pipeline steps and for the CLI (`pserve index`):
 * faiss `vector.index` and PaddleClas `id_map.pkl` read and written, searched as faiss searches.
 */
export { IndexFormatError } from './errors.mjs';
export {
  MAX_DIM, MAX_LEVELS, MAX_NTOTAL, METRIC_INNER_PRODUCT, METRIC_L2, newFlatIndex, newIdMap2, readFaissIndex, writeFaissIndex,
} from './faiss-io.mjs';
export { MAX_PICKLE_BYTES, MAX_PICKLE_DEPTH, MAX_PICKLE_STRING, readIdMapPickle, writeIdMapPickle } from './pickle.mjs';
export { distancesTo, innerProduct, l2sqr, searchFlat, searchHnsw, searchIndex } from './search.mjs';
export { MT19937, defaultProbas, hnswAdd, newHnswFlatIndex } from './hnsw-build.mjs';
export { readNpy, writeNpy, MAX_NPY_ELEMENTS } from './npy.mjs';
export {
  ID_MAP_FILE, INDEX_FILE, appendGallery, buildGallery, describeGallery, loadGallery, openGallery, parseGalleryList,
  removeFromGallery, searchGallery, serializeGallery,
} from './gallery.mjs';
