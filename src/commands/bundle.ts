/** `pserve bundle`: a folder that serves a model with nothing but node. */
import type { CommandContext, CommandResult } from '../cli/context.js';
import { bytesHuman } from '../cli/render.js';
import { buildBundle, type BundleReport } from '../bundle/build-bundle.js';
import { parseOptions, z } from './options.js';

const Options = z.object({
  serving_server: z.string().min(1),
  serving_client: z.string().min(1).optional(),
  onnx: z.string().min(1).optional(),
  out: z.string().min(1),
  name: z.string().min(1).optional(),
  port: z.coerce.number().int().min(0).max(65535).optional(),
  device: z.enum(['cpu', 'gpu', 'webgpu', 'auto']).optional(),
  platform: z.enum(['linux-x64', 'linux-arm64', 'darwin-arm64', 'darwin-x64', 'win32-x64', 'win32-arm64']).optional(),
  model_filename: z.string().min(1).optional(),
  params_filename: z.string().min(1).optional(),
  force: z.boolean().optional(),
});

export function renderBundle(r: BundleReport): string {
  const lines = [
    `bundle    ${r.out}`,
    `service   ${r.name}  (POST /${r.name}/prediction, /v2/models/${r.name}/infer)`,
    `model     model.onnx ${bytesHuman(r.onnx.size)} (${r.onnx.from}), sha256 ${r.onnx.sha256.slice(0, 16)}...`,
    `runtime   onnxruntime-node for ${r.platform}, ${bytesHuman(r.runtimeBytes)}`,
    `files     ${r.files}, ${bytesHuman(r.bytes)} in all`,
    `feeds     ${r.feeds.map((f) => `${f.alias} ${f.dtype}[${f.shape.join(',')}]`).join(', ')}`,
    `fetches   ${r.fetches.map((f) => `${f.alias} ${f.dtype}[${f.shape.join(',')}]`).join(', ')}`,
    '',
    `start it: cd ${r.out} && node server.mjs`,
  ];
  return lines.join('\n');
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<BundleReport & { ok: true }>> {
  const o = parseOptions(Options, opts, 'bundle');
  const report = await buildBundle({
    servingServer: o.serving_server,
    ...(o.serving_client ? { servingClient: o.serving_client } : {}),
    ...(o.onnx ? { onnx: o.onnx } : {}),
    out: o.out,
    ...(o.name ? { name: o.name } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.device ? { device: o.device } : {}),
    ...(o.platform ? { platform: o.platform } : {}),
    ...(o.model_filename ? { modelFilename: o.model_filename } : {}),
    ...(o.params_filename ? { paramsFilename: o.params_filename } : {}),
    force: o.force === true,
  }, ctx.progress);
  return { data: { ok: true, ...report }, text: renderBundle(report) };
}
