/** Every Paddle op the native ONNX engine converts, by op type. The README coverage table is generated from this. */
import type { OpMapper } from './mapper.js';
import { feedFetch } from './ops/io.js';
import { mul } from './ops/mul.js';
import { ELEMENTWISE } from './ops/elementwise.js';
import { UNARY } from './ops/unary.js';
import { COMPARE } from './ops/compare.js';
import { REDUCE } from './ops/reduce.js';
import { ACTIVATIONS } from './ops/activations.js';
import { NORM } from './ops/norm.js';
import { hardSigmoid, hardSwish, swish } from './ops/hard-activations.js';
import { softmax } from './ops/softmax.js';
import { scale } from './ops/scale.js';
import { conv } from './ops/conv.js';
import { convTranspose } from './ops/conv-transpose.js';
import { batchNorm } from './ops/batch-norm.js';
import { pool2d } from './ops/pool2d.js';
import { interpolate } from './ops/interpolate.js';
import { concat, stack } from './ops/concat.js';
import { reshape } from './ops/reshape.js';
import { transpose } from './ops/transpose.js';
import { flatten2, flattenRange } from './ops/flatten.js';
import { squeeze, unsqueeze } from './ops/squeeze.js';
import { slice } from './ops/slice.js';
import { shape } from './ops/shape.js';
import { fillConstant, fullIntArray } from './ops/fill-constant.js';
import { dropout } from './ops/dropout.js';
import { matmul } from './ops/matmul.js';
import { lookupTable } from './ops/lookup-table.js';
import { sum } from './ops/sum.js';
import { combine } from './ops/combine.js';
import { TENSOR_OPS } from './ops/tensor-ops.js';
import { temporalShift } from './ops/temporal-shift.js';
import { gridSampler, roiAlign } from './ops/vision.js';
import { rnn } from './ops/rnn.js';
import { QUANT_MAPPERS } from './ops/quant.js';
import { DETECTION_MAPPERS } from './ops/detection.js';
import { CONTROL_FLOW } from './ops/control-flow.js';

export const MAPPERS: OpMapper[] = [
  feedFetch, mul, ...ELEMENTWISE, ...UNARY, ...COMPARE, ...REDUCE, ...ACTIVATIONS, ...NORM, hardSwish, hardSigmoid, swish, softmax, scale,
  conv, convTranspose, batchNorm, pool2d, interpolate, concat, stack, reshape, transpose, flatten2, flattenRange,
  squeeze, unsqueeze, slice, shape, fillConstant, fullIntArray, dropout, matmul, lookupTable, sum, combine,
  ...TENSOR_OPS,
  temporalShift, rnn, ...QUANT_MAPPERS, gridSampler, roiAlign, ...DETECTION_MAPPERS, ...CONTROL_FLOW,
];

/** Ops we know and deliberately do not guess at (yet), with the reason given to the user. */
export const KNOWN_UNSUPPORTED: Record<string, string> = {
  sequence_conv: 'LoD sequence op: ONNX tensors carry no LoD',
  sequence_pool: 'LoD sequence op: ONNX tensors carry no LoD',
  sequence_expand: 'LoD sequence op: ONNX tensors carry no LoD',
  sequence_softmax: 'LoD sequence op: ONNX tensors carry no LoD',
  deformable_conv: 'ONNX DeformConv arrived in opset 19; the native engine writes opsets up to 17',
  deformable_conv_v1: 'ONNX DeformConv arrived in opset 19; the native engine writes opsets up to 17',
  array_to_lod_tensor: 'rebuilds a LoD tensor in the order of a lod_rank_table: ONNX tensors carry no LoD',
  lod_tensor_to_array: 'splits a LoD tensor by a lod_rank_table: ONNX tensors carry no LoD',
  lod_rank_table: 'LoD rank table: ONNX tensors carry no LoD',
  shrink_rnn_memory: 'LoD dynamic-RNN op (lod_rank_table): ONNX tensors carry no LoD',
  lstm: 'LoD sequence op (the fluid lstm over LoD input): ONNX tensors carry no LoD; models exported with paddle.nn.LSTM use the rnn op, which converts',
};

const byType = new Map<string, OpMapper>();
for (const m of MAPPERS) {
  for (const t of m.types) {
    if (byType.has(t)) throw new Error(`two mappers claim op ${t}`);
    byType.set(t, m);
  }
}

export function mapperFor(type: string): OpMapper | undefined {
  return byType.get(type);
}
