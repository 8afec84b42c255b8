#!/usr/bin/env node
/**
 * The pserve bundle server: one ONNX model behind Paddle Serving's two HTTP forms, KServe v2 and
 * Prometheus metrics. Plain Node, nothing but the onnxruntime-node copy beside this file.
 *
 *   node server.mjs [--port P] [--host H] [--device cpu|gpu|webgpu|auto] [--config config.yml]
 *                   [--max-body-bytes N] [--header-timeout-ms N] [--body-timeout-ms N] [--drain-timeout-ms N]
 *                   [--max-batch N] [--workers N] [--threads N]
 *
 * What it serves, and why it is shaped so, is in README.md next to this file.
 */
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const HERE = dirname(fileURLToPath(import.meta.url));
const VERSION = '__PSERVE_VERSION__';

// ---------------------------------------------------------------------------------------------
// Small readers for the two config files (a YAML subset and protobuf text format)

/** The YAML that config.yml needs: nested maps, scalars, [a, b] lists, "- x" lists, # comments. */
export function parseYaml(text) {
  const lines = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const s = stripYamlComment(raw).replace(/\s+$/, '');
    if (s.trim() === '' || s.trim() === '---') return;
    if (/^\s*\t/.test(s)) throw new Error(`config.yml line ${i + 1}: tabs are not allowed for indentation`);
    lines.push({ n: i + 1, indent: s.length - s.trimStart().length, text: s.trim() });
  });
  let pos = 0;
  const block = (indent) => {
    const first = lines[pos];
    if (first.text === '-' || first.text.startsWith('- ')) {
      const list = [];
      while (pos < lines.length && lines[pos].indent === indent && (lines[pos].text === '-' || lines[pos].text.startsWith('- '))) {
        list.push(yamlScalar(lines[pos].text.slice(1).trim()));
        pos += 1;
      }
      return list;
    }
    const map = {};
    while (pos < lines.length && lines[pos].indent === indent) {
      const { n, text: t } = lines[pos];
      const m = /^("[^"]*"|'[^']*'|[^:]+?)\s*:(?:\s+(.*))?$/.exec(t) ?? /^([^:]+?):$/.exec(t);
      if (!m) throw new Error(`config.yml line ${n}: expected "key: value", found "${t}"`);
      const key = String(yamlScalar(m[1]));
      pos += 1;
      if (m[2] !== undefined && m[2] !== '') map[key] = yamlScalar(m[2]);
      else if (pos < lines.length && lines[pos].indent > indent) map[key] = block(lines[pos].indent);
      else if (pos < lines.length && lines[pos].indent === indent && lines[pos].text.startsWith('- ')) map[key] = block(indent);
      else map[key] = null;
    }
    if (pos < lines.length && lines[pos].indent > indent) throw new Error(`config.yml line ${lines[pos].n}: unexpected indentation`);
    return map;
  };
  return lines.length ? block(lines[0].indent) : {};
}

function stripYamlComment(line) {
  let q = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) { if (c === q) q = ''; continue; }
    if (c === '"' || c === "'") q = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

function yamlScalar(s) {
  if (s.startsWith('[') && s.endsWith(']')) {
    const inner = s.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((x) => yamlScalar(x.trim()));
  }
  if (/^"(.*)"$/.test(s)) return JSON.parse(s);
  if (/^'(.*)'$/.test(s)) return s.slice(1, -1).replace(/''/g, "'");
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (/^(null|Null|NULL|~)$/.test(s) || s === '') return null;
  if (/^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+)$/.test(s)) return Number(s);
  return s;
}

/** serving_server_conf.prototxt: feed_var / fetch_var blocks (protobuf text format). */
export function parseServingConf(text) {
  const tokens = [];
  const re = /\s+|#[^\n]*|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([A-Za-z_][\w.]*)|([-+]?[\d.][\w.+-]*)|([{}:<>;,\[\]])/y;
  let m;
  while (re.lastIndex < text.length) {
    const at = re.lastIndex;
    m = re.exec(text);
    if (!m) throw new Error(`serving conf: unexpected character at offset ${at}`);
    if (m[1] !== undefined) tokens.push({ s: JSON.parse(m[1].startsWith("'") ? `"${m[1].slice(1, -1).replace(/"/g, '\\"')}"` : m[1]) });
    else if (m[2] !== undefined) tokens.push({ id: m[2] });
    else if (m[3] !== undefined) tokens.push({ num: Number(m[3]) });
    else if (m[4] !== undefined) tokens.push({ p: m[4] });
  }
  let i = 0;
  const msg = (close) => {
    const out = {};
    while (i < tokens.length && !(close && tokens[i].p === close)) {
      const key = tokens[i++].id;
      if (key === undefined) throw new Error('serving conf: expected a field name');
      if (tokens[i]?.p === ':') i++;
      let v;
      const t = tokens[i];
      if (t?.p === '{' || t?.p === '<') { i++; v = msg(t.p === '{' ? '}' : '>'); i++; }
      else if (t?.id !== undefined) { i++; v = t.id === 'true' ? true : t.id === 'false' ? false : t.id; }
      else if (t?.num !== undefined) { i++; v = t.num; }
      else if (t?.s !== undefined) { i++; v = t.s; }
      else throw new Error(`serving conf: field ${key} has no value`);
      (out[key] ??= []).push(v);
      if (tokens[i]?.p === ';' || tokens[i]?.p === ',') i++;
    }
    return out;
  };
  const root = msg(null);
  const vars = (list, typeKey) => (list ?? []).map((v) => ({
    name: v.name?.[0] ?? '',
    alias: v.alias_name?.[0] ?? v.name?.[0] ?? '',
    type: v[typeKey]?.[0] ?? 0,
    lod: v.is_lod_tensor?.[0] === true,
    shape: v.shape ?? [],
  }));
  return { feeds: vars(root.feed_var, 'feed_type'), fetches: vars(root.fetch_var, 'fetch_type') };
}

