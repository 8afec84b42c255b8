/**
 * The model behind the server: opening an onnxruntime session with the device's fallback order,
 * binding the serving conf's aliases to the model's inputs and outputs, and the pool of inference
 * worker threads (infer-worker.mjs) that runs requests, micro-batched.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { giveBuffer } from './buffers.mjs';
import { SERVING_TYPES } from './tensors.mjs';

const CUDA_LIB = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';

function cudaInstalled(requireFn) {
  try {
    const pkg = dirname(requireFn.resolve('onnxruntime-node/package.json'));
    return existsSync(join(pkg, 'bin', 'napi-v6', process.platform, process.arch, CUDA_LIB));
  } catch { return false; }
}

/**
 * onnxruntime throws when an execution provider cannot start instead of falling back, so the
 * fallback order lives here: auto = CUDA, WebGPU, CPU; gpu = CUDA (CPU too unless --device gpu).
 */
export async function openSession(ort, requireFn, modelPath, device, { explicit, threads, log }) {
  const order = device === 'auto' ? ['cuda', 'webgpu', 'cpu']
    : device === 'gpu' ? (explicit ? ['cuda'] : ['cuda', 'cpu'])
    : device === 'webgpu' ? ['webgpu'] : ['cpu'];
  const notes = [];
  for (const ep of order) {
    if (ep === 'cuda' && !cudaInstalled(requireFn)) {
      notes.push(`CUDA is not available: onnxruntime-node's CUDA provider (${CUDA_LIB}) is not installed in this bundle (see README.md, "GPU")`);
      continue;
    }
    try {
      // no spin-waiting in onnxruntime's thread pool: a server shares its cores with HTTP and JSON
      // work (and often other processes), where spinning threads cost more than they save
      const opts = { executionProviders: [ep], graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } };
      if (threads > 0) opts.intraOpNumThreads = threads;
      const session = await ort.InferenceSession.create(modelPath, opts);
      for (const n of notes) log(`${n}; using ${ep}`);
      return { session, ep };
    } catch (e) {
      const first = String(e?.message ?? e).split('\n')[0];
      notes.push(ep === 'cuda' ? `CUDA is not available: ${first}` : `${ep} could not start: ${first}`);
    }
  }
  throw new Error(notes.join('; '));
}

