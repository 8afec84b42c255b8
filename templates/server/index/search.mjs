/**
 * Searching a faiss index the way faiss 1.7.3 does, so that the answers are faiss's:
 *
 * - distances are faiss's reference kernels (`fvec_inner_product_ref`, `fvec_L2sqr_ref`: one float32
 *   accumulator, in order), which is what Debian's generic x86-64 build runs; emulated bit for bit
 *   with Math.fround (a float32 product or sum computed in double and rounded once is exact);
 * - top-k uses faiss's binary heaps (utils/Heap.h) with their id tie-break (`cmp2`), so ties come
 *   out in faiss's order;
 * - HNSW search is HNSW::search with upper_beam 1: greedy descent through the upper levels, then
 *   `search_from_candidates` on level 0 with a MinimaxHeap of max(efSearch, k) entries, including
 *   its quirks (count_below also counts popped entries; pop_min takes the last of equal minima).
 *   For inner product faiss searches the negated similarity and negates the answers back.
 */

import { IndexFormatError } from './errors.mjs';

/** faiss's METRIC_INNER_PRODUCT / METRIC_L2 */
const IP = 0;
const FLT_MAX = 3.4028234663852886e38;

/**
 * faiss fvec_inner_product (reference kernel): float32 accumulation in order.
 * @param {Float32Array} x @param {number} xo @param {Float32Array} y @param {number} yo @param {number} d
 */
export function innerProduct(x, xo, y, yo, d) {
  const f = Math.fround;
  let s = 0;
  for (let i = 0; i < d; i++) s = f(s + f(x[xo + i] * y[yo + i]));
  return s;
}

/**
 * faiss fvec_L2sqr (reference kernel).
 * @param {Float32Array} x @param {number} xo @param {Float32Array} y @param {number} yo @param {number} d
 */
export function l2sqr(x, xo, y, yo, d) {
  const f = Math.fround;
  let s = 0;
  for (let i = 0; i < d; i++) {
    const t = f(x[xo + i] - y[yo + i]);
    s = f(s + f(t * t));
  }
  return s;
}

// ---- faiss utils/Heap.h, 0-based storage; `max` selects CMax (else CMin) ----

/** cmp2: a1 before b1 in heap order, ties by id */
const cmp2 = (max, a1, b1, a2, b2) => (max ? a1 > b1 || (a1 === b1 && a2 > b2) : a1 < b1 || (a1 === b1 && a2 < b2));

/**
 * faiss heap_pop: the top leaves, the last element is sifted down from the root (the same walk as heapReplaceTop).
 * @param {boolean} max @param {number} k @param {Float64Array} v @param {Int32Array | Float64Array} ids
 */
export function heapPop(max, k, v, ids, o = 0) {
  heapReplaceTop(max, k, v, ids, v[o + k - 1], ids[o + k - 1], o);
}

/** push into a heap that holds k-1 elements */
export function heapPush(max, k, v, ids, val, id, o = 0) {
  let i = k;
  while (i > 1) {
    const f = i >> 1;
    if (!cmp2(max, val, v[o + f - 1], id, ids[o + f - 1])) break;
    v[o + i - 1] = v[o + f - 1]; ids[o + i - 1] = ids[o + f - 1]; i = f;
  }
  v[o + i - 1] = val; ids[o + i - 1] = id;
}

export function heapReplaceTop(max, k, v, ids, val, id, o = 0) {
  let i = 1;
  for (;;) {
    const i1 = i << 1; const i2 = i1 + 1;
    if (i1 > k) break;
    if (i2 === k + 1 || cmp2(max, v[o + i1 - 1], v[o + i2 - 1], ids[o + i1 - 1], ids[o + i2 - 1])) {
      if (cmp2(max, val, v[o + i1 - 1], id, ids[o + i1 - 1])) break;
      v[o + i - 1] = v[o + i1 - 1]; ids[o + i - 1] = ids[o + i1 - 1]; i = i1;
    } else {
      if (cmp2(max, val, v[o + i2 - 1], id, ids[o + i2 - 1])) break;
      v[o + i - 1] = v[o + i2 - 1]; ids[o + i - 1] = ids[o + i2 - 1]; i = i2;
    }
  }
  v[o + i - 1] = val; ids[o + i - 1] = id;
}

