/**
 * The four pieces of undici that fetch uses, loaded from their own files: the package's entry
 * also loads fetch, WebSocket, the cache and the mocks, which costs ~0.2 s of start-up on every
 * `pserve fetch` (measured: 250 ms vs 30 ms on a loaded 2-core machine). If a future undici moves
 * these files, the public entry is used instead: slower to load, same behaviour.
 */
import { createRequire } from 'node:module';
import type { Dispatcher } from 'undici';

type Ctor<T> = new (opts?: Record<string, unknown>) => T;

export interface UndiciParts {
  Agent: Ctor<Dispatcher>;
  EnvHttpProxyAgent: Ctor<Dispatcher>;
  redirect(opts: { maxRedirections: number }): Dispatcher.DispatcherComposeInterceptor;
  request(dispatcher: Dispatcher, url: string, opts: { method: 'GET'; headers: Record<string, string> }): Promise<Dispatcher.ResponseData>;
}

let parts: UndiciParts | undefined;

export function undici(): UndiciParts {
  if (parts) return parts;
  const require = createRequire(import.meta.url);
  try {
    const api = require('undici/lib/api/api-request.js') as (this: Dispatcher, o: object) => Promise<Dispatcher.ResponseData>;
    parts = {
      Agent: require('undici/lib/dispatcher/agent.js'),
      EnvHttpProxyAgent: require('undici/lib/dispatcher/env-http-proxy-agent.js'),
      redirect: require('undici/lib/interceptor/redirect.js'),
      request: (d, url, o) => {
        const u = new URL(url);
        return api.call(d, { origin: u.origin, path: `${u.pathname}${u.search}`, ...o });
      },
    };
    if (typeof parts.Agent !== 'function' || typeof parts.EnvHttpProxyAgent !== 'function' || typeof parts.redirect !== 'function' || typeof api !== 'function') throw new Error('layout changed');
  } catch {
    const u = require('undici') as typeof import('undici');
    parts = {
      Agent: u.Agent as unknown as Ctor<Dispatcher>,
      EnvHttpProxyAgent: u.EnvHttpProxyAgent as unknown as Ctor<Dispatcher>,
      redirect: u.interceptors.redirect,
      request: (d, url, o) => u.request(url, { ...o, dispatcher: d }),
    };
  }
  return parts;
}
