/**
 * Buffers handed back for reuse on this thread. A model's input tensors come back from the inference
 * worker once it has run them (inference.mjs, infer-worker.mjs), and the next tensor of the same size
 * is written into one of them (image/ops.mjs) instead of fresh memory: a fresh 0.6 MB (the imagenet
 * input) costs its zeroing and ~150 first-touch page faults, 13 us each on a VM.
 *
 * Bounds: at most KEEP_COUNT buffers and KEEP_BYTES in all, none over MAX_BYTES, and each is dropped
 * IDLE_MS after it came back if nothing took it, so a burst of big requests does not pin their memory.
 */
const KEEP_COUNT = 8;
const KEEP_BYTES = 64 << 20;
const MAX_BYTES = 16 << 20;
const IDLE_MS = 5_000;

/** @type {{ buf: ArrayBuffer, at: number }[]} oldest first */
const kept = [];
let keptBytes = 0;
/** @type {ReturnType<typeof setTimeout> | null} */
let timer = null;

function sweep() {
  timer = null;
  const now = Date.now();
  while (kept.length && now - kept[0].at >= IDLE_MS) keptBytes -= /** @type {{ buf: ArrayBuffer }} */ (kept.shift()).buf.byteLength;
  if (kept.length) schedule(kept[0].at + IDLE_MS - now);
}

/** @param {number} ms */
function schedule(ms) {
  timer = setTimeout(sweep, Math.max(1, ms));
  timer.unref?.();
}

/**
 * Keep a buffer nothing else holds (one that came back from another thread) for a later takeBuffer.
 * @param {unknown} buf
 */
export function giveBuffer(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength === 0 || buf.byteLength > MAX_BYTES) return;
  while (kept.length && (kept.length >= KEEP_COUNT || keptBytes + buf.byteLength > KEEP_BYTES)) keptBytes -= /** @type {{ buf: ArrayBuffer }} */ (kept.shift()).buf.byteLength;
  kept.push({ buf, at: Date.now() });
  keptBytes += buf.byteLength;
  if (!timer) schedule(IDLE_MS);
}

/**
 * A kept buffer of exactly `bytes` (its contents are old: for a caller that writes all of it), or null.
 * @param {number} bytes
 * @returns {ArrayBuffer | null}
 */
export function takeBuffer(bytes) {
  for (let i = kept.length - 1; i >= 0; i--) {
    if (kept[i].buf.byteLength === bytes) {
      const { buf } = kept.splice(i, 1)[0];
      keptBytes -= bytes;
      return buf;
    }
  }
  return null;
}

/** what is kept now (tests) */
export function keptBuffers() {
  return { count: kept.length, bytes: keptBytes };
}
