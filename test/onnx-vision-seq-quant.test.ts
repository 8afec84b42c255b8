/**
 * Vision, sequence and quantization mappers of the native ONNX engine, each against a float64
 * implementation written here from Paddle's documented semantics: tiny Paddle programs (with
 * params) are built, converted, run in onnxruntime at batch 1 and 2, and compared.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { PserveError } from '../src/errors.js';
import { convertToOnnx, type ConvertToOnnxOptions } from '../src/convert/onnx/index.js';
import { ProgramBuilder, seededFloats } from '../src/formats/program-builder.js';
import { openSession, type HostTensor, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import type { LoadedModel } from '../src/model/load-model.js';
import type { AttrValue, OpNode, TensorSpec, VarSpec } from '../src/model/types.js';
import type { DType } from '../src/model/dtype.js';
import { cliJson, tempDir } from './helpers.js';

const { onnx } = onnxProto as unknown as { onnx: any };
const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });
const root = tempDir('pserve-onnx-c2-');
let dirs = 0;

function save(b: ProgramBuilder): string {
  const d = join(root, `m${dirs++}`);
  mkdirSync(d);
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  const params = b.paramsBytes();
  if (params.length) writeFileSync(join(d, 'inference.pdiparams'), params);
  return d;
}

async function convert(b: ProgramBuilder, opts: ConvertToOnnxOptions = {}): Promise<{ bytes: Uint8Array; s: OnnxSession }> {
  const r = await convertToOnnx(save(b), opts);
  const s = await openSession(r.bytes!);
  sessions.push(s);
  return { bytes: r.bytes!, s };
}

/**
 * Convert at the opset the engine picks (the lowest the ops claim) and at each of `opsets`;
 * `s.run` runs every model and checks they all agree with the first, whose outputs it returns.
 */
async function convertAcross(b: ProgramBuilder, opsets: number[], opts: ConvertToOnnxOptions = {}): Promise<{ bytes: Uint8Array; s: { run(f: Record<string, HostTensor>): Promise<Record<string, HostTensor>> }; opsets: number[] }> {
  const dir = save(b);
  const first = await convertToOnnx(dir, opts);
  const all = [first, ...(await Promise.all(opsets.map((o) => convertToOnnx(dir, { ...opts, opsetVersion: o }))))];
  const ss: OnnxSession[] = [];
  for (const r of all) { const s = await openSession(r.bytes!); sessions.push(s); ss.push(s); }
  return {
    bytes: first.bytes!,
    opsets: all.map((r) => r.opset),
    s: {
      async run(feeds) {
        const outs = [];
        for (const s of ss) outs.push(await s.run(feeds));
        for (const [i, o] of outs.entries()) for (const k of Object.keys(outs[0]!)) {
          expect(o[k]!.dims, `opset ${all[i]!.opset} ${k}`).toEqual(outs[0]![k]!.dims);
          expect(maxDiff(o[k]!.data as Float32Array, outs[0]![k]!.data as Float32Array), `opset ${all[i]!.opset} ${k}`).toBeLessThan(1e-6);
        }
        return outs[0]!;
      },
    },
  };
}

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; return 'no error'; } catch (e) { expect(e).toBeInstanceOf(PserveError); return (e as PserveError).code; }
}

const f32 = (dims: number[], data: ArrayLike<number>): HostTensor => ({ dtype: 'float32', dims, data: Float32Array.from(data) });
const numel = (d: number[]) => d.reduce((a, b) => a * b, 1);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function opTypes(bytes: Uint8Array): string[] {
  return onnx.ModelProto.decode(bytes).graph.node.map((n: { opType: string }) => n.opType);
}

// ---------------------------------------------------------------- temporal_shift

/** float64 temporal shift of x [N*T, C, H, W] (NCHW) or [N*T, H, W, C] (NHWC), from Paddle's op doc */
function temporalShiftRef(x: Float32Array, dims: number[], T: number, ratio: number, nhwc: boolean): Float64Array {
  const [NT, a, b, c] = dims as [number, number, number, number];
  const C = nhwc ? c : a;
  const c1 = Math.trunc(C * ratio);
  const c2 = Math.trunc(C * 2 * ratio);
  const out = new Float64Array(x.length);
  for (let n = 0; n < NT; n++) for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let k = 0; k < c; k++) {
    const ch = nhwc ? k : i;
    const t = n % T;
    const src = ch < c1 ? t - 1 : ch < c2 ? t + 1 : t;
    const idx = ((n * a + i) * b + j) * c + k;
    out[idx] = src < 0 || src >= T ? 0 : x[idx + (src - t) * a * b * c]!;
  }
  return out;
}

describe('temporal_shift', () => {
  for (const [fmt, ratio] of [[undefined, 0.25], ['NCHW', 0.125], ['NHWC', 0.3]] as const) {
    it(`matches Paddle's shift (data_format ${fmt ?? 'absent = NCHW'}, shift_ratio ${ratio}) at batch 1 and 2`, async () => {
      const T = 3;
      const shape = fmt === 'NHWC' ? [-1, 2, 3, 8] : [-1, 8, 2, 3];
      const attrs: Record<string, number | string> = { seg_num: T, shift_ratio: ratio };
      if (fmt) attrs['data_format'] = fmt;
      const b = new ProgramBuilder().feed('x', 'float32', shape).variable('y', 'float32', shape)
        .op('temporal_shift', { X: ['x'] }, { Out: ['y'] }, attrs).fetch('y');
      const { s, opsets } = await convertAcross(b, [13, 17]);
      expect(opsets).toEqual([11, 13, 17]);
      for (const n of [1, 2]) {
        const dims = [n * T, ...shape.slice(1)];
        const x = seededFloats(numel(dims), 7 + n);
        const y = (await s.run({ x: f32(dims, x) }))['y']!;
        expect(y.dims).toEqual(dims);
        expect(maxDiff(y.data as Float32Array, temporalShiftRef(x, dims, T, ratio, fmt === 'NHWC'))).toBe(0);
      }
    });
  }
});

// ---------------------------------------------------------------- rnn

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * float64 Paddle rnn: cell formulas from paddle.nn.LSTMCell / GRUCell (gate rows LSTM [i,f,g,o],
 * GRU [r,z,c]), time-major x [T,N,I], states [L*D,N,H]; steps at or past a sequence's length give
 * zeros and leave the state; the backward direction runs from the sequence's last step.
 */
