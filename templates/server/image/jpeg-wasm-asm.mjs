// The assembler and the kernels behind jpeg-wasm.mjs: every function written as WebAssembly opcodes from JS
// helpers (LEB128, structured blocks with named branch targets, i32 and SIMD ops) and assembled into one module.
// jpeg-wasm.mjs embeds the bytes this produces (assembling takes ~60 ms in a cold thread, the embedded copy ~0);
// test/image-jpeg-kernels.test.ts checks that they are the same. After changing a kernel, run
//   node templates/server/image/jpeg-wasm-asm.mjs
// which rewrites the KERNELS line of jpeg-wasm.mjs.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HUFF, DESC } from './jpeg-wasm.mjs';

// ---- a tiny assembler ----
/** @param {number} n unsigned LEB128 */
function u(n) {
  const b = [];
  do { let x = n & 0x7f; n >>>= 7; if (n) x |= 0x80; b.push(x); } while (n);
  return b;
}
/** @param {number} n signed LEB128 */
function s(n) {
  const b = [];
  for (;;) {
    const x = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(x & 0x40)) || (n === -1 && (x & 0x40))) { b.push(x); return b; }
    b.push(x | 0x80);
  }
}
const get = (/** @type {number} */ i) => [0x20, ...u(i)];
const set = (/** @type {number} */ i) => [0x21, ...u(i)];
const tee = (/** @type {number} */ i) => [0x22, ...u(i)];
const i32 = (/** @type {number} */ v) => [0x41, ...s(v)];
const ADD = 0x6a, SUB = 0x6b, SHL = 0x74, LT_S = 0x48, GT_S = 0x4a;
const LOOP = [0x03, 0x40], BLOCK = [0x02, 0x40], END = 0x0b;
const brIf = (/** @type {number} */ d) => [0x0d, d];
const simd = (/** @type {number} */ op) => [0xfd, ...u(op)];
const vload = (off = 0) => [0xfd, 0, 0, ...u(off)];
const vstore = (off = 0) => [0xfd, 11, 0, ...u(off)];
const load8x8u = (off = 0) => [0xfd, 2, 0, ...u(off)];
const load16s = (off = 0) => [0x2e, 1, ...u(off)];
const store16 = (off = 0) => [0x3b, 1, ...u(off)];
const shuffle = (/** @type {number[]} */ lanes) => [0xfd, 13, ...lanes];
const i16splat = (/** @type {number} */ v) => [...i32(v), ...simd(16)];
const i32splat = (/** @type {number} */ v) => [...i32(v), ...simd(17)];
const V = {
  i16add: 142, i16sub: 145, i16mul: 149, i16shrs: 140, i8narrowu: 102, i16narrows: 133,
  i16extlo8u: 137, i16exthi8u: 138, i32extlo16s: 167, i32exthi16s: 168,
  i32add: 174, i32sub: 177, i32mul: 181, i32shrs: 172,
};
const I32T = 0x7f, V128T = 0x7b;

/**
 * @param {{ name: string, params: number, results?: number, i32s: number, v128s: number, code: number[] }[]} funcs
 * @returns {Uint8Array}
 */
function moduleBytes(funcs) {
  const sec = (/** @type {number} */ id, /** @type {number[]} */ body) => [id, ...u(body.length)].concat(body);
  const vec = (/** @type {number[][]} */ items) => u(items.length).concat(...items);
  const str = (/** @type {string} */ t) => [...u(t.length), ...Array.from(t, (c) => c.charCodeAt(0))];
  const sig = (/** @type {{ params: number, results?: number }} */ f) => `${f.params}/${f.results ?? 0}`;
  const arities = [...new Set(funcs.map(sig))];
  const types = sec(1, vec(arities.map((k) => {
    const [n, r] = k.split('/').map(Number);
    return [0x60, ...u(n), ...new Array(n).fill(I32T), ...u(r), ...new Array(r).fill(I32T)];
  })));
  const fsec = sec(3, vec(funcs.map((f) => u(arities.indexOf(sig(f))))));
  const mem = sec(5, vec([[0x00, 1]]));
  const exp = sec(7, vec([[...str('m'), 2, 0], ...funcs.map((f, i) => [...str(f.name), 0, ...u(i)])]));
  const code = sec(10, vec(funcs.map((f) => {
    const locals = [];
    if (f.i32s) locals.push([...u(f.i32s), I32T]);
    if (f.v128s) locals.push([...u(f.v128s), V128T]);
    // kernel code is nested arrays of bytes (cheap to build): flattened once here
    const body = flat([vec(locals), f.code, END]);
    return u(body.length).concat(body);
  })));
  return Uint8Array.from(flat([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, types, fsec, mem, exp, code]));
}

// ---- kernels ----

/**
 * ycc(y, cb, cr, out, n): n pixels of full-resolution Y, Cb, Cr rows to interleaved 8-bit RGB (bgr: BGR), jdcolor.c's
 * arithmetic: R = y + ((91881 (cr-128) + 32768) >> 16), B = y + ((116130 (cb-128) + 32768) >> 16),
 * G = y + ((-22554 (cb-128) - 46802 (cr-128) + 32768) >> 16), saturated to 0..255. Reads and writes whole groups of
 * 16 pixels (the caller leaves room past the row).
 * @param {boolean} bgr
 */
