/** The native writer: byte-exact round trip through onnx-proto, deterministic output, the unsupported-op error. */
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { paddleToOnnx } from '../src/convert/onnx/convert.js';
import { PserveError } from '../src/errors.js';
import { loadModel } from '../src/model/load-model.js';
import { ROOT } from './helpers.js';

const { onnx } = onnxProto;

describe('native ONNX writer', () => {
  const model = () => loadModel(join(ROOT, 'fixtures', 'tiny_classifier'), { params: 'require' });

  it('decodes and re-encodes to the same bytes, and converting twice gives the same bytes', () => {
    const a = paddleToOnnx(model()).bytes;
    const again = onnx.ModelProto.encode(onnx.ModelProto.decode(a)).finish();
    expect(Buffer.from(again).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(paddleToOnnx(model()).bytes).equals(Buffer.from(a))).toBe(true);
  });

  it('one initializer per parameter with the raw bytes; inputs/outputs named after feed/fetch vars', () => {
    const m = model();
    const r = onnx.ModelProto.decode(paddleToOnnx(m).bytes);
    const inits = new Map(r.graph!.initializer.map((t) => [t.name, t]));
    for (const p of m.params) {
      const t = inits.get(p.name)!;
      expect(t.dims.map(Number)).toEqual(p.shape);
      const d = m.readParam(p.name);
      expect(Buffer.from(t.rawData).equals(Buffer.from(d.buffer, d.byteOffset, d.byteLength))).toBe(true);
    }
    expect(r.graph!.input.map((i) => i.name)).toEqual(m.feeds.map((f) => f.name));
    expect(r.graph!.output.map((i) => i.name)).toEqual(m.fetches.map((f) => f.name));
    // the lowest opset its ops need
    expect(Number(r.opsetImport[0]!.version)).toBe(9);
  });

  it('lists every unsupported op type with counts before building anything', () => {
    const m = model();
    m.blocks[0]!.ops.splice(1, 0, { type: 'sequence_pool', inputs: {}, outputs: {}, attrs: {} }, { type: 'sequence_pool', inputs: {}, outputs: {}, attrs: {} }, { type: 'weird_op', inputs: {}, outputs: {}, attrs: {} });
    let err: unknown;
    try { paddleToOnnx(m); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(PserveError);
    expect((err as PserveError).code).toBe('E_ONNX_UNSUPPORTED_OPS');
    expect((err as PserveError).message).toBe('2 op types cannot be converted to ONNX: sequence_pool x2 (LoD sequence op: ONNX tensors carry no LoD), weird_op x1');
  });
});
