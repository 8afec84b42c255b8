/**
 * A schema-driven protobuf codec over protobufjs reflection, built for byte-exact round trips of
 * real files: fields are written in field-number order (as protoc-generated C++ does), repeated
 * scalars keep the packed/unpacked form they were read in, explicit defaults stay present, and
 * unknown fields are kept as raw bytes and written back in field-number order among the known ones.
 * The schema comes from our .proto files, parsed with protobufjs by scripts/gen-proto.mjs at build
 * time. The wire reader is our own so that every error carries a byte offset and every length is
 * checked against the bytes that remain before anything is sliced or allocated.
 */
import { PserveError } from '../errors.js';
import { LIMITS } from './limits.js';

export type ProtoValue = number | bigint | boolean | string | Uint8Array | ProtoMessage | ProtoValue[];
export interface ProtoMessage {
  [field: string]: ProtoValue | undefined | Uint8Array[] | Set<string>;
  /** raw bytes (tag included) of fields this schema does not know, in file order */
  $unknown?: Uint8Array[];
  /** repeated scalar fields that were packed on the wire */
  $packed?: Set<string>;
}

type Scalar = 'double' | 'float' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64' | 'fixed32' | 'fixed64' |
  'sfixed32' | 'sfixed64' | 'bool' | 'string' | 'bytes' | 'enum';

interface FieldSpec {
  id: number;
  name: string;
  repeated: boolean;
  kind: Scalar | 'message';
  message?: MessageSpec;
  packedDefault: boolean;
}

export interface MessageSpec {
  fullName: string;
  byId: Map<number, FieldSpec>;
  ordered: FieldSpec[];
}

const WIRE: Record<Scalar, number> = {
  double: 1, fixed64: 1, sfixed64: 1, float: 5, fixed32: 5, sfixed32: 5,
  int32: 0, int64: 0, uint32: 0, uint64: 0, sint32: 0, sint64: 0, bool: 0, enum: 0, string: 2, bytes: 2,
};

/** What scripts/gen-proto.mjs writes: message full name -> [number, name, repeated, kind, message type, packed]. */
export type SchemaTable = Record<string, [number, string, 0 | 1, string, string, 0 | 1][]>;

/** Codec specs for every message of a generated schema table, built on first use. */
export function loadSchema(table: SchemaTable): (fullName: string) => MessageSpec {
  const cache = new Map<string, MessageSpec>();
  const build = (fullName: string): MessageSpec => {
    const hit = cache.get(fullName);
    if (hit) return hit;
    const fields = table[fullName];
    if (!fields) throw new Error(`schema has no message ${fullName}`);
    const spec: MessageSpec = { fullName, byId: new Map(), ordered: [] };
    cache.set(fullName, spec);
    for (const [id, name, repeated, kind, message, packed] of fields) {
      const fs: FieldSpec = {
        id, name, repeated: repeated === 1, kind: kind as FieldSpec['kind'],
        ...(kind === 'message' ? { message: build(message) } : {}),
        packedDefault: packed === 1,
      };
      spec.byId.set(id, fs);
      spec.ordered.push(fs);
    }
    return spec;
  };
  return build;
}

// ---------------------------------------------------------------------------------------------
// decoding

class WireReader {
  pos: number;
  constructor(readonly buf: Uint8Array, start: number, readonly end: number, readonly what: string) { this.pos = start; }

  fail(msg: string, at = this.pos): never {
    throw new PserveError('E_PROTO_INVALID', `${this.what}: ${msg}`, { offset: at });
  }

  truncated(field: string, at = this.pos): never {
    throw new PserveError('E_PROTO_TRUNCATED', `${this.what}: ${field} runs past the end of its message`, { offset: at });
  }

