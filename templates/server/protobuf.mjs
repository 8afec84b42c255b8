/**
 * A small protobuf codec for the bundle server's wire protocols (Paddle Serving's C++ and pipeline
 * services, KServe v2 gRPC), driven by the field tables scripts/gen-proto.mjs writes from the
 * .proto files in proto/ (the same table format as src/formats/protobuf.ts, which the CLI uses for
 * model files). Built for request bodies from the network: every length is checked against the
 * bytes that remain before anything is sliced, nesting is bounded, and a bad body is a ProtoError
 * with the byte offset. Messages are plain objects: absent scalars are absent (proto3 defaults
 * apply), repeated fields are arrays, packed float/double lists are Float32Array/Float64Array,
 * bytes are Buffer views of the body (no copy), maps are plain objects, 64-bit integers are
 * numbers when exact and BigInt otherwise.
 */

export class ProtoError extends Error {}

const MAX_DEPTH = 32;
const WIRE = {
  double: 1, fixed64: 1, sfixed64: 1, float: 5, fixed32: 5, sfixed32: 5,
  int32: 0, int64: 0, uint32: 0, uint64: 0, sint32: 0, sint64: 0, bool: 0, enum: 0, string: 2, bytes: 2, message: 2,
};
const NUMERIC = new Set(['double', 'float', 'fixed32', 'sfixed32', 'fixed64', 'sfixed64', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool', 'enum']);

/** codec specs for a generated table, built once per message */
export function loadSchema(table) {
  const cache = new Map();
  const spec = (name) => {
    let s = cache.get(name);
    if (s) return s;
    const fields = table[name];
    if (!fields) throw new Error(`protobuf schema has no message ${name}`);
    s = { name, byId: new Map(), list: [], isMap: name.endsWith('$entry') };
    cache.set(name, s);
    for (const [id, fname, repeated, kind, msg] of fields) {
      const f = { id, name: fname, repeated: repeated === 1, kind, wire: WIRE[kind], msg: null, msgName: msg };
      s.byId.set(id, f);
      s.list.push(f);
    }
    for (const f of s.list) if (f.kind === 'message') f.msg = spec(f.msgName);
    return s;
  };
  return spec;
}

// ---------------------------------------------------------------- decoding

class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength); }
  fail(what) { throw new ProtoError(`protobuf: ${what} at byte ${this.pos}`); }
  /** a varint as a Number when it is below 2^53, else a BigInt (unsigned) */
  varint() {
    const b = this.buf;
    let lo = 0;
    let shift = 0;
    let p = this.pos;
    for (; shift < 28; shift += 7) {
      if (p >= b.length) this.fail('truncated varint');
      const c = b[p++];
      lo |= (c & 0x7f) << shift;
      if (c < 0x80) { this.pos = p; return lo >>> 0; }
    }
    // bits 28..63: slow path
    let v = BigInt(lo >>> 0);
    for (let big = 28n; ; big += 7n) {
      if (p >= b.length) this.fail('truncated varint');
      if (big > 63n) this.fail('varint longer than 10 bytes');
      const c = b[p++];
      v |= BigInt(c & 0x7f) << big;
      if (c < 0x80) break;
    }
    this.pos = p;
    v &= 0xffffffffffffffffn;
    return v <= 9007199254740991n ? Number(v) : v;
  }
  len() {
    const n = this.varint();
    if (typeof n !== 'number' || n > this.buf.length - this.pos) this.fail(`length ${n} runs past the end (${this.buf.length - this.pos} bytes left)`);
    return n;
  }
  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.take(8);
    else if (wire === 5) this.take(4);
    else if (wire === 2) this.take(this.len());
    else this.fail(`unsupported wire type ${wire}`);
  }
  take(n) {
    if (n > this.buf.length - this.pos) this.fail(`${n} bytes run past the end`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
}

function signed64(v) {
  if (typeof v === 'number') return v; // < 2^53: non-negative as written
  const s = BigInt.asIntN(64, v);
  return s >= -9007199254740991n && s <= 9007199254740991n ? Number(s) : s;
}

function scalar(r, kind) {
  switch (kind) {
    case 'int32': case 'enum': { const v = r.varint(); return typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v)); }
    case 'uint32': { const v = r.varint(); return typeof v === 'number' ? v >>> 0 : Number(BigInt.asUintN(32, v)); }
    case 'int64': return signed64(r.varint());
    case 'uint64': return r.varint();
    case 'sint32': { const v = Number(BigInt.asUintN(32, BigInt(r.varint()))); return (v >>> 1) ^ -(v & 1); }
    case 'sint64': { const v = BigInt.asUintN(64, BigInt(r.varint())); const s = (v >> 1n) ^ -(v & 1n); return s >= -9007199254740991n && s <= 9007199254740991n ? Number(s) : s; }
    case 'bool': { const v = r.varint(); return v !== 0 && v !== 0n; }
    case 'float': return r.view.getFloat32(r.take(4), true);
    case 'double': return r.view.getFloat64(r.take(8), true);
    case 'fixed32': return r.view.getUint32(r.take(4), true);
    case 'sfixed32': return r.view.getInt32(r.take(4), true);
    case 'fixed64': { const v = r.view.getBigUint64(r.take(8), true); return v <= 9007199254740991n ? Number(v) : v; }
    case 'sfixed64': { const v = r.view.getBigInt64(r.take(8), true); return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v; }
    default: return r.fail(`unknown kind ${kind}`);
  }
}

