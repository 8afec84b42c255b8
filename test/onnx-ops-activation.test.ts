/**
 * Activation, elementwise, compare/logic, reduction and normalization mappers of the native
 * ONNX engine: each is converted from a real (legacy, or PIR) Paddle program, run in
 * onnxruntime at batch 1 and 2 and at the opsets it claims, and compared with float64 code that
 * implements Paddle's documented semantics.
 */
import { describe, expect, it } from 'vitest';
import { PserveError } from '../src/errors.js';
import { convertToOnnx } from '../src/convert/onnx/index.js';
import type { BuilderAttr } from '../src/formats/program-builder.js';
import { tempDir } from './helpers.js';
import {
  erf, map1, map2, pirOp, positive, realistic, reduceRef, runCase, runPirCase, type CaseInput, type OpCase, type T64,
} from './onnx-op-case.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import onnxProto from 'onnx-proto';
import { ProgramBuilder } from '../src/formats/program-builder.js';
import { join } from 'node:path';
import { legacyProgram } from './onnx-op-case.js';

const dir = tempDir('pserve-ops-a-');
const X: CaseInput = { slot: 'X', name: 'x', shape: [-1, 3, 4, 5] };
const OUT = [{ slot: 'Out', name: 'y', shape: [-1, 3, 4, 5] }];

function unary(op: string, attrs: Record<string, BuilderAttr>, fn: (v: number) => number, opsets: number[], values?: (n: number) => number[]): OpCase {
  return { op, attrs, ins: [{ ...X, ...(values ? { values } : {}) }], outs: OUT, ref: (t) => ({ y: map1(t['x']!, fn) }), opsets };
}

const softplus = (x: number, beta = 1, th = 20) => (x * beta > th ? x : Math.log1p(Math.exp(beta * x)) / beta);

