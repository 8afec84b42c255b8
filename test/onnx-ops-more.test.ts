/**
 * Mappers that had no test of their own (issue 10, "Done when": each mapper against an independent
 * reference covering its attributes, at batch 1 and 2 and at the opsets it claims): binary max /
 * min / pow with Paddle's `axis` broadcast, the plain unary ops, amin, arg_max, swish / silu,
 * conv2d_transpose, unsqueeze2, the fake quantizers that output integers, and select_output. Each
 * tiny Paddle program (legacy, and PIR where the op has a PIR spelling) is converted natively, run
 * in onnxruntime, and compared with float64 code written here from Paddle's operator definitions.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PserveError } from '../src/errors.js';
import { convertToOnnx } from '../src/convert/onnx/index.js';
import { ProgramBuilder } from '../src/formats/program-builder.js';
import { openSession, type HostTensor } from '../src/runtime/onnx-runtime.js';
import { tempDir } from './helpers.js';
import {
  erf, legacyProgram, map1, map2, pirOp, positive, realistic, reduceRef, runCase, runPirCase, type CaseInput, type OpCase, type T64,
} from './onnx-op-case.js';

const dir = tempDir('pserve-ops-more-');
const X: CaseInput = { slot: 'X', name: 'x', shape: [-1, 3, 4, 5] };
const OUT = [{ slot: 'Out', name: 'y', shape: [-1, 3, 4, 5] }];

/** Y of rank r placed at `axis` of X (Paddle's legacy elementwise broadcast): trailing unit dims */
function atAxis(y: T64, xRank: number, axis: number): T64 {
  if (axis < 0) return y;
  return { dims: [...y.dims, ...new Array(xRank - axis - y.dims.length).fill(1)], data: y.data };
}

