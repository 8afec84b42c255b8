/**
 * Test support for `pserve fetch`: a real HTTP server on 127.0.0.1 (random port) that serves
 * in-memory archives with ETag/Last-Modified, single Range requests and If-Range, and can drop a
 * connection half-way or trickle bytes slowly; a raw tar writer for entries the tar package would
 * refuse to create; and an async CLI runner (spawnSync would block this process's server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BIN } from './helpers.js';

export interface Route {
  body: Buffer;
  /** cut the connection after this many body bytes, on the next N full (non-Range) requests */
  dropAfter?: number;
  dropTimes?: number;
  /** send the body in pieces of this size, pausing between them */
  trickle?: { bytes: number; everyMs: number };
  /**
   * on a full (200) response, after this many body bytes slow down to 1 KiB every 200 ms: the
   * transfer then stays in flight for minutes, so a test can wait for what it needs to see (the
   * partial file on disk) however loaded the machine is, instead of guessing a delay
   */
  crawlAfter?: number;
  status?: number;
  contentType?: string;
}

export interface SeenRequest { method: string; path: string; range?: string; ifRange?: string }

export interface TestServer {
  base: string;
  routes: Map<string, Route>;
  seen: SeenRequest[];
  close(): Promise<void>;
}

function etagOf(b: Buffer): string {
  return `"${createHash('sha256').update(b).digest('hex').slice(0, 20)}"`;
}

export async function startServer(): Promise<TestServer> {
  const routes = new Map<string, Route>();
  const seen: SeenRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const range = req.headers['range'];
    const ifRange = req.headers['if-range'] as string | undefined;
    seen.push({ method: req.method ?? 'GET', path, ...(range ? { range } : {}), ...(ifRange ? { ifRange } : {}) });
    const route = routes.get(path);
    if (!route || route.status === 404) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found'); return; }
    if (route.status && route.status !== 200) { res.writeHead(route.status); res.end(); return; }
    const body = route.body;
    const etag = etagOf(body);
    const headers: Record<string, string> = {
      'content-type': route.contentType ?? 'application/x-tar',
      etag,
      'last-modified': new Date(Date.UTC(2022, 0, 1)).toUTCString(),
      'accept-ranges': 'bytes',
    };
    let start = 0;
    let status = 200;
    const m = typeof range === 'string' ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m && (!ifRange || ifRange === etag)) {
      start = Number(m[1]);
      if (start >= body.length) { res.writeHead(416, { 'content-range': `bytes */${body.length}` }); res.end(); return; }
      status = 206;
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const part = body.subarray(start);
    headers['content-length'] = String(part.length);
    res.writeHead(status, headers);
    if (status === 200 && route.dropAfter !== undefined && (route.dropTimes ?? 1) > 0) {
      route.dropTimes = (route.dropTimes ?? 1) - 1;
      res.write(part.subarray(0, route.dropAfter), () => setTimeout(() => req.socket.destroy(), 30));
      return;
    }
    if (route.trickle) {
      const { bytes, everyMs } = route.trickle;
      let off = 0;
      const crawl = status === 200 ? route.crawlAfter ?? Infinity : Infinity;
      const tick = () => {
        if (res.destroyed) return;
        const slow = off >= crawl;
        const next = part.subarray(off, off + (slow ? 1024 : Math.min(bytes, Math.max(crawl - off, 1))));
        off += next.length;
        if (off >= part.length) { res.end(next); return; }
        res.write(next);
        setTimeout(tick, off >= crawl ? 200 : everyMs);
      };
      tick();
      return;
    }
    res.end(part);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    routes,
    seen,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export interface RawTarEntry {
  path: string;
  /** '0' file, '2' symlink, '1' hard link, '3' char device, '5' dir, '6' fifo */
  type?: string;
  body?: Buffer;
  linkpath?: string;
  /** size written in the header (defaults to the body length) */
  claimSize?: number;
}

/** A ustar archive written byte by byte, for entries a well-behaved packer refuses to make. */
export function rawTar(entries: RawTarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    const body = e.body ?? Buffer.alloc(0);
    h.write(e.path, 0, 100, 'utf8');
    h.write('0000644\0', 100, 'latin1');
    h.write('0001750\0', 108, 'latin1');
    h.write('0001750\0', 116, 'latin1');
    h.write(`${(e.claimSize ?? body.length).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    h.write(`${Math.floor(Date.UTC(2022, 0, 1) / 1000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
    h.write(e.type ?? '0', 156, 'latin1');
    if (e.linkpath) h.write(e.linkpath, 157, 100, 'utf8');
    h.write('ustar\0', 257, 'latin1');
    h.write('00', 263, 'latin1');
    h.fill(' ', 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    blocks.push(h, body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** The real CLI as a child process, without blocking this process (whose server must answer). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): { child: ChildProcess; done: Promise<RunResult> } {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CI: '1', PSERVE_FETCH_BACKOFF_MS: '20' };
  // the tests talk to 127.0.0.1 only, never through a proxy
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'PSERVE_MIRROR']) delete e[k];
  for (const [k, v] of Object.entries(env)) { if (v === undefined) delete e[k]; else e[k] = v; }
  const child = spawn(process.execPath, [BIN, ...args], { env: e, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<RunResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, done };
}

export async function fetchJson<T = Record<string, any>>(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<{ code: number | null; json: T; stderr: string }> {
  const r = await runCli([...args, '--json'], env, cwd).done;
  try {
    return { code: r.code, json: JSON.parse(r.stdout) as T, stderr: r.stderr };
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr.slice(0, 1000)}`);
  }
}
