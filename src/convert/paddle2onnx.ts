/**
 * The paddle2onnx engine: probe the executable (`-h`, `--version`), build the command line for the
 * flags that version has, stream its log, and map its failures. The flag mapping follows the
 * paddle2onnx 1.x (1.0-1.3) and 2.x (2.0) CLIs: --model_dir --model_filename --params_filename
 * --save_file --opset_version --enable_onnx_checker --enable_auto_update_opset (FORMATS.md section 7).
 *
 * Known failure modes, each an error and never a bad file at save_file:
 * - unsupported ops: a log line "...not supported yet, including a,b,..." then SIGABRT
 * - other crashes (SIGABRT/SIGSEGV), and exit 255 after a parse or export error
 * - exit 0 with an empty or unparsable .onnx (some parse failures do this)
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';
import { PserveError, fsError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import { writeFileAtomic } from '../util/atomic.js';
import { onnx } from './onnx/graph-builder.js';

export interface Paddle2OnnxProbe {
  path: string;
  version?: string;
  /** the flags its -h lists, without dashes */
  flags: Set<string>;
  /** major version 2+ reads PIR json */
  readsPir: boolean;
}

export interface Paddle2OnnxOptions {
  modelFilename?: string;
  paramsFilename?: string;
  saveFile: string;
  opsetVersion?: number;
  env?: NodeJS.ProcessEnv;
  /** one line of the tool's log at a time */
  onLog?(line: string): void;
  /** runs on the finished temp file before it is renamed into place */
  check?(tmpFile: string): Promise<unknown>;
}

/** The executable on PATH (or PSERVE_PADDLE2ONNX), or undefined. */
export function findPaddle2onnx(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env['PSERVE_PADDLE2ONNX'];
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'paddle2onnx');
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Ask the tool what it is. undefined when it is absent or does not answer like paddle2onnx. */
export function probePaddle2onnx(env: NodeJS.ProcessEnv = process.env): Paddle2OnnxProbe | undefined {
  const path = findPaddle2onnx(env);
  if (!path) return undefined;
  const help = spawnSync(path, ['-h'], { encoding: 'utf8', env, timeout: 60_000 });
  const text = `${help.stdout ?? ''}\n${help.stderr ?? ''}`;
  if (help.status !== 0 || !/--model_dir/.test(text)) return undefined;
  const flags = new Set([...text.matchAll(/--([a-z_]+)/g)].map((m) => m[1]!));
  const v = spawnSync(path, ['--version'], { encoding: 'utf8', env, timeout: 60_000 });
  const version = /(\d+\.\d+(?:\.\d+)?)/.exec(`${v.stdout ?? ''} ${v.stderr ?? ''}`)?.[1];
  const major = version ? Number(version.split('.')[0]) : 1;
  return { path, ...(version ? { version } : {}), flags, readsPir: major >= 2 };
}

/** The argv for one conversion, using only flags this version lists. */
export function buildArgs(probe: Paddle2OnnxProbe, o: { modelDir: string; modelFilename?: string; paramsFilename?: string; saveFile: string; opsetVersion?: number }): string[] {
  const a = ['--model_dir', o.modelDir];
  if (o.modelFilename) a.push('--model_filename', o.modelFilename);
  if (o.paramsFilename) a.push('--params_filename', o.paramsFilename);
  a.push('--save_file', o.saveFile);
  if (o.opsetVersion !== undefined) a.push('--opset_version', String(o.opsetVersion));
  if (probe.flags.has('enable_onnx_checker')) a.push('--enable_onnx_checker', 'True');
  if (o.opsetVersion === undefined && probe.flags.has('enable_auto_update_opset')) a.push('--enable_auto_update_opset', 'True');
  return a;
}

/** Ops named in the tool's "not supported yet" line. */
export function parseUnsupported(log: string): string[] | undefined {
  const m = /not supported yet[^\n]*?including\s*([^\n]*)/i.exec(log);
  if (!m) return undefined;
  const ops = m[1]!.split(/[,\s]+/).map((s) => s.trim()).filter((s) => /^[A-Za-z0-9_.]+$/.test(s));
  return ops.length ? [...new Set(ops)] : undefined;
}

