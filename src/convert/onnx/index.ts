/**
 * Library entry for Paddle -> ONNX with the native engine:
 *
 *   const r = await convertToOnnx('model_dir', { saveFile: 'out.onnx' });   // writes, validates
 *   const r = await convertToOnnx('model_dir', {});                          // in memory: r.bytes
 *
 * Writes are atomic (temp sibling, then rename; the external data file first). Validation loads the
 * written model in onnxruntime, runs one inference on generated inputs and checks every output is
 * finite with the expected shape.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { PserveError, fsError } from '../../errors.js';
import { loadModel, type LoadedModel } from '../../model/load-model.js';
import type { TensorSpec } from '../../model/types.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { paddleToOnnx, type NativeOnnxOptions, type NativeOnnxResult } from './convert.js';
import { validateOnnx, type ValidationReport } from './validate.js';

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
  validation?: ValidationReport;
}

export async function convertToOnnx(modelDir: string, opts: ConvertToOnnxOptions = {}): Promise<ConvertToOnnxResult> {
  const model = opts.model ?? loadModel(modelDir, { modelFilename: opts.modelFilename, paramsFilename: opts.paramsFilename, params: 'require' });
  const extName = opts.saveFile ? opts.externalDataName ?? `${basename(opts.saveFile)}.data` : undefined;
  const r = paddleToOnnx(model, { ...opts, ...(extName ? { externalDataName: extName } : {}) });
  if (!opts.saveFile) {
    if (r.externalData) throw new PserveError('E_ONNX_TOO_LARGE', 'the parameters exceed 2 GB: give a file to write, so they can go to external data', { file: model.modelFile });
    return { engine: 'native', bytes: r.bytes, size: r.bytes.byteLength, opset: r.opset, inputs: r.inputs, outputs: r.outputs, ops: r.ops };
  }
  const file = opts.saveFile;
  let externalDataFile: string | undefined;
  const validation = await writeOnnx(file, r, async (tmp) => {
    if (opts.validate === false) return undefined;
    return validateOnnx(tmp, r.inputs, r.outputs, { label: file });
  }, (f) => { externalDataFile = f; });
  return {
    engine: 'native', file, ...(externalDataFile ? { externalDataFile } : {}), size: r.bytes.byteLength,
    opset: r.opset, inputs: r.inputs, outputs: r.outputs, ops: r.ops, ...(validation ? { validation } : {}),
  };
}

/**
 * Write the model (and its external data) atomically. `check` runs on the finished temp file
 * before the rename, so a model that fails validation never reaches `file`. External data is
 * written under its final name first (the model refers to it by name).
 */
export async function writeOnnx<T>(file: string, r: NativeOnnxResult, check: (tmpFile: string) => Promise<T>, onExternal?: (f: string) => void): Promise<T> {
  if (r.externalData) {
    const ext = r.externalData;
    const dataFile = `${file.replace(/[^/]*$/, '')}${ext.location}`;
    await writeFileAtomic(dataFile, (tmp) => {
      let fd: number;
      try { fd = openSync(tmp, 'w'); } catch (e) { throw fsError(e, dataFile, 'external data file'); }
      try {
        for (const c of ext.chunks) writeSync(fd, c.data, 0, c.data.byteLength, c.offset);
      } catch (e) {
        throw fsError(e, dataFile, 'external data file');
      } finally {
        closeSync(fd);
      }
    });
    onExternal?.(dataFile);
  }
  // the temp model sits beside the external data, so onnxruntime finds it by relative name
  return writeFileAtomic(file, async (tmp) => {
    let fd: number;
    try { fd = openSync(tmp, 'w'); } catch (e) { throw fsError(e, file, 'ONNX output'); }
    try { writeSync(fd, r.bytes); } catch (e) { throw fsError(e, file, 'ONNX output'); } finally { closeSync(fd); }
    return check(tmp);
  });
}
