/**
 * Opens a Paddle model from a directory or file: finds the program and params (by content, with
 * paddle_serving_client's --model_filename/--params_filename overrides), decodes the program,
 * and walks every params file to its last byte, checking each tensor against the program.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PserveError, fsError } from '../errors.js';
import { decodeProgram, sniffProgram, type ProgramDesc } from '../formats/paddle-program.js';
import { readTensorRecord, readTensorStream, type TensorRecord } from '../formats/pdiparams.js';
import { decodePir, sniffPir, type PirProgram } from '../formats/pir.js';
import { LIMITS } from '../formats/limits.js';
import { typedView, type TypedArray } from './dtype.js';
import { FdSource, withSource } from './fd-source.js';
import { programToGraph } from './legacy.js';
import { pirToGraph } from './pir-graph.js';
import type { GraphBlock, PaddleModel, ParamEntry, ParamsLayout, TensorSpec, VarSpec } from './types.js';

export interface LoadOptions {
  modelFilename?: string;
  paramsFilename?: string;
  /** 'require': params must be there; 'optional': read them when present; 'skip': never read */
  params?: 'require' | 'optional' | 'skip';
}

export interface LoadedModel extends PaddleModel {
  /** the raw decoded program (legacy) or PIR document, for encoders and converters */
  program?: ProgramDesc;
  pir?: PirProgram;
  /** program bytes as read */
  programBytes: Uint8Array;
}

const MODEL_CANDIDATES = ['inference.pdmodel', 'model.pdmodel', '__model__', 'inference.json', 'model.json'];
const PARAMS_FOR: Record<string, string[]> = {
  'inference.pdmodel': ['inference.pdiparams'],
  'model.pdmodel': ['model.pdiparams'],
  '__model__': ['__params__', 'params'],
  'inference.json': ['inference.pdiparams'],
  'model.json': ['model.pdiparams'],
};

function readHead(file: string, n = 4096): Uint8Array {
  return withSource(file, (src) => src.read(0, Math.min(n, src.size)));
}

function isFile(p: string): boolean {
  try { return statSync(p).isFile(); } catch { return false; }
}

/** Find the program file in a directory or accept a file path. */
export function resolveModelFile(path: string, modelFilename?: string): { dir: string; modelFile: string } {
  let st;
  try { st = statSync(path); } catch (e) { throw fsError(e, path, 'model path'); }
  if (st.isFile()) return { dir: dirname(path), modelFile: path };
  const dir = path;
  if (modelFilename) {
    const f = join(dir, modelFilename);
    if (!isFile(f)) throw new PserveError('E_MODEL_FILE_MISSING', `model file ${modelFilename} not found`, { file: f });
    return { dir, modelFile: f };
  }
  for (const c of MODEL_CANDIDATES) if (isFile(join(dir, c))) return { dir, modelFile: join(dir, c) };
  let entries: string[];
  try { entries = readdirSync(dir).sort(); } catch (e) { throw fsError(e, dir, 'model directory'); }
  const pd = entries.filter((e) => e.endsWith('.pdmodel') && isFile(join(dir, e)));
  if (pd.length === 1) return { dir, modelFile: join(dir, pd[0]!) };
  const js = entries.filter((e) => e.endsWith('.json') && isFile(join(dir, e)) && sniffPir(readHead(join(dir, e))));
  if (pd.length === 0 && js.length === 1) return { dir, modelFile: join(dir, js[0]!) };
  if (pd.length + js.length > 1) {
    throw new PserveError('E_MODEL_AMBIGUOUS', `several programs found (${[...pd, ...js].join(', ')}); pick one with --model_filename`, { file: dir });
  }
  throw new PserveError('E_NO_MODEL', 'no Paddle model found: expected inference.pdmodel, model.pdmodel, __model__, *.pdmodel or a PIR inference.json', { file: dir, hint: noModelHint(dir, entries) });
}

/** Point at what the folder does hold: serving confs, or sub-folders with models. */
function noModelHint(dir: string, entries: string[]): string | undefined {
  if (entries.some((e) => /^serving_(server|client)_conf(\.stream)?\.prototxt$/.test(e))) {
    return 'this folder holds Paddle Serving confs only; `pserve alias list --serving_server DIR` reads them';
  }
  const subs = entries.filter((e) => {
    const p = join(dir, e);
    try { return statSync(p).isDirectory() && MODEL_CANDIDATES.some((c) => isFile(join(p, c))); } catch { return false; }
  });
  return subs.length ? `models found in ${subs.slice(0, 3).map((s) => join(dir, s)).join(', ')}${subs.length > 3 ? ', ...' : ''}` : undefined;
}

function readWhole(file: string, what: string): Uint8Array {
  let size: number;
  try { size = statSync(file).size; } catch (e) { throw fsError(e, file, what); }
  if (size > LIMITS.maxProgramBytes) throw new PserveError('E_PROGRAM_TOO_LARGE', `${what} is ${size} bytes, above the limit of ${LIMITS.maxProgramBytes}`, { file });
  try { return readFileSync(file); } catch (e) { throw fsError(e, file, what); }
}

