/**
 * One archive over HTTP, resumable: bytes go to `<cache>.partial` and, in the same pass, through a
 * sha256 and into a consumer (the streaming unpacker). An interrupted transfer continues with a
 * Range request, but only when the server's validators (ETag, else Last-Modified, and the total
 * length) still match what the partial file was started with; otherwise it starts over. Every
 * attempt re-feeds the consumer from byte 0 (the partial prefix is read back from disk), so the
 * consumer never sees a gap and the digest always covers the whole archive.
 */
import { createReadStream, existsSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { PserveError, fsError } from '../errors.js';
import { readPartialMeta, writeJsonAtomic, type CachePaths, type PartialMeta } from './cache.js';
import { sha256Stream, type Sha256Stream } from './sha256.js';
import { undici } from './undici-lite.js';
import { rawEligible, rawGet } from './raw-http.js';

/** Takes the archive's bytes in order, from byte 0; a fresh one is made for each attempt. */
export interface ByteConsumer<T> {
  write(chunk: Buffer): Promise<void>;
  finish(): Promise<T>;
  abort(): void;
}

export interface DownloadOptions<T> {
  /** what to GET (the mirror already applied) */
  url: string;
  paths: CachePaths;
  /** undici's dispatcher, made on first use (a direct plain-http download may never need it) */
  dispatcher: () => Dispatcher;
  /** plain http: URLs may be read straight off the socket (the caller's dispatcher is the default one, no proxy) */
  direct?: boolean;
  consumer(): ByteConsumer<T>;
  /** attempts after the first, on transient failures */
  retries?: number;
  backoffMs?: number;
  onBytes?(done: number, total: number | undefined): void;
  /** told when an attempt failed and another follows */
  onRetry?(attempt: number, err: PserveError, resumeFrom: number): void;
}

export interface DownloadResult<T> {
  sha256: string;
  size: number;
  /** bytes that came from an earlier partial download instead of the network */
  resumedFrom: number;
  result: T;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ECONNABORTED',
]);

/** network failures that another attempt will not fix (an unknown host, a broken protocol) */
const NETWORK_CODES = new Set(['ENOTFOUND', 'EPROTO', 'EADDRNOTAVAIL', 'ENOTCONN', 'ESHUTDOWN', 'EHOSTDOWN']);

function classify(e: unknown, url: string, file: string): PserveError {
  if (e instanceof PserveError) return e;
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const coded = err?.code ? err : err?.cause;
  const code = coded?.code;
  const what = `${url}: ${err?.message || code || String(e)}${err?.cause?.message ? ` (${err.cause.message})` : ''}`;
  if (code && TRANSIENT_CODES.has(code)) return new PserveError('E_NETWORK', what, { kind: 'transient' });
  if (code && NETWORK_CODES.has(code)) return new PserveError('E_NETWORK', what);
  // any other errno code is the disk's (the partial file, the unpacked tree): retrying will not help
  if (code && /^E[A-Z0-9]+$/.test(code)) return fsError(coded, file, 'download file');
  // undici's code-less ends of a connection
  if (!code && (err?.name === 'AbortError' || /terminated|other side closed|socket/i.test(err?.message ?? ''))) {
    return new PserveError('E_NETWORK', what, { kind: 'transient' });
  }
  return new PserveError('E_NETWORK', what);
}

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Start over: the partial bytes belong to another version of the file, or to nothing. */
function dropPartial(p: CachePaths): void {
  rmSync(p.partial, { force: true });
  rmSync(p.partialMeta, { force: true });
}

function partialLength(p: CachePaths, url: string): { have: number; meta?: PartialMeta } {
  const meta = readPartialMeta(p);
  if (!meta || meta.url !== url || !existsSync(p.partial)) { dropPartial(p); return { have: 0 }; }
  const have = statSync(p.partial).size;
  if (meta.total !== undefined && have > meta.total) { dropPartial(p); return { have: 0 }; }
  return { have, meta };
}

