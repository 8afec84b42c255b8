/**
 * A Triton model repository from a bundle (FORMATS §11): `<repo>/<name>/config.pbtxt` (protobuf
 * text of Triton's ModelConfig) and `<repo>/<name>/1/model.onnx`. Triton's onnxruntime backend
 * binds config tensors to the model's by name, so the model's inputs and outputs are renamed to
 * the bundle's aliases (the names the users' clients already send) where that is possible.
 */
import { ONNX_DTYPE, onnx } from '../convert/onnx/graph-builder.js';
import type { BundleTensor } from '../bundle/manifest.js';
import { PserveError } from '../errors.js';
import { tritonDatatype } from '../model/dtype.js';

export interface TritonTensor { name: string; modelName: string; dataType: string; dims: number[]; reshape?: number[] }

export interface TritonModel {
  name: string;
  maxBatchSize: number;
  inputs: TritonTensor[];
  outputs: TritonTensor[];
  kind: 'KIND_GPU' | 'KIND_CPU';
  count: number;
  /** dynamic batching: preferred sizes and the queue delay (pserve batches what is waiting, it never waits) */
  preferred: number[];
  delayUs: number;
}

/** Triton names: letters, digits and `_ . - : /` (what its HTTP/gRPC front ends and backends pass through) */
const NAME_OK = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/;

export function tritonModel(name: string, feeds: BundleTensor[], fetches: BundleTensor[], o: { maxBatch: number; device: string; workers: number }): TritonModel {
  if (!NAME_OK.test(name)) throw new PserveError('E_USAGE', `model name "${name}" is not a Triton model name (letters, digits, _ . -)`, { kind: 'usage' });
  // batching is decided from the model's first dim: every tensor must be batch-major
  const batched = o.maxBatch > 1 && [...feeds, ...fetches].every((t) => t.shape.length > 0 && t.shape[0] === -1);
  const taken = new Set<string>();
  const tensor = (t: BundleTensor): TritonTensor => {
    const dataType = tritonDatatype(t.dtype);
    if (!dataType) throw new PserveError('E_EXPORT_DTYPE', `${t.name}: dtype ${t.dtype} has no Triton data type`);
    // the alias when it is a usable, unique name; else the model's own name
    const wanted = t.alias && NAME_OK.test(t.alias) && !taken.has(t.alias) ? t.alias : t.name;
    taken.add(wanted);
    const dims = batched ? t.shape.slice(1) : t.shape.slice();
    // Triton wants at least one dim: a per-row scalar is dims [1] reshaped to []
    return dims.length === 0 ? { name: wanted, modelName: t.name, dataType, dims: [1], reshape: [] } : { name: wanted, modelName: t.name, dataType, dims };
  };
  return {
    name,
    maxBatchSize: batched ? o.maxBatch : 0,
    inputs: feeds.map(tensor),
    outputs: fetches.map(tensor),
    kind: o.device === 'gpu' ? 'KIND_GPU' : 'KIND_CPU',
    count: Math.max(1, o.workers),
    preferred: batched ? [o.maxBatch] : [],
    delayUs: 0,
  };
}

const q = (s: string) => JSON.stringify(s);
const list = (xs: number[]) => `[ ${xs.join(', ')} ]`;

