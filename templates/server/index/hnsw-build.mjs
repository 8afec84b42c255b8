/**
 * Building an IndexHNSWFlat the way faiss 1.7.3 `IndexHNSW::add` does (impl/HNSW.cpp,
 * IndexHNSW.cpp hnsw_add_vertices), so that a gallery built here is the graph faiss builds:
 * levels drawn from faiss's RandomGenerator (std::mt19937 seeded 12345, a fresh generator per
 * index object, i.e. per `add` in a PaddleClas run), vectors inserted from the highest level down
 * in buckets shuffled by a second mt19937 seeded 789, neighbour selection by HNSW's heuristic, and
 * std::priority_queue reproduced as libstdc++'s binary heap (its tie order decides equal
 * distances). faiss inserts a bucket of more than 100 vectors with several OpenMP threads, which
 * makes its own graph depend on thread timing; this builder is faiss with one thread
 * (OMP_NUM_THREADS=1), and any build is searched identically by faiss and by search.mjs.
 */
import { newFlatIndex } from './faiss-io.mjs';
import { Visited, distanceComputer, greedyUpdateNearest, maxNeighbors } from './search.mjs';

const DUMMY = 1n << 20n;

/** std::mt19937 */
export class MT19937 {
  /** @param {number} seed */
  constructor(seed) {
    this.mt = new Uint32Array(624);
    this.i = 624;
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const p = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, p) + i) >>> 0;
    }
  }
  /** @returns {number} a uint32 */
  next() {
    if (this.i >= 624) {
      const mt = this.mt;
      for (let i = 0; i < 624; i++) {
        const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
        let v = mt[(i + 397) % 624] ^ (y >>> 1);
        if (y & 1) v ^= 0x9908b0df;
        mt[i] = v >>> 0;
      }
      this.i = 0;
    }
    let y = this.mt[this.i++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
  /** faiss RandomGenerator::rand_float: mt() / float(mt.max()), in float32 */
  randFloat() { return Math.fround(Math.fround(this.next()) / 4294967296); }
  /** faiss RandomGenerator::rand_int(max) */
  randInt(max) { return this.next() % max; }
}

/**
 * std::priority_queue over (d, id) with libstdc++'s push_heap/pop_heap, ordered by `less`.
 */
class PriorityQueue {
  /** @param {(a: number, b: number) => boolean} less on distances */
  constructor(less) { this.less = less; /** @type {number[]} */ this.d = []; /** @type {number[]} */ this.id = []; }
  get size() { return this.d.length; }
  topD() { return this.d[0]; }
  topId() { return this.id[0]; }
  push(dv, idv) {
    this.d.push(dv); this.id.push(idv);
    this.#pushHeap(this.d.length - 1, 0, dv, idv);
  }
  pop() {
    const n = this.d.length;
    if (n > 1) {
      const vd = this.d[n - 1]; const vi = this.id[n - 1];
      this.d[n - 1] = this.d[0]; this.id[n - 1] = this.id[0];
      this.#adjustHeap(0, n - 1, vd, vi);
    }
    this.d.pop(); this.id.pop();
  }
  #pushHeap(hole, top, vd, vi) {
    let parent = Math.trunc((hole - 1) / 2);
    while (hole > top && this.less(this.d[parent], vd)) {
      this.d[hole] = this.d[parent]; this.id[hole] = this.id[parent];
      hole = parent; parent = Math.trunc((hole - 1) / 2);
    }
    this.d[hole] = vd; this.id[hole] = vi;
  }
  #adjustHeap(hole, len, vd, vi) {
    const top = hole;
    let second = hole;
    while (second < Math.trunc((len - 1) / 2)) {
      second = 2 * (second + 1);
      if (this.less(this.d[second], this.d[second - 1])) second--;
      this.d[hole] = this.d[second]; this.id[hole] = this.id[second];
      hole = second;
    }
    if ((len & 1) === 0 && second === Math.trunc((len - 2) / 2)) {
      second = 2 * (second + 1);
      this.d[hole] = this.d[second - 1]; this.id[hole] = this.id[second - 1];
      hole = second - 1;
    }
    this.#pushHeap(hole, top, vd, vi);
  }
}
/** NodeDistCloser: top is the farthest */
const closer = () => new PriorityQueue((a, b) => a < b);
/** NodeDistFarther: top is the nearest */
const farther = () => new PriorityQueue((a, b) => a > b);

/**
 * HNSW::set_default_probas(M, 1/log(M)): level probabilities (float32, as faiss stores them) and
 * cumulative neighbour counts (2M on level 0, M above).
 * @param {number} M
 */