function yccKernel(bgr) {
  // params 0 y, 1 cb, 2 cr, 3 out, 4 n; i32 locals: 5 i; v128 locals: 6 Y, 7 CB, 8 CR, 9 R, 10 G, 11 B, 12..15 scratch
  const [Y, CB, CR, R, G, B] = [6, 7, 8, 9, 10, 11];
  /** one channel of 4 pixels (i32x4) of quarter q, leaving it on the stack */
  const quarter = (/** @type {number} */ q, /** @type {'r'|'g'|'b'} */ ch) => {
    // u8 lanes -> i16 (low/high 8) -> i32 (low/high 4)
    const ext = (/** @type {number} */ v) => [get(v), simd(q < 2 ? V.i16extlo8u : V.i16exthi8u), simd(q % 2 === 0 ? V.i32extlo16s : V.i32exthi16s)];
    const centred = (/** @type {number} */ v) => [ext(v), i32splat(128), simd(V.i32sub)];
    const code = [ext(Y)];
    if (ch === 'r') code.push(centred(CR), i32splat(91881), simd(V.i32mul), i32splat(32768), simd(V.i32add));
    else if (ch === 'b') code.push(centred(CB), i32splat(116130), simd(V.i32mul), i32splat(32768), simd(V.i32add));
    else code.push(centred(CB), i32splat(-22554), simd(V.i32mul), centred(CR), i32splat(-46802), simd(V.i32mul), simd(V.i32add), i32splat(32768), simd(V.i32add));
    code.push(i32(16), simd(V.i32shrs), simd(V.i32add));
    return code;
  };
  /** 16 lanes of one channel, saturated to u8 */
  const channel = (/** @type {'r'|'g'|'b'} */ ch) => [
    quarter(0, ch), quarter(1, ch), simd(V.i16narrows),
    quarter(2, ch), quarter(3, ch), simd(V.i16narrows),
    simd(V.i8narrowu),
  ];
  // interleave: output byte k is pixel k/3, channel k%3; first R and G from a pair shuffle, then B
  const first = bgr ? B : R, last = bgr ? R : B;
  const stores = [];
  for (let m = 0; m < 3; m++) {
    const a = [], b = [];
    for (let L = 0; L < 16; L++) {
      const k = m * 16 + L, p = Math.floor(k / 3), c = k % 3;
      a.push(c === 0 ? p : c === 1 ? 16 + p : 0);
      b.push(c === 2 ? 16 + p : L);
    }
    stores.push(get(3), get(first), get(G), shuffle(a), get(last), shuffle(b), vstore(16 * m));
  }
  const code = [
    BLOCK, get(4), i32(1), LT_S, brIf(0),
    LOOP,
    get(0), vload(), set(Y), get(1), vload(), set(CB), get(2), vload(), set(CR),
    channel('r'), set(R), channel('g'), set(G), channel('b'), set(B),
    stores,
    get(0), i32(16), ADD, set(0), get(1), i32(16), ADD, set(1), get(2), i32(16), ADD, set(2),
    get(3), i32(48), ADD, set(3),
    get(4), i32(16), SUB, tee(4), i32(0), GT_S, brIf(0),
    END, END,
  ];
  return { name: bgr ? 'yccBgr' : 'yccRgb', params: 5, i32s: 1, v128s: 10, code };
}

/**
 * colsum(near, far, dst, n): dst[j] = 3 near[j] + far[j] as int16, n samples (groups of 8).
 */
function colsumKernel() {
  const code = [
    BLOCK, get(3), i32(1), LT_S, brIf(0),
    LOOP,
    get(2),
    get(0), load8x8u(), i16splat(3), simd(V.i16mul), get(1), load8x8u(), simd(V.i16add),
    vstore(),
    get(0), i32(8), ADD, set(0), get(1), i32(8), ADD, set(1), get(2), i32(16), ADD, set(2),
    get(3), i32(8), SUB, tee(3), i32(0), GT_S, brIf(0),
    END, END,
  ];
  return { name: 'colsum', params: 4, i32s: 0, v128s: 0, code };
}

/**
 * up2(src, dst, n, biasL, biasR): jdsample.c's horizontal triangle filter on int16 sums s[0..n-1] at src (the
 * int16 before src and the one after s[n-1] are set here to the edge samples): dst[2j] = (3 s[j] + s[j-1] + biasL) >> 4,
 * dst[2j+1] = (3 s[j] + s[j+1] + biasR) >> 4, as bytes (groups of 8 sums).
 */
function up2Kernel() {
  // params 0 src, 1 dst, 2 n, 3 biasL, 4 biasR; v128 locals 5 cur, 6 BL, 7 BR
  const code = [
    BLOCK, get(2), i32(1), LT_S, brIf(0),
    // edge padding (memarg offsets are unsigned: the addresses are computed)
    get(0), i32(2), SUB, get(0), load16s(), store16(),
    get(0), get(2), i32(1), SHL, ADD, get(0), get(2), i32(1), SHL, ADD, i32(2), SUB, load16s(), store16(),
    get(3), simd(16), set(6), get(4), simd(16), set(7),
    LOOP,
    get(1),
    get(0), vload(), tee(5), i16splat(3), simd(V.i16mul), get(0), i32(2), SUB, vload(), simd(V.i16add), get(6), simd(V.i16add), i32(4), simd(V.i16shrs),
    get(5), i16splat(3), simd(V.i16mul), get(0), vload(2), simd(V.i16add), get(7), simd(V.i16add), i32(4), simd(V.i16shrs),
    simd(V.i8narrowu),
    get(5), // any second operand: only lanes of the first are picked
    shuffle([0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15]),
    vstore(),
    get(0), i32(16), ADD, set(0), get(1), i32(16), ADD, set(1),
    get(2), i32(8), SUB, tee(2), i32(0), GT_S, brIf(0),
    END, END,
  ];
  return { name: 'up2', params: 5, i32s: 0, v128s: 3, code };
}

// ISLOW constants (CONST_BITS 13), as in jpeg.mjs
const F0_298 = 2446, F0_390 = 3196, F0_541 = 4433, F0_765 = 6270, F0_899 = 7373, F1_175 = 9633, F1_501 = 12299,
  F1_847 = 15137, F1_961 = 16069, F2_053 = 16819, F2_562 = 20995, F3_072 = 25172;

/**
 * idctBlock(coefs, out, stride): 64 dequantised int32 coefficients (natural order) transformed by
 * jpeg_idct_islow's arithmetic into 8x8 bytes at out (rows `stride` apart), then zeroed. Four columns (pass 1) or
 * four rows (pass 2) per i32x4: exactly jpeg.mjs's idctIslow, the all-zero-AC shortcuts chosen per lane;
 * saturating narrows do the 0..255 clamp.
 * small: idctBlock4, the same for a block whose nonzero coefficients all lie in rows 0-3 and columns 0-3 (most
 * blocks of a photo): the columns 4-7 of pass 1 are zero, and both passes drop the terms of inputs 4-7, which are
 * zero (integer arithmetic: the same values as the whole transform).
 * @param {boolean} [small]
 */