describe('activations (legacy programs, float64 references)', () => {
  const cases: OpCase[] = [
    unary('leaky_relu', { alpha: { f: 0.1 } }, (v) => (v >= 0 ? v : 0.1 * v), [9, 13]),
    unary('relu6', { threshold: { f: 6 } }, (v) => Math.min(Math.max(v, 0), 6), [9, 11, 13], (n) => realistic(n, 9)),
    unary('brelu', { t_min: { f: -1 }, t_max: { f: 2.5 } }, (v) => Math.min(Math.max(v, -1), 2.5), [9, 13]),
    unary('elu', { alpha: { f: 0.7 } }, (v) => (v > 0 ? v : 0.7 * Math.expm1(v)), [9, 13]),
    unary('selu', { scale: { f: 1.0507009873554805 }, alpha: { f: 1.6732632423543772 } }, (v) => 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * Math.expm1(v)), [9, 13]),
    unary('gelu', { approximate: false }, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)), [9, 13, 17]),
    unary('gelu', { approximate: true }, (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), [9, 13]),
    unary('pow', { factor: { f: 3 } }, (v) => v ** 3, [9, 13]),
    unary('clip', { min: { f: -0.5 }, max: { f: 1.5 } }, (v) => Math.min(Math.max(v, -0.5), 1.5), [9, 11, 13]),
    unary('softplus', { beta: { f: 2 }, threshold: { f: 3 } }, (v) => softplus(v, 2, 3), [9, 13]),
    unary('softplus', {}, (v) => softplus(v), [13]),
    unary('softsign', {}, (v) => v / (1 + Math.abs(v)), [9, 13]),
    unary('mish', { threshold: { f: 20 } }, (v) => v * Math.tanh(softplus(v)), [9, 13], (n) => realistic(n, 8)),
    unary('hard_shrink', { threshold: { f: 0.5 } }, (v) => (v > 0.5 || v < -0.5 ? v : 0), [9, 13]),
    unary('softshrink', { lambda: { f: 1 } }, (v) => (v > 1 ? v - 1 : v < -1 ? v + 1 : 0), [9, 13]),
    unary('thresholded_relu', { threshold: { f: 1 } }, (v) => (v > 1 ? v : 0), [9, 10, 13]),
    unary('logsigmoid', {}, (v) => -softplus(-v), [9, 13], (n) => realistic(n, 12)),
    unary('square', {}, (v) => v * v, [9, 13]),
    unary('rsqrt', {}, (v) => 1 / Math.sqrt(v), [9, 13], positive),
    unary('sign', {}, (v) => Math.sign(v), [9, 13]),
    unary('round', {}, (v) => Math.sign(v) * Math.floor(Math.abs(v) + 0.5), [9, 13]),
    unary('log2', {}, (v) => Math.log2(v), [9, 13], positive),
    unary('log10', {}, (v) => Math.log10(v), [9, 13], positive),
    unary('log1p', {}, (v) => Math.log1p(v), [9, 13], positive),
    unary('sigmoid', {}, (v) => 1 / (1 + Math.exp(-v)), [9, 13]),
    unary('hard_sigmoid', { slope: { f: 0.2 }, offset: { f: 0.5 } }, (v) => Math.max(0, Math.min(1, 0.2 * v + 0.5)), [9, 13]),
    unary('hard_swish', {}, (v) => v * Math.min(Math.max(v + 3, 0), 6) / 6, [9, 13], (n) => realistic(n, 6)),
    unary('celu', { alpha: { f: 1.5 } }, (v) => Math.max(0, v) + Math.min(0, 1.5 * Math.expm1(v / 1.5)), [9, 13]),
    unary('stanh', { scale_a: { f: 0.67 }, scale_b: { f: 1.7159 } }, (v) => Math.fround(1.7159) * Math.tanh(Math.fround(0.67) * v), [9, 13]),
    unary('tanh_shrink', {}, (v) => v - Math.tanh(v), [9, 13]),
    unary('expm1', {}, (v) => Math.expm1(v), [9, 13]),
    unary('trunc', {}, (v) => Math.trunc(v), [9, 13]),
    unary('acosh', {}, (v) => Math.acosh(v), [9, 13], (n) => positive(n).map((v) => Math.fround(v + 1))),
    unary('asinh', {}, (v) => Math.asinh(v), [9, 13]),
    unary('atanh', {}, (v) => Math.atanh(v), [9, 13], (n) => realistic(n, 0.9)),
  ];
  for (const c of cases) {
    it(`${c.op} ${JSON.stringify(c.attrs)} at opsets ${c.opsets.join(', ')}`, async () => { await runCase(c, dir); });
  }

  it('isnan_v2 / isinf_v2 / isfinite_v2 on floats with NaN and infinities, and on int32', async () => {
    const special = (n: number) => realistic(n).map((v, i) => [NaN, Infinity, -Infinity, v][i % 4]!);
    const checks: [string, (v: number) => boolean, number[]][] = [
      ['isnan_v2', Number.isNaN, [9, 13]], ['isinf_v2', (v) => v === Infinity || v === -Infinity, [10, 13]], ['isfinite_v2', Number.isFinite, [10, 13]],
    ];
    for (const [op, fn, opsets] of checks) {
      await runCase({
        op, ins: [{ ...X, values: special }], outs: [{ ...OUT[0]!, dtype: 'bool' }], opsets,
        ref: ({ x }) => ({ y: map1(x!, (v) => (fn(v) ? 1 : 0)) }),
      }, dir);
      await runCase({
        op, ins: [{ ...X, dtype: 'int32', values: (n) => Array.from({ length: n }, (_, i) => i - 7) }], outs: [{ ...OUT[0]!, dtype: 'bool' }], opsets,
        ref: ({ x }) => ({ y: map1(x!, () => (op === 'isfinite_v2' ? 1 : 0)) }),
      }, dir);
    }
  });

  it('maxout over channels (NCHW, groups 2 and 3)', async () => {
    for (const groups of [2, 3]) {
      const C = 6;
      await runCase({
        op: 'maxout', attrs: { groups, axis: 1 }, ins: [{ slot: 'X', name: 'x', shape: [-1, C, 3, 4] }], outs: [{ slot: 'Out', name: 'y', shape: [-1, C / groups, 3, 4] }], opsets: [9, 13],
        ref: ({ x }) => {
          const t = x!; const n = t.dims[0]!; const hw = 12;
          const data = new Float64Array(n * (C / groups) * hw);
          for (let b = 0; b < n; b++) for (let o = 0; o < C / groups; o++) for (let p = 0; p < hw; p++) {
            let m = -Infinity;
            for (let k = 0; k < groups; k++) m = Math.max(m, t.data[(b * C + o * groups + k) * hw + p]!);
            data[(b * (C / groups) + o) * hw + p] = m;
          }
          return { y: { dims: [n, C / groups, 3, 4], data } };
        },
      }, dir);
    }
  });

  it('log_softmax over a middle axis and the last one', async () => {
    for (const axis of [1, -1]) {
      await runCase({
        op: 'log_softmax', attrs: { axis }, ins: [X], outs: OUT, opsets: [9, 13],
        ref: ({ x }) => {
          const t = x!;
          const m = reduceRef(t, [axis], true, -Infinity, Math.max);
          const sh = map2(t, m, (a, b) => a - b);
          const lse = reduceRef(map1(sh, Math.exp), [axis], true, 0, (s, v) => s + v);
          return { y: map2(sh, lse, (a, b) => a - Math.log(b)) };
        },
      }, dir);
    }
  });

  it('clip with Min / Max tensors (shape [1]) needs opset 11', async () => {
    const c: OpCase = {
      op: 'clip', attrs: { min: { f: -100 }, max: { f: 100 } },
      ins: [X, { slot: 'Min', name: 'lo', shape: [1], param: [-0.25] }, { slot: 'Max', name: 'hi', shape: [1], param: [2] }],
      outs: OUT, opsets: [11, 13],
      ref: ({ x }) => ({ y: map1(x!, (v) => Math.min(Math.max(v, -0.25), 2)) }),
    };
    await runCase(c, dir);
    const d = join(dir, 'clip10');
    mkdirSync(d);
    const b = legacyProgram(c);
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    writeFileSync(join(d, 'inference.pdiparams'), b.paramsBytes());
    const e = await convertToOnnx(d, { opsetVersion: 10 }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(PserveError);
    expect((e as PserveError).code).toBe('E_ONNX_OPSET');
    expect((e as PserveError).message).toMatch(/clip.*11/);
  });

  it('pow with a FactorTensor', async () => {
    await runCase({
      op: 'pow', attrs: { factor: { f: 1 } }, ins: [{ ...X, values: positive }, { slot: 'FactorTensor', name: 'e', shape: [1], param: [1.5] }], outs: OUT, opsets: [9, 13],
      ref: ({ x }) => ({ y: map1(x!, (v) => v ** 1.5) }),
    }, dir);
  });

  it('prelu: all, channel (NCHW and NHWC) and element modes', async () => {
    const alphaC = [0.1, 0.25, -0.3];
    await runCase({
      op: 'prelu', attrs: { mode: 'all' }, ins: [X, { slot: 'Alpha', name: 'a', shape: [1], param: [0.2] }], outs: OUT, opsets: [9, 13],
      ref: ({ x }) => ({ y: map1(x!, (v) => (v > 0 ? v : 0.2 * v)) }),
    }, dir);
    await runCase({
      op: 'prelu', attrs: { mode: 'channel', data_format: 'NCHW' }, ins: [X, { slot: 'Alpha', name: 'a', shape: [3], param: alphaC }], outs: OUT, opsets: [9, 13],
      ref: ({ x }) => ({ y: map1(x!, (v, i) => (v > 0 ? v : alphaC[Math.floor(i / 20) % 3]! * v)) }),
    }, dir);
    await runCase({
      op: 'prelu', attrs: { mode: 'channel', data_format: 'NHWC' }, ins: [{ ...X, shape: [-1, 4, 5, 3] }, { slot: 'Alpha', name: 'a', shape: [3], param: alphaC }],
      outs: [{ slot: 'Out', name: 'y', shape: [-1, 4, 5, 3] }], opsets: [13],
      ref: ({ x }) => ({ y: map1(x!, (v, i) => (v > 0 ? v : alphaC[i % 3]! * v)) }),
    }, dir);
    const alphaE = realistic(60, 0.5, 9);
    await runCase({
      op: 'prelu', attrs: { mode: 'element' }, ins: [X, { slot: 'Alpha', name: 'a', shape: [1, 3, 4, 5], param: alphaE }], outs: OUT, opsets: [9, 13],
      ref: ({ x }) => ({ y: map1(x!, (v, i) => (v > 0 ? v : Math.fround(alphaE[i % 60]!) * v)) }),
    }, dir);
  });
});

