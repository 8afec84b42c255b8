/**
 * `pserve export triton|k8s|dockerfile --bundle B --out DIR`: what pserve knows about a bundle,
 * in the formats of the engines teams run at scale. Each export is built in a temp sibling and
 * renamed into place (atomic), refuses an existing output without --force, and has --json.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { CommandContext, CommandResult } from '../cli/context.js';
import { PserveError, fsError } from '../errors.js';
import { writeDirAtomic } from '../util/atomic.js';
import { parseOptions, z } from './options.js';

const Options = z.object({
  target: z.enum(['triton', 'k8s', 'dockerfile'], { message: 'expected triton, k8s or dockerfile (pserve export <target> --bundle B --out DIR)' }),
  bundle: z.string({ message: 'is required' }).min(1),
  out: z.string().min(1).optional(),
  force: z.boolean().optional(),
  device: z.enum(['cpu', 'gpu']).optional(),
  name: z.string().min(1).optional(),
  image: z.string().min(1).optional(),
  storageUri: z.string().min(1).optional(),
  replicas: z.coerce.number().int().min(1).max(1000).default(1),
  maxReplicas: z.coerce.number().int().min(1).max(1000).default(4),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a Kubernetes namespace name').optional(),
  cpu: z.string().regex(/^\d+(\.\d+)?m?$/, 'expected a CPU quantity such as 1 or 500m').default('1'),
  memory: z.string().regex(/^\d+(Ki|Mi|Gi|K|M|G)?$/, 'expected a memory quantity such as 1Gi').default('1Gi'),
  baseImage: z.string().min(1).optional(),
}).superRefine((o, c) => {
  if (o.target === 'k8s' && !o.image) c.addIssue({ code: 'custom', path: ['image'], message: 'is required for export k8s (the image that holds the bundle, e.g. from export dockerfile)' });
  if (o.target !== 'triton' && o.device) c.addIssue({ code: 'custom', path: ['device'], message: 'is for export triton' });
});

export interface ExportReport {
  target: 'triton' | 'k8s' | 'dockerfile';
  bundle: string;
  out: string;
  files: string[];
  [k: string]: unknown;
}

export async function run(opts: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult<ExportReport>> {
  const o = parseOptions(Options, opts, 'export');
  const { readBundleInfo } = await import('../export/bundle-info.js');
  const b = await readBundleInfo(resolve(ctx.cwd, o.bundle));
  const out = resolve(ctx.cwd, o.out ?? `${b.dir}-${o.target}`);
  if (out === b.dir || out.startsWith(`${b.dir}/`)) throw new PserveError('E_USAGE', '--out must be outside the bundle (its manifest lists every file it holds)', { kind: 'usage', file: out });
  const files: string[] = [];
  const write = (dir: string, rel: string, body: string | Uint8Array) => {
    const f = join(dir, rel);
    try { mkdirSync(join(f, '..'), { recursive: true }); writeFileSync(f, body); } catch (e) { throw fsError(e, join(out, rel), 'export output'); }
    files.push(join(out, rel));
  };
  let extra: Record<string, unknown> = {};

  if (o.target === 'triton') {
    const { tritonModel, renderConfigPbtxt, renameModelIo, tensorsOfOnnx, pipelineEnsemble, renderEnsemblePbtxt } = await import('../export/triton.js');
    const device = o.device ?? (b.device === 'gpu' ? 'gpu' : 'cpu');
    if (b.pipeline) {
      // the steps that are not models (decoding, preprocessing, index search) stay in the pserve
      // front (server.mjs --model-backend URL); each model becomes a Triton model of its own,
      // named as the front asks for it (pipeline.models.<m>.backend_model, default <m>)
      if (o.name) throw new PserveError('E_USAGE', '--name is for a single-model bundle: a pipeline\'s models keep their names', { kind: 'usage' });
      const { parseServingConf, varsOf } = await import('../formats/serving-conf.js');
      const exported: Record<string, unknown>[] = [];
      const planned = b.pipelineModels.map((pm) => {
        let bytes: Uint8Array;
        try { bytes = readFileSync(pm.onnx); } catch (e) { throw fsError(e, pm.onnx, `pipeline model ${pm.name}`); }
        const aliases = new Map<string, string>();
        if (pm.servingServer) {
          try {
            const conf = parseServingConf(readFileSync(join(pm.servingServer, 'serving_server_conf.prototxt'), 'utf8'));
            for (const v of [...varsOf(conf, 'feed'), ...varsOf(conf, 'fetch')]) if (v.name && v.alias_name) aliases.set(v.name, v.alias_name);
          } catch { /* no conf: the model's own names */ }
        }
        const t = tensorsOfOnnx(bytes, aliases);
        const renamed = renameModelIo(bytes, tritonModel(pm.backendName, t.feeds, t.fetches, { maxBatch: pm.maxBatch ?? b.maxBatch, device, workers: b.workers }));
        exported.push({ model: pm.backendName, maxBatchSize: renamed.model.maxBatchSize, inputs: renamed.model.inputs, outputs: renamed.model.outputs });
        return { pm, ...renamed };
      });
      // a pipeline of models only (request tensors in, model steps chained) is also a Triton ensemble
      const byKey = new Map(planned.map((p) => [p.pm.name, p.model]));
      const backendOf = (k: string) => b.pipelineModels.find((pm) => pm.name === k)?.backendName ?? k;
      // named as the service, or <service>_ensemble when a model already has that name
      const taken = new Set(b.pipelineModels.map((pm) => pm.backendName));
      const ensemble = pipelineEnsemble(taken.has(b.name) ? `${b.name}_ensemble` : b.name, b.pipelineSteps, b.pipelineResponse, byKey, backendOf);
      await writeDirAtomic(out, (tmp) => {
        for (const { pm, bytes, model } of planned) {
          write(tmp, `${pm.backendName}/config.pbtxt`, renderConfigPbtxt(model));
          write(tmp, `${pm.backendName}/1/model.onnx`, bytes);
          // a model over 2 GB keeps its weights in model.onnx.data beside it, as the single-model branch copies
          if (existsSync(`${pm.onnx}.data`)) {
            try { copyFileSync(`${pm.onnx}.data`, join(tmp, pm.backendName, '1', 'model.onnx.data')); } catch (e) { throw fsError(e, `${pm.onnx}.data`, 'external data'); }
            files.push(join(out, pm.backendName, '1', 'model.onnx.data'));
          }
        }
        if (ensemble) {
          write(tmp, `${ensemble.name}/config.pbtxt`, renderEnsemblePbtxt(ensemble));
          // Triton wants a version folder for an ensemble too (empty)
          mkdirSync(join(tmp, ensemble.name, '1'), { recursive: true });
        }
      }, { replace: o.force === true });
      extra = ensemble
        ? { models: exported, ensemble: ensemble.name, front: 'none needed: every step is a model, Triton runs the whole pipeline as an ensemble' }
        : { models: exported, front: `node ${join(b.dir, 'server.mjs')} --model-backend http://TRITON:8000` };
      const report: ExportReport = { target: o.target, bundle: b.dir, out, files: files.sort(), ...extra };
      return { data: report, text: [`export triton: ${out} (${planned.length} model${planned.length === 1 ? '' : 's'} of the pipeline)`, ...report.files.map((f) => `  ${f}`), ...(extra['ensemble'] ? [`ensemble ${String(extra['ensemble'])}: Triton runs the whole pipeline`] : [`the pipeline's front: ${String(extra['front'])}`])].join('\n') };
    }
    const name = o.name ?? b.name;
    const m0 = tritonModel(name, b.feeds, b.fetches, { maxBatch: b.maxBatch, device, workers: b.workers });
    let onnxBytes: Uint8Array;
    try { onnxBytes = readFileSync(b.onnx); } catch (e) { throw fsError(e, b.onnx, 'model.onnx'); }
    const { bytes, model } = renameModelIo(onnxBytes, m0);
    await writeDirAtomic(out, (tmp) => {
      write(tmp, `${name}/config.pbtxt`, renderConfigPbtxt(model));
      write(tmp, `${name}/1/model.onnx`, bytes);
      if (b.onnxData) {
        try { copyFileSync(b.onnxData, join(tmp, name, '1', basename(b.onnxData))); } catch (e) { throw fsError(e, b.onnxData, 'external data'); }
        files.push(join(out, name, '1', basename(b.onnxData)));
      }
    }, { replace: o.force === true });
    extra = { model: name, maxBatchSize: model.maxBatchSize, inputs: model.inputs, outputs: model.outputs, instanceGroup: { kind: model.kind, count: model.count } };
  } else if (o.target === 'k8s') {
    const { k8sObjects, toYaml } = await import('../export/k8s.js');
    const objs = k8sObjects(b, {
      image: o.image!, replicas: o.replicas, maxReplicas: o.maxReplicas, cpu: o.cpu, memory: o.memory, gpu: b.device === 'gpu',
      ...(o.namespace ? { namespace: o.namespace } : {}), ...(o.storageUri ? { storageUri: o.storageUri } : {}),
    });
    await writeDirAtomic(out, (tmp) => {
      for (const { file, object } of objs) write(tmp, file, `# written by pserve export k8s from bundle "${b.name}"\n${toYaml(object)}\n`);
    }, { replace: o.force === true });
    extra = { kinds: objs.map((x) => x.object['kind']), inferenceService: o.storageUri ? 'triton' : 'custom-container' };
  } else {
    const { renderDockerfile, renderDockerignore, DEFAULT_BASE_IMAGE } = await import('../export/dockerfile.js');
    const text = renderDockerfile(b, o.baseImage ?? DEFAULT_BASE_IMAGE);
    await writeDirAtomic(out, (tmp) => {
      write(tmp, 'Dockerfile', text);
      // BuildKit reads <Dockerfile>.dockerignore beside a Dockerfile given with -f; .dockerignore for a copied context
      write(tmp, 'Dockerfile.dockerignore', renderDockerignore());
      write(tmp, '.dockerignore', renderDockerignore());
    }, { replace: o.force === true });
    extra = { baseImage: o.baseImage ?? DEFAULT_BASE_IMAGE, build: `docker build -f ${join(out, 'Dockerfile')} -t IMAGE ${b.dir}` };
  }
  const report: ExportReport = { target: o.target, bundle: b.dir, out, files: files.sort(), ...extra };
  const text = [`export ${o.target}: ${out}`, ...report.files.map((f) => `  ${f}`), ...(typeof extra['build'] === 'string' ? [`build it: ${extra['build']}`] : [])].join('\n');
  return { data: report, text };
}