function idctKernel(small = false) {
  // idctBlock: params 0 coefs, 1 out, 2 stride; v128 locals from 3
  let next = 3;
  const v = () => next++;
  const X = Array.from({ length: 8 }, v);
  const [Z1, Z2, Z3, Z4, Z5, T0, T1, T2, T3, A10, A11, A12, A13, MASK] = Array.from({ length: 14 }, v);
  const WS = Array.from({ length: 16 }, v); // row r, half h at WS[2r + h]
  const C = Array.from({ length: 8 }, v);
  const O = Array.from({ length: 8 }, v);
  const TT = Array.from({ length: 4 }, v);
  const g = get;
  const add = (/** @type {number[]} */ a, /** @type {number[]} */ b) => [a, b, simd(V.i32add)];
  const sub = (/** @type {number[]} */ a, /** @type {number[]} */ b) => [a, b, simd(V.i32sub)];
  const mul = (/** @type {number[]} */ a, /** @type {number} */ k) => [a, i32splat(k), simd(V.i32mul)];
  const shl = (/** @type {number[]} */ a, /** @type {number} */ n) => [a, i32(n), simd(171)];
  const shr = (/** @type {number[]} */ a, /** @type {number} */ n) => [a, i32(n), simd(V.i32shrs)];
  const or = (/** @type {number[]} */ a, /** @type {number[]} */ b) => [a, b, simd(80)];
  /**
   * One 1-D pass over the vectors in locals x[0..7]; result r goes to local out[r].
   * @param {number[]} x @param {number[]} out @param {number} round @param {number} shift @param {boolean} last
   */
  const pass = (x, out, round, shift, last) => {
    const code = [];
    if (small) {
      // x[4..7] are zero: the same sums without their terms
      code.push(or(or(g(x[1]), g(x[2])), g(x[3])), i32splat(0), simd(55), set(MASK));
      code.push(mul(g(x[2]), F0_541), set(T2));
      code.push(add(g(T2), mul(g(x[2]), F0_765)), set(T3));
      code.push(shl(g(x[0]), 13), set(T0));
      code.push(add(g(T0), g(T3)), set(A10), sub(g(T0), g(T3)), set(A13));
      code.push(add(g(T0), g(T2)), set(A11), sub(g(T0), g(T2)), set(A12));
      code.push(mul(add(g(x[3]), g(x[1])), F1_175), set(Z5));
      code.push(mul(g(x[1]), -F0_899), set(Z1), mul(g(x[3]), -F2_562), set(Z2));
      code.push(add(mul(g(x[3]), -F1_961), g(Z5)), set(Z3), add(mul(g(x[1]), -F0_390), g(Z5)), set(Z4));
      code.push(add(g(Z1), g(Z3)), set(T0));
      code.push(add(g(Z2), g(Z4)), set(T1));
      code.push(add(add(mul(g(x[3]), F3_072), g(Z2)), g(Z3)), set(T2));
      code.push(add(add(mul(g(x[1]), F1_501), g(Z1)), g(Z4)), set(T3));
    } else {
    // lanes whose 7 AC inputs are all zero take the shortcut value
    code.push(or(or(or(g(x[1]), g(x[2])), or(g(x[3]), g(x[4]))), or(or(g(x[5]), g(x[6])), g(x[7]))), i32splat(0), simd(55), set(MASK));
    code.push(mul(add(g(x[2]), g(x[6])), F0_541), set(Z1));
    code.push(sub(g(Z1), mul(g(x[6]), F1_847)), set(T2));
    code.push(add(g(Z1), mul(g(x[2]), F0_765)), set(T3));
    code.push(shl(add(g(x[0]), g(x[4])), 13), set(T0));
    code.push(shl(sub(g(x[0]), g(x[4])), 13), set(T1));
    code.push(add(g(T0), g(T3)), set(A10), sub(g(T0), g(T3)), set(A13));
    code.push(add(g(T1), g(T2)), set(A11), sub(g(T1), g(T2)), set(A12));
    code.push(add(g(x[7]), g(x[1])), set(Z1), add(g(x[5]), g(x[3])), set(Z2));
    code.push(add(g(x[7]), g(x[3])), set(Z3), add(g(x[5]), g(x[1])), set(Z4));
    code.push(mul(add(g(Z3), g(Z4)), F1_175), set(Z5));
    code.push(mul(g(Z1), -F0_899), set(Z1), mul(g(Z2), -F2_562), set(Z2));
    code.push(add(mul(g(Z3), -F1_961), g(Z5)), set(Z3), add(mul(g(Z4), -F0_390), g(Z5)), set(Z4));
    code.push(add(add(mul(g(x[7]), F0_298), g(Z1)), g(Z3)), set(T0));
    code.push(add(add(mul(g(x[5]), F2_053), g(Z2)), g(Z4)), set(T1));
    code.push(add(add(mul(g(x[3]), F3_072), g(Z2)), g(Z3)), set(T2));
    code.push(add(add(mul(g(x[1]), F1_501), g(Z1)), g(Z4)), set(T3));
    }
    const dc = last ? add(shr(add(g(x[0]), i32splat(16)), 5), i32splat(128)) : shl(g(x[0]), 2);
    const fin = (/** @type {number[]} */ e) => (last ? add(shr(add(e, i32splat(round)), shift), i32splat(128)) : shr(add(e, i32splat(round)), shift));
    const outs = [
      [0, add(g(A10), g(T3))], [7, sub(g(A10), g(T3))], [1, add(g(A11), g(T2))], [6, sub(g(A11), g(T2))],
      [2, add(g(A12), g(T1))], [5, sub(g(A12), g(T1))], [3, add(g(A13), g(T0))], [4, sub(g(A13), g(T0))],
    ];
    code.push(dc, set(Z5)); // the shortcut value (Z5 is free again)
    for (const [r, e] of outs) code.push(g(Z5), fin(/** @type {number[]} */ (e)), g(MASK), simd(82), set(out[/** @type {number} */ (r)]));
    return code;
  };
  /** 4x4 transpose of i32 lanes: rows a, b, c, d -> columns into out[0..3] */
  const transpose = (/** @type {number[]} */ rows, /** @type {number[]} */ out) => {
    const lanes = (/** @type {number[]} */ idx) => idx.flatMap((i) => [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]);
    const [a, b, c, d] = rows;
    return [
      g(a), g(b), shuffle(lanes([0, 4, 1, 5])), set(TT[0]),
      g(a), g(b), shuffle(lanes([2, 6, 3, 7])), set(TT[1]),
      g(c), g(d), shuffle(lanes([0, 4, 1, 5])), set(TT[2]),
      g(c), g(d), shuffle(lanes([2, 6, 3, 7])), set(TT[3]),
      g(TT[0]), g(TT[2]), shuffle(lanes([0, 1, 4, 5])), set(out[0]),
      g(TT[0]), g(TT[2]), shuffle(lanes([2, 3, 6, 7])), set(out[1]),
      g(TT[1]), g(TT[3]), shuffle(lanes([0, 1, 4, 5])), set(out[2]),
      g(TT[1]), g(TT[3]), shuffle(lanes([2, 3, 6, 7])), set(out[3]),
    ];
  };
  const body = [];
  // pass 1: columns 0-3 then 4-7, four at a time (small: columns 0-3 of rows 0-3; columns 4-7 come out zero)
  for (let h = 0; h < (small ? 1 : 2); h++) {
    for (let r = 0; r < (small ? 4 : 8); r++) body.push(g(0), vload(32 * r + 16 * h), set(X[r]));
    body.push(pass(X, WS.filter((_, i) => i % 2 === h), 1024, 11, false));
  }
  // the coefficients are consumed: zero them for the next block (small: the only ones that were not)
  for (let i = 0; i < 16; i++) if (!small || (i % 2 === 0 && i < 8)) body.push(g(0), 0xfd, 12, new Array(16).fill(0), vstore(16 * i));
  // pass 2: rows 0-3 then 4-7, four at a time (lanes = rows after the transposes; small: inputs 4-7 are zero)
  for (let grp = 0; grp < 2; grp++) {
    const rows = (/** @type {number} */ h) => [0, 1, 2, 3].map((i) => WS[2 * (4 * grp + i) + h]);
    body.push(transpose(rows(0), C.slice(0, 4)));
    if (!small) body.push(transpose(rows(1), C.slice(4, 8)));
    body.push(pass(C, O, 131072, 18, true));
    // O[k] lane i = output column k of row 4 grp + i: narrow (saturating: the clamp) and store row by row
    body.push(g(O[0]), g(O[1]), simd(V.i16narrows), g(O[2]), g(O[3]), simd(V.i16narrows), simd(V.i8narrowu), set(TT[0]));
    body.push(g(O[4]), g(O[5]), simd(V.i16narrows), g(O[6]), g(O[7]), simd(V.i16narrows), simd(V.i8narrowu), set(TT[1]));
    for (let pair = 0; pair < 2; pair++) {
      const r0 = 2 * pair, r1 = r0 + 1;
      const lanes = [0, 4, 8, 12, 16, 20, 24, 28].map((x) => x + r0).concat([0, 4, 8, 12, 16, 20, 24, 28].map((x) => x + r1));
      body.push(g(TT[0]), g(TT[1]), shuffle(lanes), set(TT[2]));
      for (const [r, lane] of [[r0, 0], [r1, 1]]) {
        // address: out + (4 grp + r) * stride
        body.push(g(1), g(2), i32(4 * grp + r), 0x6c, ADD, g(TT[2]), 0xfd, 91, 0, 0, lane);
      }
    }
  }
  return { name: small ? 'idctBlock4' : 'idctBlock', params: 3, i32s: 0, v128s: next - 3, code: body };
}
/** function indices of idctBlock and idctBlock4 in the module */
const IDCT_BLOCK = 4, IDCT_BLOCK4 = 12;

