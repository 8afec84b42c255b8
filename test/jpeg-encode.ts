/** Test helpers: a small baseline JPEG encoder (moved from test/image-jpeg-kernels.test.ts, shared with test/pipeline-partial-decode.test.ts). */

/**
 * A small baseline JPEG encoder for layouts no fixture or library encoder here makes (4:4:0, 4:1:1, mixed
 * factors, a non-full-resolution first component, non-interleaved scans, restart intervals): naive float DCT,
 * one flat quantisation table, canonical Huffman tables with fixed-length codes (4-bit DC sizes, 8-bit AC
 * symbols), 0xFF stuffing. Any valid JPEG serves: what is checked is that decoders agree on it.
 */
export function encodeJpeg(width: number, height: number, comps: { id: number; h: number; v: number }[], sample: (c: number, x: number, y: number) => number, opts: { interleaved?: boolean; restart?: number; adobe?: number; q?: number } = {}): Uint8Array {
  const maxH = Math.max(...comps.map((c) => c.h)), maxV = Math.max(...comps.map((c) => c.v));
  const mcusX = Math.ceil(width / (8 * maxH)), mcusY = Math.ceil(height / (8 * maxV));
  const q = opts.q ?? 3;
  const bytes: number[] = [0xff, 0xd8];
  const seg = (m: number, body: number[]) => bytes.push(0xff, m, (body.length + 2) >> 8, (body.length + 2) & 255, ...body);
  if (opts.adobe !== undefined) seg(0xee, [0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, opts.adobe]);
  seg(0xdb, [0, ...new Array(64).fill(q)]);
  seg(0xc0, [8, height >> 8, height & 255, width >> 8, width & 255, comps.length, ...comps.flatMap((c) => [c.id, (c.h << 4) | c.v, 0])]);
  const acSyms = [0x00, 0xf0];
  for (let r = 0; r < 16; r++) for (let sz = 1; sz <= 10; sz++) acSyms.push((r << 4) | sz);
  const counts = (len: number, n: number) => Array.from({ length: 16 }, (_, i) => (i === len - 1 ? n : 0));
  seg(0xc4, [0x00, ...counts(4, 12), ...Array.from({ length: 12 }, (_, i) => i)]);
  seg(0xc4, [0x10, ...counts(8, acSyms.length), ...acSyms]);
  if (opts.restart) seg(0xdd, [opts.restart >> 8, opts.restart & 255]);
  const acCode = new Map(acSyms.map((sym, i) => [sym, i]));
  // quantised blocks of component ci at block (bx, by), edges replicated
  const cw = comps.map((c) => Math.ceil((width * c.h) / maxH)), chh = comps.map((c) => Math.ceil((height * c.v) / maxV));
  const zz = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63];
  const block = (ci: number, bx: number, by: number) => {
    const f = new Float64Array(64);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) f[y * 8 + x] = sample(ci, Math.min(bx * 8 + x, cw[ci]! - 1), Math.min(by * 8 + y, chh[ci]! - 1)) - 128;
    const out = new Int32Array(64);
    for (let v = 0; v < 8; v++) for (let u2 = 0; u2 < 8; u2++) {
      let sum = 0;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) sum += f[y * 8 + x]! * Math.cos(((2 * x + 1) * u2 * Math.PI) / 16) * Math.cos(((2 * y + 1) * v * Math.PI) / 16);
      const cu = u2 ? 1 : Math.SQRT1_2, cv = v ? 1 : Math.SQRT1_2;
      out[v * 8 + u2] = Math.round((0.25 * cu * cv * sum) / q);
    }
    return out;
  };
  let acc = 0, nbits = 0;
  const put = (code: number, len: number) => {
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >> i) & 1);
      if (++nbits === 8) { bytes.push(acc); if (acc === 0xff) bytes.push(0); acc = 0; nbits = 0; }
    }
  };
  const flush = () => { while (nbits) put(1, 1); };
  const size = (v: number) => (v === 0 ? 0 : 32 - Math.clz32(Math.abs(v)));
  const value = (v: number, sz: number) => put(v >= 0 ? v : v + (1 << sz) - 1, sz);
  const scan = (ids: number[]) => {
    seg(0xda, [ids.length, ...ids.flatMap((ci) => [comps[ci]!.id, 0x00]), 0, 63, 0]);
    const single = ids.length === 1;
    const preds = ids.map(() => 0);
    const unitsX = single ? Math.ceil(cw[ids[0]!]! / 8) : mcusX, unitsY = single ? Math.ceil(chh[ids[0]!]! / 8) : mcusY;
    let n = 0, rst = 0;
    for (let my = 0; my < unitsY; my++) for (let mx = 0; mx < unitsX; mx++) {
      if (opts.restart && n > 0 && n % opts.restart === 0) { flush(); bytes.push(0xff, 0xd0 + rst); rst = (rst + 1) & 7; preds.fill(0); }
      n++;
      ids.forEach((ci, k) => {
        const c = comps[ci]!;
        const bh = single ? 1 : c.h, bv = single ? 1 : c.v;
        for (let v = 0; v < bv; v++) for (let h = 0; h < bh; h++) {
          const b = block(ci, mx * bh + h, my * bv + v);
          const diff = b[0]! - preds[k]!;
          preds[k] = b[0]!;
          put(size(diff), 4); value(diff, size(diff));
          let run = 0;
          for (let i = 1; i < 64; i++) {
            const a = b[zz[i]!]!;
            if (a === 0) { run++; continue; }
            while (run > 15) { put(acCode.get(0xf0)!, 8); run -= 16; }
            put(acCode.get((run << 4) | size(a))!, 8); value(a, size(a));
            run = 0;
          }
          if (run) put(acCode.get(0)!, 8);
        }
      });
    }
    flush();
  };
  if (opts.interleaved === false) comps.forEach((_, ci) => scan([ci]));
  else scan(comps.map((_, ci) => ci));
  bytes.push(0xff, 0xd9);
  return Uint8Array.from(bytes);
}

/** smooth colour ramps and rings with some texture: chroma that upsampling filters visibly */
export const picture = (c: number, x: number, y: number) => {
  const r = Math.hypot(x - 20, y - 14);
  const base = c === 0 ? 128 + 90 * Math.sin(r / 3) : c === 1 ? 128 + 60 * Math.cos(x / 5) : c === 2 ? 128 + 70 * Math.sin((x + y) / 7) : 40 + 3 * x;
  return Math.max(0, Math.min(255, Math.round(base + (((x * 13 + y * 7 + c * 5) % 9) - 4))));
};

