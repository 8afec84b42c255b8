/**
 * The block walker: maps the ops of a Paddle block into a graph builder, and Paddle's control flow
 * into ONNX subgraphs.
 *
 * - `while` -> Loop. Its loop-carried values are the vars the body (and the blocks nested in it)
 *   writes that are not declared inside it (Paddle's step scopes keep those local); the condition
 *   var is recomputed by the body and becomes the Loop's condition output. When the condition,
 *   counter and bound are conversion-time constants (see fold.ts), the trip count is found by
 *   evaluating them, and a small loop is unrolled instead (reported).
 * - `conditional_block` -> If: the then-branch is the sub-block, the else-branch passes on the
 *   values the vars had before (or an empty placeholder of the declared dtype where a var had
 *   none: Paddle leaves it unset, and only a branch that ran reads it). A constant condition folds
 *   the block away or inline. `select_input` picks one of its inputs with If (folded for a
 *   constant mask); `select_output` lets every output alias its input.
 * - Tensor arrays (LOD_TENSOR_ARRAY vars) -> ONNX sequences: write_to_array appends with
 *   SequenceInsert (or replaces at I), read_from_array is SequenceAt, lod_array_length
 *   SequenceLength (a constant when the length is known), tensor_array_to_tensor
 *   ConcatFromSequence. An array a loop fills with one append per iteration (the common
 *   "collect one result per image" pattern) leaves the Loop as a scan output instead: a stacked
 *   tensor that tensor_array_to_tensor / lod_array_length / read_from_array read directly, with no
 *   sequence in the graph (Loop and If take sequences only from opset 13). A loop kept as Loop,
 *   an If and a folded branch are all reported (ControlFlowReport, `--json controlFlow`).
 * Subgraphs see outer values by name (ONNX outer-scope capture); every name is unique in the model.
 */
import { PserveError } from '../../errors.js';
import type { DType } from '../../model/dtype.js';
import type { LoadedModel } from '../../model/load-model.js';
import type { OpNode, VarSpec } from '../../model/types.js';
import { encodeValues, onnxDtype, type ConstValue, type GraphBuilder } from './graph-builder.js';
import { constantSource, foldOp } from './fold.js';

type ValueInfo = import('onnx-proto').onnx.IValueInfoProto;
type TypeProto = import('onnx-proto').onnx.ITypeProto;

/** a loop is unrolled when constants fix its trip count and trips x body ops stay within these */
export const UNROLL_MAX_TRIPS = 32;
export const UNROLL_MAX_OPS = 4096;
/** how far the conversion-time evaluation follows a constant loop */
const MAX_SIMULATED_TRIPS = 100_000;

export interface ControlFlowReport {
  loops: { block: number; subBlock: number; condition: string; result: 'unrolled' | 'loop' | 'never-runs'; trips: number | null; why?: string }[];
  branches: { block: number; subBlock: number; condition: string; result: 'if' | 'folded-taken' | 'folded-skipped' }[];
}

export interface Scope {
  g: GraphBuilder;
  /** Paddle var name -> ONNX value holding it here */
  current: Map<string, string>;
  /**
   * In a Loop body: arrays that start empty and get exactly one append per iteration. They leave
   * the Loop as a scan output (a tensor stacking the appended values) instead of a sequence.
   */
  scan?: Map<string, { iter: string; elem?: string }>;
}

export interface BlockEnv {
  model: LoadedModel;
  /** declared vars of every block (first declaration wins) */
  vars: Map<string, VarSpec>;
  /** Paddle names already given an ONNX value anywhere in the model (a rewrite gets a fresh name) */
  written: Set<string>;
  /** map one ordinary op with its registered mapper */
  mapOp(op: OpNode, scope: Scope, block: number): void;
  /** the ONNX value of a parameter (an initializer of the main graph), or undefined when `name` is none */
  param(name: string): string | undefined;
  report: ControlFlowReport;
}

function blockError(env: BlockEnv, op: OpNode, block: number, reason: string): PserveError {
  const out = Object.values(op.outputs).find((l) => l[0])?.[0] ?? '(none)';
  return new PserveError('E_ONNX_OP_UNSUPPORTED', `op ${op.type} (output ${out}) in block ${block}: ${reason}`, { file: env.model.modelFile, hint: 'nothing was written' });
}

const ARRAY_READERS: Record<string, string> = { read_from_array: 'X', lod_array_length: 'X', tensor_array_to_tensor: 'X', array_to_lod_tensor: 'X' };

/** Paddle var names that are tensor arrays, from the ops that write or read them. */
function arrayVars(model: LoadedModel): Set<string> {
  const s = new Set<string>();
  for (const b of model.blocks) {
    for (const op of b.ops) {
      if (op.type === 'write_to_array') for (const n of op.outputs['Out'] ?? []) s.add(n);
      const slot = ARRAY_READERS[op.type];
      if (slot) for (const n of op.inputs[slot] ?? []) s.add(n);
    }
  }
  return s;
}

