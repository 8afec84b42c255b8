/**
 * `buildPipelineBundle`: a bundle that is a whole pipeline service (`pserve bundle --recipe ...`):
 * several models (each converted to ONNX natively, or given), the files the steps read (labels,
 * the vector index), config.yml with the DAG, server.mjs and its modules, one platform's
 * onnxruntime, README.md and the manifest. The pipeline is checked (every step's parameters
 * through its schema, every reference) before anything is written; built in a temp sibling.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PserveError, fsError } from '../errors.js';
import { SERVER_CONF, varsOf } from '../formats/serving-conf.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import { writeDirAtomic } from '../util/atomic.js';
import { TEMPLATES_DIR, checkName, copyServer, pserveVersion, readConf, tensorsFrom, type BundleDevice, type Progress } from './build-bundle.js';
import { servingConfLines } from './config-yml.js';
import { MANIFEST, fileEntries, manifestHead, manifestText, type BundleManifest, type BundleTensor } from './manifest.js';
import { pipelineModules, validatePipeline } from './pipeline-schema.js';
import { imagenetRecipe, ppshituRecipe, pptsmRecipe, pptsnRecipe, renderYaml, type ModelIo, type Recipe, type RecipeName } from './recipes.js';
import { copyGrpc, copyRuntime, currentPlatform } from './runtime-files.js';

export interface PipelineBundleOptions {
  recipe: RecipeName;
  out: string;
  /** imagenet, pptsm, pptsn: the model's serving folder (pserve convert output beside the Paddle model) */
  servingServer?: string;
  /** imagenet, pptsm, pptsn: an ONNX file to use instead of converting */
  onnx?: string;
  /** ppshitu: detector and feature model serving folders, ONNX overrides, and the index folder */
  det?: string;
  rec?: string;
  detOnnx?: string;
  recOnnx?: string;
  index?: string;
  labels?: string;
  name?: string;
  port?: number;
  device?: BundleDevice;
  platform?: string;
  force?: boolean;
}

export interface PipelineBundleReport {
  out: string;
  recipe: RecipeName;
  name: string;
  port: number;
  route: string;
  platform: string;
  models: { name: string; role: string; onnx: { from: 'converted' | 'given'; size: number; sha256: string }; feeds: BundleTensor[]; fetches: BundleTensor[] }[];
  maxBodyBytes: number;
  files: number;
  bytes: number;
  runtimeBytes: number;
}

interface ModelSource { name: string; role: string; batch: boolean; dir: string; flag: string; onnx?: string; onnxFlag: string; feeds: BundleTensor[]; fetches: BundleTensor[]; loaded?: LoadedModel }

const usage = (msg: string) => new PserveError('E_USAGE', msg, { kind: 'usage' });

function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

/** a model folder's serving conf: its aliases and tensors (shapes from the program when it loads) */
function modelSource(name: string, role: string, batch: boolean, dirOpt: string | undefined, flag: string, onnx: string | undefined, onnxFlag: string): ModelSource {
  if (!dirOpt) throw usage(`pserve bundle: --${flag} is required for this recipe (the ${role}'s serving folder)`);
  const dir = resolve(dirOpt);
  if (!isDir(dir)) throw new PserveError('E_NOT_FOUND', `--${flag} folder not found`, { file: dir });
  if (onnx && !existsSync(onnx)) throw new PserveError('E_NOT_FOUND', `--${onnxFlag} file not found`, { file: resolve(onnx) });
  const { conf } = readConf(dir, SERVER_CONF);
  const feedsConf = varsOf(conf, 'feed');
  const fetchesConf = varsOf(conf, 'fetch');
  if (feedsConf.length === 0 || fetchesConf.length === 0) {
    throw new PserveError('E_SERVING_CONF_INVALID', `the ${role}'s serving conf has ${feedsConf.length} feed_var and ${fetchesConf.length} fetch_var blocks; it needs at least one of each`, { file: join(dir, SERVER_CONF) });
  }
  let loaded: LoadedModel | undefined;
  try {
    loaded = loadModel(dir, { params: onnx ? 'skip' : 'require' });
  } catch (e) {
    if (!onnx) throw e;
  }
  return { name, role, batch, dir, flag, onnx: onnx ? resolve(onnx) : undefined, onnxFlag, loaded, feeds: tensorsFrom('feed', feedsConf, loaded?.feeds), fetches: tensorsFrom('fetch', fetchesConf, loaded?.fetches) };
}