// ---- baseline entropy decoding ----

/** builders of the structured nodes that `flat` takes: named blocks, loops, ifs and branches to a name */
const NAMED = {
  If: (/** @type {any} */ cond, /** @type {any} */ body, /** @type {any} */ els) => [cond, { op: 'if', body, else: els }],
  block: (/** @type {string} */ label, /** @type {any} */ body) => ({ op: 'block', label, body }),
  loop: (/** @type {string} */ label, /** @type {any} */ body) => ({ op: 'loop', label, body }),
  br: (/** @type {string} */ label) => ({ op: 'br', label }),
  brIf: (/** @type {any} */ cond, /** @type {string} */ label) => [cond, { op: 'brIf', label }],
};

/**
 * Structured code with named branch targets: nested arrays of bytes, plus { op: 'block' | 'loop' | 'if' } nodes
 * (label, body, else) and { op: 'br' | 'brIf', label } branches, flattened with their relative depths.
 * @param {any} node @param {(string | null)[]} labels @param {number[]} out
 */
function flat(node, labels = [], out = []) {
  if (typeof node === 'number') out.push(node);
  else if (Array.isArray(node)) for (const n of node) flat(n, labels, out);
  else if (node.op === 'block' || node.op === 'loop' || node.op === 'if') {
    out.push(node.op === 'block' ? 0x02 : node.op === 'loop' ? 0x03 : 0x04, 0x40);
    labels.push(node.label ?? null);
    flat(node.body, labels, out);
    if (node.else) { out.push(0x05); flat(node.else, labels, out); }
    labels.pop();
    out.push(END);
  } else if (node.op === 'br' || node.op === 'brIf') {
    const at = labels.lastIndexOf(node.label);
    if (at < 0) throw new Error(`no label ${node.label}`);
    out.push(node.op === 'br' ? 0x0c : 0x0d, u(labels.length - 1 - at));
  } else throw new Error('bad node');
  return out;
}


/**
 * scan(dataBase, end, start, unitRows, unitsPerLine, nb, descs, restartInterval, coef, nat, state) -> status:
 * jpeg.mjs's decodeBaselineScan (same bit reader, refills, tables, error cases and offsets), each block's IDCT
 * done by idctBlock (a DC-only block filled directly). Status 0: done, state[0] = offset after the scan;
 * 1: bits taken past a marker or the end (state[0] = read offset, state[1] = at the end); 2: bad Huffman code
 * (state[0] = offset); 3: the data ends before restart marker state[2] (state[0] = offset); 4: another marker
 * than that one. Offsets relative to dataBase.
 */
