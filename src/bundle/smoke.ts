/**
 * `smokeBundle`: prove a bundle works the way its recipient will use it. Verify every sha256 in
 * the manifest, start `node server.mjs` on a free port with a bare environment, send one request
 * per protocol with inputs generated from the model's dtypes and shapes, check each fetch is
 * finite with the expected shape, check /metrics counted them, then SIGTERM and expect exit 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { onInterrupt } from '../util/interrupt.js';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PserveError } from '../errors.js';
import { dtypeFromKserve } from '../model/dtype.js';
import { bundleMismatchError, readManifest, verifyBundle, type BundleManifest } from './manifest.js';
import type { Progress } from './build-bundle.js';

export interface SmokeOptions {
  device?: 'cpu' | 'gpu' | 'webgpu' | 'auto';
  /** alias (or name) -> full dims, for feeds with unknown dims */
  shapes?: Record<string, number[]>;
  /** seconds to wait for the server to listen */
  timeoutS?: number;
}

export interface SmokeCheck { name: string; ok: boolean; ms: number; detail: string }

export interface SmokeReport {
  ok: boolean;
  bundle: string;
  name: string;
  device: string | null;
  verified: number;
  inputs: Record<string, { dtype: string; shape: number[]; shapeFrom: string }>;
  checks: SmokeCheck[];
  failures: string[];
}

interface TensorMeta { name: string; datatype: string; shape: number[] }
interface ModelMeta { name: string; inputs: TensorMeta[]; outputs: TensorMeta[] }

/** dims for feeds the model leaves open, from PaddleX/PaddleOCR inference.yml (trt_dynamic_shapes: the opt shape) */
export function shapesFromInferenceYml(text: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => /^\s*(trt_dynamic_shapes|dynamic_shapes):/.test(l));
  if (start < 0) return out;
  const baseIndent = lines[start]!.search(/\S/);
  let feed: string | null = null;
  let groups: number[][] = [];
  const flush = () => { if (feed && groups.length) out[feed] = (groups[1] ?? groups[0])!; };
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (!l.trim()) continue;
    const ind = l.search(/\S/);
    if (ind <= baseIndent) break;
    const key = /^\s*([\w.]+):\s*$/.exec(l);
    if (key) { flush(); feed = key[1]!; groups = []; continue; }
    const first = /^\s*- - (-?\d+)\s*$/.exec(l);
    if (first) { groups.push([Number(first[1])]); continue; }
    const next = /^\s*- (-?\d+)\s*$/.exec(l);
    if (next && groups.length) groups[groups.length - 1]!.push(Number(next[1]));
  }
  flush();
  return out;
}

/** sensible dims when nothing says: batch 1, channels 3, spatial 64 (a multiple of 32, as detectors want) */
function defaultDim(rank: number, i: number): number {
  if (i === 0) return 1;
  if (rank === 4 && i === 1) return 3;
  if (rank === 4) return 64;
  return 1;
}

/**
 * Check every --shape against the bundle's feeds before anything starts: the key must be a feed's
 * alias or name, the rank the feed's rank, every dim positive and equal to the model's fixed dims,
 * and feeds with an open batch dim must agree on the batch. Returns the dims keyed by alias and
 * the batch size (1 when no --shape sets one).
 */
export function checkShapes(manifest: Pick<BundleManifest, 'feeds'>, shapes: Record<string, number[]>): { byAlias: Record<string, number[]>; batch: number } {
  const usage = (msg: string) => new PserveError('E_USAGE', msg, { kind: 'usage' });
  const known = manifest.feeds.map((f) => `${f.alias} (rank ${f.shape.length}, [${f.shape.join(',')}])`).join(', ');
  const byAlias: Record<string, number[]> = {};
  let batch: { n: number; from: string } | undefined;
  for (const [key, dims] of Object.entries(shapes)) {
    const flag = `--shape ${key}=${dims.join(',')}`;
    const f = manifest.feeds.find((x) => x.alias === key) ?? manifest.feeds.find((x) => x.name === key);
    if (!f) throw usage(`${flag}: the model has no feed "${key}"; its feeds are ${known}`);
    if (byAlias[f.alias]) throw usage(`${flag}: feed "${f.alias}" is given more than one --shape`);
    if (dims.length !== f.shape.length) throw usage(`${flag}: rank ${dims.length}, feed "${f.alias}" has rank ${f.shape.length} [${f.shape.join(',')}]`);
    dims.forEach((d, i) => {
      if (!Number.isSafeInteger(d) || d <= 0) throw usage(`${flag}: dim ${i} is ${d}; every dim must be a positive integer`);
      if (f.shape[i]! >= 0 && f.shape[i] !== d) throw usage(`${flag}: dim ${i} is ${d}, feed "${f.alias}" fixes it at ${f.shape[i]} [${f.shape.join(',')}]`);
    });
    if (f.shape.length > 0 && f.shape[0]! < 0) {
      if (batch && batch.n !== dims[0]) throw usage(`${flag}: batch ${dims[0]}, but ${batch.from} sets batch ${batch.n}; feeds are sent together, with one batch size`);
      batch ??= { n: dims[0]!, from: flag };
    }
    byAlias[f.alias] = dims.slice();
  }
  return { byAlias, batch: batch?.n ?? 1 };
}

