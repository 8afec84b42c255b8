/**
 * Deterministic mutation fuzzing. Each decoder is fed mutations of real seeds: bit flips,
 * truncation at every structural boundary we can name, inserted and deleted bytes, huge varints
 * and lengths (2^31, 2^63), negative numbers, and repeats. Every input must end in a result or a
 * PserveError with a code, within a time bound. Anything else is a crash: the input is written to
 * test/fuzz/crashes/ so it can become a named regression test.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { expect } from 'vitest';
import { buildBundle } from '../../src/bundle/build-bundle.js';
import { startBundleServer } from '../../src/bundle/smoke.js';
import { PserveError } from '../../src/errors.js';
import { ROOT, cli } from '../helpers.js';

export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0 || 1; }
  next(): number {
    // xorshift32
    let x = this.s;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.s = x;
    return x;
  }
  int(n: number): number { return this.next() % Math.max(1, n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
}

const HUGE_VARINTS = [
  [0x80, 0x80, 0x80, 0x80, 0x08], // 2^31
  [0xff, 0xff, 0xff, 0xff, 0x0f], // 2^32-1
  [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // 2^63
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // -1 as int64
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 11 bytes: over-long
];
const HUGE_LE = [2 ** 31, 2 ** 32 - 1, 2 ** 53, -1];

export type Mutator = (b: Uint8Array, rng: Rng, boundaries: number[]) => Uint8Array;

export const MUTATORS: Record<string, Mutator> = {
  bitflip: (b, rng) => { const o = Uint8Array.from(b); if (o.length) { const i = rng.int(o.length); o[i] = o[i]! ^ (1 << rng.int(8)); } return o; },
  byteset: (b, rng) => { const o = Uint8Array.from(b); if (o.length) o[rng.int(o.length)] = rng.pick([0, 0xff, 0x7f, 0x80, 0x0a, 0x12]); return o; },
  truncate: (b, rng, bounds) => b.subarray(0, bounds.length && rng.int(2) ? rng.pick(bounds) : rng.int(b.length + 1)),
  insert: (b, rng) => { const i = rng.int(b.length + 1); const n = 1 + rng.int(8); const ins = Uint8Array.from({ length: n }, () => rng.int(256)); return concat(b.subarray(0, i), ins, b.subarray(i)); },
  delete: (b, rng) => { const i = rng.int(b.length + 1); const n = 1 + rng.int(16); return concat(b.subarray(0, i), b.subarray(Math.min(b.length, i + n))); },
  hugeVarint: (b, rng, bounds) => { const i = bounds.length && rng.int(2) ? rng.pick(bounds) : rng.int(b.length + 1); const v = Uint8Array.from(rng.pick(HUGE_VARINTS)); return concat(b.subarray(0, i), v, b.subarray(Math.min(b.length, i + 1 + rng.int(4)))); },
  hugeLE: (b, rng, bounds) => {
    const o = Uint8Array.from(b);
    if (o.length < 8) return o;
    const i = bounds.length && rng.int(2) ? Math.min(o.length - 8, rng.pick(bounds)) : rng.int(o.length - 7);
    const v = new DataView(o.buffer);
    const h = rng.pick(HUGE_LE);
    if (rng.int(2)) v.setUint32(i, h >>> 0, true); else v.setBigInt64(i, BigInt(h), true);
    return o;
  },
  duplicate: (b, rng) => { if (b.length < 2) return b; const i = rng.int(b.length); const n = 1 + rng.int(Math.min(64, b.length - i)); return concat(b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n)); },
};

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export interface FuzzStats { name: string; runs: number; ok: number; errors: Record<string, number>; crashes: string[]; slowestMs: number }

/**
 * Run `count` mutated inputs through `decode`. `boundaries` names offsets where structure changes
 * (record starts, field starts) so truncation and huge-length mutations hit them.
 */
export function fuzz(name: string, seeds: { bytes: Uint8Array; boundaries?: number[] }[], decode: (b: Uint8Array) => unknown, count: number, seed = 1, maxMs = 2000): FuzzStats {
  const rng = new Rng(seed);
  const names = Object.keys(MUTATORS);
  const stats: FuzzStats = { name, runs: 0, ok: 0, errors: {}, crashes: [], slowestMs: 0 };
  for (let i = 0; i < count; i++) {
    const s = seeds[i % seeds.length]!;
    let input = s.bytes;
    const rounds = 1 + rng.int(3);
    for (let k = 0; k < rounds; k++) input = MUTATORS[rng.pick(names)]!(input, rng, s.boundaries ?? []);
    const t0 = performance.now();
    try {
      decode(input);
      stats.ok++;
    } catch (e) {
      if (e instanceof PserveError && /^E_[A-Z0-9_]+$/.test(e.code)) stats.errors[e.code] = (stats.errors[e.code] ?? 0) + 1;
      else stats.crashes.push(record(name, i, input, e));
    }
    const ms = performance.now() - t0;
    if (ms > stats.slowestMs) stats.slowestMs = ms;
    if (ms > maxMs) stats.crashes.push(record(name, i, input, new Error(`took ${ms.toFixed(0)} ms (bound ${maxMs} ms)`)));
    stats.runs++;
  }
  return stats;
}

function record(name: string, i: number, input: Uint8Array, e: unknown): string {
  const dir = join(import.meta.dirname, 'crashes');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name.replace(/\W+/g, '_')}-${i}.bin`);
  writeFileSync(file, input);
  return `${name} #${i}: ${(e as Error)?.constructor?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)} (input saved to ${file})`;
}

/** A running total printed at the end of the fuzz suite. */
export const TOTALS: FuzzStats[] = [];

/**
 * POST `body` to `path` on the server at `base` (its URL); resolves to the HTTP status, or -1 when
 * the connection fails (a fuzzed request may well be dropped).
 */
export function postStatus(base: URL, path: string, body: Uint8Array, headers: Record<string, string>): Promise<number> {
  return new Promise<number>((resolve) => {
    const req = request({ host: base.hostname, port: base.port, path, method: 'POST', headers: { ...headers, 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(-1));
    });
    req.on('error', () => resolve(-1));
    req.end(Buffer.from(body));
  });
}

/** fixtures/tiny_classifier converted and bundled (as "cls") under `tmp`, its bundle server started */
export async function startTinyClassifierBundle(tmp: string): ReturnType<typeof startBundleServer> {
  const model = join(ROOT, 'fixtures', 'tiny_classifier');
  const conv = join(tmp, 'conv');
  const r = cli(['convert', '--dirname', model, '--serving_server', join(conv, 'srv'), '--serving_client', join(conv, 'cli')]);
  expect(r.code, r.stderr).toBe(0);
  const out = join(tmp, 'bundle');
  await buildBundle({ servingServer: join(conv, 'srv'), servingClient: join(conv, 'cli'), out, name: 'cls' });
  return startBundleServer(out, []);
}