/** heap_reorder: sort the heap into result order, -1 ids (empty slots) moved to the end */
export function heapReorder(max, k, v, ids, o = 0) {
  let ii = 0;
  for (let i = 0; i < k; i++) {
    const val = v[o]; const id = ids[o];
    heapPop(max, k - i, v, ids, o);
    v[o + k - ii - 1] = val; ids[o + k - ii - 1] = id;
    if (id !== -1) ii++;
  }
  v.copyWithin(o, o + k - ii, o + k); ids.copyWithin(o, o + k - ii, o + k);
  for (; ii < k; ii++) { v[o + ii] = max ? FLT_MAX : -FLT_MAX; ids[o + ii] = -1; }
}

/**
 * @typedef {import('./faiss-io.mjs').FaissIndex} FaissIndex
 * @typedef {import('./faiss-io.mjs').FlatIndex} FlatIndex
 * @typedef {import('./faiss-io.mjs').HnswIndex} HnswIndex
 * @typedef {{ distances: Float32Array, labels: Float64Array }} SearchResult nq*k values, faiss's layout (-1 = no result)
 */

/**
 * The distances from one query to the four vectors at offsets o0..o3 of `base`, into out[j..j+4):
 * each exactly faiss's reference kernel (one float32 accumulator in order), the four accumulated side
 * by side (four independent dependency chains, so the loop runs at the adder's throughput).
 * @param {Float32Array} q @param {number} qo @param {Float32Array} base
 * @param {number} o0 @param {number} o1 @param {number} o2 @param {number} o3
 * @param {number} d @param {boolean} ip @param {Float32Array | Float64Array} out @param {number} j
 */
function distances4(q, qo, base, o0, o1, o2, o3, d, ip, out, j) {
  const f = Math.fround;
  let s0 = 0; let s1 = 0; let s2 = 0; let s3 = 0;
  if (ip) {
    for (let i = 0; i < d; i++) {
      const a = q[qo + i];
      s0 = f(s0 + f(a * base[o0 + i])); s1 = f(s1 + f(a * base[o1 + i]));
      s2 = f(s2 + f(a * base[o2 + i])); s3 = f(s3 + f(a * base[o3 + i]));
    }
  } else {
    for (let i = 0; i < d; i++) {
      const a = q[qo + i];
      const t0 = f(a - base[o0 + i]); const t1 = f(a - base[o1 + i]); const t2 = f(a - base[o2 + i]); const t3 = f(a - base[o3 + i]);
      s0 = f(s0 + f(t0 * t0)); s1 = f(s1 + f(t1 * t1)); s2 = f(s2 + f(t2 * t2)); s3 = f(s3 + f(t3 * t3));
    }
  }
  out[j] = s0; out[j + 1] = s1; out[j + 2] = s2; out[j + 3] = s3;
}

/**
 * Distances from one query to vectors [0, n) of `base`, each exactly faiss's reference kernel
 * (one float32 accumulator in order). Four vectors are accumulated side by side: four independent
 * dependency chains instead of one, so the loop runs at the adder's throughput, not its latency.
 * @param {Float32Array} q @param {number} qo @param {Float32Array} base @param {number} n
 * @param {number} d @param {boolean} ip inner product, else squared L2 @param {Float32Array} out n values
 */
export function distancesTo(q, qo, base, n, d, ip, out) {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o0 = j * d;
    distances4(q, qo, base, o0, o0 + d, o0 + 2 * d, o0 + 3 * d, d, ip, out, j);
  }
  for (; j < n; j++) out[j] = ip ? innerProduct(q, qo, base, j * d, d) : l2sqr(q, qo, base, j * d, d);
}