function rnnRef(mode: 'LSTM' | 'GRU', x: Float32Array, [T, N, I]: number[], L: number, D: number, H: number,
  w: Float32Array[], h0: Float32Array, c0: Float32Array | undefined, lens?: number[]): { out: Float64Array; h: Float64Array; c: Float64Array } {
  const G = mode === 'LSTM' ? 4 : 3;
  let input = Float64Array.from(x);
  let inSize = I;
  const hOut = new Float64Array(L * D * N * H);
  const cOut = new Float64Array(L * D * N * H);
  for (let l = 0; l < L; l++) {
    const out = new Float64Array(T * N * D * H);
    for (let d = 0; d < D; d++) {
      const k = l * D + d;
      const wih = w[2 * k]!; const whh = w[2 * k + 1]!; const bih = w[2 * L * D + 2 * k]!; const bhh = w[2 * L * D + 2 * k + 1]!;
      for (let n = 0; n < N; n++) {
        const len = lens ? lens[n]! : T;
        const h = new Float64Array(H); const c = new Float64Array(H);
        for (let j = 0; j < H; j++) { h[j] = h0[(k * N + n) * H + j]!; if (c0) c[j] = c0[(k * N + n) * H + j]!; }
        for (let step = 0; step < len; step++) {
          const t = d === 0 ? step : len - 1 - step;
          const gx = new Float64Array(G * H); const gh = new Float64Array(G * H);
          for (let r = 0; r < G * H; r++) {
            let sx = bih[r]!; let sh = bhh[r]!;
            for (let q = 0; q < inSize; q++) sx += wih[r * inSize + q]! * input[(t * N + n) * inSize + q]!;
            for (let q = 0; q < H; q++) sh += whh[r * H + q]! * h[q]!;
            gx[r] = sx; gh[r] = sh;
          }
          for (let j = 0; j < H; j++) {
            if (mode === 'LSTM') {
              const gi = sigmoid(gx[j]! + gh[j]!); const gf = sigmoid(gx[H + j]! + gh[H + j]!);
              const gg = Math.tanh(gx[2 * H + j]! + gh[2 * H + j]!); const go = sigmoid(gx[3 * H + j]! + gh[3 * H + j]!);
              c[j] = gf * c[j]! + gi * gg;
              h[j] = go * Math.tanh(c[j]!);
            } else {
              const r = sigmoid(gx[j]! + gh[j]!); const z = sigmoid(gx[H + j]! + gh[H + j]!);
              const cc = Math.tanh(gx[2 * H + j]! + r * gh[2 * H + j]!);
              h[j] = z * h[j]! + (1 - z) * cc;
            }
          }
          for (let j = 0; j < H; j++) out[((t * N + n) * D + d) * H + j] = h[j]!;
        }
        for (let j = 0; j < H; j++) { hOut[(k * N + n) * H + j] = h[j]!; cOut[(k * N + n) * H + j] = c[j]!; }
      }
    }
    input = out;
    inSize = D * H;
  }
  return { out: input, h: hOut, c: cOut };
}

describe('rnn', () => {
  const cases = [
    { mode: 'LSTM' as const, L: 2, D: 2, H: 5, seq: false },
    { mode: 'GRU' as const, L: 1, D: 2, H: 4, seq: true },
    { mode: 'GRU' as const, L: 2, D: 1, H: 3, seq: false },
    { mode: 'LSTM' as const, L: 1, D: 1, H: 6, seq: true },
  ];
  for (const cs of cases) {
    it(`${cs.mode} ${cs.D === 2 ? 'bidirectional' : 'forward'} ${cs.L} layer(s)${cs.seq ? ' with SequenceLength' : ''} matches Paddle's cells at batch 1 and 2`, async () => {
      const { mode, L, D, H } = cs;
      const I = 7; const T = 4; const G = mode === 'LSTM' ? 4 : 3;
      const b = new ProgramBuilder().feed('x', 'float32', [T, -1, I]);
      const wl: string[] = []; const bl: string[] = []; const wv: Float32Array[] = []; const bv: Float32Array[] = [];
      for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) {
        const k = l * D + d; const inSize = l === 0 ? I : D * H;
        for (const [nm, shape] of [[`cell_${k}.w_0`, [G * H, inSize]], [`cell_${k}.w_1`, [G * H, H]]] as const) {
          const v = seededFloats(numel([...shape]), 100 + wl.length + 10 * k, 0.6);
          b.param(nm, [...shape], v); wl.push(nm); wv.push(v);
        }
        for (const nm of [`cell_${k}.b_0`, `cell_${k}.b_1`]) {
          const v = seededFloats(G * H, 300 + bl.length + 10 * k, 0.3);
          b.param(nm, [G * H], v); bl.push(nm); bv.push(v);
        }
      }
      const pre = mode === 'LSTM' ? ['h0', 'c0'] : ['h0'];
      for (const p of pre) b.feed(p, 'float32', [L * D, -1, H]);
      if (cs.seq) b.feed('lens', 'int32', [-1]);
      b.variable('y', 'float32', [T, -1, D * H]).variable('hn', 'float32', [L * D, -1, H]).variable('cn', 'float32', [L * D, -1, H])
        .variable('reserve', 'uint8', [-1]).variable('dstate', 'uint8', [-1]);
      b.op('rnn', { Input: ['x'], PreState: pre, WeightList: [...wl, ...bl], SequenceLength: cs.seq ? ['lens'] : [] },
        { Out: ['y'], State: mode === 'LSTM' ? ['hn', 'cn'] : ['hn'], Reserve: ['reserve'], DropoutState: ['dstate'] },
        { mode, hidden_size: H, input_size: I, num_layers: L, is_bidirec: D === 2, is_test: true, dropout_prob: 0 })
        .fetch('y').fetch('hn');
      if (mode === 'LSTM') b.fetch('cn');
      const { s, bytes, opsets } = await convertAcross(b, [13, 17]);
      expect(opsets).toEqual([10, 13, 17]);
      expect(opTypes(bytes).filter((t) => t === mode).length).toBe(L);
      // weights in WeightList order: all weights (ih, hh per cell) then all biases
      const weights: Float32Array[] = [];
      for (let k = 0; k < L * D; k++) weights.push(wv[2 * k]!, wv[2 * k + 1]!);
      for (let k = 0; k < L * D; k++) weights.push(bv[2 * k]!, bv[2 * k + 1]!);
      for (const N of [1, 2]) {
        const x = seededFloats(T * N * I, 11 + N);
        const h0 = seededFloats(L * D * N * H, 21 + N, 0.5);
        const c0 = seededFloats(L * D * N * H, 31 + N, 0.5);
        const lens = N === 1 ? [3] : [4, 2];
        const feeds: Record<string, HostTensor> = { x: f32([T, N, I], x), h0: f32([L * D, N, H], h0) };
        if (mode === 'LSTM') feeds['c0'] = f32([L * D, N, H], c0);
        if (cs.seq) feeds['lens'] = { dtype: 'int32', dims: [N], data: Int32Array.from(lens) };
        const r = await s.run(feeds);
        const ref = rnnRef(mode, x, [T, N, I], L, D, H, weights, h0, mode === 'LSTM' ? c0 : undefined, cs.seq ? lens : undefined);
        expect(r['y']!.dims).toEqual([T, N, D * H]);
        expect(maxDiff(r['y']!.data as Float32Array, ref.out)).toBeLessThan(1e-5);
        expect(maxDiff(r['hn']!.data as Float32Array, ref.h)).toBeLessThan(1e-5);
        if (mode === 'LSTM') expect(maxDiff(r['cn']!.data as Float32Array, ref.c)).toBeLessThan(1e-5);
      }
    });
  }

  it('refuses what it cannot express, naming the op: projection LSTM, a WeightList of the wrong length, an unknown mode', async () => {
    const mk = (attrs: Record<string, number | string | boolean>, nWeights: number) => {
      const b = new ProgramBuilder().feed('x', 'float32', [2, -1, 3]).feed('h0', 'float32', [1, -1, 2]).feed('c0', 'float32', [1, -1, 2])
        .variable('y', 'float32', [2, -1, 2]);
      const names: string[] = [];
      for (let i = 0; i < nWeights; i++) { b.param(`w${i}`, i < nWeights / 2 ? [8, i % 2 ? 2 : 3] : [8], seededFloats(i < nWeights / 2 ? 8 * (i % 2 ? 2 : 3) : 8, i)); names.push(`w${i}`); }
      return b.op('rnn', { Input: ['x'], PreState: ['h0', 'c0'], WeightList: names }, { Out: ['y'] }, { mode: 'LSTM', hidden_size: 2, num_layers: 1, is_bidirec: false, ...attrs }).fetch('y');
    };
    expect(await code(convertToOnnx(save(mk({ proj_size: 1 }, 4)), {}))).toBe('E_ONNX_OP_UNSUPPORTED');
    expect(await code(convertToOnnx(save(mk({}, 6)), {}))).toBe('E_ONNX_OP_UNSUPPORTED');
    expect(await code(convertToOnnx(save(mk({ mode: 'LSTMP' }, 4)), {}))).toBe('E_ONNX_OP_UNSUPPORTED');
    // and the well-formed one converts
    expect(await code(convertToOnnx(save(mk({}, 4)), {}))).toBe('no error');
  });

  it('the fluid lstm op over LoD input is refused as a LoD op, before anything is written', async () => {
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 16], 1).variable('h', 'float32', [-1, 4], { lodLevel: 1 })
      .variable('c', 'float32', [-1, 4], { lodLevel: 1 }).param('w', [4, 16], seededFloats(64, 1)).param('bias', [1, 16], seededFloats(16, 2))
      .op('lstm', { Input: ['x'], Weight: ['w'], Bias: ['bias'] }, { Hidden: ['h'], Cell: ['c'] }, { use_peepholes: false }).fetch('h');
    try {
      await convertToOnnx(save(b), {});
      expect.unreachable();
    } catch (e) {
      expect((e as PserveError).code).toBe('E_ONNX_UNSUPPORTED_OPS');
      expect((e as Error).message).toMatch(/lstm x1 \(LoD sequence op/);
    }
  });
});