const arraysOf = new WeakMap<LoadedModel, Set<string>>();
function isArray(env: BlockEnv, name: string): boolean {
  let s = arraysOf.get(env.model);
  if (!s) { s = arrayVars(env.model); arraysOf.set(env.model, s); }
  return s.has(name);
}

function subBlockOf(env: BlockEnv, op: OpNode, block: number): number {
  const v = op.attrs['sub_block'];
  const idx = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : NaN;
  if (!Number.isInteger(idx) || !env.model.blocks[idx] || idx === block) throw blockError(env, op, block, `sub_block ${String(v)} is not a block of this program`);
  return idx;
}

/** the block and every block nested in it */
function family(model: LoadedModel, idx: number): number[] {
  const out = [idx];
  for (let i = 0; i < out.length; i++) for (const b of model.blocks) if (b.parentIdx === out[i] && b.idx !== out[i] && !out.includes(b.idx)) out.push(b.idx);
  return out;
}

const IGNORED_OUTPUTS = new Set(['Scope', 'StepScopes']);

function selfAssign(op: OpNode): boolean {
  return op.type === 'assign' && op.inputs['X']?.length === 1 && op.inputs['X'][0] === op.outputs['Out']?.[0];
}

/** Vars the block (with its nested blocks) writes that live outside it, in first-write order. */
export function outerWrites(model: LoadedModel, idx: number): string[] {
  const fam = family(model, idx);
  const local = new Set<string>();
  for (const i of fam) for (const k of model.blocks[i]!.vars.keys()) local.add(k);
  const out: string[] = [];
  for (const i of fam) {
    for (const op of model.blocks[i]!.ops) {
      if (selfAssign(op)) continue;
      for (const [slot, names] of Object.entries(op.outputs)) {
        if (IGNORED_OUTPUTS.has(slot)) continue;
        for (const n of names) if (n && !local.has(n) && !out.includes(n)) out.push(n);
      }
    }
  }
  return out;
}

function bodyOpCount(model: LoadedModel, idx: number): number {
  return family(model, idx).reduce((s, i) => s + model.blocks[i]!.ops.length, 0);
}

// ------------------------------------------------------------------ values and types

function dtypeOfVar(env: BlockEnv, name: string): DType {
  const d = env.vars.get(name)?.dtype;
  return d === undefined || d === 'unknown' ? 'float32' : d;
}

function typeOf(env: BlockEnv, name: string): TypeProto {
  const tensor = { tensorType: { elemType: onnxDtype(dtypeOfVar(env, name), name) } };
  return isArray(env, name) ? { sequenceType: { elemType: tensor } } : tensor;
}

function vinfo(name: string, type: TypeProto): ValueInfo {
  return { name, type };
}

const SCALAR = (elemType: number): TypeProto => ({ tensorType: { elemType, shape: { dim: [] } } });

/** give Paddle var `name` a new ONNX value in this scope; returns the ONNX name to write */
function define(env: BlockEnv, scope: Scope, name: string): string {
  const onnxName = env.written.has(name) ? scope.g.fresh(name) : name;
  if (!env.written.has(name)) scope.g.claim(name);
  env.written.add(name);
  scope.current.set(name, onnxName);
  return onnxName;
}

/** statically known lengths of sequence values, and which values are a sequence's length */
const seqLen = new WeakMap<GraphBuilder['consts'], Map<string, number>>();
const lengthOf = new WeakMap<GraphBuilder['consts'], Map<string, string>>();
function lens(g: GraphBuilder): { len: Map<string, number>; of: Map<string, string> } {
  let len = seqLen.get(g.consts); if (!len) { len = new Map(); seqLen.set(g.consts, len); }
  let of = lengthOf.get(g.consts); if (!of) { of = new Map(); lengthOf.set(g.consts, of); }
  return { len, of };
}

/** array values held as one tensor stacking the elements along a new axis 0 (a Loop's scan output) */
const stackedOf = new WeakMap<GraphBuilder['consts'], Set<string>>();
function stacked(g: GraphBuilder): Set<string> {
  let s = stackedOf.get(g.consts); if (!s) { s = new Set(); stackedOf.set(g.consts, s); }
  return s;
}

/** an array value as an ONNX sequence (a stacked tensor is split back into its elements) */
function asSeq(g: GraphBuilder, v: string): string {
  return stacked(g).has(v) ? g.op('SplitToSequence', [v], { axis: 0, keepdims: 0 }) : v;
}

