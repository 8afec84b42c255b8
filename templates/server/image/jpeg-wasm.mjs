// WebAssembly SIMD kernels for the JPEG decoder's last stage (chroma upsampling and YCbCr->RGB), assembled here
// from their opcodes (no toolchain): the same integer arithmetic as jpeg.mjs's JS paths, 16 pixels at a time.
// jpeg.mjs uses them when this runtime validates the module (WebAssembly SIMD: Node >= 16.4) and falls back to
// its JS loops otherwise; both give the same bytes.

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
 * @param {{ name: string, params: number, i32s: number, v128s: number, code: number[] }[]} funcs
 * @returns {Uint8Array}
 */
function moduleBytes(funcs) {
  const sec = (/** @type {number} */ id, /** @type {number[]} */ body) => [id, ...u(body.length), ...body];
  const vec = (/** @type {number[][]} */ items) => [...u(items.length), ...items.flat()];
  const str = (/** @type {string} */ t) => [...u(t.length), ...Array.from(t, (c) => c.charCodeAt(0))];
  const arities = [...new Set(funcs.map((f) => f.params))];
  const types = sec(1, vec(arities.map((n) => [0x60, ...u(n), ...new Array(n).fill(I32T), 0])));
  const fsec = sec(3, vec(funcs.map((f) => u(arities.indexOf(f.params)))));
  const mem = sec(5, vec([[0x00, 1]]));
  const exp = sec(7, vec([[...str('m'), 2, 0], ...funcs.map((f, i) => [...str(f.name), 0, ...u(i)])]));
  const code = sec(10, vec(funcs.map((f) => {
    const locals = [];
    if (f.i32s) locals.push([...u(f.i32s), I32T]);
    if (f.v128s) locals.push([...u(f.v128s), V128T]);
    const body = [...vec(locals), ...f.code, END];
    return [...u(body.length), ...body];
  })));
  return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...types, ...fsec, ...mem, ...exp, ...code]);
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
    const ext = (/** @type {number} */ v) => [...get(v), ...simd(q < 2 ? V.i16extlo8u : V.i16exthi8u), ...simd(q % 2 === 0 ? V.i32extlo16s : V.i32exthi16s)];
    const centred = (/** @type {number} */ v) => [...ext(v), ...i32splat(128), ...simd(V.i32sub)];
    const code = [...ext(Y)];
    if (ch === 'r') code.push(...centred(CR), ...i32splat(91881), ...simd(V.i32mul), ...i32splat(32768), ...simd(V.i32add));
    else if (ch === 'b') code.push(...centred(CB), ...i32splat(116130), ...simd(V.i32mul), ...i32splat(32768), ...simd(V.i32add));
    else code.push(...centred(CB), ...i32splat(-22554), ...simd(V.i32mul), ...centred(CR), ...i32splat(-46802), ...simd(V.i32mul), ...simd(V.i32add), ...i32splat(32768), ...simd(V.i32add));
    code.push(...i32(16), ...simd(V.i32shrs), ...simd(V.i32add));
    return code;
  };
  /** 16 lanes of one channel, saturated to u8 */
  const channel = (/** @type {'r'|'g'|'b'} */ ch) => [
    ...quarter(0, ch), ...quarter(1, ch), ...simd(V.i16narrows),
    ...quarter(2, ch), ...quarter(3, ch), ...simd(V.i16narrows),
    ...simd(V.i8narrowu),
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
    stores.push(...get(3), ...get(first), ...get(G), ...shuffle(a), ...get(last), ...shuffle(b), ...vstore(16 * m));
  }
  const code = [
    ...BLOCK, ...get(4), ...i32(1), LT_S, ...brIf(0),
    ...LOOP,
    ...get(0), ...vload(), ...set(Y), ...get(1), ...vload(), ...set(CB), ...get(2), ...vload(), ...set(CR),
    ...channel('r'), ...set(R), ...channel('g'), ...set(G), ...channel('b'), ...set(B),
    ...stores,
    ...get(0), ...i32(16), ADD, ...set(0), ...get(1), ...i32(16), ADD, ...set(1), ...get(2), ...i32(16), ADD, ...set(2),
    ...get(3), ...i32(48), ADD, ...set(3),
    ...get(4), ...i32(16), SUB, ...tee(4), ...i32(0), GT_S, ...brIf(0),
    END, END,
  ];
  return { name: bgr ? 'yccBgr' : 'yccRgb', params: 5, i32s: 1, v128s: 10, code };
}