// ---------------------------------------------------------------- quantization

/** Paddle's fake quant-dequant of v at abs-max s (round_type 1: clip to ±s, round half away from zero) */
function fakeQD(v: number, s: number, bin = 127): number {
  const c = Math.min(Math.max(v, -s), s);
  const q = c * bin / s;
  return Math.sign(q) * Math.floor(Math.abs(q) + 0.5) * s / bin;
}

/** conv2d, stride 1, no padding, float64 */
function conv(x: ArrayLike<number>, [N, C, H, W]: number[], w: ArrayLike<number>, O: number, K: number): Float64Array {
  const oh = H - K + 1; const ow = W - K + 1;
  const out = new Float64Array(N * O * oh * ow);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let s = 0;
    for (let c = 0; c < C; c++) for (let u = 0; u < K; u++) for (let v = 0; v < K; v++) s += x[((n * C + c) * H + i + u) * W + j + v]! * w[((o * C + c) * K + u) * K + v]!;
    out[((n * O + o) * oh + i) * ow + j] = s;
  }
  return out;
}

describe('fake quantization (PaddleSlim QAT)', () => {
  const C = 3; const O = 4; const K = 3; const S = 6;
  const inScale = 1.7;
  const w = seededFloats(O * C * K * K, 5, 0.8);
  const build = () => new ProgramBuilder().feed('x', 'float32', [-1, C, S, S])
    .param('x.scale', [1], Float32Array.of(inScale)).param('w', [O, C, K, K], w)
    .variable('xq', 'float32', [-1, C, S, S]).variable('wq', 'float32', [O, C, K, K]).variable('w.scale', 'float32', [O])
    .variable('y', 'float32', [-1, O, S - K + 1, S - K + 1])
    .op('fake_quantize_dequantize_moving_average_abs_max', { X: ['x'], InScale: ['x.scale'] }, { Out: ['xq'], OutScale: ['x.scale'] },
      { bit_length: 8, moving_rate: 0.9, is_test: true })
    .op('fake_channel_wise_quantize_dequantize_abs_max', { X: ['w'] }, { Out: ['wq'], OutScale: ['w.scale'] }, { bit_length: 8, quant_axis: 0 })
    .op('conv2d', { Input: ['xq'], Filter: ['wq'] }, { Output: ['y'] }, { strides: [1, 1], paddings: [0, 0], dilations: [1, 1], groups: 1 })
    .fetch('y');

  function reference(x: Float32Array, N: number): Float64Array {
    const xq = Array.from(x, (v) => fakeQD(v, inScale));
    const wq = new Float64Array(w.length);
    const per = C * K * K;
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let i = 0; i < per; i++) s = Math.max(s, Math.abs(w[o * per + i]!));
      for (let i = 0; i < per; i++) wq[o * per + i] = fakeQD(w[o * per + i]!, s);
    }
    return conv(xq, [N, C, S, S], wq, O, K);
  }

  it('QDQ: QuantizeLinear/DequantizeLinear pairs at Paddle\'s scales (per-channel weights, opset 13) run in onnxruntime and match Paddle', async () => {
    const { s, bytes, opsets } = await convertAcross(build(), [17]);
    expect(opsets).toEqual([13, 17]);
    expect(await code(convertToOnnx(save(build()), { opsetVersion: 12 }))).toBe('E_ONNX_OPSET');
    const types = opTypes(bytes);
    expect(types.filter((t) => t === 'QuantizeLinear').length).toBe(2);
    expect(types.filter((t) => t === 'DequantizeLinear').length).toBe(2);
    const model = onnx.ModelProto.decode(bytes);
    expect(Number(model.opsetImport[0].version)).toBeGreaterThanOrEqual(13);
    const dq = model.graph.node.filter((n: { opType: string }) => n.opType === 'DequantizeLinear');
    expect(dq.some((n: { attribute: { name: string; i: number }[] }) => n.attribute.some((a) => a.name === 'axis' && Number(a.i) === 0))).toBe(true);
    for (const N of [1, 2]) {
      // inputs beyond ±inScale are clipped; keep them above -inScale*128/127, where ONNX int8 saturates differently
      const x = seededFloats(N * C * S * S, 40 + N, 1.7);
      const y = (await s.run({ x: f32([N, C, S, S], x) }))['y']!;
      expect(maxDiff(y.data as Float32Array, reference(x, N))).toBeLessThan(1e-4);
    }
  });

  it('--quant float writes no int8 types and matches Paddle\'s fake-quant arithmetic (clip beyond the scale included)', async () => {
    const { s, bytes } = await convertAcross(build(), [17], { quant: 'float' });
    const types = opTypes(bytes);
    expect(types).not.toContain('QuantizeLinear');
    expect(types).not.toContain('DequantizeLinear');
    for (const N of [1, 2]) {
      const x = seededFloats(N * C * S * S, 50 + N, 3); // well past the scale on both sides
      const y = (await s.run({ x: f32([N, C, S, S], x) }))['y']!;
      expect(maxDiff(y.data as Float32Array, reference(x, N))).toBeLessThan(1e-4);
    }
  });

  it('quantize_linear -> dequantize_linear (new format) is one QDQ pair; float mode gives the same numbers', async () => {
    const scale = 2.5;
    const b = () => new ProgramBuilder().feed('x', 'float32', [-1, 5]).param('s', [1], Float32Array.of(scale)).param('zp', [1], Float32Array.of(0))
      .variable('q', 'float32', [-1, 5]).variable('y', 'float32', [-1, 5])
      .op('quantize_linear', { X: ['x'], Scale: ['s'], ZeroPoint: ['zp'] }, { Y: ['q'] }, { bit_length: 8, quant_axis: -1, round_type: 0 })
      .op('dequantize_linear', { X: ['q'], Scale: ['s'], ZeroPoint: ['zp'] }, { Y: ['y'] }, { bit_length: 8, quant_axis: -1, round_type: 0 })
      .fetch('y');
    const x = Float32Array.from([0.3, -1.1, 2.49, -2.6, 7]);
    // round_type 0: round(x*127/s) to even, clipped to [-128, 127], times s/127
    const ref = Array.from(x, (v) => Math.min(127, Math.max(-128, Math.round(v * 127 / scale))) * scale / 127);
    for (const quant of ['qdq', 'float'] as const) {
      const { s, bytes, opsets } = await convertAcross(b(), [17], { quant });
      expect(opsets).toEqual([11, 17]);
      expect(opTypes(bytes).includes('QuantizeLinear')).toBe(quant === 'qdq');
      for (const N of [1, 2]) {
        const xs = new Float32Array(N * 5); for (let i = 0; i < N; i++) xs.set(x, i * 5);
        const y = (await s.run({ x: f32([N, 5], xs) }))['y']!;
        expect(maxDiff(y.data as Float32Array, Array.from({ length: N }, () => ref).flat())).toBeLessThan(1e-6);
      }
    }
  });

  it('dequantize_linear of int-valued weights with a per-channel Scale (quant_axis 0) feeds a conv like Paddle, in both forms (opset 13)', async () => {
    const q = Float32Array.from(seededFloats(O * C * K * K, 9, 127), Math.round); // integers in [-127, 127], stored as float
    const sc = Float32Array.from({ length: O }, (_, o) => 0.5 + 0.25 * o);
    const b = () => new ProgramBuilder().feed('x', 'float32', [-1, C, S, S]).param('wq', [O, C, K, K], q).param('ws', [O], sc)
      .variable('w', 'float32', [O, C, K, K]).variable('y', 'float32', [-1, O, S - K + 1, S - K + 1])
      .op('dequantize_linear', { X: ['wq'], Scale: ['ws'] }, { Y: ['w'] }, { bit_length: 8, quant_axis: 0 })
      .op('conv2d', { Input: ['x'], Filter: ['w'] }, { Output: ['y'] }, { strides: [1, 1], paddings: [0, 0], dilations: [1, 1], groups: 1 })
      .fetch('y');
    const per = C * K * K;
    const w64 = Array.from(q, (v, i) => (v * sc[Math.floor(i / per)]!) / 127);
    for (const quant of ['qdq', 'float'] as const) {
      const { s, bytes, opsets } = await convertAcross(b(), [17], { quant });
      expect(opsets).toEqual([13, 17]);
      expect(opTypes(bytes).includes('DequantizeLinear')).toBe(quant === 'qdq');
      for (const N of [1, 2]) {
        const x = seededFloats(N * C * S * S, 60 + N);
        const y = (await s.run({ x: f32([N, C, S, S], x) }))['y']!;
        expect(maxDiff(y.data as Float32Array, conv(x, [N, C, S, S], w64, O, K))).toBeLessThan(1e-4);
      }
    }
  });

  it('fake_dequantize_max_abs and fake_channel_wise_dequantize_max_abs rescale by Scale / max_range', async () => {
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 3, 2]).param('s', [1], Float32Array.of(4)).param('cs', [3], Float32Array.of(1, 2, 3))
      .variable('a', 'float32', [-1, 3, 2]).variable('y', 'float32', [-1, 3, 2])
      .op('fake_dequantize_max_abs', { X: ['x'], Scale: ['s'] }, { Out: ['a'] }, { max_range: 127 })
      .op('fake_channel_wise_dequantize_max_abs', { X: ['a'], Scales: ['cs'] }, { Out: ['y'] }, { quant_bits: [8], quant_axis: 1 })
      .fetch('a').fetch('y');
    const { s } = await convert(b);
    for (const N of [1, 2]) {
      const x = Float32Array.from({ length: N * 6 }, (_, i) => i - 5);
      const r = await s.run({ x: f32([N, 3, 2], x) });
      const a = Array.from(x, (v) => v * 4 / 127);
      expect(maxDiff(r['a']!.data as Float32Array, a)).toBeLessThan(1e-6);
      expect(maxDiff(r['y']!.data as Float32Array, a.map((v, i) => v * [1, 2, 3][Math.floor(i / 2) % 3]! / 127))).toBeLessThan(1e-6);
    }
  });

  it('pserve onnx --quant float (CLI) writes float ops only; --quant with --engine paddle2onnx is a usage error', () => {
    const dir = save(build());
    const file = join(root, 'cli-float.onnx');
    const r = cliJson<{ engine: string; file: string }>(['onnx', '--model_dir', dir, '--save_file', file, '--quant', 'float']);
    expect(r.code).toBe(0);
    expect(r.json.engine).toBe('native');
    const types = opTypes(readFileSync(file));
    expect(types).not.toContain('QuantizeLinear');
    expect(types).toContain('Floor'); // round half away from zero (round_type 1)
    const q = cliJson(['onnx', '--model_dir', dir, '--save_file', join(root, 'cli-qdq.onnx')]);
    expect(q.code).toBe(0);
    expect(opTypes(readFileSync(join(root, 'cli-qdq.onnx')))).toContain('QuantizeLinear');
    const bad = cliJson<{ ok: boolean; error: { code: string } }>(['onnx', '--model_dir', dir, '--save_file', join(root, 'x.onnx'), '--quant', 'float', '--engine', 'paddle2onnx']);
    expect(bad.code).toBe(2);
    expect(bad.json.error.code).toBe('E_USAGE');
  });

  it('a 4-bit quantizer is refused in QDQ form (ONNX int8) with the way out; --quant float converts it', async () => {
    const b = () => new ProgramBuilder().feed('x', 'float32', [-1, 4]).param('sc', [1], Float32Array.of(1)).variable('y', 'float32', [-1, 4])
      .op('fake_quantize_dequantize_moving_average_abs_max', { X: ['x'], InScale: ['sc'] }, { Out: ['y'] }, { bit_length: 4 }).fetch('y');
    expect(await code(convertToOnnx(save(b()), {}))).toBe('E_ONNX_OP_UNSUPPORTED');
    const { s } = await convert(b(), { quant: 'float' });
    const x = Float32Array.from([0.1, -0.33, 0.5, 2]);
    const y = (await s.run({ x: f32([1, 4], x) }))['y']!;
    expect(maxDiff(y.data as Float32Array, Array.from(x, (v) => fakeQD(v, 1, 7)))).toBeLessThan(1e-6);
  });
});

