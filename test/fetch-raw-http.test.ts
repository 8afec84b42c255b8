/**
 * The direct plain-http reader: bytes exact under a slow consumer (the socket pauses and resumes),
 * a short body when the server closes early, and null (the caller falls back to undici) for the
 * responses it does not handle: chunked bodies and redirects. Real server on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawEligible, rawGet } from '../src/fetch/raw-http.js';

const body = randomBytes(3 * 1024 * 1024 + 12345);
let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/plain') { res.writeHead(200, { 'content-length': String(body.length), etag: '"x"' }); res.end(body); return; }
    if (req.url === '/chunked') { res.writeHead(200); res.write(body.subarray(0, 1000)); res.end(body.subarray(1000, 2000)); return; }
    if (req.url === '/moved') { res.writeHead(302, { location: '/plain', 'content-length': '0' }); res.end(); return; }
    if (req.url === '/short') {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.write(body.subarray(0, 100_000), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    res.writeHead(404, { 'content-length': '9' }); res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

async function collect(it: AsyncIterable<Buffer>, slow: boolean): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) { parts.push(c); if (slow) await sleep(5); }
  return Buffer.concat(parts);
}

describe('raw http reader', () => {
  it('yields the exact bytes in blocks, also when the consumer is slower than the socket', async () => {
    for (const slow of [false, true]) {
      const res = await rawGet(`${base}/plain`, { 'user-agent': 't' }, 256 * 1024);
      expect(res!.statusCode).toBe(200);
      expect(res!.headers['etag']).toBe('"x"');
      const got = await collect(res!.body, slow);
      expect(got.equals(body)).toBe(true);
    }
  });
  it('a connection closed early ends the body short', async () => {
    const res = await rawGet(`${base}/short`, {}, 1 << 20);
    const got = await collect(res!.body, false);
    expect(got.length).toBe(100_000);
    expect(got.equals(body.subarray(0, 100_000))).toBe(true);
  });
  it('a 404 comes back with its status', async () => {
    const res = await rawGet(`${base}/nope`, {}, 1 << 20);
    expect(res!.statusCode).toBe(404);
    await res!.body.dump();
  });
  it('leaves chunked bodies and redirects to the full client', async () => {
    expect(await rawGet(`${base}/chunked`, {}, 1 << 20)).toBeNull();
    expect(await rawGet(`${base}/moved`, {}, 1 << 20)).toBeNull();
  });
  it('is used only for plain http with no proxy variable', () => {
    expect(rawEligible('http://127.0.0.1:1/x', {})).toBe(true);
    expect(rawEligible('https://example.invalid/x', {})).toBe(false);
    expect(rawEligible('http://127.0.0.1:1/x', { HTTP_PROXY: 'http://p:3128' })).toBe(false);
    expect(rawEligible('http://u:p@127.0.0.1:1/x', {})).toBe(false);
  });
});
