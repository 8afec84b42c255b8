/**
 * The server template's body reader: long number arrays are read straight from the bytes into
 * typed arrays; everything it gives must equal JSON.parse followed by the typed array conversion
 * (bit for bit, -0 and long mantissas included), and anything unusual must come out exactly as
 * JSON.parse has it.
 */
import { describe, expect, it } from 'vitest';
// the server template is plain JS that a recipient runs; its readers are exported for these tests
// @ts-expect-error no typings for the template
import { NumArray, endLease, parseJsonBody, settle, takeLease } from '../templates/server/numbers.mjs';
// @ts-expect-error no typings for the template
import { flatten, toTyped } from '../templates/server/tensors.mjs';

/** a deterministic generator, so a failure names a reproducible case */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** JSON number texts of every shape the grammar allows */
function numberTexts(count: number, seed: number): string[] {
  const r = rng(seed);
  const digits = (n: number) => Array.from({ length: n }, () => String(Math.floor(r() * 10))).join('');
  const int = (n: number) => (n <= 1 ? digits(1) : `${1 + Math.floor(r() * 9)}${digits(n - 1)}`);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const sign = r() < 0.4 ? '-' : '';
    const kind = r();
    let t: string;
    if (kind < 0.25) t = `${int(1 + Math.floor(r() * 3))}.${digits(1 + Math.floor(r() * 6))}`; // what clients send most
    else if (kind < 0.4) t = `${int(1 + Math.floor(r() * 17))}`; // integers, some past 2^53
    else if (kind < 0.55) t = `${int(1 + Math.floor(r() * 3))}.${digits(10 + Math.floor(r() * 20))}`; // long mantissas
    else if (kind < 0.7) t = `${int(1 + Math.floor(r() * 4))}${r() < 0.5 ? `.${digits(1 + Math.floor(r() * 8))}` : ''}${r() < 0.5 ? 'e' : 'E'}${['', '+', '-'][Math.floor(r() * 3)]}${Math.floor(r() * 40)}`;
    else if (kind < 0.8) t = `${int(1)}.${digits(1 + Math.floor(r() * 8))}e${r() < 0.5 ? '-' : ''}${Math.floor(r() * 308)}`; // far exponents, denormals, float32 overflow (double overflow: the next test)
    else if (kind < 0.9) t = String(Math.fround(r() * 2 ** (Math.floor(r() * 60) - 30))); // float32 values as JS prints them
    else t = String(r() * 10 ** (Math.floor(r() * 40) - 20)); // shortest doubles
    out.push(sign + t);
  }
  return out;
}

const EDGE = [
  '0', '-0', '0.0', '-0.0', '0e0', '-0e-5', '0.000', '1', '-1', '1.5', '0.1', '0.2', '0.3', '1e22', '1e23', '1e-22', '1e-23',
  '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993', '18014398509481985',
  '123456789012345678901234567890', '0.1000000000000000055511151231257827', '3.4028234663852886e38', '3.4028235677973366e38',
  '3.4028236e38', '1.4e-45', '7e-46', '7.1e-46', '1.1754943508222875e-38', '2.2250738585072014e-308', '4.9e-324', '2e-324',
  '1.7976931348623157e308', '5e-324', '123.456e2', '123.456E-2', '1E+2', '1e00005', '100000000000000000000000e-23',
  '0.16777217e8', '16777217', '16777216.5', '33554435', '2.5', '-2.5', '0.5e1', '4.35', '8.32e-7',
];

/** a body large enough for the byte reader (bodies under 4 KiB go to JSON.parse alone) */
const body = (json: unknown, pad = 4096) => Buffer.from(JSON.stringify({ pad: 'x'.repeat(pad), v: json }));
const bodyText = (valueText: string) => Buffer.from(`{"pad":"${'x'.repeat(4096)}","v":${valueText}}`);

/** the bits of a typed array, so -0 and every rounding are compared exactly */
const bits = (a: Float32Array | Float64Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4));