// ---------------------------------------------------------------- vision

/** float64 grid sample, Paddle's grid_sampler: X [N,C,H,W], grid [N,Ho,Wo,2] */
function gridSampleRef(x: Float32Array, [N, C, H, W]: number[], grid: Float32Array, Ho: number, Wo: number, mode: string, pad: string, ac: boolean): Float64Array {
  const unnorm = (v: number, size: number) => (ac ? ((v + 1) / 2) * (size - 1) : ((v + 1) * size - 1) / 2);
  const reflect = (v: number, size: number) => {
    const [lo, hi] = ac ? [0, size - 1] : [-0.5, size - 0.5];
    const span = hi - lo;
    if (span <= 0) return 0;
    let d = Math.abs(v - lo) % (2 * span);
    if (d > span) d = 2 * span - d;
    return Math.min(Math.max(lo + d, 0), size - 1);
  };
  const coord = (v: number, size: number) => {
    let c = unnorm(v, size);
    if (pad === 'border') c = Math.min(Math.max(c, 0), size - 1);
    if (pad === 'reflection') c = reflect(c, size);
    return c;
  };
  const out = new Float64Array(N * C * Ho * Wo);
  for (let n = 0; n < N; n++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) {
    const gx = coord(grid[((n * Ho + i) * Wo + j) * 2]!, W);
    const gy = coord(grid[((n * Ho + i) * Wo + j) * 2 + 1]!, H);
    for (let c = 0; c < C; c++) {
      const at = (yy: number, xx: number) => (yy < 0 || yy >= H || xx < 0 || xx >= W ? 0 : x[((n * C + c) * H + yy) * W + xx]!);
      let v: number;
      if (mode === 'nearest') v = at(Math.round(gy), Math.round(gx));
      else {
        const x0 = Math.floor(gx); const y0 = Math.floor(gy); const dx = gx - x0; const dy = gy - y0;
        v = at(y0, x0) * (1 - dx) * (1 - dy) + at(y0, x0 + 1) * dx * (1 - dy) + at(y0 + 1, x0) * (1 - dx) * dy + at(y0 + 1, x0 + 1) * dx * dy;
      }
      out[((n * C + c) * Ho + i) * Wo + j] = v;
    }
  }
  return out;
}

