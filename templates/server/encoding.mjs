/**
 * HTTP content codings for request and reply bodies: `Content-Encoding: gzip | deflate` requests
 * are inflated with a cap (a small body that would inflate past the body limit is refused as soon
 * as the output passes it, never inflated whole), and replies are compressed when the client's
 * `Accept-Encoding` allows and the body is worth it (over 512 bytes, as Paddle Serving's client).
 */
import zlib from 'node:zlib';
import { RequestError } from './tensors.mjs';

/** replies at or under this many bytes go uncompressed */
export const COMPRESS_MIN = 512;

/**
 * `body` inflated per the Content-Encoding header value (identity: as is). Inflating streams in
 * 16 KiB steps and stops at the first step past `cap` with a 413; `stats.inflated`, when given,
 * receives how many bytes were produced (the fuzz suite checks a bomb stops near the cap).
 */
export function inflateCapped(body, encoding, cap, stats = {}) {
  const coding = String(encoding ?? '').trim().toLowerCase();
  stats.inflated = 0;
  if (coding === '' || coding === 'identity') return Promise.resolve(body);
  const make = coding === 'gzip' || coding === 'x-gzip' ? () => zlib.createGunzip({ chunkSize: 16384 })
    : coding === 'deflate' ? () => (body.length > 0 && (body[0] & 0x0f) === 8 && ((body[0] << 8) | body[1]) % 31 === 0 ? zlib.createInflate({ chunkSize: 16384 }) : zlib.createInflateRaw({ chunkSize: 16384 }))
    : null;
  if (!make) return Promise.reject(new RequestError(415, `Content-Encoding "${encoding}" is not supported (use gzip, deflate or identity)`));
  return new Promise((resolveBody, reject) => {
    const z = make();
    const parts = [];
    let size = 0;
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      if (err) { z.destroy(); reject(err); } else resolveBody(value);
    };
    z.on('data', (c) => {
      size += c.length;
      stats.inflated = size;
      if (size > cap) { finish(new RequestError(413, `the ${coding} body inflates past the limit of ${cap} bytes`)); return; }
      parts.push(c);
    });
    z.on('error', (e) => finish(new RequestError(400, `the body is not valid ${coding}: ${String(e?.message ?? e).split('\n')[0]}`)));
    z.on('end', () => finish(null, Buffer.concat(parts, size)));
    z.end(body);
  });
}

/** the coding to answer with for an Accept-Encoding header: 'gzip', 'deflate' or null */
export function pickEncoding(accept) {
  if (!accept) return null;
  const allowed = new Map();
  for (const part of String(accept).toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find(Boolean);
    allowed.set(name.trim(), q ? Number(q[1]) : 1);
  }
  const ok = (n) => (allowed.get(n) ?? (allowed.has('*') ? allowed.get('*') : 0)) > 0;
  if (ok('gzip')) return 'gzip';
  if (ok('deflate')) return 'deflate';
  return null;
}

/** body compressed with `coding` when it is over COMPRESS_MIN bytes; returns { body, coding } */
export function compressReply(body, coding) {
  if (!coding || body.length <= COMPRESS_MIN) return { body, coding: null };
  const out = coding === 'gzip' ? zlib.gzipSync(body, { level: 1 }) : zlib.deflateSync(body, { level: 1 });
  return { body: out, coding };
}