const binX: CaseInput = { slot: 'X', name: 'x', shape: [-1, 3, 4] };
const binOut = [{ slot: 'Out', name: 'y', shape: [-1, 3, 4] }];

describe('binary elementwise, compare and logic (legacy axis broadcast)', () => {
  const nonzero = (n: number) => realistic(n, 4, 5).map((v) => (Math.abs(v) < 0.3 ? 1.75 : v));
  it('elementwise_mod takes the divisor sign (floats and int32), floordiv floors, atan2 covers all quadrants', async () => {
    const pymod = (a: number, b: number) => { const r = a % b; return r !== 0 && (r < 0) !== (b < 0) ? r + b : r; };
    await runCase({
      op: 'elementwise_mod', attrs: { axis: -1 }, ins: [binX, { slot: 'Y', name: 'b', shape: [-1, 3, 4], values: nonzero }], outs: binOut, opsets: [10, 13],
      ref: ({ x, b }) => ({ y: map2(x!, b!, (p, q) => Math.fround(pymod(p, q))) }), tol: 2e-5,
    }, dir);
    const ints = (n: number) => Array.from({ length: n }, (_, i) => ((i * 37) % 41) - 20);
    const intsNz = (n: number) => Array.from({ length: n }, (_, i) => [3, -3, 7, -5, 2, -2][i % 6]!);
    await runCase({
      op: 'elementwise_mod', attrs: { axis: -1 }, ins: [{ ...binX, dtype: 'int32', values: ints }, { slot: 'Y', name: 'b', shape: [-1, 3, 4], dtype: 'int32', values: intsNz }],
      outs: [{ ...binOut[0]!, dtype: 'int32' }], opsets: [10, 13], ref: ({ x, b }) => ({ y: map2(x!, b!, pymod) }),
    }, dir);
    await runCase({
      op: 'elementwise_floordiv', attrs: { axis: -1 }, ins: [{ ...binX, dtype: 'int32', values: ints }, { slot: 'Y', name: 'b', shape: [-1, 3, 4], dtype: 'int32', values: intsNz }],
      outs: [{ ...binOut[0]!, dtype: 'int32' }], opsets: [10, 13], ref: ({ x, b }) => ({ y: map2(x!, b!, (p, q) => Math.floor(p / q)) }),
    }, dir);
    await runCase({
      op: 'elementwise_floordiv', attrs: { axis: -1 }, ins: [binX, { slot: 'Y', name: 'b', shape: [-1, 3, 4], values: nonzero }], outs: binOut, opsets: [10, 13],
      ref: ({ x, b }) => ({ y: map2(x!, b!, (p, q) => Math.floor(Math.fround(p / q))) }),
    }, dir);
    const withZeros = (n: number) => realistic(n, 2, 3).map((v, i) => (i % 5 === 0 ? 0 : v));
    await runCase({
      op: 'atan2', ins: [{ slot: 'X1', name: 'x', shape: [-1, 3, 4] }, { slot: 'X2', name: 'b', shape: [-1, 3, 4], values: withZeros }], outs: binOut, opsets: [9, 13],
      ref: ({ x, b }) => ({ y: map2(x!, b!, Math.atan2) }),
    }, dir);
  });

  it('axis broadcast: Y [3] against X [N,3,4] at axis 1', async () => {
    await runCase({
      op: 'elementwise_sub', attrs: { axis: 1 }, ins: [binX, { slot: 'Y', name: 'b', shape: [3], param: [0.5, -1, 2] }], outs: binOut, opsets: [9, 13],
      ref: ({ x, b }) => ({ y: map1(x!, (v, i) => v - b!.data[Math.floor(i / 4) % 3]!) }),
    }, dir);
  });

  it('comparisons at opsets 9 and 13 (bool out), with axis broadcast', async () => {
    const cmp: [string, (a: number, b: number) => boolean][] = [
      ['equal', (a, b) => a === b], ['not_equal', (a, b) => a !== b], ['less_than', (a, b) => a < b],
      ['less_equal', (a, b) => a <= b], ['greater_than', (a, b) => a > b], ['greater_equal', (a, b) => a >= b],
    ];
    const grid = (n: number) => Array.from({ length: n }, (_, i) => [0, 1, -1, 0.5][i % 4]!);
    for (const [op, fn] of cmp) {
      await runCase({
        op, attrs: { axis: 1 }, ins: [{ ...binX, values: grid }, { slot: 'Y', name: 'b', shape: [3], param: [0, 0.5, 1] }],
        outs: [{ ...binOut[0]!, dtype: 'bool' }], opsets: op === 'equal' || op === 'not_equal' ? [11, 13] : [9, 13],
        ref: ({ x }) => ({ y: map1(x!, (v, i) => (fn(v, [0, 0.5, 1][Math.floor(i / 4) % 3]!) ? 1 : 0)) }),
      }, dir);
    }
  });

  it('logical and bitwise ops on bool tensors; bitwise_not on int32', async () => {
    const bools = (n: number) => Array.from({ length: n }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    const bools2 = (n: number) => Array.from({ length: n }, (_, i) => (i % 2));
    const two = (op: string, fn: (a: number, b: number) => number) => runCase({
      op, ins: [{ ...binX, dtype: 'bool', values: bools }, { slot: 'Y', name: 'b', shape: [-1, 3, 4], dtype: 'bool', values: bools2 }],
      outs: [{ ...binOut[0]!, dtype: 'bool' }], opsets: [9, 13], ref: ({ x, b }) => ({ y: map2(x!, b!, fn) }),
    }, dir);
    await two('logical_and', (a, b) => a & b);
    await two('logical_or', (a, b) => a | b);
    await two('logical_xor', (a, b) => a ^ b);
    await two('bitwise_and', (a, b) => a & b);
    await two('bitwise_or', (a, b) => a | b);
    await two('bitwise_xor', (a, b) => a ^ b);
    await runCase({
      op: 'logical_not', ins: [{ ...binX, dtype: 'bool', values: bools }], outs: [{ ...binOut[0]!, dtype: 'bool' }], opsets: [9, 13],
      ref: ({ x }) => ({ y: map1(x!, (v) => (v ? 0 : 1)) }),
    }, dir);
    await runCase({
      op: 'bitwise_not', ins: [{ ...binX, dtype: 'int32', values: (n) => Array.from({ length: n }, (_, i) => i * 13 - 70) }], outs: [{ ...binOut[0]!, dtype: 'int32' }], opsets: [9, 13],
      ref: ({ x }) => ({ y: map1(x!, (v) => ~v) }),
    }, dir);
  });

  it('integer bitwise_and is refused with the opset it needs (E_ONNX_OPSET, before anything is built)', async () => {
    const d = join(dir, 'bitand-int');
    mkdirSync(d);
    const b = legacyProgram({
      op: 'bitwise_and', ins: [{ ...binX, dtype: 'int32' }, { slot: 'Y', name: 'b', shape: [-1, 3, 4], dtype: 'int32' }],
      outs: [{ ...binOut[0]!, dtype: 'int32' }], opsets: [], ref: () => ({}),
    });
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    const e = await convertToOnnx(d, {}).catch((err: unknown) => err);
    expect((e as PserveError).code).toBe('E_ONNX_OPSET');
    expect((e as PserveError).message).toMatch(/needs opset 18, past the newest the native engine writes \(17\): bitwise_and needs 18 \(BitwiseAnd on int32\)/);
  });
});

describe('negative axes at opsets 9 and 10 (ONNX allows them only from 11)', () => {
  it('reduce_sum dim [-1], arg_min axis -1 and concat axis -1 are written with positive axes and pass onnx.checker', async () => {
    const PY = ['/usr/bin/python3'].find((p) => existsSync(p));
    const d = join(dir, 'negaxes');
    mkdirSync(d);
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 3, 4])
      .variable('s', 'float32', [-1, 3]).variable('m', 'int64', [-1, 3]).variable('c', 'float32', [-1, 3, 8])
      .op('reduce_sum', { X: ['x'] }, { Out: ['s'] }, { dim: [-1], keep_dim: false, reduce_all: false })
      .op('arg_min', { X: ['x'] }, { Out: ['m'] }, { axis: -1, keepdims: false, flatten: false, dtype: 3 })
      .op('concat', { X: ['x', 'x'] }, { Out: ['c'] }, { axis: -1 })
      .fetch('s').fetch('m').fetch('c');
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    for (const opset of [9, 10]) {
      const file = join(d, `m${opset}.onnx`);
      await convertToOnnx(d, { opsetVersion: opset, saveFile: file });
      const m = onnxProto.onnx.ModelProto.decode(readFileSync(file));
      const ints = m.graph!.node.flatMap((n) => n.attribute.filter((a) => a.name === 'axis' || a.name === 'axes').flatMap((a) => (a.ints.length ? a.ints.map(Number) : [Number(a.i)])));
      expect(ints.every((v) => v >= 0), JSON.stringify(ints)).toBe(true);
      if (PY && spawnSync(PY, ['-c', 'import onnx']).status === 0) {
        const r = spawnSync(PY, ['-c', 'import sys,onnx; onnx.checker.check_model(sys.argv[1], full_check=True)', file], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
      }
    }
  });
});

