/**
 * One-input ops with a direct ONNX equivalent, from one table: each row is a mapper (its Paddle
 * spellings, the ONNX op, the opset that op's float form appeared in).
 */
import { defineOp, withInplace } from '../declare.js';
import type { OpMapper } from '../mapper.js';

const ROWS: [types: string[], onnx: string, minOpset: number][] = [
  [withInplace('relu'), 'Relu', 6],
  [withInplace('tanh'), 'Tanh', 6],
  [withInplace('sigmoid'), 'Sigmoid', 6],
  [withInplace('exp'), 'Exp', 6],
  [withInplace('sqrt'), 'Sqrt', 6],
  [withInplace('abs'), 'Abs', 6],
  [withInplace('floor'), 'Floor', 6],
  [withInplace('ceil'), 'Ceil', 6],
  [withInplace('log'), 'Log', 6],
  [withInplace('sin'), 'Sin', 7],
  [withInplace('cos'), 'Cos', 7],
  [['tan'], 'Tan', 7],
  [['asin'], 'Asin', 7],
  [['acos'], 'Acos', 7],
  [['atan'], 'Atan', 7],
  [['sinh'], 'Sinh', 9],
  [['cosh'], 'Cosh', 9],
  [['erf'], 'Erf', 9],
  [['softsign'], 'Softsign', 1],
  [withInplace('reciprocal'), 'Reciprocal', 6],
  [['sign'], 'Sign', 9],
  [['acosh'], 'Acosh', 9],
  [['asinh'], 'Asinh', 9],
  [['atanh'], 'Atanh', 9],
];

/** the plain unary mappers (activations with attributes live in activations.ts) */
export const UNARY: OpMapper[] = ROWS.map(([types, onnx, minOpset]) => defineOp({
  types,
  inputs: { X: 0 },
  outputs: { Out: 0 },
  minOpset,
  note: `ONNX ${onnx}`,
  map(ctx) { ctx.g.op(onnx, [ctx.input('X')], {}, ctx.output('Out')); },
}));