  varint(field: string): bigint {
    const start = this.pos;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.truncated(field, start);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result & 0xffffffffffffffffn;
      shift += 7n;
    }
    return this.fail(`${field}: varint longer than 10 bytes`, start);
  }

  /** Fast path for varints that fit in 32 bits (tags, lengths, most ints). */
  varint32(field: string): number {
    const start = this.pos;
    let result = 0;
    let shift = 0;
    while (shift < 28) {
      if (this.pos >= this.end) this.truncated(field, start);
      const b = this.buf[this.pos++]!;
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
    this.pos = start;
    const big = this.varint(field);
    return Number(big & 0xffffffffn);
  }

  length(field: string): number {
    const start = this.pos;
    const big = this.varint(field);
    if (big > BigInt(this.end - this.pos)) {
      throw new PserveError('E_PROTO_TRUNCATED', `${this.what}: ${field} claims ${big} bytes but only ${this.end - this.pos} remain`, { offset: start });
    }
    return Number(big);
  }

  skip(wt: number, field: string): void {
    switch (wt) {
      case 0: this.varint(field); return;
      case 1: if (this.end - this.pos < 8) this.truncated(field); this.pos += 8; return;
      case 5: if (this.end - this.pos < 4) this.truncated(field); this.pos += 4; return;
      case 2: { const n = this.length(field); this.pos += n; return; }
      case 3: {
        // groups: skip to the matching end-group, bounded by the message end
        let depth = 1;
        while (depth > 0) {
          const tag = this.varint32(field);
          const w = tag & 7;
          if (w === 3) depth++;
          else if (w === 4) depth--;
          else this.skip(w, field);
          if (depth > LIMITS.protoDepth) this.fail(`${field}: groups nested too deeply`);
        }
        return;
      }
      default: this.fail(`${field}: invalid wire type ${wt}`);
    }
  }
}

function toInt64(v: bigint, signed: boolean): number | bigint {
  const s = signed ? BigInt.asIntN(64, v) : v;
  return s >= BigInt(Number.MIN_SAFE_INTEGER) && s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Varints of up to 7 bytes (49 bits) as plain numbers; longer ones (negatives, huge values) via BigInt. */
function smallVarint(r: WireReader): number {
  const buf = r.buf;
  let p = r.pos;
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 7 && p < r.end; i++) {
    const b = buf[p++]!;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) { r.pos = p; return result; }
    mul *= 128;
  }
  return -1;
}

function readScalar(r: WireReader, kind: Scalar, field: string, view: DataView): ProtoValue {
  switch (kind) {
    case 'int32': case 'enum': { const f = smallVarint(r); if (f >= 0) return f | 0; const v = r.varint(field); return Number(BigInt.asIntN(32, v)); }
    case 'uint32': return r.varint32(field);
    case 'int64': { const f = smallVarint(r); if (f >= 0) return f; return toInt64(r.varint(field), true); }
    case 'uint64': { const f = smallVarint(r); if (f >= 0) return f; return toInt64(r.varint(field), false); }
    case 'sint32': { const v = r.varint32(field); return (v >>> 1) ^ -(v & 1); }
    case 'sint64': { const v = r.varint(field); return toInt64((v >> 1n) ^ -(v & 1n), true); }
    case 'bool': { const f = smallVarint(r); if (f >= 0) return f !== 0; return r.varint(field) !== 0n; }
    case 'double': { if (r.end - r.pos < 8) r.truncated(field); const v = view.getFloat64(r.pos, true); r.pos += 8; return v; }
    case 'fixed64': { if (r.end - r.pos < 8) r.truncated(field); const v = view.getBigUint64(r.pos, true); r.pos += 8; return toInt64(v, false); }
    case 'sfixed64': { if (r.end - r.pos < 8) r.truncated(field); const v = view.getBigInt64(r.pos, true); r.pos += 8; return toInt64(v, true); }
    case 'float': { if (r.end - r.pos < 4) r.truncated(field); const v = view.getFloat32(r.pos, true); r.pos += 4; return v; }
    case 'fixed32': { if (r.end - r.pos < 4) r.truncated(field); const v = view.getUint32(r.pos, true); r.pos += 4; return v; }
    case 'sfixed32': { if (r.end - r.pos < 4) r.truncated(field); const v = view.getInt32(r.pos, true); r.pos += 4; return v; }
    case 'string': { const n = r.length(field); const s = utf8.decode(r.buf.subarray(r.pos, r.pos + n)); r.pos += n; return s; }
    case 'bytes': { const n = r.length(field); const b = r.buf.slice(r.pos, r.pos + n); r.pos += n; return b; }
  }
}