/**
 * colsum(near, far, dst, n): dst[j] = 3 near[j] + far[j] as int16, n samples (groups of 8).
 */
function colsumKernel() {
  const code = [
    ...BLOCK, ...get(3), ...i32(1), LT_S, ...brIf(0),
    ...LOOP,
    ...get(2),
    ...get(0), ...load8x8u(), ...i16splat(3), ...simd(V.i16mul), ...get(1), ...load8x8u(), ...simd(V.i16add),
    ...vstore(),
    ...get(0), ...i32(8), ADD, ...set(0), ...get(1), ...i32(8), ADD, ...set(1), ...get(2), ...i32(16), ADD, ...set(2),
    ...get(3), ...i32(8), SUB, ...tee(3), ...i32(0), GT_S, ...brIf(0),
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
    ...BLOCK, ...get(2), ...i32(1), LT_S, ...brIf(0),
    // edge padding (memarg offsets are unsigned: the addresses are computed)
    ...get(0), ...i32(2), SUB, ...get(0), ...load16s(), ...store16(),
    ...get(0), ...get(2), ...i32(1), SHL, ADD, ...get(0), ...get(2), ...i32(1), SHL, ADD, ...i32(2), SUB, ...load16s(), ...store16(),
    ...get(3), ...simd(16), ...set(6), ...get(4), ...simd(16), ...set(7),
    ...LOOP,
    ...get(1),
    ...get(0), ...vload(), ...tee(5), ...i16splat(3), ...simd(V.i16mul), ...get(0), ...i32(2), SUB, ...vload(), ...simd(V.i16add), ...get(6), ...simd(V.i16add), ...i32(4), ...simd(V.i16shrs),
    ...get(5), ...i16splat(3), ...simd(V.i16mul), ...get(0), ...vload(2), ...simd(V.i16add), ...get(7), ...simd(V.i16add), ...i32(4), ...simd(V.i16shrs),
    ...simd(V.i8narrowu),
    ...get(5), // any second operand: only lanes of the first are picked
    ...shuffle([0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15]),
    ...vstore(),
    ...get(0), ...i32(16), ADD, ...set(0), ...get(1), ...i32(16), ADD, ...set(1),
    ...get(2), ...i32(8), SUB, ...tee(2), ...i32(0), GT_S, ...brIf(0),
    END, END,
  ];
  return { name: 'up2', params: 5, i32s: 0, v128s: 3, code };
}

const BYTES = moduleBytes([yccKernel(false), yccKernel(true), colsumKernel(), up2Kernel()]);

/** @type {WebAssembly.Module | null | undefined} */
let compiled;
/** @type {{ exports: any, memory: WebAssembly.Memory } | null} */
let cached = null;
/** Instances whose memory grew past this are used once and dropped, so one huge image does not pin its memory. */
const KEEP_BYTES = 48 << 20;

/** The compiled module, or null when this runtime lacks WebAssembly SIMD. */
function wasmModule() {
  if (compiled === undefined) {
    try {
      compiled = typeof WebAssembly === 'object' && WebAssembly.validate(BYTES) ? new WebAssembly.Module(BYTES) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * Kernels with at least `bytes` of zeroed-on-request linear memory, or null without WebAssembly SIMD.
 * @param {number} bytes
 * @returns {{ exports: any, memory: WebAssembly.Memory } | null}
 */
export function jpegKernels(bytes) {
  const mod = wasmModule();
  if (!mod) return null;
  const need = Math.ceil(bytes / 65536);
  if (cached && cached.memory.buffer.byteLength >= need * 65536) return cached;
  if (need * 65536 > KEEP_BYTES) {
    const inst = new WebAssembly.Instance(mod, {});
    const memory = /** @type {WebAssembly.Memory} */ (inst.exports.m);
    memory.grow(need - memory.buffer.byteLength / 65536);
    return { exports: inst.exports, memory };
  }
  if (!cached) {
    const inst = new WebAssembly.Instance(mod, {});
    cached = { exports: inst.exports, memory: /** @type {WebAssembly.Memory} */ (inst.exports.m) };
  }
  cached.memory.grow(need - cached.memory.buffer.byteLength / 65536);
  return cached;
}
