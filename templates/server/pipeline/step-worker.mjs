/**
 * Image work off the HTTP thread: decoding a photo or resizing frames takes tens of milliseconds
 * of CPU, during which the main thread could not read other requests, answer health checks or
 * feed the inference workers. A job is a chain of steps (chain.mjs: the pipeline sends a run of
 * pure steps holding an `offload` one, decode -> resize -> ... -> stack, as one job): its inputs
 * are copied in (other steps may still read them), its intermediate values never leave the worker
 * and its output is moved back (transferred, not copied: the worker made it). Stateless steps only;
 * one job at a time per worker, queued in order. A request alone in the server skips them
 * (pipeline.mjs): with nothing else to read or answer, the HTTP thread runs its chains itself.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

export class StepWorkers {
  constructor(count) {
    this.slots = [];
    this.queue = [];
    this.nextId = 1;
    this.closing = false;
    for (let i = 0; i < count; i++) this.spawn();
  }

  spawn() {
    const worker = new Worker(new URL(import.meta.url), { workerData: { pserveStepWorker: true } });
    const slot = { worker, job: null };
    worker.on('message', (m) => {
      const job = slot.job;
      slot.job = null;
      if (job) {
        if (m.error) job.reject(Object.assign(new Error(m.error.message), m.error));
        else job.resolve(m.out);
      }
      this.pump();
    });
    worker.on('error', () => {});
    worker.on('exit', () => {
      this.slots.splice(this.slots.indexOf(slot), 1);
      if (this.closing) return;
      slot.job?.reject(Object.assign(new Error('the image worker stopped while running this step; send the request again'), { status: 503, errNo: 3001 }));
      this.spawn();
      this.pump();
    });
    this.slots.push(slot);
  }

  /** whether a job is running or waiting */
  get busy() {
    return this.queue.length > 0 || this.slots.some((s) => s.job !== null);
  }

  /** run a chain of steps ([{ op, params, step }], chain.mjs) on a worker; inputs: the first step's */
  runChain(members, inputs) {
    return new Promise((resolve, reject) => {
      this.queue.push({ msg: { members, inputs: compact(inputs) }, resolve, reject });
      this.pump();
    });
  }

  pump() {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.job) continue;
      slot.job = this.queue.shift();
      slot.worker.postMessage(slot.job.msg);
    }
  }

  async close() {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/**
 * Views that cover part of a larger buffer (frames of the request's one frames buffer, pooled small
 * Buffers) copied to their own: posting a view clones its whole underlying buffer.
 */
function compact(v) {
  if (ArrayBuffer.isView(v)) return v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? v : v.slice();
  if (Array.isArray(v)) return v.map(compact);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, compact(x)]));
  return v;
}

/** the ArrayBuffers a value's typed arrays fill whole (each once): what a worker can move back */
function movable(v, found = new Set()) {
  if (ArrayBuffer.isView(v)) {
    if (v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.buffer instanceof ArrayBuffer) found.add(v.buffer);
  } else if (Array.isArray(v)) {
    for (const x of v) movable(x, found);
  } else if (v && typeof v === 'object') {
    for (const x of Object.values(v)) movable(x, found);
  }
  return found;
}

if (!isMainThread && workerData?.pserveStepWorker) {
  const { runChain } = await import('./chain.mjs');
  parentPort.on('message', async ({ members, inputs }) => {
    try {
      const out = await runChain(members, inputs);
      // everything the chain returns lives in this worker only (its inputs are copies): moved, not copied
      parentPort.postMessage({ out }, [...movable(out)]);
    } catch (e) {
      // what the main thread needs to answer: the message, the image/index code, a RequestError's
      // status, the failing step of the chain
      parentPort.postMessage({ error: { message: String(e?.message ?? e), code: e?.code, status: e?.status, errNo: e?.errNo, step: e?.step } });
    }
  });
}