/**
 * distancesTo over the stored vectors named by `ids[0..count)` (neighbour lists), same kernels.
 * @param {Float32Array} q @param {number} qo @param {Float32Array} base @param {number} d @param {boolean} ip
 * @param {Int32Array} ids @param {number} count @param {Float64Array} out
 */
export function distancesToIds(q, qo, base, d, ip, ids, count, out) {
  let j = 0;
  for (; j + 4 <= count; j += 4) {
    distances4(q, qo, base, ids[j] * d, ids[j + 1] * d, ids[j + 2] * d, ids[j + 3] * d, d, ip, out, j);
  }
  for (; j < count; j++) out[j] = ip ? innerProduct(q, qo, base, ids[j] * d, d) : l2sqr(q, qo, base, ids[j] * d, d);
}

/** vectors per block of distancesTo (a 2 MiB slice of a 512-d gallery stays in cache) */
const BLOCK = 1024;

/**
 * Exact search over stored vectors (faiss IndexFlat::search with k < 100: every distance, then a
 * k-heap fed in vector order, so ties keep faiss's order).
 * @param {Float32Array} base ntotal*d @param {number} ntotal @param {number} d @param {number} metricType
 * @param {Float32Array} queries nq*d @param {number} k
 * @returns {SearchResult}
 */
export function searchFlat(base, ntotal, d, metricType, queries, k) {
  const nq = queries.length / d;
  const v = new Float64Array(nq * k);
  const ids = new Float64Array(nq * k);
  const max = metricType !== IP; // IP keeps the k largest in a min-heap
  const dist = new Float32Array(Math.min(BLOCK, Math.max(ntotal, 1)));
  for (let q = 0; q < nq; q++) {
    const o = q * k;
    v.fill(max ? FLT_MAX : -FLT_MAX, o, o + k); ids.fill(-1, o, o + k);
    for (let j0 = 0; j0 < ntotal; j0 += BLOCK) {
      const n = Math.min(BLOCK, ntotal - j0);
      distancesTo(queries, q * d, base.subarray(j0 * d, (j0 + n) * d), n, d, !max, dist);
      if (max) {
        for (let j = 0; j < n; j++) if (v[o] > dist[j]) heapReplaceTop(true, k, v, ids, dist[j], j0 + j, o);
      } else {
        for (let j = 0; j < n; j++) if (v[o] < dist[j]) heapReplaceTop(false, k, v, ids, dist[j], j0 + j, o);
      }
    }
    heapReorder(max, k, v, ids, o);
  }
  return { distances: Float32Array.from(v), labels: ids };
}

/** faiss HNSW::MinimaxHeap (a max-heap of n candidates with an O(n) pop_min) */
class MinimaxHeap {
  /** @param {number} n */
  constructor(n) { this.n = n; this.k = 0; this.nvalid = 0; this.ids = new Int32Array(n); this.dis = new Float64Array(n); }
  push(i, v) {
    if (this.k === this.n) {
      if (v >= this.dis[0]) return;
      heapPop(true, this.k--, this.dis, this.ids);
      --this.nvalid;
    }
    heapPush(true, ++this.k, this.dis, this.ids, v, i);
    ++this.nvalid;
  }
  /** @returns {number} the id; this.d0 its distance */
  popMin() {
    let i = this.k - 1;
    while (i >= 0) { if (this.ids[i] !== -1) break; i--; }
    if (i === -1) return -1;
    let imin = i; let vmin = this.dis[i];
    for (i--; i >= 0; i--) if (this.ids[i] !== -1 && this.dis[i] < vmin) { vmin = this.dis[i]; imin = i; }
    this.d0 = vmin;
    const ret = this.ids[imin];
    this.ids[imin] = -1;
    --this.nvalid;
    return ret;
  }
  countBelow(t) { let n = 0; for (let i = 0; i < this.k; i++) if (this.dis[i] < t) n++; return n; }
}