function specOf(v: VarSpec | undefined): string {
  return v ? `${v.dtype} [${v.shape.join(',')}]` : '(not declared)';
}

function checkRecord(rec: TensorRecord, name: string, v: VarSpec | undefined, file: string): void {
  if (!v) return;
  if (v.dtype !== 'unknown' && v.dtype !== rec.dtype) {
    throw new PserveError('E_PARAM_DTYPE_MISMATCH', `parameter ${name}: program declares ${specOf(v)}, file holds ${rec.dtype} [${rec.dims.join(',')}]`, { file, offset: rec.offset });
  }
  const s = v.shape;
  const ok = s.length === 0 ? true : s.length === rec.dims.length && s.every((d, i) => d < 0 || d === rec.dims[i]);
  if (!ok) {
    throw new PserveError('E_PARAM_SHAPE_MISMATCH', `parameter ${name}: program declares ${specOf(v)}, file holds ${rec.dtype} [${rec.dims.join(',')}]`, { file, offset: rec.offset });
  }
}

function entryOf(name: string, rec: TensorRecord, file: string): ParamEntry {
  return { name, dtype: rec.dtype, shape: rec.dims, numel: rec.numel, byteLength: rec.dataLength, file, dataOffset: rec.dataOffset };
}

function findVar(blocks: GraphBlock[], name: string): VarSpec | undefined {
  for (const b of blocks) { const v = b.vars.get(name); if (v) return v; }
  return undefined;
}

/** Params in one combined file, in sorted-name order, to the last byte. */
export function bindCombined(file: string, names: string[], blocks: GraphBlock[]): ParamEntry[] {
  return withSource(file, (src) => {
    const recs = (() => {
      try {
        return readTensorStream(src, 'params file', names.length);
      } catch (e) {
        if (e instanceof PserveError && e.code === 'E_PARAMS_TRAILING') {
          throw new PserveError('E_PARAMS_TRAILING', `params file holds more data than the program's ${names.length} parameters: ${e.message.replace(/^params file: /, '')}`, { file, offset: e.offset });
        }
        if (e instanceof PserveError) throw new PserveError(e.code, e.message, { file, offset: e.offset });
        throw e;
      }
    })();
    if (recs.length < names.length) {
      throw new PserveError('E_PARAMS_TRUNCATED', `params file ends after ${recs.length} of ${names.length} parameters (next expected: ${names[recs.length]})`, { file, offset: src.size });
    }
    return recs.map((rec, i) => {
      const name = names[i]!;
      checkRecord(rec, name, findVar(blocks, name), file);
      return entryOf(name, rec, file);
    });
  });
}

/** Legacy one-file-per-variable params. */
export function bindSeparate(dir: string, names: string[], blocks: GraphBlock[]): ParamEntry[] {
  return names.map((name) => {
    const file = join(dir, name);
    if (!isFile(file)) throw new PserveError('E_PARAM_FILE_MISSING', `parameter file for ${name} is missing`, { file });
    return withSource(file, (src) => {
      let rec: TensorRecord;
      try {
        rec = readTensorRecord(src, 0, `parameter ${name}`);
      } catch (e) {
        if (e instanceof PserveError) throw new PserveError(e.code, e.message, { file, offset: e.offset });
        throw e;
      }
      if (rec.end !== src.size) {
        throw new PserveError('E_PARAMS_TRAILING', `parameter ${name}: ${src.size - rec.end} bytes left over after the tensor`, { file, offset: rec.end });
      }
      checkRecord(rec, name, findVar(blocks, name), file);
      return entryOf(name, rec, file);
    });
  });
}

function strayParamFiles(dir: string, modelFile: string, names: string[]): string[] {
  const known = new Set(names);
  const out: string[] = [];
  let entries: string[] = [];
  try { entries = readdirSync(dir).sort(); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e);
    if (known.has(e) || p === modelFile || !isFile(p) || e.includes('.prototxt') || e.endsWith('.info')) continue;
    const head = readHead(p, 16);
    // a tensor file starts with uint32 version 0 and a small LoD level count
    if (head.length >= 16 && head[0] === 0 && head[1] === 0 && head[2] === 0 && head[3] === 0 && head[8] === 0 && head[12] === 0) out.push(e);
  }
  return out;
}

