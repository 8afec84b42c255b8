/**
 * A PaddleClas gallery: `vector.index` (faiss IndexIDMap2) + `id_map.pkl` ({id: "path\tlabel"}),
 * and the operations of PaddleClas's deploy/python/build_gallery.py on it: new, append (ids from
 * max(id)+1), remove (Flat only: "The HNSW32 method dose not support 'remove' operation"). Pure
 * over bytes and vectors except `openGallery`, which reads the two files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IndexFormatError } from './errors.mjs';
import { METRIC_INNER_PRODUCT, METRIC_L2, newFlatIndex, newIdMap2, readFaissIndex, writeFaissIndex } from './faiss-io.mjs';
import { hnswAdd, newHnswFlatIndex } from './hnsw-build.mjs';
import { readIdMapPickle, writeIdMapPickle } from './pickle.mjs';
import { searchIndex } from './search.mjs';

export const INDEX_FILE = 'vector.index';
export const ID_MAP_FILE = 'id_map.pkl';

/**
 * @typedef {import('./faiss-io.mjs').IdMapIndex} IdMapIndex
 * @typedef {object} Gallery
 * @property {IdMapIndex} index
 * @property {Map<number, string>} idMap id -> "path\tlabel" (the whole gallery line)
 * @property {'numpy.int64' | 'int' | 'mixed'} keyType how id_map.pkl spells its keys
 * @typedef {object} Hit
 * @property {number} id
 * @property {number} score inner product (higher is closer) or squared L2 distance (lower is closer), as faiss answers
 * @property {string} doc the id map's "path\tlabel"
 * @property {string} label what follows the first tab of doc
 */

/** 'HNSW32' / 'Flat' and 'IP' / 'L2', as PaddleClas's config names them */
export function describeGallery(/** @type {Gallery} */ g) {
  const inner = g.index.index;
  return {
    // level 0 of HNSW<M> holds 2M neighbours
    method: inner.kind === 'hnsw' ? `HNSW${inner.hnsw.cumNneighborPerLevel[1] / 2}` : 'Flat',
    metric: g.index.metricType === METRIC_INNER_PRODUCT ? 'IP' : 'L2',
    d: g.index.d,
    ntotal: g.index.ntotal,
  };
}

/**
 * Parse the two files and check that they describe the same gallery (PaddleClas asserts
 * `index.ntotal == len(ids)`; the server looks every hit up in the id map).
 * @param {Uint8Array} indexBytes @param {Uint8Array} pickleBytes
 * @returns {Gallery}
 */
export function loadGallery(indexBytes, pickleBytes) {
  const index = readFaissIndex(indexBytes);
  if (index.kind !== 'idmap') throw new IndexFormatError('E_INDEX_UNSUPPORTED', `a bare ${index.fourcc} index without the IndexIDMap2 PaddleClas wraps it in`, 0);
  const { map, keyType } = readIdMapPickle(pickleBytes);
  checkConsistent(index, map);
  return { index, idMap: map, keyType };
}

/** @param {IdMapIndex} index @param {Map<number, string>} map */
function checkConsistent(index, map) {
  if (map.size !== index.ntotal) throw new IndexFormatError('E_INDEX_IDMAP_MISMATCH', `vector.index holds ${index.ntotal} vectors, id_map.pkl ${map.size} entries`);
  for (const id of index.idMap) {
    if (!map.has(id)) throw new IndexFormatError('E_INDEX_IDMAP_MISMATCH', `id ${id} of vector.index is not in id_map.pkl`);
  }
}

/**
 * Read `dir/vector.index` and `dir/id_map.pkl`. Errors carry `file`.
 * @param {string} dir
 * @returns {Gallery}
 */
export function openGallery(dir) {
  const read = (name) => {
    const p = join(dir, name);
    try { return readFileSync(p); } catch (e) {
      const err = /** @type {NodeJS.ErrnoException} */ (e);
      throw Object.assign(new IndexFormatError(err.code === 'ENOENT' ? 'E_NOT_FOUND' : 'E_IO', `${name}: ${err.code === 'ENOENT' ? 'not found' : err.message}`), { file: p });
    }
  };
  const ib = read(INDEX_FILE);
  const pb = read(ID_MAP_FILE);
  try { return loadGallery(ib, pb); } catch (e) {
    if (e instanceof IndexFormatError && !('file' in e)) {
      const name = e.code.startsWith('E_PICKLE') ? ID_MAP_FILE : INDEX_FILE;
      Object.assign(e, { file: join(dir, name) });
    }
    throw e;
  }
}

/**
 * Search: k hits per query row, faiss's order, with the id map's docs. Missing hits (k above the
 * gallery size) are left out.
 * @param {Gallery} g @param {Float32Array} queries nq*d @param {number} k
 * @param {{ exact?: boolean, efSearch?: number }} [opts] exact: brute force even over an HNSW index
 * @returns {Hit[][]}
 */
export function searchGallery(g, queries, k, opts = {}) {
  const r = searchIndex(g.index, queries, k, opts);
  const nq = queries.length / g.index.d;
  const out = [];
  for (let q = 0; q < nq; q++) {
    const row = [];
    for (let j = 0; j < k; j++) {
      const id = r.labels[q * k + j];
      if (id < 0) continue;
      const doc = g.idMap.get(id) ?? '';
      const tab = doc.indexOf('\t');
      row.push({ id, score: r.distances[q * k + j], doc, label: tab < 0 ? '' : doc.slice(tab + 1) });
    }
    out.push(row);
  }
  return out;
}