function decodeInto(spec: MessageSpec, r: WireReader, end: number, depth: number, view: DataView): ProtoMessage {
  if (depth > LIMITS.protoDepth) r.fail(`messages nested deeper than ${LIMITS.protoDepth}`);
  const msg: ProtoMessage = {};
  while (r.pos < end) {
    const tagAt = r.pos;
    const tag = r.varint32(`${spec.fullName} tag`);
    const id = tag >>> 3;
    const wt = tag & 7;
    if (id === 0) r.fail(`${spec.fullName}: field number 0 is invalid`, tagAt);
    const f = spec.byId.get(id);
    const label = f ? `${spec.fullName}.${f.name}` : `${spec.fullName} field ${id}`;
    const expectWt = f ? (f.kind === 'message' ? 2 : WIRE[f.kind]) : -1;
    const packedOnWire = f !== undefined && f.repeated && f.kind !== 'message' && expectWt !== 2 && wt === 2;
    if (!f || (wt !== expectWt && !packedOnWire)) {
      if (wt === 4) r.fail(`${label}: unexpected end-group`, tagAt);
      r.skip(wt, label);
      (msg.$unknown ??= []).push(r.buf.slice(tagAt, r.pos));
      continue;
    }
    if (f.kind === 'message') {
      const n = r.length(label);
      const sub = new WireReader(r.buf, r.pos, r.pos + n, r.what);
      const value = decodeInto(f.message!, sub, r.pos + n, depth + 1, view);
      r.pos += n;
      if (f.repeated) ((msg[f.name] ??= []) as ProtoValue[]).push(value);
      else msg[f.name] = value; // proto2: a repeated occurrence of a singular message merges; real files never do this
      continue;
    }
    if (packedOnWire) {
      const n = r.length(label);
      const stop = r.pos + n;
      const arr = (msg[f.name] ??= []) as ProtoValue[];
      const sub = new WireReader(r.buf, r.pos, stop, r.what);
      while (sub.pos < stop) arr.push(readScalar(sub, f.kind as Scalar, label, view));
      r.pos = stop;
      (msg.$packed ??= new Set()).add(f.name);
      continue;
    }
    const v = readScalar(r, f.kind as Scalar, label, view);
    if (f.repeated) ((msg[f.name] ??= []) as ProtoValue[]).push(v);
    else msg[f.name] = v;
  }
  if (r.pos !== end) r.fail(`${spec.fullName}: field overran its message`, r.pos);
  return msg;
}

/** Decode `bytes` as message `spec`. `what` names the file or format in errors. */
export function decodeMessage(spec: MessageSpec, bytes: Uint8Array, what: string): ProtoMessage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new WireReader(bytes, 0, bytes.length, what);
  return decodeInto(spec, r, bytes.length, 0, view);
}

// ---------------------------------------------------------------------------------------------
// encoding

class WireWriter {
  buf = new Uint8Array(256);
  len = 0;
  private view = new DataView(this.buf.buffer);

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  varint(v: bigint | number): void {
    let x = typeof v === 'bigint' ? BigInt.asUintN(64, v) : v >= 0 && v < 2 ** 31 ? v : BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    if (typeof x === 'number') {
      while (x > 0x7f) { this.buf[this.len++] = (x & 0x7f) | 0x80; x >>>= 7; }
      this.buf[this.len++] = x;
      return;
    }
    while (x > 0x7fn) { this.buf[this.len++] = Number(x & 0x7fn) | 0x80; x >>= 7n; }
    this.buf[this.len++] = Number(x);
  }

