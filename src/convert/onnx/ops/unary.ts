/** One-input activations with a direct ONNX equivalent. */
import type { OpMapper } from '../mapper.js';

const ONNX_OP: Record<string, string> = {
  relu: 'Relu', tanh: 'Tanh', sigmoid: 'Sigmoid', exp: 'Exp', sqrt: 'Sqrt', abs: 'Abs', floor: 'Floor', ceil: 'Ceil',
  log: 'Log', relu_: 'Relu', tanh_: 'Tanh', sigmoid_: 'Sigmoid', exp_: 'Exp', sin: 'Sin', cos: 'Cos', erf: 'Erf',
  softsign: 'Softsign', reciprocal: 'Reciprocal',
};

export const unary: OpMapper = {
  types: Object.keys(ONNX_OP),
  map(ctx) {
    const s = ctx.pir ? '0' : 'X';
    ctx.g.op(ONNX_OP[ctx.op.type]!, [ctx.input(s)], {}, ctx.output(ctx.pir ? '0' : 'Out'));
  },
};
