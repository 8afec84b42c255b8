/** The tensor-op mappers (copies, casts, fills, splits, indexing, broadcasting, sequences, sorting, slicing, padding, products, triangles, index_put), for the registry. */
import type { OpMapper } from '../mapper.js';
import { assign, assignValue, cast, eye, fillAnyLike, fillConstantBatchSizeLike, fillZerosLike, size } from './tensor-basic.js';
import { split, splitWithNum, unbind, unstack } from './split.js';
import { gather, gatherNd, indexSample, indexSelect, scatter, scatterNdAdd, takeAlongAxis } from './gather.js';
import { expandAs, expandV1, expandV2, meshgrid, repeatInterleave, tileOp } from './expand.js';
import { linspace, range } from './range.js';
import { flip, roll } from './flip.js';
import { oneHot, where, whereIndex } from './where.js';
import { argsort, topK, topKV2 } from './topk.js';
import { setValueOp, setValueWithTensor, stridedSlice } from './strided-slice.js';
import { pad, pad3d, pixelShuffle } from './pad.js';
import { bmm, dot, einsum, mv } from './linalg.js';
import { indexPut, trilTriu } from './tril-index-put.js';

export const TENSOR_OPS: OpMapper[] = [
  assign, assignValue, cast, eye, fillAnyLike, fillConstantBatchSizeLike, fillZerosLike, size,
  split, splitWithNum, unbind, unstack,
  gather, gatherNd, indexSample, indexSelect, scatter, scatterNdAdd, takeAlongAxis,
  expandAs, expandV1, expandV2, meshgrid, repeatInterleave, tileOp,
  linspace, range, flip, roll, oneHot, where, whereIndex, argsort, topK, topKV2,
  setValueOp, setValueWithTensor, stridedSlice, pad, pad3d, pixelShuffle, bmm, dot, einsum, mv, trilTriu, indexPut,
];