function scanKernel() {
  const P = ['base', 'end', 'start', 'rows', 'cols', 'nb', 'descs', 'ri', 'coef', 'nat', 'state'];
  const Lc = ['pos', 'buf', 'cnt', 'fake', 'ff', 'atEnd', 'my', 'mx', 'b', 'd', 'k', 'w', 'f', 'l', 's', 't', 'v', 'z', 'q', 'tbl',
    'rsLeft', 'expect', 'diff', 'ac', 'x', 'nx', 'c16', 'len', 'code', 'un', 'p'];
  const idx = Object.fromEntries([...P, ...Lc].map((n, i) => [n, i]));
  const L = (/** @type {string} */ n) => get(idx[n]);
  const S = (/** @type {string} */ n, /** @type {any} */ e) => [e, set(idx[n])];
  const c = i32;
  const bin = (/** @type {number} */ op) => (/** @type {any} */ a, /** @type {any} */ b) => [a, b, op];
  const add = bin(0x6a), sub = bin(0x6b), mul = bin(0x6c), and = bin(0x71), or = bin(0x72), shl = bin(0x74), shrS = bin(0x75), shrU = bin(0x76);
  const eq = bin(0x46), ne = bin(0x47), ltS = bin(0x48), gtS = bin(0x4a), leS = bin(0x4c), geS = bin(0x4e);
  const eqz = (/** @type {any} */ a) => [a, 0x45];
  const ld32 = (/** @type {any} */ a, off = 0) => [a, 0x28, 2, u(off)];
  const ld16u = (/** @type {any} */ a, off = 0) => [a, 0x2f, 1, u(off)];
  const ld8u = (/** @type {any} */ a, off = 0) => [a, 0x2d, 0, u(off)];
  const st32 = (/** @type {any} */ a, /** @type {any} */ v, off = 0) => [a, v, 0x36, 2, u(off)];
  const sel = (/** @type {any} */ a, /** @type {any} */ b, /** @type {any} */ cond) => [a, b, cond, 0x1b];
  const { If, block, loop, br, brIf } = NAMED;
  const ret = (/** @type {any} */ e) => [e, 0x0f];
  const inc = (/** @type {string} */ n, /** @type {number} */ by) => S(n, add(L(n), c(by)));

  // next 0xFF byte at or after pos, or end
  const nextFF = [S('ff', L('pos')), block('nf', loop('nl', [brIf(geS(L('ff'), L('end')), 'nf'), brIf(eq(ld8u(L('ff')), c(0xff)), 'nf'), inc('ff', 1), br('nl')]))];
  // BitReader.fill's byte rules, until more than 24 bits are buffered
  const slowFill = [
    loop('sl', [
      If(geS(L('pos'), L('end')), [S('atEnd', c(1)), inc('fake', 8), S('x', c(0))], [
        S('x', ld8u(L('pos'))),
        If(eq(L('x'), c(0xff)), [
          S('nx', sel(ld8u(L('pos'), 1), c(-1), ltS(add(L('pos'), c(1)), L('end')))),
          If(eqz(L('nx')), [inc('pos', 2)], [S('x', c(0)), inc('fake', 8), If(ltS(L('nx'), c(0)), [S('atEnd', c(1))])]),
        ], [inc('pos', 1)]),
      ]),
      S('buf', or(shl(L('buf'), c(8)), L('x'))), inc('cnt', 8),
      brIf(leS(L('cnt'), c(24)), 'sl'),
    ]),
    nextFF,
  ];
  const fill = (/** @type {any} */ cond) => If(cond, [
    block('fd', loop('fl', [
      brIf(gtS(L('cnt'), c(24)), 'fd'), brIf(geS(L('pos'), L('ff')), 'fd'),
      S('buf', or(shl(L('buf'), c(8)), ld8u(L('pos')))), inc('pos', 1), inc('cnt', 8), br('fl'),
    ])),
    If(leS(L('cnt'), c(24)), slowFill),
  ]);
  const overrun = [st32(L('state'), sub(L('pos'), L('base'))), st32(L('state'), L('atEnd'), 4), ret(c(1))];
  // codes longer than the lookup: the 16 bits at the read position against maxcode (table at tbl) -> l
  const slowDecode = [
    If(ltS(L('cnt'), L('fake')), overrun),
    S('c16', and(shrU(L('buf'), sub(L('cnt'), c(16))), c(0xffff))),
    S('len', c(11)),
    block('sd', [
      loop('sdl', [
        S('code', shrU(L('c16'), sub(c(16), L('len')))),
        If(leS(L('code'), ld32(add(L('tbl'), shl(L('len'), c(2))), HUFF.maxcode)), [
          S('l', or(shl(L('len'), c(8)), ld8u(add(add(L('tbl'), sub(ld32(add(L('tbl'), shl(L('len'), c(2))), HUFF.valptr), ld32(add(L('tbl'), shl(L('len'), c(2))), HUFF.mincode))), L('code')), HUFF.values))),
          br('sd'),
        ]),
        inc('len', 1),
        brIf(leS(L('len'), c(16)), 'sdl'),
      ]),
      // bad code; a bit-by-bit reader would have refilled once more when exactly 16 bits were buffered
      S('p', L('pos')),
      If(leS(L('cnt'), c(16)), Array.from({ length: 4 }, () => If(ltS(L('p'), L('end')), [
        If(ne(ld8u(L('p')), c(0xff)), [inc('p', 1)], [If(and(ltS(add(L('p'), c(1)), L('end')), eqz(ld8u(L('p'), 1))), [inc('p', 2)])]),
      ]))),
      st32(L('state'), sub(L('p'), L('base'))), ret(c(2)),
    ]),
  ];
  // extend v (t raw bits) to its signed value
  const extend = (/** @type {string} */ t) => sel(sub(add(L('v'), c(1)), shl(c(1), L(t))), L('v'), ltS(L('v'), shl(c(1), sub(L(t), c(1)))));
  const align = [
    S('un', shrS(sub(L('cnt'), L('fake')), c(3))), S('p', L('pos')),
    block('ab', loop('al', [
      brIf(leS(L('un'), c(0)), 'ab'),
      inc('p', -1),
      If(and(eqz(ld8u(L('p'))), gtS(L('p'), L('base'))), [If(eq(ld8u(sub(L('p'), c(1))), c(0xff)), [inc('p', -1)])]),
      inc('un', -1), br('al'),
    ])),
  ];
  const window = and(shrU(L('buf'), sub(L('cnt'), c(10))), c(1023));
  const D = (/** @type {number} */ off) => ld32(L('d'), off);

  const blockCode = [
    S('d', add(L('descs'), mul(L('b'), c(DESC.size)))),
    S('q', D(DESC.q)),
    // DC
    fill(ltS(L('cnt'), c(16))),
    S('tbl', D(DESC.dc)),
    S('w', window),
    S('f', ld32(add(L('tbl'), shl(L('w'), c(2))), HUFF.fastDc)),
    If(L('f'), [S('cnt', sub(L('cnt'), and(L('f'), c(255)))), S('diff', shrS(L('f'), c(16)))], [
      S('l', ld16u(add(L('tbl'), shl(L('w'), c(1))), HUFF.lookup)),
      If(eqz(L('l')), slowDecode),
      S('cnt', sub(L('cnt'), shrU(L('l'), c(8)))),
      S('t', and(L('l'), c(255))),
      S('diff', c(0)),
      If(L('t'), [
        fill(ltS(L('cnt'), L('t'))),
        S('cnt', sub(L('cnt'), L('t'))),
        If(ltS(L('cnt'), L('fake')), overrun),
        S('v', and(shrU(L('buf'), L('cnt')), sub(shl(c(1), L('t')), c(1)))),
        S('diff', extend('t')),
      ]),
    ]),
    S('p', add(ld32(D(DESC.pred)), L('diff'))), st32(D(DESC.pred), L('p')),
    st32(L('coef'), mul(shrS(shl(L('p'), c(16)), c(16)), ld32(L('q')))),
    // AC
    S('tbl', D(DESC.ac)), S('ac', c(0)), S('k', c(1)),
    block('acd', loop('acl', [
      brIf(geS(L('k'), c(64)), 'acd'),
      fill(ltS(L('cnt'), c(16))),
      S('w', window),
      S('f', ld32(add(L('tbl'), shl(L('w'), c(2))), HUFF.fastAc)),
      If(L('f'), [
        S('cnt', sub(L('cnt'), and(L('f'), c(255)))),
        S('k', add(L('k'), and(shrU(L('f'), c(8)), c(15)))),
        S('z', shl(ld32(add(L('nat'), shl(L('k'), c(2)))), c(2))),
        st32(add(L('coef'), L('z')), mul(shrS(L('f'), c(16)), ld32(add(L('q'), L('z'))))),
        S('ac', or(L('ac'), or(L('z'), c(1)))), inc('k', 1), br('acl'),
      ]),
      S('l', ld16u(add(L('tbl'), shl(L('w'), c(1))), HUFF.lookup)),
      If(eqz(L('l')), slowDecode),
      S('cnt', sub(L('cnt'), shrU(L('l'), c(8)))),
      S('s', and(L('l'), c(15))),
      S('x', and(shrU(L('l'), c(4)), c(15))),
      If(eqz(L('s')), [If(eq(L('x'), c(15)), [inc('k', 16), br('acl')]), br('acd')]),
      S('k', add(L('k'), L('x'))),
      fill(ltS(L('cnt'), L('s'))),
      S('cnt', sub(L('cnt'), L('s'))),
      S('v', and(shrU(L('buf'), L('cnt')), sub(shl(c(1), L('s')), c(1)))),
      S('z', shl(ld32(add(L('nat'), shl(L('k'), c(2)))), c(2))),
      st32(add(L('coef'), L('z')), mul(extend('s'), ld32(add(L('q'), L('z'))))),
      S('ac', or(L('ac'), or(L('z'), c(1)))), inc('k', 1), br('acl'),
    ])),
    If(ltS(L('cnt'), L('fake')), overrun),
    // the block into its plane
    S('z', add(add(add(D(DESC.plane), mul(L('my'), D(DESC.rowStep))), mul(L('mx'), D(DESC.colStep))), D(DESC.off))),
    // ac: 0, or 1 | every AC coefficient's byte offset (4 z) or-ed: bits 0x10 and 0x80 clear when all lie in
    // columns 0-3 and rows 0-3 (idctBlock4)
    // a block whose address is outside (lo, hi) (rows its reader does not read) is not transformed: its
    // coefficients are only cleared
    If(and(gtS(L('z'), D(DESC.lo)), ltS(L('z'), D(DESC.hi))), [
      If(L('ac'), If(and(L('ac'), c(0x90)), [L('coef'), L('z'), D(DESC.stride), 0x10, u(IDCT_BLOCK)], [L('coef'), L('z'), D(DESC.stride), 0x10, u(IDCT_BLOCK4)]), [
        // DC only: every sample is clamp(((dcq << 2) + 16 >> 5) + 128)
        S('v', add(shrS(add(shl(ld32(L('coef')), c(2)), c(16)), c(5)), c(128))),
        S('v', sel(c(0), sel(c(255), L('v'), gtS(L('v'), c(255))), ltS(L('v'), c(0)))),
        st32(L('coef'), c(0)),
        S('s', D(DESC.stride)),
        Array.from({ length: 8 }, () => [L('z'), L('v'), simd(15), 0xfd, 91, 0, 0, 0, S('z', add(L('z'), L('s')))]),
      ]),
    ], Array.from({ length: 16 }, (_, i) => [L('coef'), 0xfd, 12, new Array(16).fill(0), vstore(16 * i)])),
  ];

  const body = [
    S('pos', L('start')), S('buf', c(0)), S('cnt', c(0)), S('fake', c(0)), S('atEnd', c(0)), nextFF,
    S('rsLeft', L('ri')), S('expect', c(0)),
    S('my', c(0)),
    block('yd', loop('yl', [
      brIf(geS(L('my'), L('rows')), 'yd'),
      S('mx', c(0)),
      block('xd', loop('xl', [
        brIf(geS(L('mx'), L('cols')), 'xd'),
        If(L('ri'), [
          If(eqz(L('rsLeft')), [
            align,
            If(geS(add(L('p'), c(1)), L('end')), [st32(L('state'), sub(L('p'), L('base'))), st32(L('state'), L('expect'), 8), ret(c(3))]),
            If(or(ne(ld8u(L('p')), c(0xff)), ne(ld8u(L('p'), 1), add(c(0xd0), L('expect')))), [st32(L('state'), sub(L('p'), L('base'))), st32(L('state'), L('expect'), 8), ret(c(4))]),
            S('pos', add(L('p'), c(2))), S('buf', c(0)), S('cnt', c(0)), S('fake', c(0)), S('atEnd', c(0)), nextFF,
            S('expect', and(add(L('expect'), c(1)), c(7))),
            S('rsLeft', L('ri')),
            // DC predictors back to 0
            S('b', c(0)),
            block('pd', loop('pl', [brIf(geS(L('b'), L('nb')), 'pd'), st32(ld32(add(L('descs'), mul(L('b'), c(DESC.size)))), c(0)), inc('b', 1), br('pl')])),
          ]),
          inc('rsLeft', -1),
        ]),
        S('b', c(0)),
        block('bd', loop('bl', [brIf(geS(L('b'), L('nb')), 'bd'), blockCode, inc('b', 1), br('bl')])),
        inc('mx', 1), br('xl'),
      ])),
      inc('my', 1), br('yl'),
    ])),
    align,
    st32(L('state'), sub(L('p'), L('base'))),
    c(0),
  ];
  return { name: 'scan', params: P.length, results: 1, i32s: Lc.length, v128s: 0, code: flat(body) };
}