  tag(id: number, wt: number): void { this.varint(id * 8 + wt); }

  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; }

  f32(v: number): void { this.ensure(4); this.view.setFloat32(this.len, v, true); this.len += 4; }
  f64(v: number): void { this.ensure(8); this.view.setFloat64(this.len, v, true); this.len += 8; }
  u32(v: number): void { this.ensure(4); this.view.setUint32(this.len, v >>> 0, true); this.len += 4; }
  i32(v: number): void { this.ensure(4); this.view.setInt32(this.len, v, true); this.len += 4; }
  u64(v: bigint): void { this.ensure(8); this.view.setBigUint64(this.len, BigInt.asUintN(64, v), true); this.len += 8; }

  finish(): Uint8Array { return this.buf.slice(0, this.len); }
}

const utf8e = new TextEncoder();

function writeScalar(w: WireWriter, kind: Scalar, v: ProtoValue): void {
  switch (kind) {
    case 'int32': case 'enum': case 'int64': case 'uint32': case 'uint64':
      w.varint(typeof v === 'boolean' ? Number(v) : (v as number | bigint)); return;
    case 'sint32': { const n = v as number; w.varint(((n << 1) ^ (n >> 31)) >>> 0); return; }
    case 'sint64': { const n = BigInt(v as number | bigint); w.varint((n << 1n) ^ (n >> 63n)); return; }
    case 'bool': w.varint(v ? 1 : 0); return;
    case 'double': w.f64(v as number); return;
    case 'float': w.f32(v as number); return;
    case 'fixed32': w.u32(v as number); return;
    case 'sfixed32': w.i32(v as number); return;
    case 'fixed64': case 'sfixed64': w.u64(BigInt(v as number | bigint)); return;
    case 'string': { const b = utf8e.encode(v as string); w.varint(b.length); w.bytes(b); return; }
    case 'bytes': { const b = v as Uint8Array; w.varint(b.length); w.bytes(b); return; }
  }
}

/** The field number of a raw unknown field (its leading tag varint). */
function unknownId(raw: Uint8Array): number {
  let v = 0;
  let shift = 0;
  for (let i = 0; i < raw.length && i < 5; i++) {
    v += (raw[i]! & 0x7f) * 2 ** shift;
    if ((raw[i]! & 0x80) === 0) break;
    shift += 7;
  }
  return Math.floor(v / 8);
}

function encodeInto(spec: MessageSpec, msg: ProtoMessage, w: WireWriter): void {
  // Unknown fields go back where field-number order puts them: files written by an older schema
  // (e.g. ProgramDesc's since-reserved field 3) had them between known fields, in number order.
  const unknown = msg.$unknown ?? [];
  let u = 0;
  for (const f of spec.ordered) {
    while (u < unknown.length && unknownId(unknown[u]!) < f.id) w.bytes(unknown[u++]!);
    const v = msg[f.name];
    if (v === undefined || v === null) continue;
    if (f.kind === 'message') {
      const items = f.repeated ? (v as ProtoMessage[]) : [v as ProtoMessage];
      for (const item of items) {
        const sub = new WireWriter();
        encodeInto(f.message!, item, sub);
        w.tag(f.id, 2);
        w.varint(sub.len);
        w.bytes(sub.buf.subarray(0, sub.len));
      }
      continue;
    }
    const kind = f.kind as Scalar;
    if (f.repeated) {
      const arr = v as ProtoValue[];
      if (arr.length === 0) continue;
      const packed = msg.$packed?.has(f.name) ?? f.packedDefault;
      if (packed && WIRE[kind] !== 2) {
        const sub = new WireWriter();
        for (const item of arr) writeScalar(sub, kind, item);
        w.tag(f.id, 2);
        w.varint(sub.len);
        w.bytes(sub.buf.subarray(0, sub.len));
      } else {
        for (const item of arr) { w.tag(f.id, WIRE[kind]); writeScalar(w, kind, item); }
      }
      continue;
    }
    w.tag(f.id, WIRE[kind]);
    writeScalar(w, kind, v as ProtoValue);
  }
  while (u < unknown.length) w.bytes(unknown[u++]!);
}

export function encodeMessage(spec: MessageSpec, msg: ProtoMessage): Uint8Array {
  const w = new WireWriter();
  encodeInto(spec, msg, w);
  return w.finish();
}
