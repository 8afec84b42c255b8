/**
 * The byte-level reader for request bodies: long JSON arrays of numbers are read straight from the
 * body's bytes into a scratch Float64Array (NumArray) instead of through JSON.parse's JS arrays,
 * and the buffer lease that says when that scratch memory may be read into again. Also settle /
 * settleBody, which turn NumArrays back into plain arrays wherever no tensor belongs.
 */

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const TWO53 = 9007199254740992;
/** deepest nesting of a tensor array (flatten refuses more, with its own message) */
const MAX_NEST = 16;

/**
 * The numbers of a JSON array read straight from the body's bytes: a plain list or a nested
 * rectangular one, all of whose leaves are numbers. Held as exact doubles (the values JSON.parse
 * gives) with the nesting shape; flatten/toTyped take it without a JS array in between, and it
 * turns back into plain arrays (toArray / toJSON) wherever the body holds something else.
 *
 * f64 is a view into the reader's scratch buffer, lent to the arrays of one body (lease): once
 * each has been copied out (done()), the next body reads into the same memory. A body whose
 * arrays are not all copied out (a request refused half-way) keeps its buffer, and the next body
 * gets a new one, so a view is never overwritten while something may still read it.
 */
export class NumArray {
  constructor(f64, dims, lease) { this.f64 = f64; this.dims = dims; this.lease = lease; this.copied = false; }
  toArray() { const a = nest(Array.from(this.f64), this.dims); this.done(); return a; }
  toJSON() { return nest(Array.from(this.f64), this.dims); }
  /** its numbers have been copied out: when all of its body's have, the buffer goes back to the reader */
  done() {
    if (this.copied) return;
    this.copied = true;
    const lease = this.lease;
    if (--lease.pending === 0 && scratchHolder === lease) scratchHolder = null;
  }
}

/** the lease of the body parseJsonBody read last (null when it read no number arrays) */
let lastLease = null;
export const takeLease = () => { const l = lastLease; lastLease = null; return l; };
/** a request is over: nothing reads its body's numbers any more, copied out or not */
export function endLease(lease) {
  lease.pending = 0;
  if (scratchHolder === lease) scratchHolder = null;
}

const SCRATCH_KEEP = 1 << 20;
let scratch = new Float64Array(1 << 16);
/** the lease that holds scratch now, null when it is free */
let scratchHolder = null;
const SHAPE_UNSET = new Array(MAX_NEST).fill(-1);

/**
 * The array starting after the "[" at b[i]: a NumArray and the offset past its "]" in readEnd,
 * or null when it holds anything but numbers, is ragged, empty, nested too deep, or is not valid
 * JSON (JSON.parse then decides, with its messages). A number with a mantissa below 2^53 and a
 * decimal exponent within ±22 is m * 10^k or m / 10^k, both operands exact, so one correctly
 * rounded operation: what JSON.parse gives. Any other number goes through Number(), which reads
 * JSON numbers as JSON.parse does; a number that overflows to Infinity gives up (JSON.parse
 * and the checks after it then say so).
 */
let readEnd = 0;
let readBuf = scratch;
function readNumbers(b, i, at) {
  // b[i] past the end is undefined: every test below is written so that undefined (and NaN from
  // it) fails it, which ends the read with null
  const shape = SHAPE_UNSET.slice();
  const counts = [0];
  let depth = 0;
  let leaf = -1;
  let n = at;
  let buf = readBuf;
  let c = b[i];
  for (;;) {
    // a value: an array, or the first number of an innermost array
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++i];
    if (c === 0x5b) {
      if ((leaf >= 0 && depth >= leaf) || depth + 1 >= MAX_NEST) return null;
      depth += 1;
      counts[depth] = 0;
      c = b[++i];
      continue;
    }
    if (leaf !== depth) {
      if (leaf >= 0) return null;
      leaf = depth;
    }
    // the numbers of one innermost array, up to its "]"
    const first = n;
    for (;;) {
      const start = i;
      const neg = c === 0x2d;
      if (neg) c = b[++i];
      let d = c - 0x30;
      if (!(d >= 0 && d <= 9)) return null;
      let m = d;
      c = b[++i];
      d = c - 0x30;
      if (m !== 0) { // JSON: a leading 0 stands alone
        while (d >= 0 && d <= 9) { m = m * 10 + d; c = b[++i]; d = c - 0x30; }
      }
      let k = 0;
      if (c === 0x2e) {
        c = b[++i];
        d = c - 0x30;
        if (!(d >= 0 && d <= 9)) return null;
        const at = i;
        do { m = m * 10 + d; c = b[++i]; d = c - 0x30; } while (d >= 0 && d <= 9);
        k = at - i;
      }
      if (c === 0x65 || c === 0x45) {
        c = b[++i];
        let eneg = false;
        if (c === 0x2b || c === 0x2d) { eneg = c === 0x2d; c = b[++i]; }
        d = c - 0x30;
        if (!(d >= 0 && d <= 9)) return null;
        let e = 0;
        do { if (e < 100000) e = e * 10 + d; c = b[++i]; d = c - 0x30; } while (d >= 0 && d <= 9);
        k += eneg ? -e : e;
      }
      let v;
      if (m < TWO53 && k >= -22 && k <= 22) v = k === 0 ? m : k < 0 ? m / POW10[-k] : m * POW10[k];
      else {
        v = Number(b.latin1Slice(neg ? start + 1 : start, i));
        if (v === Infinity) return null;
      }
      if (n === buf.length) {
        const grown = new Float64Array(buf.length * 2);
        grown.set(buf);
        buf = grown;
      }
      buf[n++] = neg ? -v : v;
      if (c !== 0x2c) {
        while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++i];
        if (c !== 0x2c) break;
      }
      c = b[++i];
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++i];
    }
    counts[depth] = n - first;
    // after an array's last value: its "]", then "," or the "]" of the arrays around it
    for (;;) {
      if (c !== 0x5d) return null;
      const count = counts[depth];
      if (shape[depth] < 0) shape[depth] = count;
      else if (shape[depth] !== count) return null;
      c = b[++i];
      if (depth === 0) {
        readEnd = i;
        readBuf = buf;
        return new NumArray(buf.subarray(at, n), shape.slice(0, leaf + 1), null);
      }
      depth -= 1;
      counts[depth] += 1;
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++i];
      if (c === 0x2c) { c = b[++i]; break; }
    }
  }
}

