/**
 * Fuzzing of the bundle server's wire decoders: protobuf bodies of the three services (Paddle
 * Serving's GeneralModelService and PipelineService, KServe's ModelInferRequest), the KServe
 * binary tensor header split, and compressed bodies (gzip bombs included). The rule is the suite's:
 * every input ends in a result or the decoder's own refusal (a ProtoError, or a RequestError with
 * an HTTP status and a reason) within a time bound; anything else is a crash. Then mutated bodies
 * on every new route of a running bundle: no 5xx, no dropped connection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { PserveError } from '../../src/errors.js';
import { MUTATORS, Rng, fuzz, postStatus, startTinyClassifierBundle, type FuzzStats } from './harness.js';
// the server template is plain JS that a recipient runs; its decoders are exported for these tests
// @ts-expect-error no typings for the template
import { ProtoError, decode, encode, loadSchema } from '../../templates/server/protobuf.mjs';
// @ts-expect-error no typings for the template
import { schema as GENERAL } from '../../templates/server/proto/general_model_service.gen.mjs';
// @ts-expect-error no typings for the template
import { schema as PIPELINE } from '../../templates/server/proto/pipeline_service.gen.mjs';
// @ts-expect-error no typings for the template
import { schema as KSERVE } from '../../templates/server/proto/grpc_predict_v2.gen.mjs';
// @ts-expect-error no typings for the template
import { splitBinaryBody } from '../../templates/server/kserve.mjs';
// @ts-expect-error no typings for the template
import { inflateCapped } from '../../templates/server/encoding.mjs';
// @ts-expect-error no typings for the template
import { RequestError } from '../../templates/server/tensors.mjs';
// @ts-expect-error no typings for the template
import { parseValueText } from '../../templates/server/serving-proto.mjs';

const totals: FuzzStats[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'pserve-fuzz-wire-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  // eslint-disable-next-line no-console
  console.log(`fuzz (server wire): ${totals.map((t) => `${t.name} ${t.runs} (ok ${t.ok}, refused ${Object.values(t.errors).reduce((a, b) => a + b, 0)}, slowest ${t.slowestMs.toFixed(1)} ms)`).join('; ')}`);
});

function report(s: FuzzStats): void {
  totals.push(s);
  expect(s.crashes, s.crashes.join('\n')).toEqual([]);
}

/** the decoders' own refusals, in the harness's terms (a coded error); anything else stays a crash */
function refusals<T>(fn: () => T): T {
  try { return fn(); } catch (e) {
    if (e instanceof ProtoError) throw new PserveError('E_PROTO_INVALID' as never, (e as Error).message);
    if (e instanceof RequestError) throw new PserveError(`E_HTTP_${(e as { status: number }).status}` as never, (e as Error).message);
    throw e;
  }
}

const X = [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332];
const general = loadSchema(GENERAL);
const pipeline = loadSchema(PIPELINE);
const kserve = loadSchema(KSERVE);
const G = 'baidu.paddle_serving.predictor.general_model.';
const P = 'baidu.paddle_serving.pipeline_serving.';
const generalSeed: Uint8Array = encode(general, `${G}Request`, {
  tensor: [{ float_data: Float32Array.from(X), elem_type: 1, shape: [1, 13], name: 'x', alias_name: 'x', lod: [0, 1] }, { int64_data: [1n, -2n, 2n ** 40n], elem_type: 0, shape: [3], name: 'ids', tensor_content: Buffer.from([1, 2, 3]) }],
  fetch_var_names: ['price'], log_id: 2 ** 40,
});
const pipelineSeed: Uint8Array = encode(pipeline, `${P}Request`, {
  key: ['x'], value: [X.join(', ')], name: 'uci', method: 'prediction', logid: -5, clientip: '127.0.0.1',
  tensors: [{ float_data: Float32Array.from(X), elem_type: 1, shape: [1, 13], name: 'x', byte_data: Buffer.from('abc'), str_data: ['s'] }],
});
const kserveSeed: Uint8Array = encode(kserve, 'inference.ModelInferRequest', {
  model_name: 'uci', model_version: '1', id: 'r', parameters: { binary_data_output: { bool_param: true }, n: { int64_param: -3 } },
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 13], parameters: { s: { string_param: 'v' } }, contents: { fp32_contents: Float32Array.from(X), int64_contents: [7], bytes_contents: [Buffer.from('b')] } }],
  outputs: [{ name: 'price' }],
  raw_input_contents: [Buffer.from(Float32Array.from(X).buffer)],
});