export function defaultProbas(M) {
  const f = Math.fround;
  const levelMult = f(1 / Math.log(M));
  const probas = []; const cum = [0];
  let nn = 0;
  for (let level = 0; ; level++) {
    const p = f(Math.exp(f(-level / levelMult)) * (1 - Math.exp(f(-1 / levelMult))));
    if (p < 1e-9) break;
    probas.push(p);
    nn += level === 0 ? M * 2 : M;
    cum.push(nn);
  }
  return { assignProbas: Float64Array.from(probas), cumNneighborPerLevel: Int32Array.from(cum) };
}

/**
 * An empty IndexHNSWFlat(d, M, metric) as index_factory(d, "HNSW<M>", metric) makes it.
 * @param {number} d @param {number} M @param {number} metricType
 * @returns {import('./faiss-io.mjs').HnswIndex}
 */
export function newHnswFlatIndex(d, M, metricType) {
  const { assignProbas, cumNneighborPerLevel } = defaultProbas(M);
  return {
    kind: 'hnsw', fourcc: 'IHNf', d, ntotal: 0, dummy1: DUMMY, dummy2: DUMMY, isTrained: 1, metricType,
    hnsw: {
      assignProbas, cumNneighborPerLevel, levels: new Int32Array(0), offsets: new Float64Array([0]), neighbors: new Int32Array(0),
      entryPoint: -1, maxLevel: -1, efConstruction: 40, efSearch: 16, upperBeam: 1,
    },
    storage: newFlatIndex(d, metricType),
  };
}

/**
 * IndexHNSW::add: append `x` (n*d float32) to the storage and link the new vectors into the graph.
 * Returns a new index object; the one given is not modified.
 * @param {import('./faiss-io.mjs').HnswIndex} index @param {Float32Array} x
 * @param {(done: number, total: number) => void} [onProgress] called every 1000 vectors linked
 * @returns {import('./faiss-io.mjs').HnswIndex}
 */
