/**
 * A model given with `bundle --onnx` is checked before anything is written: onnxruntime must load
 * it, and its inputs and outputs must be the serving conf's feeds and fetches by name, dtype and
 * rank (the server binds them by name). Every mismatch is listed in one error.
 */
import { PserveError } from '../errors.js';
import { openSession, type ValueInfo } from '../runtime/onnx-runtime.js';
import type { BundleTensor } from './manifest.js';

function compare(kind: 'input' | 'output', confWord: 'feed' | 'fetch', conf: BundleTensor[], model: ValueInfo[]): string[] {
  const out: string[] = [];
  for (const t of conf) {
    const m = model.find((v) => v.name === t.name);
    if (!m) { out.push(`${confWord} ${t.name} (alias ${t.alias}) is not an ${kind} of the model (its ${kind}s: ${model.map((v) => v.name).join(', ') || 'none'})`); continue; }
    if (m.dtype !== 'unknown' && t.dtype !== m.dtype) out.push(`${confWord} ${t.name}: the conf says ${t.dtype}, the model's ${kind} is ${m.dtype}`);
    if (m.shape.length > 0 && t.shape.length !== m.shape.length) out.push(`${confWord} ${t.name}: rank ${t.shape.length} [${t.shape.join(',')}] in the conf, rank ${m.shape.length} [${m.shape.join(',')}] in the model`);
  }
  if (kind === 'input') {
    for (const v of model) if (!conf.some((t) => t.name === v.name)) out.push(`model input ${v.name} is not a feed of the serving conf, so no request could fill it`);
  }
  return out;
}

export async function checkGivenOnnx(file: string, feeds: BundleTensor[], fetches: BundleTensor[]): Promise<void> {
  let session;
  try {
    session = await openSession(file, { label: file });
  } catch (e) {
    const why = (e instanceof PserveError ? e.message : String((e as Error)?.message ?? e)).split('\n')[0];
    throw new PserveError('E_ONNX_INVALID', `--onnx is not a model onnxruntime can load: ${why}`, { file, hint: 'nothing was written' });
  }
  try {
    const problems = [...compare('input', 'feed', feeds, session.inputs), ...compare('output', 'fetch', fetches, session.outputs)];
    if (problems.length) {
      throw new PserveError('E_ONNX_MISMATCH', `--onnx does not match the serving conf (${problems.length} mismatch${problems.length === 1 ? '' : 'es'}): ${problems.join('; ')}`, { file, hint: 'nothing was written' });
    }
  } finally {
    await session.close();
  }
}
