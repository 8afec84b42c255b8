import type { DType, TypedArray } from './dtype.js';

/** A feed, fetch or variable as the program declares it. -1 marks an unknown dim. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
  lodLevel: number;
}

export interface VarSpec extends TensorSpec {
  persistable: boolean;
}

export type AttrValue = number | bigint | boolean | string | null | AttrValue[];

/**
 * One op, format-neutral. Legacy programs name input/output slots (`X`, `Y`, `Out`); PIR ops are
 * positional, so their slots are "0", "1", ... in operand order.
 */
export interface OpNode {
  type: string;
  inputs: Record<string, string[]>;
  outputs: Record<string, string[]>;
  attrs: Record<string, AttrValue>;
}

export interface GraphBlock {
  idx: number;
  parentIdx: number;
  ops: OpNode[];
  vars: Map<string, VarSpec>;
}

export interface ParamEntry {
  name: string;
  dtype: DType;
  shape: number[];
  numel: number;
  byteLength: number;
  /** the file the data lives in, and where */
  file: string;
  dataOffset: number;
}

export type ModelFormat = 'paddle-program' | 'paddle-pir';
export type ParamsLayout = 'combined' | 'separate' | 'none';

export interface PaddleModel {
  format: ModelFormat;
  paddleVersion?: string;
  modelFile: string;
  paramsFile: string | null;
  paramsLayout: ParamsLayout;
  feeds: TensorSpec[];
  fetches: TensorSpec[];
  blocks: GraphBlock[];
  /** persistable variables in storage order (sorted by name); empty when params were not read */
  params: ParamEntry[];
  /** names the program needs as parameters, sorted (also when the params were not read) */
  paramNames: string[];
  warnings: string[];
  /** reads one parameter's data (one read, no further copies) */
  readParam(name: string): TypedArray;
}

/**
 * Every variable of a program by name, the first block that declares a name winning (sub-blocks
 * re-declare the outer variables they read). One index for every pass of the converter.
 */
export function programVars(blocks: readonly GraphBlock[]): Map<string, VarSpec> {
  const vars = new Map<string, VarSpec>();
  for (const b of blocks) for (const [k, v] of b.vars) if (!vars.has(k)) vars.set(k, v);
  return vars;
}
