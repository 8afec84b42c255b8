/**
 * The native Paddle -> ONNX engine: checks every op has a mapper (listing all that do not, with
 * counts, before anything is built), picks the opset, maps op by op into one ONNX graph whose
 * inputs and outputs carry the feed/fetch var names, and encodes the ModelProto. Parameters
 * become one initializer each; above the protobuf 2 GB limit they go to an external data file.
 */
import { PserveError } from '../../errors.js';
import type { DType } from '../../model/dtype.js';
import type { LoadedModel } from '../../model/load-model.js';
import { programVars, type AttrValue, type OpNode, type TensorSpec, type VarSpec } from '../../model/types.js';
import { GraphBuilder, onnx, onnxDtype, type ConstValue, type Dim } from './graph-builder.js';
import { layoutModel, modelBytes, type ModelLayout, type StreamedTensor } from './stream-writer.js';
import type { MapContext } from './mapper.js';
import { KNOWN_UNSUPPORTED, mapperFor } from './registry.js';
import { controlFlowNeeds, mapBlock, type ControlFlowReport } from './control-flow.js';
import { trainingProgramError, trainingSignals } from './verdict.js';
import { pinInputShapes } from './pin-shapes.js';

/** the oldest opset written (paddle2onnx's default start) */
export const MIN_OPSET = 9;
/** a plain OpMapper that declares no minOpset is taken to need this */
const UNDECLARED_MIN_OPSET = 11;
/** the newest opset the checker we test against (onnx 1.12) and onnxruntime both know */
export const MAX_OPSET = 17;
/** without --opset_version the choice starts here and goes up as the model's ops need */
export const DEFAULT_OPSET = MIN_OPSET;
/** protobuf messages cannot exceed 2 GiB; keep headroom for the graph itself */
export const EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 64 * 2 ** 20;
type OnnxTensor = import('onnx-proto').onnx.ITensorProto;

/** parameters up to this many elements are read (mappers may need their values); larger ones are streamed */
const MAX_CONST_ELEMENTS = 4096;

export interface NativeOnnxOptions {
  opsetVersion?: number;
  /** fixed shapes for (some of) the inputs, carried forward so shape-dependent ops see static shapes (--input_shape_dict) */
  inputShapes?: Record<string, number[]>;
  /** raise a requested opset that is too low to what the ops need, instead of refusing (paddle2onnx's --enable_auto_update_opset) */
  autoUpdateOpset?: boolean;
  /** params above this many bytes in all go to an external data file */
  externalDataThreshold?: number;
  /** file name (beside the .onnx) of the external data */
  externalDataName?: string;
  /** fake-quantization ops as QuantizeLinear/DequantizeLinear pairs ('qdq', the default) or folded to float ops */
  quant?: 'qdq' | 'float';
}

export interface ExternalData {
  location: string;
  /** where each tensor goes in the data file; its bytes in memory, or at `fileOffset` of a params file */
  chunks: { offset: number; length: number; data?: Uint8Array; file?: string; fileOffset?: number }[];
  byteLength: number;
}

export interface NativeOnnxResult {
  /** the whole model in memory (built on first access; writing to a file streams `layout` instead) */
  readonly bytes: Uint8Array;
  /** the model laid out for streaming: large initializers are copied from the params file(s) as it is written */
  layout: ModelLayout;
  externalData?: ExternalData;
  opset: number;
  irVersion: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  ops: Record<string, number>;
  /** what became of each while / conditional_block: unrolled, a Loop, an If, or folded by a constant */
  controlFlow: ControlFlowReport;
  initializers: number;
}

/** ONNX IR version that goes with an opset (onnx's own release table) */
export function irVersionFor(opset: number): number {
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  return 8;
}

export function countOps(model: Pick<LoadedModel, 'blocks'>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const b of model.blocks) for (const op of b.ops) counts.set(op.type, (counts.get(op.type) ?? 0) + 1);
  return counts;
}