const MARK = '\u0000pserve-array:';
// a body that spells NUL itself (the only way to write it in JSON) goes to JSON.parse alone, so a
// string of the client's can never pass for a placeholder
const MARK_BYTES = Buffer.from('\\u0000');
const MARK_JSON = JSON.stringify(MARK).slice(0, -1);

/**
 * JSON.parse for request bodies, whose bulk is long arrays of numbers: those are read by
 * readNumbers into NumArrays and left as placeholders in the text that JSON.parse sees. Strings
 * are skipped whole, so an array inside a string stays a string. The caller turns NumArrays that
 * are not where a tensor belongs back into arrays (settle).
 */
export function parseJsonBody(b) {
  lastLease = null;
  if (b.length < 4096 || b.includes(MARK_BYTES)) return JSON.parse(b.toString('utf8'));
  const arrays = [];
  let text = '';
  let last = 0;
  let used = 0;
  const len = b.length;
  readBuf = scratchHolder !== null ? new Float64Array(1 << 16) : scratch;
  for (let i = 0; i < len; i++) {
    const c = b[i];
    if (c === 0x22) { // skip a string, with its escapes
      for (i++; i < len && b[i] !== 0x22; i++) if (b[i] === 0x5c) i++;
    } else if (c === 0x5b) {
      const r = readNumbers(b, i + 1, used);
      if (r && r.f64.length >= 16) {
        text += `${b.toString('utf8', last, i)}${MARK_JSON}${arrays.length}"`;
        arrays.push(r);
        used += r.f64.length;
        last = readEnd;
        i = readEnd - 1;
      }
    }
  }
  if (arrays.length === 0) return JSON.parse(b.toString('utf8'));
  // the arrays of this body share its buffer (a grown one replaced it part-way: their views are
  // re-taken from the final one, which holds every number read)
  const buf = readBuf;
  const lease = { buf, pending: arrays.length };
  let from = 0;
  for (const r of arrays) {
    const n = r.f64.length;
    r.f64 = buf.subarray(from, from + n);
    r.lease = lease;
    from += n;
  }
  if (buf.length <= SCRATCH_KEEP) { scratch = buf; scratchHolder = lease; } // a rare huge body does not pin its memory
  lastLease = lease;
  text += b.toString('utf8', last);
  try {
    return JSON.parse(text, (_k, v) => (typeof v === 'string' && v.startsWith(MARK) ? arrays[Number(v.slice(MARK.length))] : v));
  } catch {
    return JSON.parse(b.toString('utf8')); // its own message, with positions in the body as sent
  }
}

/** v with every NumArray in it turned back into plain arrays (objects and arrays changed in place) */
export function settle(v) {
  if (v instanceof NumArray) return v.toArray();
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x !== null && typeof x === 'object') v[i] = settle(x);
    }
  } else if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      const x = v[k];
      if (x !== null && typeof x === 'object') {
        const y = settle(x);
        if (y !== x) v[k] = y;
      }
    }
  }
  return v;
}

/**
 * A request body with NumArrays left only where a tensor belongs (body[list][i] itself when
 * keepItem, else body[list][i][key] where keepKey(key)); everywhere else they are plain arrays
 * again, so every other check sees what JSON.parse gives.
 */
export function settleBody(body, list, keepItem, keepKey) {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || body instanceof NumArray) return settle(body);
  for (const k of Object.keys(body)) {
    const x = body[k];
    if (x === null || typeof x !== 'object') continue;
    if (k !== list || !Array.isArray(x)) {
      const y = settle(x);
      if (y !== x) body[k] = y;
      continue;
    }
    for (let i = 0; i < x.length; i++) {
      const item = x[i];
      if (item === null || typeof item !== 'object') continue;
      if (Array.isArray(item) || item instanceof NumArray) {
        if (!keepItem) x[i] = settle(item);
        continue;
      }
      for (const key of Object.keys(item)) {
        const v = item[key];
        if (v === null || typeof v !== 'object' || keepKey(key)) continue;
        const y = settle(v);
        if (y !== v) item[key] = y;
      }
    }
  }
  return body;
}
export const NO_KEY = () => false;

export function nest(data, shape) {
  if (shape.length === 0) return data[0];
  let out = data;
  for (let d = shape.length - 1; d >= 1; d--) {
    const size = shape[d];
    const next = [];
    for (let i = 0; i < out.length; i += size) next.push(out.slice(i, i + size));
    out = next;
  }
  return out;
}
