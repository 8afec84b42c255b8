/**
 * `pserve alias set <feed|fetch> <alias>` and `pserve alias list`: the alias_name hand edit that
 * deployment guides ask for, done in all four conf files at once (server and client, text and
 * binary). Only that one alias changes: text files are edited in place (comments, order and line
 * endings survive), binary files are decoded and re-encoded byte-exactly. Files that disagree
 * with each other are reported; `set` refuses to edit them unless --force.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { MANIFEST, bundleMismatchError, manifestText, readManifest, verifyBundle, type BundleManifest } from '../bundle/manifest.js';
import type { CommandContext, CommandResult } from '../cli/context.js';
import { shapeStr, table } from '../cli/render.js';
import { checkAliasName, varReport, type ServingVarReport } from '../convert/serving-config.js';
import { PserveError, fsError, withFile } from '../errors.js';
import {
  CLIENT_CONF, CLIENT_CONF_STREAM, SERVER_CONF, SERVER_CONF_STREAM, decodeServingConf, diffServingConf, encodeServingConf,
  parseServingConf, replaceAliasInText, varsOf, type GeneralModelConfig, type ServingVarKind,
} from '../formats/serving-conf.js';
import { removeStaleTemps, tempSibling } from '../util/atomic.js';
import { parseOptions, z } from './options.js';

const Options = z.object({
  action: z.enum(['set', 'list'], { message: 'expected set or list (pserve alias set <feed|fetch> <alias> | pserve alias list)' }),
  kind: z.enum(['feed', 'fetch'], { message: 'expected feed or fetch (pserve alias set <feed|fetch> <alias>)' }).optional(),
  alias: z.string().optional(),
  var: z.string().min(1).optional(),
  index: z.string().regex(/^\d+$/, 'expected a var index (0, 1, ...)').transform(Number).optional(),
  serving_server: z.string().min(1).optional(),
  serving_client: z.string().min(1).optional(),
  force: z.boolean().default(false),
}).superRefine((o, c) => {
  if (o.action === 'set') {
    if (o.kind === undefined) c.addIssue({ code: 'custom', path: ['kind'], message: 'is required (pserve alias set <feed|fetch> <alias>)' });
    else if (o.alias === undefined) c.addIssue({ code: 'custom', path: ['alias'], message: 'is required (pserve alias set <feed|fetch> <alias>)' });
    if (o.var !== undefined && o.index !== undefined) c.addIssue({ code: 'custom', path: ['var'], message: 'give --var or --index, not both' });
  } else {
    if (o.kind !== undefined || o.alias !== undefined) c.addIssue({ code: 'custom', path: ['action'], message: 'alias list takes no further arguments' });
    if (o.var !== undefined || o.index !== undefined) c.addIssue({ code: 'custom', path: ['var'], message: '--var and --index are for alias set' });
  }
});

type Opts = z.infer<typeof Options>;

/** Real confs are under 2 KB; anything this large is not one. */
const MAX_CONF_BYTES = 16 << 20;

/** One conf file as found on disk. */
interface ConfFile {
  role: 'server' | 'client';
  form: 'text' | 'binary';
  path: string;
  raw: Uint8Array;
  conf: GeneralModelConfig;
}

function readConf(role: ConfFile['role'], form: ConfFile['form'], path: string): ConfFile | undefined {
  if (!existsSync(path)) return undefined;
  let raw: Uint8Array;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new PserveError('E_IS_DIR', 'serving conf is a directory, expected a file', { file: path });
    if (st.size > MAX_CONF_BYTES) throw new PserveError('E_SERVING_CONF_TOO_LARGE', `serving conf is ${st.size} bytes, above the limit of ${MAX_CONF_BYTES} (real ones are a few hundred bytes)`, { file: path });
    raw = readFileSync(path);
  } catch (e) { throw e instanceof PserveError ? e : fsError(e, path, 'serving conf'); }
  try {
    const conf = form === 'text' ? parseServingConf(new TextDecoder('utf-8', { fatal: true }).decode(raw)) : decodeServingConf(raw, 'serving conf');
    return { role, form, path, raw, conf };
  } catch (e) {
    if (e instanceof TypeError) throw new PserveError('E_SERVING_CONF_INVALID', 'serving conf text is not valid UTF-8', { file: path });
    throw withFile(e, path);
  }
}

interface ConfSet {
  serverDir: string;
  clientDir: string | null;
  files: ConfFile[];
  warnings: string[];
}