/** Every op type without a mapper, with counts; thrown as one error before anything is built (a training program is refused as such first). */
export function checkSupported(model: LoadedModel, counts = countOps(model)): void {
  // a training program would list its grad and optimizer ops as "unsupported": say what it is instead
  const training = trainingSignals(model, counts);
  if (training.training) throw trainingProgramError(model, training);
  const missing = [...counts].filter(([t]) => !mapperFor(t)).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (missing.length === 0) return;
  const list = missing.map(([t, n]) => `${t} x${n}${KNOWN_UNSUPPORTED[t] ? ` (${KNOWN_UNSUPPORTED[t]})` : ''}`).join(', ');
  throw new PserveError('E_ONNX_UNSUPPORTED_OPS', `${missing.length} op type${missing.length > 1 ? 's' : ''} cannot be converted to ONNX: ${list}`, {
    file: model.modelFile,
    hint: 'nothing was written',
  });
}

/** What each op instance needs: the mapper's minimum, raised by `needs` for this instance's attributes. */
export function opsetNeeds(model: LoadedModel): { type: string; opset: number; why?: string }[] {
  const pir = model.format === 'paddle-pir';
  const vars = programVars(model.blocks);
  const params = new Map(model.params.map((p) => [p.name, p.shape]));
  // small constants the program makes (kernel sizes, axes as operands), for attributes that come as tensors
  const consts = new Map<string, number[]>();
  for (const b of model.blocks) {
    for (const op of b.ops) {
      const o = (op.outputs['Out'] ?? op.outputs['0'])?.[0];
      if (!o) continue;
      if (op.type === 'full_int_array' && Array.isArray(op.attrs['value'])) consts.set(o, op.attrs['value'].map(Number));
      if ((op.type === 'full' || op.type === 'fill_constant') && Object.values(op.inputs).every((v) => v.length === 0) && Array.isArray(op.attrs['shape'])) {
        const n = op.attrs['shape'].reduce((a: number, d) => a * Number(d), 1);
        const v = Number(op.attrs['value'] ?? 0);
        if (n >= 0 && n <= 64 && Number.isFinite(v)) consts.set(o, new Array(n).fill(v));
      }
    }
  }
  const out: { type: string; opset: number; why?: string }[] = [];
  const flow = controlFlowNeeds(model);
  for (const b of model.blocks) {
    for (const op of b.ops) {
      const m = mapperFor(op.type);
      if (!m) continue;
      const base = m.minOpset ?? UNDECLARED_MIN_OPSET;
      const first = (s: string) => op.inputs[s]?.[0];
      const extra = flow.get(op) ?? m.needs?.({
        op, pir,
        shapeOf: (s) => { const n = first(s); return n === undefined ? undefined : params.get(n) ?? vars.get(n)?.shape; },
        constOf: (s) => { const n = first(s); return n === undefined ? undefined : consts.get(n); },
        dtypeOf: (s) => { const n = first(s); const d = n === undefined ? undefined : vars.get(n)?.dtype; return d === 'unknown' ? undefined : d; },
      });
      out.push(extra && extra.opset > base ? { type: op.type, opset: extra.opset, why: extra.why } : { type: op.type, opset: base });
    }
  }
  return out;
}

/**
 * The opset to write. Without a request: the lowest opset every op of the model can be written
 * in, never below MIN_OPSET (paddle2onnx's rule: start at 9, go up as the ops need). A request is
 * honoured or refused naming the ops that need more; with `autoUpdate` it is raised instead.
 */
