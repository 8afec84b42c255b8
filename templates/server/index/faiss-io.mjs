/**
 * faiss index files as PaddleClas writes them (FORMATS §10): `IxM2` IndexIDMap2 (or `IxMp`
 * IndexIDMap) over `IHNf` IndexHNSWFlat or a flat `IxFI`/`IxF2` IndexFlat, in the layout of faiss's
 * impl/index_read.cpp / index_write.cpp (little-endian, size_t counts before every vector):
 *
 *   header   d:i32 ntotal:i64 dummy:i64 dummy:i64 is_trained:u8 metric_type:i32 [metric_arg:f32 if > 1]
 *   IxFI/IxF2/IxFl  header, n:u64 (number of 4-byte words), n*4 bytes of float32 vectors
 *   IHNf     header, HNSW, storage index
 *   HNSW     assign_probas:f64[], cum_nneighbor_per_level:i32[], levels:i32[], offsets:u64[],
 *            neighbors:i32[], entry_point:i32, max_level:i32, efConstruction:i32, efSearch:i32,
 *            upper_beam:i32
 *   IxM2     header, sub-index, id_map:i64[]
 *
 * Every count is checked against the bytes left before anything is allocated, and the graph is
 * checked (offsets against levels, neighbour ids in range) so that a search can never read out of
 * bounds. Unknown fourccs are refused by name.
 */
import { IndexFormatError } from './errors.mjs';

/** Largest vector dimension accepted (PP-ShiTu uses 512). */
export const MAX_DIM = 1 << 16;
/** Most vectors in one index. */
export const MAX_NTOTAL = 1 << 30;
/** Most HNSW levels (faiss makes ~6 for M=32). */
export const MAX_LEVELS = 64;

export const METRIC_INNER_PRODUCT = 0;
export const METRIC_L2 = 1;

/**
 * @typedef {object} IndexHeader
 * @property {number} d
 * @property {number} ntotal
 * @property {bigint} dummy1 faiss writes 1<<20; kept for a byte-exact rewrite
 * @property {bigint} dummy2
 * @property {number} isTrained the raw byte
 * @property {number} metricType 0 inner product, 1 L2
 */
/**
 * @typedef {IndexHeader & { kind: 'flat', fourcc: string, vectors: Float32Array }} FlatIndex
 * @typedef {object} HnswGraph
 * @property {Float64Array} assignProbas
 * @property {Int32Array} cumNneighborPerLevel
 * @property {Int32Array} levels levels[i] = 1 + the top level of vector i
 * @property {Float64Array} offsets where each vector's neighbour lists start in `neighbors` (size_t, kept exact)
 * @property {Int32Array} neighbors -1 = empty slot
 * @property {number} entryPoint
 * @property {number} maxLevel
 * @property {number} efConstruction
 * @property {number} efSearch
 * @property {number} upperBeam
 * @typedef {IndexHeader & { kind: 'hnsw', fourcc: 'IHNf', hnsw: HnswGraph, storage: FlatIndex }} HnswIndex
 * @typedef {IndexHeader & { kind: 'idmap', fourcc: 'IxM2' | 'IxMp', index: FlatIndex | HnswIndex, idMap: Float64Array }} IdMapIndex
 * @typedef {FlatIndex | HnswIndex | IdMapIndex} FaissIndex
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  get left() { return this.bytes.length - this.pos; }
  /** @param {number} n @param {string} what */
  need(n, what) {
    if (n > this.left) throw new IndexFormatError('E_INDEX_TRUNCATED', `index file ends inside ${what}: needs ${n} bytes, ${this.left} left`, this.pos);
  }
  i32(what) { this.need(4, what); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
  u8(what) { this.need(1, what); return this.bytes[this.pos++]; }
  i64(what) { this.need(8, what); const v = this.dv.getBigInt64(this.pos, true); this.pos += 8; return v; }
  fourcc() {
    this.need(4, 'a fourcc');
    const s = String.fromCharCode(...this.bytes.subarray(this.pos, this.pos + 4));
    this.pos += 4;
    return s;
  }
  /**
   * A size_t count followed by that many elements; the count is checked against the bytes left.
   * @param {number} elemSize @param {string} what
   * @returns {{ n: number, at: number }}
   */
  vector(elemSize, what) {
    this.need(8, `the length of ${what}`);
    const at = this.pos;
    const n64 = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    if (n64 > BigInt(this.left) / BigInt(elemSize)) {
      throw new IndexFormatError('E_INDEX_TRUNCATED', `${what} claims ${n64} elements of ${elemSize} bytes but only ${this.left} bytes are left`, at);
    }
    const n = Number(n64);
    const start = this.pos;
    this.pos += n * elemSize;
    return { n, at: start };
  }
  /** copies (the file's alignment is arbitrary): one memcpy on little-endian hosts */
  f32s(at, n) {
    if (LITTLE_ENDIAN) return new Float32Array(this.slice(at, 4 * n));
    const out = new Float32Array(n); for (let i = 0; i < n; i++) out[i] = this.dv.getFloat32(at + 4 * i, true); return out;
  }
  f64s(at, n) {
    if (LITTLE_ENDIAN) return new Float64Array(this.slice(at, 8 * n));
    const out = new Float64Array(n); for (let i = 0; i < n; i++) out[i] = this.dv.getFloat64(at + 8 * i, true); return out;
  }
  i32s(at, n) {
    if (LITTLE_ENDIAN) return new Int32Array(this.slice(at, 4 * n));
    const out = new Int32Array(n); for (let i = 0; i < n; i++) out[i] = this.dv.getInt32(at + 4 * i, true); return out;
  }
  slice(at, len) { const o = this.bytes.byteOffset + at; return this.bytes.buffer.slice(o, o + len); }
}

