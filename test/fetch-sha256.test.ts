/**
 * The sha256 stream: the worker mode (a shared ring, hashed in place on another thread) gives the
 * same digest as hashing inline, for chunks smaller and larger than a ring slot and for more bytes
 * than the ring holds (the producer waits for free slots); a closed stream ends its worker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Stream } from '../src/fetch/sha256.js';

describe('sha256 stream', () => {
  it('hashes on the worker exactly as inline, across slot boundaries and past the ring size', async () => {
    const src = randomBytes(3 << 20);
    // sizes: empty, tiny, one slot, more than one slot, odd
    const sizes = [0, 1, 1 << 20, (1 << 20) + 7, 3, 2_500_000, 65_536];
    const chunks: Buffer[] = [];
    for (let i = 0; chunks.length < 40; i++) {
      const n = sizes[i % sizes.length]!;
      const off = (i * 7919) % (src.length - n);
      chunks.push(src.subarray(off, off + n));
    }
    const ref = createHash('sha256');
    const w = sha256Stream({ worker: true });
    const inline = sha256Stream({ worker: false });
    for (const c of chunks) {
      ref.update(c);
      await Promise.all([w.update(c), inline.update(c)]);
    }
    const expected = ref.digest('hex');
    expect(await w.digest()).toBe(expected);
    expect(await inline.digest()).toBe(expected);
  });

  it('takes updates issued without waiting, in order', async () => {
    const parts = Array.from({ length: 30 }, (_, i) => randomBytes(300_000 + i));
    const w = sha256Stream({ worker: true });
    await Promise.all(parts.map((p) => w.update(p)));
    expect(await w.digest()).toBe(createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
  });

  it('digests an empty stream, and a closed stream refuses more bytes', async () => {
    expect(await sha256Stream({ worker: true }).digest()).toBe(createHash('sha256').digest('hex'));
    const w = sha256Stream({ worker: true });
    await w.update(randomBytes(1000));
    w.close();
    await expect(w.update(randomBytes(10))).rejects.toThrow(/closed/);
  });
});