/**
 * dequantIdct(coefs, q, plane, stride, bw, bh, bpl, tmp): the progressive decoder's last step for one component:
 * every block (bx < bw, by < bh) of int16 coefficients (64 per block, blocks in rows of bpl) times the int32
 * quantisation table q, through idctBlock into the plane (8 rows of `stride`); tmp: 256 bytes of scratch.
 */
function dequantIdctKernel() {
  const P = ['coefs', 'q', 'plane', 'stride', 'bw', 'bh', 'bpl', 'tmp'];
  const Li = ['bx', 'by', 'src', 'i'];
  const idx = Object.fromEntries([...P, ...Li].map((n, i) => [n, i]));
  const L = (/** @type {string} */ n) => get(idx[n]);
  const S = (/** @type {string} */ n, /** @type {any} */ e) => [e, set(idx[n])];
  const c = i32;
  const bin = (/** @type {number} */ op) => (/** @type {any} */ a, /** @type {any} */ b) => [a, b, op];
  const add = bin(0x6a), mul = bin(0x6c), geS = bin(0x4e), shl = bin(0x74);
  const { block, loop, br, brIf } = NAMED;
  const dequant = Array.from({ length: 8 }, (_, i) => [
    // 8 int16 coefficients -> two int32x4 times q
    L('tmp'), L('src'), vload(16 * i), simd(V.i32extlo16s), L('q'), vload(32 * i), simd(V.i32mul), vstore(32 * i),
    L('tmp'), L('src'), vload(16 * i), simd(V.i32exthi16s), L('q'), vload(32 * i + 16), simd(V.i32mul), vstore(32 * i + 16),
  ]);
  const body = [
    S('by', c(0)),
    block('yd', loop('yl', [
      brIf(geS(L('by'), L('bh')), 'yd'),
      S('bx', c(0)),
      block('xd', loop('xl', [
        brIf(geS(L('bx'), L('bw')), 'xd'),
        S('src', add(L('coefs'), shl(add(mul(L('by'), L('bpl')), L('bx')), c(7)))),
        dequant,
        L('tmp'), add(add(L('plane'), mul(mul(L('by'), c(8)), L('stride'))), shl(L('bx'), c(3))), L('stride'), 0x10, u(IDCT_BLOCK),
        S('bx', add(L('bx'), c(1))), br('xl'),
      ])),
      S('by', add(L('by'), c(1))), br('yl'),
    ])),
  ];
  void idx.i;
  return { name: 'dequantIdct', params: P.length, i32s: Li.length, v128s: 0, code: flat(body) };
}