describe('lookup_table_v2 at opset 9 (declared 9 since the declarative port)', () => {
  it('padding_idx rows come out as zeros', async () => {
    const W = realistic(6 * 4, 1, 3);
    await runCase({
      op: 'lookup_table_v2', attrs: { padding_idx: 2 },
      ins: [{ slot: 'Ids', name: 'ids', shape: [-1, 5], dtype: 'int64', values: (n) => Array.from({ length: n }, (_, i) => (i * 7) % 6) }, { slot: 'W', name: 'w', shape: [6, 4], param: W }],
      outs: [{ slot: 'Out', name: 'y', shape: [-1, 5, 4] }], opsets: [9, 13],
      ref: ({ ids }) => {
        const data = new Float64Array(ids!.data.length * 4);
        ids!.data.forEach((id, i) => { for (let k = 0; k < 4; k++) data[i * 4 + k] = id === 2 ? 0 : Math.fround(W[id * 4 + k]!); });
        return { y: { dims: [...ids!.dims, 4], data } };
      },
    }, dir);
  });
});

describe('reductions', () => {
  const R: CaseInput = { slot: 'X', name: 'x', shape: [-1, 3, 4, 5] };
  const sum = (s: number, v: number) => s + v;
  const kinds: [string, number, (s: number, v: number) => number, ((s: number, c: number) => number)?][] = [
    ['reduce_sum', 0, sum], ['reduce_mean', 0, sum, (s, c) => s / c], ['reduce_max', -Infinity, Math.max],
    ['reduce_min', Infinity, Math.min], ['reduce_prod', 1, (s, v) => s * v],
  ];
  it('reduce_* over dim (negative too), keep_dim, reduce_all (0-D and [1] results)', async () => {
    for (const [op, init, acc, fin] of kinds) {
      for (const [attrs, outShape, axes, keep] of [
        [{ dim: [1, -1], keep_dim: false, reduce_all: false }, [-1, 4], [1, 3], false],
        [{ dim: [2], keep_dim: true, reduce_all: false }, [-1, 3, 1, 5], [2], true],
      ] as const) {
        await runCase({
          op, attrs: attrs as unknown as Record<string, BuilderAttr>, ins: [R], outs: [{ slot: 'Out', name: 'y', shape: [...outShape] }], opsets: [9, 13], tol: 1e-4,
          ref: ({ x }) => ({ y: reduceRef(x!, [...axes], keep, init, acc, fin) }),
        }, dir);
      }
    }
    // reduce_all: Paddle 2.5+ declares a 0-D result, older programs [1]
    for (const shape of [[], [1]]) {
      await runCase({
        op: 'reduce_sum', attrs: { dim: [0], keep_dim: false, reduce_all: true }, ins: [R], outs: [{ slot: 'Out', name: 'y', shape }], opsets: [13], tol: 1e-4,
        ref: ({ x }) => { const r = reduceRef(x!, null, false, 0, sum); return { y: { dims: shape, data: r.data } }; },
      }, dir);
    }
  });

  it('reduce_all / reduce_any over bool, mean over everything, logsumexp, arg_min, cumsum', async () => {
    const bools = (n: number) => Array.from({ length: n }, (_, i) => (i % 11 === 0 ? 0 : 1));
    await runCase({
      op: 'reduce_all', attrs: { dim: [2, 3], keep_dim: false }, ins: [{ ...R, dtype: 'bool', values: bools }], outs: [{ slot: 'Out', name: 'y', shape: [-1, 3], dtype: 'bool' }], opsets: [9, 13],
      ref: ({ x }) => ({ y: reduceRef(x!, [2, 3], false, 1, (s, v) => (s && v ? 1 : 0)) }),
    }, dir);
    await runCase({
      op: 'reduce_any', attrs: { dim: [1], keep_dim: true }, ins: [{ ...R, dtype: 'bool', values: (n) => bools(n).map((v) => 1 - v) }], outs: [{ slot: 'Out', name: 'y', shape: [-1, 1, 4, 5], dtype: 'bool' }], opsets: [9, 13],
      ref: ({ x }) => ({ y: reduceRef(x!, [1], true, 0, (s, v) => (s || v ? 1 : 0)) }),
    }, dir);
    await runCase({
      op: 'mean', ins: [R], outs: [{ slot: 'Out', name: 'y', shape: [1] }], opsets: [9, 13],
      ref: ({ x }) => ({ y: { dims: [1], data: reduceRef(x!, null, false, 0, sum, (s, c) => s / c).data } }),
    }, dir);
    await runCase({
      op: 'logsumexp', attrs: { axis: [1], keepdim: false, reduce_all: false }, ins: [{ ...R, values: (n) => realistic(n, 40) }], outs: [{ slot: 'Out', name: 'y', shape: [-1, 4, 5] }], opsets: [9, 13],
      ref: ({ x }) => {
        const m = reduceRef(x!, [1], true, -Infinity, Math.max);
        const s = reduceRef(map2(x!, m, (a, b) => Math.exp(a - b)), [1], true, 0, sum);
        const r = map2(s, m, (a, b) => Math.log(a) + b);
        return { y: { dims: r.dims.filter((_, i) => i !== 1), data: r.data } };
      },
    }, dir);
    const argmin = (t: T64, axis: number): T64 => {
      const dims = t.dims.filter((_, i) => i !== axis);
      const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      const len = t.dims[axis]!;
      const outer = t.data.length / (inner * len);
      const data = new Float64Array(outer * inner);
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
        let best = Infinity; let at = 0;
        for (let k = 0; k < len; k++) { const v = t.data[(o * len + k) * inner + i]!; if (v < best) { best = v; at = k; } }
        data[o * inner + i] = at;
      }
      return { dims, data };
    };
    await runCase({
      op: 'arg_min', attrs: { axis: 2, keepdims: false, flatten: false, dtype: 3 }, ins: [R], outs: [{ slot: 'Out', name: 'y', shape: [-1, 3, 5], dtype: 'int64' }], opsets: [9, 13],
      ref: ({ x }) => ({ y: argmin(x!, 2) }),
    }, dir);
    const cumsum = (t: T64, axis: number, exclusive: boolean, reverse: boolean): T64 => {
      const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      const len = t.dims[axis]!;
      const outer = t.data.length / (inner * len);
      const data = new Float64Array(t.data.length);
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
        let s = 0;
        for (let kk = 0; kk < len; kk++) {
          const k = reverse ? len - 1 - kk : kk;
          const at = (o * len + k) * inner + i;
          if (exclusive) { data[at] = s; s += t.data[at]!; } else { s += t.data[at]!; data[at] = s; }
        }
      }
      return { dims: t.dims, data };
    };
    for (const [exclusive, reverse] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      await runCase({
        op: 'cumsum', attrs: { axis: 2, exclusive, reverse, flatten: false }, ins: [R], outs: [{ slot: 'Out', name: 'y', shape: [-1, 3, 4, 5] }], opsets: [11, 13],
        ref: ({ x }) => ({ y: cumsum(x!, 2, exclusive, reverse) }),
      }, dir);
    }
    await runCase({
      op: 'cumsum', attrs: { axis: -1, flatten: true }, ins: [R], outs: [{ slot: 'Out', name: 'y', shape: [-1] }], opsets: [11],
      ref: ({ x }) => ({ y: cumsum({ dims: [x!.data.length], data: x!.data }, 0, false, false) }),
    }, dir);
  });
});