const bad = (msg, at) => new IndexFormatError('E_INDEX_INVALID', msg, at);

/** @param {Reader} r @returns {IndexHeader} */
function readHeader(r) {
  const at = r.pos;
  const d = r.i32('the header');
  const ntotal = r.i64('the header');
  const dummy1 = r.i64('the header');
  const dummy2 = r.i64('the header');
  const isTrained = r.u8('the header');
  const metricType = r.i32('the header');
  if (metricType > 1) r.i32('the metric argument');
  if (d < 1 || d > MAX_DIM) throw bad(`dimension ${d} is outside 1..${MAX_DIM}`, at);
  if (ntotal < 0n || ntotal > BigInt(MAX_NTOTAL)) throw bad(`ntotal ${ntotal} is outside 0..${MAX_NTOTAL}`, at + 4);
  if (metricType !== METRIC_INNER_PRODUCT && metricType !== METRIC_L2) {
    throw new IndexFormatError('E_INDEX_METRIC', `metric type ${metricType} is not supported (0 inner product and 1 L2 are)`, at + 29);
  }
  return { d, ntotal: Number(ntotal), dummy1, dummy2, isTrained, metricType };
}

/** @param {Reader} r @param {string} fourcc @returns {FlatIndex} */
function readFlat(r, fourcc) {
  const h = readHeader(r);
  if ((fourcc === 'IxFI' && h.metricType !== METRIC_INNER_PRODUCT) || (fourcc === 'IxF2' && h.metricType !== METRIC_L2)) {
    throw bad(`${fourcc} with metric type ${h.metricType}`, r.pos);
  }
  const { n, at } = r.vector(4, 'the flat vectors');
  if (n !== h.ntotal * h.d) throw bad(`the flat index holds ${n} floats, ntotal*d = ${h.ntotal * h.d}`, at - 8);
  return { kind: 'flat', fourcc, ...h, vectors: r.f32s(at, n) };
}