// ---- PNG ----

/**
 * png(raw, out, rows, rowBytes, bpp, zero) -> -1, or the first row whose filter type is unknown: PNG's five row
 * filters undone pixel by pixel (bpp <= 8 bytes as int16 lanes; a = the pixel just made, b = the one above, c = the
 * one above-left), rows of `rowBytes` from `raw` (each after its filter byte) to `out` back to back; `zero` is a
 * zeroed row (the one above the first). Paeth's choice with compare masks, as png.mjs's branch-free JS.
 * bgr: the first and third byte of each 3-byte pixel are swapped on the way in (every operand is then in BGR order,
 * and the filters work per byte lane, so the output is the BGR image).
 * @param {boolean} bgr
 */
function pngKernel(bgr) {
  const P = ['raw', 'out', 'rows', 'rowBytes', 'bpp', 'zero'];
  const Li = ['y', 'i', 'ft', 'prev'];
  const Lv = ['a', 'b', 'c', 'x', 'pa', 'pb', 'pc', 'r', 'm255'];
  const idx = Object.fromEntries([...P, ...Li, ...Lv].map((n, i) => [n, i]));
  const L = (/** @type {string} */ n) => get(idx[n]);
  const S = (/** @type {string} */ n, /** @type {any} */ e) => [e, set(idx[n])];
  const c = i32;
  const bin = (/** @type {number} */ op) => (/** @type {any} */ a, /** @type {any} */ b) => [a, b, op];
  const add = bin(0x6a), sub = bin(0x6b), mul = bin(0x6c), eq = bin(0x46), ltS = bin(0x48), geS = bin(0x4e), gtS = bin(0x4a);
  const vbin = (/** @type {number} */ op) => (/** @type {any} */ a, /** @type {any} */ b) => [a, b, simd(op)];
  const vadd = vbin(V.i16add), vsub = vbin(V.i16sub), vand = vbin(78), leS16 = vbin(51);
  const abs16 = (/** @type {any} */ a) => [a, simd(128)];
  const { If, block, loop, br, brIf } = NAMED;
  const zeroV = [0xfd, 12, new Array(16).fill(0)];
  const swap = bgr ? [L('x'), L('x'), shuffle([4, 5, 2, 3, 0, 1, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])] : L('x');
  /** one row with predictor `pred` (an expression of a, b, c) */
  const rowLoop = (/** @type {any} */ pred) => [
    S('a', zeroV), S('c', zeroV), S('i', c(0)),
    block('pd', loop('pl', [
      brIf(geS(L('i'), L('rowBytes')), 'pd'),
      S('x', [add(L('raw'), L('i')), load8x8u()]),
      bgr ? S('x', swap) : [],
      S('b', [add(L('prev'), L('i')), load8x8u()]),
      S('r', vand(vadd(L('x'), pred), L('m255'))),
      add(L('out'), L('i')), L('r'), L('r'), simd(V.i8narrowu), 0xfd, 91, 0, 0, 0,
      S('a', L('r')), S('c', L('b')),
      S('i', add(L('i'), L('bpp'))), br('pl'),
    ])),
  ];
  const paeth = [
    S('pa', abs16(vsub(L('b'), L('c')))), S('pb', abs16(vsub(L('a'), L('c')))), S('pc', abs16(vsub(vadd(L('a'), L('b')), vadd(L('c'), L('c'))))),
    // a when pa <= pb and pa <= pc, else b when pb <= pc, else c
    L('a'), L('b'), L('c'), leS16(L('pb'), L('pc')), simd(82), vand(leS16(L('pa'), L('pb')), leS16(L('pa'), L('pc'))), simd(82),
  ];
  const body = [
    S('m255', i16splat(255)),
    S('prev', L('zero')), S('y', c(0)),
    block('yd', loop('yl', [
      brIf(geS(L('y'), L('rows')), 'yd'),
      S('ft', [L('raw'), 0x2d, 0, 0]),
      S('raw', add(L('raw'), c(1))),
      If(gtS(L('ft'), c(4)), [L('y'), 0x0f]),
      If(eq(L('ft'), c(0)), rowLoop(zeroV), [
        If(eq(L('ft'), c(1)), rowLoop(L('a')), [
          If(eq(L('ft'), c(2)), rowLoop(L('b')), [
            If(eq(L('ft'), c(3)), rowLoop([vadd(L('a'), L('b')), c(1), simd(141)]), rowLoop(paeth)),
          ]),
        ]),
      ]),
      S('prev', L('out')),
      S('out', add(L('out'), L('rowBytes'))), S('raw', add(L('raw'), L('rowBytes'))),
      S('y', add(L('y'), c(1))), br('yl'),
    ])),
    c(-1),
  ];
  void mul; void ltS;
  return { name: bgr ? 'pngBgr' : 'pngRgb', params: P.length, results: 1, i32s: Li.length, v128s: Lv.length, code: flat(body) };
}

// ---- OpenCV INTER_LINEAR on 3-channel uint8 (resize.mjs) ----

/**
 * cv2h(srcA, srcB, offs, wts, outA, outB, n): resize.mjs's horizontal pass of cv2 INTER_LINEAR on two source rows
 * of 3-channel pixels at once: for destination pixel i, with o = offs[i] (int32: the left source pixel's byte
 * offset in the row) and the int16 weights wts[i] = [a0, a1, a0, a1, a0, a1, 0, 0], out[3 i + k] =
 * src[o + k] a0 + src[o + 3 + k] a1 as int32, for k < 3 (the right pixel is read even at the last column, where
 * a1 is 0: 16 bytes from o must be readable). The two channels' bytes and their neighbours are paired by a
 * swizzle and summed by one i32x4.dot_i16x8_s; each pixel stores 16 bytes (the next overwrites the 4th lane).
 * A single row: srcB = srcA, outB = outA.
 */