describe('normalization', () => {
  const N: CaseInput = { slot: 'X', name: 'x', shape: [-1, 4, 3, 5] };
  const NOUT = { slot: 'Y', name: 'y', shape: [-1, 4, 3, 5] };
  const standardize = (t: T64, axes: number[], eps: number): T64 => {
    const m = reduceRef(t, axes, true, 0, (s, v) => s + v, (s, c) => s / c);
    const d = map2(t, m, (a, b) => a - b);
    const v = reduceRef(map1(d, (a) => a * a), axes, true, 0, (s, a) => s + a, (s, c) => s / c);
    return map2(d, v, (a, b) => a / Math.sqrt(b + eps));
  };
  const scale15 = realistic(15, 1, 4).map((v) => v + 1);
  const bias15 = realistic(15, 0.5, 6);

  it('layer_norm: begin_norm_axis 2 with Scale/Bias (17: LayerNormalization; 9, 13: decomposed), axis 1 without', async () => {
    await runCase({
      op: 'layer_norm', attrs: { begin_norm_axis: 2, epsilon: { f: 1e-5 } },
      ins: [N, { slot: 'Scale', name: 's', shape: [15], param: scale15 }, { slot: 'Bias', name: 'b', shape: [15], param: bias15 }],
      outs: [NOUT], opsets: [9, 13, 17], tol: 1e-4,
      ref: ({ x }) => ({ y: map1(standardize(x!, [2, 3], 1e-5), (v, i) => v * Math.fround(scale15[i % 15]!) + Math.fround(bias15[i % 15]!)) }),
    }, dir);
    await runCase({
      op: 'layer_norm', attrs: { begin_norm_axis: 1, epsilon: { f: 1e-5 } }, ins: [N], outs: [NOUT], opsets: [13, 17], tol: 1e-4,
      ref: ({ x }) => ({ y: standardize(x!, [1, 2, 3], 1e-5) }),
    }, dir);
  });

  it('group_norm (2 groups, NCHW), instance_norm, affine_channel', async () => {
    const s4 = [1.5, 0.5, -1, 2];
    const b4 = [0.1, -0.2, 0.3, 0];
    const groups = (t: T64, g: number): T64 => {
      const [n, c] = t.dims as [number, number];
      const rest = t.data.length / (n * c);
      const r = standardize({ dims: [n, g, (c / g) * rest], data: t.data }, [2], 1e-5);
      return { dims: t.dims, data: r.data };
    };
    await runCase({
      op: 'group_norm', attrs: { groups: 2, epsilon: { f: 1e-5 }, data_layout: 'NCHW' },
      ins: [N, { slot: 'Scale', name: 's', shape: [4], param: s4 }, { slot: 'Bias', name: 'b', shape: [4], param: b4 }],
      outs: [NOUT], opsets: [9, 13], tol: 1e-4,
      ref: ({ x }) => ({ y: map1(groups(x!, 2), (v, i) => v * s4[Math.floor(i / 15) % 4]! + Math.fround(b4[Math.floor(i / 15) % 4]!)) }),
    }, dir);
    await runCase({
      op: 'instance_norm', attrs: { epsilon: { f: 1e-5 } },
      ins: [N, { slot: 'Scale', name: 's', shape: [4], param: s4 }, { slot: 'Bias', name: 'b', shape: [4], param: b4 }],
      outs: [NOUT], opsets: [9, 13], tol: 1e-4,
      ref: ({ x }) => ({ y: map1(standardize(x!, [2, 3], 1e-5), (v, i) => v * s4[Math.floor(i / 15) % 4]! + Math.fround(b4[Math.floor(i / 15) % 4]!)) }),
    }, dir);
    await runCase({
      op: 'affine_channel', attrs: { data_layout: 'NCHW' },
      ins: [N, { slot: 'Scale', name: 's', shape: [4], param: s4 }, { slot: 'Bias', name: 'b', shape: [4], param: b4 }],
      outs: [{ slot: 'Out', name: 'y', shape: [-1, 4, 3, 5] }], opsets: [9, 13],
      ref: ({ x }) => ({ y: map1(x!, (v, i) => v * s4[Math.floor(i / 15) % 4]! + Math.fround(b4[Math.floor(i / 15) % 4]!)) }),
    }, dir);
  });

  it('p_norm for p in 2, 1, 3, inf, 0 (axis, keepdim); norm (l2 normalize) with its Norm output', async () => {
    const abs = Math.abs;
    const ps: [number, (t: T64, keep: boolean) => T64][] = [
      [2, (t, k) => reduceRef(t, [1], k, 0, (s, v) => s + v * v, Math.sqrt)],
      [1, (t, k) => reduceRef(t, [1], k, 0, (s, v) => s + abs(v))],
      [3, (t, k) => reduceRef(t, [1], k, 0, (s, v) => s + abs(v) ** 3, (s) => s ** (1 / 3))],
      [Infinity, (t, k) => reduceRef(t, [1], k, 0, (s, v) => Math.max(s, abs(v)))],
      [0, (t, k) => reduceRef(t, [1], k, 0, (s, v) => s + (v !== 0 ? 1 : 0))],
    ];
    for (const [p, fn] of ps) {
      for (const keep of [false, true]) {
        await runCase({
          op: 'p_norm', attrs: { porder: { f: p }, axis: 1, keepdim: keep, epsilon: { f: 1e-12 }, asvector: false },
          ins: [N], outs: [{ slot: 'Out', name: 'y', shape: keep ? [-1, 1, 3, 5] : [-1, 3, 5] }], opsets: [9, 13], tol: 1e-4,
          ref: ({ x }) => ({ y: fn(x!, keep) }),
        }, dir);
      }
    }
    await runCase({
      op: 'frobenius_norm', attrs: { dim: [2, 3], keep_dim: false, reduce_all: false }, ins: [N], outs: [{ slot: 'Out', name: 'y', shape: [-1, 4] }], opsets: [9, 13], tol: 1e-4,
      ref: ({ x }) => ({ y: reduceRef(x!, [2, 3], false, 0, (s, v) => s + v * v, Math.sqrt) }),
    }, dir);
    await runCase({
      op: 'norm', attrs: { axis: 1, epsilon: { f: 1e-10 } }, ins: [N],
      outs: [{ slot: 'Out', name: 'y', shape: [-1, 4, 3, 5] }, { slot: 'Norm', name: 'n', shape: [-1, 1, 3, 5] }], opsets: [9, 13], tol: 1e-4,
      ref: ({ x }) => {
        const n = reduceRef(x!, [1], true, 0, (s, v) => s + v * v, (s) => Math.sqrt(s + 1e-10));
        return { y: map2(x!, n, (a, b) => a / b), n };
      },
    }, dir);
  });
});