/** @param {Reader} r @param {number} ntotal @returns {HnswGraph} */
function readHnsw(r, ntotal) {
  const ap = r.vector(8, 'assign_probas');
  if (ap.n > MAX_LEVELS) throw bad(`${ap.n} HNSW levels, above the limit of ${MAX_LEVELS}`, ap.at - 8);
  const assignProbas = r.f64s(ap.at, ap.n);
  const cn = r.vector(4, 'cum_nneighbor_per_level');
  if (cn.n > MAX_LEVELS + 1) throw bad(`${cn.n} HNSW level sizes, above the limit`, cn.at - 8);
  const cum = r.i32s(cn.at, cn.n);
  if (cum.length < 2 || cum[0] !== 0) throw bad('cum_nneighbor_per_level must start at 0 and name at least one level', cn.at);
  for (let i = 1; i < cum.length; i++) if (cum[i] < cum[i - 1] || cum[i] > 1 << 20) throw bad('cum_nneighbor_per_level is not increasing', cn.at + 4 * i);
  const lv = r.vector(4, 'levels');
  if (lv.n !== ntotal) throw bad(`HNSW has ${lv.n} levels entries for ${ntotal} vectors`, lv.at - 8);
  const levels = r.i32s(lv.at, lv.n);
  const nLevels = cum.length - 1;
  for (let i = 0; i < levels.length; i++) if (levels[i] < 1 || levels[i] > nLevels) throw bad(`vector ${i} has HNSW level ${levels[i]}, outside 1..${nLevels}`, lv.at + 4 * i);
  const of = r.vector(8, 'offsets');
  if (of.n !== ntotal + 1) throw bad(`HNSW has ${of.n} offsets for ${ntotal} vectors (needs ntotal+1)`, of.at - 8);
  const offsets = new Float64Array(of.n);
  for (let i = 0; i < of.n; i++) {
    const v = r.dv.getBigUint64(of.at + 8 * i, true);
    if (v > BigInt(MAX_NTOTAL) * 1024n) throw bad(`HNSW offset ${v} is out of range`, of.at + 8 * i);
    offsets[i] = Number(v);
  }
  if (offsets[0] !== 0) throw bad('the first HNSW offset is not 0', of.at);
  for (let i = 0; i < ntotal; i++) {
    if (offsets[i + 1] - offsets[i] !== cum[levels[i]]) throw bad(`vector ${i}: its neighbour lists take ${offsets[i + 1] - offsets[i]} slots, its level needs ${cum[levels[i]]}`, of.at + 8 * (i + 1));
  }
  const nb = r.vector(4, 'neighbors');
  if (nb.n !== offsets[ntotal]) throw bad(`HNSW has ${nb.n} neighbour slots, the offsets need ${offsets[ntotal]}`, nb.at - 8);
  const neighbors = r.i32s(nb.at, nb.n);
  for (let i = 0; i < neighbors.length; i++) if (neighbors[i] < -1 || neighbors[i] >= ntotal) throw bad(`neighbour ${neighbors[i]} is not a vector of this index`, nb.at + 4 * i);
  const at = r.pos;
  const entryPoint = r.i32('the HNSW entry point');
  const maxLevel = r.i32('the HNSW max level');
  const efConstruction = r.i32('efConstruction');
  const efSearch = r.i32('efSearch');
  const upperBeam = r.i32('upper_beam');
  if (ntotal === 0 ? entryPoint !== -1 : entryPoint < 0 || entryPoint >= ntotal) throw bad(`HNSW entry point ${entryPoint} is not a vector of this index`, at);
  if (ntotal > 0 && (maxLevel < 0 || maxLevel >= levels[entryPoint])) throw bad(`HNSW max level ${maxLevel} does not fit the entry point's level ${levels[entryPoint] - 1}`, at + 4);
  if (efSearch < 1 || efSearch > 1 << 20 || upperBeam < 1 || upperBeam > 1 << 20 || efConstruction < 1 || efConstruction > 1 << 20) throw bad(`HNSW search parameters out of range (efSearch ${efSearch}, upper_beam ${upperBeam}, efConstruction ${efConstruction})`, at + 8);
  return { assignProbas, cumNneighborPerLevel: cum, levels, offsets, neighbors, entryPoint, maxLevel, efConstruction, efSearch, upperBeam };
}