/** float64 roi_align, Paddle's kernel: avg of bilinear samples per bin */
function roiAlignRef(x: Float32Array, [, C, H, W]: number[], rois: number[][], batchOf: number[], ph: number, pw: number, scale: number, sr: number, aligned: boolean): Float64Array {
  const out = new Float64Array(rois.length * C * ph * pw);
  const off = aligned ? 0.5 : 0;
  rois.forEach((r, k) => {
    const n = batchOf[k]!;
    const x1 = r[0]! * scale - off; const y1 = r[1]! * scale - off;
    let rw = r[2]! * scale - off - x1; let rh = r[3]! * scale - off - y1;
    if (!aligned) { rw = Math.max(rw, 1); rh = Math.max(rh, 1); }
    const bw = rw / pw; const bh = rh / ph;
    const gh = sr > 0 ? sr : Math.ceil(rh / ph); const gw = sr > 0 ? sr : Math.ceil(rw / pw);
    for (let c = 0; c < C; c++) for (let i = 0; i < ph; i++) for (let j = 0; j < pw; j++) {
      let s = 0;
      for (let iy = 0; iy < gh; iy++) for (let ix = 0; ix < gw; ix++) {
        let y = y1 + i * bh + ((iy + 0.5) * bh) / gh;
        let xx = x1 + j * bw + ((ix + 0.5) * bw) / gw;
        if (y < -1 || y > H || xx < -1 || xx > W) continue;
        y = Math.max(y, 0); xx = Math.max(xx, 0);
        let yl = Math.floor(y); let xl = Math.floor(xx); let yh: number; let xh: number;
        if (yl >= H - 1) { yl = yh = H - 1; y = yl; } else yh = yl + 1;
        if (xl >= W - 1) { xl = xh = W - 1; xx = xl; } else xh = xl + 1;
        const ly = y - yl; const lx = xx - xl;
        const v = (yy: number, xq: number) => x[((n * C + c) * H + yy) * W + xq]!;
        s += (1 - ly) * (1 - lx) * v(yl, xl) + (1 - ly) * lx * v(yl, xh) + ly * (1 - lx) * v(yh, xl) + ly * lx * v(yh, xh);
      }
      out[((k * C + c) * ph + i) * pw + j] = s / (gh * gw);
    }
  });
  return out;
}