/** a packed run of floats or doubles as one typed array (copied: the body's offset may be unaligned) */
function packedFloats(r, kind, n, prev) {
  const size = kind === 'float' ? 4 : 8;
  if (n % size !== 0) r.fail(`packed ${kind} list of ${n} bytes`);
  const at = r.take(n);
  const T = kind === 'float' ? Float32Array : Float64Array;
  const bytes = r.buf.subarray(at, at + n);
  const fresh = new T(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n));
  if (!prev || prev.length === 0) return fresh;
  const joined = new T(prev.length + fresh.length);
  joined.set(prev);
  joined.set(fresh, prev.length);
  return joined;
}

function decodeInto(r, s, end, depth) {
  if (depth > MAX_DEPTH) r.fail(`messages nested deeper than ${MAX_DEPTH}`);
  const out = {};
  while (r.pos < end) {
    const tag = r.varint();
    if (typeof tag !== 'number' || tag > 0xffffffff) r.fail('field tag out of range');
    const id = Math.floor(tag / 8);
    const wire = tag & 7;
    if (id === 0) r.fail('field number 0');
    const f = s.byId.get(id);
    if (!f) { r.skip(wire); continue; }
    if (f.repeated && wire === 2 && NUMERIC.has(f.kind)) {
      const n = r.len();
      if (f.kind === 'float' || f.kind === 'double') { out[f.name] = packedFloats(r, f.kind, n, out[f.name]); continue; }
      const stop = r.pos + n;
      const list = out[f.name] ?? (out[f.name] = []);
      while (r.pos < stop) list.push(scalar(r, f.kind));
      if (r.pos !== stop) r.fail(`packed ${f.name} overruns its length`);
      continue;
    }
    if (wire !== f.wire) r.fail(`field ${f.name} (${id}) has wire type ${wire}, expected ${f.wire}`);
    let v;
    if (f.kind === 'message') {
      const n = r.len();
      const stop = r.pos + n;
      v = decodeInto(r, f.msg, stop, depth + 1);
      if (r.pos !== stop) r.fail(`message ${f.name} overruns its length`);
    } else if (f.kind === 'string') {
      const n = r.len();
      const at = r.take(n);
      v = r.buf.toString('utf8', at, at + n);
    } else if (f.kind === 'bytes') {
      const n = r.len();
      const at = r.take(n);
      v = r.buf.subarray(at, at + n);
    } else v = scalar(r, f.kind);
    if (f.msg?.isMap) {
      const m = out[f.name] ?? (out[f.name] = {});
      m[String(v.key ?? '')] = v.value;
    } else if (f.repeated) {
      const list = out[f.name] ?? (out[f.name] = []);
      if (ArrayBuffer.isView(list)) out[f.name] = [...list, v];
      else list.push(v);
    } else out[f.name] = v;
  }
  if (r.pos !== end) r.fail('message overruns its length');
  return out;
}

/** decode `buf` (a Buffer) as message `type` of `spec` (loadSchema's result) */
export function decode(spec, type, buf) {
  if (!Buffer.isBuffer(buf)) buf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const r = new Reader(buf);
  return decodeInto(r, spec(type), buf.length, 0);
}

// ---------------------------------------------------------------- encoding

