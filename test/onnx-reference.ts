/**
 * An independent reference for the small fixtures: a naive float64 interpreter of the Paddle ops
 * they use, written straight from Paddle's operator definitions and fed by model.readParam. It
 * shares no code with the ONNX mappers, so agreement means both read Paddle the same way.
 */
import type { LoadedModel } from '../src/model/load-model.js';

export interface T { dims: number[]; data: Float64Array }

const numel = (d: number[]) => d.reduce((a, b) => a * b, 1);

function param(m: LoadedModel, name: string): T {
  const p = m.params.find((x) => x.name === name)!;
  const raw = m.readParam(name) as ArrayLike<number | bigint>;
  return { dims: p.shape, data: Float64Array.from(raw, Number) };
}

function matmul2(a: T, rows: number, k: number, b: T, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let kk = 0; kk < k; kk++) {
    const av = a.data[i * k + kk]!;
    for (let j = 0; j < cols; j++) out[i * cols + j]! += av * b.data[kk * cols + j]!;
  }
  return out;
}

function broadcastAdd(x: T, y: T, axis: number, f: (a: number, b: number) => number): T {
  const ax = axis < 0 ? x.dims.length - y.dims.length : axis;
  const pre = numel(x.dims.slice(0, ax));
  const mid = numel(x.dims.slice(ax, ax + y.dims.length));
  const post = numel(x.dims.slice(ax + y.dims.length));
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < pre; i++) for (let j = 0; j < mid; j++) for (let k = 0; k < post; k++) {
    const idx = (i * mid + j) * post + k;
    out[idx] = f(x.data[idx]!, y.data.length === 1 ? y.data[0]! : y.data[j]!);
  }
  return { dims: x.dims, data: out };
}

function conv2d(x: T, w: T, stride: number[], pad: number[]): T {
  const [n, c, h, wd] = x.dims as [number, number, number, number];
  const [oc, , kh, kw] = w.dims as [number, number, number, number];
  const oh = Math.floor((h + 2 * pad[0]! - kh) / stride[0]!) + 1;
  const ow = Math.floor((wd + 2 * pad[1]! - kw) / stride[1]!) + 1;
  const out = new Float64Array(n * oc * oh * ow);
  for (let b = 0; b < n; b++) for (let o = 0; o < oc; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let s = 0;
    for (let ci = 0; ci < c; ci++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const yy = i * stride[0]! - pad[0]! + u;
      const xx = j * stride[1]! - pad[1]! + v;
      if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
      s += x.data[((b * c + ci) * h + yy) * wd + xx]! * w.data[((o * c + ci) * kh + u) * kw + v]!;
    }
    out[((b * oc + o) * oh + i) * ow + j] = s;
  }
  return { dims: [n, oc, oh, ow], data: out };
}

function maxPool(x: T, k: number[], stride: number[]): T {
  const [n, c, h, w] = x.dims as [number, number, number, number];
  const oh = Math.floor((h - k[0]!) / stride[0]!) + 1;
  const ow = Math.floor((w - k[1]!) / stride[1]!) + 1;
  const out = new Float64Array(n * c * oh * ow);
  for (let b = 0; b < n * c; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let m = -Infinity;
    for (let u = 0; u < k[0]!; u++) for (let v = 0; v < k[1]!; v++) m = Math.max(m, x.data[(b * h + i * stride[0]! + u) * w + j * stride[1]! + v]!);
    out[(b * oh + i) * ow + j] = m;
  }
  return { dims: [n, c, oh, ow], data: out };
}