describe('vision ops', () => {
  for (const [mode, pad, ac] of [['bilinear', 'zeros', true], ['bilinear', 'border', false], ['bilinear', 'reflection', true], ['bilinear', 'reflection', false], ['nearest', 'zeros', false]] as const) {
    it(`grid_sampler ${mode} ${pad} align_corners=${ac} matches Paddle's sampling (opset 16) at batch 1 and 2`, async () => {
      const [C, H, W, Ho, Wo] = [2, 5, 6, 4, 3];
      const b = new ProgramBuilder().feed('x', 'float32', [-1, C, H, W]).feed('grid', 'float32', [-1, Ho, Wo, 2]).variable('y', 'float32', [-1, C, Ho, Wo])
        .op('grid_sampler', { X: ['x'], Grid: ['grid'] }, { Output: ['y'] }, { mode, padding_mode: pad, align_corners: ac }).fetch('y');
      const { s, opsets } = await convertAcross(b, [17]);
      expect(opsets).toEqual([16, 17]);
      for (const N of [1, 2]) {
        const x = seededFloats(N * C * H * W, 60 + N);
        // grid points inside and outside [-1, 1], none exactly halfway between pixels
        const grid = seededFloats(N * Ho * Wo * 2, 70 + N, 1.37);
        const y = (await s.run({ x: f32([N, C, H, W], x), grid: f32([N, Ho, Wo, 2], grid) }))['y']!;
        expect(maxDiff(y.data as Float32Array, gridSampleRef(x, [N, C, H, W], grid, Ho, Wo, mode, pad, ac))).toBeLessThan(1e-5);
      }
    });
  }

  it('grid_sampler refuses a 5-D input and an opset below 16 names the op', async () => {
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 1, 2, 3, 3]).feed('grid', 'float32', [-1, 2, 2, 2, 3]).variable('y', 'float32', [-1, 1, 2, 2, 2])
      .op('grid_sampler', { X: ['x'], Grid: ['grid'] }, { Output: ['y'] }, {}).fetch('y');
    expect(await code(convertToOnnx(save(b), {}))).toBe('E_ONNX_OP_UNSUPPORTED');
    const b2 = new ProgramBuilder().feed('x', 'float32', [-1, 1, 3, 3]).feed('grid', 'float32', [-1, 2, 2, 2]).variable('y', 'float32', [-1, 1, 2, 2])
      .op('grid_sampler', { X: ['x'], Grid: ['grid'] }, { Output: ['y'] }, {}).fetch('y');
    try { await convertToOnnx(save(b2), { opsetVersion: 13 }); expect.unreachable(); } catch (e) {
      expect((e as PserveError).code).toBe('E_ONNX_OPSET');
      expect((e as Error).message).toMatch(/grid_sampler/);
    }
  });

  for (const aligned of [false, true]) {
    it(`roi_align (aligned=${aligned}) with RoisNum spreads RoIs over images like Paddle, at batch 1 and 2`, async () => {
      const [C, H, W] = [3, 12, 10];
      const b = new ProgramBuilder().feed('x', 'float32', [-1, C, H, W]).feed('rois', 'float32', [-1, 4]).feed('num', 'int32', [-1])
        .variable('y', 'float32', [-1, C, 2, 3])
        .op('roi_align', { X: ['x'], ROIs: ['rois'], RoisNum: ['num'] }, { Out: ['y'] },
          { pooled_height: 2, pooled_width: 3, spatial_scale: 0.5, sampling_ratio: -1, aligned }).fetch('y');
      const { s, opsets } = await convertAcross(b, [17]);
      expect(opsets).toEqual([aligned ? 16 : 11, 17]);
      if (aligned) expect(await code(convertToOnnx(save(b), { opsetVersion: 15 }))).toBe('E_ONNX_OPSET');
      const rois = [[2, 3, 15, 20], [0, 0, 19.5, 23], [4.2, 6.1, 5, 7], [10, 2, 18, 9.5], [1, 1, 3, 22]];
      for (const [N, counts] of [[1, [5]], [2, [2, 3]], [2, [0, 5]]] as const) {
        const x = seededFloats(N * C * H * W, 80 + N);
        const batchOf = counts.flatMap((c, i) => new Array(c).fill(i));
        const y = (await s.run({ x: f32([N, C, H, W], x), rois: f32([5, 4], rois.flat()), num: { dtype: 'int32', dims: [N], data: Int32Array.from(counts) } }))['y']!;
        expect(y.dims).toEqual([5, C, 2, 3]);
        expect(maxDiff(y.data as Float32Array, roiAlignRef(x, [N, C, H, W], rois, batchOf, 2, 3, 0.5, -1, aligned))).toBeLessThan(1e-5);
      }
    });
  }

  it('roi_align without RoisNum reads image 0; a fixed sampling_ratio is kept', async () => {
    const [C, H, W] = [2, 8, 8];
    const b = new ProgramBuilder().feed('x', 'float32', [-1, C, H, W]).feed('rois', 'float32', [-1, 4]).variable('y', 'float32', [-1, C, 3, 3])
      .op('roi_align', { X: ['x'], ROIs: ['rois'] }, { Out: ['y'] }, { pooled_height: 3, pooled_width: 3, spatial_scale: 1, sampling_ratio: 2 }).fetch('y');
    const { s } = await convert(b);
    const rois = [[1, 1, 6, 7], [0.5, 2, 7.5, 3]];
    const x = seededFloats(C * H * W, 90);
    const y = (await s.run({ x: f32([1, C, H, W], x), rois: f32([2, 4], rois.flat()) }))['y']!;
    expect(maxDiff(y.data as Float32Array, roiAlignRef(x, [1, C, H, W], rois, [0, 0], 3, 3, 1, 2, false))).toBeLessThan(1e-5);
  });

  /** float64 pooling over Paddle's adaptive windows (or fixed ones when `fixed` is given) */
  function poolRef(x: Float32Array, dims: number[], out: number[], type: 'max' | 'avg'): Float64Array {
    const sp = dims.slice(2);
    const NC = dims[0]! * dims[1]!;
    const total = out.reduce((p, q) => p * q, 1);
    const res = new Float64Array(NC * total);
    const inTotal = sp.reduce((p, q) => p * q, 1);
    for (let nc = 0; nc < NC; nc++) for (let o = 0; o < total; o++) {
      const idx: number[] = []; let r = o;
      for (let d = out.length - 1; d >= 0; d--) { idx[d] = r % out[d]!; r = Math.floor(r / out[d]!); }
      const lo = idx.map((i, d) => Math.floor((i * sp[d]!) / out[d]!));
      const hi = idx.map((i, d) => Math.ceil(((i + 1) * sp[d]!) / out[d]!));
      let acc = type === 'max' ? -Infinity : 0; let cnt = 0;
      for (let p = 0; p < inTotal; p++) {
        const pi: number[] = []; let q = p;
        for (let d = sp.length - 1; d >= 0; d--) { pi[d] = q % sp[d]!; q = Math.floor(q / sp[d]!); }
        if (pi.some((v, d) => v < lo[d]! || v >= hi[d]!)) continue;
        const v = x[nc * inTotal + p]!;
        acc = type === 'max' ? Math.max(acc, v) : acc + v; cnt++;
      }
      res[nc * total + o] = type === 'max' ? acc : acc / cnt;
    }
    return res;
  }

  for (const [type, dyn] of [['avg', false], ['max', true], ['avg', true]] as const) {
    it(`adaptive ${type} pooling to 3x4 over uneven ${dyn ? 'run-time (-1)' : 'declared'} sizes matches Paddle's windows`, async () => {
      const shape = dyn ? [-1, 2, -1, -1] : [-1, 2, 7, 10];
      const b = new ProgramBuilder().feed('x', 'float32', shape).variable('y', 'float32', [-1, 2, 3, 4])
        .op('pool2d', { X: ['x'] }, { Out: ['y'] }, { pooling_type: type, ksize: [3, 4], adaptive: true, strides: [1, 1], paddings: [0, 0] }).fetch('y');
      const { s, opsets } = await convertAcross(b, [13, 17]);
      expect(opsets).toEqual([dyn ? 10 : 9, 13, 17]);
      for (const dims of dyn ? [[1, 2, 7, 10], [2, 2, 11, 5]] : [[1, 2, 7, 10], [2, 2, 7, 10]]) {
        const x = seededFloats(numel(dims), 95 + dims[0]!);
        const y = (await s.run({ x: f32(dims, x) }))['y']!;
        expect(y.dims).toEqual([dims[0], 2, 3, 4]);
        expect(maxDiff(y.data as Float32Array, poolRef(x, dims, [3, 4], type))).toBeLessThan(1e-6);
      }
    });
  }

  it('pool3d: max 2x2x2 stride 2, and adaptive avg to 2x3x2 (5-D), at batch 1 and 2', async () => {
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 2, 4, 6, 4]).variable('m', 'float32', [-1, 2, 2, 3, 2]).variable('a', 'float32', [-1, 2, 2, 3, 2])
      .op('pool3d', { X: ['x'] }, { Out: ['m'] }, { pooling_type: 'max', ksize: [2, 2, 2], strides: [2, 2, 2], paddings: [0, 0, 0] })
      .op('pool3d', { X: ['x'] }, { Out: ['a'] }, { pooling_type: 'avg', ksize: [2, 3, 2], adaptive: true, strides: [1, 1, 1], paddings: [0, 0, 0] })
      .fetch('m').fetch('a');
    const { s } = await convertAcross(b, [17]);
    for (const N of [1, 2]) {
      const dims = [N, 2, 4, 6, 4];
      const x = seededFloats(numel(dims), 120 + N);
      const r = await s.run({ x: f32(dims, x) });
      // 2x2x2 stride 2 on 4x6x4 = the adaptive windows to 2x3x2
      expect(maxDiff(r['m']!.data as Float32Array, poolRef(x, dims, [2, 3, 2], 'max'))).toBeLessThan(1e-6);
      expect(maxDiff(r['a']!.data as Float32Array, poolRef(x, dims, [2, 3, 2], 'avg'))).toBeLessThan(1e-6);
    }
  });

  it('trilinear_interp_v2 (align_corners) resizes depth, height and width like Paddle, at batch 1 and 2', async () => {
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 1, 2, 3, 2]).variable('y', 'float32', [-1, 1, 3, 5, 4])
      .op('trilinear_interp_v2', { X: ['x'] }, { Out: ['y'] }, { out_d: 3, out_h: 5, out_w: 4, align_corners: true, align_mode: 1, interp_method: 'trilinear', data_layout: 'NCDHW' })
      .fetch('y');
    const { s } = await convertAcross(b, [17]);
    const lin = (i: number, o: number, n: number) => (o === 1 ? 0 : (i * (n - 1)) / (o - 1));
    for (const N of [1, 2]) {
      const x = seededFloats(N * 12, 130 + N);
      const ref: number[] = [];
      for (let n = 0; n < N; n++) for (let d = 0; d < 3; d++) for (let h = 0; h < 5; h++) for (let w = 0; w < 4; w++) {
        const [sd, sh, sw] = [lin(d, 3, 2), lin(h, 5, 3), lin(w, 4, 2)];
        let v = 0;
        for (let a = 0; a < 2; a++) for (let bb = 0; bb < 3; bb++) for (let c = 0; c < 2; c++) {
          const wt = Math.max(0, 1 - Math.abs(sd - a)) * Math.max(0, 1 - Math.abs(sh - bb)) * Math.max(0, 1 - Math.abs(sw - c));
          v += wt * x[n * 12 + (a * 3 + bb) * 2 + c]!;
        }
        ref.push(v);
      }
      const y = (await s.run({ x: f32([N, 1, 2, 3, 2], x) }))['y']!;
      expect(y.dims).toEqual([N, 1, 3, 5, 4]);
      expect(maxDiff(y.data as Float32Array, ref)).toBeLessThan(1e-5);
    }
  });

  it('temporal_shift without a declared channel count and adaptive pooling to more than 64 per dim are refused with E_ONNX_OP_UNSUPPORTED', async () => {
    const ts = new ProgramBuilder().feed('x', 'float32', [-1, -1, 4, 4]).variable('y', 'float32', [-1, -1, 4, 4])
      .op('temporal_shift', { X: ['x'] }, { Out: ['y'] }, { seg_num: 2, shift_ratio: 0.25 }).fetch('y');
    expect(await code(convertToOnnx(save(ts), {}))).toBe('E_ONNX_OP_UNSUPPORTED');
    const ap = new ProgramBuilder().feed('x', 'float32', [-1, 1, -1, -1]).variable('y', 'float32', [-1, 1, 65, 1])
      .op('pool2d', { X: ['x'] }, { Out: ['y'] }, { pooling_type: 'avg', ksize: [65, 1], adaptive: true }).fetch('y');
    expect(await code(convertToOnnx(save(ap), {}))).toBe('E_ONNX_OP_UNSUPPORTED');
  });

  it('deformable_conv is refused up front with the reason (ONNX DeformConv is opset 19)', async () => {
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 1, 4, 4]).feed('off', 'float32', [-1, 18, 2, 2]).param('w', [1, 1, 3, 3], seededFloats(9, 3))
      .variable('y', 'float32', [-1, 1, 2, 2])
      .op('deformable_conv', { Input: ['x'], Offset: ['off'], Filter: ['w'] }, { Output: ['y'] }, { strides: [1, 1], paddings: [0, 0], dilations: [1, 1], groups: 1, deformable_groups: 1 }).fetch('y');
    try { await convertToOnnx(save(b), {}); expect.unreachable(); } catch (e) {
      expect((e as PserveError).code).toBe('E_ONNX_UNSUPPORTED_OPS');
      expect((e as Error).message).toMatch(/deformable_conv x1 \(ONNX DeformConv arrived in opset 19/);
    }
  });
});