class Writer {
  constructor() { this.parts = []; this.scratch = Buffer.allocUnsafe(1024); this.at = 0; }
  flush() {
    if (this.at > 0) { this.parts.push(Buffer.from(this.scratch.subarray(0, this.at))); this.at = 0; }
  }
  room(n) {
    if (this.at + n > this.scratch.length) { this.flush(); if (n > this.scratch.length) this.scratch = Buffer.allocUnsafe(n); }
  }
  varint(v) {
    this.room(10);
    const b = this.scratch;
    if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
      while (v > 0x7f) { b[this.at++] = (v & 0x7f) | 0x80; v >>>= 7; }
      b[this.at++] = v;
      return;
    }
    let x = BigInt.asUintN(64, BigInt(v));
    while (x > 0x7fn) { b[this.at++] = Number(x & 0x7fn) | 0x80; x >>= 7n; }
    b[this.at++] = Number(x);
  }
  tag(id, wire) { this.varint(id * 8 + wire); }
  raw(buf) {
    if (buf.length <= 256) { this.room(buf.length); buf.copy ? buf.copy(this.scratch, this.at) : this.scratch.set(buf, this.at); this.at += buf.length; return; }
    this.flush();
    this.parts.push(buf);
  }
  fixed(kind, v) {
    this.room(8);
    const b = this.scratch;
    if (kind === 'float') b.writeFloatLE(v, this.at), (this.at += 4);
    else if (kind === 'double') b.writeDoubleLE(v, this.at), (this.at += 8);
    else if (kind === 'fixed32') b.writeUInt32LE(v >>> 0, this.at), (this.at += 4);
    else if (kind === 'sfixed32') b.writeInt32LE(v | 0, this.at), (this.at += 4);
    else if (kind === 'fixed64') b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), this.at), (this.at += 8);
    else b.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), this.at), (this.at += 8);
  }
  finish() {
    this.flush();
    return this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
  }
}

function writeScalar(w, kind, v) {
  switch (kind) {
    case 'int32': case 'enum': case 'int64': case 'uint32': case 'uint64':
      if (typeof v === 'boolean') v = v ? 1 : 0;
      return w.varint(typeof v === 'bigint' ? v : kind === 'uint32' ? v >>> 0 : Math.trunc(v));
    case 'sint32': case 'sint64': { const x = BigInt(v); return w.varint(x < 0n ? (-x << 1n) - 1n : x << 1n); }
    case 'bool': return w.varint(v ? 1 : 0);
    default: return w.fixed(kind, kind === 'float' || kind === 'double' ? Number(v) : v);
  }
}

const isDefault = (v) => v === undefined || v === null || v === 0 || v === 0n || v === false || v === '' || (v.length === 0 && (Array.isArray(v) || ArrayBuffer.isView(v)));

function encodeInto(w, s, obj) {
  for (const f of s.list) {
    let v = obj[f.name];
    if (f.msg?.isMap) {
      if (!v || typeof v !== 'object') continue;
      v = Object.entries(v).map(([key, value]) => ({ key, value }));
    }
    if (isDefault(v)) continue;
    if (!f.repeated) { writeField(w, f, v); continue; }
    if (NUMERIC.has(f.kind)) {
      // proto3: repeated numbers are packed
      w.tag(f.id, 2);
      if ((f.kind === 'float' && v instanceof Float32Array) || (f.kind === 'double' && v instanceof Float64Array)) {
        w.varint(v.byteLength);
        w.raw(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
        continue;
      }
      const inner = new Writer();
      for (const x of v) writeScalar(inner, f.kind, x);
      const body = inner.finish();
      w.varint(body.length);
      w.raw(body);
      continue;
    }
    for (const x of v) writeField(w, f, x);
  }
}

function writeField(w, f, v) {
  w.tag(f.id, f.wire);
  if (f.kind === 'message') {
    const inner = new Writer();
    encodeInto(inner, f.msg, v ?? {});
    const body = inner.finish();
    w.varint(body.length);
    w.raw(body);
  } else if (f.kind === 'string') {
    const b = Buffer.from(String(v), 'utf8');
    w.varint(b.length);
    w.raw(b);
  } else if (f.kind === 'bytes') {
    const b = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    w.varint(b.length);
    w.raw(b);
  } else writeScalar(w, f.kind, v);
}

/** encode `obj` as message `type` of `spec`; proto3 defaults are left out, repeated numbers packed */
export function encode(spec, type, obj) {
  const w = new Writer();
  encodeInto(w, spec(type), obj);
  return w.finish();
}