export function chooseOpset(model: LoadedModel, requested?: number, opts: { autoUpdate?: boolean } = {}): number {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < MIN_OPSET || requested > MAX_OPSET)) {
    throw new PserveError('E_ONNX_OPSET', `opset ${requested} is not supported: the native engine writes opsets ${MIN_OPSET} to ${MAX_OPSET}`);
  }
  const needs = opsetNeeds(model);
  const need = needs.reduce((a, n) => Math.max(a, n.opset), MIN_OPSET);
  if (need > MAX_OPSET) {
    const over = needs.filter((n) => n.opset > MAX_OPSET).map((n) => `${n.type} needs ${n.opset}${n.why ? ` (${n.why})` : ''}`);
    throw new PserveError('E_ONNX_OPSET', `this model needs opset ${need}, past the newest the native engine writes (${MAX_OPSET}): ${[...new Set(over)].join(', ')}`, { file: model.modelFile });
  }
  if (requested === undefined || (opts.autoUpdate && need > requested)) return Math.max(requested ?? MIN_OPSET, need);
  const needers = [...new Set(needs.filter((n) => n.opset > requested).map((n) => `${n.type} needs ${n.opset}${n.why ? ` (${n.why})` : ''}`))];
  if (needers.length) {
    throw new PserveError('E_ONNX_OPSET', `opset ${requested} is too low for this model: ${needers.join(', ')}`, {
      hint: `use --opset_version ${need} or higher, or leave it out to get the lowest that works`,
    });
  }
  return requested;
}

function dimsOf(spec: TensorSpec, prefix: string): Dim[] {
  return spec.shape.map((d, i) => (d >= 0 ? { value: d } : { param: `${prefix}_dim${i}` }));
}

function toNumber(v: number | bigint): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