/** the conf's aliases bound to the model's inputs and outputs (io: names and metadata from a worker's session) */
export function bindModel(session, conf) {
  const io = (confVars, names, metas, kind) => {
    if (confVars.length === 0) return names.map((n, i) => ({ name: n, alias: n, onnx: n, ...meta(metas[i]) }));
    return confVars.map((v, i) => {
      let at = names.indexOf(v.name);
      if (at < 0 && confVars.length === names.length) at = i;
      if (at < 0) throw new Error(`${kind} "${v.name}" of the serving conf is not an input/output of model.onnx (it has ${names.join(', ')})`);
      return { name: v.name, alias: v.alias || v.name, onnx: names[at], servingType: SERVING_TYPES[v.type] ?? 'unknown', lod: v.lod === true, ...meta(metas[at]) };
    });
  };
  const meta = (m) => ({
    dtype: m?.type ?? 'float32',
    shape: (m?.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
  });
  return {
    feeds: io(conf.feeds, session.inputNames, session.inputMetadata ?? [], 'feed'),
    fetches: io(conf.fetches, session.outputNames, session.outputMetadata ?? [], 'fetch'),
  };
}

/**
 * onnxruntime-node's session.run occupies the thread that calls it for the whole run, so the
 * sessions live on worker threads: the main thread reads HTTP and parses JSON for the next
 * requests while a worker runs the model. Input and output tensors cross as transferred
 * ArrayBuffers (moved, not copied). Each worker owns one session and runs one job at a time.
 *
 * Micro-batching: requests with the same non-batch shapes and fetches that are waiting when a
 * worker becomes free go into its next run together (concatenated along dim 0, outputs split
 * back per request), up to `maxRows` rows. Nothing waits for a batch to fill: an idle worker
 * takes a request at once. Only for models whose feeds and fetches all have a batch dim of -1; a
 * batched run that fails is retried one request at a time, so one bad request never fails the others.
 *
 * A worker that stops (an uncaught error, memory, a native abort that spares the process) is
 * replaced; the requests it was running get a 503 (their inputs went with it), queued ones wait
 * for the replacement.
 */

/** the device to give further workers once the first has found one that starts: no fallback notes twice */
const DEVICE_OF_EP = { cuda: 'gpu', webgpu: 'webgpu', cpu: 'cpu' };

export class WorkerStopped extends Error {}

export class InferencePool {
  /**
   * count workers; session: { modelPath, device, explicit, threads }; onRun(requests, rows); reuseInputs: the
   * workers hand each run's input buffers back, kept for this thread's next tensors (buffers.mjs; a pipeline's
   * preprocessing writes into them)
   */
  constructor({ count, session, maxRows, onRun, onRestart, log, reuseInputs = false }) {
    Object.assign(this, { count, session, maxRows, onRun, onRestart, log, reuseInputs });
    this.slots = [];
    this.queue = [];
    this.nextId = 1;
    this.closing = false;
    this.ep = null;
  }

  /** Start the workers; resolves { ep, io, notes } from the first, which tries the device's fallback order. */
  async start() {
    const first = await this.spawn(this.session.device, this.session.explicit);
    this.ep = first.ep;
    const rest = [];
    for (let i = 1; i < this.count; i++) rest.push(this.spawn(DEVICE_OF_EP[first.ep], true));
    await Promise.all(rest);
    return first;
  }

  get ready() { return this.slots.filter((s) => s.ready).length; }

  spawn(device, explicit) {
    return new Promise((resolveStart, rejectStart) => {
      const { modelPath, threads } = this.session;
      const worker = new Worker(new URL('./infer-worker.mjs', import.meta.url), { workerData: { pserveInferWorker: true, modelPath, device, explicit, threads } });
      const slot = { worker, ready: false, jobs: null, stopReason: '' };
      this.slots.push(slot);
      worker.on('message', (m) => {
        if (m.type === 'ready') {
          slot.ready = true;
          resolveStart(m);
          this.pump();
        } else if (m.type === 'failed') {
          slot.stopReason = m.message;
          rejectStart(new Error(m.message));
        } else if (m.type === 'done') this.finish(slot, m);
      });
      worker.on('error', (e) => { slot.stopReason = String(e?.message ?? e).split('\n')[0]; });
      worker.on('exit', (code) => {
        this.slots.splice(this.slots.indexOf(slot), 1);
        if (this.closing) return;
        if (!slot.ready) {
          rejectStart(new Error(slot.stopReason || `the inference worker exited with code ${code} while opening the model`));
          return;
        }
        const why = slot.stopReason || `exit code ${code}`;
        if (slot.jobs) {
          const err = new WorkerStopped(`the inference worker stopped while running this request (${why}); it has been restarted, send the request again`);
          for (const j of slot.jobs) j.rejectJob(err);
        }
        this.onRestart();
        this.log(`inference worker stopped (${why}); starting another`);
        this.replace();
      });
    });
  }

  replace() {
    this.spawn(DEVICE_OF_EP[this.ep], true).catch((e) => {
      if (this.closing) return;
      this.log(`inference worker could not restart: ${e.message}; trying again in 1 s`);
      if (this.ready === 0) {
        const err = new WorkerStopped(`no inference worker is running (${e.message}); send the request again later`);
        for (const j of this.queue.splice(0)) j.rejectJob(err);
      }
      setTimeout(() => { if (!this.closing) this.replace(); }, 1000).unref();
    });
  }

  /** feeds: [{ onnx, dtype, data, shape }], fetches: onnx names; resolves { name: { data, dims } } */
  run(feeds, fetches, batchable) {
    const rows = feeds[0]?.shape[0] ?? 1;
    const key = batchable && this.maxRows > 1 && rows < this.maxRows
      ? JSON.stringify([fetches, feeds.map((f) => [f.onnx, f.dtype, f.shape.slice(1)])]) : null;
    return new Promise((resolveJob, rejectJob) => {
      this.queue.push({ feeds, fetches, rows, key, resolveJob, rejectJob });
      this.pump();
    });
  }

  /** hand waiting jobs to idle workers, batching those that fit together */
  pump() {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.jobs) continue;
      const first = this.queue.shift();
      const jobs = [first];
      if (first.key !== null) {
        let rows = first.rows;
        for (let i = 0; i < this.queue.length && rows < this.maxRows;) {
          const j = this.queue[i];
          if (j.key === first.key && rows + j.rows <= this.maxRows) { jobs.push(j); rows += j.rows; this.queue.splice(i, 1); } else i++;
        }
      }
      slot.jobs = jobs;
      const transfer = [];
      const message = {
        type: 'run',
        fetches: first.fetches,
        giveBack: this.reuseInputs,
        jobs: jobs.map((j) => ({ rows: j.rows, feeds: j.feeds.map((f) => ({ onnx: f.onnx, dtype: f.dtype, shape: f.shape, data: movable(f.data, transfer) })) })),
      };
      slot.worker.postMessage(message, transfer);
    }
  }

  finish(slot, m) {
    const jobs = slot.jobs;
    slot.jobs = null;
    for (const b of m.inputs ?? []) giveBuffer(b);
    for (const [requests, rows] of m.runs) this.onRun(requests, rows);
    if (m.batch) {
      const total = jobs.reduce((n, j) => n + j.rows, 0);
      let row = 0;
      for (const j of jobs) {
        const part = {};
        for (const name of j.fetches) {
          const t = m.batch[name];
          const per = t.data.length / total;
          part[name] = { data: t.data.subarray(row * per, (row + j.rows) * per), dims: [j.rows, ...t.dims.slice(1)] };
        }
        row += j.rows;
        j.resolveJob(part);
      }
    } else {
      m.single.forEach((r, i) => (r.error !== undefined ? jobs[i].rejectJob(new Error(r.error)) : jobs[i].resolveJob(r.out)));
    }
    this.pump();
  }

  async close() {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** a typed array whose buffer can be moved to another thread: its own whole buffer, else a copy */
export function movable(data, transfer) {
  if (!ArrayBuffer.isView(data)) return data;
  // a view of a request body read into a buffer of its own (serving-proto.mjs fromBytes): the
  // whole body buffer moves with it, once
  if (data.ownsBuffer === true) {
    if (!transfer.includes(data.buffer)) transfer.push(data.buffer);
    return data;
  }
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || transfer.includes(data.buffer)) data = data.slice();
  transfer.push(data.buffer);
  return data;
}

