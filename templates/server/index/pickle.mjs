/**
 * PaddleClas's `id_map.pkl`: a Python pickle of `{numpy.int64 id: "path\tlabel"}` (FORMATS §10).
 *
 * A pickle is a program for a stack machine whose GLOBAL/REDUCE opcodes call any Python function,
 * so the reader below is an interpreter of a small allow-list: the opcodes of protocols 2-5 that
 * a dict of ints or numpy integer scalars to str needs, and exactly four "callables", which are
 * never called but evaluated here as data: `numpy.dtype` (an integer dtype), its BUILD state,
 * `numpy.core.multiarray.scalar` (dtype + raw bytes -> an integer) and `_codecs.encode(str,
 * 'latin1')` (how protocol 2 spells bytes). Any other GLOBAL, opcode, or shape is refused with a
 * code before anything is allocated for it.
 *
 * The writer emits what CPython's C pickler (protocol 4) emits for such a dict, byte for byte:
 * the same memo numbering, MEMOIZE/BINGET, batches of 1000 SETITEMS and 64 KiB frames.
 */
import { IndexFormatError } from './errors.mjs';

/** Largest id_map.pkl read (real ones are ~60 bytes per gallery image). */
export const MAX_PICKLE_BYTES = 1 << 30;
/** Longest single string or bytes object (a path and a label). */
export const MAX_PICKLE_STRING = 1 << 20;
/** Deepest MARK nesting and tuple nesting accepted (the real file needs 2). */
export const MAX_PICKLE_DEPTH = 32;

const GLOBALS = new Map([
  ['numpy.core.multiarray scalar', 'scalar'],
  ['numpy._core.multiarray scalar', 'scalar'],
  ['numpy dtype', 'dtype'],
  ['_codecs encode', 'encode'],
]);

class Tuple {
  /** @param {unknown[]} items */
  constructor(items) {
    this.items = items;
    let depth = 0;
    for (const it of items) if (it instanceof Tuple && it.depth > depth) depth = it.depth;
    this.depth = depth + 1;
  }
}
class Global { /** @param {string} name */ constructor(name) { this.name = name; } }
class DType {
  /** @param {string} kind 'i' or 'u' @param {number} size bytes */
  constructor(kind, size) { this.kind = kind; this.size = size; this.order = '<'; this.built = false; }
}
class NpInt { /** @param {bigint} value @param {DType} dtype */ constructor(value, dtype) { this.value = value; this.dtype = dtype; } }
class Bytes { /** @param {Uint8Array} b */ constructor(b) { this.b = b; } }
class Dict { constructor() { /** @type {Map<number, string>} */ this.map = new Map(); /** @type {Set<string>} */ this.keyKinds = new Set(); } }

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * @typedef {object} IdMap
 * @property {Map<number, string>} map id -> "path\tlabel", in the pickle's (insertion) order
 * @property {'numpy.int64' | 'int' | 'mixed'} keyType how the keys were pickled
 * @property {number} protocol the pickle protocol
 */

/**
 * Read an id_map.pkl.
 * @param {Uint8Array} bytes
 * @returns {IdMap}
 */