async function refused(c: OpCase, opset?: number): Promise<PserveError> {
  const d = join(dir, `refused-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  const b = legacyProgram(c);
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  if (c.ins.some((i) => i.param)) writeFileSync(join(d, 'inference.pdiparams'), b.paramsBytes());
  const e = await convertToOnnx(d, { ...c.options, ...(opset ? { opsetVersion: opset } : {}) }).catch((err: unknown) => err);
  expect(e).toBeInstanceOf(PserveError);
  return e as PserveError;
}

// ------------------------------------------------------------------ binary max / min / pow

describe('elementwise_max / _min / _pow (legacy axis broadcast) and maximum / minimum (PIR)', () => {
  const bx: CaseInput = { slot: 'X', name: 'x', shape: [-1, 3, 4] };
  const bout = [{ slot: 'Out', name: 'y', shape: [-1, 3, 4] }];
  const rows: [string, (a: number, b: number) => number][] = [['elementwise_max', Math.max], ['elementwise_min', Math.min]];

  it('max / min: same shape, Y [3] at axis 1, Y [4] at axis -1 (numpy), at opsets 9, 13, 17', async () => {
    const y3 = [0.5, -1, 2];
    for (const [op, fn] of rows) {
      await runCase({
        op, attrs: { axis: -1 }, ins: [bx, { slot: 'Y', name: 'b', shape: [-1, 3, 4], values: (n) => realistic(n, 3, 5) }], outs: bout, opsets: [9, 13, 17],
        ref: ({ x, b }) => ({ y: map2(x!, b!, fn) }),
      }, dir);
      await runCase({
        op, attrs: { axis: 1 }, ins: [bx, { slot: 'Y', name: 'b', shape: [3], param: y3 }], outs: bout, opsets: [9, 13, 17],
        ref: ({ x, b }) => ({ y: map2(x!, atAxis(b!, 3, 1), fn) }),
      }, dir);
      await runCase({
        op, attrs: { axis: -1 }, ins: [bx, { slot: 'Y', name: 'b', shape: [4], param: [0, 1.5, -0.25, 6] }], outs: bout, opsets: [9, 13],
        ref: ({ x, b }) => ({ y: map2(x!, b!, fn) }),
      }, dir);
    }
    // int32 operands keep their dtype (ONNX Max/Min take integers from opset 12)
    const ints = (n: number) => Array.from({ length: n }, (_, i) => ((i * 37) % 41) - 20);
    await runCase({
      op: 'elementwise_max', attrs: { axis: 1 }, ins: [{ ...bx, dtype: 'int32', values: ints }, { slot: 'Y', name: 'b', shape: [3], dtype: 'int32', param: [-3, 0, 5] }],
      outs: [{ ...bout[0]!, dtype: 'int32' }], opsets: [13, 17], ref: ({ x, b }) => ({ y: map2(x!, atAxis(b!, 3, 1), Math.max) }),
    }, dir);
  });

  it('pow: Y [3] at axis 1 (square, root, negative power) and a same-shape Y, at opsets 9, 13, 17', async () => {
    const e3 = [2, 0.5, -1.5];
    await runCase({
      op: 'elementwise_pow', attrs: { axis: 1 }, ins: [{ ...bx, values: positive }, { slot: 'Y', name: 'b', shape: [3], param: e3 }], outs: bout, opsets: [9, 13, 17],
      ref: ({ x, b }) => ({ y: map2(x!, atAxis(b!, 3, 1), (p, q) => p ** q) }),
    }, dir);
    await runCase({
      op: 'elementwise_pow', attrs: { axis: -1 }, ins: [{ ...bx, values: positive }, { slot: 'Y', name: 'b', shape: [-1, 3, 4], values: (n) => realistic(n, 1.5, 4) }], outs: bout, opsets: [9, 13],
      ref: ({ x, b }) => ({ y: map2(x!, b!, (p, q) => p ** q) }), tol: 2e-5,
    }, dir);
  });

  it('PIR maximum / minimum / elementwise_pow broadcast numpy-style (Y [4] against [N,3,4])', async () => {
    const x = { slot: '0', name: 'x', shape: [-1, 3, 4] };
    const yb = { slot: '1', name: 'b', shape: [-1, 3, 4], values: (n: number) => realistic(n, 3, 6) };
    const out = [{ slot: '0', name: 'y', shape: [-1, 3, 4] }];
    await runPirCase({ op: 'maximum', ins: [x, yb], outs: out, opsets: [9, 13], ref: ({ x: a, b }) => ({ y: map2(a!, b!, Math.max) }) });
    await runPirCase({ op: 'minimum', ins: [x, yb], outs: out, opsets: [9, 13], ref: ({ x: a, b }) => ({ y: map2(a!, b!, Math.min) }) });
    await runPirCase({
      op: 'elementwise_pow', ins: [{ ...x, values: positive }, { ...yb, values: (n: number) => realistic(n, 1, 2) }], outs: out, opsets: [13], tol: 2e-5,
      ref: ({ x: a, b }) => ({ y: map2(a!, b!, (p, q) => p ** q) }),
    });
  });

  it('integer operands need Max / Min / Pow-12: the opset is raised to 12 by default, and a lower one is refused naming the op', async () => {
    const ints = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7) % 9) - 4);
    const small = (n: number) => Array.from({ length: n }, (_, i) => i % 4);
    const rows: [string, (a: number, b: number) => number][] = [['elementwise_max', Math.max], ['elementwise_min', Math.min], ['elementwise_pow', (a, b) => a ** b]];
    for (const [op, fn] of rows) {
      const c: OpCase = {
        op, attrs: { axis: -1 }, ins: [{ ...bx, dtype: 'int32', values: ints }, { slot: 'Y', name: 'b', shape: [-1, 3, 4], dtype: 'int32', values: small }],
        outs: [{ ...bout[0]!, dtype: 'int32' }], opsets: [12, 17], ref: ({ x, b }) => ({ y: map2(x!, b!, fn) }),
      };
      await runCase(c, dir);
      const d = join(dir, `${op}-int-default`);
      mkdirSync(d);
      writeFileSync(join(d, 'inference.pdmodel'), legacyProgram(c).programBytes());
      expect((await convertToOnnx(d, {})).opset).toBe(12);
      const e = await refused(c, 11);
      expect(e.code).toBe('E_ONNX_OPSET');
      expect(e.message).toMatch(new RegExp(`${op} needs 12 \\((Max|Min|Pow) on int32\\)`));
    }
  });

  it('an axis that does not fit the ranks is refused naming the op', async () => {
    const e = await refused({
      op: 'elementwise_max', attrs: { axis: 2 }, ins: [bx, { slot: 'Y', name: 'b', shape: [3, 4], param: new Array(12).fill(1) }], outs: bout, opsets: [], ref: () => ({}),
    });
    expect(e.code).toBe('E_ONNX_OP_UNSUPPORTED');
    expect(e.message).toMatch(/elementwise_max.*axis 2 does not fit/);
  });
});

// ------------------------------------------------------------------ plain unary ops

describe('unary ops (legacy; float64 references)', () => {
  const unit = (n: number) => realistic(n).map((v) => Math.fround(Math.sin(v)));
  const nonzero = (n: number) => realistic(n).map((v) => (Math.abs(v) < 0.05 ? 0.75 : v));
  const cases: [string, (v: number) => number, number, ((n: number) => number[])?][] = [
    ['exp', Math.exp, 9], ['sqrt', Math.sqrt, 9, positive], ['abs', Math.abs, 9], ['ceil', Math.ceil, 9], ['log', Math.log, 9, positive],
    ['sin', Math.sin, 9], ['cos', Math.cos, 9], ['tan', Math.tan, 9, (n) => realistic(n, 1.2).map((v) => Math.fround(v / 4.2))],
    ['asin', Math.asin, 9, unit], ['acos', Math.acos, 9, unit], ['atan', Math.atan, 9],
    ['sinh', Math.sinh, 9], ['cosh', Math.cosh, 9], ['erf', erf, 9], ['reciprocal', (v) => 1 / v, 9, nonzero],
  ];
  for (const [op, fn, min, values] of cases) {
    it(`${op} at opsets ${min}, 13, 17, batch 1 and 2`, async () => {
      await runCase({ op, ins: [{ ...X, ...(values ? { values } : {}) }], outs: OUT, opsets: [min, 13, 17], ref: (t) => ({ y: map1(t['x']!, fn) }) }, dir);
    });
  }

  it('PIR in-place spellings (exp_, sqrt_, abs_, ceil_, log_, sin_, cos_, reciprocal_) read operand 0', async () => {
    const x = { slot: '0', name: 'x', shape: [-1, 3, 4] };
    const out = [{ slot: '0', name: 'y', shape: [-1, 3, 4] }];
    const pir: [string, (v: number) => number, ((n: number) => number[])?][] = [
      ['exp_', Math.exp], ['sqrt_', Math.sqrt, positive], ['abs_', Math.abs], ['ceil_', Math.ceil], ['log_', Math.log, positive],
      ['sin_', Math.sin], ['cos_', Math.cos], ['reciprocal_', (v) => 1 / v, positive],
    ];
    for (const [op, fn, values] of pir) {
      await runPirCase({ op, ins: [{ ...x, ...(values ? { values } : {}) }], outs: out, opsets: [13], ref: ({ x: t }) => ({ y: map1(t!, fn) }) });
    }
  });
});

// ------------------------------------------------------------------ swish / silu

describe('swish / silu', () => {
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  it('swish beta 1 and 2.5 (legacy), silu (legacy, no beta), at opsets 9, 13, 17', async () => {
    await runCase({ op: 'swish', attrs: { beta: { f: 1 } }, ins: [X], outs: OUT, opsets: [9, 13, 17], ref: ({ x }) => ({ y: map1(x!, (v) => v * sig(v)) }) }, dir);
    await runCase({ op: 'swish', attrs: { beta: { f: 2.5 } }, ins: [X], outs: OUT, opsets: [9, 13], ref: ({ x }) => ({ y: map1(x!, (v) => v * sig(2.5 * v)) }) }, dir);
    await runCase({ op: 'silu', ins: [{ ...X, values: (n) => realistic(n, 8) }], outs: OUT, opsets: [9, 13, 17], ref: ({ x }) => ({ y: map1(x!, (v) => v * sig(v)) }) }, dir);
  });

  it('PIR silu / silu_ / swish', async () => {
    const x = { slot: '0', name: 'x', shape: [-1, 3, 4] };
    const out = [{ slot: '0', name: 'y', shape: [-1, 3, 4] }];
    for (const op of ['silu', 'silu_', 'swish']) {
      await runPirCase({ op, ins: [x], outs: out, opsets: [9, 13], ref: ({ x: t }) => ({ y: map1(t!, (v) => v * sig(v)) }) });
    }
  });
});

// ------------------------------------------------------------------ amin

describe('amin (PIR; legacy reduce_amin)', () => {
  const R = { slot: '0', name: 'x', shape: [-1, 3, 4, 5] };
  it('axis [1, -1] / [2] with and without keepdim, and every axis (0-D)', async () => {
    await runPirCase({ op: 'amin', attrs: { axis: [1, -1], keepdim: false }, ins: [R], outs: [{ slot: '0', name: 'y', shape: [-1, 4] }], opsets: [9, 13, 17], ref: ({ x }) => ({ y: reduceRef(x!, [1, 3], false, Infinity, Math.min) }) });
    await runPirCase({ op: 'amin', attrs: { axis: [2], keepdim: true }, ins: [R], outs: [{ slot: '0', name: 'y', shape: [-1, 3, 1, 5] }], opsets: [9, 13, 17], ref: ({ x }) => ({ y: reduceRef(x!, [2], true, Infinity, Math.min) }) });
    await runPirCase({ op: 'amin', attrs: { axis: [], keepdim: false }, ins: [R], outs: [{ slot: '0', name: 'y', shape: [] }], opsets: [13], ref: ({ x }) => ({ y: reduceRef(x!, null, false, Infinity, Math.min) }) });
  });

  it('legacy reduce_amin (dim, keep_dim, reduce_all)', async () => {
    await runCase({
      op: 'reduce_amin', attrs: { dim: [1, -1], keep_dim: false, reduce_all: false }, ins: [X], outs: [{ slot: 'Out', name: 'y', shape: [-1, 4] }], opsets: [9, 13, 17],
      ref: ({ x }) => ({ y: reduceRef(x!, [1, 3], false, Infinity, Math.min) }),
    }, dir);
    await runCase({
      op: 'reduce_amin', attrs: { dim: [0], keep_dim: true, reduce_all: true }, ins: [X], outs: [{ slot: 'Out', name: 'y', shape: [1, 1, 1, 1] }], opsets: [13],
      ref: ({ x }) => ({ y: reduceRef(x!, null, true, Infinity, Math.min) }),
    }, dir);
    await runCase({
      op: 'reduce_amax', attrs: { dim: [2], keep_dim: false, reduce_all: false }, ins: [X], outs: [{ slot: 'Out', name: 'y', shape: [-1, 3, 5] }], opsets: [9, 13],
      ref: ({ x }) => ({ y: reduceRef(x!, [2], false, -Infinity, Math.max) }),
    }, dir);
  });
});

// ------------------------------------------------------------------ arg_max

/** index of the first maximum along `axis` (keepdims: a unit dim stays) */
function argmax(t: T64, axis: number, keep: boolean): T64 {
  const ax = axis < 0 ? axis + t.dims.length : axis;
  const inner = t.dims.slice(ax + 1).reduce((a, b) => a * b, 1);
  const len = t.dims[ax]!;
  const outer = t.data.length / (inner * len);
  const data = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    let best = -Infinity; let at = 0;
    for (let k = 0; k < len; k++) { const v = t.data[(o * len + k) * inner + i]!; if (v > best) { best = v; at = k; } }
    data[o * inner + i] = at;
  }
  return { dims: keep ? t.dims.map((d, i) => (i === ax ? 1 : d)) : t.dims.filter((_, i) => i !== ax), data };
}

describe('arg_max / argmax', () => {
  // ties included (the grid repeats values): Paddle and ONNX both return the first maximum
  const ties = (n: number) => realistic(n).map((v, i) => (i % 5 === 2 ? 2.5 : v));
  it('axis 1 (int64), axis -1 with keepdims (int32, dtype 2), at opsets 9, 13, 17', async () => {
    await runCase({
      op: 'arg_max', attrs: { axis: 1, keepdims: false, flatten: false, dtype: 3 }, ins: [{ ...X, values: ties }], outs: [{ slot: 'Out', name: 'y', shape: [-1, 4, 5], dtype: 'int64' }],
      opsets: [9, 13, 17], ref: ({ x }) => ({ y: argmax(x!, 1, false) }),
    }, dir);
    await runCase({
      op: 'arg_max', attrs: { axis: -1, keepdims: true, flatten: false, dtype: 2 }, ins: [{ ...X, values: ties }], outs: [{ slot: 'Out', name: 'y', shape: [-1, 3, 4, 1], dtype: 'int32' }],
      opsets: [9, 13, 17], ref: ({ x }) => ({ y: argmax(x!, -1, true) }),
    }, dir);
  });

  it('flatten: the index into the whole tensor; keepdims gives [1,1,1,1], without it 0-D (Paddle 2.5+) or [1] (older)', async () => {
    const flat = (t: T64, dims: number[]): T64 => ({ dims, data: argmax({ dims: [t.data.length], data: t.data }, 0, false).data });
    await runCase({
      op: 'arg_max', attrs: { axis: 0, keepdims: true, flatten: true, dtype: 3 }, ins: [X], outs: [{ slot: 'Out', name: 'y', shape: [1, 1, 1, 1], dtype: 'int64' }],
      opsets: [9, 13], ref: ({ x }) => ({ y: flat(x!, [1, 1, 1, 1]) }),
    }, dir);
    for (const shape of [[], [1]]) {
      await runCase({
        op: 'arg_max', attrs: { axis: 0, keepdims: false, flatten: true, dtype: -1 }, ins: [X], outs: [{ slot: 'Out', name: 'y', shape, dtype: 'int64' }],
        opsets: [9, 13], ref: ({ x }) => ({ y: flat(x!, shape) }),
      }, dir);
    }
  });

  it('PIR argmax: the axis operand from full, keepdims, dtype int32', async () => {
    const axs = { name: 'ax', dtype: 'int64' as const, shape: [] };
    await runPirCase({
      op: 'argmax', attrs: { keepdims: false, flatten: false, dtype: 'int32' }, ins: [{ slot: '0', name: 'x', shape: [-1, 3, 4], values: ties }], operands: { 1: 'ax' },
      pre: [pirOp('full', {}, { 0: ['ax'] }, { shape: [], value: 1, dtype: 'int64' })], extraVars: [axs],
      outs: [{ slot: '0', name: 'y', shape: [-1, 4], dtype: 'int32' }], opsets: [9, 13, 17], ref: ({ x }) => ({ y: argmax(x!, 1, false) }),
    });
    await runPirCase({
      op: 'argmax', attrs: { keepdims: true, flatten: false, dtype: 'int64' }, ins: [{ slot: '0', name: 'x', shape: [-1, 3, 4], values: ties }], operands: { 1: 'ax' },
      pre: [pirOp('full', {}, { 0: ['ax'] }, { shape: [], value: -1, dtype: 'int64' })], extraVars: [axs],
      outs: [{ slot: '0', name: 'y', shape: [-1, 3, 1], dtype: 'int64' }], opsets: [9, 13], ref: ({ x }) => ({ y: argmax(x!, -1, true) }),
    });
  });
});

// ------------------------------------------------------------------ conv2d_transpose

interface ConvGeom { stride: number[]; begin: number[]; end: number[]; dil: number[]; groups: number; extra?: number[] }

/**
 * Paddle's transposed conv, float64, NCHW: every input pixel (i, j) of channel ci scatters
 * x * w[ci, co_local] onto out[i·s - pad_begin + u·d, ...] of the output channels of its group;
 * the output is (in - 1)·s - pads + d·(k - 1) + 1 (+ output_padding, extra rows at the end).
 */
function convTransposeRef(x: T64, w: T64, g: ConvGeom): T64 {
  const [N, C, H, W] = x.dims as [number, number, number, number];
  const [, cog, kh, kw] = w.dims as [number, number, number, number];
  const Co = cog * g.groups;
  const OH = (H - 1) * g.stride[0]! - g.begin[0]! - g.end[0]! + g.dil[0]! * (kh - 1) + 1 + (g.extra?.[0] ?? 0);
  const OW = (W - 1) * g.stride[1]! - g.begin[1]! - g.end[1]! + g.dil[1]! * (kw - 1) + 1 + (g.extra?.[1] ?? 0);
  const out = new Float64Array(N * Co * OH * OW);
  const cig = C / g.groups;
  for (let n = 0; n < N; n++) for (let ci = 0; ci < C; ci++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const xv = x.data[((n * C + ci) * H + i) * W + j]!;
    const grp = Math.floor(ci / cig);
    for (let cl = 0; cl < cog; cl++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const oy = i * g.stride[0]! - g.begin[0]! + u * g.dil[0]!;
      const ox = j * g.stride[1]! - g.begin[1]! + v * g.dil[1]!;
      if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
      out[((n * Co + grp * cog + cl) * OH + oy) * OW + ox]! += xv * w.data[((ci * cog + cl) * kh + u) * kw + v]!;
    }
  }
  return { dims: [N, Co, OH, OW], data: out };
}

/** forward conv, float64, NCHW, groups 1 */
function convRef(x: T64, w: T64, g: ConvGeom): T64 {
  const [N, C, H, W] = x.dims as [number, number, number, number];
  const [Co, , kh, kw] = w.dims as [number, number, number, number];
  const OH = Math.floor((H + g.begin[0]! + g.end[0]! - (g.dil[0]! * (kh - 1) + 1)) / g.stride[0]!) + 1;
  const OW = Math.floor((W + g.begin[1]! + g.end[1]! - (g.dil[1]! * (kw - 1) + 1)) / g.stride[1]!) + 1;
  const out = new Float64Array(N * Co * OH * OW);
  for (let n = 0; n < N; n++) for (let o = 0; o < Co; o++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    let s = 0;
    for (let c = 0; c < C; c++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const yy = i * g.stride[0]! - g.begin[0]! + u * g.dil[0]!;
      const xx = j * g.stride[1]! - g.begin[1]! + v * g.dil[1]!;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      s += x.data[((n * C + c) * H + yy) * W + xx]! * w.data[((o * C + c) * kh + u) * kw + v]!;
    }
    out[((n * Co + o) * OH + i) * OW + j] = s;
  }
  return { dims: [N, Co, OH, OW], data: out };
}

/** NHWC <-> NCHW for the references */
function toNchw(t: T64): T64 {
  const [N, H, W, C] = t.dims as [number, number, number, number];
  const out = new Float64Array(t.data.length);
  for (let n = 0; n < N; n++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < C; c++) out[((n * C + c) * H + i) * W + j] = t.data[((n * H + i) * W + j) * C + c]!;
  return { dims: [N, C, H, W], data: out };
}
function toNhwc(t: T64): T64 {
  const [N, C, H, W] = t.dims as [number, number, number, number];
  const out = new Float64Array(t.data.length);
  for (let n = 0; n < N; n++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < C; c++) out[((n * H + i) * W + j) * C + c] = t.data[((n * C + c) * H + i) * W + j]!;
  return { dims: [N, H, W, C], data: out };
}

describe('conv2d_transpose / depthwise_conv2d_transpose', () => {
  const xin: CaseInput = { slot: 'Input', name: 'x', shape: [-1, 4, 5, 6] };
  const filter = (shape: number[], seed = 3): CaseInput => ({ slot: 'Filter', name: 'w', shape, param: realistic(shape.reduce((a, b) => a * b, 1), 0.5, seed) });
  const base = { strides: [2, 2], paddings: [1, 1], dilations: [1, 1], groups: 1, data_format: 'NCHW', padding_algorithm: 'EXPLICIT', output_padding: [] as number[], output_size: [] as number[] };
  const T = (attrs: Record<string, unknown>, w: number[], outShape: number[], geom: ConvGeom, op = 'conv2d_transpose', opsets = [9, 13, 17]): OpCase => ({
    op, attrs: { ...base, ...attrs } as OpCase['attrs'], ins: [xin, filter(w)], outs: [{ slot: 'Output', name: 'y', shape: outShape }], opsets, tol: 1e-4,
    ref: ({ x, w: f }) => ({ y: convTransposeRef(x!, f!, geom) }),
  });

  it('stride 2, paddings [1, 1], output_padding [1, 1]', async () => {
    await runCase(T({ output_padding: [1, 1] }, [4, 3, 3, 3], [-1, 3, 10, 12], { stride: [2, 2], begin: [1, 1], end: [1, 1], dil: [1, 1], groups: 1, extra: [1, 1] }), dir);
  });

  it('strides [2, 1], four paddings [top 0, bottom 1, left 2, right 1], dilations [2, 1], groups 2', async () => {
    await runCase(T({ strides: [2, 1], paddings: [0, 1, 2, 1], dilations: [2, 1], groups: 2 }, [4, 3, 3, 2], [-1, 6, 12, 4], { stride: [2, 1], begin: [0, 2], end: [1, 1], dil: [2, 1], groups: 2 }), dir);
  });

  it('padding_algorithm SAME (pads of a forward conv of the input, odd pixel at the end, dilations ignored) and VALID', async () => {
    // H 5: pad_sum 2 -> 1, 1; W 6: pad_sum 1 -> 0, 1
    await runCase(T({ padding_algorithm: 'SAME', dilations: [2, 2], paddings: [0, 0] }, [4, 3, 3, 3], [-1, 3, 9, 12], { stride: [2, 2], begin: [1, 0], end: [1, 1], dil: [1, 1], groups: 1 }), dir);
    await runCase(T({ padding_algorithm: 'VALID', paddings: [3, 3] }, [4, 3, 3, 3], [-1, 3, 11, 13], { stride: [2, 2], begin: [0, 0], end: [0, 0], dil: [1, 1], groups: 1 }), dir);
  });

  it('output_size [10, 12] (= the extra row and column at the end); one outside Paddle\'s range and an undeclared input size are refused', async () => {
    await runCase(T({ output_size: [10, 12] }, [4, 3, 3, 3], [-1, 3, 10, 12], { stride: [2, 2], begin: [1, 1], end: [1, 1], dil: [1, 1], groups: 1, extra: [1, 1] }), dir);
    const far = await refused(T({ output_size: [11, 12] }, [4, 3, 3, 3], [-1, 3, 11, 12], { stride: [2, 2], begin: [1, 1], end: [1, 1], dil: [1, 1], groups: 1 }));
    expect(far.code).toBe('E_ONNX_OP_UNSUPPORTED');
    expect(far.message).toMatch(/conv2d_transpose.*output_size 11 \(dim 0\) is outside \[9, 11\)/);
    const dyn: OpCase = { ...T({ output_size: [10, 12] }, [4, 3, 3, 3], [-1, 3, 10, 12], { stride: [2, 2], begin: [1, 1], end: [1, 1], dil: [1, 1], groups: 1 }), ins: [{ ...xin, shape: [-1, 4, -1, -1] }, filter([4, 3, 3, 3])] };
    const e = await refused(dyn);
    expect(e.code).toBe('E_ONNX_OP_UNSUPPORTED');
    expect(e.message).toMatch(/output_size needs the input size/);
    const same = await refused({ ...dyn, attrs: { ...base, padding_algorithm: 'SAME' } as OpCase['attrs'] });
    expect(same.message).toMatch(/SAME pads by the input size/);
  });

  it('NHWC (data_format), stride 2, paddings [1, 1]', async () => {
    await runCase({
      op: 'conv2d_transpose', attrs: { ...base, data_format: 'NHWC' } as OpCase['attrs'], ins: [{ ...xin, shape: [-1, 5, 6, 4] }, filter([4, 3, 3, 3])],
      outs: [{ slot: 'Output', name: 'y', shape: [-1, 9, 11, 3] }], opsets: [9, 13, 17], tol: 1e-4,
      ref: ({ x, w }) => ({ y: toNhwc(convTransposeRef(toNchw(x!), w!, { stride: [2, 2], begin: [1, 1], end: [1, 1], dil: [1, 1], groups: 1 })) }),
    }, dir);
  });

  it('depthwise_conv2d_transpose: groups = channels, filter [C, 1, 3, 3]', async () => {
    await runCase(T({ groups: 4 }, [4, 1, 3, 3], [-1, 4, 9, 11], { stride: [2, 2], begin: [1, 1], end: [1, 1], dil: [1, 1], groups: 4 }, 'depthwise_conv2d_transpose'), dir);
  });

  it('PIR conv2d_transpose: the filter and an empty output_size (full_int_array) as operands', async () => {
    const os = { name: 'os', dtype: 'int64' as const, shape: [0] };
    await runPirCase({
      op: 'conv2d_transpose', attrs: { strides: [2, 2], paddings: [1, 1], output_padding: [1, 0], dilations: [1, 1], groups: 1, data_format: 'NCHW', padding_algorithm: 'EXPLICIT' },
      ins: [{ slot: '0', name: 'x', shape: [-1, 4, 5, 6] }, { slot: '1', name: 'w', shape: [4, 3, 3, 3], values: (n) => realistic(n, 0.5, 3) }], operands: { 2: 'os' },
      pre: [pirOp('full_int_array', {}, { 0: ['os'] }, { value: [], dtype: 'int64' })], extraVars: [os],
      outs: [{ slot: '0', name: 'y', shape: [-1, 3, 10, 11] }], opsets: [13], tol: 1e-4,
      ref: ({ x, w }) => ({ y: convTransposeRef(x!, w!, { stride: [2, 2], begin: [1, 1], end: [1, 1], dil: [1, 1], groups: 1, extra: [1, 0] }) }),
    });
  });

  it('conv2d with SAME ignores dilations as Paddle does (shared conv attribute code)', async () => {
    await runCase({
      op: 'conv2d', attrs: { strides: [2, 2], paddings: [0, 0], dilations: [2, 2], groups: 1, padding_algorithm: 'SAME', data_format: 'NCHW' },
      ins: [xin, filter([3, 4, 3, 3], 7)], outs: [{ slot: 'Output', name: 'y', shape: [-1, 3, 3, 3] }], opsets: [9, 13], tol: 1e-4,
      ref: ({ x, w }) => ({ y: convRef(x!, w!, { stride: [2, 2], begin: [1, 0], end: [1, 1], dil: [1, 1], groups: 1 }) }),
    }, dir);
  });
});

// ------------------------------------------------------------------ unsqueeze2

/** Paddle's unsqueeze: the axes inserted one at a time, each in the shape built so far */
function unsqueezeRef(t: T64, axes: number[]): T64 {
  const dims = [...t.dims];
  for (const a of axes) dims.splice(a < 0 ? a + dims.length + 1 : a, 0, 1);
  return { dims, data: t.data };
}

describe('unsqueeze2 / unsqueeze', () => {
  const ux: CaseInput = { slot: 'X', name: 'x', shape: [-1, 3, 4] };
  const outs = (shape: number[]) => [{ slot: 'Out', name: 'y', shape }];
  it('axes [1], [-1], [0, -1], [2, 0] (inserted one at a time: dims 0 and 3), [-1, -1], at opsets 9, 13, 17', async () => {
    const cases: [number[], number[]][] = [[[1], [-1, 1, 3, 4]], [[-1], [-1, 3, 4, 1]], [[0, -1], [1, -1, 3, 4, 1]], [[2, 0], [1, -1, 3, 1, 4]], [[-1, -1], [-1, 3, 4, 1, 1]]];
    for (const [axes, shape] of cases) {
      await runCase({ op: 'unsqueeze2', attrs: { axes }, ins: [ux], outs: outs(shape), opsets: [9, 13, 17], ref: ({ x }) => ({ y: unsqueezeRef(x!, axes) }) }, dir);
    }
  });

  it('AxesTensor (an int32 parameter) and AxesTensorList (fill_constant scalars) instead of axes', async () => {
    await runCase({
      op: 'unsqueeze2', attrs: { axes: [] }, ins: [ux, { slot: 'AxesTensor', name: 'ax', shape: [2], dtype: 'int32', param: [3, 1] }], outs: outs([-1, 1, 3, 4, 1]), opsets: [9, 13],
      ref: ({ x }) => ({ y: unsqueezeRef(x!, [3, 1]) }),
    }, dir);
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 3, 4]).variable('a0', 'int64', [1]).variable('a1', 'int64', [1]).variable('y', 'float32', [-1, 3, 1, 4, 1])
      .op('fill_constant', {}, { Out: ['a0'] }, { shape: [1], value: 2, dtype: 3 })
      .op('fill_constant', {}, { Out: ['a1'] }, { shape: [1], value: -1, dtype: 3 })
      .op('unsqueeze2', { X: ['x'], AxesTensorList: ['a0', 'a1'] }, { Out: ['y'] }, { axes: [] }).fetch('y');
    const d = join(dir, 'unsq-list');
    mkdirSync(d);
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    for (const opset of [9, 13]) {
      const s = await openSession((await convertToOnnx(d, { opsetVersion: opset })).bytes!);
      try {
        for (const n of [1, 2]) {
          const x: HostTensor = { dtype: 'float32', dims: [n, 3, 4], data: Float32Array.from(realistic(n * 12)) };
          const y = (await s.run({ x }))['y']!;
          expect(y.dims).toEqual([n, 3, 1, 4, 1]);
          expect(Array.from(y.data as Float32Array)).toEqual(Array.from(x.data as Float32Array));
        }
      } finally { await s.close(); }
    }
  });

  it('an input of undeclared rank: one axis (negative from opset 11) or ascending ones convert; others are refused', async () => {
    const ax = (value: number[]) => ({ pre: [pirOp('relu', { 0: ['x'] }, { 0: ['h'] }), pirOp('full_int_array', {}, { 0: ['ax'] }, { value, dtype: 'int64' })], extraVars: [{ name: 'ax', dtype: 'int64' as const, shape: [value.length] }] });
    const relu = (t: T64) => map1(t, (v) => Math.max(v, 0));
    for (const [axes, shape] of [[[-1], [-1, 3, 4, 1]], [[0, 2], [1, -1, 1, 3, 4]]] as const) {
      await runPirCase({
        op: 'unsqueeze', ins: [{ slot: '0', name: 'x', shape: [-1, 3, 4] }], operands: { 0: 'h', 1: 'ax' }, ...ax([...axes]),
        outs: [{ slot: '0', name: 'y', shape: [...shape] }], opsets: [13], ref: ({ x }) => ({ y: unsqueezeRef(relu(x!), [...axes]) }),
      });
    }
    const e = await runPirCase({
      op: 'unsqueeze', ins: [{ slot: '0', name: 'x', shape: [-1, 3, 4] }], operands: { 0: 'h', 1: 'ax' }, ...ax([2, 0]),
      outs: [{ slot: '0', name: 'y', shape: [1, -1, 3, 1, 4] }], opsets: [13], ref: () => ({}),
    }).catch((err: unknown) => err);
    expect((e as PserveError).code).toBe('E_ONNX_OP_UNSUPPORTED');
    expect((e as PserveError).message).toMatch(/unsqueeze axes \[2, 0\] need the rank of X/);
  });

  it('PIR unsqueeze / unsqueeze_ with the axes from full_int_array', async () => {
    const ax = { name: 'ax', dtype: 'int64' as const, shape: [2] };
    for (const op of ['unsqueeze', 'unsqueeze_']) {
      await runPirCase({
        op, ins: [{ slot: '0', name: 'x', shape: [-1, 3, 4] }], operands: { 1: 'ax' },
        pre: [pirOp('full_int_array', {}, { 0: ['ax'] }, { value: [-1, 0], dtype: 'int64' })], extraVars: [ax],
        outs: [{ slot: '0', name: 'y', shape: [1, -1, 3, 4, 1] }], opsets: [9, 13], ref: ({ x }) => ({ y: unsqueezeRef(x!, [-1, 0]) }),
      });
    }
  });
});

// ------------------------------------------------------------------ fake quantizers

const fr = Math.fround;
const roundEven = (v: number): number => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
/**
 * Paddle's quantized integer of v at abs-max s (ClipAndFakeQuantFunctor): bin_cnt·(1/s)·v in
 * float32; round_type 0 rounds ties to even and clips to [-bin-1, bin], round_type 1 clips v to
 * [-s, s] first and rounds ties away from zero.
 */
function quantInt(v: number, s: number, bits: number, roundType: number): number {
  const bin = 2 ** (bits - 1) - 1;
  const k = fr(bin * fr(1 / s));
  if (roundType === 0) return Math.min(Math.max(roundEven(fr(v * k)), -bin - 1), bin);
  const q = fr(Math.min(Math.max(v, -s), s) * k);
  return Math.sign(q) * Math.floor(Math.abs(q) + 0.5);
}
const absMax = (d: Float64Array): number => d.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
/** max|x| per index along `axis` */
function channelAbsMax(t: T64, axis: number): number[] {
  const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const C = t.dims[axis]!;
  const m = new Array(C).fill(0);
  t.data.forEach((v, i) => { const c = Math.floor(i / inner) % C; m[c] = Math.max(m[c], Math.abs(v)); });
  return m;
}

describe('fake quantizers (Out: the integers, or dequantized; OutScale)', () => {
  const qx: CaseInput = { ...X };
  const qout = (scaleShape: number[]) => [{ slot: 'Out', name: 'y', shape: [-1, 3, 4, 5] }, { slot: 'OutScale', name: 'os', shape: scaleShape }];

  it('fake_quantize_abs_max: integers at max|x| (round_type 1 and 0, 8 and 4 bits), OutScale [1]; float form at 11, 13, 17 and QDQ at 11, 13', async () => {
    for (const [bits, roundType, quant] of [[8, 1, 'float'], [8, 0, 'float'], [4, 1, 'float'], [8, 1, 'qdq']] as const) {
      await runCase({
        op: 'fake_quantize_abs_max', attrs: { bit_length: bits, round_type: roundType }, ins: [qx], outs: qout([1]), options: { quant },
        opsets: quant === 'qdq' ? [11, 13] : [11, 13, 17],
        ref: ({ x }) => { const s = absMax(x!.data); return { y: map1(x!, (v) => quantInt(v, s, bits, roundType)), os: { dims: [1], data: Float64Array.of(s) } }; },
      }, dir);
    }
  });

  it('fake_quantize_dequantize_abs_max: the integers times s / bin_cnt, OutScale [1]; float and QDQ', async () => {
    for (const [roundType, quant] of [[1, 'float'], [0, 'float'], [1, 'qdq']] as const) {
      await runCase({
        op: 'fake_quantize_dequantize_abs_max', attrs: { bit_length: 8, round_type: roundType }, ins: [qx], outs: qout([1]), options: { quant }, opsets: [11, 13, 17],
        ref: ({ x }) => { const s = absMax(x!.data); return { y: map1(x!, (v) => quantInt(v, s, 8, roundType) * s / 127), os: { dims: [1], data: Float64Array.of(s) } }; },
      }, dir);
    }
  });

  it('fake_quantize_moving_average_abs_max / fake_quantize_range_abs_max (is_test): integers at InScale, clipped beyond it; OutScale = InScale', async () => {
    const inScale = 2;
    // QDQ saturates at -128 where Paddle clips at -127: its inputs stay above -InScale
    const aboveMinus = (n: number) => realistic(n).map((v) => Math.max(v, -1.99));
    for (const op of ['fake_quantize_moving_average_abs_max', 'fake_quantize_range_abs_max']) {
      for (const [roundType, quant] of [[1, 'float'], [0, 'float'], [1, 'qdq']] as const) {
        await runCase({
          op, attrs: { bit_length: 8, round_type: roundType, is_test: true, moving_rate: { f: 0.9 }, window_size: 10000 },
          ins: [{ ...qx, ...(quant === 'qdq' ? { values: aboveMinus } : {}) }, { slot: 'InScale', name: 'is', shape: [1], param: [inScale] }],
          outs: qout([1]), options: { quant }, opsets: [11, 13, 17],
          ref: ({ x }) => ({ y: map1(x!, (v) => quantInt(v, inScale, 8, roundType)), os: { dims: [1], data: Float64Array.of(inScale) } }),
        }, dir);
      }
    }
  });

  it('fake_channel_wise_quantize_abs_max: per-channel max|x| along quant_axis 1 (activations) and 0 (weights), OutScale [C]; float and QDQ (opset 13)', async () => {
    for (const [roundType, quant] of [[1, 'float'], [0, 'float'], [1, 'qdq']] as const) {
      await runCase({
        op: 'fake_channel_wise_quantize_abs_max', attrs: { bit_length: 8, round_type: roundType, quant_axis: 1 }, ins: [qx], outs: qout([3]), options: { quant }, opsets: [13, 17],
        ref: ({ x }) => {
          const s = channelAbsMax(x!, 1);
          return { y: map1(x!, (v, i) => quantInt(v, s[Math.floor(i / 20) % 3]!, 8, roundType)), os: { dims: [3], data: Float64Array.from(s) } };
        },
      }, dir);
    }
    const w = realistic(4 * 3 * 2 * 2, 0.7, 8);
    await runCase({
      op: 'fake_channel_wise_quantize_abs_max', attrs: { bit_length: 8, round_type: 1, quant_axis: 0 }, ins: [{ slot: 'X', name: 'w', shape: [4, 3, 2, 2], param: w }],
      outs: [{ slot: 'Out', name: 'y', shape: [4, 3, 2, 2] }, { slot: 'OutScale', name: 'os', shape: [4] }], options: { quant: 'float' }, opsets: [13], batches: [1],
      ref: ({ w: t }) => { const s = channelAbsMax(t!, 0); return { y: map1(t!, (v, i) => quantInt(v, s[Math.floor(i / 12)]!, 8, 1)), os: { dims: [4], data: Float64Array.from(s) } }; },
    }, dir);
    const e = await refused({ op: 'fake_channel_wise_quantize_abs_max', attrs: { quant_axis: 1 }, ins: [qx], outs: qout([3]), opsets: [], ref: () => ({}) }, 12);
    expect(e.code).toBe('E_ONNX_OPSET');
  });

  it('PIR spellings: outputs by position (0: out, 1: out_scale), InScale as operand 1 (from full); float and QDQ', async () => {
    const x = { slot: '0', name: 'x', shape: [-1, 3, 4] };
    const outs = (n: number) => [{ slot: '0', name: 'y', shape: [-1, 3, 4] }, { slot: '1', name: 'os', shape: [n] }];
    for (const quant of ['float', 'qdq'] as const) {
      await runPirCase({
        op: 'fake_quantize_abs_max', attrs: { bit_length: 8, round_type: 1 }, ins: [x], outs: outs(1), options: { quant }, opsets: [13],
        ref: ({ x: t }) => { const s = absMax(t!.data); return { y: map1(t!, (v) => quantInt(v, s, 8, 1)), os: { dims: [1], data: Float64Array.of(s) } }; },
      });
      await runPirCase({
        op: 'fake_quantize_moving_average_abs_max', attrs: { bit_length: 8, round_type: 1, is_test: true, moving_rate: 0.9 }, ins: [{ ...x, values: (n) => realistic(n).map((v) => Math.max(v, -2.4)) }],
        operands: { 1: 'is' }, pre: [pirOp('full', {}, { 0: ['is'] }, { shape: [1], value: 2.5, dtype: 'float32' })], extraVars: [{ name: 'is', dtype: 'float32', shape: [1] }],
        outs: outs(1), options: { quant }, opsets: [13],
        ref: ({ x: t }) => ({ y: map1(t!, (v) => quantInt(v, 2.5, 8, 1)), os: { dims: [1], data: Float64Array.of(2.5) } }),
      });
      await runPirCase({
        op: 'fake_channel_wise_quantize_abs_max', attrs: { bit_length: 8, round_type: 1, quant_axis: 1 }, ins: [x], outs: outs(3), options: { quant }, opsets: [13],
        ref: ({ x: t }) => { const s = channelAbsMax(t!, 1); return { y: map1(t!, (v, i) => quantInt(v, s[Math.floor(i / 4) % 3]!, 8, 1)), os: { dims: [3], data: Float64Array.from(s) } }; },
      });
    }
  });

  it('old-format QAT: fake_quantize_moving_average_abs_max -> conv2d on the integers -> fake_dequantize_max_abs, QDQ and float, at batch 1 and 2', async () => {
    const inScale = 3;
    const w = realistic(3 * 2, 40, 2).map((v) => Math.round(v)); // int-valued weights, as the old format stores them
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 2, 4, 4]).param('w', [3, 2, 1, 1], Float32Array.from(w)).param('xs', [1], Float32Array.of(inScale))
      .variable('q', 'float32', [-1, 2, 4, 4]).variable('s', 'float32', [1]).variable('c', 'float32', [-1, 3, 4, 4]).variable('y', 'float32', [-1, 3, 4, 4])
      .op('fake_quantize_moving_average_abs_max', { X: ['x'], InScale: ['xs'] }, { Out: ['q'], OutScale: ['s'] }, { bit_length: 8, round_type: 1, is_test: true })
      .op('conv2d', { Input: ['q'], Filter: ['w'] }, { Output: ['c'] }, { strides: [1, 1], paddings: [0, 0], dilations: [1, 1], groups: 1 })
      .op('fake_dequantize_max_abs', { X: ['c'], Scale: ['s'] }, { Out: ['y'] }, { max_range: 127 })
      .fetch('y');
    const d = join(dir, 'old-qat');
    mkdirSync(d);
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    writeFileSync(join(d, 'inference.pdiparams'), b.paramsBytes());
    for (const quant of ['qdq', 'float'] as const) {
      const s = await openSession((await convertToOnnx(d, { quant, opsetVersion: 13 })).bytes!);
      try {
        for (const n of [1, 2]) {
          const xv = realistic(n * 32, 2.5, 4).map((v) => Math.max(v, -2.9));
          const y = (await s.run({ x: { dtype: 'float32', dims: [n, 2, 4, 4], data: Float32Array.from(xv) } }))['y']!;
          expect(y.dims).toEqual([n, 3, 4, 4]);
          const want: number[] = [];
          for (let b0 = 0; b0 < n; b0++) for (let o = 0; o < 3; o++) for (let p = 0; p < 16; p++) {
            let acc = 0;
            for (let c = 0; c < 2; c++) acc += quantInt(fr(xv[(b0 * 2 + c) * 16 + p]!), inScale, 8, 1) * w[o * 2 + c]!;
            want.push(acc * inScale / 127);
          }
          Array.from(y.data as Float32Array).forEach((v, i) => expect(Math.abs(v - want[i]!), `${quant} batch ${n} [${i}]`).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i]!))));
        }
      } finally { await s.close(); }
    }
  });
});

// ------------------------------------------------------------------ select_output

/**
 * Paddle's select_output copies X to Out[Mask] (the other outputs are left unwritten); each branch
 * then reads its own copy: c = sum(x) > 0; [o0, o1] = select_output(x, c); a = 2·o1 when c;
 * b = o0 - 1 when !c; out = select_input([b, a], c). `mask`: computed from x, or a constant.
 */
function selectOutputProgram(mask: 'data' | 0 | 1): ProgramBuilder {
  const b = new ProgramBuilder().feed('x', 'float32', [-1, 4]);
  b.variable('s', 'float32', [1]).variable('zero', 'float32', [1]).variable('c', 'bool', [1]).variable('nc', 'bool', [1]).variable('m', 'int32', [1])
    .variable('o0', 'float32', [-1, 4]).variable('o1', 'float32', [-1, 4]).variable('a', 'float32', [-1, 4]).variable('bb', 'float32', [-1, 4])
    .variable('out', 'float32', [-1, 4]).variable('sc1', 'float32', []).variable('sc2', 'float32', []);
  if (mask === 'data') {
    b.op('reduce_sum', { X: ['x'] }, { Out: ['s'] }, { dim: [0], keep_dim: false, reduce_all: true });
    b.op('fill_constant', {}, { Out: ['zero'] }, { shape: [1], value: 0, dtype: 5 });
    b.op('greater_than', { X: ['s'], Y: ['zero'] }, { Out: ['c'] }, { axis: -1 });
    b.op('cast', { X: ['c'] }, { Out: ['m'] }, { in_dtype: 0, out_dtype: 2 });
  } else {
    b.op('fill_constant', {}, { Out: ['m'] }, { shape: [1], value: mask, dtype: 2 });
    b.op('cast', { X: ['m'] }, { Out: ['c'] }, { in_dtype: 2, out_dtype: 0 });
  }
  b.op('select_output', { X: ['x'], Mask: ['m'] }, { Out: ['o0', 'o1'] });
  const thenB = b.subBlock((s) => { s.op('scale', { X: ['o1'] }, { Out: ['a'] }, { scale: 2, bias: 0, bias_after_scale: true }); });
  b.op('conditional_block', { Cond: ['c'], Input: ['o1'] }, { Out: ['a'], Scope: ['sc1'] }, { sub_block: { block: thenB }, is_scalar_condition: true });
  b.op('logical_not', { X: ['c'] }, { Out: ['nc'] });
  const elseB = b.subBlock((s) => { s.op('scale', { X: ['o0'] }, { Out: ['bb'] }, { scale: 1, bias: -1, bias_after_scale: true }); });
  b.op('conditional_block', { Cond: ['nc'], Input: ['o0'] }, { Out: ['bb'], Scope: ['sc2'] }, { sub_block: { block: elseB }, is_scalar_condition: true });
  b.op('select_input', { X: ['bb', 'a'], Mask: ['m'] }, { Out: ['out'] });
  b.fetch('out');
  return b;
}

describe('select_output', () => {
  it('routes x to the branch Mask names: run-time Mask (If) at opsets 11, 13, 17 and a constant one (folded), at batch 1 and 2', async () => {
    for (const mask of ['data', 0, 1] as const) {
      const d = join(dir, `select-output-${mask}`);
      mkdirSync(d);
      writeFileSync(join(d, 'inference.pdmodel'), selectOutputProgram(mask).programBytes());
      for (const opset of mask === 'data' ? [11, 13, 17] : [11]) {
        const r = await convertToOnnx(d, { opsetVersion: opset });
        expect(r.controlFlow?.branches.map((x) => x.result)).toEqual(mask === 'data' ? ['if', 'if'] : mask === 1 ? ['folded-taken', 'folded-skipped'] : ['folded-skipped', 'folded-taken']);
        const s = await openSession(r.bytes!);
        try {
          for (const n of [1, 2]) for (const sign of [1, -1]) {
            const xv = realistic(n * 4, 2, 3).map((v) => Math.fround(sign * (Math.abs(v) + 0.1)));
            const got = (await s.run({ x: { dtype: 'float32', dims: [n, 4], data: Float32Array.from(xv) } }))['out']!;
            const taken = mask === 'data' ? sign > 0 : mask === 1;
            expect(got.dims).toEqual([n, 4]);
            Array.from(got.data as Float32Array).forEach((v, i) => expect(v, `mask ${mask} opset ${opset} batch ${n} sign ${sign} [${i}]`).toBe(taken ? Math.fround(2 * xv[i]!) : Math.fround(xv[i]! - 1)));
          }
        } finally { await s.close(); }
      }
    }
  });
});
