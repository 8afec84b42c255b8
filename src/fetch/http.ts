/**
 * Network plumbing: the undici dispatcher (proxy-aware, follows redirects) and the mirror rewrite.
 * Callers may pass their own Dispatcher; tests use a real loopback server instead of mocks.
 */
import type { Dispatcher } from 'undici';
import { PserveError } from '../errors.js';
import { undici } from './undici-lite.js';

export interface OwnedDispatcher {
  dispatcher: Dispatcher;
  close(): Promise<void>;
}

const TIMEOUTS = { headersTimeout: 30_000, bodyTimeout: 60_000, connectTimeout: 15_000 };

/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case) are honoured when set; otherwise a direct agent.
 */
export function defaultDispatcher(env: NodeJS.ProcessEnv = process.env): OwnedDispatcher {
  const proxied = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'].some((k) => env[k]);
  const { Agent, EnvHttpProxyAgent, redirect } = undici();
  const base: Dispatcher = proxied
    ? new EnvHttpProxyAgent({ headersTimeout: TIMEOUTS.headersTimeout, bodyTimeout: TIMEOUTS.bodyTimeout })
    : new Agent({ headersTimeout: TIMEOUTS.headersTimeout, bodyTimeout: TIMEOUTS.bodyTimeout, connect: { timeout: TIMEOUTS.connectTimeout } });
  return {
    dispatcher: base.compose(redirect({ maxRedirections: 5 })),
    close: () => base.close().catch(() => undefined),
  };
}

/** `--mirror BASE`: BASE replaces scheme and host (and may add a path prefix); the URL's path stays. */
export function applyMirror(url: string, mirror: string | undefined): string {
  if (!mirror) return url;
  const u = new URL(url);
  return `${mirror.replace(/\/+$/, '')}${u.pathname}${u.search}`;
}

export function checkMirror(mirror: string): string {
  let u: URL;
  try { u = new URL(mirror); } catch {
    throw new PserveError('E_USAGE', `--mirror must be an http(s) URL, got "${mirror}"`, { kind: 'usage' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new PserveError('E_USAGE', `--mirror must be an http(s) URL, got "${mirror}"`, { kind: 'usage' });
  if (u.search || u.hash) throw new PserveError('E_USAGE', `--mirror must not have a query or fragment: "${mirror}"`, { kind: 'usage' });
  return mirror;
}
