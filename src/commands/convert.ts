/**
 * `pserve convert`: what `python -m paddle_serving_client.convert` does, same flags, same files.
 * The model and params files are copied unchanged (Paddle Serving re-saves the program; we do not).
 * Everything is checked before anything is written, and each output directory is built in a
 * temporary sibling and renamed into place, so a failure or a kill leaves no partial directory.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { constants as fsConstants, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { CommandContext, CommandResult } from '../cli/context.js';
import { bytesHuman, shapeStr, table } from '../cli/render.js';
import { toServingConfig, varReport, type ServingVarReport } from '../convert/serving-config.js';
import { PserveError, fsError } from '../errors.js';
import {
  CLIENT_CONF, CLIENT_CONF_STREAM, SERVER_CONF, SERVER_CONF_STREAM, encodeServingConf, printServingConf,
  type GeneralModelConfig,
} from '../formats/serving-conf.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { parseOptions, z } from './options.js';

const flag = z.preprocess((v) => {
  if (v === undefined || v === true || v === false) return v ?? false;
  const s = String(v).toLowerCase();
  if (['true', '1', 'yes'].includes(s)) return true;
  if (['false', '0', 'no'].includes(s)) return false;
  return v;
}, z.boolean({ message: 'expected true or false' }));

const Options = z.object({
  dirname: z.string({ message: 'is required (the model directory)' }).min(1),
  model_filename: z.string().min(1).optional(),
  params_filename: z.string().min(1).optional(),
  serving_server: z.string().min(1).default('serving_server'),
  serving_client: z.string().min(1).default('serving_client'),
  feed_alias_names: z.string().optional(),
  fetch_alias_names: z.string().optional(),
  show_proto: flag.default(false),
});

export interface ConvertReport {
  showProto: boolean;
  model: string;
  serverDir: string | null;
  clientDir: string | null;
  /** the server directory is the model's own: only conf files were written there */
  inPlace: boolean;
  /** model files copied unchanged: name in the model folder, absolute path where it now is */
  copied: { name: string; file: string; bytes: number }[];
  written: string[];
  feeds: ServingVarReport[];
  fetches: ServingVarReport[];
  warnings: string[];
  /** the conf text (what --show_proto prints) */
  prototxt: string;
}

function splitAliases(s: string | undefined): string[] | undefined {
  return s === undefined ? undefined : s.split(',');
}

/** The real path of an existing path; a path that does not exist yet keeps its parent's real path. */
function real(p: string): string {
  try { return realpathSync(p); } catch { /* not there yet */ }
  const parent = dirname(p);
  return parent === p ? p : join(real(parent), basename(p));
}

function isWithin(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !r.startsWith(sep) && r !== '..');
}

/** The files that make up the model, relative to its directory, in copy order. */
function modelFiles(m: LoadedModel, dir: string): string[] {
  const files = [basename(m.modelFile)];
  if (m.paramsLayout === 'combined' && m.paramsFile) files.push(basename(m.paramsFile));
  if (m.paramsLayout === 'separate') {
    for (const name of m.paramNames) {
      const p = resolve(dir, name);
      // a variable name is untrusted input: it must not lead out of the model directory
      if (!isWithin(p, dir) || p === dir) throw new PserveError('E_PARAM_NAME_UNSAFE', `parameter name ${JSON.stringify(name)} would point outside the model directory`, { file: m.modelFile });
      files.push(relative(dir, p));
    }
  }
  return files;
}

/** An existing output directory may be replaced only when it holds nothing but a previous conversion. */
function checkOutputDir(dir: string, role: '--serving_server' | '--serving_client', modelDir: string): void {
  if (!existsSync(dir)) return;
  let st;
  try { st = statSync(dir); } catch (e) { throw fsError(e, dir, role); }
  if (!st.isDirectory()) throw new PserveError('E_NOT_DIR', `${role} exists and is not a directory`, { file: dir, hint: 'choose another path' });
  if (isWithin(modelDir, dir) && dir !== modelDir) {
    throw new PserveError('E_OUTPUT_CONTAINS_MODEL', `${role} contains the model directory; replacing it would delete the model`, { file: dir });
  }
  if (dir === modelDir) return;
  let entries: string[];
  try { entries = readdirSync(dir); } catch (e) { throw fsError(e, dir, role); }
  const looksServing = entries.length === 0 || entries.some((e) => [SERVER_CONF, SERVER_CONF_STREAM, CLIENT_CONF, CLIENT_CONF_STREAM].includes(e));
  if (!looksServing) {
    throw new PserveError('E_EXISTS', `${role} exists and does not hold a Paddle Serving conf; refusing to replace it`, { file: dir, hint: 'remove it or choose another directory' });
  }
}

