/**
 * Buffers handed back for reuse (templates/server/buffers.mjs): an inference worker returns a run's
 * input tensors to the main thread, which writes its next tensor of the same size into one of them
 * (image/ops.mjs normalise + CHW) instead of fresh memory. What is kept is bounded (count, bytes, size
 * of one buffer) and dropped after an idle time; the tensors written into kept buffers are the same.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from './helpers.js';
import { convClassifierOnnx } from './onnx-test-models.js';

const buffers = await import('../templates/server/buffers.mjs');
const { InferencePool } = await import('../templates/server/inference.mjs');
const { normalizeToChw } = await import('../templates/server/image/ops.mjs');

/** empty the pool: take what is kept, by size */
function drain() {
  for (const n of [4, 64, 1 << 20, 2 << 20, 16 << 20, 3 * 48 * 192 * 4, 12 * 50 * 40]) while (buffers.takeBuffer(n)) { /* dropped */ }
  expect(buffers.keptBuffers().count).toBe(0);
}

afterEach(() => { vi.useRealTimers(); drain(); });

describe('kept buffers', () => {
  it('are taken by exact size, at most 8 and 64 MiB, none over 16 MiB, each dropped 5 s after it came back', () => {
    vi.useFakeTimers();
    drain();
    const a = new ArrayBuffer(64);
    buffers.giveBuffer(a);
    buffers.giveBuffer(new ArrayBuffer(0));
    buffers.giveBuffer(new Uint8Array(64));
    buffers.giveBuffer(new ArrayBuffer((16 << 20) + 1));
    expect(buffers.keptBuffers()).toEqual({ count: 1, bytes: 64 });
    expect(buffers.takeBuffer(32)).toBeNull();
    expect(buffers.takeBuffer(64)).toBe(a);
    expect(buffers.takeBuffer(64)).toBeNull();
    for (let i = 0; i < 10; i++) buffers.giveBuffer(new ArrayBuffer(4));
    expect(buffers.keptBuffers()).toEqual({ count: 8, bytes: 32 });
    // the oldest go first when the bytes would pass 64 MiB
    for (let i = 0; i < 5; i++) buffers.giveBuffer(new ArrayBuffer(16 << 20));
    expect(buffers.keptBuffers().bytes).toBeLessThanOrEqual(64 << 20);
    expect(buffers.keptBuffers().count).toBe(4);
    drain();
    buffers.giveBuffer(new ArrayBuffer(1 << 20));
    vi.advanceTimersByTime(3000);
    buffers.giveBuffer(new ArrayBuffer(2 << 20));
    vi.advanceTimersByTime(2100);
    expect(buffers.keptBuffers()).toEqual({ count: 1, bytes: 2 << 20 });
    vi.advanceTimersByTime(3000);
    expect(buffers.keptBuffers()).toEqual({ count: 0, bytes: 0 });
  });

  it('an inference worker hands a run\'s input back; a tensor written into it is the same', async () => {
    drain();
    const dir = tempDir('pserve-buffers-');
    writeFileSync(join(dir, 'model.onnx'), convClassifierOnnx());
    const n = 3 * 48 * 192;
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
    const poolOpts = { count: 1, session: { modelPath: join(dir, 'model.onnx'), device: 'cpu', explicit: true, threads: 1 }, maxRows: 1, onRun: () => {}, onRestart: () => {}, log: () => {} };
    const pool = new InferencePool({ ...poolOpts, reuseInputs: true });
    // a plain model server's pool (no pipeline preprocessing to take them) keeps nothing
    const plain = new InferencePool(poolOpts);
    await pool.start();
    await plain.start();
    try {
      const run = (p: any) => p.run([{ onnx: 'x', dtype: 'float32', data: x.slice(), shape: [1, 3, 48, 192] }], ['softmax_0.tmp_0'], false);
      const alone = await run(plain);
      expect(buffers.keptBuffers().count).toBe(0);
      const first = await run(pool);
      expect(buffers.keptBuffers()).toEqual({ count: 1, bytes: 4 * n });
      const again = await run(pool);
      expect(Array.from(again['softmax_0.tmp_0'].data)).toEqual(Array.from(first['softmax_0.tmp_0'].data));
      expect(Array.from(alone['softmax_0.tmp_0'].data)).toEqual(Array.from(first['softmax_0.tmp_0'].data));
      expect(buffers.keptBuffers().count).toBe(2);
    } finally {
      await pool.close();
      await plain.close();
    }
    // normalise + CHW of a 40x50 image takes a kept buffer of its size and writes all of it
    drain();
    const img = { width: 40, height: 50, channels: 3, data: Uint8Array.from({ length: 40 * 50 * 3 }, (_, i) => (i * 7) & 255) };
    const opts = { div: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], arithmetic: 'float64' };
    const fresh = normalizeToChw(img, opts, true);
    const old = new ArrayBuffer(12 * 50 * 40);
    new Uint8Array(old).fill(0xab);
    buffers.giveBuffer(old);
    const reused = normalizeToChw(img, opts, true);
    expect(reused.data.buffer).toBe(old);
    expect(Buffer.from(reused.data.buffer).equals(Buffer.from(fresh.data.buffer))).toBe(true);
  }, 60_000);
});