/**
 * PaddleClas split_datafile: each non-empty line is "image<TAB>label[...]"; the image is joined to
 * the image root and the doc is the whole stripped line.
 * @param {string} text @param {string} imageRoot @param {string} [delimiter]
 * @returns {{ image: string, doc: string, line: number }[]}
 */
export function parseGalleryList(text, imageRoot, delimiter = '\t') {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const doc = lines[i].trim();
    if (doc === '') continue;
    const parts = doc.split(delimiter);
    if (parts.length < 2) throw new IndexFormatError('E_GALLERY_LIST', `line ${i + 1}: expected "image${delimiter === '\t' ? '<TAB>' : delimiter}label", found ${JSON.stringify(doc.slice(0, 80))}`);
    out.push({ image: join(imageRoot, parts[0]), doc, line: i + 1 });
  }
  return out;
}

const checkVectors = (vectors, n, d) => {
  if (!(vectors instanceof Float32Array) || vectors.length !== n * d) throw new IndexFormatError('E_INDEX_VECTORS', `expected ${n} vectors of ${d} float32 values, got ${vectors.length} values`);
};

/**
 * A new gallery: IndexIDMap2(index_factory(d, method, metric)) with ids 0..n-1.
 * @param {{ vectors: Float32Array, docs: string[], d: number, method?: string, metric?: 'IP' | 'L2', onProgress?: (done: number, total: number) => void }} o
 * @returns {Gallery}
 */
export function buildGallery(o) {
  const method = o.method ?? 'HNSW32';
  const metricType = (o.metric ?? 'IP') === 'IP' ? METRIC_INNER_PRODUCT : METRIC_L2;
  const m = /^HNSW(\d+)$/.exec(method);
  if (!m && method !== 'Flat') throw new IndexFormatError('E_INDEX_METHOD', `index method ${method}: HNSW<M> (PaddleClas: HNSW32) or Flat are built`);
  const M = m ? Number(m[1]) : 0;
  if (m && (M < 2 || M > 512)) throw new IndexFormatError('E_INDEX_METHOD', `HNSW M=${M} is outside 2..512`);
  const empty = m ? newHnswFlatIndex(o.d, M, metricType) : newFlatIndex(o.d, metricType);
  return appendGallery({ index: newIdMap2(empty), idMap: new Map(), keyType: 'numpy.int64' }, o.vectors, o.docs, o.onProgress);
}

/**
 * PaddleClas "append": new ids from max(id)+1 (0 for an empty gallery), vectors added to the index.
 * @param {Gallery} g @param {Float32Array} vectors @param {string[]} docs
 * @param {(done: number, total: number) => void} [onProgress] HNSW linking progress
 * @returns {Gallery} a new gallery; `g` is not modified
 */
export function appendGallery(g, vectors, docs, onProgress) {
  const d = g.index.d;
  const n = docs.length;
  checkVectors(vectors, n, d);
  let start = -Infinity;
  for (const id of g.idMap.keys()) if (id + 1 > start) start = id + 1;
  if (g.idMap.size === 0) start = 0;
  const inner = g.index.index;
  const grown = inner.kind === 'hnsw'
    ? hnswAdd(inner, vectors, onProgress)
    : { ...newFlatIndex(d, inner.metricType, concat(inner.vectors, vectors)), dummy1: inner.dummy1, dummy2: inner.dummy2 };
  const idMap = new Float64Array(g.index.ntotal + n);
  idMap.set(g.index.idMap);
  const map = new Map(g.idMap);
  for (let i = 0; i < n; i++) {
    idMap[g.index.ntotal + i] = start + i;
    map.set(start + i, docs[i]);
  }
  return { index: { ...g.index, ntotal: grown.ntotal, index: grown, idMap }, idMap: map, keyType: g.keyType };
}

/**
 * PaddleClas "remove": drop every id whose doc is one of `docs`. faiss's IndexFlat compacts in
 * order; HNSW graphs cannot remove, as in PaddleClas.
 * @param {Gallery} g @param {string[]} docs
 * @returns {{ gallery: Gallery, removed: number[] }}
 */
export function removeFromGallery(g, docs) {
  const inner = g.index.index;
  if (inner.kind === 'hnsw') throw new IndexFormatError('E_INDEX_REMOVE_HNSW', 'an HNSW index does not support remove (PaddleClas: "The index_method: HNSW32 dose not support \'remove\' operation"); rebuild it without those images');
  const wanted = new Set(docs);
  const removed = [];
  for (const [id, doc] of g.idMap) if (wanted.has(doc)) removed.push(id);
  const gone = new Set(removed);
  const d = g.index.d;
  const keep = [];
  for (let i = 0; i < g.index.ntotal; i++) if (!gone.has(g.index.idMap[i])) keep.push(i);
  const vectors = new Float32Array(keep.length * d);
  keep.forEach((i, j) => vectors.set(inner.vectors.subarray(i * d, (i + 1) * d), j * d));
  const flat = { ...inner, ntotal: keep.length, vectors };
  const idMap = Float64Array.from(keep, (i) => g.index.idMap[i]);
  const map = new Map([...g.idMap].filter(([id]) => !gone.has(id)));
  return { gallery: { index: { ...g.index, ntotal: keep.length, index: flat, idMap }, idMap: map, keyType: g.keyType }, removed };
}

/**
 * The two files of a gallery.
 * @param {Gallery} g
 * @returns {{ index: Uint8Array, idMap: Uint8Array }}
 */
export function serializeGallery(g) {
  return { index: writeFaissIndex(g.index), idMap: writeIdMapPickle(g.idMap, { keyType: g.keyType === 'int' ? 'int' : 'numpy.int64' }) };
}

function concat(a, b) {
  const out = new Float32Array(a.length + b.length);
  out.set(a); out.set(b, a.length);
  return out;
}
