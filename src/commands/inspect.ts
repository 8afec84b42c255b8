/** `pserve inspect PATH`: what a Paddle model is. */
import { resolve } from 'node:path';
import type { CommandContext, CommandResult } from '../cli/context.js';
import { bytesHuman, shapeStr, table } from '../cli/render.js';
import { nativeVerdict, type NativeVerdict } from '../convert/onnx/verdict.js';
import { loadModel } from '../model/load-model.js';
import type { TensorSpec } from '../model/types.js';
import { parseOptions, z } from './options.js';

const Options = z.object({
  path: z.string().min(1),
  model_filename: z.string().min(1).optional(),
  params_filename: z.string().min(1).optional(),
});

export interface InspectReport {
  format: 'paddle-program' | 'paddle-pir';
  paddleVersion?: string;
  modelFile: string;
  paramsFile: string | null;
  paramsLayout: 'combined' | 'separate' | 'none';
  feeds: TensorSpec[];
  fetches: TensorSpec[];
  ops: Record<string, number>;
  params: { count: number; elements: number; bytes: number };
  /** what `pserve onnx --engine native` makes of it: op types it cannot convert yet, training-program signals */
  onnx: NativeVerdict;
  warnings: string[];
}

export function inspectModel(path: string, modelFilename?: string, paramsFilename?: string): InspectReport {
  const m = loadModel(path, { modelFilename, paramsFilename, params: 'optional' });
  const ops: Record<string, number> = {};
  for (const b of m.blocks) for (const op of b.ops) ops[op.type] = (ops[op.type] ?? 0) + 1;
  const sorted = Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
  const report: InspectReport = {
    format: m.format,
    ...(m.paddleVersion === undefined ? {} : { paddleVersion: m.paddleVersion }),
    modelFile: m.modelFile,
    paramsFile: m.paramsFile,
    paramsLayout: m.paramsLayout,
    feeds: m.feeds.map(plain),
    fetches: m.fetches.map(plain),
    ops: sorted,
    params: {
      count: m.params.length,
      elements: m.params.reduce((s, p) => s + p.numel, 0),
      bytes: m.params.reduce((s, p) => s + p.byteLength, 0),
    },
    onnx: nativeVerdict(m),
    warnings: m.warnings,
  };
  return report;
}

function plain(t: TensorSpec): TensorSpec {
  return { name: t.name, dtype: t.dtype, shape: t.shape, lodLevel: t.lodLevel };
}

export function renderInspect(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`model     ${r.modelFile}`);
  lines.push(`format    ${r.format}${r.paddleVersion ? ` (Paddle ${r.paddleVersion})` : ''}`);
  lines.push(`params    ${r.paramsLayout === 'none' ? 'none' : `${r.paramsLayout}${r.paramsFile ? ` ${r.paramsFile}` : ''}`}: ${r.params.count} tensors, ${r.params.elements} elements, ${bytesHuman(r.params.bytes)}`);
  lines.push('');
  const rows = [
    ...r.feeds.map((f, i) => ['feed', i, f.name, f.dtype, shapeStr(f.shape), f.lodLevel]),
    ...r.fetches.map((f, i) => ['fetch', i, f.name, f.dtype, shapeStr(f.shape), f.lodLevel]),
  ];
  lines.push(table(['kind', 'col', 'name', 'dtype', 'shape', 'lod'], rows));
  lines.push('');
  const total = Object.values(r.ops).reduce((a, b) => a + b, 0);
  lines.push(`ops (${total} in all, ${Object.keys(r.ops).length} types)`);
  lines.push(table(['op', 'count'], Object.entries(r.ops).map(([k, v]) => [k, v])));
  lines.push('');
  const v = r.onnx;
  if (v.training.training) lines.push(`onnx      not convertible: ${v.training.message}`);
  else if (r.fetches.length === 0) lines.push('onnx      not convertible: the program has no fetch ops (not saved with save_inference_model), so there is nothing to output');
  else if (v.unsupported.length === 0) {
    const o = v.opset;
    lines.push(`onnx      the native engine converts every op of this program${o ? `, at opset ${o.lowest} or higher${o.setBy.length ? ` (set by ${o.setBy.join(', ')})` : ''}` : ''}`);
  }
  else {
    const n = v.unsupported.length;
    lines.push(`onnx      the native engine cannot convert ${n} op type${n > 1 ? 's' : ''} yet: ${v.unsupported.map((u) => `${u.op} x${u.count}${u.reason ? ` (${u.reason})` : ''}`).join(', ')}`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (v.training.training) lines.push(`warning: ${v.training.message}`);
  return lines.join('\n');
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<InspectReport>> {
  const o = parseOptions(Options, opts, 'inspect');
  const report = inspectModel(resolve(ctx.cwd, o.path), o.model_filename, o.params_filename);
  return { data: report, text: renderInspect(report) };
}
