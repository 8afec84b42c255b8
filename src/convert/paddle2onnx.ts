/**
 * The paddle2onnx engine: probe the executable (`-h`, `--version`), build the command line for the
 * flags that version has, stream its log, and map its failures. The flag mapping follows the
 * paddle2onnx 1.x (1.0-1.3) and 2.x (2.0) CLIs: --model_dir --model_filename --params_filename
 * --save_file --opset_version --enable_onnx_checker --enable_auto_update_opset (FORMATS.md section 7).
 *
 * How a run ended is read from the exit status, the signal and the output file (real 1.2.7 and 1.2.11
 * transcripts: ../shared/fixtures/paddle2onnx_transcripts):
 * - unsupported ops: "Oops, there are some operators not supported yet, including a,b," with a NON-EMPTY
 *   list, then "[ERROR] Due to the unsupported operators, the conversion is aborted." and SIGABRT. 1.2.7
 *   prints the "Oops" line with an EMPTY list on every successful run: that is not a failure.
 * - other crashes (SIGABRT/SIGSEGV), and a non-zero exit after a parse or export error
 * - exit 0 after "Paddle model convert failed." with a 0-byte file (a missing params file does this)
 * - exit 0 with an empty or unparsable .onnx
 * Each is an error, and never a bad file at save_file.
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
  /** further paddle2onnx flags, passed as given (--input_shape_dict, --deploy_backend, ...) */
  extraArgs?: string[];
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
  const vText = `${v.stdout ?? ''} ${v.stderr ?? ''}`;
  // "2026-11-30 10:50:06 [INFO]\tpaddle2onnx-1.2.7 with python>=3.8, ...": the number after the name
  const version = (/paddle2onnx[-\s_]*v?(\d+\.\d+(?:\.\d+)?)/i.exec(vText) ?? /(\d+\.\d+\.\d+)/.exec(vText))?.[1];
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

const OOPS = /Oops, there are some operators not supported yet, including([^\n]*)/;
const ABORTED = /Due to the unsupported operators, the conversion is aborted/;

/**
 * Ops the tool refused: the non-empty list of its "not supported yet, including ..." line, and only
 * when the abort line follows it (in the same stream after it, or on the other stream). An empty
 * list (1.2.7 prints one on every successful run) or a list without the abort line names nothing.
 */
export function parseUnsupported(stdout: string, stderr = ''): string[] | undefined {
  for (const [own, other] of [[stdout, stderr], [stderr, stdout]] as const) {
    const m = OOPS.exec(own);
    if (!m) continue;
    const ops = m[1]!.split(',').map((s) => s.trim()).filter((s) => /^[A-Za-z0-9_.]+$/.test(s));
    if (ops.length === 0) continue;
    const after = own.slice(m.index + m[0].length);
    if (ABORTED.test(after) || ABORTED.test(other)) return [...new Set(ops)];
  }
  return undefined;
}

/** The tool's own verdict when it exits 0 without converting ("Paddle model convert failed."), with its reasons. */
export function parseConvertFailed(log: string): string | undefined {
  if (!/Paddle model convert failed/i.test(log)) return undefined;
  const reasons = log.split('\n').map((l) => l.replace(/^\[[^\]]*Paddle2ONNX\]\s*/i, '').trim())
    .filter((l) => /cannot|failed|error/i.test(l) && !/^Paddle model (convert|parsing) failed/i.test(l));
  return reasons.join(' ') || 'Paddle model convert failed.';
}

/** Lines the tool marks as warnings ("[WARN][Paddle2ONNX] ..."), without the prefix. */
export function parseWarnings(log: string): string[] {
  return log.split('\n').filter((l) => /^\[WARN/.test(l.trim())).map((l) => l.trim().replace(/^(\[[^\]]*\]\s*)+/, '').trim());
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
  /** the tool's [WARN] lines (e.g. an NMS export that only takes batch 1) */
  warnings: string[];
}

