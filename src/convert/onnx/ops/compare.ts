/**
 * Comparisons, logic and bitwise ops from one table. The legacy compare ops broadcast with `axis`
 * like elementwise_*; logical_* and bitwise_* broadcast numpy-style. ONNX spells `<=`/`>=` from
 * opset 12: below it they are Not(Greater) / Not(Less). ONNX's Bitwise* ops arrive in opset 18,
 * past what this engine writes, so bitwise ops convert on bool tensors (where they are the logical
 * ones) and refuse integer tensors with that reason.
 */
import { defineOp } from '../declare.js';
import type { OpMapper } from '../mapper.js';
import { binaryFamily, type BinaryBuild } from './elementwise.js';

const not = (onnx: string) => ({ g, x, y, out }: BinaryBuild): void => { g.op('Not', [g.op(onnx, [x, y])], {}, out); };

const bitwise = (onnx: string) => ({ g, ctx, x, y, out }: BinaryBuild): void => {
  if (ctx.dtypeOf('X') !== 'bool' || ctx.dtypeOf('Y') !== 'bool') throw ctx.unsupported(`integer bitwise ops need ONNX opset 18 (Bitwise${onnx}), past the opsets this engine writes`);
  g.op(onnx, [x, y], {}, out);
};

/** integer bitwise ops need ONNX Bitwise* (opset 18): the opset choice names them */
const intBitwise = (onnx: string) => (v: { dtypeOf(name: string): string | undefined }) => {
  const d = v.dtypeOf('X');
  return d !== undefined && d !== 'bool' ? { opset: 18, why: `Bitwise${onnx} on ${d}` } : undefined;
};

export const COMPARE: OpMapper[] = [
  ...binaryFamily([
    { types: ['equal'], onnx: 'Equal', minOpset: 11, note: 'ONNX Equal (all dtypes from 11); broadcast `axis`' },
    { types: ['not_equal'], build: not('Equal'), minOpset: 11, note: 'Not(Equal); broadcast `axis`' },
    { types: ['less_than'], onnx: 'Less', minOpset: 9 },
    { types: ['greater_than'], onnx: 'Greater', minOpset: 9 },
    {
      types: ['less_equal'], minOpset: 9, note: 'LessOrEqual (12+) or Not(Greater); broadcast `axis`',
      build: (b) => (b.ctx.opset >= 12 ? b.g.op('LessOrEqual', [b.x, b.y], {}, b.out) : not('Greater')(b)),
    },
    {
      types: ['greater_equal'], minOpset: 9, note: 'GreaterOrEqual (12+) or Not(Less); broadcast `axis`',
      build: (b) => (b.ctx.opset >= 12 ? b.g.op('GreaterOrEqual', [b.x, b.y], {}, b.out) : not('Less')(b)),
    },
    { types: ['logical_and'], onnx: 'And', minOpset: 7, note: 'ONNX And' },
    { types: ['logical_or'], onnx: 'Or', minOpset: 7, note: 'ONNX Or' },
    { types: ['logical_xor'], onnx: 'Xor', minOpset: 7, note: 'ONNX Xor' },
    { types: ['bitwise_and'], build: bitwise('And'), minOpset: 7, needs: intBitwise('And'), note: 'bool tensors (integers need opset 18)' },
    { types: ['bitwise_or'], build: bitwise('Or'), minOpset: 7, needs: intBitwise('Or'), note: 'bool tensors (integers need opset 18)' },
    { types: ['bitwise_xor'], build: bitwise('Xor'), minOpset: 7, needs: intBitwise('Xor'), note: 'bool tensors (integers need opset 18)' },
  ]),
  defineOp({
    types: ['logical_not'],
    inputs: { X: 0 },
    outputs: { Out: 0 },
    minOpset: 1,
    note: 'ONNX Not',
    map(ctx) { ctx.g.op('Not', [ctx.input('X')], {}, ctx.output('Out')); },
  }),
  defineOp({
    types: ['bitwise_not'],
    inputs: { X: 0 },
    outputs: { Out: 0 },
    minOpset: 1,
    note: 'bool tensors: Not; signed integers: -x - 1',
    map(ctx) {
      const { g } = ctx;
      const dt = ctx.dtypeOf('X');
      if (dt === 'bool') { g.op('Not', [ctx.input('X')], {}, ctx.output('Out')); return; }
      if (dt === 'int8' || dt === 'int16' || dt === 'int32' || dt === 'int64') {
        // two's complement: ~x == -x - 1
        g.op('Sub', [g.op('Neg', [ctx.input('X')]), g.scalar(1, dt)], {}, ctx.output('Out'));
        return;
      }
      throw ctx.unsupported(`bitwise_not on ${dt} needs ONNX opset 18 (BitwiseNot)`);
    },
  }),
];