export function paddleToOnnx(model: LoadedModel, opts: NativeOnnxOptions = {}): NativeOnnxResult {
  if (opts.inputShapes) model = pinInputShapes(model, opts.inputShapes);
  const counts = countOps(model);
  checkSupported(model, counts);
  const opset = chooseOpset(model, opts.opsetVersion, { autoUpdate: opts.autoUpdateOpset === true });
  const g = new GraphBuilder(opset);
  g.quant = opts.quant ?? 'qdq';
  const block = model.blocks[0];
  if (!block) throw new PserveError('E_ONNX_EMPTY', 'the program has no blocks', { file: model.modelFile });
  const vars = programVars(model.blocks);
  for (const k of vars.keys()) g.claim(k);

  const paramEntries = new Map(model.params.map((p) => [p.name, p]));
  if (model.paramsLayout === 'none' && model.paramNames.length > 0) {
    throw new PserveError('E_PARAMS_MISSING', `the program needs ${model.paramNames.length} parameters but none were found; ONNX needs the weights`, { file: model.modelFile });
  }
  const totalParamBytes = model.params.reduce((s, p) => s + p.byteLength, 0);
  const external = totalParamBytes > (opts.externalDataThreshold ?? EXTERNAL_DATA_THRESHOLD);
  const ext: ExternalData | undefined = external ? { location: opts.externalDataName ?? 'model.onnx.data', chunks: [], byteLength: 0 } : undefined;

  /** Paddle var name -> ONNX tensor holding its current value */
  const current = new Map<string, string>();
  const written = new Set<string>();

  for (const f of model.feeds) {
    g.input(f.name, f.dtype === 'unknown' ? 'float32' : f.dtype, dimsOf(f, f.name));
    current.set(f.name, f.name);
    written.add(f.name);
  }

  /** initializers whose bytes stay in the params file until the model is written */
  const sources = new Map<OnnxTensor, StreamedTensor>();
  const paramDone = new Set<string>();
  const paramTensor = (name: string): string => {
    // subgraphs read parameters by name from the main graph: one initializer each, however often read
    if (paramDone.has(name)) return name;
    paramDone.add(name);
    const p = paramEntries.get(name)!;
    if (p.numel > MAX_CONST_ELEMENTS) {
      // large: declared now, copied from the params file straight to the output when it is written
      const t: OnnxTensor = { name, dataType: onnxDtype(p.dtype, name), dims: p.shape };
      if (ext) {
        const offset = place(ext, { length: p.byteLength, file: p.file, fileOffset: p.dataOffset });
        t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        t.externalData = [
          { key: 'location', value: ext.location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(p.byteLength) },
        ];
      }
      g.claim(name);
      g.initializers.push(t);
      sources.set(t, { proto: t, file: p.file, offset: p.dataOffset, byteLength: p.byteLength });
      current.set(name, name);
      written.add(name);
      return name;
    }
    const data = model.readParam(name);
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (ext && raw.byteLength >= 1024) {
      const offset = place(ext, { length: raw.byteLength, data: raw });
      g.initializer(name, p.dtype, p.shape, raw, { location: ext.location, offset });
    } else {
      g.initializer(name, p.dtype, p.shape, raw);
    }
    if (p.dtype !== 'float16' && p.dtype !== 'bfloat16') {
      g.consts.set(name, { dtype: p.dtype, dims: p.shape, values: Array.from(data as ArrayLike<number | bigint>, toNumber) });
    }
    current.set(name, name);
    written.add(name);
    return name;
  };

  // block 0 and, through while / conditional_block, its sub-blocks (control-flow.ts)
  const controlFlow: ControlFlowReport = { loops: [], branches: [] };
  mapBlock({
    model, vars, written, report: controlFlow,
    param: (name) => (paramEntries.has(name) ? paramTensor(name) : undefined),
    mapOp(op, scope, blockIdx) {
      const m = mapperFor(op.type)!;
      const ctx = makeContext(op, scope.g, vars, scope.current, written, paramEntries, paramTensor, model, blockIdx);
      try {
        m.map(ctx);
      } catch (e) {
        if (e instanceof PserveError) throw e;
        throw new PserveError('E_ONNX_MAP_FAILED', `op ${op.type} (output ${firstOutput(op)})${blockIdx > 0 ? ` in block ${blockIdx}` : ''}: ${(e as Error)?.message ?? String(e)}`, { file: model.modelFile });
      }
    },
  }, 0, { g, current });

  const outputs: TensorSpec[] = [];
  const fetchOps = block.ops.filter((o) => o.type === 'fetch');
  model.fetches.forEach((f, i) => {
    const fop = model.format === 'paddle-pir' ? fetchOps[i] : fetchOps.find((o) => o.inputs['X']?.[0] === f.name);
    const src = model.format === 'paddle-pir' ? fop?.inputs['0']?.[0] : f.name;
    const have = src === undefined ? undefined : current.get(src);
    if (have === undefined) {
      throw new PserveError('E_ONNX_DANGLING', `fetch ${f.name}: no op writes ${src ?? '(nothing)'}`, { file: model.modelFile });
    }
    if (have !== f.name) {
      // the fetched var was rewritten in place: its first value holds the name the output must carry
      if (g.nodes.some((n) => n.output?.includes(f.name)) || g.initializers.some((t) => t.name === f.name)) renameTensor(g, f.name, g.fresh(f.name));
      g.op('Identity', [have], {}, f.name);
    }
    const dtype = f.dtype === 'unknown' ? (vars.get(src!)?.dtype ?? 'float32') : f.dtype;
    // a LoD output (NMS rows: Paddle declares the most it can hold) has as many rows as the run gives
    const declared = f.lodLevel > 0 && f.shape.length > 0 ? { ...f, shape: [-1, ...f.shape.slice(1)] } : f;
    g.output(f.name, dtype, dimsOf(declared, f.name.replace(/[^A-Za-z0-9_]/g, '_')));
    outputs.push({ name: f.name, dtype, shape: declared.shape, lodLevel: f.lodLevel });
  });

  // constants read at conversion time (axes, shapes, kernel sizes) and parameters no node reads
  // would be dead weight in the file (onnxruntime warns about each on load)
  const read = new Set<string>(g.outputs.map((o) => o.name!));
  // Loop bodies and If branches read outer values by name
  walkNodes(g.nodes, (n) => { for (const i of n.input ?? []) read.add(i); }, (sub) => { for (const o of sub.output ?? []) read.add(o.name!); });
  const live = g.initializers.filter((t) => read.has(t.name!));
  g.initializers.splice(0, g.initializers.length, ...live);
  if (ext) {
    const kept = new Set(live.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL).map((t) => Number(t.externalData!.find((e) => e.key === 'offset')!.value)));
    ext.chunks = ext.chunks.filter((c) => kept.has(c.offset));
  }

  const irVersion = irVersionFor(opset);
  const proto = onnx.ModelProto.create({
    irVersion,
    producerName: 'pserve',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'paddle',
      node: g.nodes,
      initializer: live.filter((t) => !sources.has(t) || ext),
      input: g.inputs,
      output: g.outputs,
    },
  });
  // with external data every streamed tensor is already a small proto in the graph
  const layout = layoutModel(proto, ext ? [] : live.filter((t) => sources.has(t)).map((t) => sources.get(t)!), []);
  let bytes: Uint8Array | undefined;
  return {
    get bytes() { return (bytes ??= modelBytes(layout)); },
    layout,
    ...(ext ? { externalData: ext } : {}),
    opset,
    irVersion,
    inputs: model.feeds.map((f) => ({ name: f.name, dtype: f.dtype === 'unknown' ? 'float32' : f.dtype, shape: f.shape, lodLevel: f.lodLevel })),
    outputs,
    ops: Object.fromEntries(counts),
    initializers: live.length,
    controlFlow,
  };
}