export function loadModel(path: string, opts: LoadOptions = {}): LoadedModel {
  const mode = opts.params ?? 'optional';
  const { dir, modelFile } = resolveModelFile(path, opts.modelFilename);
  const bytes = readWhole(modelFile, 'model file');
  let format: 'paddle-program' | 'paddle-pir';
  let program: ProgramDesc | undefined;
  let pir: PirProgram | undefined;
  let graph: { blocks: GraphBlock[]; feeds: TensorSpec[]; fetches: TensorSpec[]; paramNames: string[]; paddleVersion?: string };
  if (sniffPir(bytes)) {
    format = 'paddle-pir';
    pir = decodePir(new TextDecoder().decode(bytes), modelFile);
    graph = pirToGraph(pir);
  } else if (sniffProgram(bytes) || bytes.length === 0) {
    format = 'paddle-program';
    program = decodeProgram(bytes, modelFile);
    graph = programToGraph(program);
  } else {
    throw new PserveError('E_PROGRAM_INVALID', `not a Paddle model: expected a ProgramDesc protobuf or PIR JSON, found first byte 0x${bytes[0]!.toString(16).padStart(2, '0')}`, { file: modelFile, offset: 0 });
  }

  const warnings: string[] = [];
  let paramsFile: string | null = null;
  let layout: ParamsLayout = 'none';
  let params: ParamEntry[] = [];
  const names = graph.paramNames;

  if (opts.paramsFilename) {
    paramsFile = join(dir, opts.paramsFilename);
    if (!isFile(paramsFile)) throw new PserveError('E_PARAMS_MISSING', `params file ${opts.paramsFilename} not found`, { file: paramsFile });
    layout = 'combined';
  } else {
    const base = basename(modelFile);
    const stem = base.replace(/\.(pdmodel|json)$/, '');
    const cands = [...(PARAMS_FOR[base] ?? []), `${stem}.pdiparams`];
    const found = cands.map((c) => join(dir, c)).find(isFile);
    if (found) { paramsFile = found; layout = 'combined'; }
    else if (format === 'paddle-program' && names.length > 0 && names.some((n) => isFile(join(dir, n)))) layout = 'separate';
    else if (names.length > 0 && mode !== 'skip') {
      // a folder holding one program and one params file under any name (what `convert
      // --params_filename X` leaves in serving_server): find the params by content
      const byContent = paramsByContent(dir, modelFile, names, graph.blocks);
      if (byContent) { paramsFile = byContent; layout = 'combined'; }
    }
  }

  if (mode !== 'skip') {
    if (layout === 'combined') params = bindCombined(paramsFile!, names, graph.blocks);
    else if (layout === 'separate') params = bindSeparate(dir, names, graph.blocks);
    else if (names.length > 0) {
      if (mode === 'require') {
        throw new PserveError('E_PARAMS_MISSING', `the program needs ${names.length} parameters but no params file was found (give --params_filename, or put the per-variable files beside the program)`, { file: dir });
      }
      warnings.push(`no params found: the program needs ${names.length} parameters (program-only model)`);
    }
    if (layout === 'separate') {
      const stray = strayParamFiles(dir, modelFile, names);
      if (stray.length > 0) warnings.push(`params present that the program does not use: ${stray.join(', ')}`);
    }
  }

  const byName = new Map(params.map((p) => [p.name, p]));
  const readParam = (name: string): TypedArray => {
    const p = byName.get(name);
    if (!p) throw new PserveError('E_PARAM_UNKNOWN', `no parameter named ${name}`, { file: paramsFile ?? dir });
    const src = new FdSource(p.file);
    try {
      const bytes = src.read(p.dataOffset, p.byteLength);
      if (bytes.length !== p.byteLength) throw new PserveError('E_PARAMS_TRUNCATED', `parameter ${name} was cut short since it was checked`, { file: p.file, offset: p.dataOffset });
      // own, aligned buffer: the typed view must start on an element boundary
      const own = new Uint8Array(new ArrayBuffer(p.byteLength));
      own.set(bytes);
      return typedView(p.dtype, own);
    } finally {
      src.close();
    }
  };

  return {
    format,
    paddleVersion: graph.paddleVersion,
    modelFile,
    paramsFile,
    paramsLayout: layout,
    feeds: graph.feeds,
    fetches: graph.fetches,
    blocks: graph.blocks,
    params,
    paramNames: names,
    warnings,
    readParam,
    program,
    pir,
    programBytes: bytes,
  };
}

/** Files that are never a params file: confs, Paddle's .info side files, metadata. */
const NOT_PARAMS = /\.(prototxt|info|txt|md|yml|yaml|json|onnx|pdmodel|py|sh)$|^(__model__|manifest\.json|PROVENANCE\.txt)$/;

/** The one file in `dir` that reads as the combined params of this program; undefined unless exactly one does. */
function paramsByContent(dir: string, modelFile: string, names: string[], blocks: GraphBlock[]): string | undefined {
  let entries: string[];
  try { entries = readdirSync(dir); } catch { return undefined; }
  const fits: string[] = [];
  for (const e of entries.sort()) {
    const f = join(dir, e);
    if (f === modelFile || NOT_PARAMS.test(e) || e.startsWith('.') || !isFile(f)) continue;
    try { bindCombined(f, names, blocks); fits.push(f); } catch { /* not this program's params */ }
    if (fits.length > 1) return undefined;
  }
  return fits[0];
}

/** Convenience for callers that only need to know whether a path holds a model. */
export function hasModel(path: string): boolean {
  try { resolveModelFile(path); return true; } catch { return false; }
}