/** A visited set with O(1) reset (faiss VisitedTable). */
export class Visited {
  /** @param {number} n */
  constructor(n) { this.mark = new Uint32Array(n); this.gen = 1; }
  get(i) { return this.mark[i] === this.gen; }
  set(i) { this.mark[i] = this.gen; }
  advance() { if (++this.gen === 0xffffffff) { this.mark.fill(0); this.gen = 1; } }
}

/**
 * Distances to the vectors of `storage`, as faiss's DistanceComputer (negated for IP, so that
 * smaller is closer for both metrics).
 * @param {FlatIndex} storage
 */
export function distanceComputer(storage) {
  const { d, vectors } = storage;
  const ip = storage.metricType === IP;
  return {
    /** query to stored vector j */
    query(q, qo, j) { return ip ? -innerProduct(q, qo, vectors, j * d, d) : l2sqr(q, qo, vectors, j * d, d); },
    /** query to stored vectors ids[0..count) into out */
    many(q, qo, ids, count, out) {
      distancesToIds(q, qo, vectors, d, ip, ids, count, out);
      if (ip) for (let i = 0; i < count; i++) out[i] = -out[i];
    },
    /** stored to stored (symmetric_dis(i, j)); both kernels are symmetric bit for bit */
    sym(i, j) { return ip ? -innerProduct(vectors, j * d, vectors, i * d, d) : l2sqr(vectors, j * d, vectors, i * d, d); },
  };
}

/**
 * greedy_update_nearest. A neighbour list's distances are computed together, then scanned in
 * list order: the same comparisons as faiss's one-by-one loop.
 * @param {import('./faiss-io.mjs').HnswGraph} g
 * @param {(ids: Int32Array, count: number, out: Float64Array) => void} many distances from the query
 * @param {number} level @param {{ nearest: number, d: number }} s
 * @param {Int32Array} ids @param {Float64Array} dist scratch of the longest neighbour list
 */
export function greedyUpdateNearest(g, many, level, s, ids, dist) {
  const cum = g.cumNneighborPerLevel;
  for (;;) {
    const prev = s.nearest;
    const o = g.offsets[s.nearest];
    const end = o + cum[level + 1];
    let n = 0;
    for (let i = o + cum[level]; i < end; i++) {
      const v = g.neighbors[i];
      if (v < 0) break;
      ids[n++] = v;
    }
    many(ids, n, dist);
    for (let i = 0; i < n; i++) if (dist[i] < s.d) { s.nearest = ids[i]; s.d = dist[i]; }
    if (s.nearest === prev) return;
  }
}

/** the longest neighbour list of a graph (scratch size) */
export const maxNeighbors = (/** @type {import('./faiss-io.mjs').HnswGraph} */ g) => {
  const c = g.cumNneighborPerLevel;
  let m = 0;
  for (let l = 1; l < c.length; l++) m = Math.max(m, c[l] - c[l - 1]);
  return m;
};

/** one visited table per index, reused by every search (searches are synchronous) */
const visitedOf = new WeakMap();

/**
 * HNSW search (faiss IndexHNSW::search with upper_beam 1 and the bounded queue).
 * @param {HnswIndex} index @param {Float32Array} queries nq*d @param {number} k
 * @param {{ efSearch?: number }} [opts]
 * @returns {SearchResult}
 */
