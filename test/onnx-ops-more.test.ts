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