/** a value standing for a var that has none yet: an empty sequence, or an empty tensor of the declared dtype and rank */
function placeholder(env: BlockEnv, g: GraphBuilder, name: string): string {
  const dtype = dtypeOfVar(env, name);
  if (isArray(env, name)) {
    const s = g.op('SequenceEmpty', [], { dtype: onnxDtype(dtype, name) });
    lens(g).len.set(s, 0);
    return s;
  }
  const rank = Math.max(1, env.vars.get(name)?.shape.length ?? 1);
  const dims = [0, ...Array(rank - 1).fill(1)];
  const t = g.fresh(`${name}.unset`);
  g.initializer(t, dtype, dims, encodeValues([], dtype));
  return t;
}

/** the ONNX value of a Paddle var in this scope (parameters on first use; arrays never written: empty) */
function read(env: BlockEnv, scope: Scope, op: OpNode, block: number, name: string): string {
  const c = scope.current.get(name);
  if (c !== undefined) return c;
  const p = env.param(name);
  if (p !== undefined) { scope.current.set(name, p); return p; }
  if (isArray(env, name)) {
    const e = placeholder(env, scope.g, name);
    scope.current.set(name, e);
    return e;
  }
  throw new PserveError('E_ONNX_DANGLING', `op ${op.type} in block ${block} reads ${name}, which no earlier op writes and which is not a parameter`, { file: env.model.modelFile });
}

function constOf(env: BlockEnv, scope: Scope, name: string): ConstValue | undefined {
  const c = scope.current.get(name) ?? env.param(name);
  return c === undefined ? undefined : scope.g.consts.get(c);
}

/** bool scalar condition from a Paddle [1] bool (or any single-element) tensor */
function scalarCond(g: GraphBuilder, v: string): string {
  return g.op('Reshape', [v, g.constant([], 'int64', [0])]);
}

/** `value` as the output of a subgraph built in `g` (always a value of its own, except a sequence below opset 14) */
function subgraphOutput(env: BlockEnv, g: GraphBuilder, value: string, varName: string): ValueInfo {
  const type = typeOf(env, varName);
  if (!isArray(env, varName)) return vinfo(g.op('Identity', [value]), type);
  const seq = asSeq(g, value);
  if (seq !== value) return vinfo(seq, type);
  // Identity takes sequences from opset 14; below, the sequence is passed on by name
  return vinfo(g.opset >= 14 ? g.op('Identity', [seq]) : seq, type);
}

/** ONNX Loop and If take sequence values from opset 13, Identity from 14 */
const SEQ_LOOP_IF_OPSET = 13;
const SEQ_IDENTITY_OPSET = 14;

/**
 * Control-flow ops that need a newer opset than their declared minimum, for the opset choice:
 * a `while` that carries a tensor array as a sequence (not as a scan output) and a
 * `conditional_block` that writes one need Loop-13 / If-13; a select_input between arrays Identity-14.
 */