// ---------------------------------------------------------------------------------------------
// Tensors: JSON values in, typed arrays to onnxruntime, JSON values out

/** ONNX Runtime type name -> KServe datatype and the typed array that holds it. */
const DTYPES = {
  float32: { kserve: 'FP32', Array: Float32Array, kind: 'float' },
  float64: { kserve: 'FP64', Array: Float64Array, kind: 'float' },
  int8: { kserve: 'INT8', Array: Int8Array, kind: 'int', min: -128, max: 127 },
  int16: { kserve: 'INT16', Array: Int16Array, kind: 'int', min: -32768, max: 32767 },
  int32: { kserve: 'INT32', Array: Int32Array, kind: 'int', min: -2147483648, max: 2147483647 },
  int64: { kserve: 'INT64', Array: BigInt64Array, kind: 'bigint' },
  uint8: { kserve: 'UINT8', Array: Uint8Array, kind: 'int', min: 0, max: 255 },
  uint16: { kserve: 'UINT16', Array: Uint16Array, kind: 'int', min: 0, max: 65535 },
  uint32: { kserve: 'UINT32', Array: Uint32Array, kind: 'int', min: 0, max: 4294967295 },
  uint64: { kserve: 'UINT64', Array: BigUint64Array, kind: 'bigint' },
  bool: { kserve: 'BOOL', Array: Uint8Array, kind: 'bool' },
};
/** Paddle Serving feed_type codes (FORMATS §4) */
const SERVING_TYPES = ['int64', 'float32', 'int32', 'float64', 'int16', 'float16', 'bfloat16', 'uint8', 'int8', 'bool', 'complex64', 'complex128'];