export async function runPaddle2onnx(probe: Paddle2OnnxProbe, model: LoadedModel, o: Paddle2OnnxOptions): Promise<Paddle2OnnxResult> {
  if (model.format === 'paddle-pir' && !probe.readsPir) {
    throw new PserveError('E_PADDLE2ONNX_TOO_OLD', `paddle2onnx ${probe.version ?? '(unknown version)'} cannot read PIR json programs (2.x can)`, { file: model.modelFile, hint: 'use --engine native' });
  }
  const modelFilename = o.modelFilename ?? basename(model.modelFile);
  const paramsFilename = o.paramsFilename ?? (model.paramsLayout === 'combined' && model.paramsFile ? basename(model.paramsFile) : undefined);
  let argv: string[] = [];
  let opset: number | undefined;
  let warnings: string[] = [];
  await writeFileAtomic(o.saveFile, async (tmp) => {
    // the folder holding the program, also when the user named the file itself
    argv = buildArgs(probe, { modelDir: dirname(model.modelFile), modelFilename, ...(paramsFilename ? { paramsFilename } : {}), saveFile: tmp, opsetVersion: o.opsetVersion });
    if (o.extraArgs?.length) argv.push(...o.extraArgs);
    const { code, signal, stdout, stderr, log } = await runTool(probe.path, argv, o.env ?? process.env, o.onLog);
    const failed = signal !== null || code !== 0;
    const unsupported = failed ? parseUnsupported(stdout, stderr) : undefined;
    if (unsupported) {
      throw new PserveError('E_ONNX_UNSUPPORTED_OPS', `paddle2onnx cannot convert ${unsupported.length} op type${unsupported.length > 1 ? 's' : ''}: ${unsupported.join(', ')}`, {
        file: model.modelFile, hint: 'nothing was written; try --engine native',
      });
    }
    const tail = lastLines(log, 3);
    if (signal) {
      throw new PserveError('E_PADDLE2ONNX_CRASHED', `paddle2onnx was killed by ${signal}${tail ? `: ${tail}` : ''}`, { file: model.modelFile, hint: 'nothing was written' });
    }
    if (code !== 0) {
      throw new PserveError('E_PADDLE2ONNX_FAILED', `paddle2onnx exited with status ${code}${tail ? `: ${tail}` : ''}`, { file: model.modelFile, hint: 'nothing was written' });
    }
    const refused = parseConvertFailed(log);
    if (refused) {
      throw new PserveError('E_PADDLE2ONNX_FAILED', `paddle2onnx exited 0 but did not convert: ${refused}`, { file: model.modelFile, hint: 'nothing was written' });
    }
    let exists = true;
    try { statSync(tmp); } catch { exists = false; }
    if (!exists) throw new PserveError('E_PADDLE2ONNX_BAD_OUTPUT', 'paddle2onnx exited 0 but wrote no file', { file: o.saveFile });
    warnings = parseWarnings(log);
    opset = checkOnnxFile(tmp, o.saveFile).opset;
    if (o.check) await o.check(tmp);
  });
  return {
    engine: 'paddle2onnx', tool: probe.path, ...(probe.version ? { version: probe.version } : {}), argv, file: o.saveFile,
    ...(opset === undefined ? {} : { opset }), size: statSync(o.saveFile).size, warnings,
  };
}

function lastLines(log: string, n: number): string {
  return log.split('\n').map((l) => l.trim()).filter(Boolean).slice(-n).join(' | ');
}

function runTool(path: string, argv: string[], env: NodeJS.ProcessEnv, onLog?: (line: string) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const LIMIT = 1 << 20;
    const out = { stdout: '', stderr: '', log: '' };
    const reader = (key: 'stdout' | 'stderr') => {
      let partial = '';
      return {
        take(chunk: Buffer) {
          const s = chunk.toString('utf8');
          if (out[key].length < LIMIT) out[key] += s;
          if (out.log.length < LIMIT) out.log += s;
          partial += s;
          const lines = partial.split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) onLog?.(l);
        },
        flush() { if (partial) onLog?.(partial); partial = ''; },
      };
    };
    const so = reader('stdout');
    const se = reader('stderr');
    child.stdout.on('data', (c: Buffer) => so.take(c));
    child.stderr.on('data', (c: Buffer) => se.take(c));
    child.on('error', (e) => reject(new PserveError('E_PADDLE2ONNX_FAILED', `cannot run paddle2onnx: ${e.message}`, { file: path })));
    child.on('close', (code, signal) => {
      so.flush();
      se.flush();
      resolve({ code, signal, ...out });
    });
  });
}