function cv2hKernel() {
  const P = ['srcA', 'srcB', 'offs', 'wts', 'outA', 'outB', 'n'];
  const Li = ['o'];
  const Lv = ['mask', 'w'];
  const idx = Object.fromEntries([...P, ...Li, ...Lv].map((n, i) => [n, i]));
  const L = (/** @type {string} */ n) => get(idx[n]);
  const S = (/** @type {string} */ n, /** @type {any} */ e) => [e, set(idx[n])];
  const Z = 0x80;
  const row = (/** @type {string} */ src, /** @type {string} */ out) => [
    L(out), L(src), L('o'), ADD, vload(), L('mask'), simd(14), L('w'), simd(186), vstore(),
  ];
  const code = [
    BLOCK, L('n'), i32(1), LT_S, brIf(0),
    S('mask', [0xfd, 12, [0, Z, 3, Z, 1, Z, 4, Z, 2, Z, 5, Z, Z, Z, Z, Z]]),
    LOOP,
    S('o', [L('offs'), 0x28, 2, 0]),
    S('w', [L('wts'), vload()]),
    row('srcA', 'outA'), row('srcB', 'outB'),
    S('offs', [L('offs'), i32(4), ADD]), S('wts', [L('wts'), i32(16), ADD]),
    S('outA', [L('outA'), i32(12), ADD]), S('outB', [L('outB'), i32(12), ADD]),
    L('n'), i32(1), SUB, tee(idx.n), i32(0), GT_S, brIf(0),
    END, END,
  ];
  return { name: 'cv2h', params: P.length, i32s: Li.length, v128s: Lv.length, code: flat(code) };
}

/**
 * cv2v(rowA, rowB, out, n, b0, b1): resize.mjs's vertical pass of cv2 INTER_LINEAR on uint8, OpenCV's SIMD
 * rounding: out[x] = ((((A[x] >> 4) b0) >> 16) + (((B[x] >> 4) b1) >> 16) + 2) >> 2 over int32 rows A and B, in
 * groups of 16 values (reads and writes whole groups: the caller leaves room past the row; the values are
 * 0..255, so the saturating narrows never act).
 */
function cv2vKernel() {
  const P = ['a', 'b', 'out', 'n', 'b0', 'b1'];
  const Lv = ['B0', 'B1', 'TWO', 'q0', 'q1', 'q2'];
  const idx = Object.fromEntries([...P, ...Lv].map((n, i) => [n, i]));
  const L = (/** @type {string} */ n) => get(idx[n]);
  const S = (/** @type {string} */ n, /** @type {any} */ e) => [e, set(idx[n])];
  const term = (/** @type {string} */ r, /** @type {number} */ off, /** @type {string} */ w) => [L(r), vload(off), i32(4), simd(V.i32shrs), L(w), simd(V.i32mul), i32(16), simd(V.i32shrs)];
  const q = (/** @type {number} */ k) => [term('a', 16 * k, 'B0'), term('b', 16 * k, 'B1'), simd(V.i32add), L('TWO'), simd(V.i32add), i32(2), simd(V.i32shrs)];
  const code = [
    BLOCK, L('n'), i32(1), LT_S, brIf(0),
    S('B0', [L('b0'), simd(17)]), S('B1', [L('b1'), simd(17)]), S('TWO', i32splat(2)),
    LOOP,
    L('out'), q(0), q(1), simd(V.i16narrows), q(2), q(3), simd(V.i16narrows), simd(V.i8narrowu), vstore(),
    S('a', [L('a'), i32(64), ADD]), S('b', [L('b'), i32(64), ADD]), S('out', [L('out'), i32(16), ADD]),
    L('n'), i32(16), SUB, tee(idx.n), i32(0), GT_S, brIf(0),
    END, END,
  ];
  void idx.q0;
  return { name: 'cv2v', params: P.length, i32s: 0, v128s: Lv.length, code: flat(code) };
}

// ---- normalise + CHW through a table (ops.mjs) ----

/**
 * normChw(src, lut, out, n, i0, i2): ops.mjs's normalizeToChw for 3-channel uint8 pixels: plane k of the float32
 * output (n values, planes 4 n bytes apart) is table k (256 float32 at lut + 1024 k) of input channel i0, 1, i2
 * (k = 0, 1, 2): out[k n + p] = lut[256 k + src[3 p + ch]].
 */
function normChwKernel() {
  const P = ['src', 'lut', 'out', 'n', 'i0', 'i2'];
  const Li = ['plane', 'end'];
  const idx = Object.fromEntries([...P, ...Li].map((n, i) => [n, i]));
  const L = (/** @type {string} */ n) => get(idx[n]);
  const S = (/** @type {string} */ n, /** @type {any} */ e) => [e, set(idx[n])];
  const load8u = [0x2d, 0, 0], f32load = (/** @type {number} */ off) => [0x2a, 2, ...u(off)], f32store = [0x38, 2, 0];
  // table k's entry for the byte at src + ch: lut + 4 byte (+ 1024 k in the load's offset)
  const value = (/** @type {any} */ ch, /** @type {number} */ k) => [L('src'), ch, ADD, load8u, i32(2), SHL, L('lut'), ADD, f32load(1024 * k)];
  const code = [
    BLOCK, L('n'), i32(1), LT_S, brIf(0),
    S('plane', [L('n'), i32(2), SHL]),
    S('end', [L('out'), L('plane'), ADD]),
    LOOP,
    L('out'), value(L('i0'), 0), f32store,
    L('out'), L('plane'), ADD, value(i32(1), 1), f32store,
    L('out'), L('plane'), i32(1), SHL, ADD, value(L('i2'), 2), f32store,
    S('src', [L('src'), i32(3), ADD]),
    L('out'), i32(4), ADD, tee(idx.out), L('end'), LT_S, brIf(0),
    END, END,
  ];
  return { name: 'normChw', params: P.length, i32s: Li.length, v128s: 0, code: flat(code) };
}

/** The module's bytes, assembled on first use (tens of milliseconds, once per thread). */
export function kernelBytes() {
  return moduleBytes([yccKernel(false), yccKernel(true), colsumKernel(), up2Kernel(), idctKernel(), scanKernel(), pngKernel(false), pngKernel(true), dequantIdctKernel(), cv2hKernel(), cv2vKernel(), normChwKernel(), idctKernel(true)]);
}

// run directly: rewrite the embedded bytes in jpeg-wasm.mjs
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = fileURLToPath(new URL('./jpeg-wasm.mjs', import.meta.url));
  const text = readFileSync(target, 'utf8');
  const line = `const KERNELS = '${Buffer.from(kernelBytes()).toString('base64')}';`;
  if (!/^const KERNELS = '[^']*';$/m.test(text)) throw new Error(`no KERNELS line in ${target}`);
  writeFileSync(target, text.replace(/^const KERNELS = '[^']*';$/m, line));
  process.stdout.write(`${target}: ${kernelBytes().length} bytes of kernels embedded\n`);
}
