/**
 * `buildBundle`: a folder that serves one model with nothing but `node` — model.onnx, the serving
 * confs, config.yml, server.mjs and its server/ modules from templates/, one platform's onnxruntime, README.md and a
 * manifest with every file's sha256. Built in a temp sibling and renamed into place.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProgressEvent } from '../cli/context.js';
import { dtypeOfServingCode } from '../convert/serving-config.js';
import { PserveError, fsError, withFile } from '../errors.js';
import { CLIENT_CONF, CLIENT_CONF_STREAM, SERVER_CONF, SERVER_CONF_STREAM, parseServingConf, typeCodeOf, varsOf, type ServingVarKind } from '../formats/serving-conf.js';
import { kserveDatatype } from '../model/dtype.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import type { TensorSpec } from '../model/types.js';
import { writeDirAtomic } from '../util/atomic.js';
import { renderConfigYml } from './config-yml.js';
import { MANIFEST, fileEntries, manifestHead, manifestText, sha256File, type BundleManifest, type BundleTensor } from './manifest.js';
import { copyGrpc, copyRuntime, currentPlatform } from './runtime-files.js';

export type BundleDevice = 'cpu' | 'gpu' | 'webgpu' | 'auto';

export interface BundleOptions {
  servingServer: string;
  servingClient?: string;
  /** an ONNX file to use as is; absent: convert the Paddle model in servingServer */
  onnx?: string;
  out: string;
  name?: string;
  port?: number;
  device?: BundleDevice;
  platform?: string;
  modelFilename?: string;
  paramsFilename?: string;
  /** replace an existing output directory */
  force?: boolean;
}

export interface BundleReport {
  out: string;
  name: string;
  platform: string;
  onnx: { from: 'converted' | 'given'; size: number; sha256: string };
  files: number;
  bytes: number;
  runtimeBytes: number;
  feeds: BundleTensor[];
  fetches: BundleTensor[];
}

export type Progress = (e: ProgressEvent) => void;

export const TEMPLATES_DIR = new URL('../../templates/', import.meta.url);

export function pserveVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** a service name goes into URLs and YAML keys */
export function defaultBundleName(servingServer: string): string {
  const abs = resolve(servingServer);
  let base = basename(abs);
  if (/^serving_server$/i.test(base)) base = basename(resolve(abs, '..'));
  base = base.replace(/(_serving|_server|_model|_serving_server)$/i, '').replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[._-]+/, '');
  return base || 'model';
}

export function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new PserveError('E_USAGE', `--name "${name}": use 1-64 letters, digits, '_', '.' or '-' (it becomes the URL /${name}/prediction)`, { kind: 'usage' });
  }
}

export function tensorsFrom(kind: ServingVarKind, confVars: ReturnType<typeof varsOf>, program: TensorSpec[] | undefined): BundleTensor[] {
  return confVars.map((v) => {
    const name = v.name ?? '';
    const servingShape = v.shape ?? [];
    const spec = program?.find((t) => t.name === name);
    const code = typeCodeOf(v, kind);
    return {
      name,
      alias: v.alias_name || name,
      dtype: spec?.dtype ?? (code === undefined ? 'float32' : dtypeOfServingCode(code)),
      shape: spec ? spec.shape.slice() : [-1, ...servingShape],
      servingShape,
      lodLevel: v.is_lod_tensor === true ? 1 : 0,
    };
  });
}

export function readConf(dir: string, file: string): { text: string; conf: ReturnType<typeof parseServingConf> } {
  const p = join(dir, file);
  let text: string;
  try { text = readFileSync(p, 'utf8'); } catch (e) {
    const err = fsError(e, p, 'serving conf');
    throw new PserveError(err.code === 'E_NOT_FOUND' ? 'E_SERVING_CONF_MISSING' : err.code, `${err.message}: --serving_server must be a folder written by pserve convert or paddle_serving_client.convert`, { file: p });
  }
  try {
    return { text, conf: parseServingConf(text) };
  } catch (e) {
    throw withFile(e, p);
  }
}