/** aliases, and the shape of the image feed (the first feed that is not a detector's im_shape / scale_factor) */
function ioOf(m: ModelSource): ModelIo {
  const image = m.feeds.find((f) => f.alias !== 'im_shape' && f.alias !== 'scale_factor');
  return { feeds: m.feeds.map((f) => f.alias), fetches: m.fetches.map((f) => f.alias), ...(image ? { inputShape: image.shape } : {}) };
}

function fileArg(p: string | undefined, flag: string, what: string): string {
  if (!p) throw usage(`pserve bundle: --${flag} is required for this recipe (${what})`);
  const abs = resolve(p);
  if (!existsSync(abs) || isDir(abs)) throw new PserveError('E_NOT_FOUND', `--${flag} file not found`, { file: abs });
  return abs;
}

export async function buildPipelineBundle(opts: PipelineBundleOptions, progress: Progress = () => {}): Promise<PipelineBundleReport> {
  const out = resolve(opts.out);
  const platform = opts.platform ?? currentPlatform();
  const device = opts.device ?? 'cpu';

  // inputs, per recipe
  let recipe: Recipe;
  let sources: ModelSource[];
  let labels: string | undefined;
  let indexDir: string | undefined;
  if (opts.recipe === 'ppshitu') {
    for (const f of ['serving_server', 'onnx', 'labels'] as const) {
      const v = { serving_server: opts.servingServer, onnx: opts.onnx, labels: opts.labels }[f];
      if (v) throw usage(`pserve bundle --recipe ppshitu: --${f} does not apply (use --det, --rec, --det_onnx, --rec_onnx, --index)`);
    }
    const det = modelSource('det', 'detector', false, opts.det, 'det', opts.detOnnx, 'det_onnx');
    const rec = modelSource('rec', 'feature model', true, opts.rec, 'rec', opts.recOnnx, 'rec_onnx');
    if (!opts.index) throw usage('pserve bundle --recipe ppshitu: --index is required (the folder with vector.index and id_map.pkl)');
    indexDir = resolve(opts.index);
    for (const f of ['vector.index', 'id_map.pkl']) {
      if (!existsSync(join(indexDir, f))) throw new PserveError('E_NOT_FOUND', `--index folder has no ${f} (PaddleClas build_gallery.py writes vector.index and id_map.pkl)`, { file: join(indexDir, f) });
    }
    sources = [det, rec];
    recipe = ppshituRecipe(ioOf(det), ioOf(rec));
  } else {
    for (const [f, v] of [['det', opts.det], ['rec', opts.rec], ['det_onnx', opts.detOnnx], ['rec_onnx', opts.recOnnx], ['index', opts.index]] as const) {
      if (v) throw usage(`pserve bundle --recipe ${opts.recipe}: --${f} applies to --recipe ppshitu only`);
    }
    const role = opts.recipe === 'imagenet' ? 'image classifier' : 'video classifier';
    const name = opts.recipe === 'imagenet' ? 'imagenet' : 'video';
    const m = modelSource(name, role, true, opts.servingServer, 'serving_server', opts.onnx, 'onnx');
    labels = fileArg(opts.labels, 'labels', opts.recipe === 'imagenet' ? 'imagenet.label' : 'Kinetics-400_label_list.txt');
    sources = [m];
    recipe = opts.recipe === 'imagenet' ? imagenetRecipe(ioOf(m), basename(labels)) : opts.recipe === 'pptsn' ? pptsnRecipe(ioOf(m), basename(labels)) : pptsmRecipe(ioOf(m), basename(labels));
  }
  for (const s of sources) {
    if (out === s.dir || out.startsWith(`${s.dir}${sep}`)) throw usage(`--out must be outside --${s.flag} (the bundle copies that folder)`);
  }
  const name = opts.name ?? recipe.service;
  checkName(name);
  const port = opts.port ?? recipe.port;

  // config.yml, checked through the step schemas and the server's own reader before anything is written
  const version = pserveVersion();
  const configText = renderPipelineConfig(recipe, { name, port, device, version });
  const mods = await pipelineModules();
  const parsed = mods.parseYaml(configText);
  validatePipeline(mods, parsed['pipeline']);
  const templates = fileURLToPath(TEMPLATES_DIR);

  return writeDirAtomic(out, (tmp) => build(tmp).catch((e: unknown) => {
    throw e instanceof PserveError ? e : fsError(e, out, 'writing the bundle');
  }), { replace: opts.force === true });

  async function build(tmp: string): Promise<PipelineBundleReport> {
    const models: PipelineBundleReport['models'] = [];
    for (const s of sources) {
      const dir = join(tmp, 'models', s.name);
      mkdirSync(dir, { recursive: true });
      const onnxFile = join(dir, 'model.onnx');
      let from: 'converted' | 'given';
      if (s.onnx) {
        progress({ id: `onnx-${s.name}`, phase: 'start', text: `copying ${s.onnx} (${s.role})` });
        copyFileSync(s.onnx, onnxFile);
        if (existsSync(`${s.onnx}.data`)) copyFileSync(`${s.onnx}.data`, `${onnxFile}.data`);
        from = 'given';
      } else {
        progress({ id: `onnx-${s.name}`, phase: 'start', text: `converting the ${s.role} (${basename(s.dir)}) to ONNX` });
        const { convertToOnnx } = await import('../convert/onnx/index.js');
        await convertToOnnx(s.dir, { model: s.loaded, saveFile: onnxFile, externalDataName: 'model.onnx.data' });
        from = 'converted';
      }
      progress({ id: `onnx-${s.name}`, phase: 'done', text: `models/${s.name}/model.onnx (${from})` });
      cpSync(s.dir, join(dir, 'serving_server'), { recursive: true, dereference: false, errorOnExist: true, force: false });
      models.push({ name: s.name, role: s.role, onnx: { from, size: 0, sha256: '' }, feeds: s.feeds, fetches: s.fetches });
    }
    if (labels) {
      mkdirSync(join(tmp, 'labels'));
      copyFileSync(labels, join(tmp, 'labels', basename(labels)));
    }
    if (indexDir) {
      mkdirSync(join(tmp, 'index'));
      for (const f of ['vector.index', 'id_map.pkl']) copyFileSync(join(indexDir, f), join(tmp, 'index', f));
    }
    writeFileSync(join(tmp, 'config.yml'), configText);
    copyServer(templates, tmp, version);

    progress({ id: 'runtime', phase: 'start', text: `copying onnxruntime-node for ${platform}` });
    const runtime = copyRuntime(tmp, platform);
    runtime.files += copyGrpc(tmp).files;
    progress({ id: 'runtime', phase: 'done', text: `onnxruntime-node ${runtime.version} for ${platform}: ${runtime.files} files`, bytes: runtime.bytes });

    writeFileSync(join(tmp, 'README.md'), renderPipelineReadme(recipe, { name, port, platform, version, ortVersion: runtime.version, models }));

    const files = fileEntries(tmp);
    for (const m of models) {
      const e = files.find((f) => f.path === `models/${m.name}/model.onnx`)!;
      m.onnx.size = e.size;
      m.onnx.sha256 = e.sha256;
    }
    const first = models[0]!;
    const manifest: BundleManifest = {
      ...manifestHead(name, version),
      createdFrom: {
        servingServer: basename(sources[0]!.dir),
        model: null,
        params: null,
        onnx: { from: first.onnx.from, sha256: first.onnx.sha256 },
      },
      feeds: first.feeds,
      fetches: first.fetches,
      runtime: { name: 'onnxruntime-node', version: runtime.version, platform, node: '>=20' },
      server: { entry: 'server.mjs', port, device },
      pipeline: {
        recipe: recipe.recipe,
        route: `/${name}/prediction`,
        models: models.map((m) => ({ name: m.name, role: m.role, onnx: { file: `models/${m.name}/model.onnx`, from: m.onnx.from, sha256: m.onnx.sha256 }, feeds: m.feeds, fetches: m.fetches })),
      },
      files,
    };
    writeFileSync(join(tmp, MANIFEST), manifestText(manifest));
    return {
      out,
      recipe: recipe.recipe,
      name,
      port,
      route: `/${name}/prediction`,
      platform,
      models,
      maxBodyBytes: recipe.maxBodyBytes,
      files: files.length + 1,
      bytes: files.reduce((s, f) => s + f.size, 0),
      runtimeBytes: runtime.bytes,
    };
  }
}

