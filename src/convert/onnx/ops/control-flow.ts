/**
 * Control flow and tensor arrays as the registry sees them. `while`, `conditional_block`,
 * `select_input` / `select_output` and the tensor-array ops change which values later ops see, so
 * the converter's block walker (../control-flow.ts) maps them itself; these entries declare them
 * (README table, supported-op check, opset: ONNX sequences need 11). `increment` is a plain mapper.
 */
import { defineOp } from '../declare.js';
import type { OpMapper } from '../mapper.js';
import { castNumber } from './tensor-util.js';

function structural(types: string[], note: string): OpMapper {
  return {
    types,
    minOpset: 11,
    note,
    map(ctx) {
      // legacy programs never get here (the block walker maps these); PIR keeps control flow in regions
      throw ctx.unsupported('control flow in PIR programs (pd_op.while / pd_op.if regions) is not converted yet; a legacy (.pdmodel ProgramDesc) export of the model converts');
    },
  };
}

export const increment = defineOp({
  types: ['increment', 'increment_'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { step: { default: 1, pir: 'value' } },
  minOpset: 7,
  note: 'Add of `step` in the input dtype (folded when the input is a constant)',
  map(ctx, a) {
    const t = ctx.dtypeOf('X');
    ctx.g.op('Add', [ctx.input('X'), ctx.g.constant([castNumber(a.step, t)], t, [1])], {}, ctx.output('Out'));
  },
});

export const CONTROL_FLOW: OpMapper[] = [
  structural(['while'], 'ONNX Loop (loop-carried vars from what the body writes; condition recomputed in the body); unrolled when constants fix the trip count and the body is small'),
  structural(['conditional_block'], 'ONNX If (then: the sub-block; else: the values before); folded when the condition is a conversion-time constant'),
  structural(['select_input'], 'If over Mask (folded when Mask is a constant)'),
  structural(['select_output'], 'every output aliases X (only the selected branch reads its copy)'),
  structural(['write_to_array'], 'SequenceInsert (append, or replace at I)'),
  structural(['read_from_array'], 'SequenceAt'),
  structural(['lod_array_length'], 'SequenceLength (a constant when the length is known)'),
  structural(['tensor_array_to_tensor'], 'ConcatFromSequence (use_stack: new axis); OutIndex'),
  increment,
];