async function feedPrefix<T>(file: string, upTo: number, hash: Sha256Stream, sink: ByteConsumer<T>): Promise<void> {
  if (upTo === 0) return;
  const rs = createReadStream(file, { start: 0, end: upTo - 1, highWaterMark: BLOCK });
  for await (const chunk of rs as AsyncIterable<Buffer>) {
    await Promise.all([hash.update(chunk), sink.write(chunk)]);
  }
}

/** network chunks (~64 KiB) are gathered into blocks this big before they are written and hashed */
export const BLOCK = 1 << 20;
/**
 * Archives at least this big are hashed on a worker thread (out of a shared ring, see sha256.ts)
 * when the machine has more than two cores. Measured on 2 cores (200 MiB from a loopback server,
 * 11 interleaved runs): the same median wall time as hashing inline (542 vs 542 ms) for ~90 ms
 * more CPU (the worker's start-up and the copy into the ring), because the second core is already
 * busy with the file writes (libuv's pool) and, in that bench, the server; the main thread was idle
 * a third of the transfer. With a core to spare, the ~160 ms of hashing leaves the main thread.
 * PSERVE_FETCH_HASH_WORKER_MIN (bytes) sets the threshold on any machine.
 */
export const WORKER_HASH_MIN = Number(process.env['PSERVE_FETCH_HASH_WORKER_MIN']) > 0
  ? Number(process.env['PSERVE_FETCH_HASH_WORKER_MIN'])
  : availableParallelism() > 2 ? 16 * BLOCK : Number.MAX_SAFE_INTEGER;

