/**
 * `pserve onnx`: Paddle -> ONNX. Engine `paddle2onnx` when that tool is on PATH and usable (auto),
 * else the native converter; the output says which ran. The written model is validated in
 * onnxruntime unless --no-validate.
 */
import { resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { CommandContext, CommandResult } from '../cli/context.js';
import { convertToOnnx, validateOnnx } from '../convert/onnx/index.js';
import type { ControlFlowReport } from '../convert/onnx/control-flow.js';
import { probePaddle2onnx, runPaddle2onnx } from '../convert/paddle2onnx.js';
import { noOutputsError, trainingProgramError, trainingSignals } from '../convert/onnx/verdict.js';
import { PserveError } from '../errors.js';
import { loadModel } from '../model/load-model.js';
import type { TensorSpec } from '../model/types.js';
import { parseOptions, z } from './options.js';

const Options = z.object({
  model_dir: z.string({ message: 'is required' }).min(1),
  model_filename: z.string().min(1).optional(),
  params_filename: z.string().min(1).optional(),
  save_file: z.string({ message: 'is required' }).min(1),
  opset_version: z.coerce.number().int().min(1).max(99).optional(),
  engine: z.enum(['auto', 'paddle2onnx', 'native']).default('auto'),
  validate: z.boolean().default(true),
  input_shape_dict: z.string().min(1).optional(),
  enable_auto_update_opset: z.union([z.boolean(), z.string()]).optional(),
  enable_onnx_checker: z.union([z.boolean(), z.string()]).optional(),
  deploy_backend: z.enum(['onnxruntime', 'tensorrt', 'rknn', 'others']).optional(),
  enable_dev_version: z.union([z.boolean(), z.string()]).optional(),
  export_fp16_model: z.union([z.boolean(), z.string()]).optional(),
  external_filename: z.string().min(1).optional(),
  save_calibration_file: z.string().min(1).optional(),
  quant: z.enum(['qdq', 'float']).optional(),
});

export interface OnnxReport {
  engine: 'native' | 'paddle2onnx';
  file: string;
  externalDataFile?: string;
  size: number;
  opset?: number;
  tool?: { path: string; version?: string; argv: string[] };
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  ops?: Record<string, number>;
  /** native engine: which loops were unrolled or became ONNX Loops, which branches became If or were folded */
  controlFlow?: ControlFlowReport;
  validation: { ok: true; outputs: { name: string; dims: number[] }[]; ms: number } | { skipped: true };
  reason?: string;
  /** paddle2onnx's [WARN] lines (e.g. an NMS export that only takes batch 1) */
  warnings?: string[];
  /** what paddle2onnx-compatibility flags mean here (one line each) */
  notes?: string[];
}

/** paddle2onnx spells booleans True/False; a bare flag is true */
function flag(v: boolean | string | undefined, name: string): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  const t = v.trim().toLowerCase();
  if (t === 'true' || t === '1' || t === 'yes') return true;
  if (t === 'false' || t === '0' || t === 'no') return false;
  throw new PserveError('E_USAGE', `--${name}: expected True or False, got ${v}`, { kind: 'usage' });
}

function fp16Refused(): PserveError {
  return new PserveError('E_USAGE', '--export_fp16_model: the native engine writes float32 models only (onnxruntime\'s CPU provider has no float16 kernels for most ops); leave it out, or use --engine paddle2onnx', { kind: 'usage' });
}

interface Paddle2onnxFlags { inputShapes?: Record<string, number[]>; autoUpdate?: boolean; checker: boolean; notes: string[]; toolArgs: string[] }

