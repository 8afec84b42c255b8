/**
 * What one Paddle-op mapper sees and what it must provide. A mapper covers one Paddle op (or a
 * tight family) in both spellings: legacy programs name their slots (`X`, `Y`, `Out`), PIR ops are
 * positional ("0", "1", ...).
 */
import { PserveError } from '../../errors.js';
import type { DType } from '../../model/dtype.js';
import type { AttrValue, OpNode } from '../../model/types.js';
import type { ConstValue, GraphBuilder } from './graph-builder.js';

export interface MapContext {
  readonly g: GraphBuilder;
  readonly opset: number;
  readonly op: OpNode;
  /** true when the op is a PIR op (positional slots) */
  readonly pir: boolean;
  /** the ONNX tensor for the i-th argument of an input slot (parameters become initializers on first use) */
  input(slot: string, i?: number): string;
  /** every argument of an input slot */
  inputs(slot: string): string[];
  /**
   * The tensors of a list operand: a legacy slot's arguments, or the operands of the PIR
   * `builtin.combine` that built it; with the declared shape of each.
   */
  list(slot: string): { tensors: string[]; shapes: (number[] | undefined)[] };
  /** the slot is present and non-empty */
  has(slot: string): boolean;
  /** the ONNX name to write the i-th argument of an output slot to */
  output(slot: string, i?: number): string;
  /** the output slot is present and non-empty (an optional output the program names) */
  hasOutput(slot: string): boolean;
  attr<T extends AttrValue>(name: string, fallback: T): T;
  /** declared shape of an input argument (-1 for unknown dims), or undefined when not declared */
  shapeOf(slot: string, i?: number): number[] | undefined;
  /** declared shape of an output argument, or undefined */
  outputShapeOf(slot: string, i?: number): number[] | undefined;
  outputDtypeOf(slot: string, i?: number): DType | undefined;
  /** declared rank; an error naming the op when unknown */
  rank(slot: string, i?: number): number;
  dtypeOf(slot: string, i?: number): DType;
  /** the value of an input known at conversion time (fill_constant, full_int_array, small params) */
  constOf(slot: string, i?: number): ConstValue | undefined;
  /** an error saying this instance of the op cannot be converted, and why */
  unsupported(reason: string): PserveError;
  /** in a declared mapper: the context over the op's raw slot names (variadic operands, e.g. builtin.combine) */
  readonly raw?: MapContext;
}

/** What the opset choice may look at before anything is built: the op and declared shapes. */
export interface OpView {
  op: OpNode;
  pir: boolean;
  shapeOf(slot: string): number[] | undefined;
  /** the values of an input made by a constant op (full_int_array, full, fill_constant), when small */
  constOf?(slot: string): number[] | undefined;
  /** the declared dtype of an input, when known */
  dtypeOf?(slot: string): DType | undefined;
}

/**
 * The registry's view of a mapper. Write new mappers with `defineOp` (declare.ts), which builds
 * one of these from a declaration; plain objects still work.
 */
export interface OpMapper {
  /** Paddle op types, legacy and PIR spellings */
  types: string[];
  /** lowest ONNX opset the mapping needs (11 when absent) */
  minOpset?: number;
  /** what the README coverage table says about it */
  note?: string;
  map(ctx: MapContext): void;
  /** a higher minimum for this instance of the op, with the reason */
  needs?(view: OpView): { opset: number; why: string } | undefined;
}

/** Paddle attribute as a number list (a lone number is a list of one) */
export function ints(v: AttrValue | undefined): number[] {
  if (Array.isArray(v)) return v.map((x) => Number(x));
  return typeof v === 'number' || typeof v === 'bigint' ? [Number(v)] : [];
}

export function num(v: AttrValue | undefined, fallback: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return fallback;
}