export async function downloadResumable<T>(o: DownloadOptions<T>): Promise<DownloadResult<T>> {
  const retries = o.retries ?? 5;
  const backoff = o.backoffMs ?? 500;
  try { await mkdir(dirname(o.paths.partial), { recursive: true }); } catch (e) { throw fsError(e, dirname(o.paths.partial), 'cache directory'); }
  let restarts = 0;
  for (let attempt = 0; ; attempt++) {
    let sink: ByteConsumer<T> | undefined;
    let fh: FileHandle | undefined;
    let hash: Sha256Stream | undefined;
    let have = 0;
    try {
      let state = partialLength(o.paths, o.url);
      have = state.have;
      const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'pserve-fetch' };
      if (have > 0) {
        headers['range'] = `bytes=${have}-`;
        // If-Range: a changed resource comes back whole (200) instead of a mismatched tail
        const validator = state.meta?.etag && !state.meta.etag.startsWith('W/') ? state.meta.etag : state.meta?.lastModified;
        if (validator) headers['if-range'] = validator;
      }
      const res = (o.direct && rawEligible(o.url) ? await rawGet(o.url, headers, BLOCK, 50) : null)
        ?? await undici().request(o.dispatcher(), o.url, { method: 'GET', headers });
      const etag = header(res.headers, 'etag');
      const lastModified = header(res.headers, 'last-modified');
      let total: number | undefined;
      if (res.statusCode === 206 && have > 0) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res.headers, 'content-range') ?? '');
        const start = m ? Number(m[1]) : -1;
        total = m && m[3] !== '*' ? Number(m[3]) : undefined;
        const sameTotal = state.meta?.total === undefined || total === state.meta.total;
        const sameEtag = !state.meta?.etag || !etag || etag === state.meta.etag;
        const sameDate = !state.meta?.lastModified || !lastModified || lastModified === state.meta.lastModified;
        if (start !== have || !sameTotal || !sameEtag || !sameDate) {
          await res.body.dump().catch(() => undefined);
          dropPartial(o.paths);
          if (++restarts > 3) throw new PserveError('E_HTTP_RANGE', `${o.url}: server keeps answering range requests inconsistently`, { kind: 'transient' });
          attempt--;
          continue;
        }
      } else if (res.statusCode === 200 || res.statusCode === 206) {
        if (res.statusCode === 206) {
          // a 206 we did not ask for
          await res.body.dump().catch(() => undefined);
          throw new PserveError('E_HTTP_RANGE', `${o.url}: unexpected partial content`, { kind: 'transient' });
        }
        if (have > 0) dropPartial(o.paths);
        have = 0;
        const len = header(res.headers, 'content-length');
        total = len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined;
      } else if (res.statusCode === 416 && have > 0) {
        await res.body.dump().catch(() => undefined);
        dropPartial(o.paths);
        attempt--;
        if (++restarts > 3) throw new PserveError('E_HTTP_RANGE', `${o.url}: server refuses range requests`, { kind: 'transient' });
        continue;
      } else {
        await res.body.dump().catch(() => undefined);
        const s = res.statusCode;
        if (s === 404 || s === 410) throw new PserveError('E_HTTP_NOT_FOUND', `${o.url}: HTTP ${s}, the server has no such file`, { hint: 'check the URL, the set name or the --mirror layout' });
        const transient = s === 408 || s === 425 || s === 429 || s >= 500;
        throw new PserveError('E_HTTP_STATUS', `${o.url}: HTTP ${s}`, { kind: transient ? 'transient' : 'permanent' });
      }

      const meta: PartialMeta = { url: o.url, ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}), ...(total !== undefined ? { total } : {}) };
      if (have === 0) writeJsonAtomic(o.paths.partialMeta, meta);
      try { fh = await open(o.paths.partial, have > 0 ? 'a' : 'w'); } catch (e) { throw fsError(e, o.paths.partial, 'download file'); }

      sink = o.consumer();
      hash = sha256Stream({ worker: (total ?? WORKER_HASH_MIN) >= WORKER_HASH_MIN });
      await feedPrefix(o.paths.partial, have, hash, sink);
      let done = have;
      o.onBytes?.(done, total);
      const file = fh;
      const s = sink;
      const h = hash;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      // one block is written while the next one arrives; the partial file, the unpacker and the
      // hash take each block concurrently and all three apply backpressure
      let inFlight: Promise<unknown> = Promise.resolve();
      const flush = async () => {
        if (pendingBytes === 0) return;
        const block = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        await inFlight;
        inFlight = Promise.all([
          file.write(block).catch((e: unknown) => { throw fsError(e, o.paths.partial, 'download file'); }),
          s.write(block),
          h.update(block),
        ]);
        inFlight.catch(() => undefined);
        done += block.length;
        o.onBytes?.(done, total);
      };
      // on a slow link a block may take long to fill: flush by time too, so that a kill loses little
      let lastFlush = Date.now();
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (pendingBytes >= BLOCK || Date.now() - lastFlush >= 100) { await flush(); lastFlush = Date.now(); }
        }
      } catch (e) {
        // keep what did arrive: the next attempt resumes after it
        const ok = await inFlight.then(() => true, () => false);
        if (ok && pendingBytes > 0) await file.write(Buffer.concat(pending, pendingBytes)).catch(() => undefined);
        throw e;
      }
      await flush();
      await inFlight;
      if (total !== undefined && done !== total) {
        throw new PserveError('E_NETWORK', `${o.url}: connection ended after ${done} of ${total} bytes`, { kind: 'transient' });
      }
      try { await fh.close(); } catch (e) { throw fsError(e, o.paths.partial, 'download file'); }
      fh = undefined;
      const result = await sink.finish();
      return { sha256: await hash.digest(), size: done, resumedFrom: have, result };
    } catch (e) {
      sink?.abort();
      hash?.close();
      await fh?.close().catch(() => undefined);
      const err = classify(e, o.url, o.paths.partial);
      if (err.kind !== 'transient') {
        // bytes the unpacker or a checksum refused: never resume from them. Anything else (an HTTP
        // 401/403, a disk error) says nothing against the bytes already here: keep them to resume.
        if (/^E_(ARCHIVE_|NOT_ARCHIVE$|CHECKSUM_)/.test(err.code)) dropPartial(o.paths);
        throw err;
      }
      if (attempt >= retries) {
        throw new PserveError(err.code, `${err.message} (gave up after ${attempt + 1} attempts)`, { kind: 'transient', hint: 'run the same command again to resume from the partial download' });
      }
      const resumeFrom = existsSync(o.paths.partial) ? statSync(o.paths.partial).size : 0;
      o.onRetry?.(attempt + 1, err, resumeFrom);
      await sleep(Math.min(backoff * 2 ** attempt, 8_000) * (0.75 + Math.random() * 0.5));
    }
  }
}