/** Run block 0 of `m` on `feeds`; returns every fetch. */
export function referenceRun(m: LoadedModel, feeds: Record<string, T>): Record<string, T> {
  const env = new Map<string, T>(Object.entries(feeds));
  const get = (n: string): T => env.get(n) ?? (() => { const p = param(m, n); env.set(n, p); return p; })();
  for (const op of m.blocks[0]!.ops) {
    const a = op.attrs;
    const X = () => get(op.inputs['X']![0]!);
    const set = (slot: string, t: T) => env.set(op.outputs[slot]![0]!, t);
    switch (op.type) {
      case 'feed': case 'fetch': break;
      case 'mul': {
        const x = X(); const y = get(op.inputs['Y']![0]!);
        const xn = Number(a['x_num_col_dims'] ?? 1);
        const rows = numel(x.dims.slice(0, xn)); const k = numel(x.dims.slice(xn)); const cols = numel(y.dims.slice(1));
        set('Out', { dims: [...x.dims.slice(0, xn), ...y.dims.slice(1)], data: matmul2(x, rows, k, y, cols) });
        break;
      }
      case 'elementwise_add': set('Out', broadcastAdd(X(), get(op.inputs['Y']![0]!), Number(a['axis'] ?? -1), (p, q) => p + q)); break;
      case 'elementwise_div': set('Out', broadcastAdd(X(), get(op.inputs['Y']![0]!), Number(a['axis'] ?? -1), (p, q) => p / q)); break;
      case 'relu': { const x = X(); set('Out', { dims: x.dims, data: x.data.map((v) => Math.max(0, v)) }); break; }
      case 'tanh': { const x = X(); set('Out', { dims: x.dims, data: x.data.map(Math.tanh) }); break; }
      case 'sigmoid': { const x = X(); set('Out', { dims: x.dims, data: x.data.map((v) => 1 / (1 + Math.exp(-v))) }); break; }
      case 'scale': {
        const x = X(); const s = Number(a['scale'] ?? 1); const b = Number(a['bias'] ?? 0);
        set('Out', { dims: x.dims, data: x.data.map((v) => (a['bias_after_scale'] === false ? s * (v + b) : s * v + b)) });
        break;
      }
      case 'softmax': {
        const x = X(); const d = x.dims[x.dims.length - 1]!; const out = new Float64Array(x.data.length);
        for (let r = 0; r < x.data.length / d; r++) {
          let mx = -Infinity; for (let j = 0; j < d; j++) mx = Math.max(mx, x.data[r * d + j]!);
          let s = 0; for (let j = 0; j < d; j++) s += (out[r * d + j] = Math.exp(x.data[r * d + j]! - mx));
          for (let j = 0; j < d; j++) out[r * d + j]! /= s;
        }
        set('Out', { dims: x.dims, data: out });
        break;
      }
      case 'fill_constant': {
        const dims = (a['shape'] as number[]).map(Number);
        set('Out', { dims, data: new Float64Array(numel(dims)).fill(Number(a['value'])) });
        break;
      }
      case 'conv2d': {
        const x = get(op.inputs['Input']![0]!); const w = get(op.inputs['Filter']![0]!);
        set('Output', conv2d(x, w, (a['strides'] as number[]).map(Number), (a['paddings'] as number[]).map(Number)));
        break;
      }
      case 'pool2d': set('Out', maxPool(X(), (a['ksize'] as number[]).map(Number), (a['strides'] as number[]).map(Number))); break;
      case 'flatten2': { const x = X(); const ax = Number(a['axis']); set('Out', { dims: [numel(x.dims.slice(0, ax)), numel(x.dims.slice(ax))], data: x.data }); break; }
      case 'lookup_table_v2': {
        const ids = get(op.inputs['Ids']![0]!); const w = get(op.inputs['W']![0]!); const d = w.dims[1]!;
        const out = new Float64Array(ids.data.length * d);
        ids.data.forEach((id, i) => out.set(w.data.subarray(id * d, id * d + d), i * d));
        set('Out', { dims: [...ids.dims, d], data: out });
        break;
      }
      case 'concat': {
        // along axis 1 of [N, 1, D] pieces (the only use in the fixtures)
        const xs = op.inputs['X']!.map(get); const n = xs[0]!.dims[0]!; const tail = numel(xs[0]!.dims.slice(1));
        const out = new Float64Array(n * tail * xs.length);
        for (let b = 0; b < n; b++) xs.forEach((t, i) => out.set(t.data.subarray(b * tail, b * tail + tail), (b * xs.length + i) * tail));
        set('Out', { dims: [n, xs.length * xs[0]!.dims[1]!, ...xs[0]!.dims.slice(2)], data: out });
        break;
      }
      default: throw new Error(`reference interpreter has no ${op.type}`);
    }
  }
  const out: Record<string, T> = {};
  for (const f of m.fetches) out[f.name] = env.get(f.name)!;
  return out;
}