/** config.pbtxt, fields in model_config.proto's order, deterministic */
export function renderConfigPbtxt(m: TritonModel): string {
  const tensors = (ts: TritonTensor[]) => ts.map((t) => [
    '  {',
    `    name: ${q(t.name)}`,
    `    data_type: ${t.dataType}`,
    `    dims: ${list(t.dims)}`,
    ...(t.reshape ? [`    reshape: { shape: ${list(t.reshape)} }`] : []),
    '  }',
  ].join('\n')).join(',\n');
  const lines = [
    `name: ${q(m.name)}`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${m.maxBatchSize}`,
    'input [',
    tensors(m.inputs),
    ']',
    'output [',
    tensors(m.outputs),
    ']',
    'instance_group [',
    '  {',
    `    count: ${m.count}`,
    `    kind: ${m.kind}`,
    '  }',
    ']',
  ];
  if (m.maxBatchSize > 0) {
    lines.push('dynamic_batching {', `  preferred_batch_size: ${list(m.preferred)}`, `  max_queue_delay_microseconds: ${m.delayUs}`, '}');
  }
  lines.push('version_policy: { latest: { num_versions: 1 } }');
  return `${lines.join('\n')}\n`;
}

type Graph = InstanceType<typeof onnx.GraphProto>;

/** every tensor name a graph (and its subgraphs) uses */
function names(g: Graph, out = new Set<string>()): Set<string> {
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) if (v.name) out.add(v.name);
  for (const t of g.initializer ?? []) if (t.name) out.add(t.name);
  for (const n of g.node ?? []) {
    for (const x of [...(n.input ?? []), ...(n.output ?? [])]) if (x) out.add(x);
    for (const a of n.attribute ?? []) {
      if (a.g) names(a.g as Graph, out);
      for (const sg of a.graphs ?? []) names(sg as Graph, out);
    }
  }
  return out;
}

function renameIn(g: Graph, map: Map<string, string>): void {
  const r = (s: string) => map.get(s) ?? s;
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) if (v.name) v.name = r(v.name);
  for (const n of g.node ?? []) {
    n.input = (n.input ?? []).map(r);
    n.output = (n.output ?? []).map(r);
    for (const a of n.attribute ?? []) {
      if (a.g) renameIn(a.g as Graph, map);
      for (const sg of a.graphs ?? []) renameIn(sg as Graph, map);
    }
  }
}

/**
 * The model with its graph inputs/outputs renamed as the Triton config names them. A name that
 * another tensor of the graph already uses is not taken: that tensor keeps the model's name, and
 * the config says so (returned `model` with names fixed up).
 */
export function renameModelIo(bytes: Uint8Array, m: TritonModel): { bytes: Uint8Array; model: TritonModel } {
  let proto;
  try { proto = onnx.ModelProto.decode(bytes); } catch (e) {
    throw new PserveError('E_ONNX_INVALID', `model.onnx is not an ONNX model: ${(e as Error).message}`);
  }
  const g = proto.graph as Graph;
  const used = names(g);
  const map = new Map<string, string>();
  const fix = (t: TritonTensor): TritonTensor => {
    if (t.name === t.modelName) return t;
    if (used.has(t.name)) return { ...t, name: t.modelName };
    map.set(t.modelName, t.name);
    return t;
  };
  const model = { ...m, inputs: m.inputs.map(fix), outputs: m.outputs.map(fix) };
  if (map.size === 0) return { bytes, model };
  renameIn(g, map);
  return { bytes: onnx.ModelProto.encode(proto).finish(), model };
}

const DTYPE_OF_ONNX = Object.fromEntries(Object.entries(ONNX_DTYPE).map(([d, n]) => [n, d])) as Record<number, string>;

/**
 * The inputs and outputs of an ONNX model as bundle tensors (graph inputs that are initializers
 * are weights, not inputs), aliased from a serving conf's feed/fetch vars where one names them.
 */
export function tensorsOfOnnx(bytes: Uint8Array, aliases: Map<string, string> = new Map()): { feeds: BundleTensor[]; fetches: BundleTensor[] } {
  let proto;
  try { proto = onnx.ModelProto.decode(bytes); } catch (e) {
    throw new PserveError('E_ONNX_INVALID', `not an ONNX model: ${(e as Error).message}`);
  }
  const g = proto.graph as Graph;
  const weights = new Set((g.initializer ?? []).map((t) => t.name));
  const tensor = (v: NonNullable<Graph['input']>[number]): BundleTensor => {
    const tt = v.type?.tensorType;
    const shape = (tt?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : -1));
    const name = v.name ?? '';
    return { name, alias: aliases.get(name) ?? name, dtype: DTYPE_OF_ONNX[tt?.elemType ?? 1] ?? 'float32', shape, servingShape: shape.slice(1), lodLevel: 0 };
  };
  return { feeds: (g.input ?? []).filter((v) => !weights.has(v.name ?? '')).map(tensor), fetches: (g.output ?? []).map(tensor) };
}

export interface EnsembleStep { modelName: string; inputMap: [string, string][]; outputMap: [string, string][] }
export interface Ensemble { name: string; maxBatchSize: number; inputs: TritonTensor[]; outputs: TritonTensor[]; steps: EnsembleStep[] }

/**
 * A Triton ensemble for a pipeline whose steps are all models (request tensors feeding model
 * steps, model outputs feeding later ones): the same DAG, scheduled by Triton. Tensor names
 * inside the ensemble are the request keys, `<step>.<output>`, and the response keys.
 */
export function pipelineEnsemble(
  name: string,
  steps: Record<string, Record<string, unknown>>,
  response: Record<string, string>,
  models: Map<string, TritonModel>,
  backendName: (pipelineModel: string) => string,
): Ensemble | undefined {
  const entries = Object.entries(steps);
  if (entries.length === 0 || entries.some(([, s]) => s['op'] !== 'model' && s['op'] !== 'request_tensor')) return undefined;
  const tensorOf = new Map<string, { tensor: TritonTensor; ensembleName: string }>();
  const inputs: TritonTensor[] = [];
  const batched = [...models.values()].every((m) => m.maxBatchSize > 0);
  const maxBatchSize = batched ? Math.min(...[...models.values()].map((m) => m.maxBatchSize)) : 0;
  for (const [step, s] of entries) {
    if (s['op'] !== 'request_tensor') continue;
    const shape = (s['shape'] as number[]) ?? [];
    const dtype = String(s['dtype'] ?? 'float32');
    const t: TritonTensor = { name: String(s['key']), modelName: String(s['key']), dataType: tritonDatatype(dtype)!, dims: batched ? shape.slice(1) : shape };
    inputs.push(t);
    tensorOf.set(step, { tensor: t, ensembleName: t.name });
  }
  const responseName = new Map(Object.entries(response).map(([k, ref]) => [ref, k]));
  const out: EnsembleStep[] = [];
  for (const [step, s] of entries) {
    if (s['op'] !== 'model') continue;
    const modelKey = String(s['model']);
    const m = models.get(modelKey);
    if (!m) throw new PserveError('E_EXPORT_PIPELINE', `step ${step} runs model ${modelKey}, which pipeline.models does not have`);
    const feeds = (s['feeds'] ?? {}) as Record<string, string>;
    const inputMap: [string, string][] = Object.entries(feeds).map(([k, ref]) => {
      const src = tensorOf.get(ref);
      if (!src) throw new PserveError('E_EXPORT_PIPELINE', `step ${step}: feed ${k} reads ${ref}, which is not a request tensor or a model output before it`);
      const t = m.inputs.find((x) => x.name === k || x.modelName === k);
      if (!t) throw new PserveError('E_EXPORT_PIPELINE', `step ${step}: model ${modelKey} has no input ${k}`);
      return [t.name, src.ensembleName];
    });
    const fetch = (s['fetch'] as string[] | undefined)?.length ? (s['fetch'] as string[]) : m.outputs.map((o) => o.name);
    const outputMap: [string, string][] = fetch.map((f) => {
      const t = m.outputs.find((x) => x.name === f || x.modelName === f);
      if (!t) throw new PserveError('E_EXPORT_PIPELINE', `step ${step}: model ${modelKey} has no output ${f}`);
      const ref = `${step}.${f}`;
      const ensembleName = responseName.get(ref) ?? ref;
      tensorOf.set(ref, { tensor: t, ensembleName });
      return [t.name, ensembleName];
    });
    out.push({ modelName: backendName(modelKey), inputMap, outputMap });
  }
  const outputs: TritonTensor[] = Object.entries(response).map(([k, ref]) => {
    const src = tensorOf.get(ref);
    if (!src) throw new PserveError('E_EXPORT_PIPELINE', `response ${k} reads ${ref}, which no model step outputs`);
    return { ...src.tensor, name: k };
  });
  return { name, maxBatchSize, inputs, outputs, steps: out };
}

export function renderEnsemblePbtxt(e: Ensemble): string {
  const tensors = (ts: TritonTensor[]) => ts.map((t) => ['  {', `    name: ${q(t.name)}`, `    data_type: ${t.dataType}`, `    dims: ${list(t.dims)}`, '  }'].join('\n')).join(',\n');
  const map = (key: string, pairs: [string, string][]) => pairs.map(([k, v]) => `      ${key} { key: ${q(k)} value: ${q(v)} }`);
  return [
    `name: ${q(e.name)}`,
    'platform: "ensemble"',
    `max_batch_size: ${e.maxBatchSize}`,
    'input [', tensors(e.inputs), ']',
    'output [', tensors(e.outputs), ']',
    'ensemble_scheduling {',
    '  step [',
    e.steps.map((s) => ['    {', `      model_name: ${q(s.modelName)}`, '      model_version: -1', ...map('input_map', s.inputMap), ...map('output_map', s.outputMap), '    }'].join('\n')).join(',\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