/** Append a chunk to the external data file at its next 64-byte boundary; returns the chunk's offset. */
function place(ext: ExternalData, chunk: Omit<ExternalData['chunks'][number], 'offset'>): number {
  const offset = Math.ceil(ext.byteLength / 64) * 64;
  ext.chunks.push({ offset, ...chunk });
  ext.byteLength = offset + chunk.length;
  return offset;
}

/** Visit every node of `nodes` and, depth first, of the subgraphs (Loop bodies, If branches) in their attributes; `sub` sees each subgraph after its nodes. */
function walkNodes(nodes: GraphBuilder['nodes'], visit: (n: GraphBuilder['nodes'][number]) => void, sub: (graph: import('onnx-proto').onnx.IGraphProto) => void): void {
  for (const n of nodes) {
    visit(n);
    for (const a of n.attribute ?? []) {
      if (!a.g) continue;
      walkNodes(a.g.node ?? [], visit, sub);
      sub(a.g);
    }
  }
}

/** Rename tensor `from` to `to` in every node and initializer written so far. */
function renameTensor(g: GraphBuilder, from: string, to: string): void {
  // names are unique in the whole model, so Loop bodies and If branches (which read outer values by name) are renamed too
  walkNodes(g.nodes, (n) => {
    n.input = n.input?.map((v) => (v === from ? to : v));
    n.output = n.output?.map((v) => (v === from ? to : v));
  }, (sub) => { for (const o of sub.output ?? []) if (o.name === from) o.name = to; });
  for (const t of g.initializers) if (t.name === from) t.name = to;
  const c = g.consts.get(from);
  if (c) { g.consts.delete(from); g.consts.set(to, c); }
}

function firstOutput(op: OpNode): string {
  for (const v of Object.values(op.outputs)) if (v[0]) return v[0];
  return '(none)';
}

