/**
 * `pserve onnx`: Paddle -> ONNX. Engine `paddle2onnx` when that tool is on PATH and usable (auto),
 * else the native converter; the output says which ran. The written model is validated in
 * onnxruntime unless --no-validate.
 */
import type { CommandContext, CommandResult } from '../cli/context.js';
import { convertToOnnx, validateOnnx } from '../convert/onnx/index.js';
import { probePaddle2onnx, runPaddle2onnx } from '../convert/paddle2onnx.js';
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
  validation: { ok: true; outputs: { name: string; dims: number[] }[]; ms: number } | { skipped: true };
  reason?: string;
  /** paddle2onnx's [WARN] lines (e.g. an NMS export that only takes batch 1) */
  warnings?: string[];
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<OnnxReport>> {
  const o = parseOptions(Options, opts, 'onnx');
  const model = loadModel(o.model_dir, { modelFilename: o.model_filename, paramsFilename: o.params_filename, params: 'require' });
  if (o.quant && o.engine === 'paddle2onnx') {
    throw new PserveError('E_USAGE', '--quant applies to the native engine (paddle2onnx does not convert fake-quant ops)', { kind: 'usage', hint: 'drop --quant, or use --engine native' });
  }
  const probe = o.engine === 'native' || o.quant ? undefined : probePaddle2onnx();
  let reason: string | undefined;
  if (o.engine === 'paddle2onnx' && !probe) {
    throw new PserveError('E_PADDLE2ONNX_MISSING', 'paddle2onnx is not on PATH or does not answer -h like paddle2onnx', { kind: 'usage', hint: 'pip install paddle2onnx, or use --engine native' });
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
    const r = await convertToOnnx(o.model_dir, { model, saveFile: o.save_file, validate: o.validate, opsetVersion: o.opset_version, ...(o.quant ? { quant: o.quant } : {}) });
    ctx.progress({ id: 'onnx', phase: 'done', text: `native engine wrote ${o.save_file}` });
    report = {
      engine: 'native', file: r.file!, ...(r.externalDataFile ? { externalDataFile: r.externalDataFile } : {}), size: r.size, opset: r.opset,
      inputs: r.inputs, outputs: r.outputs, ops: r.ops,
      validation: r.validation ? { ok: true, outputs: r.validation.outputs.map((x) => ({ name: x.name, dims: x.dims })), ms: r.validation.ms } : { skipped: true },
    };
  }
  if (reason) report.reason = reason;
  return { data: report, text: render(report) };
}

function render(r: OnnxReport): string {
  const lines = [
    `engine    ${r.engine}${r.reason ? ` (${r.reason})` : ''}`,
    `wrote     ${r.file} (${r.size} bytes${r.opset === undefined ? '' : `, opset ${r.opset}`})`,
  ];
  if (r.externalDataFile) lines.push(`data      ${r.externalDataFile}`);
  for (const w of r.warnings ?? []) lines.push(`warning   ${w}`);
  for (const i of r.inputs) lines.push(`input     ${i.name} ${i.dtype} [${i.shape.join(',')}]`);
  for (const i of r.outputs) lines.push(`output    ${i.name} ${i.dtype} [${i.shape.join(',')}]`);
  if ('ok' in r.validation) {
    lines.push(`validated onnxruntime ran it: ${r.validation.outputs.map((x) => `${x.name} [${x.dims.join(',')}]`).join(', ')} finite (${r.validation.ms} ms)`);
  } else {
    lines.push('validated no (--no-validate)');
  }
  return lines.join('\n');
}