export function renderPipelineConfig(recipe: Recipe, o: { name: string; port: number; device: BundleDevice; version: string }): string {
  const lines = [
    `# Pipeline service "${o.name}" (pserve --recipe ${recipe.recipe}), written by pserve ${o.version}.`,
    '# node server.mjs reads it at start; command-line flags (--port, --host, --device) win.',
    '# The pipeline: section is the service: models, steps (each an op with its parameters, reading',
    '# earlier steps by name) and the answer. Edit thresholds and sizes here; the server checks every',
    '# step when it starts and names the step it refuses.',
    ...servingConfLines({ name: o.name, port: o.port, device: o.device, modelConfig: `models/${recipe.models[0]!.name}/serving_server` }),
    'pserve:',
    '  host: 127.0.0.1',
    ...(o.device === 'webgpu' || o.device === 'auto' ? [`  device: ${o.device}`] : []),
    '  max_batch: 8              # rows per model run when concurrent requests are micro-batched (1: off)',
    '  workers: 0                # inference worker threads per model (0: 2, or 1 on a single core)',
    '  step_workers: 2           # threads for image decoding and preprocessing under load (0: always on the HTTP thread; a request alone in the server runs there too)',
    `  max_body_bytes: ${recipe.maxBodyBytes}  # larger request bodies get a 413; peak memory per request: ${recipe.memoryNote}`,
    '  header_timeout_ms: 10000',
    `  body_timeout_ms: ${recipe.bodyTimeoutMs}`,
    '  drain_timeout_ms: 10000',
    'pipeline:',
    ...renderYaml(recipe.pipeline, 2),
  ];
  return `${lines.join('\n')}\n`;
}