/** paddle2onnx's other flags: what each means for the native engine, or one line on why it has none */
function paddle2onnxFlags(o: z.infer<typeof Options>): Paddle2onnxFlags {
  const notes: string[] = [];
  const toolArgs: string[] = [];
  let checkerWanted = false;
  let inputShapes: Record<string, number[]> | undefined;
  if (o.input_shape_dict !== undefined) {
    let parsed: unknown;
    try { parsed = JSON.parse(o.input_shape_dict.replace(/'/g, '"')); } catch {
      throw new PserveError('E_USAGE', `--input_shape_dict: expected JSON like {"x":[1,3,512,512]}, got ${o.input_shape_dict}`, { kind: 'usage' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => !Array.isArray(v))) {
      throw new PserveError('E_USAGE', `--input_shape_dict: expected an object of input name -> shape list, got ${o.input_shape_dict}`, { kind: 'usage' });
    }
    inputShapes = parsed as Record<string, number[]>;
    toolArgs.push('--input_shape_dict', JSON.stringify(inputShapes));
  }
  const autoUpdate = flag(o.enable_auto_update_opset, 'enable_auto_update_opset');
  if (autoUpdate !== undefined) toolArgs.push('--enable_auto_update_opset', autoUpdate ? 'True' : 'False');
  const checker = flag(o.enable_onnx_checker, 'enable_onnx_checker');
  if (checker !== undefined) {
    toolArgs.push('--enable_onnx_checker', checker ? 'True' : 'False');
    if (checker) checkerWanted = true;
  }
  if (o.deploy_backend !== undefined) {
    toolArgs.push('--deploy_backend', o.deploy_backend);
    if (o.deploy_backend !== 'onnxruntime') notes.push(`--deploy_backend ${o.deploy_backend}: the native engine writes the same standard-ONNX graph for every backend (QDQ pairs for quantized models)`);
  }
  const dev = flag(o.enable_dev_version, 'enable_dev_version');
  if (dev !== undefined) {
    toolArgs.push('--enable_dev_version', dev ? 'True' : 'False');
    notes.push('--enable_dev_version: no effect on the native engine, which reads legacy and PIR programs alike');
  }
  const fp16 = flag(o.export_fp16_model, 'export_fp16_model');
  if (fp16 !== undefined) toolArgs.push('--export_fp16_model', fp16 ? 'True' : 'False');
  if (fp16 === true && o.engine === 'native') throw fp16Refused();
  if (o.external_filename !== undefined) toolArgs.push('--external_filename', o.external_filename);
  if (o.save_calibration_file !== undefined) {
    toolArgs.push('--save_calibration_file', o.save_calibration_file);
    notes.push('--save_calibration_file: the native engine writes no TensorRT calibration cache; a quantized model keeps its scales in the graph as QuantizeLinear/DequantizeLinear pairs');
  }
  return { ...(inputShapes ? { inputShapes } : {}), ...(autoUpdate !== undefined ? { autoUpdate } : {}), checker: checkerWanted, notes, toolArgs };
}

/**
 * --enable_onnx_checker True: onnx.checker (full check, with shape inference) when a python3 with
 * the onnx package is at hand; without one, a note says the check is onnxruntime's load and run.
 */
function onnxChecker(notes: string[], validate: boolean): ((tmp: string) => Promise<void>) | undefined {
  const py = [process.env['PSERVE_PYTHON'], '/usr/bin/python3', 'python3'].find((p) => p && spawnSync(p, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0);
  if (!py) {
    notes.push(`--enable_onnx_checker: no python3 with the onnx package here, so onnx.checker did not run; pserve checks by loading and running the model in onnxruntime${validate ? '' : ' (skipped here: --no-validate)'}`);
    return undefined;
  }
  notes.push(`--enable_onnx_checker: onnx.checker (full check) passed, run by ${py}`);
  return async (tmp) => {
    const r = spawnSync(py, ['-c', 'import sys,onnx; onnx.checker.check_model(sys.argv[1], full_check=True)', tmp], { encoding: 'utf8' });
    if (r.status !== 0) {
      const why = String(r.stderr).trim().split('\n').filter(Boolean).pop() ?? `exit ${r.status}`;
      throw new PserveError('E_ONNX_CHECKER', `onnx.checker refused the written model: ${why}`, { hint: 'nothing was written' });
    }
  };
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<OnnxReport>> {
  const o = parseOptions(Options, opts, 'onnx');
  const p2o = paddle2onnxFlags(o);
  const model = loadModel(o.model_dir, { modelFilename: o.model_filename, paramsFilename: o.params_filename, params: 'require' });
  // neither engine can make an inference model of a training program: say so before choosing one
  const training = trainingSignals(model);
  if (training.training) throw trainingProgramError(model, training);
  if (model.fetches.length === 0) throw noOutputsError(model);
  if (o.quant && o.engine === 'paddle2onnx') {
    throw new PserveError('E_USAGE', '--quant applies to the native engine (paddle2onnx does not convert fake-quant ops)', { kind: 'usage', hint: 'drop --quant, or use --engine native' });
  }
  const probe = o.engine === 'native' || o.quant ? undefined : probePaddle2onnx();
  let reason: string | undefined;
  if (o.engine === 'paddle2onnx' && !probe) {
    throw new PserveError('E_PADDLE2ONNX_MISSING', 'paddle2onnx is not on PATH or does not answer -h like paddle2onnx', { hint: 'pip install paddle2onnx, or use --engine native' });
  }
  const useTool = probe !== undefined && (o.engine === 'paddle2onnx' || model.format !== 'paddle-pir' || probe.readsPir);
  if (o.engine === 'auto') reason = o.quant ? `--quant ${o.quant} asks for the native engine` : probe ? (useTool ? `paddle2onnx ${probe.version ?? ''} found at ${probe.path}`.replace('  ', ' ') : 'paddle2onnx found but too old for PIR programs') : 'paddle2onnx not found on PATH';

  let report: OnnxReport;
  if (useTool) {
    ctx.progress({ id: 'onnx', phase: 'start', text: `paddle2onnx: converting ${model.modelFile}` });
    let validation: OnnxReport['validation'] = { skipped: true };
    const r = await runPaddle2onnx(probe!, model, {
      modelFilename: o.model_filename,
      paramsFilename: o.params_filename,
      saveFile: o.save_file,
      opsetVersion: o.opset_version,
      extraArgs: p2o.toolArgs,
      onLog: (line) => ctx.info(`paddle2onnx: ${line}`),
      check: async (tmp) => {
        if (!o.validate) return;
        const v = await validateOnnx(tmp, model.feeds, model.fetches, { label: o.save_file });
        validation = { ok: true, outputs: v.outputs.map((x) => ({ name: x.name, dims: x.dims })), ms: v.ms };
      },
    });
    ctx.progress({ id: 'onnx', phase: 'done', text: `paddle2onnx wrote ${o.save_file}` });
    report = {
      engine: 'paddle2onnx', file: r.file, size: r.size, ...(r.opset === undefined ? {} : { opset: r.opset }),
      tool: { path: r.tool, ...(r.version ? { version: r.version } : {}), argv: r.argv }, inputs: model.feeds, outputs: model.fetches, validation,
      ...(r.warnings.length ? { warnings: r.warnings } : {}),
    };
  } else {
    ctx.progress({ id: 'onnx', phase: 'start', text: `native: converting ${model.modelFile}` });
    if (p2o.autoUpdate !== true && o.opset_version === undefined && o.enable_auto_update_opset !== undefined) p2o.notes.push('--enable_auto_update_opset: without --opset_version the native engine already picks the lowest opset the ops need');
    if (flag(o.export_fp16_model, 'export_fp16_model') === true) throw fp16Refused();
    const check = p2o.checker ? onnxChecker(p2o.notes, o.validate) : undefined;
    const r = await convertToOnnx(o.model_dir, {
      model, saveFile: o.save_file, validate: o.validate, opsetVersion: o.opset_version, ...(check ? { check } : {}),
      ...(p2o.inputShapes ? { inputShapes: p2o.inputShapes } : {}), ...(p2o.autoUpdate ? { autoUpdateOpset: true } : {}),
      ...(o.external_filename ? { externalDataName: o.external_filename } : {}), ...(o.quant ? { quant: o.quant } : {}) });
    ctx.progress({ id: 'onnx', phase: 'done', text: `native engine wrote ${o.save_file}` });
    report = {
      engine: 'native', file: r.file!, ...(r.externalDataFile ? { externalDataFile: r.externalDataFile } : {}), size: r.size, opset: r.opset,
      inputs: r.inputs, outputs: r.outputs, ops: r.ops, ...(r.controlFlow ? { controlFlow: r.controlFlow } : {}),
      validation: r.validation ? { ok: true, outputs: r.validation.outputs.map((x) => ({ name: x.name, dims: x.dims })), ms: r.validation.ms } : { skipped: true },
    };
  }
  if (reason) report.reason = reason;
  // --json speaks in absolute paths
  report.file = resolve(ctx.cwd, report.file);
  if (report.externalDataFile) report.externalDataFile = resolve(ctx.cwd, report.externalDataFile);
  if (report.engine === 'native' && p2o.notes.length) report.notes = p2o.notes;
  return { data: report, text: render(report) };
}

function render(r: OnnxReport): string {
  const lines = [
    `engine    ${r.engine}${r.reason ? ` (${r.reason})` : ''}`,
    `wrote     ${r.file} (${r.size} bytes${r.opset === undefined ? '' : `, opset ${r.opset}`})`,
  ];
  if (r.externalDataFile) lines.push(`data      ${r.externalDataFile}`);
  for (const w of r.warnings ?? []) lines.push(`warning   ${w}`);
  for (const n of r.notes ?? []) lines.push(`note      ${n}`);
  for (const i of r.inputs) lines.push(`input     ${i.name} ${i.dtype} [${i.shape.join(',')}]`);
  for (const i of r.outputs) lines.push(`output    ${i.name} ${i.dtype} [${i.shape.join(',')}]`);
  for (const l of r.controlFlow?.loops ?? []) {
    lines.push(`loop      while (block ${l.subBlock}): ${l.result === 'unrolled' ? `unrolled, ${l.trips} trips` : l.result === 'loop' ? `ONNX Loop${l.why ? ` (${l.why})` : ''}` : 'never runs (constant condition false)'}`);
  }
  const ifs = r.controlFlow?.branches ?? [];
  if (ifs.length) lines.push(`branches  ${ifs.filter((b) => b.result === 'if').length} conditional_block as ONNX If, ${ifs.filter((b) => b.result !== 'if').length} folded by constants`);
  if ('ok' in r.validation) {
    lines.push(`validated onnxruntime ran it: ${r.validation.outputs.map((x) => `${x.name} [${x.dims.join(',')}]`).join(', ')} finite (${r.validation.ms} ms)`);
  } else {
    lines.push('validated no (--no-validate)');
  }
  return lines.join('\n');
}
