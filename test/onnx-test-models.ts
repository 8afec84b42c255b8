/**
 * Small ONNX models built in the tests (onnx-proto), so the bundle and server tests do not depend
 * on the converter: uci_housing's linear layer (MatMul + Add with the real Paddle weights) and a
 * small conv classifier for the benchmark shape [-1,3,48,192].
 */
import onnxProto from 'onnx-proto';
import { loadModel } from '../src/model/load-model.js';

const { onnx } = onnxProto as unknown as { onnx: any };

function valueInfo(name: string, dims: (number | string)[]): unknown {
  return {
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function initializer(name: string, dims: number[], data: Float32Array): unknown {
  return { name, dims, dataType: 1, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function encode(graph: unknown): Uint8Array {
  const model = { irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'pserve-test', graph };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish() as Uint8Array;
}

/** uci_housing as ONNX: x [-1,13] -> fc_0.tmp_1 [-1,1] = x @ fc_0.w_0 + fc_0.b_0 */
export function uciHousingOnnx(modelDir: string): Uint8Array {
  const m = loadModel(modelDir, { params: 'require' });
  const w = Float32Array.from(m.readParam('fc_0.w_0') as Float32Array);
  const b = Float32Array.from(m.readParam('fc_0.b_0') as Float32Array);
  return encode({
    name: 'uci_housing',
    node: [
      { opType: 'MatMul', input: ['x', 'fc_0.w_0'], output: ['fc_0.tmp_0'], name: 'mul_0' },
      { opType: 'Add', input: ['fc_0.tmp_0', 'fc_0.b_0'], output: ['fc_0.tmp_1'], name: 'add_0' },
    ],
    initializer: [initializer('fc_0.w_0', [13, 1], w), initializer('fc_0.b_0', [1], b)],
    input: [valueInfo('x', ['batch', 13])],
    output: [valueInfo('fc_0.tmp_1', ['batch', 1])],
  });
}

/** A small conv classifier, x [-1,3,48,192] -> softmax_0.tmp_0 [-1,2], deterministic weights. */
export function convClassifierOnnx(): Uint8Array {
  let seed = 1;
  const rnd = (n: number, scale: number) => Float32Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed / 2147483648 - 0.5) * scale;
  });
  return encode({
    name: 'conv_cls',
    node: [
      { opType: 'Conv', input: ['x', 'c1.w', 'c1.b'], output: ['c1'], attribute: [{ name: 'strides', type: 7, ints: [2, 2] }, { name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
      { opType: 'Relu', input: ['c1'], output: ['r1'] },
      { opType: 'Conv', input: ['r1', 'c2.w', 'c2.b'], output: ['c2'], attribute: [{ name: 'strides', type: 7, ints: [2, 2] }, { name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
      { opType: 'Relu', input: ['c2'], output: ['r2'] },
      { opType: 'GlobalAveragePool', input: ['r2'], output: ['p'] },
      { opType: 'Flatten', input: ['p'], output: ['f'] },
      { opType: 'Gemm', input: ['f', 'fc.w', 'fc.b'], output: ['logits'] },
      { opType: 'Softmax', input: ['logits'], output: ['softmax_0.tmp_0'], attribute: [{ name: 'axis', type: 2, i: -1 }] },
    ],
    initializer: [
      initializer('c1.w', [16, 3, 3, 3], rnd(16 * 27, 0.5)), initializer('c1.b', [16], rnd(16, 0.1)),
      initializer('c2.w', [32, 16, 3, 3], rnd(32 * 16 * 9, 0.2)), initializer('c2.b', [32], rnd(32, 0.1)),
      initializer('fc.w', [32, 2], rnd(64, 0.5)), initializer('fc.b', [2], rnd(2, 0.1)),
    ],
    input: [valueInfo('x', ['batch', 3, 48, 192])],
    output: [valueInfo('softmax_0.tmp_0', ['batch', 2])],
  });
}
