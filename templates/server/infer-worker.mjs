/**
 * The entry of an inference worker thread, started by InferencePool (inference.mjs) with the
 * model path, device and threads in workerData. Runs only inside such a worker.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { movable, openSession } from './inference.mjs';

/** The worker side: open the session, then answer { type: 'run' } messages one at a time. */
async function inferWorkerMain({ modelPath, device, explicit, threads }) {
  // onnxruntime-node is resolved from the bundle's root (its node_modules), as server.mjs would
  const requireFn = createRequire(fileURLToPath(new URL('../server.mjs', import.meta.url)));
  const ort = requireFn('onnxruntime-node');
  // a provider that cannot start is reported once, in our own words (below); onnxruntime's own
  // log line about it would only repeat that on stderr (PSERVE_DEBUG=1 keeps it)
  if (!process.env.PSERVE_DEBUG) ort.env.logLevel = 'fatal';
  const notes = [];
  let session;
  let ep;
  try {
    ({ session, ep } = await openSession(ort, requireFn, modelPath, device, { explicit, threads, log: (line) => notes.push(line) }));
  } catch (e) {
    parentPort.postMessage({ type: 'failed', message: String(e?.message ?? e) });
    return;
  }
  const io = { inputNames: session.inputNames, outputNames: session.outputNames, inputMetadata: session.inputMetadata ?? [], outputMetadata: session.outputMetadata ?? [] };
  parentPort.postMessage({ type: 'ready', ep, notes, io: JSON.parse(JSON.stringify(io)) });

  const plain = (out, fetches) => Object.fromEntries(fetches.map((n) => [n, { data: out[n].data, dims: Array.from(out[n].dims) }]));
  const runOne = (job, fetches) => {
    const input = {};
    for (const f of job.feeds) input[f.onnx] = new ort.Tensor(f.dtype, f.data, f.shape);
    return session.run(input, fetches);
  };
  // the batched inputs are gathered into buffers kept from run to run (one per feed and element
  // type): the runtime reads them only while a run is in flight, and runs are one at a time here.
  // A fresh buffer per run costs its allocation, zeroing and page faults on every batch
  const batchBuffers = new Map();
  const KEEP_BYTES = 16 * 1024 * 1024; // a batch bigger than this gets a buffer of its own, not kept
  const batchBuffer = (k, C, n) => {
    if (n * C.BYTES_PER_ELEMENT > KEEP_BYTES) return new C(n);
    const key = `${k}:${C.name}`;
    let b = batchBuffers.get(key);
    if (!b || b.length < n) {
      b = new C(Math.min(Math.max(n, b ? b.length * 2 : 0), KEEP_BYTES / C.BYTES_PER_ELEMENT));
      batchBuffers.set(key, b);
    }
    return b.length === n ? b : b.subarray(0, n);
  };
  async function runJobs({ jobs, fetches }) {
    if (jobs.length > 1) {
      const total = jobs.reduce((n, j) => n + j.rows, 0);
      try {
        const input = {};
        jobs[0].feeds.forEach((f, k) => {
          const data = batchBuffer(k, f.data.constructor, jobs.reduce((n, j) => n + j.feeds[k].data.length, 0));
          let at = 0;
          for (const j of jobs) { data.set(j.feeds[k].data, at); at += j.feeds[k].data.length; }
          input[f.onnx] = new ort.Tensor(f.dtype, data, [total, ...f.shape.slice(1)]);
        });
        const out = await session.run(input, fetches);
        if (fetches.every((n) => out[n].dims[0] === total)) return { batch: plain(out, fetches), runs: [[jobs.length, total]] };
      } catch { /* one at a time below */ }
    }
    const single = [];
    const runs = [];
    for (const j of jobs) {
      try {
        single.push({ out: plain(await runOne(j, fetches), fetches) });
        runs.push([1, j.rows]);
      } catch (e) {
        single.push({ error: String(e?.message ?? e).split('\n')[0] });
      }
    }
    return { single, runs };
  }

  parentPort.on('message', async (m) => {
    if (m.type !== 'run') return;
    const reply = { type: 'done', ...(await runJobs(m)) };
    const transfer = [];
    for (const outs of reply.batch ? [reply.batch] : reply.single.map((r) => r.out ?? {})) {
      for (const t of Object.values(outs)) t.data = movable(t.data, transfer);
    }
    // the input tensors, run and done with, go back when asked: the main thread writes its next
    // tensors into them (buffers.mjs) instead of fresh memory
    const inputs = [];
    if (m.giveBack) for (const j of m.jobs) {
      for (const f of j.feeds) {
        const b = ArrayBuffer.isView(f.data) ? f.data.buffer : null;
        if (b instanceof ArrayBuffer && b.byteLength > 0 && !transfer.includes(b) && !inputs.includes(b)) inputs.push(b);
      }
    }
    reply.inputs = inputs;
    parentPort.postMessage(reply, transfer.concat(inputs));
  });
}

if (!isMainThread && workerData?.pserveInferWorker) await inferWorkerMain(workerData);