function resolveDims(t: TensorMeta, alias: string, shapes: Record<string, number[]>, batch: number, yml: Record<string, number[]>): { shape: number[]; from: string } {
  const given = shapes[alias] ?? shapes[t.name];
  const fromYml = yml[alias] ?? yml[t.name];
  const pick = (src: number[] | undefined, from: string) => {
    if (!src) return null;
    if (src.length !== t.shape.length) {
      if (from === '--shape') throw new PserveError('E_USAGE', `--shape ${alias}=${src.join(',')}: rank ${src.length}, the model's shape is [${t.shape.join(',')}]`, { kind: 'usage' });
      return null;
    }
    return { shape: t.shape.map((d, i) => (d >= 0 ? d : src[i]!)), from };
  };
  if (!t.shape.some((d) => d < 0)) return { shape: t.shape.slice(), from: 'model' };
  const r = pick(given, '--shape') ?? pick(fromYml, 'inference.yml')
    ?? { shape: t.shape.map((d, i) => (d >= 0 ? d : defaultDim(t.shape.length, i))), from: 'default' };
  // an open batch dim takes the batch that --shape set for any feed
  if (r.from !== '--shape' && t.shape[0]! < 0) r.shape[0] = batch;
  return r;
}

function generate(datatype: string, n: number): number[] {
  let seed = 12345;
  const out = new Array<number>(n);
  const isFloat = datatype.startsWith('FP');
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    out[i] = isFloat ? Math.round((seed / 2147483648) * 1e4) / 1e4 : datatype === 'BOOL' ? seed % 2 : 0;
  }
  return out;
}

function nest(data: unknown[], shape: number[]): unknown {
  if (shape.length === 0) return data[0];
  let out: unknown[] = data;
  for (let d = shape.length - 1; d >= 1; d--) {
    const next: unknown[] = [];
    for (let i = 0; i < out.length; i += shape[d]!) next.push(out.slice(i, i + shape[d]!));
    out = next;
  }
  return out;
}

function flatShape(v: unknown): { data: unknown[]; shape: number[] } {
  const shape: number[] = [];
  for (let x = v; Array.isArray(x); x = x[0]) shape.push(x.length);
  const data = Array.isArray(v) ? (v as unknown[]).flat(Infinity) : [v];
  return { data, shape };
}

const BINARY: Record<string, { new (n: number | ArrayBuffer): ArrayLike<number | bigint> & { buffer: ArrayBufferLike } }> = {
  FP32: Float32Array, FP64: Float64Array, INT8: Int8Array, INT16: Int16Array, INT32: Int32Array, INT64: BigInt64Array,
  UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, UINT64: BigUint64Array, BOOL: Uint8Array,
};

/** values as the little-endian raw bytes of the KServe binary extension */
function binaryOf(datatype: string, values: number[]): Buffer {
  const T = BINARY[datatype];
  if (!T) throw new Error(`datatype ${datatype} has no binary form here`);
  const a = new T(values.length) as unknown as (number | bigint)[] & { buffer: ArrayBuffer };
  const big = datatype === 'INT64' || datatype === 'UINT64';
  values.forEach((v, i) => { a[i] = big ? BigInt(Math.trunc(v)) : v; });
  return Buffer.from(a.buffer);
}

