/**
 * Library entry for Paddle -> ONNX with the native engine:
 *
 *   const r = await convertToOnnx('model_dir', { saveFile: 'out.onnx' });   // writes, validates
 *   const r = await convertToOnnx('model_dir', {});                          // in memory: r.bytes
 *
 * Writes are atomic (temp sibling, then rename; with external data both are built and validated in
 * one temp folder, then the data file is renamed into place and the model after it). Validation loads the
 * written model in onnxruntime, runs one inference on generated inputs and checks every output is
 * finite with the expected shape.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PserveError, fsError } from '../../errors.js';
import { loadModel, type LoadedModel } from '../../model/load-model.js';
import type { TensorSpec } from '../../model/types.js';
import { tempSibling, writeFileAtomic } from '../../util/atomic.js';
import { paddleToOnnx, type NativeOnnxOptions, type NativeOnnxResult } from './convert.js';
import { validateOnnx, type ValidationReport } from './validate.js';
import type { ControlFlowReport } from './control-flow.js';
import { COPY_CHUNK, copyRange, writeAll, writeModel } from './stream-writer.js';

export { paddleToOnnx, checkSupported, chooseOpset, MIN_OPSET, MAX_OPSET, DEFAULT_OPSET } from './convert.js';
export type { NativeOnnxOptions, NativeOnnxResult } from './convert.js';
export { validateOnnx } from './validate.js';
export type { ValidationReport } from './validate.js';

export interface ConvertToOnnxOptions extends NativeOnnxOptions {
  modelFilename?: string;
  paramsFilename?: string;
  /** where to write; absent: keep in memory (external data is then refused) */
  saveFile?: string;
  /** run the written model once in onnxruntime (default true when saving) */
  validate?: boolean;
  /** a further check of the written temp file before it is renamed into place (throws to refuse it) */
  check?: (tmpFile: string) => Promise<void>;
  /** an already loaded model, to skip loading */
  model?: LoadedModel;
}

export interface ConvertToOnnxResult {
  engine: 'native';
  file?: string;
  externalDataFile?: string;
  bytes?: Uint8Array;
  size: number;
  opset: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  ops: Record<string, number>;
  /** what became of each while / conditional_block (absent when the program has none) */
  controlFlow?: ControlFlowReport;
  validation?: ValidationReport;
}

export async function convertToOnnx(modelDir: string, opts: ConvertToOnnxOptions = {}): Promise<ConvertToOnnxResult> {
  const model = opts.model ?? loadModel(modelDir, { modelFilename: opts.modelFilename, paramsFilename: opts.paramsFilename, params: 'require' });
  const extName = opts.saveFile ? opts.externalDataName ?? `${basename(opts.saveFile)}.data` : undefined;
  const r = paddleToOnnx(model, { ...opts, ...(extName ? { externalDataName: extName } : {}) });
  if (!opts.saveFile) {
    if (r.externalData) throw new PserveError('E_ONNX_TOO_LARGE', 'the parameters exceed 2 GB: give a file to write, so they can go to external data', { file: model.modelFile });
    return { engine: 'native', bytes: r.bytes, size: r.layout.byteLength, opset: r.opset, inputs: r.inputs, outputs: r.outputs, ops: r.ops, ...cf(r.controlFlow) };
  }
  const file = opts.saveFile;
  let externalDataFile: string | undefined;
  const validation = await writeOnnx(file, r, async (tmp) => {
    await opts.check?.(tmp);
    if (opts.validate === false) return undefined;
    return validateOnnx(tmp, r.inputs, r.outputs, { label: file });
  }, (f) => { externalDataFile = f; });
  return {
    engine: 'native', file, ...(externalDataFile ? { externalDataFile } : {}), size: r.layout.byteLength,
    opset: r.opset, inputs: r.inputs, outputs: r.outputs, ops: r.ops, ...cf(r.controlFlow), ...(validation ? { validation } : {}),
  };
}

function cf(c: ControlFlowReport): { controlFlow?: ControlFlowReport } {
  return c.loops.length || c.branches.length ? { controlFlow: c } : {};
}

/**
 * Write the model (and its external data) as atomically as two files allow. Without external data:
 * a temp sibling, `check`ed, then renamed. With it: both files go into one temp sibling folder
 * (the model finds its data there by relative name), `check` runs there, then the data file is
 * renamed into place and the model after it; a model that fails validation leaves both old files
 * as they were.
 */
async function writeOnnx<T>(file: string, r: NativeOnnxResult, check: (tmpFile: string) => Promise<T>, onExternal?: (f: string) => void): Promise<T> {
  if (!r.externalData) {
    return writeFileAtomic(file, async (tmp) => {
      writeModelFile(tmp, r, file);
      return check(tmp);
    });
  }
  const ext = r.externalData;
  const abs = resolve(file);
  const dataFile = join(dirname(file), ext.location);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new PserveError('E_IS_DIR', 'output path is a directory, expected a file', { file: abs });
  const tmpDir = tempSibling(abs);
  try { mkdirSync(tmpDir, { recursive: true }); } catch (e) { throw fsError(e, dirname(abs), 'output directory'); }
  try {
    const tmpModel = join(tmpDir, basename(abs));
    const tmpData = join(tmpDir, ext.location);
    try { mkdirSync(dirname(tmpData), { recursive: true }); } catch (e) { throw fsError(e, dataFile, 'external data file'); }
    let fd: number;
    try { fd = openSync(tmpData, 'w'); } catch (e) { throw fsError(e, dataFile, 'external data file'); }
    try {
      const buf = Buffer.allocUnsafe(COPY_CHUNK);
      for (const c of ext.chunks) {
        if (c.data) writeAll(fd, c.data, c.offset);
        else copyRange(c.file!, c.fileOffset!, c.length, fd, c.offset, buf);
      }
    } catch (e) {
      throw fsError(e, dataFile, 'external data file');
    } finally {
      closeSync(fd);
    }
    writeModelFile(tmpModel, r, file);
    const result = await check(tmpModel);
    try { renameSync(tmpData, dataFile); } catch (e) { throw fsError(e, dataFile, 'external data file'); }
    try { renameSync(tmpModel, abs); } catch (e) { throw fsError(e, file, 'ONNX output'); }
    onExternal?.(dataFile);
    return result;
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

/** the model streamed into `path`: large initializers are copied from the params file(s) as it goes */
function writeModelFile(path: string, r: NativeOnnxResult, label: string): void {
  let fd: number;
  try { fd = openSync(path, 'w'); } catch (e) { throw fsError(e, label, 'ONNX output'); }
  try {
    writeModel(fd, r.layout);
  } catch (e) {
    throw fsError(e, label, 'ONNX output');
  } finally {
    closeSync(fd);
  }
}