/** A request was wrong: HTTP status, Paddle pipeline err_no, a reason for the person. */
class RequestError extends Error {
  constructor(status, message, errNo = 5000) { super(message); this.status = status; this.errNo = errNo; }
}

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
/** bodies up to this declared size are read into one buffer allocated at the headers */
const PREALLOC_BODY_MAX = 4 * 1024 * 1024;
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
function settleBody(body, list, keepItem, keepKey) {
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
const NO_KEY = () => false;

/** Flatten a (nested) JSON array, checking it is rectangular; returns values and the nesting shape. */
export function flatten(value, what) {
  if (value instanceof NumArray) return { data: value.f64, shape: value.dims, from: value };
  if (!Array.isArray(value)) return { data: [value], shape: [] };
  settle(value);
  // flat list: no copy; toTyped rejects any element that is not a number (nested arrays included)
  if (value.length > 0 && !Array.isArray(value[0])) return { data: value, shape: [value.length] };
  const shape = [];
  for (let v = value; Array.isArray(v); v = v[0]) {
    shape.push(v.length);
    if (shape.length > 16) throw new RequestError(400, `${what}: nested more than 16 levels`);
    if (v.length === 0) break;
  }
  const data = [];
  const walk = (v, d) => {
    if (d === shape.length) {
      if (Array.isArray(v)) throw new RequestError(400, `${what}: ragged array (deeper than its first element)`);
      data.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) throw new RequestError(400, `${what}: ragged array (dimension ${d} should be ${shape[d]})`);
    for (const x of v) walk(x, d + 1);
  };
  walk(value, 0);
  return { data, shape };
}

export function toTyped(dtype, data, what) {
  const t = DTYPES[dtype];
  if (!t) throw new RequestError(400, `${what}: the model wants ${dtype}, which this JSON server cannot carry`);
  // numbers read by readNumbers are finite doubles: a float tensor is one conversion
  if (t.kind === 'float' && data instanceof Float64Array) {
    const n = data.length;
    const out = new t.Array(n);
    for (let i = 0; i < n; i++) out[i] = data[i];
    return out;
  }
  const out = new t.Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (t.kind === 'bool') {
      if (v === true || v === 1) out[i] = 1;
      else if (v === false || v === 0) out[i] = 0;
      else throw new RequestError(400, `${what}: element ${i} is ${JSON.stringify(v)}, expected bool`);
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RequestError(400, `${what}: element ${i} is ${JSON.stringify(v)}, expected a ${dtype} number`);
    if (t.kind === 'float') { out[i] = v; continue; }
    if (!Number.isInteger(v)) throw new RequestError(400, `${what}: element ${i} is ${v}, expected an integer (${dtype})`);
    if (t.kind === 'bigint') {
      if (!Number.isSafeInteger(v) || (dtype === 'uint64' && v < 0)) throw new RequestError(400, `${what}: element ${i} is ${v}, out of range for ${dtype}`);
      out[i] = BigInt(v);
    } else {
      if (v < t.min || v > t.max) throw new RequestError(400, `${what}: element ${i} is ${v}, out of range for ${dtype}`);
      out[i] = v;
    }
  }
  return out;
}

/** one line for a failed listen: the code and what it usually means */
function listenReason(e) {
  const why = {
    EADDRINUSE: 'the port is in use by another process (pick one with --port)',
    EADDRNOTAVAIL: 'the address is not available on this machine (is the interface up? pick one with --host)',
    EACCES: 'permission denied (ports below 1024 need privileges)',
  }[e?.code];
  return `${e?.code ?? 'error'}: ${why ?? String(e?.message ?? e).split('\n')[0]}`;
}

const prod = (dims) => dims.reduce((a, b) => a * b, 1);

/**
 * The tensor shape for `n` elements of `feed`: from the shape the client sent when it sent one
 * (nested arrays or an explicit shape), else from the model's shape with the batch dim solved.
 */
function resolveShape(feed, n, given, what) {
  const model = feed.shape;
  let shape = given;
  if (shape && shape.length === model.length - 1 && model.length > 0 && model[0] < 0) shape = [1, ...shape];
  if (!shape || shape.length <= 1 && model.length > 1) {
    const rest = model.slice(1);
    if (model.length === 0) shape = [];
    else if (rest.some((d) => d < 0)) {
      throw new RequestError(400, `${what}: the model shape [${model.join(',')}] has unknown dims; send nested arrays or a shape`);
    } else if (model[0] >= 0) shape = model.slice();
    else {
      const per = prod(rest);
      if (per === 0 || n % per !== 0) throw new RequestError(400, `${what}: ${n} elements do not fill whole rows of [${rest.join(',')}] (${per} each)`);
      shape = [n / per, ...rest];
    }
  }
  if (shape.length !== model.length) throw new RequestError(400, `${what}: shape [${shape.join(',')}] has rank ${shape.length}, the model wants [${model.join(',')}]`);
  shape.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0) throw new RequestError(400, `${what}: shape [${shape.join(',')}] has an invalid dim`);
    if (model[i] >= 0 && model[i] !== d) throw new RequestError(400, `${what}: shape [${shape.join(',')}] does not match the model's [${model.join(',')}] at dim ${i}`);
  });
  if (prod(shape) !== n) throw new RequestError(400, `${what}: ${n} elements given, shape [${shape.join(',')}] needs ${prod(shape)}`);
  return shape;
}

function tensorToJson(tensor) {
  const d = tensor.data;
  const data = d instanceof BigInt64Array || d instanceof BigUint64Array ? Array.from(d, Number) : Array.from(d);
  return { data, shape: Array.from(tensor.dims) };
}