export function readIdMapPickle(bytes) {
  const fail = (code, msg, at) => { throw new IndexFormatError(code, msg, at); };
  if (bytes.length > MAX_PICKLE_BYTES) fail('E_PICKLE_TOO_LARGE', `pickle is ${bytes.length} bytes, above the limit of ${MAX_PICKLE_BYTES}`, 0);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  /** @type {unknown[]} */
  let stack = [];
  /** @type {unknown[][]} */
  const marks = [];
  /** @type {Map<number, unknown>} */
  const memo = new Map();
  let protocol = -1;
  let frameEnd = -1;

  const need = (n, what) => {
    if (n > bytes.length - pos) fail('E_PICKLE_TRUNCATED', `pickle ends inside ${what}: needs ${n} bytes, ${bytes.length - pos} left`, pos);
  };
  const u8 = () => { need(1, 'an opcode argument'); return bytes[pos++]; };
  const u16 = () => { need(2, 'an opcode argument'); const v = dv.getUint16(pos, true); pos += 2; return v; };
  const u32 = () => { need(4, 'an opcode argument'); const v = dv.getUint32(pos, true); pos += 4; return v; };
  const i32 = () => { need(4, 'an opcode argument'); const v = dv.getInt32(pos, true); pos += 4; return v; };
  const u64 = (what) => {
    need(8, what);
    const v = dv.getBigUint64(pos, true); pos += 8;
    if (v > BigInt(MAX_PICKLE_BYTES)) fail('E_PICKLE_LENGTH', `${what} of ${v} bytes is above the limit`, pos - 8);
    return Number(v);
  };
  const take = (n, what) => {
    if (n > MAX_PICKLE_STRING) fail('E_PICKLE_LENGTH', `${what} of ${n} bytes is above the limit of ${MAX_PICKLE_STRING}`, pos);
    need(n, what);
    const b = bytes.subarray(pos, pos + n); pos += n; return b;
  };
  const str = (n) => {
    const at = pos;
    const b = take(n, 'a string');
    try { return utf8.decode(b); } catch { return fail('E_PICKLE_UTF8', 'a string is not valid UTF-8', at); }
  };
  const pop = (at) => {
    if (stack.length === 0) fail('E_PICKLE_STACK', 'an opcode needs a value but the stack is empty', at);
    return stack.pop();
  };
  const popMark = (at) => {
    if (marks.length === 0) fail('E_PICKLE_STACK', 'an opcode needs a MARK but there is none', at);
    const items = stack;
    stack = /** @type {unknown[]} */ (marks.pop());
    return items;
  };
  const tuple = (items, at) => {
    const t = new Tuple(items);
    if (t.depth > MAX_PICKLE_DEPTH) fail('E_PICKLE_DEPTH', `tuples nested deeper than ${MAX_PICKLE_DEPTH}`, at);
    return t;
  };
  const setItem = (d, k, v, at) => {
    if (!(d instanceof Dict)) fail('E_PICKLE_SHAPE', 'SETITEM(S) on something that is not a dict', at);
    let key;
    if (typeof k === 'bigint') { key = k; d.keyKinds.add('int'); }
    else if (k instanceof NpInt) { key = k.value; d.keyKinds.add(k.dtype.kind === 'i' && k.dtype.size === 8 ? 'numpy.int64' : 'numpy.other'); }
    else fail('E_PICKLE_KEY', 'a dict key is not an int or a numpy integer scalar', at);
    if (key > BigInt(Number.MAX_SAFE_INTEGER) || key < BigInt(Number.MIN_SAFE_INTEGER)) fail('E_PICKLE_KEY', `dict key ${key} is outside the exactly representable range`, at);
    if (typeof v !== 'string') fail('E_PICKLE_VALUE', 'a dict value is not a str ("path\\tlabel")', at);
    d.map.set(Number(key), v);
  };
  const reduce = (fn, args, at) => {
    if (!(fn instanceof Global)) fail('E_PICKLE_SHAPE', 'REDUCE of something that is not an allowed global', at);
    if (!(args instanceof Tuple)) fail('E_PICKLE_SHAPE', `REDUCE of ${fn.name} without an argument tuple`, at);
    const a = args.items;
    if (fn.name === 'dtype') {
      const m = a.length === 3 && typeof a[0] === 'string' ? /^([<>|=]?)([iu])([1248])$/.exec(a[0]) : null;
      if (!m || typeof a[1] !== 'boolean' || typeof a[2] !== 'boolean') fail('E_PICKLE_DTYPE', `numpy.dtype${a.length === 3 && typeof a[0] === 'string' ? `('${a[0]}')` : ''} is not an integer dtype`, at);
      const dt = new DType(m[2], Number(m[3]));
      if (m[1] === '>') dt.order = '>';
      return dt;
    }
    if (fn.name === 'scalar') {
      if (a.length !== 2 || !(a[0] instanceof DType) || !(a[1] instanceof Bytes)) fail('E_PICKLE_SHAPE', 'numpy scalar(dtype, bytes) expected', at);
      const dt = a[0]; const raw = a[1].b;
      if (raw.length !== dt.size) fail('E_PICKLE_SHAPE', `numpy scalar has ${raw.length} bytes, its dtype needs ${dt.size}`, at);
      const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const le = dt.order !== '>';
      let n;
      if (dt.size === 1) n = BigInt(dt.kind === 'i' ? v.getInt8(0) : v.getUint8(0));
      else if (dt.size === 2) n = BigInt(dt.kind === 'i' ? v.getInt16(0, le) : v.getUint16(0, le));
      else if (dt.size === 4) n = BigInt(dt.kind === 'i' ? v.getInt32(0, le) : v.getUint32(0, le));
      else n = dt.kind === 'i' ? v.getBigInt64(0, le) : v.getBigUint64(0, le);
      return new NpInt(n, dt);
    }
    // _codecs.encode(str, 'latin1'): protocol 2's spelling of bytes
    if (a.length !== 2 || typeof a[0] !== 'string' || (a[1] !== 'latin1' && a[1] !== 'latin-1')) fail('E_PICKLE_SHAPE', "_codecs.encode(str, 'latin1') expected", at);
    const s = /** @type {string} */ (a[0]);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) fail('E_PICKLE_SHAPE', 'latin1 bytes hold a character above U+00FF', at);
      out[i] = c;
    }
    return new Bytes(out);
  };
  const build = (obj, state, at) => {
    if (!(obj instanceof DType) || obj.built) fail('E_PICKLE_SHAPE', 'BUILD is allowed once, on a numpy dtype', at);
    const s = state instanceof Tuple ? state.items : [];
    // numpy's dtype.__reduce__ state: (3, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
    const ok = (s.length === 8 || s.length === 9) && (s[0] === 3n || s[0] === 4n) && (s[1] === '<' || s[1] === '>' || s[1] === '|' || s[1] === '=')
      && s[2] === null && s[3] === null && s[4] === null && s[5] === -1n && s[6] === -1n && typeof s[7] === 'bigint' && (s.length === 8 || s[8] === null);
    if (!ok) fail('E_PICKLE_DTYPE', 'the numpy dtype state is not that of a plain integer dtype', at);
    if (s[1] === '>') obj.order = '>';
    else if (s[1] === '<') obj.order = '<';
    obj.built = true;
  };

  for (;;) {
    if (pos >= bytes.length) fail('E_PICKLE_TRUNCATED', 'pickle ends before its STOP opcode', pos);
    if (frameEnd >= 0 && pos > frameEnd) fail('E_PICKLE_FRAME', 'an opcode crosses the end of its frame', pos);
    const at = pos;
    const op = bytes[pos++];
    if (at === 0 && op !== 0x80) fail('E_PICKLE_PROTOCOL', 'not a pickle of protocol 2 or later (no PROTO opcode)', 0);
    switch (op) {
      case 0x80: { // PROTO
        if (at !== 0) fail('E_PICKLE_SHAPE', 'PROTO after the start', at);
        protocol = u8();
        if (protocol < 2 || protocol > 5) fail('E_PICKLE_PROTOCOL', `pickle protocol ${protocol}; 2 to 5 are read`, at);
        break;
      }
      case 0x95: { // FRAME
        const n = u64('a frame');
        need(n, 'a frame');
        frameEnd = pos + n;
        break;
      }
      case 0x2e: { // STOP
        if (pos !== bytes.length) fail('E_PICKLE_TRAILING', `${bytes.length - pos} bytes after the STOP opcode`, pos);
        if (marks.length !== 0 || stack.length !== 1) fail('E_PICKLE_STACK', 'STOP with an open MARK or more than one value', at);
        const top = stack[0];
        if (!(top instanceof Dict)) fail('E_PICKLE_SHAPE', 'the pickle is not a dict', at);
        const kinds = [...top.keyKinds];
        const keyType = kinds.length === 0 ? 'numpy.int64' : kinds.length === 1 && kinds[0] !== 'numpy.other' ? /** @type {'numpy.int64'|'int'} */ (kinds[0]) : 'mixed';
        return { map: top.map, keyType, protocol };
      }
      case 0x28: // MARK
        if (marks.length >= MAX_PICKLE_DEPTH) fail('E_PICKLE_DEPTH', `MARKs nested deeper than ${MAX_PICKLE_DEPTH}`, at);
        marks.push(stack); stack = [];
        break;
      case 0x7d: stack.push(new Dict()); break; // EMPTY_DICT
      case 0x29: stack.push(tuple([], at)); break; // EMPTY_TUPLE
      case 0x74: { const items = popMark(at); stack.push(tuple(items, at)); break; } // TUPLE
      case 0x85: { const a = pop(at); stack.push(tuple([a], at)); break; } // TUPLE1
      case 0x86: { const b = pop(at); const a = pop(at); stack.push(tuple([a, b], at)); break; } // TUPLE2
      case 0x87: { const c = pop(at); const b = pop(at); const a = pop(at); stack.push(tuple([a, b, c], at)); break; } // TUPLE3
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(BigInt(i32())); break; // BININT
      case 0x4b: stack.push(BigInt(u8())); break; // BININT1
      case 0x4d: stack.push(BigInt(u16())); break; // BININT2
      case 0x8a: { // LONG1: little-endian two's complement
        const n = u8();
        if (n > 16) fail('E_PICKLE_LENGTH', `a ${n}-byte integer is longer than any id`, at);
        const b = take(n, 'an integer');
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && (b[n - 1] & 0x80)) v -= 1n << BigInt(8 * n);
        stack.push(v);
        break;
      }
      case 0x8c: stack.push(str(u8())); break; // SHORT_BINUNICODE
      case 0x58: stack.push(str(u32())); break; // BINUNICODE
      case 0x8d: stack.push(str(u64('a string'))); break; // BINUNICODE8
      case 0x43: stack.push(new Bytes(take(u8(), 'bytes'))); break; // SHORT_BINBYTES
      case 0x42: stack.push(new Bytes(take(u32(), 'bytes'))); break; // BINBYTES
      case 0x8e: stack.push(new Bytes(take(u64('bytes'), 'bytes'))); break; // BINBYTES8
      case 0x63: { // GLOBAL "module\nname\n"
        const end1 = bytes.indexOf(0x0a, pos);
        const end2 = end1 < 0 ? -1 : bytes.indexOf(0x0a, end1 + 1);
        if (end2 < 0 || end2 - pos > 256) fail('E_PICKLE_TRUNCATED', 'GLOBAL without its two newline-terminated names', at);
        const mod = String.fromCharCode(...bytes.subarray(pos, end1));
        const name = String.fromCharCode(...bytes.subarray(end1 + 1, end2));
        pos = end2 + 1;
        stack.push(global(mod, name, at));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(at); const mod = pop(at);
        if (typeof mod !== 'string' || typeof name !== 'string') fail('E_PICKLE_SHAPE', 'STACK_GLOBAL needs two strings', at);
        stack.push(global(mod, name, at));
        break;
      }
      case 0x52: { const args = pop(at); const fn = pop(at); stack.push(reduce(fn, args, at)); break; } // REDUCE
      case 0x62: { const state = pop(at); build(stack[stack.length - 1], state, at); break; } // BUILD
      case 0x94: { // MEMOIZE
        if (stack.length === 0) fail('E_PICKLE_STACK', 'MEMOIZE with an empty stack', at);
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      }
      case 0x71: case 0x72: { // BINPUT, LONG_BINPUT
        const i = op === 0x71 ? u8() : u32();
        if (stack.length === 0) fail('E_PICKLE_STACK', 'PUT with an empty stack', at);
        memo.set(i, stack[stack.length - 1]);
        break;
      }
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail('E_PICKLE_MEMO', `GET of memo entry ${i}, which was never stored`, at);
        stack.push(memo.get(i));
        break;
      }
      case 0x73: { const v = pop(at); const k = pop(at); setItem(stack[stack.length - 1], k, v, at); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark(at);
        if (items.length % 2) fail('E_PICKLE_STACK', 'SETITEMS with an odd number of values', at);
        const d = stack[stack.length - 1];
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1], at);
        break;
      }
      default:
        fail('E_PICKLE_OPCODE', `opcode 0x${op.toString(16).padStart(2, '0')} is not one an id map needs; refused`, at);
    }
  }

  /** @returns {Global} */
  function global(mod, name, at) {
    const g = GLOBALS.get(`${mod} ${name}`);
    if (!g) fail('E_PICKLE_GLOBAL', `the pickle calls ${mod}.${name}, which is not on the allow-list (numpy.core.multiarray.scalar, numpy.dtype, _codecs.encode); refused`, at);
    return new Global(/** @type {string} */ (g));
  }
}