describe('server body reader', () => {
  it('reads every number as JSON.parse does, as doubles and after the float32 conversion', () => {
    const texts = [...EDGE, ...numberTexts(40000, 7)];
    for (let at = 0; at < texts.length; at += 997) {
      const part = texts.slice(at, at + 997);
      const raw = bodyText(`[${part.join(',')}]`);
      const got = parseJsonBody(raw).v;
      const want = JSON.parse(raw.toString()).v as number[];
      expect(got).toBeInstanceOf(NumArray);
      expect(got.dims).toEqual([want.length]);
      const f64 = flatten(got, 'v').data as Float64Array;
      for (let i = 0; i < want.length; i++) {
        if (!Object.is(f64[i], want[i])) expect(`${part[i]} -> ${f64[i]}`).toBe(`${part[i]} -> ${want[i]}`);
      }
      expect(bits(toTyped('float32', f64, 'v'))).toEqual(bits(Float32Array.from(want)));
      expect(bits(toTyped('float64', f64, 'v'))).toEqual(bits(Float64Array.from(want)));
    }
  });

  it('keeps blanks, nesting and shape as JSON.parse and flatten have them', () => {
    const r = rng(11);
    for (const shape of [[16], [2, 8], [1, 3, 4, 5], [4, 1, 1, 4], [2, 2, 2, 2, 2]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const flat = Array.from({ length: n }, () => Math.fround(r() * 2 - 1));
      const nest = (d: number, at: number): unknown => (d === shape.length - 1
        ? flat.slice(at, at + shape[d]!)
        : Array.from({ length: shape[d]! }, (_, i) => nest(d + 1, at + i * (n / shape.slice(0, d + 1).reduce((a, b) => a * b, 1)))));
      const value = nest(0, 0);
      const spaced = JSON.stringify(value, null, 2).replace(/,/g, ' ,\t\r\n');
      for (const raw of [body(value), bodyText(spaced)]) {
        const got = parseJsonBody(raw).v;
        expect(got).toBeInstanceOf(NumArray);
        const want = flatten(JSON.parse(raw.toString()).v, 'v');
        const mine = flatten(got, 'v');
        expect(mine.shape).toEqual(want.shape);
        expect(Array.from(mine.data as Float64Array)).toEqual(want.data);
        expect(settle(got)).toEqual(value);
      }
    }
  });

  it('gives what JSON.parse gives for anything unusual, and throws its message for bad JSON', () => {
    const n16 = Array.from({ length: 16 }, (_, i) => i / 4).join(',');
    const cases = [
      `[${n16},"7"]`, `[${n16},null]`, `[${n16},true]`, `[${n16},[1]]`, `[[${n16}],[${n16},1]]`, `[[${n16}],[1]]`,
      `[[${n16}],5]`, `[5,[${n16}]]`, `[[],[]]`, `[[${n16}],[]]`, `[${n16},1e400]`, `[${n16},-1e400]`, `[${n16},1e-400]`,
      `{"a":[${n16}],"b":[[${n16}],[${n16}]]}`, `"[${n16}]"`, `["[${n16}]",[${n16}]]`, `"\\"[${n16}]"`,
      `["\\u0000pserve-array:0",[${n16}]]`, `["\\u0000\\u0070serve-array:0",[${n16}]]`,
      `${'['.repeat(16)}${n16}${']'.repeat(16)}`, `${'['.repeat(17)}${n16}${']'.repeat(17)}`,
      `{"__proto__":[${n16}],"x":[${n16}]}`, `[${n16}]`,
    ];
    for (const c of cases) {
      const raw = bodyText(c);
      expect(settle(parseJsonBody(raw)), c).toEqual(JSON.parse(raw.toString()));
    }
    const bad = [`[${n16},]`, `[${n16},01]`, `[${n16},1.]`, `[${n16},.5]`, `[${n16},+1]`, `[${n16},1e]`, `[${n16},-]`, `[${n16}`,
      `[${n16}]]`, `{"a":[${n16}],}`, `[${n16},NaN]`, `[${n16},1 2]`, `{"a":[${n16}] "b":1}`];
    for (const c of bad) {
      const raw = bodyText(c);
      let want = '';
      try { JSON.parse(raw.toString()); } catch (e) { want = (e as Error).message; }
      expect(want, c).not.toBe('');
      expect(() => parseJsonBody(raw), c).toThrow(want);
    }
  });

  it('checks integer and bool tensors read from bytes exactly as from JSON values', () => {
    const values = [0, -0, 1, -1, 127, 128, -129, 255, 256, 65535, 2147483647, 2147483648, -2147483649, 4294967295, 4294967296,
      9007199254740991, 9007199254740992, 1.5, -2.25, 1e20, 3];
    for (const dtype of ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'float32']) {
      for (const v of values) {
        const list = [...Array.from({ length: 16 }, (_, i) => i % 2), v];
        const got = parseJsonBody(body(list)).v;
        expect(got).toBeInstanceOf(NumArray);
        const run = (data: unknown) => { try { return Array.from(toTyped(dtype, data, 'x') as ArrayLike<unknown>).map(String); } catch (e) { return (e as Error).message; } };
        expect(run(flatten(got, 'x').data), `${dtype} ${v}`).toEqual(run(list));
      }
    }
  });

  it('never lets a later body overwrite numbers that are still in use', () => {
    const list = (base: number, n = 40) => Array.from({ length: n }, (_, i) => base + i);
    const a = parseJsonBody(body(list(1000))).v;
    const b = parseJsonBody(body(list(2000, 100000))).v; // grows past the first buffer
    expect(Array.from(a.f64)).toEqual(list(1000));
    expect(Array.from(b.f64)).toEqual(list(2000, 100000));
    // two arrays in one body, copied out one after the other, a third body in between
    const two = parseJsonBody(Buffer.from(JSON.stringify({ pad: 'x'.repeat(4096), p: list(3000), q: [list(4000, 20), list(5000, 20)] })));
    expect(Array.from(toTyped('float32', flatten(two.p, 'p').data, 'p'))).toEqual(list(3000));
    two.p.done();
    const c = parseJsonBody(body(list(6000))).v;
    expect(flatten(two.q, 'q').shape).toEqual([2, 20]);
    expect(Array.from(two.q.f64)).toEqual([...list(4000, 20), ...list(5000, 20)]);
    expect(Array.from(c.f64)).toEqual(list(6000));
    two.q.done();
    c.done();
    const d = parseJsonBody(body(list(7000))).v;
    expect(d.f64.buffer).toBe(c.f64.buffer); // all copied out: the buffer is reused
    expect(Array.from(d.f64)).toEqual(list(7000));
  });

  it('ends a request\'s lease without freeing a buffer another body holds by then', () => {
    const list = (base: number) => Array.from({ length: 40 }, (_, i) => base + i);
    const a = parseJsonBody(body(list(100))).v;
    const leaseA = takeLease();
    a.done(); // copied out: the next body reads into the same buffer
    const b = parseJsonBody(body(list(200))).v;
    expect(b.f64.buffer).toBe(a.f64.buffer);
    endLease(leaseA); // request A ends after B took the buffer
    const c = parseJsonBody(body(list(300))).v;
    expect(c.f64.buffer).not.toBe(b.f64.buffer);
    expect(Array.from(b.f64)).toEqual(list(200));
    expect(Array.from(c.f64)).toEqual(list(300));
  });
});