/** A file is an ONNX model when it decodes as ModelProto with a graph of at least one node. */
export function checkOnnxFile(file: string, label: string): { opset?: number } {
  let bytes: Buffer;
  try { bytes = readFileSync(file); } catch (e) { throw fsError(e, label, 'paddle2onnx output'); }
  if (bytes.byteLength === 0) throw new PserveError('E_PADDLE2ONNX_BAD_OUTPUT', 'paddle2onnx exited 0 but wrote an empty file', { file: label });
  let m: import('onnx-proto').onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new PserveError('E_PADDLE2ONNX_BAD_OUTPUT', `paddle2onnx exited 0 but wrote ${bytes.byteLength} bytes that are not an ONNX model: ${(e as Error).message}`, { file: label });
  }
  if (!m.graph || (m.graph.node ?? []).length === 0) {
    throw new PserveError('E_PADDLE2ONNX_BAD_OUTPUT', 'paddle2onnx exited 0 but the file holds no graph', { file: label });
  }
  const opset = m.opsetImport?.find((o) => !o.domain)?.version;
  return { ...(opset === undefined ? {} : { opset: Number(opset) }) };
}

export interface Paddle2OnnxResult {
  engine: 'paddle2onnx';
  tool: string;
  version?: string;
  argv: string[];
  file: string;
  opset?: number;
  size: number;
}

export async function runPaddle2onnx(probe: Paddle2OnnxProbe, model: LoadedModel, o: Paddle2OnnxOptions): Promise<Paddle2OnnxResult> {
  if (model.format === 'paddle-pir' && !probe.readsPir) {
    throw new PserveError('E_PADDLE2ONNX_TOO_OLD', `paddle2onnx ${probe.version ?? '(unknown version)'} cannot read PIR json programs (2.x can)`, { file: model.modelFile, hint: 'use --engine native' });
  }
  const modelFilename = o.modelFilename ?? basename(model.modelFile);
  const paramsFilename = o.paramsFilename ?? (model.paramsLayout === 'combined' && model.paramsFile ? basename(model.paramsFile) : undefined);
  let argv: string[] = [];
  let opset: number | undefined;
  await writeFileAtomic(o.saveFile, async (tmp) => {
    // the folder holding the program, also when the user named the file itself
    argv = buildArgs(probe, { modelDir: dirname(model.modelFile), modelFilename, ...(paramsFilename ? { paramsFilename } : {}), saveFile: tmp, opsetVersion: o.opsetVersion });
    const { code, signal, log } = await runTool(probe.path, argv, o.env ?? process.env, o.onLog);
    const unsupported = parseUnsupported(log);
    if (unsupported) {
      throw new PserveError('E_ONNX_UNSUPPORTED_OPS', `paddle2onnx cannot convert ${unsupported.length} op type${unsupported.length > 1 ? 's' : ''}: ${unsupported.join(', ')}`, {
        file: model.modelFile, hint: 'nothing was written',
      });
    }
    const tail = lastLines(log, 3);
    if (signal) {
      throw new PserveError('E_PADDLE2ONNX_CRASHED', `paddle2onnx was killed by ${signal}${tail ? `: ${tail}` : ''}`, { file: model.modelFile, hint: 'nothing was written' });
    }
    if (code !== 0) {
      throw new PserveError('E_PADDLE2ONNX_FAILED', `paddle2onnx exited with status ${code}${tail ? `: ${tail}` : ''}`, { file: model.modelFile, hint: 'nothing was written' });
    }
    let exists = true;
    try { statSync(tmp); } catch { exists = false; }
    if (!exists) throw new PserveError('E_PADDLE2ONNX_BAD_OUTPUT', 'paddle2onnx exited 0 but wrote no file', { file: o.saveFile });
    opset = checkOnnxFile(tmp, o.saveFile).opset;
    if (o.check) await o.check(tmp);
  });
  return {
    engine: 'paddle2onnx', tool: probe.path, ...(probe.version ? { version: probe.version } : {}), argv, file: o.saveFile,
    ...(opset === undefined ? {} : { opset }), size: statSync(o.saveFile).size,
  };
}

function lastLines(log: string, n: number): string {
  return log.split('\n').map((l) => l.trim()).filter(Boolean).slice(-n).join(' | ');
}

function runTool(path: string, argv: string[], env: NodeJS.ProcessEnv, onLog?: (line: string) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    let partial = '';
    const take = (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      if (log.length < 1 << 20) log += s;
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLog?.(l);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e) => reject(new PserveError('E_PADDLE2ONNX_FAILED', `cannot run paddle2onnx: ${e.message}`, { file: path })));
    child.on('close', (code, signal) => {
      if (partial) onLog?.(partial);
      resolve({ code, signal, log });
    });
  });
}
