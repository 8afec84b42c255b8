/**
 * The only module that imports onnxruntime-node. It owns session create/run/release, the
 * device -> execution-provider table, and input checks that name what is missing.
 *
 *   const s = await openSession('model.onnx', { device: 'cpu' });
 *   s.inputs / s.outputs          // names, dtypes, shapes (numbers, or strings for symbolic dims)
 *   const out = await s.run({ x: { dtype: 'float32', dims: [1, 13], data: new Float32Array(13) } });
 *   await s.close();
 *
 * Asking for `cuda` on a machine without the CUDA provider libraries makes onnxruntime throw (it
 * does not fall back); that becomes E_ORT_DEVICE_UNAVAILABLE naming the device.
 */
import { PserveError } from '../errors.js';
import type { DType, TypedArray } from '../model/dtype.js';

export type Device = 'cpu' | 'cuda' | 'webgpu';

/** device -> onnxruntime execution providers, in preference order */
export const EXECUTION_PROVIDERS: Record<Device, string[]> = {
  cpu: ['cpu'],
  cuda: ['cuda', 'cpu'],
  webgpu: ['webgpu', 'cpu'],
};

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** numbers, or strings for symbolic dims; empty when the model does not say */
  shape: (number | string)[];
}

/** A tensor on the host, in pserve's dtype names. */
export interface HostTensor {
  dtype: DType;
  dims: number[];
  data: TypedArray;
}

export interface SessionOptions {
  device?: Device;
  /** intra-op threads (0 or absent: onnxruntime's default) */
  threads?: number;
  /** for error messages: what the model is */
  label?: string;
}

export interface OnnxSession {
  readonly device: Device;
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>>;
  close(): Promise<void>;
}

const ORT_TYPES: Record<string, DType> = {
  float32: 'float32', float64: 'float64', float16: 'float16', int8: 'int8', int16: 'int16', int32: 'int32',
  int64: 'int64', uint8: 'uint8', uint16: 'uint16', uint32: 'uint32', uint64: 'uint64', bool: 'bool', string: 'string',
};

function dtypeOfOrt(t: string): DType {
  return ORT_TYPES[t] ?? 'unknown';
}

type Ort = typeof import('onnxruntime-node');
let ortPromise: Promise<Ort> | undefined;
function ort(): Promise<Ort> {
  ortPromise ??= import('onnxruntime-node').then((m) => {
    // onnxruntime logs a failed provider load (e.g. CUDA libraries missing) to stderr itself before
    // it throws; we turn the throw into one clear error, so its own log would only be noise
    if (!process.env['PSERVE_DEBUG']) m.env.logLevel = 'fatal';
    return m;
  });
  return ortPromise;
}

export async function openSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<OnnxSession> {
  const device = opts.device ?? 'cpu';
  const eps = EXECUTION_PROVIDERS[device];
  if (!eps) throw new PserveError('E_USAGE', `unknown device ${String(device)}: expected one of ${Object.keys(EXECUTION_PROVIDERS).join(', ')}`, { kind: 'usage' });
  const label = opts.label ?? (typeof model === 'string' ? model : 'ONNX model');
  const o = await ort();
  let session: import('onnxruntime-node').InferenceSession;
  try {
    const so = {
      executionProviders: eps,
      logSeverityLevel: (process.env['PSERVE_DEBUG'] ? 2 : 4) as 2 | 4,
      ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    };
    session = typeof model === 'string' ? await o.InferenceSession.create(model, so) : await o.InferenceSession.create(model, so);
  } catch (e) {
    const msg = firstLine(e);
    if (device !== 'cpu' && /provider|cuda|webgpu|\.so|shared librar/i.test(msg)) {
      throw new PserveError('E_ORT_DEVICE_UNAVAILABLE', `onnxruntime cannot use device ${device}: ${msg}`, {
        file: typeof model === 'string' ? model : undefined,
        hint: device === 'cuda' ? 'install the onnxruntime CUDA provider libraries (CUDA 12 + cuDNN 9), or use --device cpu' : 'use --device cpu',
      });
    }
    throw new PserveError('E_ORT_LOAD', `onnxruntime could not load ${label}: ${msg}`, { file: typeof model === 'string' ? model : undefined });
  }
  const info = (m: readonly import('onnxruntime-node').InferenceSession.ValueMetadata[]): ValueInfo[] =>
    m.map((v) => (v.isTensor ? { name: v.name, dtype: dtypeOfOrt(v.type), shape: [...v.shape] } : { name: v.name, dtype: 'unknown' as DType, shape: [] }));
  const inputs = info(session.inputMetadata);
  const outputs = info(session.outputMetadata);
  let closed = false;

  return {
    device,
    inputs,
    outputs,
    async run(feeds) {
      if (closed) throw new PserveError('E_ORT_CLOSED', `session for ${label} is closed`);
      checkFeeds(inputs, feeds, label);
      const t: Record<string, import('onnxruntime-node').Tensor> = {};
      for (const i of inputs) {
        const f = feeds[i.name]!;
        t[i.name] = new o.Tensor(f.dtype as 'float32', f.data as Float32Array, f.dims);
      }
      let r: Record<string, import('onnxruntime-node').Tensor>;
      try {
        r = await session.run(t) as Record<string, import('onnxruntime-node').Tensor>;
      } catch (e) {
        throw new PserveError('E_ORT_RUN', `inference failed on ${label}: ${firstLine(e)}`);
      }
      const out: Record<string, HostTensor> = {};
      for (const [k, v] of Object.entries(r)) out[k] = { dtype: dtypeOfOrt(v.type), dims: [...v.dims], data: v.data as TypedArray };
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}

/** Every input present, with the declared dtype, rank and fixed dims; nothing extra. */
export function checkFeeds(inputs: ValueInfo[], feeds: Record<string, HostTensor>, label = 'model'): void {
  const missing = inputs.filter((i) => !(i.name in feeds)).map((i) => i.name);
  if (missing.length) {
    throw new PserveError('E_ORT_INPUT_MISSING', `${label} needs input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; given: ${Object.keys(feeds).join(', ') || '(none)'}`);
  }
  const known = new Set(inputs.map((i) => i.name));
  const extra = Object.keys(feeds).filter((k) => !known.has(k));
  if (extra.length) throw new PserveError('E_ORT_INPUT_UNKNOWN', `${label} has no input named ${extra.join(', ')}; inputs: ${[...known].join(', ')}`);
  for (const i of inputs) {
    const f = feeds[i.name]!;
    if (i.dtype !== 'unknown' && f.dtype !== i.dtype) {
      throw new PserveError('E_ORT_INPUT_DTYPE', `input ${i.name}: expected ${i.dtype}, found ${f.dtype}`);
    }
    const numel = f.dims.reduce((a, b) => a * b, 1);
    if (f.data.length !== numel) {
      throw new PserveError('E_ORT_INPUT_SIZE', `input ${i.name}: dims [${f.dims.join(',')}] need ${numel} elements, found ${f.data.length}`);
    }
    if (i.shape.length === 0) continue;
    const ok = i.shape.length === f.dims.length && i.shape.every((d, k) => typeof d !== 'number' || d < 0 || d === f.dims[k]);
    if (!ok) throw new PserveError('E_ORT_INPUT_SHAPE', `input ${i.name}: expected shape [${i.shape.join(',')}], found [${f.dims.join(',')}]`);
  }
}

function firstLine(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  return m.split('\n')[0]!.trim();
}