export async function buildBundle(opts: BundleOptions, progress: Progress = () => {}): Promise<BundleReport> {
  const servingServer = resolve(opts.servingServer);
  if (!existsSync(servingServer) || !statSync(servingServer).isDirectory()) {
    throw new PserveError('E_NOT_FOUND', '--serving_server folder not found', { file: servingServer });
  }
  const out = resolve(opts.out);
  for (const [flag, dir] of [['--serving_server', servingServer], ['--serving_client', opts.servingClient ? resolve(opts.servingClient) : undefined]] as const) {
    if (dir && (out === dir || out.startsWith(`${dir}${sep}`))) {
      throw new PserveError('E_USAGE', `--out must be outside ${flag} (the bundle copies that folder)`, { kind: 'usage', file: out });
    }
  }
  const name = opts.name ?? defaultBundleName(servingServer);
  checkName(name);
  const platform = opts.platform ?? currentPlatform();
  const device = opts.device ?? 'cpu';
  const port = opts.port ?? 9393;
  const { text: serverConfText, conf } = readConf(servingServer, SERVER_CONF);
  const feedsConf = varsOf(conf, 'feed');
  const fetchesConf = varsOf(conf, 'fetch');
  if (feedsConf.length === 0 || fetchesConf.length === 0) {
    throw new PserveError('E_SERVING_CONF_INVALID', `the serving conf has ${feedsConf.length} feed_var and ${fetchesConf.length} fetch_var blocks; a bundle needs at least one of each`, { file: join(servingServer, SERVER_CONF) });
  }
  let clientText = serverConfText;
  if (opts.servingClient) clientText = readConf(resolve(opts.servingClient), CLIENT_CONF).text;
  if (opts.onnx && !existsSync(opts.onnx)) throw new PserveError('E_NOT_FOUND', '--onnx file not found', { file: resolve(opts.onnx) });

  // the Paddle model beside the conf: full shapes for the manifest, and the source of the ONNX
  let model: LoadedModel | undefined;
  try {
    model = loadModel(servingServer, { modelFilename: opts.modelFilename, paramsFilename: opts.paramsFilename, params: opts.onnx ? 'skip' : 'require' });
  } catch (e) {
    if (!opts.onnx) throw e;
  }
  const feeds = tensorsFrom('feed', feedsConf, model?.feeds);
  const fetches = tensorsFrom('fetch', fetchesConf, model?.fetches);
  if (opts.onnx) {
    // a given model is checked before anything is written: it loads, and matches the conf
    const { checkGivenOnnx } = await import('./check-onnx.js');
    await checkGivenOnnx(resolve(opts.onnx), feeds, fetches);
  }
  const version = pserveVersion();
  const templates = fileURLToPath(TEMPLATES_DIR);

  const report = await writeDirAtomic(out, (tmp) => build(tmp).catch((e: unknown) => {
    // a full disk or a permission problem while copying is the user's to fix, not a bug
    throw e instanceof PserveError ? e : fsError(e, out, 'writing the bundle');
  }), { replace: opts.force === true });
  return report;

  async function build(tmp: string): Promise<BundleReport> {
    // model.onnx
    let onnxFrom: 'converted' | 'given';
    if (opts.onnx) {
      progress({ id: 'onnx', phase: 'start', text: `copying ${opts.onnx}` });
      copyFileSync(resolve(opts.onnx), join(tmp, 'model.onnx'));
      const ext = `${resolve(opts.onnx)}.data`;
      if (existsSync(ext)) copyFileSync(ext, join(tmp, 'model.onnx.data'));
      onnxFrom = 'given';
    } else {
      progress({ id: 'onnx', phase: 'start', text: `converting ${relative(process.cwd(), servingServer) || '.'} to ONNX` });
      const { convertToOnnx } = await import('../convert/onnx/index.js');
      await convertToOnnx(servingServer, { model, saveFile: join(tmp, 'model.onnx'), externalDataName: 'model.onnx.data' });
      onnxFrom = 'converted';
    }
    progress({ id: 'onnx', phase: 'done', text: `model.onnx (${onnxFrom})` });

    // serving_server/ as given (model, params, confs, inference.yml ...); serving_client/
    progress({ id: 'files', phase: 'start', text: 'writing serving confs, config.yml, server.mjs, README.md' });
    cpSync(servingServer, join(tmp, 'serving_server'), { recursive: true, dereference: false, errorOnExist: true, force: false });
    const clientDir = join(tmp, 'serving_client');
    mkdirSync(clientDir);
    writeFileSync(join(clientDir, CLIENT_CONF), clientText);
    const streamSrc = opts.servingClient && existsSync(join(opts.servingClient, CLIENT_CONF_STREAM))
      ? join(opts.servingClient, CLIENT_CONF_STREAM) : join(servingServer, SERVER_CONF_STREAM);
    if (existsSync(streamSrc)) copyFileSync(streamSrc, join(clientDir, CLIENT_CONF_STREAM));

    writeFileSync(join(tmp, 'config.yml'), renderConfigYml({ name, port, device, fetchAliases: fetches.map((f) => f.alias), pserveVersion: version }));
    copyServer(templates, tmp, version);
    progress({ id: 'files', phase: 'done', text: 'serving confs, config.yml, server.mjs' });

    progress({ id: 'runtime', phase: 'start', text: `copying onnxruntime-node for ${platform}` });
    const runtime = copyRuntime(tmp, platform);
    // the gRPC library (pure JavaScript) for the rpc_port
    runtime.files += copyGrpc(tmp).files;
    progress({ id: 'runtime', phase: 'done', text: `onnxruntime-node ${runtime.version} for ${platform}: ${runtime.files} files`, bytes: runtime.bytes });

    writeFileSync(join(tmp, 'README.md'), renderReadme(readFileSync(join(templates, 'README.md'), 'utf8'), { name, port, platform, version, ortVersion: runtime.version, feeds, fetches }));

    progress({ id: 'manifest', phase: 'start', text: 'hashing files for manifest.json' });
    const files = fileEntries(tmp);
    const onnxEntry = files.find((f) => f.path === 'model.onnx')!;
    const src = (f: string | null | undefined) => {
      if (!f || !existsSync(f)) return null;
      const rel = relative(servingServer, f).split('\\').join('/');
      // files inside serving_server/ were just copied and hashed for the manifest: no second read
      const copied = files.find((e) => e.path === `serving_server/${rel}`);
      return { file: rel, sha256: copied?.sha256 ?? sha256File(f) };
    };
    const manifest: BundleManifest = {
      ...manifestHead(name, version),
      // base names only: the same sources give the same manifest (and archive) from any folder;
      // the sha256 of each source file says which sources they were
      createdFrom: {
        servingServer: basename(servingServer),
        model: src(model?.modelFile),
        params: src(model?.paramsFile),
        onnx: { from: onnxFrom, ...(opts.onnx ? { file: basename(opts.onnx) } : {}), sha256: onnxEntry.sha256 },
      },
      feeds,
      fetches,
      runtime: { name: 'onnxruntime-node', version: runtime.version, platform, node: '>=20' },
      server: { entry: 'server.mjs', port, device },
      files,
    };
    writeFileSync(join(tmp, MANIFEST), manifestText(manifest));
    progress({ id: 'manifest', phase: 'done', text: `manifest.json: ${files.length} files` });
    return {
      out,
      name,
      platform,
      onnx: { from: onnxFrom, size: onnxEntry.size, sha256: onnxEntry.sha256 },
      files: files.length + 1,
      bytes: files.reduce((s, f) => s + f.size, 0),
      runtimeBytes: runtime.bytes,
      feeds,
      fetches,
    } satisfies BundleReport;
  }
}