/** @param {Reader} r @param {number} depth @returns {FaissIndex} */
function readAny(r, depth) {
  const at = r.pos;
  const fourcc = r.fourcc();
  if (fourcc === 'IxFI' || fourcc === 'IxF2' || fourcc === 'IxFl') return readFlat(r, fourcc);
  if (fourcc === 'IHNf') {
    const h = readHeader(r);
    const hnsw = readHnsw(r, h.ntotal);
    const sAt = r.pos;
    const storage = readAny(r, depth + 1);
    if (storage.kind !== 'flat') throw bad('IndexHNSWFlat storage is not a flat index', sAt);
    if (storage.d !== h.d || storage.ntotal !== h.ntotal || storage.metricType !== h.metricType) throw bad('IndexHNSWFlat and its storage disagree on d, ntotal or metric', sAt);
    return { kind: 'hnsw', fourcc, ...h, hnsw, storage };
  }
  if ((fourcc === 'IxM2' || fourcc === 'IxMp') && depth === 0) {
    const h = readHeader(r);
    const sAt = r.pos;
    const index = readAny(r, depth + 1);
    if (index.kind === 'idmap') throw bad('an IndexIDMap inside an IndexIDMap', sAt);
    if (index.d !== h.d || index.ntotal !== h.ntotal) throw bad('IndexIDMap and its index disagree on d or ntotal', sAt);
    const v = r.vector(8, 'the id map');
    if (v.n !== h.ntotal) throw bad(`the id map has ${v.n} ids for ${h.ntotal} vectors`, v.at - 8);
    const idMap = new Float64Array(v.n);
    for (let i = 0; i < v.n; i++) {
      const id = r.dv.getBigInt64(v.at + 8 * i, true);
      if (id > BigInt(Number.MAX_SAFE_INTEGER) || id < BigInt(Number.MIN_SAFE_INTEGER)) throw new IndexFormatError('E_INDEX_ID_RANGE', `id ${id} is outside the exactly representable range`, v.at + 8 * i);
      idMap[i] = Number(id);
    }
    return { kind: 'idmap', fourcc, ...h, index, idMap };
  }
  const printable = /^[\x20-\x7e]{4}$/.test(fourcc) ? `'${fourcc}'` : `0x${[...fourcc].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('')}`;
  const known = { IwFl: 'IVF-Flat', IwFI: 'IVF-Flat', IwPQ: 'IVF-PQ', IxPQ: 'PQ', IBxF: 'binary flat', IBHf: 'binary HNSW', IBwF: 'binary IVF' };
  const name = /** @type {Record<string, string>} */ (known)[fourcc];
  throw new IndexFormatError(name ? 'E_INDEX_UNSUPPORTED' : 'E_INDEX_FORMAT',
    name ? `a faiss ${name} index (${printable}): only IndexIDMap2 over HNSW-Flat or Flat is read` : `${printable} is not a faiss index pserve reads (expected IxM2, IHNf, IxFI or IxF2)`, at);
}

/**
 * Parse a faiss `vector.index`.
 * @param {Uint8Array} bytes the whole file
 * @returns {FaissIndex}
 */
export function readFaissIndex(bytes) {
  const r = new Reader(bytes);
  const index = readAny(r, 0);
  if (r.left !== 0) throw new IndexFormatError('E_INDEX_TRAILING', `${r.left} bytes after the index`, r.pos);
  return index;
}

class Writer {
  constructor(size) { this.bytes = new Uint8Array(size); this.dv = new DataView(this.bytes.buffer); this.pos = 0; }
  i32(v) { this.dv.setInt32(this.pos, v, true); this.pos += 4; }
  u8(v) { this.bytes[this.pos++] = v; }
  i64(v) { this.dv.setBigInt64(this.pos, BigInt(v), true); this.pos += 8; }
  u64(v) { this.dv.setBigUint64(this.pos, BigInt(v), true); this.pos += 8; }
  fourcc(s) { for (let i = 0; i < 4; i++) this.bytes[this.pos++] = s.charCodeAt(i); }
  f32s(a) {
    if (LITTLE_ENDIAN) { this.bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), this.pos); this.pos += a.byteLength; return; }
    for (let i = 0; i < a.length; i++) { this.dv.setFloat32(this.pos, a[i], true); this.pos += 4; }
  }
}

