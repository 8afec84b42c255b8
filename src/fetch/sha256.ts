/**
 * sha256 of a stream of chunks. Hashing runs at ~0.5 GB/s on one core, as slow as the download
 * and the unpack together, so large archives are hashed on a worker thread while the main thread
 * moves bytes. At most MAX_IN_FLIGHT bytes wait for the worker: memory stays flat however large
 * the archive is.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface Sha256Stream {
  update(chunk: Buffer): Promise<void>;
  digest(): Promise<string>;
  /** stop without a result (the attempt failed) */
  close(): void;
}

const MAX_IN_FLIGHT = 32 << 20;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
parentPort.on('message', (m) => {
  if (m === 'end') { parentPort.postMessage({ digest: hash.digest('hex') }); return; }
  hash.update(m);
  parentPort.postMessage({ ack: m.byteLength });
});
`;

export function sha256Stream(opts: { worker: boolean }): Sha256Stream {
  if (!opts.worker) {
    const h = createHash('sha256');
    return { async update(c) { h.update(c); }, async digest() { return h.digest('hex'); }, close() { /* nothing */ } };
  }
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  let inFlight = 0;
  let waiter: (() => void) | undefined;
  let failure: Error | undefined;
  let onDigest: ((d: string) => void) | undefined;
  worker.on('message', (m: { ack?: number; digest?: string }) => {
    if (m.ack !== undefined) {
      inFlight -= m.ack;
      if (waiter && inFlight <= MAX_IN_FLIGHT / 2) { const w = waiter; waiter = undefined; w(); }
    } else if (m.digest !== undefined) onDigest?.(m.digest);
  });
  worker.on('error', (e: Error) => { failure = e; waiter?.(); });
  return {
    async update(chunk) {
      if (failure) throw failure;
      // a copy the worker owns: the original is still being written to disk by the unpacker
      const copy = new Uint8Array(chunk.byteLength);
      copy.set(chunk);
      inFlight += copy.byteLength;
      worker.postMessage(copy, [copy.buffer]);
      if (inFlight > MAX_IN_FLIGHT) await new Promise<void>((r) => { waiter = r; });
      if (failure) throw failure;
    },
    async digest() {
      if (failure) throw failure;
      const d = await new Promise<string>((res, rej) => {
        onDigest = res;
        worker.once('error', rej);
        worker.postMessage('end');
      });
      void worker.terminate();
      return d;
    },
    close() { void worker.terminate(); },
  };
}

