/**
 * sha256 of a stream of chunks. Hashing (~0.9 GB/s on one core with SHA-NI) costs as much CPU as
 * receiving, writing and unpacking together, so large archives are hashed on a second thread.
 *
 * The hand-off is a ring of fixed slots in one SharedArrayBuffer: the main thread copies each
 * chunk once into a free slot (a memcpy into memory that stays mapped, ~25 ms per 200 MiB) and
 * bumps a counter; the worker hashes the slot in place and bumps its own counter. No message per
 * chunk, no structured clone, no fresh allocation: an earlier version posted a transferred copy of
 * each block, and allocating and faulting in that fresh memory cost more main-thread CPU than
 * hashing inline. When every slot is full the main thread waits (Atomics.waitAsync) for the
 * worker, so memory is the ring, however large the archive.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface Sha256Stream {
  update(chunk: Buffer): Promise<void>;
  digest(): Promise<string>;
  /** stop without a result (the attempt failed) */
  close(): void;
}

// Node 16+ has it; the project's TypeScript lib predates it
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

const SLOT_BYTES = 1 << 20;
const SLOTS = 8;

// control words (Int32): chunks produced by the main thread, consumed by the worker, end flag
const PRODUCED = 0;
const CONSUMED = 1;
const END = 2;
const CTRL_WORDS = 3;

// the worker blocks in Atomics.wait between chunks; it reads only the control words and the ring
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { ring, ctrlBuf, lensBuf, slots, slotBytes } = workerData;
const ctrl = new Int32Array(ctrlBuf);
const lens = new Int32Array(lensBuf);
const hash = require('node:crypto').createHash('sha256');
let consumed = 0;
for (;;) {
  const produced = Atomics.load(ctrl, ${PRODUCED});
  if (produced === consumed) {
    if (Atomics.load(ctrl, ${END}) === 1) break;
    Atomics.wait(ctrl, ${PRODUCED}, produced);
    continue;
  }
  const slot = consumed % slots;
  hash.update(new Uint8Array(ring, slot * slotBytes, lens[slot]));
  consumed++;
  Atomics.store(ctrl, ${CONSUMED}, consumed);
  Atomics.notify(ctrl, ${CONSUMED});
}
parentPort.postMessage(hash.digest('hex'));
`;

export function sha256Stream(opts: { worker: boolean }): Sha256Stream {
  if (!opts.worker) {
    const h = createHash('sha256');
    return { async update(c) { h.update(c); }, async digest() { return h.digest('hex'); }, close() { /* nothing */ } };
  }
  const ring = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
  const ringView = new Uint8Array(ring);
  const ctrlBuf = new SharedArrayBuffer(CTRL_WORDS * 4);
  const ctrl = new Int32Array(ctrlBuf);
  const lensBuf = new SharedArrayBuffer(SLOTS * 4);
  const lens = new Int32Array(lensBuf);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ring, ctrlBuf, lensBuf, slots: SLOTS, slotBytes: SLOT_BYTES } });
  worker.unref();
  let produced = 0;
  let failure: Error | undefined;
  let closed = false;
  const digestP = new Promise<string>((res, rej) => {
    worker.once('message', (d: string) => res(d));
    worker.once('error', (e: Error) => rej(e));
    worker.once('exit', (code) => rej(new Error(`sha256 worker exited with code ${code}`)));
  });
  digestP.catch((e: Error) => {
    failure ??= e;
    // wake a producer waiting for a free slot
    Atomics.notify(ctrl, CONSUMED);
  });
  // chunks go in strictly in order, one after the other
  let queue: Promise<void> = Promise.resolve();
  const put = async (chunk: Buffer): Promise<void> => {
    for (let off = 0; off < chunk.length; off += SLOT_BYTES) {
      if (failure) throw failure;
      for (;;) {
        const consumed = Atomics.load(ctrl, CONSUMED);
        if (produced - consumed < SLOTS) break;
        const w = waitAsync(ctrl, CONSUMED, consumed);
        if (w.async) await w.value;
        if (failure) throw failure;
      }
      const n = Math.min(SLOT_BYTES, chunk.length - off);
      const slot = produced % SLOTS;
      ringView.set(chunk.subarray(off, off + n), slot * SLOT_BYTES);
      lens[slot] = n;
      produced++;
      Atomics.store(ctrl, PRODUCED, produced);
      Atomics.notify(ctrl, PRODUCED);
    }
  };
  return {
    update(chunk) {
      const p = queue.then(() => put(chunk));
      queue = p.catch(() => undefined);
      return p;
    },
    async digest() {
      await queue;
      if (failure) throw failure;
      Atomics.store(ctrl, END, 1);
      Atomics.notify(ctrl, PRODUCED);
      const d = await digestP;
      closed = true;
      void worker.terminate();
      return d;
    },
    close() {
      if (closed) return;
      closed = true;
      failure ??= new Error('sha256 stream closed');
      Atomics.store(ctrl, END, 1);
      Atomics.notify(ctrl, PRODUCED);
      void worker.terminate();
    },
  };
}
