/**
 * The native engine streams large parameters from the params file into the ONNX output (or its
 * external data file) instead of holding them: the bytes must be exactly what encoding the whole
 * model at once gives, onnxruntime must read them, and no initializer may go unread.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { convertToOnnx, paddleToOnnx } from '../src/convert/onnx/index.js';
import { ProgramBuilder, seededFloats } from '../src/formats/program-builder.js';
import { loadModel } from '../src/model/load-model.js';
import { openSession, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import { describeShared, shared, tempDir } from './helpers.js';

const { onnx } = onnxProto;
const sessions: OnnxSession[] = [];
afterAll(async () => { for (const s of sessions) await s.close(); });

const dir = tempDir('pserve-onnx-stream-');
const H = 96;
const W1 = seededFloats(H * H, 11, 0.1);
const B1 = seededFloats(H, 12, 0.05);
const W2 = seededFloats(H * 8, 13, 0.2);

/** x [N,96] -> matmul W1 (96x96, streamed) + b1 -> relu -> matmul W2 (96x8, read) ; a reshape whose shape is a fill_constant */
function program(): string {
  const d = join(dir, `m${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  const b = new ProgramBuilder()
    .feed('x', 'float32', [-1, H])
    .param('w1', [H, H], W1).param('b1', [H], B1).param('w2', [H, 8], W2)
    .variable('m', 'float32', [-1, H]).variable('a', 'float32', [-1, H]).variable('r', 'float32', [-1, H])
    .variable('y0', 'float32', [-1, 8]).variable('shape', 'int32', [2]).variable('y', 'float32', [-1, 2, 4]).variable('xs', 'float32', [0, -1, 8])
    .op('matmul_v2', { X: ['x'], Y: ['w1'] }, { Out: ['m'] }, { trans_x: false, trans_y: false })
    .op('elementwise_add', { X: ['m'], Y: ['b1'] }, { Out: ['a'] }, { axis: -1 })
    .op('relu', { X: ['a'] }, { Out: ['r'] })
    .op('matmul_v2', { X: ['r'], Y: ['w2'] }, { Out: ['y0'] }, { trans_x: false, trans_y: false })
    .op('fill_constant', {}, { Out: ['shape'] }, { dtype: 2, shape: [3], value: { f: 0 }, str_value: '0' })
    .op('reshape2', { X: ['y0'] }, { Out: ['y'], XShape: ['xs'] }, { shape: [0, 2, 4] })
    .fetch('y');
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  writeFileSync(join(d, 'inference.pdiparams'), b.paramsBytes());
  return d;
}

function reference(x: Float32Array, n: number): Float64Array {
  const out = new Float64Array(n * 8);
  for (let i = 0; i < n; i++) {
    const r = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      let s = 0;
      for (let k = 0; k < H; k++) s += x[i * H + k]! * W1[k * H + j]!;
      r[j] = Math.max(0, s + B1[j]!);
    }
    for (let j = 0; j < 8; j++) {
      let s = 0;
      for (let k = 0; k < H; k++) s += r[k]! * W2[k * 8 + j]!;
      out[i * 8 + j] = s;
    }
  }
  return out;
}

const input = (n: number) => Float32Array.from({ length: n * H }, (_, i) => Math.sin(i / 7) * 1.5);

async function check(file: string | Uint8Array): Promise<void> {
  const s = await openSession(file);
  sessions.push(s);
  for (const n of [1, 2]) {
    const y = (await s.run({ x: { dtype: 'float32', dims: [n, H], data: input(n) } }))['y']!;
    expect(y.dims).toEqual([n, 2, 4]);
    const want = reference(input(n), n);
    const got = y.data as Float32Array;
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-4);
  }
}

describe('streamed initializers', () => {
  it('the model streamed to a file is byte for byte the one encoded in memory, which re-encodes to itself', async () => {
    const d = program();
    const r = paddleToOnnx(loadModel(d, { params: 'require' }));
    expect(r.layout.inline.map((e) => e.src.proto.name)).toEqual(['w1']);
    const bytes = r.bytes;
    expect(bytes.byteLength).toBe(r.layout.byteLength);
    const decoded = onnx.ModelProto.decode(bytes);
    expect(Buffer.from(onnx.ModelProto.encode(decoded).finish()).equals(Buffer.from(bytes))).toBe(true);
    const w1 = decoded.graph!.initializer.find((t) => t.name === 'w1')!;
    expect(Buffer.from(w1.rawData).equals(Buffer.from(W1.buffer))).toBe(true);
    const file = join(dir, 'streamed.onnx');
    const w = await convertToOnnx(d, { saveFile: file });
    expect(w.validation?.ok).toBe(true);
    expect(readFileSync(file).equals(Buffer.from(bytes))).toBe(true);
    await check(file);
  });

  it('with external data the streamed parameter lands at its offset in the data file', async () => {
    const d = program();
    const file = join(dir, 'ext.onnx');
    const r = await convertToOnnx(d, { saveFile: file, externalDataThreshold: 1000 });
    const data = readFileSync(r.externalDataFile!);
    const m = onnx.ModelProto.decode(readFileSync(file));
    const w1 = m.graph!.initializer.find((t) => t.name === 'w1')!;
    const at = Number(w1.externalData.find((e) => e.key === 'offset')!.value);
    expect(Buffer.from(data.subarray(at, at + W1.byteLength)).equals(Buffer.from(W1.buffer))).toBe(true);
    await check(file);
  });

  it('every initializer is read by some node: conversion-time constants and unread params are dropped', () => {
    const r = paddleToOnnx(loadModel(program(), { params: 'require' }));
    const m = onnx.ModelProto.decode(r.bytes);
    const read = new Set(m.graph!.node.flatMap((n) => n.input));
    expect(m.graph!.initializer.filter((t) => !read.has(t.name)).map((t) => t.name)).toEqual([]);
    expect(m.graph!.initializer.map((t) => t.name).sort()).toEqual(expect.arrayContaining(['b1', 'w1', 'w2']));
  });
});

describeShared('no unused initializers on real programs', () => {
  it.each(['pplcnet_textline_ori_pir', 'ppocrv3_det', 'ppocr_cls_v2'])('%s', (name) => {
    const r = paddleToOnnx(loadModel(shared(name), { params: 'require' }));
    const m = onnx.ModelProto.decode(r.bytes);
    const read = new Set(m.graph!.node.flatMap((n) => n.input));
    expect(m.graph!.initializer.filter((t) => !read.has(t.name)).map((t) => t.name)).toEqual([]);
  });
});