export function hnswAdd(index, x, onProgress) {
  const d = index.d;
  const n = x.length / d;
  if (!Number.isInteger(n)) throw new RangeError(`${x.length} floats is not a whole number of ${d}-d vectors`);
  const n0 = index.ntotal;
  const ntotal = n0 + n;
  const old = index.hnsw;
  const cum = old.cumNneighborPerLevel;
  const probas = old.assignProbas;
  const vectors = new Float32Array(ntotal * d);
  vectors.set(index.storage.vectors); vectors.set(x, n0 * d);
  const storage = newFlatIndex(d, index.storage.metricType, vectors);
  storage.dummy1 = index.storage.dummy1; storage.dummy2 = index.storage.dummy2;

  // prepare_level_tab
  const rng = new MT19937(12345);
  const levels = new Int32Array(ntotal); levels.set(old.levels);
  const offsets = new Float64Array(ntotal + 1); offsets.set(old.offsets);
  for (let i = 0; i < n; i++) {
    let f = rng.randFloat();
    let level = probas.length - 1;
    for (let l = 0; l < probas.length; l++) {
      if (f < probas[l]) { level = l; break; }
      f -= probas[l];
    }
    levels[n0 + i] = level + 1;
    offsets[n0 + i + 1] = offsets[n0 + i] + cum[level + 1];
  }
  const neighbors = new Int32Array(offsets[ntotal]).fill(-1);
  neighbors.set(old.neighbors);
  const g = { ...old, levels, offsets, neighbors };
  const out = { ...index, ntotal, hnsw: g, storage };
  if (n === 0) return out;

  const dc = distanceComputer(storage);
  const vt = new Visited(ntotal);
  // scratch for one neighbour list plus the link being added
  const scratchIds = new Int32Array(maxNeighbors(g) + 1);
  const scratchD = new Float64Array(scratchIds.length);
  const nbRange = (no, level) => [offsets[no] + cum[level], offsets[no] + cum[level + 1]];

  /** add_link: src gets dest as a neighbour at `level`, pruned by the heuristic when full */
  const addLink = (src, dest, level) => {
    const [begin, end] = nbRange(src, level);
    if (neighbors[end - 1] === -1) {
      let i = end;
      while (i > begin) { if (neighbors[i - 1] !== -1) break; i--; }
      neighbors[i] = dest;
      return;
    }
    const rs = closer();
    // symmetric_dis(src, x) for dest and every current neighbour, computed together
    scratchIds[0] = dest;
    for (let i = begin; i < end; i++) scratchIds[1 + i - begin] = neighbors[i];
    const count = 1 + end - begin;
    dc.many(vectors, src * d, scratchIds, count, scratchD);
    for (let i = 0; i < count; i++) rs.push(scratchD[i], scratchIds[i]);
    shrink(rs, end - begin);
    let i = begin;
    while (rs.size) { neighbors[i++] = rs.topId(); rs.pop(); }
    while (i < end) neighbors[i++] = -1;
  };
  /** the namespace-level shrink_neighbor_list over a NodeDistCloser queue */
  const shrink = (rs1, maxSize) => {
    if (rs1.size < maxSize) return;
    const input = farther();
    while (rs1.size > 0) { input.push(rs1.topD(), rs1.topId()); rs1.pop(); }
    const outD = []; const outId = [];
    while (input.size > 0) {
      const v1d = input.topD(); const v1 = input.topId();
      input.pop();
      let good = true;
      for (let j = 0; j < outId.length; j++) {
        if (dc.sym(outId[j], v1) < v1d) { good = false; break; }
      }
      if (good) {
        outD.push(v1d); outId.push(v1);
        if (outId.length >= maxSize) break;
      }
    }
    for (let j = 0; j < outId.length; j++) rs1.push(outD[j], outId[j]);
  };
  const addWithLocks = (ptLevel, ptId) => {
    let nearest = g.entryPoint;
    if (nearest === -1) { g.maxLevel = ptLevel; g.entryPoint = ptId; return; }
    const qo = ptId * d;
    const many = (ids, count, out) => dc.many(vectors, qo, ids, count, out);
    let level = g.maxLevel;
    const s = { nearest, d: dc.query(vectors, qo, nearest) };
    for (; level > ptLevel; level--) greedyUpdateNearest(g, many, level, s, scratchIds, scratchD);
    nearest = s.nearest;
    const dNearest = s.d;
    for (; level >= 0; level--) {
      // add_links_starting_from: search_neighbors_to_add, then shrink to M and link both ways
      const results = closer();
      const cand = farther();
      cand.push(dNearest, nearest); results.push(dNearest, nearest); vt.set(nearest);
      while (cand.size > 0) {
        if (cand.topD() > results.topD()) break;
        const cur = cand.topId();
        cand.pop();
        const [b, e] = nbRange(cur, level);
        let m = 0;
        for (let i = b; i < e; i++) {
          const v = neighbors[i];
          if (v < 0) break;
          if (vt.get(v)) continue;
          vt.set(v);
          scratchIds[m++] = v;
        }
        many(scratchIds, m, scratchD);
        for (let i = 0; i < m; i++) {
          const v = scratchIds[i]; const dv = scratchD[i];
          if (results.size < g.efConstruction || results.topD() > dv) {
            results.push(dv, v); cand.push(dv, v);
            if (results.size > g.efConstruction) results.pop();
          }
        }
      }
      vt.advance();
      shrink(results, cum[level + 1] - cum[level]);
      const linked = [];
      while (results.size > 0) {
        const other = results.topId();
        addLink(ptId, other, level);
        linked.push(other);
        results.pop();
      }
      for (const other of linked) addLink(other, ptId, level);
    }
    if (ptLevel > g.maxLevel) { g.maxLevel = ptLevel; g.entryPoint = ptId; }
  };

  // hnsw_add_vertices: buckets by level, highest first, each shuffled by rng2
  const hist = [];
  for (let i = 0; i < n; i++) {
    const l = levels[n0 + i] - 1;
    while (l >= hist.length) hist.push(0);
    hist[l]++;
  }
  const starts = new Array(hist.length + 1).fill(0);
  for (let i = 0; i < hist.length - 1; i++) starts[i + 1] = starts[i] + hist[i];
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) { const l = levels[n0 + i] - 1; order[starts[l]++] = n0 + i; }
  const rng2 = new MT19937(789);
  let linkedCount = 0;
  let i1 = n;
  for (let ptLevel = hist.length - 1; ptLevel >= 0; ptLevel--) {
    const i0 = i1 - hist[ptLevel];
    for (let j = i0; j < i1; j++) {
      const r = j + rng2.randInt(i1 - j);
      const t = order[j]; order[j] = order[r]; order[r] = t;
    }
    for (let i = i0; i < i1; i++) {
      addWithLocks(ptLevel, order[i]);
      if (onProgress && ++linkedCount % 1000 === 0) onProgress(linkedCount, n);
    }
    i1 = i0;
  }
  return out;
}