describe('fuzz: the bundle server\'s wire decoders', () => {
  it('seeds decode back to what was encoded (maps, packed floats, 64-bit integers, bytes)', () => {
    const g = decode(general, `${G}Request`, Buffer.from(generalSeed));
    expect(g.tensor[0].alias_name).toBe('x');
    expect(Array.from(g.tensor[0].float_data as Float32Array)).toEqual(Array.from(Float32Array.from(X)));
    expect(g.tensor[1].int64_data).toEqual([1, -2, 2 ** 40]);
    expect(g.log_id).toBe(2 ** 40);
    const k = decode(kserve, 'inference.ModelInferRequest', Buffer.from(kserveSeed));
    expect(k.parameters).toEqual({ binary_data_output: { bool_param: true }, n: { int64_param: -3 } });
    expect(k.inputs[0].shape).toEqual([1, 13]);
    expect(Buffer.from(k.raw_input_contents[0]).equals(Buffer.from(Float32Array.from(X).buffer))).toBe(true);
    expect(decode(pipeline, `${P}Request`, Buffer.from(pipelineSeed)).logid).toBe(-5);
    // and encoding what was decoded gives the same bytes
    expect(Buffer.from(encode(general, `${G}Request`, g)).equals(Buffer.from(generalSeed))).toBe(true);
    expect(Buffer.from(encode(kserve, 'inference.ModelInferRequest', k)).equals(Buffer.from(kserveSeed))).toBe(true);
  });

  it('protobuf bodies: 4000 mutations of each service\'s request', () => {
    report(fuzz('proto-general', [{ bytes: generalSeed }], (b) => refusals(() => decode(general, `${G}Request`, Buffer.from(b))), 4000, 41));
    report(fuzz('proto-pipeline', [{ bytes: pipelineSeed }], (b) => refusals(() => decode(pipeline, `${P}Request`, Buffer.from(b))), 4000, 42));
    report(fuzz('proto-kserve', [{ bytes: kserveSeed }], (b) => refusals(() => decode(kserve, 'inference.ModelInferRequest', Buffer.from(b))), 4000, 43));
  });

  it('protobuf: huge lengths and over-long varints are refused, not followed; unknown nesting is skipped', () => {
    // none of the three schemas is recursive: nested bytes under an unknown or string field are skipped whole
    let deep = Buffer.alloc(0);
    for (let i = 0; i < 200; i++) deep = Buffer.concat([Buffer.from([0x0a]), varint(deep.length), deep]);
    const skipped = decode(kserve, 'inference.ModelInferRequest', Buffer.concat([Buffer.from([0xfa, 0x01]), varint(deep.length), deep, Buffer.from([0x0a, 0x01, 0x6d])]));
    expect(skipped).toEqual({ model_name: 'm' });
    expect(() => decode(general, `${G}Request`, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/runs past the end/);
    expect(() => decode(general, `${G}Request`, Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(/varint/);
  });

  it('KServe binary header split: 3000 mutations of header length and body', () => {
    const head = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 13], datatype: 'FP32', parameters: { binary_data_size: 52 } }], outputs: [{ name: 'price', parameters: { binary_data: true } }] });
    const body = new Uint8Array([...new TextEncoder().encode(head), ...new Uint8Array(Float32Array.from(X).buffer)]);
    const lengths = [String(head.length), '0', '-1', '1e3', ' 12 ', String(2 ** 53), String(body.length + 1), 'abc', ''];
    const rng = new Rng(44);
    report(fuzz('kserve-binary', [{ bytes: body, boundaries: [head.length] }], (b) => refusals(() => splitBinaryBody(Buffer.from(b), rng.int(4) === 0 ? rng.pick(lengths) : String(head.length))), 3000, 45));
  });

  it('pipeline text values: 3000 mutations', () => {
    const seed = new TextEncoder().encode(`${X.join(', ')}; ${X.join(',')}`);
    report(fuzz('value-text', [{ bytes: seed }], (b) => refusals(() => parseValueText(new TextDecoder().decode(b), 'value')), 3000, 46));
  });

  it('compressed bodies: mutated gzip/deflate end in a body or a 400/413; a bomb stops near the cap', async () => {
    const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 13], datatype: 'FP32', data: X }] }));
    const seeds = [gzipSync(json), deflateSync(json)];
    const rng = new Rng(47);
    const names = Object.keys(MUTATORS);
    const s: FuzzStats = { name: 'inflate', runs: 0, ok: 0, errors: {}, crashes: [], slowestMs: 0 };
    for (let i = 0; i < 1500; i++) {
      const which = i % 2;
      let b: Uint8Array = seeds[which]!;
      for (let k = 0, n = 1 + rng.int(2); k < n; k++) b = MUTATORS[rng.pick(names)]!(b, rng, []);
      const t0 = performance.now();
      try { await inflateCapped(Buffer.from(b), which ? 'deflate' : 'gzip', 1 << 20); s.ok++; } catch (e) {
        if (e instanceof RequestError && [400, 413].includes((e as { status: number }).status)) s.errors[String((e as { status: number }).status)] = (s.errors[String((e as { status: number }).status)] ?? 0) + 1;
        else s.crashes.push(`inflate #${i}: ${(e as Error)?.message ?? e}`);
      }
      s.slowestMs = Math.max(s.slowestMs, performance.now() - t0);
      s.runs++;
    }
    report(s);
    // a gzip bomb: ~1 KB that inflates to 1 MiB, against a 64 KiB cap; inflating stops within one
    // 16 KiB step past the cap
    const bomb = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
    expect(bomb.length).toBeLessThan(1100);
    const stats: { inflated?: number } = {};
    await expect(inflateCapped(bomb, 'gzip', 65536, stats)).rejects.toMatchObject({ status: 413 });
    expect(stats.inflated!).toBeGreaterThan(65536);
    expect(stats.inflated!).toBeLessThanOrEqual(65536 + 16384);
    // a nested bomb (gzip of gzip) inflates one layer only: still capped
    const nested = gzipSync(gzipSync(Buffer.alloc(64 << 20)), { level: 9 });
    const st2: { inflated?: number } = {};
    await expect(inflateCapped(nested, 'gzip', 1 << 20, st2)).resolves.toBeInstanceOf(Buffer);
    expect(st2.inflated!).toBeLessThan(1 << 20);
    await expect(inflateCapped(json, 'br', 1 << 20)).rejects.toMatchObject({ status: 415 });
  });

  it('mutated bodies on the new routes of a running bundle: no 5xx, no dropped connection', async () => {
    const server = await startTinyClassifierBundle(tmp);
    try {
      const n = 3 * 32 * 32;
      const x = Float32Array.from({ length: n }, (_, i) => (i % 17) / 17);
      const gen = encode(general, `${G}Request`, { tensor: [{ float_data: x, elem_type: 1, shape: [1, 3, 32, 32], alias_name: 'x' }] });
      const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 32, 32], datatype: 'FP32', parameters: { binary_data_size: n * 4 } }], parameters: { binary_data_output: true } }));
      const seeds = [
        { path: '/GeneralModelService/inference', body: Buffer.from(gen), headers: { 'content-type': 'application/proto' } },
        { path: '/GeneralModelService/inference', body: gzipSync(gen), headers: { 'content-type': 'application/proto', 'content-encoding': 'gzip' } },
        { path: '/v2/models/cls/infer', body: Buffer.concat([head, Buffer.from(x.buffer)]), headers: { 'inference-header-content-length': String(head.length) } },
        { path: '/cls/anymethod', body: Buffer.from(JSON.stringify({ key: ['x'], value: [Array.from(x).join(',')] })), headers: {} },
      ];
      const rng = new Rng(48);
      const names = Object.keys(MUTATORS);
      const statuses: Record<number, number> = {};
      const s: FuzzStats = { name: 'http-wire', runs: 0, ok: 0, errors: {}, crashes: [], slowestMs: 0 };
      const url = new URL(server.url);
      const send = (path: string, body: Uint8Array, headers: Record<string, string>) => postStatus(url, path, body, headers);
      for (let i = 0; i < 800; i += 8) {
        const batch = Array.from({ length: 8 }, () => {
          const seed = rng.pick(seeds);
          let b: Uint8Array = seed.body;
          for (let k = 0, m = 1 + rng.int(2); k < m; k++) b = MUTATORS[rng.pick(names)]!(b, rng, []);
          return send(seed.path, b, seed.headers);
        });
        for (const code of await Promise.all(batch)) {
          statuses[code] = (statuses[code] ?? 0) + 1;
          if (code >= 500 || code === -1) s.crashes.push(`status ${code}`);
          else s.ok++;
          s.runs++;
        }
      }
      // eslint-disable-next-line no-console
      console.log(`http-wire statuses: ${JSON.stringify(statuses)}`);
      report(s);
      expect(await send(seeds[0]!.path, seeds[0]!.body, seeds[0]!.headers)).toBe(200);
      expect(await send(seeds[2]!.path, seeds[2]!.body, seeds[2]!.headers)).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 120_000);
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return Buffer.from(out);
}