function readConfDir(dir: string, role: ConfFile['role'], explicit: boolean, flag: string): ConfFile[] | null {
  if (!existsSync(dir)) {
    if (!explicit && role === 'client') return null;
    throw new PserveError('E_NOT_FOUND', `${flag} directory not found`, { file: dir, hint: role === 'server' && !explicit ? 'run pserve convert first, or give --serving_server' : undefined });
  }
  if (!statSync(dir).isDirectory()) throw new PserveError('E_NOT_DIR', `${flag} is not a directory`, { file: dir });
  const [t, b] = role === 'server' ? [SERVER_CONF, SERVER_CONF_STREAM] : [CLIENT_CONF, CLIENT_CONF_STREAM];
  const files = [readConf(role, 'text', join(dir, t)), readConf(role, 'binary', join(dir, b))].filter((f): f is ConfFile => f !== undefined);
  if (files.length === 0) throw new PserveError('E_NO_SERVING_CONF', `no ${t} or ${b} in ${flag}`, { file: dir });
  return files;
}

function loadConfSet(o: Opts, cwd: string): ConfSet {
  const serverDir = resolve(cwd, o.serving_server ?? 'serving_server');
  const clientDir = resolve(cwd, o.serving_client ?? 'serving_client');
  const warnings: string[] = [];
  const server = readConfDir(serverDir, 'server', o.serving_server !== undefined, '--serving_server')!;
  const client = readConfDir(clientDir, 'client', o.serving_client !== undefined, '--serving_client');
  if (client === null) warnings.push(`no client directory at ${relative(cwd, clientDir) || '.'}: only the server conf is read`);
  const files = [...server, ...(client ?? [])];
  for (const f of files) if (f.form === 'text' && !files.some((g) => g.role === f.role && g.form === 'binary')) warnings.push(`${relative(cwd, f.path)} has no binary .stream.prototxt beside it`);
  return { serverDir, clientDir: client ? clientDir : null, files, warnings };
}

/** Every pair that disagrees with the first file, named. */
function disagreements(set: ConfSet, cwd: string): string[] {
  const [ref, ...rest] = set.files;
  const out: string[] = [];
  for (const f of rest) {
    const d = diffServingConf(ref!.conf, f.conf);
    if (d.length) out.push(`${relative(cwd, f.path)} disagrees with ${relative(cwd, ref!.path)}: ${d.join('; ')}`);
  }
  return out;
}

export interface AliasListReport {
  serverDir: string;
  clientDir: string | null;
  files: string[];
  feeds: (ServingVarReport & { index: number })[];
  fetches: (ServingVarReport & { index: number })[];
  warnings: string[];
}

export interface AliasSetReport {
  kind: ServingVarKind;
  index: number;
  name: string;
  from: string;
  to: string;
  changed: string[];
  warnings: string[];
  /** the bundle whose config.yml, README.md and manifest.json were kept in step */
  bundle?: string;
}

function listing(set: ConfSet, cwd: string): AliasListReport {
  const conf = set.files[0]!.conf;
  return {
    serverDir: set.serverDir,
    clientDir: set.clientDir,
    files: set.files.map((f) => f.path),
    feeds: varsOf(conf, 'feed').map((v, index) => ({ index, ...varReport(v, 'feed') })),
    fetches: varsOf(conf, 'fetch').map((v, index) => ({ index, ...varReport(v, 'fetch') })),
    warnings: [...set.warnings, ...disagreements(set, cwd)],
  };
}

