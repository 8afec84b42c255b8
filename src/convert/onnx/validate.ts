/**
 * pserve checks its own ONNX output: onnxruntime loads it, one inference runs on generated inputs
 * (the declared dtypes; unknown dims: 1 for the batch, `dynamicDim` elsewhere), and every output
 * must come back with the declared rank and fixed dims, and finite.
 */
import { PserveError } from '../../errors.js';
import type { DType, TypedArray } from '../../model/dtype.js';
import type { TensorSpec } from '../../model/types.js';
import { openSession, type HostTensor } from '../../runtime/onnx-runtime.js';

export interface ValidationReport {
  ok: true;
  inputs: { name: string; dtype: DType; dims: number[] }[];
  outputs: { name: string; dtype: DType; dims: number[] }[];
  ms: number;
}

export interface ValidateOptions {
  label?: string;
  /** size used for unknown non-batch dims (default 64: conv nets with 5 stride-2 stages still fit) */
  dynamicDim?: number;
}

/** Deterministic inputs: floats in [0,1), integers 0 (a valid id for every embedding), bools false. */
export function generateInput(spec: TensorSpec, dynamicDim = 64): HostTensor {
  const dims = spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? 1 : dynamicDim));
  const n = dims.reduce((a, b) => a * b, 1);
  let data: TypedArray;
  switch (spec.dtype) {
    case 'float32': case 'unknown': {
      const a = new Float32Array(n);
      let s = 12345;
      for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; a[i] = (s >>> 8) / 16777216; }
      data = a;
      break;
    }
    case 'float64': data = new Float64Array(n).fill(0.5); break;
    case 'int64': data = new BigInt64Array(n); break;
    case 'int32': data = new Int32Array(n); break;
    case 'int8': data = new Int8Array(n); break;
    case 'uint8': case 'bool': data = new Uint8Array(n); break;
    default: throw new PserveError('E_ONNX_VALIDATE', `cannot generate a ${spec.dtype} input for ${spec.name}`);
  }
  return { dtype: spec.dtype === 'unknown' ? 'float32' : spec.dtype, dims, data };
}

export async function validateOnnx(file: string | Uint8Array, inputs: TensorSpec[], outputs: TensorSpec[], opts: ValidateOptions = {}): Promise<ValidationReport> {
  const label = opts.label ?? (typeof file === 'string' ? file : 'ONNX model');
  const t0 = performance.now();
  const s = await openSession(file, { device: 'cpu', label });
  try {
    const feeds: Record<string, HostTensor> = {};
    for (const i of inputs) feeds[i.name] = generateInput(i, opts.dynamicDim);
    const r = await s.run(feeds);
    const outs: ValidationReport['outputs'] = [];
    for (const o of outputs) {
      const t = r[o.name];
      if (!t) throw new PserveError('E_ONNX_VALIDATE', `validation: output ${o.name} missing from the inference result`, { file: label });
      const fixedOk = t.dims.length === o.shape.length && o.shape.every((d, k) => d < 0 || d === t.dims[k]);
      if (o.shape.length > 0 && !fixedOk) {
        throw new PserveError('E_ONNX_VALIDATE', `validation: output ${o.name} has shape [${t.dims.join(',')}], expected [${o.shape.join(',')}]`, { file: label });
      }
      if (t.data instanceof Float32Array || t.data instanceof Float64Array) {
        for (let k = 0; k < t.data.length; k++) {
          if (!Number.isFinite(t.data[k]!)) throw new PserveError('E_ONNX_VALIDATE', `validation: output ${o.name} holds a non-finite value at index ${k}`, { file: label });
        }
      }
      outs.push({ name: o.name, dtype: t.dtype, dims: t.dims });
    }
    return { ok: true, inputs: Object.entries(feeds).map(([name, f]) => ({ name, dtype: f.dtype, dims: f.dims })), outputs: outs, ms: Math.round(performance.now() - t0) };
  } finally {
    await s.close();
  }
}
