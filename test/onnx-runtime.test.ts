/** src/runtime/onnx-runtime.ts: session metadata, input checks naming what is wrong, device errors. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PserveError } from '../src/errors.js';
import { convertToOnnx } from '../src/convert/onnx/index.js';
import { checkFeeds, openSession, type OnnxSession } from '../src/runtime/onnx-runtime.js';
import { ROOT } from './helpers.js';

let bytes: Uint8Array;
let s: OnnxSession;
beforeAll(async () => {
  const r = await convertToOnnx(join(ROOT, 'fixtures', 'tiny_classifier'), {});
  bytes = r.bytes!;
  s = await openSession(bytes, { label: 'tiny' });
});
afterAll(async () => { await s.close(); });

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; return 'no error'; } catch (e) { expect(e).toBeInstanceOf(PserveError); return (e as PserveError).code; }
}

describe('onnx-runtime', () => {
  it('exposes inputs/outputs with pserve dtypes and symbolic dims', () => {
    expect(s.device).toBe('cpu');
    expect(s.inputs.length).toBe(1);
    expect(s.inputs[0]!.dtype).toBe('float32');
    expect(s.inputs[0]!.shape[0]).toMatch(/_dim0$/);
    expect(s.outputs.length).toBe(1);
  });

  it('names missing, unknown, mistyped and misshaped inputs', async () => {
    const i = s.inputs[0]!;
    const dims = i.shape.map((d) => (typeof d === 'number' ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    expect(await code(s.run({}))).toBe('E_ORT_INPUT_MISSING');
    expect(await code(s.run({ [i.name]: { dtype: 'float32', dims, data: new Float32Array(n) }, extra: { dtype: 'float32', dims: [1], data: new Float32Array(1) } }))).toBe('E_ORT_INPUT_UNKNOWN');
    expect(await code(s.run({ [i.name]: { dtype: 'int32', dims, data: new Int32Array(n) } }))).toBe('E_ORT_INPUT_DTYPE');
    expect(await code(s.run({ [i.name]: { dtype: 'float32', dims, data: new Float32Array(n + 1) } }))).toBe('E_ORT_INPUT_SIZE');
    expect(() => checkFeeds([{ name: 'x', dtype: 'float32', shape: ['n', 3] }], { x: { dtype: 'float32', dims: [1, 4], data: new Float32Array(4) } })).toThrow(/expected shape \[n,3\], found \[1,4\]/);
    const ok = await s.run({ [i.name]: { dtype: 'float32', dims, data: new Float32Array(n).fill(0.5) } });
    expect(Object.keys(ok)).toEqual(s.outputs.map((o) => o.name));
  });

  it('a garbage model is E_ORT_LOAD; cuda without its libraries is E_ORT_DEVICE_UNAVAILABLE (or works where present)', async () => {
    expect(await code(openSession(new Uint8Array([1, 2, 3])))).toBe('E_ORT_LOAD');
    const c = await code(openSession(bytes, { device: 'cuda' }).then((x) => x.close()));
    expect(['E_ORT_DEVICE_UNAVAILABLE', 'no error']).toContain(c);
    expect(await code(openSession(bytes, { device: 'tpu' as 'cpu' }))).toBe('E_USAGE');
  });

  it('a closed session refuses to run', async () => {
    const t = await openSession(bytes);
    await t.close();
    expect(await code(t.run({}))).toBe('E_ORT_CLOSED');
    void readFileSync;
  });
});