/** raw little-endian bytes back to numbers */
function valuesOf(datatype: string, bytes: Buffer): number[] {
  const T = BINARY[datatype];
  if (!T) throw new Error(`output datatype ${datatype} has no binary form here`);
  const copy = new Uint8Array(bytes).buffer;
  return Array.from(new T(copy) as ArrayLike<number | bigint>, Number);
}

function checkTensor(what: string, data: unknown[], shape: number[], expected: number[]): string | null {
  if (shape.length !== expected.length) return `${what}: rank ${shape.length} [${shape.join(',')}], expected [${expected.join(',')}]`;
  for (let i = 0; i < shape.length; i++) {
    if (expected[i]! >= 0 && shape[i] !== expected[i]) return `${what}: shape [${shape.join(',')}], expected [${expected.join(',')}]`;
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) return `${what}: ${data.length} values for shape [${shape.join(',')}]`;
  const bad = data.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
  if (bad >= 0) return `${what}: value ${bad} is ${String(data[bad])}, not a finite number`;
  return null;
}

/**
 * The web-service "feed" list: one {alias: row} sample per batch row, as Paddle Serving clients
 * send a batch. When the feeds do not share one open batch dim, one sample carries each whole
 * tensor with its "<alias>.shape".
 */
export function webServiceSamples(inputs: { t: TensorMeta; shape: number[]; data: number[] }[]): Record<string, unknown>[] {
  const rows = inputs[0]?.shape[0];
  const byRow = rows !== undefined && inputs.every((x) => x.shape.length > 0 && x.shape[0] === rows && (x.t.shape[0]! < 0 || rows === 1));
  if (!byRow) return [Object.fromEntries(inputs.flatMap((x) => [[x.t.name, x.data], [`${x.t.name}.shape`, x.shape]]))];
  return Array.from({ length: rows }, (_, b) => Object.fromEntries(inputs.map((x) => {
    const rest = x.shape.slice(1);
    const per = rest.reduce((a, c) => a * c, 1);
    const row = x.data.slice(b * per, (b + 1) * per);
    return [x.t.name, rest.length > 1 ? nest(row, rest) : row];
  })));
}

/** the environment a recipient's shell would give: no NODE_PATH, no NODE_OPTIONS, nothing of pserve */
function bareEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'SYSTEMROOT', 'LANG', 'LD_LIBRARY_PATH', 'CUDA_VISIBLE_DEVICES'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}

export interface RunningServer { child: ChildProcess; url: string; device: string | null; stdout: () => string; stderr: () => string; stop(): Promise<number | null> }

/** Start `node server.mjs --port 0` in `dir` and wait for its "listening on" line. */
export async function startBundleServer(dir: string, args: string[], timeoutS = 60): Promise<RunningServer> {
  const child = spawn(process.execPath, ['server.mjs', '--port', '0', ...args], { cwd: dir, env: bareEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  // an interrupted smoke must not leave its server running
  const unregister = onInterrupt(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  child.once('exit', unregister);
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err = (err + c.toString()).slice(-8000); });
  let spawnError: Error | undefined;
  // 'close' comes after the child's stdio is drained, so its last stderr line is in `err`
  const exited = new Promise<number | null>((ok) => {
    child.once('error', (e) => { spawnError = e; ok(null); });
    child.once('close', (code) => ok(code));
  });
  const listening = await new Promise<{ url: string; device: string | null }>((ok, fail) => {
    const timer = setTimeout(() => fail(new PserveError('E_SMOKE_NOT_READY', `the server did not listen within ${timeoutS} s${err ? `: ${lastLine(err)}` : ''}`, { file: join(dir, 'server.mjs') })), timeoutS * 1000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+) \(service "[^"]*", device (\w+)/.exec(out);
      if (m) { clearTimeout(timer); ok({ url: m[1]!, device: m[2]! }); }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      const file = join(dir, 'server.mjs');
      const why = lastLine(err);
      if (spawnError) fail(new PserveError('E_SMOKE_SERVER_EXITED', `cannot start ${process.execPath}: ${spawnError.message}`, { file }));
      else if (/^cannot bind /.test(why)) fail(new PserveError('E_SERVER_LISTEN', `the server could not listen: ${why}`, { file, hint: 'check that the loopback interface is up and the address exists on this machine' }));
      else fail(new PserveError('E_SMOKE_SERVER_EXITED', `the server exited with code ${code} before listening: ${why || '(no message)'}`, { file }));
    });
  }).catch((e) => { child.kill('SIGKILL'); throw e; });
  return {
    child,
    ...listening,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || spawnError) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

function lastLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).pop()?.replace(/^pserve-server: (E_[A-Z0-9_]+: )?/, '') ?? '';
}

/** fetch's own message is "fetch failed"; the socket error under it says what happened */
function requestError(e: unknown, url: string): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const cause = err?.cause;
  // undici appends the local end (" - Local (0.0.0.0:0)"), which says nothing here
  const what = String(cause?.message ?? err?.message ?? e).replace(/ - Local \([^)]*\)$/, '');
  return `a request to ${url} failed: ${cause?.code && !what.includes(cause.code) ? `${cause.code}: ` : ''}${what}`;
}

async function getText(url: string): Promise<{ status: number; text: string }> {
  let res: Response;
  try { res = await fetch(url); } catch (e) { throw new Error(requestError(e, url)); }
  return { status: res.status, text: await res.text() };
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (e) { throw new Error(requestError(e, url)); }
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}

export async function smokeBundle(dirIn: string, opts: SmokeOptions = {}, progress: Progress = () => {}): Promise<SmokeReport> {
  const dir = resolve(dirIn);
  try {
    return await smoke(dir, opts, progress);
  } catch (e) {
    if (e instanceof PserveError) throw e;
    // every failure smoke knows of is a PserveError or a failed check; anything else still gets a code
    throw new PserveError('E_SMOKE_FAILED', `smoke could not finish: ${String((e as Error)?.message ?? e).split('\n')[0]}`, { file: dir });
  }
}