function makeContext(
  op: OpNode,
  g: GraphBuilder,
  vars: Map<string, VarSpec>,
  current: Map<string, string>,
  written: Set<string>,
  params: Map<string, unknown>,
  paramTensor: (name: string) => string,
  model: LoadedModel,
  blockIdx = 0,
): MapContext {
  const pir = model.format === 'paddle-pir';
  const where = `op ${op.type} (output ${firstOutput(op)})${blockIdx > 0 ? ` in block ${blockIdx}` : ''}`;
  const argName = (s: string, i: number, io: 'input' | 'output'): string => {
    const list = (io === 'input' ? op.inputs : op.outputs)[s];
    const n = list?.[i];
    if (n === undefined || n === '') throw new PserveError('E_ONNX_OP_SLOT', `${where}: ${io} slot ${s}[${i}] is missing`, { file: model.modelFile });
    return n;
  };
  const outNames = new Map<string, string>();
  const ctx: MapContext = {
    g,
    opset: g.opset,
    op,
    pir,
    input(s, i = 0) {
      const n = argName(s, i, 'input');
      const c = current.get(n);
      if (c !== undefined && g.lists.has(c)) throw ctx.unsupported(`input ${s} is a list (builtin.combine), which this op does not take`);
      if (c !== undefined) return c;
      if (params.has(n)) return paramTensor(n);
      throw new PserveError('E_ONNX_DANGLING', `${where} reads ${n}, which no earlier op writes and which is not a parameter`, { file: model.modelFile });
    },
    inputs(s) {
      return (op.inputs[s] ?? []).map((_, i) => ctx.input(s, i));
    },
    list(s) {
      if (!pir) return { tensors: ctx.inputs(s), shapes: (op.inputs[s] ?? []).map((_, i) => ctx.shapeOf(s, i)) };
      const c = current.get(argName(s, 0, 'input'));
      const l = c === undefined ? undefined : g.lists.get(c);
      return l ?? { tensors: [ctx.input(s)], shapes: [ctx.shapeOf(s)] };
    },
    has(s) {
      return (op.inputs[s] ?? []).some((n) => n !== '');
    },
    hasOutput(s) {
      return (op.outputs[s] ?? []).some((n) => n !== '');
    },
    output(s, i = 0) {
      const key = `${s}\u0000${i}`;
      const done = outNames.get(key);
      if (done) return done;
      const n = argName(s, i, 'output');
      // Paddle may write a var in place; ONNX tensors are written once, so a rewrite gets a fresh name
      const name = written.has(n) ? g.fresh(n) : n;
      written.add(n);
      current.set(n, name);
      outNames.set(key, name);
      return name;
    },
    attr<T extends AttrValue>(name: string, fallback: T): T {
      const v = op.attrs[name];
      return (v === undefined || v === null ? fallback : v) as T;
    },
    shapeOf(s, i = 0) {
      const n = op.inputs[s]?.[i];
      if (n === undefined) return undefined;
      const v = vars.get(n);
      const p = (params as Map<string, { shape: number[] }>).get(n);
      if (p) return p.shape;
      return v?.shape;
    },
    outputShapeOf(s, i = 0) {
      const n = op.outputs[s]?.[i];
      return n === undefined ? undefined : vars.get(n)?.shape;
    },
    outputDtypeOf(s, i = 0) {
      const n = op.outputs[s]?.[i];
      const d = n === undefined ? undefined : vars.get(n)?.dtype;
      return d === 'unknown' ? undefined : d;
    },
    rank(s, i = 0) {
      const sh = ctx.shapeOf(s, i);
      if (sh === undefined) throw ctx.unsupported(`the rank of input ${s} is not declared`);
      return sh.length;
    },
    dtypeOf(s, i = 0): DType {
      const n = op.inputs[s]?.[i];
      const d = n === undefined ? undefined : vars.get(n)?.dtype;
      return d === undefined || d === 'unknown' ? 'float32' : d;
    },
    constOf(s, i = 0): ConstValue | undefined {
      const n = op.inputs[s]?.[i];
      if (n === undefined) return undefined;
      if (!current.has(n) && params.has(n)) paramTensor(n);
      const t = current.get(n);
      return t === undefined ? undefined : g.consts.get(t);
    },
    unsupported(reason) {
      return new PserveError('E_ONNX_OP_UNSUPPORTED', `${where}: ${reason}`, { file: model.modelFile, hint: 'nothing was written' });
    },
  };
  return ctx;
}