export async function convertModel(o: z.infer<typeof Options>, ctx: CommandContext): Promise<ConvertReport> {
  const cwd = ctx.cwd;
  const modelPath = resolve(cwd, o.dirname);
  const feedAliases = splitAliases(o.feed_alias_names);
  const fetchAliases = splitAliases(o.fetch_alias_names);

  // --show_proto needs the program only: the params are neither read nor looked for
  const model = loadModel(modelPath, {
    modelFilename: o.model_filename,
    paramsFilename: o.show_proto ? undefined : o.params_filename,
    params: o.show_proto ? 'skip' : 'require',
  });
  const conf: GeneralModelConfig = toServingConfig(model, { feedAliases, fetchAliases });
  const text = printServingConf(conf);
  const report: ConvertReport = {
    showProto: o.show_proto,
    model: model.modelFile,
    serverDir: null,
    clientDir: null,
    inPlace: false,
    copied: [],
    written: [],
    feeds: (conf.feed_var ?? []).map((v) => varReport(v, 'feed')),
    fetches: (conf.fetch_var ?? []).map((v) => varReport(v, 'fetch')),
    warnings: [...model.warnings],
    prototxt: text,
  };
  if (o.show_proto) return report;

  // compare real paths: a symlinked model dir given as --serving_server is still the in-place case
  const modelDir = real(resolve(dirname(model.modelFile)));
  const serverDir = real(resolve(cwd, o.serving_server));
  const clientDir = real(resolve(cwd, o.serving_client));
  checkOutputDir(serverDir, '--serving_server', modelDir);
  checkOutputDir(clientDir, '--serving_client', modelDir);
  const files = modelFiles(model, modelDir);
  const sizes = files.map((f) => { try { return statSync(join(modelDir, f)).size; } catch (e) { throw fsError(e, join(modelDir, f), 'model file'); } });
  const binary = encodeServingConf(conf);
  const serverInPlace = serverDir === modelDir;
  const clientInPlace = clientDir === modelDir;
  const sameDir = serverDir === clientDir;
  report.serverDir = serverDir;
  report.clientDir = clientDir;
  report.inPlace = serverInPlace;

  const writeConfs = async (dir: string, role: 'server' | 'client', atomicEach: boolean): Promise<void> => {
    const pair: [string, string | Uint8Array][] = role === 'server'
      ? [[SERVER_CONF, text], [SERVER_CONF_STREAM, binary]]
      : [[CLIENT_CONF, text], [CLIENT_CONF_STREAM, binary]];
    for (const [name, body] of pair) {
      const dest = join(dir, name);
      try {
        if (atomicEach) await writeFileAtomic(dest, (tmp) => writeFile(tmp, body));
        else await writeFile(dest, body);
      } catch (e) {
        throw e instanceof PserveError ? e : fsError(e, dest, 'serving conf');
      }
    }
  };

  const copyModel = async (tmp: string): Promise<void> => {
    const total = sizes.reduce((a, b) => a + b, 0);
    ctx.progress({ id: 'convert:copy', phase: 'start', text: `copying ${files.length} model file${files.length === 1 ? '' : 's'}`, total });
    let done = 0;
    // one copy at a time: the kernel copies each file (copy_file_range), nothing passes through memory here
    for (let i = 0; i < files.length; i++) {
      const from = join(modelDir, files[i]!);
      const to = join(tmp, files[i]!);
      try {
        if (files[i]!.includes(sep)) await mkdir(dirname(to), { recursive: true });
        // a reflink where the filesystem can (btrfs, XFS): instant and no extra space; else a kernel copy
        await copyFile(from, to, fsConstants.COPYFILE_FICLONE);
      } catch (e) {
        throw fsError(e, from, 'copying model file');
      }
      done += sizes[i]!;
      report.copied.push({ name: files[i]!, file: join(serverDir, files[i]!), bytes: sizes[i]! });
      ctx.progress({ id: 'convert:copy', phase: 'progress', text: files[i]!, bytes: done, total });
    }
    ctx.progress({ id: 'convert:copy', phase: 'done', text: `copied ${files.length} model file${files.length === 1 ? '' : 's'}`, bytes: done, total });
  };

  const buildClient = async (): Promise<void> => {
    if (sameDir) return; // written with the server confs
    if (clientInPlace) { await writeConfs(clientDir, 'client', true); return; }
    await writeDirAtomic(clientDir, (tmp) => writeConfs(tmp, 'client', false), { replace: true });
  };

  if (serverInPlace) {
    await writeConfs(serverDir, 'server', true);
    if (sameDir) await writeConfs(serverDir, 'client', true);
    await buildClient();
  } else {
    await writeDirAtomic(serverDir, async (tmp) => {
      await copyModel(tmp);
      await writeConfs(tmp, 'server', false);
      if (sameDir) await writeConfs(tmp, 'client', false);
      // the client dir goes in last, just before the server dir is renamed into place
      await buildClient();
    }, { replace: true });
  }
  report.written = [
    ...(serverInPlace ? [] : files.map((f) => join(serverDir, f))),
    join(serverDir, SERVER_CONF), join(serverDir, SERVER_CONF_STREAM),
    join(clientDir, CLIENT_CONF), join(clientDir, CLIENT_CONF_STREAM),
  ];
  return report;
}

export function renderConvert(r: ConvertReport, cwd: string): string {
  const rel = (p: string) => relative(cwd, p) || '.';
  const lines: string[] = [];
  lines.push(`model    ${rel(r.model)}`);
  lines.push(`server   ${rel(r.serverDir!)}${r.inPlace ? ' (the model directory: conf files only, model files untouched)' : ''}`);
  lines.push(`client   ${rel(r.clientDir!)}`);
  if (r.copied.length) lines.push(`copied   ${r.copied.length} file${r.copied.length === 1 ? '' : 's'}, ${bytesHuman(r.copied.reduce((a, c) => a + c.bytes, 0))} (unchanged)`);
  lines.push('');
  const rows = [
    ...r.feeds.map((v, i) => ['feed', i, v.name, v.alias, `${v.type} ${v.dtype}`, v.lodLevel ? 'yes' : 'no', shapeStr(v.shape)]),
    ...r.fetches.map((v, i) => ['fetch', i, v.name, v.alias, `${v.type} ${v.dtype}`, v.lodLevel ? 'yes' : 'no', shapeStr(v.shape)]),
  ];
  lines.push(table(['kind', '#', 'name', 'alias', 'type', 'lod', 'shape'], rows));
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<ConvertReport>> {
  const o = parseOptions(Options, opts, 'convert');
  const report = await convertModel(o, ctx);
  // --show_proto prints exactly the conf text, like Paddle Serving
  return { data: report, text: o.show_proto ? report.prototxt : renderConvert(report, ctx.cwd) };
}