/**
 * The server from templates/: server.mjs (with pserve's version) and every module of server/
 * beside it (sub-folders too, with the wire protocols' .proto files for clients to compile), in
 * the same relative layout, so `node server.mjs` finds its imports in the bundle.
 */
export function copyServer(templates: string, dest: string, version: string): void {
  writeFileSync(join(dest, 'server.mjs'), readFileSync(join(templates, 'server.mjs'), 'utf8').replace('__PSERVE_VERSION__', version));
  const copyDir = (from: string, to: string): void => {
    mkdirSync(to);
    for (const n of readdirSync(from).sort()) {
      const s = join(from, n);
      if (statSync(s).isDirectory()) copyDir(s, join(to, n));
      else if (n.endsWith('.mjs') || n.endsWith('.proto')) copyFileSync(s, join(to, n));
    }
  };
  copyDir(join(templates, 'server'), join(dest, 'server'));
}

interface ReadmeVars { name: string; port: number; platform: string; version: string; ortVersion: string; feeds: BundleTensor[]; fetches: BundleTensor[] }

/** One example value per element, shaped as the tensor with unknown dims set to 1 (a sketch for the README). */
function exampleValue(t: BundleTensor): { nested: unknown; flat: number[]; shape: number[] } {
  const shape = t.shape.map((d) => (d < 0 ? 1 : d));
  const n = shape.reduce((a, b) => a * b, 1);
  const small = n <= 16;
  const flat = Array.from({ length: small ? n : 0 }, () => (t.dtype.startsWith('float') ? 0.5 : 1));
  let nested: unknown = flat;
  for (let d = shape.length - 1; d >= 1 && small; d--) {
    const rows: unknown[] = [];
    const arr = nested as unknown[];
    for (let i = 0; i < arr.length; i += shape[d]!) rows.push(arr.slice(i, i + shape[d]!));
    nested = rows;
  }
  return { nested: small ? nested : '...', flat, shape };
}

export function renderReadme(template: string, v: ReadmeVars): string {
  const rows = [
    ...v.feeds.map((t) => `| feed | \`${t.alias}\` | \`${t.name}\` | ${t.dtype} | [${t.shape.join(', ')}] |`),
    ...v.fetches.map((t) => `| fetch | \`${t.alias}\` | \`${t.name}\` | ${t.dtype} | [${t.shape.join(', ')}] |`),
  ];
  const web = { feed: [Object.fromEntries(v.feeds.map((t) => [t.alias, (exampleValue(t).nested as unknown[])[0] ?? '...']))], fetch: v.fetches.map((t) => t.alias) };
  const pipe = { key: v.feeds.map((t) => t.alias), value: v.feeds.map((t) => JSON.stringify(exampleValue(t).nested)) };
  const kserve = { inputs: v.feeds.map((t) => { const e = exampleValue(t); return { name: t.alias, shape: e.shape, datatype: kserveDatatype(t.dtype) ?? t.dtype.toUpperCase(), data: e.flat.length ? e.flat : '...' }; }) };
  const vars: Record<string, string> = {
    NAME: v.name, PORT: String(v.port), PLATFORM: v.platform, PSERVE_VERSION: v.version, ORT_VERSION: v.ortVersion,
    RUNTIME: `onnxruntime-node ${v.ortVersion}`, TENSORS: rows.join('\n'),
    EXAMPLE_WEB: JSON.stringify(web), EXAMPLE_PIPELINE: JSON.stringify(pipe), EXAMPLE_KSERVE: JSON.stringify(kserve),
  };
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (m, k: string) => vars[k] ?? m);
}