describe('PIR spellings', () => {
  const x = { slot: '0', name: 'x', shape: [-1, 3, 4] };
  const out = [{ slot: '0', name: 'y', shape: [-1, 3, 4] }];
  it('leaky_relu (negative_slope), softshrink (threshold), mish (lambda), gelu, relu6', async () => {
    await runPirCase({ op: 'leaky_relu', attrs: { negative_slope: 0.3 }, ins: [x], outs: out, opsets: [13], ref: ({ x: t }) => ({ y: map1(t!, (v) => (v >= 0 ? v : Math.fround(0.3) * v)) }) });
    await runPirCase({ op: 'softshrink', attrs: { threshold: 0.5 }, ins: [x], outs: out, opsets: [13], ref: ({ x: t }) => ({ y: map1(t!, (v) => (v > 0.5 ? v - 0.5 : v < -0.5 ? v + 0.5 : 0)) }) });
    await runPirCase({ op: 'mish', attrs: { lambda: 20 }, ins: [x], outs: out, opsets: [13], ref: ({ x: t }) => ({ y: map1(t!, (v) => v * Math.tanh(softplus(v))) }) });
    await runPirCase({ op: 'gelu', attrs: { approximate: false }, ins: [x], outs: out, opsets: [13], ref: ({ x: t }) => ({ y: map1(t!, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))) }) });
    await runPirCase({ op: 'relu6', ins: [x], outs: out, opsets: [13], ref: ({ x: t }) => ({ y: map1(t!, (v) => Math.min(Math.max(v, 0), 6)) }) });
  });

  it('sum (axes operand, int64 out dtype), argmin and cumsum (axis operand), amax / all (axis attribute), pow (y), remainder, hardtanh', async () => {
    const ax = { name: 'ax', dtype: 'int64' as const, shape: [1] };
    await runPirCase({
      op: 'sum', attrs: { keepdim: false, dtype: 'int64' }, ins: [{ ...x, dtype: 'int32', values: (n) => Array.from({ length: n }, (_, i) => (i % 9) - 4) }], operands: { 1: 'ax' },
      pre: [pirOp('full_int_array', {}, { 0: ['ax'] }, { value: [1], dtype: 'int64' })], extraVars: [ax],
      outs: [{ slot: '0', name: 'y', shape: [-1, 4], dtype: 'int64' }], opsets: [9, 13],
      ref: ({ x: t }) => ({ y: reduceRef(t!, [1], false, 0, (s, v) => s + v) }),
    });
    const axs = { name: 'ax', dtype: 'int64' as const, shape: [] };
    await runPirCase({
      op: 'argmin', attrs: { keepdims: true, flatten: false, dtype: 'int64' }, ins: [x], operands: { 1: 'ax' },
      pre: [pirOp('full', {}, { 0: ['ax'] }, { shape: [], value: -1, dtype: 'int64' })], extraVars: [axs],
      outs: [{ slot: '0', name: 'y', shape: [-1, 3, 1], dtype: 'int64' }], opsets: [9, 13],
      ref: ({ x: t }) => {
        const n = t!.data.length / 4; const data = new Float64Array(n);
        for (let r = 0; r < n; r++) { let b = Infinity; let at = 0; for (let k = 0; k < 4; k++) if (t!.data[r * 4 + k]! < b) { b = t!.data[r * 4 + k]!; at = k; } data[r] = at; }
        return { y: { dims: [t!.dims[0]!, 3, 1], data } };
      },
    });
    await runPirCase({
      op: 'cumsum', attrs: { flatten: false, exclusive: false, reverse: true }, ins: [x], operands: { 1: 'ax' },
      pre: [pirOp('full', {}, { 0: ['ax'] }, { shape: [], value: 1, dtype: 'int64' })], extraVars: [axs], outs: out, opsets: [11, 13],
      ref: ({ x: t }) => {
        const d = t!.data; const data = new Float64Array(d.length);
        for (let b = 0; b < t!.dims[0]!; b++) for (let j = 0; j < 4; j++) { let s = 0; for (let i = 2; i >= 0; i--) { s += d[(b * 3 + i) * 4 + j]!; data[(b * 3 + i) * 4 + j] = s; } }
        return { y: { dims: t!.dims, data } };
      },
    });
    await runPirCase({ op: 'amax', attrs: { axis: [2], keepdim: false }, ins: [x], outs: [{ slot: '0', name: 'y', shape: [-1, 3] }], opsets: [9, 13], ref: ({ x: t }) => ({ y: reduceRef(t!, [2], false, -Infinity, Math.max) }) });
    await runPirCase({
      op: 'all', attrs: { axis: [], keepdim: false }, ins: [{ ...x, dtype: 'bool', values: (n) => Array.from({ length: n }, () => 1) }], outs: [{ slot: '0', name: 'y', shape: [], dtype: 'bool' }], opsets: [13],
      batches: [2], ref: () => ({ y: { dims: [], data: Float64Array.of(1) } }),
    });
    await runPirCase({ op: 'pow', attrs: { y: 2 }, ins: [x], outs: out, opsets: [9, 13], ref: ({ x: t }) => ({ y: map1(t!, (v) => v * v) }) });
    await runPirCase({
      op: 'remainder', ins: [x, { slot: '1', name: 'b', shape: [-1, 3, 4], values: (n) => realistic(n, 2, 7).map((v) => (Math.abs(v) < 0.3 ? -1.25 : v)) }], outs: out, opsets: [10, 13], tol: 2e-5,
      ref: ({ x: t, b }) => ({ y: map2(t!, b!, (p, q) => { const r = Math.fround(p % q); return r !== 0 && (r < 0) !== (q < 0) ? Math.fround(r + q) : r; }) }),
    });
    await runPirCase({ op: 'hardtanh', attrs: { t_min: -1, t_max: 1 }, ins: [x], outs: out, opsets: [9, 13], ref: ({ x: t }) => ({ y: map1(t!, (v) => Math.min(Math.max(v, -1), 1)) }) });
  });

  it('mean / max with the axes from full_int_array, clip with full operands, layer_norm, remainder', async () => {
    const ax = { name: 'ax', dtype: 'int64' as const, shape: [1] };
    await runPirCase({
      op: 'mean', attrs: { keepdim: false }, ins: [x], operands: { 1: 'ax' },
      pre: [pirOp('full_int_array', {}, { 0: ['ax'] }, { value: [-1], dtype: 'int64' })], extraVars: [ax],
      outs: [{ slot: '0', name: 'y', shape: [-1, 3] }], opsets: [13],
      ref: ({ x: t }) => ({ y: reduceRef(t!, [2], false, 0, (s, v) => s + v, (s, c) => s / c) }),
    });
    await runPirCase({
      op: 'max', attrs: { keepdim: true }, ins: [x], operands: { 1: 'ax' }, pre: [pirOp('full_int_array', {}, { 0: ['ax'] }, { value: [1], dtype: 'int64' })], extraVars: [ax],
      outs: [{ slot: '0', name: 'y', shape: [-1, 1, 4] }], opsets: [9, 13],
      ref: ({ x: t }) => ({ y: reduceRef(t!, [1], true, -Infinity, Math.max) }),
    });
    const lo = { name: 'lo', dtype: 'float32' as const, shape: [1] };
    const hi = { name: 'hi', dtype: 'float32' as const, shape: [1] };
    await runPirCase({
      op: 'clip', ins: [x], operands: { 1: 'lo', 2: 'hi' }, pre: [pirOp('full', {}, { 0: ['lo'] }, { shape: [1], value: -1, dtype: 'float32' }), pirOp('full', {}, { 0: ['hi'] }, { shape: [1], value: 0.5, dtype: 'float32' })],
      extraVars: [lo, hi], outs: out, opsets: [11, 13], ref: ({ x: t }) => ({ y: map1(t!, (v) => Math.min(Math.max(v, -1), 0.5)) }),
    });
    await runPirCase({
      op: 'layer_norm', attrs: { epsilon: 1e-5, begin_norm_axis: 2 }, ins: [x], outs: out, opsets: [13, 17], tol: 1e-4,
      ref: ({ x: t }) => {
        const m = reduceRef(t!, [2], true, 0, (s, v) => s + v, (s, c) => s / c);
        const d = map2(t!, m, (a, b) => a - b);
        const v = reduceRef(map1(d, (a) => a * a), [2], true, 0, (s, a) => s + a, (s, c) => s / c);
        return { y: map2(d, v, (a, b) => a / Math.sqrt(b + 1e-5)) };
      },
    });
  });
});

describe('declared inputs', () => {
  it('a required input the program does not give is E_ONNX_OP_SLOT naming the op and the slot, with the file', async () => {
    const d = join(dir, 'noslot');
    mkdirSync(d);
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 4]).variable('y', 'float32', [-1, 4])
      .op('prelu', { X: ['x'] }, { Out: ['y'] }, { mode: 'all' }).fetch('y');
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    const e = await convertToOnnx(d, {}).catch((err: unknown) => err);
    expect((e as PserveError).code).toBe('E_ONNX_OP_SLOT');
    expect((e as PserveError).message).toBe('op prelu: input Alpha is missing');
    expect((e as PserveError).file).toBe(join(d, 'inference.pdmodel'));
  });
});