export function searchHnsw(index, queries, k, opts = {}) {
  const g = index.hnsw;
  const d = index.d;
  const nq = queries.length / d;
  const efSearch = opts.efSearch ?? g.efSearch;
  const dc = distanceComputer(index.storage);
  let vt = visitedOf.get(index);
  if (!vt || vt.mark.length !== index.ntotal) { vt = new Visited(index.ntotal); visitedOf.set(index, vt); }
  const scratchIds = new Int32Array(maxNeighbors(g));
  const scratchD = new Float64Array(scratchIds.length);
  const D = new Float64Array(nq * k);
  const I = new Float64Array(nq * k);
  const cum = g.cumNneighborPerLevel;
  if (g.upperBeam !== 1) throw new IndexFormatError('E_INDEX_UNSUPPORTED', `HNSW upper_beam ${g.upperBeam}: only faiss's default 1 is searched (use exact search)`);
  for (let q = 0; q < nq; q++) {
    const o = q * k; const qo = q * d;
    D.fill(FLT_MAX, o, o + k); I.fill(-1, o, o + k);
    if (g.entryPoint === -1) { heapReorder(true, k, D, I, o); continue; }
    const many = (/** @type {Int32Array} */ ids, /** @type {number} */ n, /** @type {Float64Array} */ out) => dc.many(queries, qo, ids, n, out);
    const s = { nearest: g.entryPoint, d: dc.query(queries, qo, g.entryPoint) };
    for (let level = g.maxLevel; level >= 1; level--) greedyUpdateNearest(g, many, level, s, scratchIds, scratchD);
    const cand = new MinimaxHeap(Math.max(efSearch, k));
    cand.push(s.nearest, s.d);
    // search_from_candidates at level 0
    let nres = 0;
    for (let i = 0; i < cand.nvalid; i++) {
      const v1 = cand.ids[i]; const dd = cand.dis[i];
      if (nres < k) heapPush(true, ++nres, D, I, dd, v1, o);
      else if (dd < D[o]) heapReplaceTop(true, nres, D, I, dd, v1, o);
      vt.set(v1);
    }
    while (cand.nvalid > 0) {
      const v0 = cand.popMin();
      const d0 = /** @type {number} */ (cand.d0);
      if (cand.countBelow(d0) >= efSearch) break;
      const start = g.offsets[v0];
      const end = start + cum[1];
      // the unvisited neighbours, their distances together, then faiss's per-neighbour steps in order
      let m = 0;
      for (let j = start + cum[0]; j < end; j++) {
        const v1 = g.neighbors[j];
        if (v1 < 0) break;
        if (vt.get(v1)) continue;
        vt.set(v1);
        scratchIds[m++] = v1;
      }
      many(scratchIds, m, scratchD);
      for (let j = 0; j < m; j++) {
        const v1 = scratchIds[j]; const dd = scratchD[j];
        if (nres < k) heapPush(true, ++nres, D, I, dd, v1, o);
        else if (dd < D[o]) heapReplaceTop(true, nres, D, I, dd, v1, o);
        cand.push(v1, dd);
      }
    }
    vt.advance();
    heapReorder(true, k, D, I, o);
  }
  if (index.metricType === IP) for (let i = 0; i < D.length; i++) D[i] = -D[i];
  return { distances: Float32Array.from(D), labels: I };
}

/**
 * Search any index pserve reads: IndexIDMap(2) maps the labels through its ids. HNSW indexes are
 * walked as faiss walks them unless `exact` asks for brute force over the stored vectors.
 * @param {FaissIndex} index @param {Float32Array} queries nq*d @param {number} k
 * @param {{ exact?: boolean, efSearch?: number }} [opts]
 * @returns {SearchResult}
 */
export function searchIndex(index, queries, k, opts = {}) {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  if (queries.length % index.d !== 0) throw new RangeError(`queries hold ${queries.length} floats, not a multiple of d=${index.d}`);
  const inner = index.kind === 'idmap' ? index.index : index;
  const r = inner.kind === 'hnsw' && !opts.exact
    ? searchHnsw(inner, queries, k, opts)
    : (() => { const s = inner.kind === 'hnsw' ? inner.storage : inner; return searchFlat(s.vectors, s.ntotal, s.d, s.metricType, queries, k); })();
  if (index.kind === 'idmap') {
    const m = index.idMap;
    for (let i = 0; i < r.labels.length; i++) if (r.labels[i] >= 0) r.labels[i] = m[r.labels[i]];
  }
  return r;
}
