/**
 * The command table. Each command lazily imports its module on use, so `pserve --version` loads
 * nothing but this file. Only this module decides exit codes; only bin/pserve.js sets them.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CommandContext, CommandResult } from './context.js';
import { runInterruptCleanups } from '../util/interrupt.js';

export interface CommandModule {
  run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult>;
}

export interface CommandSpec {
  name: string;
  /** positional arguments in commander syntax, e.g. '<path>' */
  args?: string;
  summary: string;
  configure?(cmd: Command): void;
  load(): Promise<CommandModule>;
  /** names for positional args, in order, as they appear in opts */
  argNames?: string[];
  /** the command handles SIGINT/SIGTERM itself (serve forwards them to the server) */
  ownSignals?: boolean;
}

export const COMMANDS: CommandSpec[] = [
  {
    name: 'inspect',
    args: '<path>',
    argNames: ['path'],
    summary: 'show what a Paddle model is: format, feeds, fetches, ops, parameters',
    configure: (c) => c
      .option('--model_filename <file>', 'program file name inside the directory')
      .option('--params_filename <file>', 'combined params file name inside the directory'),
    load: () => import('../commands/inspect.js'),
  },
  {
    name: 'convert',
    summary: 'write Paddle Serving confs (serving_server/serving_client), as paddle_serving_client.convert does',
    configure: (c) => c
      .option('--dirname <dir>', 'the model directory (required)')
      .option('--model_filename <file>', 'program file name inside the directory')
      .option('--params_filename <file>', 'combined params file name inside the directory')
      .option('--serving_server <dir>', 'server output directory (may be the model directory)', 'serving_server')
      .option('--serving_client <dir>', 'client output directory', 'serving_client')
      .option('--feed_alias_names <a,b>', 'aliases for the feed vars, in feed order')
      .option('--fetch_alias_names <a,b>', 'aliases for the fetch vars, in name order')
      .option('--show_proto [bool]', 'print the server conf and write nothing'),
    load: () => import('../commands/convert.js'),
  },
  {
    name: 'alias',
    args: '<action> [kind] [alias]',
    argNames: ['action', 'kind', 'alias'],
    summary: 'alias set <feed|fetch> <alias> | alias list: the alias names in Paddle Serving confs',
    configure: (c) => c
      .option('--var <name>', 'the var to rename (alias set)')
      .option('--index <n>', 'the var to rename, by position (alias set)')
      .option('--serving_server <dir>', 'server conf directory (default serving_server)')
      .option('--serving_client <dir>', 'client conf directory (default serving_client)')
      .option('--force', 'edit even when the conf files disagree'),
    load: () => import('../commands/alias.js'),
  },
  {
    name: 'fetch',
    args: '[targets...]',
    argNames: ['targets'],
    summary: 'download named model sets (or URLs), verify them against pserve.lock.json and unpack them safely',
    configure: (c) => c
      .option('--dest <dir>', 'where archives unpack (default: the current directory)')
      .option('--mirror <base>', 'replace scheme+host of every URL with BASE (also PSERVE_MIRROR)')
      .option('--lock <file>', 'lock file recording {url, sha256, size}', 'pserve.lock.json')
      .option('--offline', 'use only the local cache (PSERVE_CACHE_DIR, else $XDG_CACHE_HOME/pserve)')
      .option('--force', 'replace trees that are already there (only after the new one is verified)')
      .option('--registry <file>', 'a JSON registry adding or overriding model sets')
      .option('--list', 'show the known model sets'),
    load: () => import('../commands/fetch.js'),
  },
  {
    name: 'onnx',
    summary: 'convert a Paddle model to ONNX (paddle2onnx when installed, else the native converter) and validate it in onnxruntime',
    configure: (c) => c
      .option('--model_dir <dir>', 'the model directory (required)')
      .option('--model_filename <file>', 'program file name inside the directory')
      .option('--params_filename <file>', 'combined params file name inside the directory')
      .option('--save_file <file>', 'the .onnx to write (required)')
      .option('--opset_version <n>', 'ONNX opset 9-17 (default: the lowest the model\'s ops need); refused when too low for an op, naming it')
      .option('--input_shape_dict <json>', 'fix input shapes, e.g. \'{"x":[1,3,512,512]}\' (shape-dependent ops such as adaptive pooling then convert)')
      .option('--enable_auto_update_opset [bool]', 'raise a too-low --opset_version to what the ops need instead of refusing')
      .option('--enable_onnx_checker [bool]', 'also run onnx.checker (full check) when a python3 with onnx is at hand; pserve always loads and runs the model in onnxruntime unless --no-validate')
      .option('--deploy_backend <b>', 'paddle2onnx compatibility: onnxruntime | tensorrt | rknn | others (the native engine writes one graph for all)')
      .option('--enable_dev_version [bool]', 'paddle2onnx compatibility: no effect on the native engine (it reads legacy and PIR programs alike)')
      .option('--export_fp16_model [bool]', 'paddle2onnx compatibility: float16 export is refused by the native engine (float32 only)')
      .option('--external_filename <name>', 'name of the external data file written beside the .onnx when the params exceed 2 GB')
      .option('--save_calibration_file <file>', 'paddle2onnx compatibility: TensorRT int8 calibration cache; the native engine keeps the scales in the graph (QDQ) and writes none')
      .option('--engine <e>', 'auto | paddle2onnx | native (default auto)', 'auto')
      .option('--no-validate', 'skip loading and running the written model in onnxruntime')
      .option('--quant <mode>', 'quantized (QAT) programs: qdq = QuantizeLinear/DequantizeLinear pairs keeping the scales (default), float = the same fake-quant arithmetic in float ops (native engine)'),
    load: () => import('../commands/onnx.js'),
  },
  {
    name: 'bundle',
    summary: 'write a folder that serves the model with nothing but node: model.onnx, confs, config.yml, server.mjs, runtime, manifest',
    configure: (c) => c
      .option('--serving_server <dir>', 'Paddle Serving server conf folder with the model (required)')
      .option('--serving_client <dir>', 'client conf folder (default: a copy of the server conf)')
      .option('--onnx <file>', 'use this ONNX model instead of converting the Paddle model')
      .option('--out <dir>', 'the bundle folder to write (required)')
      .option('--name <name>', 'service name: the URL /<name>/prediction (default: from the folder name)')
      .option('--port <n>', 'http_port in config.yml (default 9393)')
      .option('--device <d>', 'cpu | gpu | webgpu | auto (default cpu)')
      .option('--platform <p>', 'runtime binaries to carry: linux-x64, linux-arm64, darwin-arm64, win32-x64, win32-arm64 (default: this machine)')
      .option('--model_filename <file>', 'program file name inside the serving_server folder')
      .option('--params_filename <file>', 'combined params file name inside the serving_server folder')
      .option('--recipe <r>', 'a whole pipeline service: imagenet (--serving_server, --labels), ppshitu (--det, --rec, --index), pptsm or pptsn (--serving_server, --labels)')
      .option('--labels <file>', 'label list for --recipe imagenet (imagenet.label) or pptsm / pptsn (Kinetics-400_label_list.txt)')
      .option('--det <dir>', '--recipe ppshitu: the detector\'s serving folder')
      .option('--rec <dir>', '--recipe ppshitu: the feature model\'s serving folder')
      .option('--det_onnx <file>', '--recipe ppshitu: use this ONNX detector instead of converting')
      .option('--rec_onnx <file>', '--recipe ppshitu: use this ONNX feature model instead of converting')
      .option('--index <dir>', '--recipe ppshitu: folder with vector.index and id_map.pkl (PaddleClas build_gallery.py, pserve index build)')
      .option('--force', 'replace an existing output folder'),
    load: () => import('../commands/bundle.js'),
  },
  {
    name: 'serve',
    args: '<dir>',
    argNames: ['dir'],
    summary: 'run a bundle\'s server (node server.mjs) in the foreground',
    configure: (c) => c
      .option('--port <n>', 'port (default: config.yml http_port)')
      .option('--rpc-port <n>', 'gRPC port: Paddle Serving pipeline + KServe v2 (default: config.yml rpc_port; off when 0)')
      .option('--host <h>', 'address to bind (default 127.0.0.1)')
      .option('--device <d>', 'cpu | gpu | webgpu | auto')
      .option('--model-backend <url>', 'run the model steps on this KServe v2 server (Triton, KServe, another bundle); decoding and search stay here')
      .option('--no-verify', 'skip checking the manifest sha256 values first'),
    ownSignals: true,
    load: () => import('../commands/serve.js'),
  },
  {
    name: 'smoke',
    args: '<dir>',
    argNames: ['dir'],
    summary: 'verify a bundle, start it on a free port, send one request per protocol, check the answers and /metrics',
    configure: (c) => c
      .option('--device <d>', 'cpu | gpu | webgpu | auto (default: what config.yml says)')
      .option('--shape <alias=dims>', 'dims for a feed with unknown dims, e.g. x=1,3,48,192 (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
      .option('--timeout <s>', 'seconds to wait for the server to be ready (default 60)'),
    load: () => import('../commands/smoke.js'),
  },
  {
    name: 'package',
    args: '<dir>',
    argNames: ['dir'],
    summary: 'pack a bundle into a reproducible .tgz (sorted entries, fixed times and owners, no gzip timestamp)',
    configure: (c) => c
      .option('--out <file>', 'the .tgz to write (required)'),
    load: () => import('../commands/package.js'),
  },
  {
    name: 'export',
    args: '<target>',
    argNames: ['target'],
    summary: 'export a bundle for the engines teams run at scale: triton (a model repository), k8s (Deployment, Service, HPA, KServe InferenceService), dockerfile',
    configure: (c) => c
      .option('--bundle <dir>', 'the bundle to export (required)')
      .option('--out <dir>', 'output folder (default: <bundle>-<target>)')
      .option('--force', 'replace an existing output folder')
      .option('--device <d>', 'triton: instance_group kind, cpu or gpu (default: the bundle\'s device)')
      .option('--name <name>', 'triton: the model name in the repository (default: the bundle\'s service name)')
      .option('--image <image>', 'k8s: the container image that holds the bundle (required for k8s)')
      .option('--storage-uri <uri>', 'k8s: serve a Triton repository from this URI in the InferenceService (default: the bundle\'s image as a custom v2 container)')
      .option('--replicas <n>', 'k8s: minimum replicas (default 1)')
      .option('--max-replicas <n>', 'k8s: HPA maximum (default 4)')
      .option('--namespace <ns>', 'k8s: metadata.namespace')
      .option('--cpu <q>', 'k8s: CPU request (default 1)')
      .option('--memory <q>', 'k8s: memory request and limit (default 1Gi)')
      .option('--base-image <image>', 'dockerfile: the Node base image (default pinned node:22 slim)'),
    load: () => import('../commands/export.js'),
  },
  {
    name: 'index',
    args: '<action>',
    argNames: ['action'],
    summary: 'PP-ShiTu gallery index (faiss vector.index + id_map.pkl): build | append | remove | search, as PaddleClas build_gallery.py',
    configure: (c) => c
      .option('--gallery <file>', 'the "image<TAB>label" list (build, append, remove)')
      .option('--image_root <dir>', 'folder the list\'s image paths are relative to (default: the list\'s folder)')
      .option('--bundle <dir>', 'a bundle whose rec model (models/rec/model.onnx or model.onnx) gives the features')
      .option('--vectors <file.npy>', 'features as an (n, d) float32 .npy, one row per list line, instead of --bundle')
      .option('--out <dir>', 'folder to write (build: required; append/remove: default --index)')
      .option('--index <dir>', 'the index folder (append, remove, search)')
      .option('--index_method <m>', 'HNSW32 or Flat (build; default HNSW32)')
      .option('--metric <m>', 'IP or L2 (build; default IP)')
      .option('--image <file>', 'search: a query image (with --bundle)')
      .option('--vector-file <file.npy>', 'search: query vectors, (d,) or (n, d)')
      .option('-k, --k <n>', 'search: hits per query (default 5)')
      .option('--exact', 'search: brute force over the stored vectors even for HNSW')
      .option('--force', 'replace an existing --out folder'),
    load: () => import('../commands/index.js'),
  },
  {
    name: 'demo',
    summary: 'run the whole chain on the built-in sample model, offline: inspect, convert, alias, onnx, bundle, smoke',
    configure: (c) => c.option('--dir <dir>', 'where to put the outputs (replaced on each run)', 'pserve-demo'),
    load: () => import('../commands/demo.js'),
  },
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** kebab-case aliases for snake_case flags: --model-filename == --model_filename */
function normalizeArgv(argv: string[]): string[] {
  return argv.map((a) => {
    if (!a.startsWith('--') || a === '--') return a;
    const eq = a.indexOf('=');
    const flag = eq < 0 ? a : a.slice(0, eq);
    const rest = eq < 0 ? '' : a.slice(eq);
    if (/^--(model|params|serving|feed|fetch|show|save|opset|enable|model_dir)[-_]/.test(flag) || /^--(model-dir|save-file|opset-version)$/.test(flag)) {
      return `--${flag.slice(2).replace(/-/g, '_')}${rest}`;
    }
    return a;
  });
}

export async function main(argv: string[]): Promise<number> {
  const rest = argv.filter((a) => a !== '--json');
  if (rest.length === 1 && (rest[0] === '--version' || rest[0] === '-V' || rest[0] === '-v')) {
    process.stdout.write(rest.length === argv.length ? `${version()}\n` : `${JSON.stringify({ ok: true, version: version() })}\n`);
    return 0;
  }
  if (rest.length === 0) {
    // no command is a usage error (exit 2), said in one line like every other error
    const names = COMMANDS.map((c) => c.name).join(', ');
    if (rest.length !== argv.length) writeFailure(null, { code: 'E_USAGE', message: `no command given: expected one of ${names}`, kind: 'usage' });
    else process.stderr.write(`pserve: E_USAGE: no command given: expected one of ${names} (pserve --help for usage)\n`);
    return 2;
  }
  // trap Ctrl-C / SIGTERM before any work, so that every moment of a run is covered
  const first = rest.find((a) => !a.startsWith('-'));
  const commandName = COMMANDS.find((c) => c.name === first)?.name ?? null;
  const stopProgress = { fn: () => { /* set once the renderer exists */ } };
  if (!COMMANDS.find((c) => c.name === first)?.ownSignals) trapInterrupts(argv.includes('--json'), commandName, () => stopProgress.fn());
  const { Command, CommanderError } = await import('commander');
  const { PserveError } = await import('../errors.js');
  const json = argv.includes('--json');
  const { useColor } = await import('./render.js');
  const color = useColor(process.stderr);
  const { ProgressRenderer, progressMode } = await import('./progress.js');
  const mode = progressMode(json, process.stderr);
  const interactive = mode === 'tty';
  const renderer = new ProgressRenderer(mode, color);
  stopProgress.fn = () => renderer.stopAll();
  const ctx: CommandContext = {
    cwd: process.cwd(),
    json,
    interactive,
    color,
    progress: (e) => renderer.handle(e),
    info: (line) => { if (!json) process.stderr.write(`${line}\n`); },
  };

  let result: CommandResult | undefined;
  const program = new Command('pserve')
    .description('PaddlePaddle inference models to production, without Python')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // usage errors read like every other error: one line, a stable code
      outputError: (s, write) => { if (!json) write(`pserve: E_USAGE: ${usageLine(s)} (pserve --help for usage)\n`); },
    });

  for (const spec of COMMANDS) {
    const cmd = program.command(spec.args ? `${spec.name} ${spec.args}` : spec.name).description(spec.summary);
    spec.configure?.(cmd);
    cmd.option('--json', 'print one JSON object for machines');
    cmd.exitOverride();
    cmd.action(async (...a: unknown[]) => {
      const self = a[a.length - 1] as Command;
      const opts: Record<string, unknown> = { ...self.opts() };
      (spec.argNames ?? []).forEach((n, i) => { opts[n] = a[i]; });
      const mod = await spec.load();
      result = await mod.run(opts, ctx);
    });
  }

  try {
    await program.parseAsync(normalizeArgv(argv), { from: 'user' });
  } catch (e) {
    renderer.stopAll();
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (json) writeFailure(commandName, { code: 'E_USAGE', message: usageLine(e.message), kind: 'usage' });
      return 2;
    }
    if (e instanceof PserveError) {
      if (json) writeFailure(commandName, { ...e.toJSON(), ...(e.file === undefined ? {} : { file: resolve(e.file) }) });
      else process.stderr.write(`pserve: ${e.oneLine()}\n`);
      // exit 2 means a usage error, and a usage error is always E_USAGE; other codes are bad input (1)
      return e.kind === 'usage' && e.code === 'E_USAGE' ? 2 : 1;
    }
    const err = e as Error;
    const msg = `E_INTERNAL: ${err?.message ?? String(e)} (this is a bug in pserve; PSERVE_DEBUG=1 shows where)`;
    if (process.env['PSERVE_DEBUG']) process.stderr.write(`${err?.stack ?? String(e)}\n`);
    if (json) writeFailure(commandName, { code: 'E_INTERNAL', message: err?.message ?? String(e), kind: 'permanent' });
    else process.stderr.write(`pserve: ${msg}\n`);
    return 1;
  }
  renderer.stopAll();
  if (result) {
    if (json) {
      // one envelope for every command (src/cli/result-schema.ts): ok and the command first, then its data
      const data = result.data as Record<string, unknown>;
      const ok = typeof data['ok'] === 'boolean' ? data['ok'] : (result.exitCode ?? 0) === 0;
      process.stdout.write(`${JSON.stringify({ ok, command: commandName, ...data }, jsonReplacer, 2)}\n`);
    }
    else if (result.text) process.stdout.write(result.text.endsWith('\n') ? result.text : `${result.text}\n`);
    return result.exitCode ?? 0;
  }
  return 0;
}

/**
 * Ctrl-C / SIGTERM: undo what the command had started (temp outputs, child servers), say so in one
 * line and exit 130 / 143 (128 + the signal number, as shells report it).
 */
function trapInterrupts(json: boolean, command: string | null, stopProgress: () => void): void {
  const handler = (sig: NodeJS.Signals) => {
    stopProgress();
    runInterruptCleanups();
    const message = 'interrupted; nothing was written';
    if (json) writeFailure(command, { code: 'E_INTERRUPTED', message, kind: 'transient', signal: sig });
    process.stderr.write(`pserve: ${message}\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/** the --json failure envelope (src/cli/result-schema.ts `Failure`): one line on stdout */
function writeFailure(command: string | null, error: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ok: false, command, error })}\n`);
}

/** commander's message as one line: "error: unknown command 'x'\n(Did you mean y?)" → "unknown command 'x' (Did you mean y?)" */
function usageLine(s: string): string {
  return s.replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}

function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v;
}