async function smoke(dir: string, opts: SmokeOptions, progress: Progress): Promise<SmokeReport> {
  const manifest = readManifest(dir);
  // usage errors first: nothing is hashed or started for a --shape that cannot apply
  const { byAlias: shapes, batch } = checkShapes(manifest, opts.shapes ?? {});
  // one progress item whose text follows the steps: the final text lists every check, so the
  // progress shows only what runs now and what failed (no "done" lines that repeat the summary)
  let started = false;
  const step = (text: string) => { progress({ id: 'smoke', phase: started ? 'progress' : 'start', text }); started = true; };
  const failed = (text: string) => { progress({ id: 'smoke', phase: 'fail', text }); started = false; };
  step(`verifying ${manifest.files.length} files against manifest.json`);
  const v = verifyBundle(dir, manifest);
  if (!v.ok) {
    failed(v.problems[0] ?? `${v.unlisted[0]}: not listed in manifest.json`);
    throw bundleMismatchError(dir, v, 'rebuild it with pserve bundle');
  }

  const checks: SmokeCheck[] = [];
  const report: SmokeReport = { ok: false, bundle: dir, name: manifest.name, device: null, verified: v.checked, inputs: {}, checks, failures: [] };
  const check = async (name: string, fn: () => Promise<string>) => {
    const t0 = performance.now();
    step(name);
    try {
      const detail = await fn();
      checks.push({ name, ok: true, ms: Math.round(performance.now() - t0), detail });
    } catch (e) {
      const detail = (e as Error).message;
      checks.push({ name, ok: false, ms: Math.round(performance.now() - t0), detail });
      report.failures.push(`${name}: ${detail}`);
      failed(`${name}: ${detail}`);
    }
  };

  step('starting node server.mjs on a free port');
  const server = await startBundleServer(dir, opts.device ? ['--device', opts.device] : [], opts.timeoutS ?? 60);
  report.device = server.device;
  const base = server.url;
  const name = manifest.name;
  try {
    // a pipeline bundle is smoked through its upstream request form (smoke-pipeline.ts)
    if (manifest.pipeline) {
      await (await import('./smoke-pipeline.js')).smokePipeline(dir, base, name, check);
      return report;
    }
    let meta: ModelMeta | undefined;
    await check('ready', async () => {
      const r = await getText(`${base}/v2/health/ready`);
      if (r.status !== 200) throw new Error(`/v2/health/ready answered ${r.status}`);
      const m = await getText(`${base}/v2/models/${encodeURIComponent(name)}`);
      if (m.status !== 200) throw new Error(`/v2/models/${name} answered ${m.status}`);
      const j = JSON.parse(m.text) as ModelMeta;
      if (!Array.isArray(j?.inputs) || !Array.isArray(j?.outputs)) throw new Error(`/v2/models/${name} has no inputs and outputs`);
      meta = j;
      return `ready; ${meta.inputs.length} input(s), ${meta.outputs.length} output(s)`;
    });
    if (!meta) {
      const why = checks.find((c) => c.name === 'ready')?.detail ?? 'no answer';
      throw new PserveError('E_SMOKE_NOT_READY', `the server printed that it listens on ${base}, but it is not ready: ${why}`, {
        file: join(dir, 'server.mjs'),
        hint: /ENETUNREACH|ECONNREFUSED|EADDRNOTAVAIL|EHOSTUNREACH/.test(why) ? 'the loopback interface (127.0.0.1) may be down on this machine' : undefined,
      });
    }
    const md = meta;
    const ymlFile = join(dir, 'serving_server', 'inference.yml');
    const yml = existsSync(ymlFile) ? shapesFromInferenceYml(readFileSync(ymlFile, 'utf8')) : {};
    const inputs = md.inputs.map((t) => {
      const r = resolveDims(t, t.name, shapes, batch, yml);
      const n = r.shape.reduce((a, b) => a * b, 1);
      report.inputs[t.name] = { dtype: dtypeFromKserve(t.datatype), shape: r.shape, shapeFrom: r.from };
      return { t, shape: r.shape, data: generate(t.datatype, n) };
    });
    // outputs with an open batch dim answer one row per input row
    const rows = inputs.find((x) => x.t.shape.length > 0 && x.t.shape[0]! < 0)?.shape[0] ?? 1;
    const expected = (o: TensorMeta) => o.shape.map((d, i) => (i === 0 && d < 0 ? rows : d));
    const fetchList = md.outputs.map((o) => o.name);

    await check('web service', async () => {
      const r = await postJson(`${base}/${encodeURIComponent(name)}/prediction`, { feed: webServiceSamples(inputs), fetch: fetchList });
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
      const result = (r.json as { result?: Record<string, unknown> }).result ?? {};
      const shapes: string[] = [];
      for (const o of md.outputs) {
        if (!(o.name in result)) throw new Error(`no "${o.name}" in the result`);
        const f = flatShape(result[o.name]);
        const bad = checkTensor(o.name, f.data, f.shape, expected(o));
        if (bad) throw new Error(bad);
        shapes.push(`${o.name} [${f.shape.join(',')}]`);
      }
      return shapes.join(', ');
    });

    await check('pipeline', async () => {
      const r = await postJson(`${base}/${encodeURIComponent(name)}/prediction`, { key: inputs.map((x) => x.t.name), value: inputs.map((x) => JSON.stringify(nest(x.data, x.shape))) });
      const j = r.json as { err_no?: number; err_msg?: string; key?: string[]; value?: string[] };
      if (r.status !== 200 || j.err_no !== 0) throw new Error(`HTTP ${r.status}, err_no ${j.err_no}: ${j.err_msg ?? JSON.stringify(r.json).slice(0, 300)}`);
      const shapes: string[] = [];
      (j.key ?? []).forEach((k, i) => {
        const o = md.outputs.find((x) => x.name === k);
        if (!o) throw new Error(`unexpected key "${k}"`);
        const f = flatShape(JSON.parse(j.value![i]!));
        const bad = checkTensor(k, f.data, f.shape, expected(o));
        if (bad) throw new Error(bad);
        shapes.push(`${k} [${f.shape.join(',')}]`);
      });
      if (shapes.length === 0) throw new Error('no values in the answer');
      return shapes.join(', ');
    });

    await check('kserve v2', async () => {
      const r = await postJson(`${base}/v2/models/${encodeURIComponent(name)}/infer`, {
        inputs: inputs.map((x) => ({ name: x.t.name, shape: x.shape, datatype: x.t.datatype, data: x.data })),
        outputs: fetchList.map((n) => ({ name: n })),
      });
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
      const outs = (r.json as { outputs?: { name: string; shape: number[]; data: unknown[] }[] }).outputs ?? [];
      const shapes: string[] = [];
      for (const o of md.outputs) {
        const got = outs.find((x) => x.name === o.name);
        if (!got) throw new Error(`no output "${o.name}"`);
        const bad = checkTensor(o.name, got.data, got.shape, expected(o));
        if (bad) throw new Error(bad);
        shapes.push(`${o.name} [${got.shape.join(',')}]`);
      }
      return shapes.join(', ');
    });

    await check('kserve v2 binary', async () => {
      // the binary tensor data extension (tritonclient.http's default): raw inputs in, raw outputs out
      const parts = inputs.map((x) => binaryOf(x.t.datatype, x.data));
      const head = Buffer.from(JSON.stringify({
        inputs: inputs.map((x, i) => ({ name: x.t.name, shape: x.shape, datatype: x.t.datatype, parameters: { binary_data_size: parts[i]!.length } })),
        outputs: fetchList.map((n) => ({ name: n, parameters: { binary_data: true } })),
      }));
      const url = `${base}/v2/models/${encodeURIComponent(name)}/infer`;
      let res: Response;
      try {
        res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) }, body: Buffer.concat([head, ...parts]) });
      } catch (e) { throw new Error(requestError(e, url)); }
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${body.toString('utf8', 0, 300)}`);
      const n = Number(res.headers.get('inference-header-content-length'));
      if (!Number.isInteger(n) || n <= 0 || n > body.length) throw new Error(`Inference-Header-Content-Length ${res.headers.get('inference-header-content-length')} for a body of ${body.length} bytes`);
      const outs = (JSON.parse(body.toString('utf8', 0, n)) as { outputs?: { name: string; datatype: string; shape: number[]; parameters?: { binary_data_size?: number } }[] }).outputs ?? [];
      let at = n;
      const shapes: string[] = [];
      for (const got of outs) {
        const size = got.parameters?.binary_data_size;
        if (size === undefined || at + size > body.length) throw new Error(`output "${got.name}" has no binary_data_size within the body`);
        const data = valuesOf(got.datatype, body.subarray(at, at + size));
        at += size;
        const o = md.outputs.find((x) => x.name === got.name);
        if (!o) throw new Error(`unexpected output "${got.name}"`);
        const bad = checkTensor(o.name, data, got.shape, expected(o));
        if (bad) throw new Error(bad);
        shapes.push(`${o.name} [${got.shape.join(',')}]`);
      }
      if (at !== body.length) throw new Error(`${body.length - at} bytes after the last binary output`);
      if (shapes.length !== md.outputs.length) throw new Error(`${shapes.length} outputs, the model has ${md.outputs.length}`);
      return shapes.join(', ');
    });

    await check('metrics', async () => {
      const { text } = await getText(`${base}/metrics`);
      const count = (proto: string) => {
        const m = new RegExp(`^pserve_requests_total\\{protocol="${proto}",code="200"\\} (\\d+)$`, 'm').exec(text);
        return m ? Number(m[1]) : 0;
      };
      const got = { webservice: count('webservice'), pipeline: count('pipeline'), kserve: count('kserve') };
      const want = { webservice: checks.find((c) => c.name === 'web service')?.ok ? 1 : 0, pipeline: checks.find((c) => c.name === 'pipeline')?.ok ? 1 : 0, kserve: 1 + (checks.find((c) => c.name === 'kserve v2')?.ok ? 1 : 0) };
      for (const k of Object.keys(want) as (keyof typeof want)[]) {
        if (got[k] < want[k]) throw new Error(`/metrics counts ${got[k]} successful ${k} request(s), expected ${want[k]}`);
      }
      if (!/pserve_request_duration_seconds_bucket/.test(text)) throw new Error('/metrics has no latency histogram');
      return `requests counted: web service ${got.webservice}, pipeline ${got.pipeline}, kserve ${got.kserve}`;
    });
  } finally {
    const t0 = performance.now();
    const code = await server.stop();
    const ok = code === 0;
    checks.push({ name: 'SIGTERM', ok, ms: Math.round(performance.now() - t0), detail: ok ? 'drained and exited 0' : `exited with ${code}: ${lastLine(server.stderr())}` });
    if (!ok) report.failures.push(`SIGTERM: exited with ${code}`);
    report.ok = report.failures.length === 0;
  }
  report.ok = report.failures.length === 0;
  return report;
}