function renderList(r: AliasListReport, cwd: string): string {
  const rows = [
    ...r.feeds.map((v) => ['feed', v.index, v.name, v.alias, v.dtype, shapeStr(v.shape), v.lodLevel ? 'yes' : 'no']),
    ...r.fetches.map((v) => ['fetch', v.index, v.name, v.alias, v.dtype, shapeStr(v.shape), v.lodLevel ? 'yes' : 'no']),
  ];
  const lines = [`server   ${relative(cwd, r.serverDir) || '.'}`, `client   ${r.clientDir ? relative(cwd, r.clientDir) || '.' : '(none)'}`, '', table(['kind', '#', 'name', 'alias', 'type', 'shape', 'lod'], rows)];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

function candidates(set: ConfSet, kind: ServingVarKind): string {
  return varsOf(set.files[0]!.conf, kind).map((v, i) => `${i} ${v.name} (alias ${v.alias_name})`).join(', ');
}

interface SetOpts { kind: ServingVarKind; alias: string; var?: string; index?: number; force: boolean }

type ReadmeTools = Pick<typeof import('../bundle/build-bundle.js'), 'TEMPLATES_DIR' | 'renderReadme'>;

function setAlias(o: SetOpts, set: ConfSet, cwd: string, readmeTools?: ReadmeTools): AliasSetReport {
  checkAliasName(o.alias, o.kind);
  const diffs = disagreements(set, cwd);
  if (diffs.length && !o.force) {
    throw new PserveError('E_CONF_MISMATCH', `the serving confs disagree, so it is unclear which to edit: ${diffs.join(' | ')}`, { hint: 'fix the files, or pass --force to change the alias at the same position in every file' });
  }
  const ref = set.files[0]!;
  const vars = varsOf(ref.conf, o.kind);
  let index: number;
  if (o.index !== undefined) {
    if (o.index >= vars.length) throw new PserveError('E_VAR_NOT_FOUND', `no ${o.kind} var number ${o.index}; the ${o.kind} vars are: ${candidates(set, o.kind) || '(none)'}`, { file: ref.path });
    index = o.index;
  } else if (o.var !== undefined) {
    index = vars.findIndex((v) => v.name === o.var);
    if (index < 0) throw new PserveError('E_VAR_NOT_FOUND', `no ${o.kind} var named ${JSON.stringify(o.var)}; the ${o.kind} vars are: ${candidates(set, o.kind) || '(none)'}`, { file: ref.path });
  } else if (vars.length === 1) {
    index = 0;
  } else if (vars.length === 0) {
    throw new PserveError('E_VAR_NOT_FOUND', `the conf has no ${o.kind} vars`, { file: ref.path });
  } else {
    throw new PserveError('E_ALIAS_AMBIGUOUS', `the model has ${vars.length} ${o.kind} vars; pick one with --var NAME or --index N: ${candidates(set, o.kind)}`, { file: ref.path });
  }
  const target = vars[index]!;
  const clash = vars.findIndex((v, i) => i !== index && v.alias_name === o.alias);
  if (clash >= 0) {
    throw new PserveError('E_ALIAS_DUPLICATE', `${o.kind} var ${vars[clash]!.name} already has alias ${JSON.stringify(o.alias)}; aliases must be unique`, { file: ref.path });
  }

  // every new file body first, then the renames: a failure before the renames changes nothing
  const bodies = set.files.map((f) => {
    if (varsOf(f.conf, o.kind).length <= index) {
      throw new PserveError('E_CONF_MISMATCH', `${relative(cwd, f.path)} has no ${o.kind}_var number ${index}`, { file: f.path });
    }
    try {
      if (f.form === 'text') return new TextEncoder().encode(replaceAliasInText(new TextDecoder().decode(f.raw), o.kind, index, o.alias));
      const conf = decodeServingConf(f.raw, 'serving conf');
      varsOf(conf, o.kind)[index]!.alias_name = o.alias;
      return encodeServingConf(conf);
    } catch (e) { throw withFile(e, f.path); }
  });
  const writes = set.files.map((f, i) => ({ path: f.path, body: bodies[i]!, raw: f.raw, what: 'serving conf' }));
  const warnings = [...set.warnings, ...(diffs.length ? diffs.map((d) => `forced past: ${d}`) : [])];
  // inside a bundle, config.yml (fetch_list), README.md and manifest.json name the alias and hash
  // the confs: they change with them, or the bundle would refuse to start
  const bundle = readmeTools ? bundleRoot(set.serverDir) : undefined;
  if (bundle) writes.push(...bundleWrites(readmeTools!, bundle, o.kind, target.name ?? '', target.alias_name ?? '', o.alias, writes, o.force, warnings));
  const changed: string[] = [];
  const temps: string[] = [];
  const todo = writes.filter((w) => Buffer.compare(w.body, w.raw) !== 0);
  try {
    // every new body is written to a temp sibling first; only then are they renamed, manifest last
    for (const w of todo) {
      removeStaleTemps(w.path);
      const tmp = tempSibling(w.path);
      temps.push(tmp);
      try { writeFileSync(tmp, w.body); } catch (e) { throw fsError(e, w.path, w.what); }
    }
    todo.forEach((w, t) => {
      try { renameSync(temps[t]!, w.path); } catch (e) { throw fsError(e, w.path, w.what); }
      changed.push(w.path);
    });
  } finally {
    for (const tmp of temps) rmSync(tmp, { force: true });
  }
  return { kind: o.kind, index, name: target.name ?? '', from: target.alias_name ?? '', to: o.alias, changed, warnings, ...(bundle ? { bundle } : {}) };
}

/** The bundle folder when `serverDir` is a bundle's serving_server/ (manifest.json beside it). */
function bundleRoot(serverDir: string): string | undefined {
  const root = dirname(serverDir);
  if (basename(serverDir) !== 'serving_server' || !existsSync(join(root, MANIFEST))) return undefined;
  return root;
}

interface PendingWrite { path: string; body: Uint8Array; raw: Uint8Array; what: string }

/** config.yml, README.md and manifest.json of a bundle, updated for a renamed alias and the new conf bodies. */
function bundleWrites({ TEMPLATES_DIR, renderReadme }: ReadmeTools, root: string, kind: ServingVarKind, name: string, from: string, to: string, confs: PendingWrite[], force: boolean, warnings: string[]): PendingWrite[] {
  const manifest = readManifest(root);
  const v = verifyBundle(root, manifest);
  if (!v.ok && !force) throw bundleMismatchError(root, v, 'rebuild the bundle, or pass --force to edit it anyway');
  const out: PendingWrite[] = [];
  const read = (rel: string): Uint8Array | undefined => { try { return readFileSync(join(root, rel)); } catch { return undefined; } };
  // config.yml: the fetch_list line names fetch aliases as JSON strings
  const cfgRaw = read('config.yml');
  if (cfgRaw && kind === 'fetch') {
    const text = Buffer.from(cfgRaw).toString('utf8');
    const next = text.replace(/^(\s*fetch_list:\s*\[)(.*)(\].*)$/m, (_m, a: string, list: string, b: string) =>
      `${a}${list.split(',').map((x) => (x.trim() === JSON.stringify(from) ? x.replace(JSON.stringify(from), JSON.stringify(to)) : x)).join(',')}${b}`);
    out.push({ path: join(root, 'config.yml'), body: Buffer.from(next), raw: cfgRaw, what: 'config.yml' });
  }
  const tensors = kind === 'feed' ? manifest.feeds : manifest.fetches;
  const before = JSON.parse(JSON.stringify({ feeds: manifest.feeds, fetches: manifest.fetches })) as Pick<BundleManifest, 'feeds' | 'fetches'>;
  for (const t of tensors) if (t.name === name && t.alias === from) t.alias = to;
  // README.md: rendered again only if it is still exactly what pserve wrote
  const readme = read('README.md');
  if (readme) {
    const template = readFileSync(new URL('README.md', TEMPLATES_DIR), 'utf8');
    const vars = { name: manifest.name, port: manifest.server.port, platform: manifest.runtime.platform, version: manifest.pserveVersion, ortVersion: manifest.runtime.version };
    if (renderReadme(template, { ...vars, ...before }) === Buffer.from(readme).toString('utf8')) {
      out.push({ path: join(root, 'README.md'), body: Buffer.from(renderReadme(template, { ...vars, feeds: manifest.feeds, fetches: manifest.fetches })), raw: readme, what: 'README.md' });
    } else {
      warnings.push('README.md was not written by this pserve version: it still shows the old alias');
    }
  }
  for (const w of [...confs, ...out]) {
    const rel = relative(root, w.path).split(sep).join('/');
    const entry = manifest.files.find((f) => f.path === rel);
    if (entry) { entry.size = w.body.length; entry.sha256 = createHash('sha256').update(w.body).digest('hex'); }
  }
  const manifestRaw = readFileSync(join(root, MANIFEST));
  out.push({ path: join(root, MANIFEST), body: Buffer.from(manifestText(manifest)), raw: manifestRaw, what: 'bundle manifest' });
  return out;
}

function renderSet(r: AliasSetReport, cwd: string): string {
  const lines = [r.changed.length === 0
    ? `${r.kind} ${r.name} already has alias ${r.to}: nothing changed`
    : `${r.kind} ${r.name}: alias ${r.from} -> ${r.to} in ${r.changed.map((p) => relative(cwd, p)).join(', ')}`];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<AliasListReport | AliasSetReport>> {
  const o = parseOptions(Options, opts, 'alias');
  const set = loadConfSet(o, ctx.cwd);
  if (o.action === 'list') {
    const r = listing(set, ctx.cwd);
    return { data: r, text: renderList(r, ctx.cwd) };
  }
  // the bundle's README renderer is loaded only when the confs are a bundle's
  const tools = bundleRoot(set.serverDir) ? await import('../bundle/build-bundle.js') : undefined;
  const r = setAlias({ kind: o.kind!, alias: o.alias!, var: o.var, index: o.index, force: o.force }, set, ctx.cwd, tools);
  return { data: r, text: renderSet(r, ctx.cwd) };
}