/** @param {FaissIndex} ix */
function sizeOf(ix) {
  const header = 4 + 4 + 8 * 3 + 1 + 4;
  if (ix.kind === 'flat') return header + 8 + 4 * ix.vectors.length;
  if (ix.kind === 'hnsw') {
    const g = ix.hnsw;
    return header + 8 * 5 + 8 * g.assignProbas.length + 4 * g.cumNneighborPerLevel.length + 4 * g.levels.length
      + 8 * g.offsets.length + 4 * g.neighbors.length + 4 * 5 + sizeOf(ix.storage);
  }
  return header + sizeOf(ix.index) + 8 + 8 * ix.idMap.length;
}

/** @param {Writer} w @param {IndexHeader} h */
function writeHeader(w, h) {
  w.i32(h.d); w.i64(h.ntotal); w.i64(h.dummy1); w.i64(h.dummy2); w.u8(h.isTrained); w.i32(h.metricType);
}

/** @param {Writer} w @param {FaissIndex} ix */
function writeAny(w, ix) {
  w.fourcc(ix.fourcc);
  writeHeader(w, ix);
  if (ix.kind === 'flat') {
    if (ix.vectors.length !== ix.ntotal * ix.d) throw new IndexFormatError('E_INDEX_INVALID', 'flat index: vectors.length != ntotal*d');
    w.u64(ix.vectors.length); w.f32s(ix.vectors);
  } else if (ix.kind === 'hnsw') {
    const g = ix.hnsw;
    w.u64(g.assignProbas.length); for (const p of g.assignProbas) { w.dv.setFloat64(w.pos, p, true); w.pos += 8; }
    w.u64(g.cumNneighborPerLevel.length); for (const c of g.cumNneighborPerLevel) w.i32(c);
    w.u64(g.levels.length); for (const l of g.levels) w.i32(l);
    w.u64(g.offsets.length); for (const o of g.offsets) w.u64(o);
    w.u64(g.neighbors.length); for (const n of g.neighbors) w.i32(n);
    w.i32(g.entryPoint); w.i32(g.maxLevel); w.i32(g.efConstruction); w.i32(g.efSearch); w.i32(g.upperBeam);
    writeAny(w, ix.storage);
  } else {
    writeAny(w, ix.index);
    w.u64(ix.idMap.length); for (const id of ix.idMap) w.i64(id);
  }
}

/**
 * Serialise as faiss's write_index does.
 * @param {FaissIndex} index
 * @returns {Uint8Array}
 */
export function writeFaissIndex(index) {
  const w = new Writer(sizeOf(index));
  writeAny(w, index);
  return w.bytes;
}

const DUMMY = 1n << 20n;

/**
 * @param {number} d @param {number} metricType @param {Float32Array} [vectors]
 * @returns {FlatIndex} an empty (or filled) IndexFlatIP / IndexFlatL2
 */
export function newFlatIndex(d, metricType, vectors = new Float32Array(0)) {
  return {
    kind: 'flat', fourcc: metricType === METRIC_INNER_PRODUCT ? 'IxFI' : 'IxF2', d, ntotal: vectors.length / d,
    dummy1: DUMMY, dummy2: DUMMY, isTrained: 1, metricType, vectors,
  };
}

/**
 * @param {FlatIndex | HnswIndex} index @param {Float64Array} [idMap]
 * @returns {IdMapIndex} IndexIDMap2 over `index`, as PaddleClas wraps every index
 */
export function newIdMap2(index, idMap = new Float64Array(0)) {
  return { kind: 'idmap', fourcc: 'IxM2', d: index.d, ntotal: index.ntotal, dummy1: DUMMY, dummy2: DUMMY, isTrained: index.isTrained, metricType: index.metricType, index, idMap };
}
