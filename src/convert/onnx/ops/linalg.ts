/**
 * Products: bmm (batched MatMul), dot (sum of products over the last axis; the result keeps the
 * rank the program declares), mv (matrix x vector) and einsum (ONNX Einsum, opset 12).
 */
import { defineOp } from '../declare.js';
import { reduceSum } from './tensor-util.js';

export const bmm = defineOp({
  types: ['bmm'],
  inputs: { X: 0, Y: 1 },
  outputs: { Out: 0 },
  minOpset: 9,
  note: 'MatMul',
  map(ctx) { ctx.g.op('MatMul', [ctx.input('X'), ctx.input('Y')], {}, ctx.output('Out')); },
});

export const mv = defineOp({
  types: ['mv'],
  inputs: { X: 0, Vec: 1 },
  outputs: { Out: 0 },
  minOpset: 9,
  note: 'MatMul',
  map(ctx) { ctx.g.op('MatMul', [ctx.input('X'), ctx.input('Vec')], {}, ctx.output('Out')); },
});

export const dot = defineOp({
  types: ['dot'],
  inputs: { X: 0, Y: 1 },
  outputs: { Out: 0 },
  minOpset: 9,
  note: 'sum of products over the last axis',
  map(ctx) {
    const { g } = ctx;
    const inRank = ctx.rank('X');
    const outRank = ctx.outputShapeOf('Out')?.length ?? inRank - 1;
    // older Paddle keeps the reduced axis as size 1 ([N,1] for [N,D], [1] for [D])
    reduceSum(g, g.op('Mul', [ctx.input('X'), ctx.input('Y')]), [-1], outRank === inRank, ctx.output('Out'));
  },
});

export const einsum = defineOp({
  types: ['einsum'],
  inputs: { Operands: { pir: 0, list: true } },
  outputs: { Out: 0 },
  attrs: { equation: '' },
  minOpset: 12,
  note: 'equation',
  map(ctx, a) {
    const eq = a.equation.replace(/\s+/g, '');
    if (eq === '') throw ctx.unsupported('the equation is empty');
    const { tensors } = ctx.list('Operands');
    ctx.g.op('Einsum', tensors, { equation: eq }, ctx.output('Out'));
  },
});