function nest(data, shape) {
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

// ---------------------------------------------------------------------------------------------
// Metrics (Prometheus text format)

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class Metrics {
  constructor() {
    this.requests = new Map();
    this.errors = new Map();
    this.hist = new Map();
    this.inflight = 0;
    this.runs = 0;
    this.runRequests = 0;
    this.runRows = 0;
    this.workerRestarts = 0;
    this.pool = null;
  }
  sessionRun(requests, rows) {
    this.runs += 1;
    this.runRequests += requests;
    this.runRows += rows;
  }
  observe(protocol, status, seconds) {
    const k = `protocol="${protocol}",code="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
    if (status >= 400) this.errors.set(protocol, (this.errors.get(protocol) ?? 0) + 1);
    let h = this.hist.get(protocol);
    if (!h) { h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }; this.hist.set(protocol, h); }
    BUCKETS.forEach((b, i) => { if (seconds <= b) h.counts[i] += 1; });
    h.sum += seconds;
    h.count += 1;
  }
  text() {
    const out = [];
    out.push('# HELP pserve_requests_total HTTP requests answered, by protocol and status code.');
    out.push('# TYPE pserve_requests_total counter');
    for (const [k, v] of this.requests) out.push(`pserve_requests_total{${k}} ${v}`);
    out.push('# HELP pserve_request_errors_total HTTP requests answered with a 4xx or 5xx status, by protocol.');
    out.push('# TYPE pserve_request_errors_total counter');
    for (const [k, v] of this.errors) out.push(`pserve_request_errors_total{protocol="${k}"} ${v}`);
    out.push('# HELP pserve_request_duration_seconds Time from request start to response end.');
    out.push('# TYPE pserve_request_duration_seconds histogram');
    for (const [p, h] of this.hist) {
      BUCKETS.forEach((b, i) => out.push(`pserve_request_duration_seconds_bucket{protocol="${p}",le="${b}"} ${h.counts[i]}`));
      out.push(`pserve_request_duration_seconds_bucket{protocol="${p}",le="+Inf"} ${h.count}`);
      out.push(`pserve_request_duration_seconds_sum{protocol="${p}"} ${h.sum}`);
      out.push(`pserve_request_duration_seconds_count{protocol="${p}"} ${h.count}`);
    }
    out.push('# HELP pserve_session_runs_total Model runs; several requests share one run when micro-batched.');
    out.push('# TYPE pserve_session_runs_total counter');
    out.push(`pserve_session_runs_total ${this.runs}`);
    out.push('# HELP pserve_session_run_requests_total Requests answered by model runs.');
    out.push('# TYPE pserve_session_run_requests_total counter');
    out.push(`pserve_session_run_requests_total ${this.runRequests}`);
    out.push('# HELP pserve_session_run_rows_total Batch rows (samples) fed to model runs.');
    out.push('# TYPE pserve_session_run_rows_total counter');
    out.push(`pserve_session_run_rows_total ${this.runRows}`);
    out.push('# HELP pserve_inference_workers Inference worker threads with an open session.');
    out.push('# TYPE pserve_inference_workers gauge');
    out.push(`pserve_inference_workers ${this.pool?.ready ?? 0}`);
    out.push('# HELP pserve_inference_worker_restarts_total Inference workers that stopped unexpectedly and were replaced.');
    out.push('# TYPE pserve_inference_worker_restarts_total counter');
    out.push(`pserve_inference_worker_restarts_total ${this.workerRestarts}`);
    const mem = process.memoryUsage();
    out.push('# HELP process_resident_memory_bytes Resident memory size in bytes.');
    out.push('# TYPE process_resident_memory_bytes gauge');
    out.push(`process_resident_memory_bytes ${mem.rss}`);
    out.push('# HELP nodejs_heap_size_used_bytes V8 heap in use, in bytes.');
    out.push('# TYPE nodejs_heap_size_used_bytes gauge');
    out.push(`nodejs_heap_size_used_bytes ${mem.heapUsed}`);
    out.push('# HELP pserve_inflight_requests Requests being served now.');
    out.push('# TYPE pserve_inflight_requests gauge');
    out.push(`pserve_inflight_requests ${this.inflight}`);
    return `${out.join('\n')}\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// The model: a session plus the conf's aliases

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
function bindModel(session, conf) {
  const io = (confVars, names, metas, kind) => {
    if (confVars.length === 0) return names.map((n, i) => ({ name: n, alias: n, onnx: n, ...meta(metas[i]) }));
    return confVars.map((v, i) => {
      let at = names.indexOf(v.name);
      if (at < 0 && confVars.length === names.length) at = i;
      if (at < 0) throw new Error(`${kind} "${v.name}" of the serving conf is not an input/output of model.onnx (it has ${names.join(', ')})`);
      return { name: v.name, alias: v.alias || v.name, onnx: names[at], servingType: SERVING_TYPES[v.type] ?? 'unknown', ...meta(metas[at]) };
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

// ---------------------------------------------------------------------------------------------
// Inference workers and micro-batching

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

class WorkerStopped extends Error {}

class InferencePool {
  /** count workers; session: { modelPath, device, explicit, threads }; onRun(requests, rows) */
  constructor({ count, session, maxRows, onRun, onRestart, log }) {
    Object.assign(this, { count, session, maxRows, onRun, onRestart, log });
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
      const worker = new Worker(new URL(import.meta.url), { workerData: { pserveInferWorker: true, modelPath, device, explicit, threads } });
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
        jobs: jobs.map((j) => ({ rows: j.rows, feeds: j.feeds.map((f) => ({ onnx: f.onnx, dtype: f.dtype, shape: f.shape, data: movable(f.data, transfer) })) })),
      };
      slot.worker.postMessage(message, transfer);
    }
  }

  finish(slot, m) {
    const jobs = slot.jobs;
    slot.jobs = null;
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
function movable(data, transfer) {
  if (!ArrayBuffer.isView(data)) return data;
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || transfer.includes(data.buffer)) data = data.slice();
  transfer.push(data.buffer);
  return data;
}

/** The worker side: open the session, then answer { type: 'run' } messages one at a time. */
async function inferWorkerMain({ modelPath, device, explicit, threads }) {
  const requireFn = createRequire(join(HERE, 'server.mjs'));
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
  async function runJobs({ jobs, fetches }) {
    if (jobs.length > 1) {
      const total = jobs.reduce((n, j) => n + j.rows, 0);
      try {
        const input = {};
        jobs[0].feeds.forEach((f, k) => {
          const data = new f.data.constructor(jobs.reduce((n, j) => n + j.feeds[k].data.length, 0));
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
    parentPort.postMessage(reply, transfer);
  });
}

// ---------------------------------------------------------------------------------------------
// Server

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument "${a}"`);
    const key = m[1].replace(/_/g, '-');
    if (key === 'help') { out.help = true; continue; }
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new Error(`--${key} needs a value`);
    out[key] = v;
  }
  return out;
}

/**
 * Workers and runtime threads per worker where config.yml, the environment and the flags leave
 * them at 0: two workers (one runs while the other takes the next batch; measured on 2 cores:
 * ahead of one worker with 1 or 2 threads), and the cores but one (the main thread's HTTP and
 * JSON) shared among them, at least one thread each. A single core gets one worker.
 */
export function defaultWorkers(workers, threads, cores = availableParallelism()) {
  const w = workers || Math.min(2, cores);
  return { workers: w, threads: threads || Math.max(1, Math.floor((cores - 1) / w)) };
}

function intOpt(v, name, min, max) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in ${min}..${max}, found ${JSON.stringify(v)}`);
  return n;
}

export async function startServer(argv = process.argv.slice(2), env = {}) {
  const args = parseArgs(argv);
  if (args.help) {
    process.stdout.write('node server.mjs [--port P] [--host H] [--device cpu|gpu|webgpu|auto] [--config config.yml] [--max-body-bytes N] [--header-timeout-ms N] [--body-timeout-ms N] [--drain-timeout-ms N] [--max-batch N] [--workers N] [--threads N]\n');
    return null;
  }
  const log = env.log ?? ((line) => process.stderr.write(`pserve-server: ${line}\n`));
  const processEnv = env.processEnv ?? process.env;
  const configPath = resolve(HERE, args.config ?? 'config.yml');
  const cfg = parseYaml(readFileSync(configPath, 'utf8'));
  const ops = cfg.op && typeof cfg.op === 'object' ? Object.entries(cfg.op) : [];
  if (ops.length === 0) throw new Error(`${configPath}: no op section (expected op.<service name>.local_service_conf)`);
  const [serviceName, op] = ops[0];
  const lsc = op?.local_service_conf ?? {};
  const ps = cfg.pserve ?? {};
  const base = dirname(configPath);
  const confDir = resolve(base, String(lsc.model_config ?? 'serving_server'));
  const confFile = join(confDir, 'serving_server_conf.prototxt');
  const conf = existsSync(confFile) ? parseServingConf(readFileSync(confFile, 'utf8')) : { feeds: [], fetches: [] };
  const modelPath = resolve(base, String(ps.model ?? 'model.onnx'));
  if (!existsSync(modelPath)) throw new Error(`model not found: ${modelPath}`);

  const deviceFromConf = Number(lsc.device_type ?? 0) === 0 ? 'cpu' : 'gpu';
  const device = String(args.device ?? ps.device ?? deviceFromConf);
  if (!['cpu', 'gpu', 'webgpu', 'auto'].includes(device)) throw new Error(`--device must be cpu, gpu, webgpu or auto, found "${device}"`);
  const port = intOpt(args.port ?? cfg.http_port ?? 9393, '--port', 0, 65535);
  const host = String(args.host ?? ps.host ?? '127.0.0.1');
  // limits: a flag wins, then the environment (PSERVE_MAX_BODY_BYTES, ...), then config.yml's pserve section
  const pick = (flag, key, fallback) => args[flag] ?? processEnv[`PSERVE_${key.toUpperCase()}`] ?? ps[key] ?? fallback;
  const maxBody = intOpt(pick('max-body-bytes', 'max_body_bytes', 16 * 1024 * 1024), 'max_body_bytes', 1, 2 ** 31 - 1);
  const headerTimeout = intOpt(pick('header-timeout-ms', 'header_timeout_ms', 10000), 'header_timeout_ms', 1, 3600000);
  const bodyTimeout = intOpt(pick('body-timeout-ms', 'body_timeout_ms', 30000), 'body_timeout_ms', 1, 3600000);
  const drainTimeout = intOpt(pick('drain-timeout-ms', 'drain_timeout_ms', 10000), 'drain_timeout_ms', 0, 3600000);
  const maxBatch = intOpt(pick('max-batch', 'max_batch', 8), 'max_batch', 1, 4096);
  // 0 = chosen from the machine (defaultWorkers); thread_num is Paddle Serving's key for the
  // runtime's threads, here per worker (0 = onnxruntime's default, one per physical core)
  const workersWanted = intOpt(pick('workers', 'workers', 0), 'workers', 0, 64);
  const threadsWanted = intOpt(args.threads ?? processEnv.PSERVE_THREADS ?? lsc.thread_num ?? 0, 'thread_num', 0, 1024);
  const { workers, threads } = defaultWorkers(workersWanted, threadsWanted);

  const metrics = new Metrics();
  const pool = new InferencePool({
    count: workers,
    session: { modelPath, device, explicit: args.device === 'gpu', threads },
    maxRows: maxBatch,
    onRun: (requests, rows) => metrics.sessionRun(requests, rows),
    onRestart: () => { metrics.workerRestarts += 1; },
    log,
  });
  metrics.pool = pool;
  let started;
  try { started = await pool.start(); } catch (e) { await pool.close(); throw e; }
  const { ep, io, notes } = started;
  for (const n of notes) log(n);
  const model = bindModel(io, conf);
  const defaultFetch = Array.isArray(lsc.fetch_list) && lsc.fetch_list.length ? lsc.fetch_list.map(String) : model.fetches.map((f) => f.alias);
  for (const a of defaultFetch) {
    if (!model.fetches.some((f) => f.alias === a || f.name === a)) throw new Error(`config.yml fetch_list names "${a}", which is not a fetch of the model (${model.fetches.map((f) => f.alias).join(', ')})`);
  }
  const batchable = maxBatch > 1 && model.feeds.length > 0 && [...model.feeds, ...model.fetches].every((f) => f.shape[0] === -1);
  let draining = false;

  const isReady = () => !draining && pool.ready > 0;
  const findFeed = (key) => model.feeds.find((f) => f.alias === key) ?? model.feeds.find((f) => f.name === key);
  const findFetch = (key) => model.fetches.find((f) => f.alias === key) ?? model.fetches.find((f) => f.name === key);

  async function infer(feeds, fetchKeys) {
    const fetches = fetchKeys.map((k) => {
      const f = findFetch(k);
      if (!f) throw new RequestError(400, `unknown fetch "${k}" (the model has ${model.fetches.map((x) => x.alias).join(', ')})`);
      return f;
    });
    const missing = model.feeds.filter((f) => !feeds.has(f));
    if (missing.length) throw new RequestError(400, `missing feed ${missing.map((f) => `"${f.alias}"`).join(', ')}`);
    const rows = [...feeds.values()][0]?.shape[0];
    const sameRows = feeds.size > 0 && [...feeds.values()].every((t) => t.shape.length > 0 && t.shape[0] === rows);
    const input = [...feeds].map(([f, t]) => ({ onnx: f.onnx, dtype: f.dtype, data: t.data, shape: t.shape }));
    let out;
    try {
      out = await pool.run(input, fetches.map((f) => f.onnx), batchable && sameRows);
    } catch (e) {
      if (e instanceof WorkerStopped) throw new RequestError(503, e.message, 3001);
      throw new RequestError(400, `the model rejected the input: ${String(e?.message ?? e).split('\n')[0]}`, 5000);
    }
    return fetches.map((f, i) => ({ key: fetchKeys[i], spec: f, ...tensorToJson(out[f.onnx]) }));
  }

  function feedTensor(f, value, givenShape, what) {
    const flat = flatten(value, what);
    // the numbers are not read again after this, whether it succeeds or refuses them
    try {
      const shape = resolveShape(f, flat.data.length, givenShape ?? (flat.shape.length > 1 ? flat.shape : null), what);
      return { data: toTyped(f.dtype, flat.data, what), shape };
    } finally {
      flat.from?.done();
    }
  }

  /** Paddle Serving web service: {"feed":[{alias: value}, ...], "fetch":[alias]} */
  async function webService(body) {
    settleBody(body, 'feed', false, (key) => !key.endsWith('.shape') && !key.endsWith('.lod'));
    if (!Array.isArray(body.feed) || body.feed.length === 0) throw new RequestError(400, '"feed" must be a non-empty list of {alias: value} objects');
    const perFeed = new Map();
    body.feed.forEach((sample, s) => {
      if (!sample || typeof sample !== 'object' || Array.isArray(sample)) throw new RequestError(400, `feed[${s}] must be an object of {alias: value}`);
      for (const [key, value] of Object.entries(sample)) {
        if (key.endsWith('.shape') || key.endsWith('.lod')) continue;
        const f = findFeed(key);
        if (!f) throw new RequestError(400, `unknown feed "${key}" (the model takes ${model.feeds.map((x) => x.alias).join(', ')})`);
        const given = sample[`${key}.shape`];
        const t = feedTensor(f, value, Array.isArray(given) ? given : null, `feed[${s}].${key}`);
        if (!perFeed.has(f)) perFeed.set(f, []);
        perFeed.get(f).push(t);
      }
    });
    const feeds = new Map();
    for (const [f, parts] of perFeed) {
      if (parts.length !== body.feed.length) throw new RequestError(400, `feed "${f.alias}" is missing in ${body.feed.length - parts.length} of the ${body.feed.length} samples`);
      feeds.set(f, concatBatch(parts, f));
    }
    const fetchKeys = Array.isArray(body.fetch) && body.fetch.length ? body.fetch.map(String) : defaultFetch;
    const outs = await infer(feeds, fetchKeys);
    const result = {};
    for (const o of outs) result[o.key] = nest(o.data, o.shape);
    return { result };
  }

  function concatBatch(parts, f) {
    if (parts.length === 1) return parts[0];
    const rest = parts[0].shape.slice(1);
    for (const p of parts) {
      if (p.shape.slice(1).join(',') !== rest.join(',')) throw new RequestError(400, `feed "${f.alias}": samples have different shapes [${parts[0].shape}] and [${p.shape}]`);
    }
    if (f.shape[0] >= 0) throw new RequestError(400, `feed "${f.alias}": the model has a fixed batch of ${f.shape[0]}, ${parts.length} samples sent`);
    const data = new parts[0].data.constructor(parts.reduce((n, p) => n + p.data.length, 0));
    let at = 0;
    for (const p of parts) { data.set(p.data, at); at += p.data.length; }
    return { data, shape: [parts.reduce((n, p) => n + p.shape[0], 0), ...rest] };
  }

  /** Paddle Serving pipeline: {"key":[alias], "value":["<JSON array>"]} */
  async function pipeline(body) {
    settleBody(body, 'value', true, NO_KEY);
    if (!Array.isArray(body.key) || !Array.isArray(body.value)) throw new RequestError(400, '"key" and "value" must be lists');
    if (body.key.length !== body.value.length) throw new RequestError(400, `"key" has ${body.key.length} entries, "value" has ${body.value.length}`);
    const feeds = new Map();
    body.key.forEach((key, i) => {
      const f = findFeed(String(key));
      if (!f) throw new RequestError(400, `unknown key "${key}" (the model takes ${model.feeds.map((x) => x.alias).join(', ')})`);
      let value = body.value[i];
      if (typeof value === 'string') {
        try { value = parseJsonBody(Buffer.from(value)); } catch { throw new RequestError(400, `value for key "${key}" is not a JSON array`); }
        if (!(value instanceof NumArray)) value = settle(value);
      }
      feeds.set(f, feedTensor(f, value, null, `key "${key}"`));
    });
    const outs = await infer(feeds, defaultFetch);
    return { err_no: 0, err_msg: '', key: outs.map((o) => o.key), value: outs.map((o) => JSON.stringify(nest(o.data, o.shape))), tensors: [] };
  }

  const kserveType = (dtype) => DTYPES[dtype]?.kserve ?? dtype.toUpperCase();
  const modelMetadata = () => ({
    name: serviceName,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: model.feeds.map((f) => ({ name: f.alias, datatype: kserveType(f.dtype), shape: f.shape })),
    outputs: model.fetches.map((f) => ({ name: f.alias, datatype: kserveType(f.dtype), shape: f.shape })),
  });

  /** KServe v2 / Triton: {"inputs":[{name, shape, datatype, data}], "outputs":[{name}]} */
  async function kserveInfer(body) {
    settleBody(body, 'inputs', false, (key) => key === 'data');
    if (!Array.isArray(body.inputs) || body.inputs.length === 0) throw new RequestError(400, '"inputs" must be a non-empty list');
    const feeds = new Map();
    body.inputs.forEach((inp, i) => {
      const f = inp && typeof inp === 'object' ? findFeed(String(inp.name)) : undefined;
      if (!f) throw new RequestError(400, `inputs[${i}]: unknown input "${inp?.name}" (the model takes ${model.feeds.map((x) => x.alias).join(', ')})`);
      if (!Array.isArray(inp.shape)) throw new RequestError(400, `input "${inp.name}": "shape" must be a list`);
      if (inp.datatype !== undefined && inp.datatype !== kserveType(f.dtype)) throw new RequestError(400, `input "${inp.name}": datatype ${inp.datatype}, the model wants ${kserveType(f.dtype)}`);
      if (inp.data === undefined) throw new RequestError(400, `input "${inp.name}": no "data"`);
      feeds.set(f, feedTensor(f, inp.data, inp.shape, `input "${inp.name}"`));
    });
    const keys = Array.isArray(body.outputs) && body.outputs.length ? body.outputs.map((o) => String(o?.name)) : defaultFetch;
    const outs = await infer(feeds, keys);
    return {
      model_name: serviceName,
      model_version: '1',
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs: outs.map((o) => ({ name: o.key, datatype: kserveType(o.spec.dtype), shape: o.shape, data: o.data })),
    };
  }

  function readBody(req) {
    return new Promise((resolveBody, reject) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBody) { reject(new RequestError(413, `body of ${declared} bytes is over the limit of ${maxBody}`)); return; }
      // a declared length (checked above) gets one buffer that the chunks are copied into; a
      // chunked or very large body is collected and joined, so that a client cannot make the
      // server set aside many large buffers by declaring sizes it never sends
      let whole = Number.isInteger(declared) && declared > 0 && declared <= PREALLOC_BODY_MAX ? Buffer.allocUnsafe(declared) : null;
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        const at = size;
        size += c.length;
        if (size > maxBody) { reject(new RequestError(413, `body is over the limit of ${maxBody} bytes`)); req.pause(); return; }
        if (whole !== null && size <= whole.length) { c.copy(whole, at); return; }
        if (whole !== null) { chunks.push(whole.subarray(0, at)); whole = null; }
        chunks.push(c);
      });
      req.on('end', () => resolveBody(whole !== null ? whole.subarray(0, size) : Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  function discardBody(req) {
    return new Promise((done) => {
      req.removeAllListeners('data');
      req.once('end', done);
      req.once('close', done);
      req.once('error', done);
      req.resume();
    });
  }

  async function jsonBody(req, errNo) {
    const raw = await readBody(req);
    try {
      const body = parseJsonBody(raw);
      return body instanceof NumArray ? body.toArray() : body;
    } catch (e) {
      throw new RequestError(400, `body is not JSON: ${e.message}`, errNo);
    } finally {
      req.numbers = takeLease();
    }
  }

  function send(res, status, obj, type = 'application/json') {
    const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
    const headers = { 'content-type': type, 'content-length': Buffer.byteLength(body) };
    if (draining || status === 413) headers.connection = 'close';
    if (status === 503) headers['retry-after'] = '1';
    res.writeHead(status, headers);
    res.end(body);
  }

  async function route(req, res) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    let m;
    if (path === '/metrics' && method === 'GET') return ['metrics', () => send(res, 200, metrics.text(), 'text/plain; version=0.0.4')];
    if (path === '/v2/health/live') return ['health', () => send(res, 200, { live: true })];
    if (path === '/v2/health/ready') return ['health', () => send(res, isReady() ? 200 : 503, { ready: isReady() })];
    if (path === '/v2' && method === 'GET') return ['kserve', () => send(res, 200, { name: 'pserve', version: VERSION, extensions: [] })];
    if ((m = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?(\/ready|\/infer)?$/.exec(path))) {
      const name = decodeURIComponent(m[1]);
      return ['kserve', async () => {
        if (name !== serviceName) throw new RequestError(404, `unknown model "${name}" (this server has "${serviceName}")`, 3002);
        if (m[2] === '/ready') return send(res, isReady() ? 200 : 503, { name, ready: isReady() });
        if (m[2] === '/infer') {
          if (method !== 'POST') throw new RequestError(405, 'use POST for infer');
          return send(res, 200, await kserveInfer(await jsonBody(req)));
        }
        return send(res, 200, modelMetadata());
      }];
    }
    if ((m = /^\/([^/]+)\/prediction$/.exec(path))) {
      const name = decodeURIComponent(m[1]);
      // both Paddle Serving forms share the URL: the body says which one it is
      return ['prediction', async () => {
        if (method !== 'POST') throw new RequestError(405, 'use POST for prediction');
        const body = await jsonBody(req);
        const isPipeline = body && typeof body === 'object' && ('key' in body || 'value' in body);
        const proto = isPipeline ? 'pipeline' : 'webservice';
        res.protocol = proto;
        if (name !== serviceName) throw new RequestError(404, `no service "${name}" (this server has "${serviceName}")`, 3002);
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new RequestError(400, 'body must be a JSON object');
        return send(res, 200, isPipeline ? await pipeline(body) : await webService(body));
      }];
    }
    return ['other', () => { throw new RequestError(404, `no route for ${method} ${path}`, 3002); }];
  }

  // Node checks these timeouts every connectionsCheckingInterval (30 s by default): check often
  // enough that a slow client is cut near the configured time
  const checkEvery = Math.max(50, Math.min(1000, Math.floor(Math.min(headerTimeout, bodyTimeout) / 4)));
  const server = http.createServer({ headersTimeout: Math.min(headerTimeout, bodyTimeout), requestTimeout: bodyTimeout, connectionsCheckingInterval: checkEvery }, async (req, res) => {
    const t0 = process.hrtime.bigint();
    metrics.inflight += 1;
    let protocol = 'other';
    try {
      const [p, handler] = await route(req, res);
      protocol = p;
      await handler();
    } catch (e) {
      const err = e instanceof RequestError ? e : new RequestError(500, `internal error: ${String(e?.message ?? e).split('\n')[0]}`, 10000);
      if (res.protocol) protocol = res.protocol;
      // read the rest of an oversized body before answering: closing on a client that is still
      // writing resets the connection before it can read the 413 (the body timeout still applies)
      if (err.status === 413 && !req.complete) await discardBody(req);
      if (!res.headersSent) {
        send(res, err.status, protocol === 'pipeline'
          ? { err_no: err.errNo, err_msg: err.message, key: [], value: [], tensors: [] }
          : { error: err.message });
      }
    } finally {
      if (req.numbers) endLease(req.numbers);
      if (res.protocol) protocol = res.protocol;
      metrics.inflight -= 1;
      if (protocol !== 'metrics') metrics.observe(protocol, res.statusCode, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  });

  try {
    await new Promise((ok, fail) => { server.once('error', fail); server.listen(port, host, ok); });
  } catch (e) {
    await pool.close();
    throw new Error(`cannot bind ${host}:${port}: ${listenReason(e)}`);
  }
  const addr = server.address();
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const listeningLine = `listening on http://${shownHost}:${addr.port} (service "${serviceName}", device ${ep}, ${workers} inference worker${workers === 1 ? '' : 's'} x ${threads || 'default'} threads, max batch ${maxBatch}, model ${modelPath})`;

  function shutdown(signal) {
    if (draining) return;
    draining = true;
    log(`${signal}: draining ${metrics.inflight} in-flight request(s), then exiting`);
    const force = setTimeout(() => { server.closeAllConnections(); }, drainTimeout);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      void pool.close().then(() => { if (env.onClosed) env.onClosed(); else process.exit(0); });
    });
    server.closeIdleConnections();
  }

  return { server, port: addr.port, host: addr.address, serviceName, device: ep, workers, threads, pool, model, listeningLine, shutdown };
}

if (!isMainThread && workerData?.pserveInferWorker) await inferWorkerMain(workerData);
const isMain = isMainThread && process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  try {
    const s = await startServer();
    if (s) {
      process.stdout.write(`pserve-server: ${s.listeningLine}\n`);
      process.on('SIGTERM', () => s.shutdown('SIGTERM'));
      process.on('SIGINT', () => s.shutdown('SIGINT'));
    }
  } catch (e) {
    process.stderr.write(`pserve-server: error: ${String(e?.message ?? e)}\n`);
    process.exit(1);
  }
}
