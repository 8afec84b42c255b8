// Types of vector-index.mjs for the TypeScript side (src/commands/index.ts, tests).

export class IndexFormatError extends Error {
  constructor(code: string, message: string, offset?: number);
  readonly code: string;
  readonly offset?: number;
  file?: string;
}

export const MAX_DIM: number;
export const MAX_LEVELS: number;
export const MAX_NTOTAL: number;
export const METRIC_INNER_PRODUCT: 0;
export const METRIC_L2: 1;
export const MAX_PICKLE_BYTES: number;
export const MAX_PICKLE_DEPTH: number;
export const MAX_PICKLE_STRING: number;
export const MAX_NPY_ELEMENTS: number;
export const INDEX_FILE: 'vector.index';
export const ID_MAP_FILE: 'id_map.pkl';

export interface IndexHeader {
  d: number;
  ntotal: number;
  dummy1: bigint;
  dummy2: bigint;
  isTrained: number;
  metricType: number;
}
export interface FlatIndex extends IndexHeader { kind: 'flat'; fourcc: string; vectors: Float32Array }
export interface HnswGraph {
  assignProbas: Float64Array;
  cumNneighborPerLevel: Int32Array;
  levels: Int32Array;
  offsets: Float64Array;
  neighbors: Int32Array;
  entryPoint: number;
  maxLevel: number;
  efConstruction: number;
  efSearch: number;
  upperBeam: number;
}
export interface HnswIndex extends IndexHeader { kind: 'hnsw'; fourcc: 'IHNf'; hnsw: HnswGraph; storage: FlatIndex }
export interface IdMapIndex extends IndexHeader { kind: 'idmap'; fourcc: 'IxM2' | 'IxMp'; index: FlatIndex | HnswIndex; idMap: Float64Array }
export type FaissIndex = FlatIndex | HnswIndex | IdMapIndex;

export function readFaissIndex(bytes: Uint8Array): FaissIndex;
export function writeFaissIndex(index: FaissIndex): Uint8Array;
export function newFlatIndex(d: number, metricType: number, vectors?: Float32Array): FlatIndex;
export function newIdMap2(index: FlatIndex | HnswIndex, idMap?: Float64Array): IdMapIndex;

export interface IdMap { map: Map<number, string>; keyType: 'numpy.int64' | 'int' | 'mixed'; protocol: number }
export function readIdMapPickle(bytes: Uint8Array): IdMap;
export function writeIdMapPickle(entries: Map<number, string> | Iterable<[number, string]>, opts?: { keyType?: 'numpy.int64' | 'int' }): Uint8Array;

export interface SearchResult { distances: Float32Array; labels: Float64Array }
export interface SearchOptions { exact?: boolean; efSearch?: number }
export function innerProduct(x: Float32Array, xo: number, y: Float32Array, yo: number, d: number): number;
export function l2sqr(x: Float32Array, xo: number, y: Float32Array, yo: number, d: number): number;
export function distancesTo(q: Float32Array, qo: number, base: Float32Array, n: number, d: number, ip: boolean, out: Float32Array): void;
export function searchFlat(base: Float32Array, ntotal: number, d: number, metricType: number, queries: Float32Array, k: number): SearchResult;
export function searchHnsw(index: HnswIndex, queries: Float32Array, k: number, opts?: { efSearch?: number }): SearchResult;
export function searchIndex(index: FaissIndex, queries: Float32Array, k: number, opts?: SearchOptions): SearchResult;

export class MT19937 {
  constructor(seed: number);
  next(): number;
  randFloat(): number;
  randInt(max: number): number;
}
export function defaultProbas(M: number): { assignProbas: Float64Array; cumNneighborPerLevel: Int32Array };
export function newHnswFlatIndex(d: number, M: number, metricType: number): HnswIndex;
export function hnswAdd(index: HnswIndex, x: Float32Array, onProgress?: (done: number, total: number) => void): HnswIndex;

export function readNpy(bytes: Uint8Array): { shape: number[]; data: Float32Array; dtype: 'float32' | 'float64' };
export function writeNpy(data: Float32Array, shape: number[]): Uint8Array;

export interface Gallery { index: IdMapIndex; idMap: Map<number, string>; keyType: 'numpy.int64' | 'int' | 'mixed' }
export interface Hit { id: number; score: number; doc: string; label: string }
export function describeGallery(g: Gallery): { method: string; metric: 'IP' | 'L2'; d: number; ntotal: number };
export function loadGallery(indexBytes: Uint8Array, pickleBytes: Uint8Array): Gallery;
export function openGallery(dir: string): Gallery;
export function searchGallery(g: Gallery, queries: Float32Array, k: number, opts?: SearchOptions): Hit[][];
export function parseGalleryList(text: string, imageRoot: string, delimiter?: string): { image: string; doc: string; line: number }[];
export function buildGallery(o: { vectors: Float32Array; docs: string[]; d: number; method?: string; metric?: 'IP' | 'L2'; onProgress?: (done: number, total: number) => void }): Gallery;
export function appendGallery(g: Gallery, vectors: Float32Array, docs: string[], onProgress?: (done: number, total: number) => void): Gallery;
export function removeFromGallery(g: Gallery, docs: string[]): { gallery: Gallery; removed: number[] };
export function serializeGallery(g: Gallery): { index: Uint8Array; idMap: Uint8Array };