export function controlFlowNeeds(model: LoadedModel): Map<OpNode, { opset: number; why: string }> {
  const out = new Map<OpNode, { opset: number; why: string }>();
  if (model.format === 'paddle-pir') return out;
  const arrays = arrayVars(model);
  const producer = new Map<string, string>();
  for (const b of model.blocks) for (const op of b.ops) for (const l of Object.values(op.outputs)) for (const n of l) if (!producer.has(n)) producer.set(n, op.type);
  const STATIC_INDEX = new Set(['lod_array_length', 'fill_constant', 'assign_value']);
  for (const b of model.blocks) {
    for (const op of b.ops) {
      if (op.type === 'write_to_array' && !STATIC_INDEX.has(producer.get(op.inputs['I']?.[0] ?? '') ?? '')) {
        out.set(op, { opset: SEQ_LOOP_IF_OPSET, why: 'a run-time index replaces or appends through If (If-13 returns sequences)' });
      }
      const sub = Number(op.attrs['sub_block']);
      if (op.type === 'while' && model.blocks[sub]) {
        const seqs = outerWrites(model, sub).filter((v) => arrays.has(v) && !scanShaped(model, sub, v));
        if (seqs.length) out.set(op, { opset: SEQ_LOOP_IF_OPSET, why: `the loop carries tensor array ${seqs[0]} as a sequence (Loop-13)` });
      } else if (op.type === 'conditional_block' && model.blocks[sub]) {
        const seqs = outerWrites(model, sub).filter((v) => arrays.has(v));
        if (seqs.length) out.set(op, { opset: SEQ_LOOP_IF_OPSET, why: `the branch writes tensor array ${seqs[0]} (If-13 returns sequences)` });
      } else if (op.type === 'select_input' && arrays.has(op.outputs['Out']?.[0] ?? '')) {
        out.set(op, { opset: SEQ_IDENTITY_OPSET, why: 'it selects between tensor arrays (Identity of sequences, opset 14)' });
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ the walker

const SPECIAL: Record<string, (env: BlockEnv, op: OpNode, scope: Scope, block: number) => void> = {
  while: mapWhile,
  conditional_block: mapConditional,
  select_input: mapSelectInput,
  select_output: mapSelectOutput,
  write_to_array: mapWriteToArray,
  read_from_array: mapReadFromArray,
  lod_array_length: mapArrayLength,
  tensor_array_to_tensor: mapArrayToTensor,
};

/** Map the ops of block `idx` into `scope`. */
export function mapBlock(env: BlockEnv, idx: number, scope: Scope): void {
  const block = env.model.blocks[idx];
  if (!block) throw new PserveError('E_ONNX_EMPTY', `the program has no block ${idx}`, { file: env.model.modelFile });
  const pir = env.model.format === 'paddle-pir';
  for (const op of block.ops) {
    if (op.type === 'feed' || op.type === 'data' || op.type === 'fetch') continue;
    if (selfAssign(op)) continue;
    const special = SPECIAL[op.type];
    if (special && !pir) { special(env, op, scope, idx); continue; }
    if (!pir && foldInto(env, op, scope)) continue;
    env.mapOp(op, scope, idx);
  }
}

/** write the op's outputs as constants when fold.ts can evaluate it; false when it cannot */
function foldInto(env: BlockEnv, op: OpNode, scope: Scope): boolean {
  const vals = foldOp(op, (n) => constOf(env, scope, n));
  if (!vals) return false;
  for (const name of vals.keys()) if (env.model.fetches.some((f) => f.name === name)) return false;
  for (const [name, v] of vals) {
    const o = define(env, scope, name);
    scope.g.initializer(o, v.dtype, v.dims, encodeValues(v.values, v.dtype));
    scope.g.consts.set(o, v);
  }
  return true;
}

// ------------------------------------------------------------------ while

/** The trip count when constants decide the loop (undefined when any condition is not a constant). */
function constantTrips(env: BlockEnv, scope: Scope, sub: number, condVar: string): number | undefined {
  const known = new Map<string, ConstValue | undefined>();
  const get = (n: string): ConstValue | undefined => (known.has(n) ? known.get(n) : constOf(env, scope, n));
  const truth = (): boolean | undefined => { const c = get(condVar); return c && c.values.length >= 1 ? c.values[0] !== 0 : undefined; };
  let t = truth();
  if (t === undefined) return undefined;
  const ops = env.model.blocks[sub]!.ops;
  let trips = 0;
  while (t) {
    if (trips >= MAX_SIMULATED_TRIPS) return undefined;
    for (const op of ops) {
      if (selfAssign(op)) continue;
      const nested = op.attrs['sub_block'];
      if (nested !== undefined && (op.type === 'while' || op.type === 'conditional_block')) {
        for (const n of outerWrites(env.model, Number(nested))) known.set(n, undefined);
      }
      const vals = constantSource(op) ?? foldOp(op, get);
      for (const names of Object.values(op.outputs)) for (const n of names) if (n) known.set(n, vals?.get(n));
    }
    trips++;
    t = truth();
    if (t === undefined) return undefined;
  }
  return trips;
}

function mapWhile(env: BlockEnv, op: OpNode, scope: Scope, block: number): void {
  const sub = subBlockOf(env, op, block);
  const condVar = op.inputs['Condition']?.[0];
  if (!condVar) throw blockError(env, op, block, 'the Condition input is missing');
  const writes = outerWrites(env.model, sub);
  for (const n of op.outputs['Out'] ?? []) if (n && !writes.includes(n) && writesIn(env.model, sub, n)) writes.push(n);
  if (!writes.includes(condVar)) throw blockError(env, op, block, `the loop body (block ${sub}) never writes its condition ${condVar}: it would not end`);
  const carried = writes.filter((n) => n !== condVar);

  const trips = constantTrips(env, scope, sub, condVar);
  const ops = bodyOpCount(env.model, sub);
  if (trips === 0) {
    env.report.loops.push({ block, subBlock: sub, condition: condVar, result: 'never-runs', trips: 0 });
    return;
  }
  if (trips !== undefined && trips <= UNROLL_MAX_TRIPS && trips * ops <= UNROLL_MAX_OPS) {
    for (let i = 0; i < trips; i++) mapBlock(env, sub, scope);
    env.report.loops.push({ block, subBlock: sub, condition: condVar, result: 'unrolled', trips });
    return;
  }

  const g = scope.g;
  const body = g.sub();
  const iter = body.fresh('iter');
  const condIn = body.fresh(`${condVar}.in`);
  body.inputs.push(vinfo(iter, SCALAR(onnxDtype('int64', iter))), vinfo(condIn, SCALAR(onnxDtype('bool', condIn))));
  const scans = carried.filter((v) => scanEligible(env, scope, sub, v));
  const state = carried.filter((v) => !scans.includes(v));
  const seqState = state.filter((v) => isArray(env, v));
  if (seqState.length && g.opset < SEQ_LOOP_IF_OPSET) {
    throw blockError(env, op, block, `the loop carries tensor array ${seqState[0]} as a sequence, which ONNX Loop takes from opset ${SEQ_LOOP_IF_OPSET}; convert with --opset_version ${SEQ_LOOP_IF_OPSET}`);
  }
  const inner: Scope = { g: body, current: new Map(scope.current), scan: new Map(scans.map((v) => [v, { iter }])) };
  const inits: string[] = [];
  for (const v of state) {
    const before = scope.current.get(v) ?? (env.param(v) ?? placeholder(env, g, v));
    inits.push(isArray(env, v) ? asSeq(g, before) : before);
    const name = body.fresh(`${v}.in`);
    body.inputs.push(vinfo(name, typeOf(env, v)));
    inner.current.set(v, name);
  }
  inner.current.set(condVar, body.op('Reshape', [condIn, body.constant([1])]));
  mapBlock(env, sub, inner);
  body.outputs.push(vinfo(scalarCond(body, read(env, inner, op, sub, condVar)), SCALAR(onnxDtype('bool', condVar))));
  for (const v of state) body.outputs.push(subgraphOutput(env, body, read(env, inner, op, sub, v), v));
  for (const v of scans) {
    const elem = inner.scan!.get(v)!.elem;
    if (elem === undefined) throw blockError(env, op, block, `the loop body (block ${sub}) did not write array ${v}`);
    body.outputs.push(vinfo(body.op('Identity', [elem]), { tensorType: { elemType: onnxDtype(dtypeOfVar(env, v), v) } }));
  }

  const m = trips !== undefined ? g.constant([trips], 'int64', []) : '';
  const condInit = scalarCond(g, read(env, scope, op, block, condVar));
  const outs = state.map((v) => define(env, scope, v));
  // a Loop that runs no iteration gives its scan outputs shape [0] (onnxruntime cannot know the
  // element shape): unless the trip count is known, give them the element's declared rank then
  const scanOuts = scans.map((v) => (trips !== undefined ? define(env, scope, v) : g.fresh(`${v}.scan`)));
  g.node('Loop', [m, condInit, ...inits], [...outs, ...scanOuts], { body: { graph: body.graph(`while_block${sub}`) } });
  scans.forEach((v, k) => {
    let s = scanOuts[k]!;
    if (trips === undefined) s = emptyScanRank(env, g, s, v, define(env, scope, v));
    stacked(g).add(s);
  });
  // when the loop ends its condition is false
  const done = define(env, scope, condVar);
  g.initializer(done, 'bool', [1], encodeValues([0], 'bool'));
  g.consts.set(done, { dtype: 'bool', dims: [1], values: [0] });
  env.report.loops.push({
    block, subBlock: sub, condition: condVar, result: 'loop', trips: trips ?? null,
    why: trips === undefined
      ? 'the trip count is not a conversion-time constant'
      : `${trips} trips of ${ops} body ops is past the unroll limit (${UNROLL_MAX_TRIPS} trips, ${UNROLL_MAX_OPS} ops)`,
  });
}

/** `scan` as is, or (when the Loop ran no iteration: shape [0]) an empty tensor of rank 1 + the element's declared rank */
function emptyScanRank(env: BlockEnv, g: GraphBuilder, scan: string, arr: string, out: string): string {
  const elem = env.vars.get(arr)?.shape ?? [];
  if (elem.length === 0) return g.op('Identity', [scan], {}, out);
  const dtype = dtypeOfVar(env, arr);
  const type: TypeProto = { tensorType: { elemType: onnxDtype(dtype, arr) } };
  const thenG = g.sub();
  const empty = thenG.op('ConstantOfShape', [thenG.constant([0, ...elem.map((d) => (d > 0 ? d : 1))])]);
  thenG.outputs.push(vinfo(dtype === 'float32' ? thenG.op('Identity', [empty]) : thenG.cast(empty, dtype), type));
  const elseG = g.sub();
  elseG.outputs.push(vinfo(elseG.op('Identity', [scan]), type));
  const noTrips = g.op('Equal', [g.op('Size', [g.op('Shape', [scan])]), g.constant([1], 'int64', [])]);
  return g.node('If', [noTrips], [out], { then_branch: { graph: thenG.graph(`${arr}_no_trips`) }, else_branch: { graph: elseG.graph(`${arr}_trips`) } })[0]!;
}

/**
 * An array the loop can hand out as a scan output: empty before the loop, appended exactly once in
 * every iteration (one write_to_array directly in the body, at the array's own length), and read
 * in the body by nothing but lod_array_length.
 */
function scanEligible(env: BlockEnv, scope: Scope, sub: number, v: string): boolean {
  if (!isArray(env, v)) return false;
  const before = scope.current.get(v);
  if (before !== undefined && lens(scope.g).len.get(before) !== 0) return false;
  return scanShaped(env.model, sub, v);
}

/** the body's side of scanEligible: one append per iteration at the array's length, no other reads */
function scanShaped(model: LoadedModel, sub: number, v: string): boolean {
  const direct = model.blocks[sub]!.ops;
  const writes = direct.filter((o) => o.type === 'write_to_array' && o.outputs['Out']?.[0] === v);
  if (writes.length !== 1) return false;
  const lengthVars = new Set(direct.filter((o) => o.type === 'lod_array_length' && o.inputs['X']?.[0] === v).map((o) => o.outputs['Out']?.[0]));
  if (!lengthVars.has(writes[0]!.inputs['I']?.[0])) return false;
  for (const i of family(model, sub)) {
    for (const o of model.blocks[i]!.ops) {
      if (o === writes[0]) continue;
      const reads = Object.values(o.inputs).some((l) => l.includes(v));
      const writesV = Object.values(o.outputs).some((l) => l.includes(v));
      if (writesV || (reads && !(o.type === 'lod_array_length' && i === sub))) return false;
    }
  }
  return true;
}

function writesIn(model: LoadedModel, idx: number, name: string): boolean {
  return family(model, idx).some((i) => model.blocks[i]!.ops.some((o) => !selfAssign(o) && Object.values(o.outputs).some((l) => l.includes(name))));
}

// ------------------------------------------------------------------ conditional_block, select_input / select_output

function mapConditional(env: BlockEnv, op: OpNode, scope: Scope, block: number): void {
  const sub = subBlockOf(env, op, block);
  const conds = (op.inputs['Cond'] ?? []).filter((n) => n !== '');
  if (conds.length === 0) throw blockError(env, op, block, 'the Cond input is missing');
  const scalar = op.attrs['is_scalar_condition'] === true;
  if (scalar && conds.length !== 1) throw blockError(env, op, block, `a scalar condition takes one Cond, got ${conds.length}`);
  const condName = conds.join(',');

  // constant condition: the block runs inline, or not at all
  const cv = conds.map((n) => constOf(env, scope, n));
  if (cv.every((c) => c !== undefined)) {
    const taken = scalar ? cv[0]!.values[0] !== 0 : cv.every((c) => c!.values.length > 0);
    if (taken) mapBlock(env, sub, scope);
    env.report.branches.push({ block, subBlock: sub, condition: condName, result: taken ? 'folded-taken' : 'folded-skipped' });
    return;
  }

  const g = scope.g;
  const writes = outerWrites(env.model, sub);
  for (const n of op.outputs['Out'] ?? []) if (n && !writes.includes(n)) writes.push(n);
  const arr = writes.find((v) => isArray(env, v));
  if (arr !== undefined && g.opset < SEQ_LOOP_IF_OPSET) throw blockError(env, op, block, `the branch writes tensor array ${arr}, which ONNX If returns from opset ${SEQ_LOOP_IF_OPSET}; convert with --opset_version ${SEQ_LOOP_IF_OPSET}`);

  const thenG = g.sub();
  const thenScope: Scope = { g: thenG, current: new Map(scope.current) };
  mapBlock(env, sub, thenScope);
  for (const v of writes) {
    const val = thenScope.current.get(v) ?? placeholder(env, thenG, v);
    thenG.outputs.push(subgraphOutput(env, thenG, val, v));
  }
  const elseG = g.sub();
  for (const v of writes) {
    const val = scope.current.get(v) ?? env.param(v) ?? placeholder(env, elseG, v);
    elseG.outputs.push(subgraphOutput(env, elseG, val, v));
  }

  let cond: string;
  if (scalar) {
    const c = read(env, scope, op, block, conds[0]!);
    cond = scalarCond(g, env.vars.get(conds[0]!)?.dtype === 'bool' ? c : g.cast(c, 'bool'));
  } else {
    // Paddle runs a non-scalar conditional block when every Cond tensor holds elements
    const nonEmpty = conds.map((n) => g.op('Greater', [g.op('Size', [read(env, scope, op, block, n)]), g.constant([0], 'int64', [])]));
    cond = nonEmpty.reduce((a, b) => g.op('And', [a, b]));
  }
  const outs = writes.map((v) => define(env, scope, v));
  g.node('If', [cond], outs, { then_branch: { graph: thenG.graph(`cond_block${sub}_then`) }, else_branch: { graph: elseG.graph(`cond_block${sub}_else`) } });
  env.report.branches.push({ block, subBlock: sub, condition: condName, result: 'if' });
}

function mapSelectInput(env: BlockEnv, op: OpNode, scope: Scope, block: number): void {
  const xs = op.inputs['X'] ?? [];
  const maskVar = op.inputs['Mask']?.[0];
  const outVar = op.outputs['Out']?.[0];
  if (!maskVar || !outVar || xs.length === 0) throw blockError(env, op, block, 'needs X, Mask and Out');
  const mc = constOf(env, scope, maskVar);
  if (mc) {
    const k = mc.values[0]!;
    if (!(k >= 0 && k < xs.length)) throw blockError(env, op, block, `Mask ${k} is outside the ${xs.length} inputs`);
    scope.current.set(outVar, read(env, scope, op, block, xs[k]!));
    return;
  }
  const g = scope.g;
  const mask = g.op('Reshape', [g.cast(read(env, scope, op, block, maskVar), 'int64'), g.constant([], 'int64', [0])]);
  const values = xs.map((x) => read(env, scope, op, block, x));
  // X[k] for the run-time k: If(mask == k) chains, the last input otherwise
  const pick = (k: number, gb: GraphBuilder, out?: string): string => {
    if (k === xs.length - 1) return gb.op('Identity', [values[k]!], {}, out);
    const thenG = gb.sub();
    thenG.outputs.push(vinfo(thenG.op('Identity', [values[k]!]), typeOf(env, outVar)));
    const elseG = gb.sub();
    elseG.outputs.push(vinfo(pick(k + 1, elseG), typeOf(env, outVar)));
    const c = gb.op('Equal', [mask, gb.constant([k], 'int64', [])]);
    return gb.node('If', [c], out === undefined ? 1 : [out], { then_branch: { graph: thenG.graph('select_input_then') }, else_branch: { graph: elseG.graph('select_input_else') } })[0]!;
  };
  if (isArray(env, outVar) && g.opset < SEQ_IDENTITY_OPSET) throw blockError(env, op, block, `selecting between tensor arrays needs opset ${SEQ_IDENTITY_OPSET} (Identity of sequences)`);
  pick(0, g, define(env, scope, outVar));
}

function mapSelectOutput(env: BlockEnv, op: OpNode, scope: Scope, block: number): void {
  const x = op.inputs['X']?.[0];
  if (!x) throw blockError(env, op, block, 'the X input is missing');
  const v = read(env, scope, op, block, x);
  // Paddle writes X to Out[Mask] only; the branch that reads Out[k] runs only when Mask is k
  for (const o of op.outputs['Out'] ?? []) if (o) scope.current.set(o, v);
}

// ------------------------------------------------------------------ tensor arrays

function index64(g: GraphBuilder, v: string, dtype: DType | undefined): string {
  return g.op('Reshape', [dtype === 'int64' ? v : g.cast(v, 'int64'), g.constant([], 'int64', [0])]);
}

function mapWriteToArray(env: BlockEnv, op: OpNode, scope: Scope, block: number): void {
  const arr = op.outputs['Out']?.[0];
  const xVar = op.inputs['X']?.[0];
  const iVar = op.inputs['I']?.[0];
  if (!arr || !xVar || !iVar) throw blockError(env, op, block, 'needs X, I and Out');
  const g = scope.g;
  const sc = scope.scan?.get(arr);
  if (sc) { sc.elem = read(env, scope, op, block, xVar); return; }
  const seq = asSeq(g, scope.current.get(arr) ?? read(env, scope, op, block, arr));
  const x = read(env, scope, op, block, xVar);
  const i = read(env, scope, op, block, iVar);
  const { len, of } = lens(g);
  const known = len.get(seq);
  const ic = g.consts.get(i);
  const out = define(env, scope, arr);
  if (of.get(i) === seq || (ic && known !== undefined && ic.values[0] === known)) {
    g.op('SequenceInsert', [seq, x], {}, out);
    if (known !== undefined) len.set(out, known + 1);
    return;
  }
  const pos = index64(g, i, env.vars.get(iVar)?.dtype);
  if (ic && known !== undefined) {
    if (ic.values[0]! > known) throw blockError(env, op, block, `writes index ${ic.values[0]} past the end of an array of ${known}: Paddle pads with empty tensors, ONNX sequences cannot`);
    g.op('SequenceInsert', [g.op('SequenceErase', [seq, pos]), x, pos], {}, out);
    len.set(out, known);
    return;
  }
  // run-time index: replace when it is inside the array, append otherwise
  if (g.opset < SEQ_LOOP_IF_OPSET) throw blockError(env, op, block, `a run-time index needs If over sequences, which ONNX has from opset ${SEQ_LOOP_IF_OPSET}; convert with --opset_version ${SEQ_LOOP_IF_OPSET}`);
  const inside = g.op('Less', [pos, g.op('SequenceLength', [seq])]);
  const thenG = g.sub();
  thenG.outputs.push(vinfo(thenG.op('SequenceInsert', [thenG.op('SequenceErase', [seq, pos]), x, pos]), typeOf(env, arr)));
  const elseG = g.sub();
  elseG.outputs.push(vinfo(elseG.op('SequenceInsert', [seq, x]), typeOf(env, arr)));
  g.node('If', [inside], [out], { then_branch: { graph: thenG.graph('write_to_array_replace') }, else_branch: { graph: elseG.graph('write_to_array_append') } });
}

function mapReadFromArray(env: BlockEnv, op: OpNode, scope: Scope, block: number): void {
  const arr = op.inputs['X']?.[0];
  const iVar = op.inputs['I']?.[0];
  const outVar = op.outputs['Out']?.[0];
  if (!arr || !iVar || !outVar) throw blockError(env, op, block, 'needs X, I and Out');
  const g = scope.g;
  const a = read(env, scope, op, block, arr);
  const pos = index64(g, read(env, scope, op, block, iVar), env.vars.get(iVar)?.dtype);
  if (stacked(g).has(a)) { g.op('Gather', [a, pos], { axis: 0 }, define(env, scope, outVar)); return; }
  g.op('SequenceAt', [a, pos], {}, define(env, scope, outVar));
}

function mapArrayLength(env: BlockEnv, op: OpNode, scope: Scope, block: number): void {
  const arr = op.inputs['X']?.[0];
  const outVar = op.outputs['Out']?.[0];
  if (!arr || !outVar) throw blockError(env, op, block, 'needs X and Out');
  const g = scope.g;
  const sc = scope.scan?.get(arr);
  if (sc) {
    // the array held `iter` elements when this iteration began
    const n = sc.elem === undefined ? sc.iter : g.op('Add', [sc.iter, g.constant([1], 'int64', [])]);
    g.op('Reshape', [n, g.constant([1])], {}, define(env, scope, outVar));
    return;
  }
  const seq = read(env, scope, op, block, arr);
  const { len, of } = lens(g);
  const known = len.get(seq);
  const out = define(env, scope, outVar);
  if (stacked(g).has(seq)) {
    g.op('Slice', [g.op('Shape', [seq]), g.constant([0]), g.constant([1]), g.constant([0])], {}, out);
    return;
  }
  if (known !== undefined) {
    g.initializer(out, 'int64', [1], encodeValues([known], 'int64'));
    g.consts.set(out, { dtype: 'int64', dims: [1], values: [known] });
  } else {
    g.op('Reshape', [g.op('SequenceLength', [seq]), g.constant([1])], {}, out);
  }
  of.set(out, seq);
}

function mapArrayToTensor(env: BlockEnv, op: OpNode, scope: Scope, block: number): void {
  const arr = op.inputs['X']?.[0];
  const outVar = op.outputs['Out']?.[0];
  if (!arr || !outVar) throw blockError(env, op, block, 'needs X and Out');
  const g = scope.g;
  const a = read(env, scope, op, block, arr);
  const axis = Number(op.attrs['axis'] ?? 0);
  const stack = op.attrs['use_stack'] === true;
  if (stacked(g).has(a) && stack && axis === 0) {
    g.op('Identity', [a], {}, define(env, scope, outVar));
  } else if (stacked(g).has(a) && !stack && axis === 0) {
    // the elements joined along their own axis 0: merge the stacking axis into it
    const shape = g.op('Shape', [a]);
    const rest = g.op('Slice', [shape, g.constant([2]), g.constant([2 ** 53]), g.constant([0])]);
    g.op('Reshape', [a, g.op('Concat', [g.constant([-1]), rest], { axis: 0 })], {}, define(env, scope, outVar));
  } else {
    g.op('ConcatFromSequence', [asSeq(g, a)], { axis, new_axis: stack ? 1 : 0 }, define(env, scope, outVar));
  }
  const idxVar = op.outputs['OutIndex']?.[0];
  if (!idxVar) return;
  const seq = asSeq(g, a);
  // OutIndex: each element's extent along axis (1 each when stacked), int32
  const n = g.op('Reshape', [g.op('SequenceLength', [seq]), g.constant([1])]);
  if (stack) {
    g.op('Cast', [g.op('Expand', [g.constant([1], 'int64', [1]), n])], { to: onnxDtype('int32', idxVar) }, define(env, scope, idxVar));
    return;
  }
  const body = g.sub();
  const it = body.fresh('i');
  const c = body.fresh('cond');
  body.inputs.push(vinfo(it, SCALAR(onnxDtype('int64', it))), vinfo(c, SCALAR(onnxDtype('bool', c))));
  const item = body.op('SequenceAt', [seq, it]);
  const ax = axis < 0 ? body.op('Add', [body.op('Size', [body.op('Shape', [item])]), body.constant([axis], 'int64', [])]) : body.constant([axis], 'int64', []);
  const extent = body.op('Gather', [body.op('Shape', [item]), ax], { axis: 0 });
  body.outputs.push(vinfo(body.op('Identity', [c]), SCALAR(onnxDtype('bool', c))), vinfo(extent, SCALAR(onnxDtype('int64', extent))));
  const ext = g.node('Loop', [g.op('Reshape', [n, g.constant([], 'int64', [0])]), ''], 1, { body: { graph: body.graph('tensor_array_extents') } })[0]!;
  g.op('Cast', [ext], { to: onnxDtype('int32', idxVar) }, define(env, scope, idxVar));
}