const FRAME_SIZE_TARGET = 64 * 1024;
const BATCHSIZE = 1000;

/**
 * Write `{id: "path\tlabel"}` as CPython's pickle.dump(d, protocol=4) does for a dict whose keys
 * are numpy.int64 scalars (what PaddleClas writes) or plain ints.
 * @param {Map<number, string> | Iterable<[number, string]>} entries in order
 * @param {{ keyType?: 'numpy.int64' | 'int' }} [opts]
 * @returns {Uint8Array}
 */
export function writeIdMapPickle(entries, opts = {}) {
  const keyType = opts.keyType ?? 'numpy.int64';
  const list = [...entries];
  const enc = new TextEncoder();
  /** @type {Uint8Array[]} */
  const out = [Uint8Array.of(0x80, 4)];
  let frame = new Uint8Array(1 << 16);
  let flen = 0;
  let memoSize = 0;

  const write = (/** @type {ArrayLike<number>} */ b) => {
    if (flen + b.length > frame.length) {
      const bigger = new Uint8Array(Math.max(frame.length * 2, flen + b.length));
      bigger.set(frame.subarray(0, flen)); frame = bigger;
    }
    frame.set(b, flen); flen += b.length;
  };
  const commit = () => {
    if (flen >= 4) {
      const h = new Uint8Array(9); h[0] = 0x95;
      new DataView(h.buffer).setBigUint64(1, BigInt(flen), true);
      out.push(h);
    }
    out.push(frame.slice(0, flen)); flen = 0;
  };
  // the C pickler ends a frame at the first save() that starts once the frame holds 64 KiB
  const save = (/** @type {() => void} */ body) => { if (flen >= FRAME_SIZE_TARGET) commit(); body(); };
  const memoize = () => { write([0x94]); return memoSize++; };
  const get = (/** @type {number} */ i) => {
    if (i < 256) write([0x68, i]);
    else write([0x6a, ...u32le(i)]);
  };
  const u32le = (/** @type {number} */ n) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
  const saveStr = (/** @type {string} */ s) => save(() => {
    if (!s.isWellFormed()) throw new IndexFormatError('E_PICKLE_VALUE', 'a string holds a lone UTF-16 surrogate, which UTF-8 cannot carry');
    const b = enc.encode(s);
    if (b.length < 256) write([0x8c, b.length]);
    else write([0x58, ...u32le(b.length)]);
    write(b);
    memoize();
  });
  const saveInt = (/** @type {number} */ n) => save(() => {
    if (!Number.isSafeInteger(n)) throw new IndexFormatError('E_PICKLE_KEY', `id ${n} is not an integer in the exactly representable range`);
    if (n >= 0 && n <= 0xff) write([0x4b, n]);
    else if (n >= 0 && n <= 0xffff) write([0x4d, n & 255, n >>> 8]);
    else if (n >= -0x80000000 && n <= 0x7fffffff) write([0x4a, ...u32le(n)]);
    else {
      // LONG1: the shortest two's complement that keeps the sign
      let v = BigInt(n); const b = [];
      for (;;) {
        b.push(Number(v & 255n)); v >>= 8n;
        if ((v === 0n && !(b[b.length - 1] & 0x80)) || (v === -1n && (b[b.length - 1] & 0x80))) break;
      }
      write([0x8a, b.length, ...b]);
    }
  });
  const saveConst = (/** @type {number[]} */ b) => save(() => write(b));

  let scalarMemo = -1;
  let dtypeMemo = -1;
  const saveGlobal = (/** @type {string} */ mod, /** @type {string} */ name) => save(() => {
    saveStr(mod); saveStr(name); write([0x93]);
  });
  const saveNpInt64 = (/** @type {number} */ n) => save(() => {
    if (!Number.isSafeInteger(n)) throw new IndexFormatError('E_PICKLE_KEY', `id ${n} is not an integer in the exactly representable range`);
    // numpy.int64.__reduce__ = (numpy.core.multiarray.scalar, (dtype('int64'), 8 raw bytes))
    if (scalarMemo >= 0) save(() => get(scalarMemo));
    else { saveGlobal('numpy.core.multiarray', 'scalar'); scalarMemo = memoSize; memoize(); }
    save(() => { // the argument tuple
      if (dtypeMemo >= 0) save(() => get(dtypeMemo));
      else save(() => { // numpy.dtype('i8', False, True) with its BUILD state
        saveGlobal('numpy', 'dtype'); memoize();
        save(() => { saveStr('i8'); saveConst([0x89]); saveConst([0x88]); write([0x87]); memoize(); });
        write([0x52]); dtypeMemo = memoSize; memoize();
        save(() => {
          write([0x28]);
          saveConst([0x4b, 3]); saveStr('<'); saveConst([0x4e]); saveConst([0x4e]); saveConst([0x4e]);
          saveConst([0x4a, 255, 255, 255, 255]); saveConst([0x4a, 255, 255, 255, 255]); saveConst([0x4b, 0]);
          write([0x74]); memoize();
        });
        write([0x62]);
      });
      save(() => {
        const b = new Uint8Array(10); b[0] = 0x43; b[1] = 8;
        new DataView(b.buffer).setBigInt64(2, BigInt(n), true);
        write(b); memoize();
      });
      write([0x86]); memoize();
    });
    write([0x52]); memoize();
  });

  save(() => {
    write([0x7d]); memoize();
    const saveKey = keyType === 'int' ? saveInt : saveNpInt64;
    const item = (/** @type {[number, string]} */ [k, v]) => {
      if (typeof v !== 'string') throw new IndexFormatError('E_PICKLE_VALUE', `the value for id ${k} is not a string`);
      saveKey(k); saveStr(v);
    };
    if (list.length === 1) { item(/** @type {[number, string]} */ (list[0])); write([0x73]); }
    else if (list.length > 1) {
      let i = 0;
      // CPython's batch_dict_exact: a batch that ends exactly at the end still opens one more (empty) batch
      do {
        write([0x28]);
        const end = Math.min(i + BATCHSIZE, list.length);
        const full = end - i === BATCHSIZE;
        for (; i < end; i++) item(/** @type {[number, string]} */ (list[i]));
        write([0x75]);
        if (!full) break;
      } while (true);
    }
  });
  write([0x2e]);
  commit();
  let total = 0;
  for (const c of out) total += c.length;
  const result = new Uint8Array(total);
  let o = 0;
  for (const c of out) { result.set(c, o); o += c.length; }
  return result;
}