// ---------------------------------------------------------------- PIR spellings

describe('PIR spellings', () => {
  interface V { name: string; dtype: DType; shape: number[] }
  const pirOp = (type: string, inputs: Record<string, string[]>, outputs: Record<string, string[]>, attrs: Record<string, AttrValue> = {}): OpNode => ({ type, inputs, outputs, attrs });
  /** a PIR program as the loader hands it over, with params served from memory */
  function pirModel(feeds: V[], fetches: V[], vars: V[], ops: OpNode[], params: Record<string, { shape: number[]; data: Float32Array }> = {}): LoadedModel {
    const spec = (v: V): TensorSpec => ({ name: v.name, dtype: v.dtype, shape: v.shape, lodLevel: 0 });
    const pv = Object.entries(params).map(([name, p]) => ({ name, dtype: 'float32' as DType, shape: p.shape }));
    const all = new Map<string, VarSpec>([...feeds, ...fetches, ...vars, ...pv].map((v) => [v.name, { ...spec(v), persistable: v.name in params }]));
    const io = [...feeds.map((f) => pirOp('data', {}, { 0: [f.name] }, { name: f.name })), ...ops, ...fetches.map((f) => pirOp('fetch', { 0: [f.name] }, {}, { name: f.name }))];
    return {
      format: 'paddle-pir', modelFile: 'mem', paramsFile: 'mem', paramsLayout: 'combined', feeds: feeds.map(spec), fetches: fetches.map(spec),
      blocks: [{ idx: 0, parentIdx: -1, ops: io, vars: all }],
      params: Object.entries(params).map(([name, p]) => ({ name, dtype: 'float32', shape: p.shape, numel: p.data.length, byteLength: p.data.byteLength, file: 'mem', dataOffset: 0 })),
      paramNames: Object.keys(params), warnings: [],
      readParam: (n: string) => Float32Array.from(params[n]!.data), programBytes: new Uint8Array(0),
    } as unknown as LoadedModel;
  }
  async function runPir(m: LoadedModel, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    const r = await convertToOnnx('mem', { model: m });
    const s = await openSession(r.bytes!);
    sessions.push(s);
    return s.run(feeds);
  }

  it('temporal_shift, grid_sample and roi_align read their operands by position', async () => {
    const f = (name: string, shape: number[], dtype: DType = 'float32'): V => ({ name, dtype, shape });
    const m = pirModel([f('x', [-1, 4, 3, 3]), f('grid', [-1, 2, 2, 2]), f('rois', [-1, 4]), f('num', [-1], 'int32')],
      [f('ts', [-1, 4, 3, 3]), f('gs', [-1, 4, 2, 2]), f('ra', [-1, 4, 2, 2])], [], [
        pirOp('temporal_shift', { 0: ['x'] }, { 0: ['ts'] }, { seg_num: 2, shift_ratio: 0.25, data_format: 'NCHW' }),
        pirOp('grid_sample', { 0: ['x'], 1: ['grid'] }, { 0: ['gs'] }, { mode: 'bilinear', padding_mode: 'border', align_corners: false }),
        pirOp('roi_align', { 0: ['x'], 1: ['rois'], 2: ['num'] }, { 0: ['ra'] }, { pooled_height: 2, pooled_width: 2, spatial_scale: 1, sampling_ratio: 2, aligned: false }),
      ]);
    const dims = [2, 4, 3, 3];
    const x = seededFloats(numel(dims), 140);
    const grid = seededFloats(2 * 2 * 2 * 2, 141, 1.2);
    const rois = [[0, 0, 2, 2], [0.5, 0.5, 2.5, 1.5], [1, 0, 2, 2]];
    const r = await runPir(m, { x: f32(dims, x), grid: f32([2, 2, 2, 2], grid), rois: f32([3, 4], rois.flat()), num: { dtype: 'int32', dims: [2], data: Int32Array.of(1, 2) } });
    expect(maxDiff(r['ts']!.data as Float32Array, temporalShiftRef(x, dims, 2, 0.25, false))).toBe(0);
    expect(maxDiff(r['gs']!.data as Float32Array, gridSampleRef(x, dims, grid, 2, 2, 'bilinear', 'border', false))).toBeLessThan(1e-5);
    expect(maxDiff(r['ra']!.data as Float32Array, roiAlignRef(x, dims, rois, [0, 1, 1], 2, 2, 1, 2, false))).toBeLessThan(1e-5);
  });

  it('rnn takes PreState and WeightList as builtin.combine lists', async () => {
    const [T, I, H] = [3, 4, 2];
    const f = (name: string, shape: number[]): V => ({ name, dtype: 'float32', shape });
    const params: Record<string, { shape: number[]; data: Float32Array }> = {
      wih: { shape: [3 * H, I], data: seededFloats(3 * H * I, 150, 0.7) }, whh: { shape: [3 * H, H], data: seededFloats(3 * H * H, 151, 0.7) },
      bih: { shape: [3 * H], data: seededFloats(3 * H, 152, 0.2) }, bhh: { shape: [3 * H], data: seededFloats(3 * H, 153, 0.2) },
    };
    const m = pirModel([f('x', [T, -1, I]), f('h0', [1, -1, H])], [f('y', [T, -1, H])],
      [{ name: 'states', dtype: 'unknown' as DType, shape: [] }, { name: 'weights', dtype: 'unknown' as DType, shape: [] }, f('dso', [-1]), f('hn', [1, -1, H]), f('res', [-1])], [
        pirOp('combine', { 0: ['h0'] }, { 0: ['states'] }),
        pirOp('combine', { 0: ['wih'], 1: ['whh'], 2: ['bih'], 3: ['bhh'] }, { 0: ['weights'] }),
        pirOp('rnn', { 0: ['x'], 1: ['states'], 2: ['weights'], 3: [''], 4: [''] }, { 0: ['y'], 1: ['dso'], 2: ['hn'], 3: ['res'] },
          { mode: 'GRU', hidden_size: H, input_size: I, num_layers: 1, is_bidirec: false, is_test: true, dropout_prob: 0 }),
      ], params);
    const x = seededFloats(T * 2 * I, 154);
    const h0 = seededFloats(2 * H, 155, 0.5);
    const r = await runPir(m, { x: f32([T, 2, I], x), h0: f32([1, 2, H], h0) });
    const ref = rnnRef('GRU', x, [T, 2, I], 1, 1, H, [params['wih']!.data, params['whh']!.data, params['bih']!.data, params['bhh']!.data], h0, undefined);
    expect(maxDiff(r['y']!.data as Float32Array, ref.out)).toBeLessThan(1e-5);
  });
});