interface PipelineReadmeVars { name: string; port: number; platform: string; version: string; ortVersion: string; models: PipelineBundleReport['models'] }

function renderPipelineReadme(recipe: Recipe, v: PipelineReadmeVars): string {
  const mib = (n: number) => `${Math.round(n / 1024 / 1024)} MiB`;
  const rows = v.models.flatMap((m) => [
    ...m.feeds.map((t) => `| ${m.name} (${m.role}) | feed | \`${t.alias}\` | ${t.dtype} | [${t.shape.join(', ')}] |`),
    ...m.fetches.map((t) => `| ${m.name} (${m.role}) | fetch | \`${t.alias}\` | ${t.dtype} | [${t.shape.join(', ')}] |`),
  ]);
  return [
    `# ${v.name}: a pipeline service (pserve --recipe ${recipe.recipe})`,
    '',
    `Written by pserve ${v.version} for ${v.platform} (onnxruntime-node ${v.ortVersion}). Start it with nothing but Node 20+:`,
    '',
    '```sh',
    'node server.mjs            # http://127.0.0.1:' + v.port + ` (--port, --host, --device cpu|gpu|webgpu|auto)`,
    '```',
    '',
    `It answers the seed's own client unchanged: ${recipe.clientExample}.`,
    '',
    '## Routes',
    '',
    `- \`POST /${v.name}/<method>\` (any method, as Paddle Serving's gateway): \`{"key":[...],"value":[...]}\` ->`,
    '  `{"err_no":0,"err_msg":"","key":[...],"value":[...],"tensors":[]}` whose values are Python `str()` texts, as upstream',
    '  (a wrong service name: err_no 3002; a bad request: err_no 5000 with the reason).',
    `- \`POST /pserve/pipeline/${v.name}\`: the same request, the answer as plain JSON \`{"ok":true,"result":{...}}\`.`,
    '- `GET /v2/health/live`, `GET /v2/health/ready`, `GET /metrics`.',
    '',
    '## Models',
    '',
    '| model | | alias | dtype | shape |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    '## The pipeline',
    '',
    'config.yml\'s `pipeline:` section is the whole service: `models` (ONNX files), `steps` (each `op` with its',
    'parameters; `in`, `feeds`, ... name earlier steps, `step.field` one of their outputs) and `response`',
    '(answer key -> step output). Every threshold and size of the upstream service is written there; edit and',
    'restart. The server checks each step when it starts and names the step and parameter it refuses.',
    '',
    '## Limits and memory',
    '',
    `Request bodies up to ${mib(recipe.maxBodyBytes)} (\`pserve.max_body_bytes\`, or \`--max-body-bytes\`), read as they`,
    `arrive within \`body_timeout_ms\` (${recipe.bodyTimeoutMs} ms). Peak memory per request in flight: ${recipe.memoryNote}.`,
    'Requests are answered concurrently; size the limit to the memory you can give the service. Image decoding and',
    'preprocessing run on `pserve.step_workers` threads (default 2) when requests overlap (a request alone runs them on the',
    'HTTP thread), the models on `pserve.workers` inference threads each. Held between requests: each thread that',
    'decodes images keeps its decoder memory (up to 128 MiB, for 5 s after a big image), each inference worker its',
    'batch buffers (up to 16 MiB per input), and the HTTP thread the model inputs the workers hand back for its next',
    'tensors (up to 8 buffers and 64 MiB, each dropped 5 s after it came back).',
    ...(recipe.recipe === 'ppshitu' ? [
      '',
      '## Status',
      '',
      'The recipe runs with any detector ONNX that outputs Paddle\'s `[N, 6]` rows (`class, score, x1, y1, x2, y2`)',
      'and per-image counts. The seed\'s PicoDet detector (and PP-YOLO tiny) need the converter\'s NMS and control-flow',
      'ops: until those land, give the detector with `--det_onnx` (e.g. from paddle2onnx).',
    ] : []),
    '',
  ].join('\n');
}
