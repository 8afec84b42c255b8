/**
 * What the exporters need to know about a bundle, read from its own files: manifest.json (tensors,
 * name, runtime) and config.yml (ports, batching, workers, device), parsed by the same YAML reader
 * the bundle's server uses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PserveError } from '../errors.js';
import { readManifest, type BundleManifest, type BundleTensor } from '../bundle/manifest.js';

export interface BundleInfo {
  dir: string;
  name: string;
  manifest: BundleManifest;
  feeds: BundleTensor[];
  fetches: BundleTensor[];
  httpPort: number;
  /** 0 when the bundle serves no gRPC */
  rpcPort: number;
  maxBatch: number;
  /** inference workers the bundle runs (0 in config.yml: the server's default, 2) */
  workers: number;
  device: string;
  /** model.onnx, and its external data file when there is one */
  onnx: string;
  onnxData?: string;
  pipeline: boolean;
  /** a pipeline bundle's models (config.yml pipeline.models): name, ONNX file, serving conf folder */
  pipelineModels: { name: string; backendName: string; onnx: string; servingServer?: string; maxBatch?: number }[];
  /** a pipeline's steps and its response map, as config.yml writes them */
  pipelineSteps: Record<string, Record<string, unknown>>;
  pipelineResponse: Record<string, string>;
}

type Yaml = Record<string, unknown>;

async function parseYaml(text: string): Promise<Yaml> {
  // the server's own reader: one home for config.yml's grammar
  const url = new URL('../../templates/server/config.mjs', import.meta.url).href;
  const mod = (await import(url)) as { parseYaml(t: string): Yaml };
  return mod.parseYaml(text);
}

const int = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : dflt);

export async function readBundleInfo(dirArg: string): Promise<BundleInfo> {
  const dir = resolve(dirArg);
  if (!existsSync(join(dir, 'manifest.json'))) throw new PserveError('E_BUNDLE_NO_MANIFEST', 'no manifest.json: is this a pserve bundle?', { file: dir });
  const manifest = readManifest(dir);
  const cfgFile = join(dir, 'config.yml');
  let cfg: Yaml = {};
  try { cfg = await parseYaml(readFileSync(cfgFile, 'utf8')); } catch (e) {
    throw new PserveError('E_CONFIG_INVALID', `config.yml: ${(e as Error).message}`, { file: cfgFile });
  }
  const ps = (cfg['pserve'] ?? {}) as Yaml;
  const ops = (cfg['op'] ?? {}) as Record<string, Yaml>;
  const op = ops[manifest.name] ?? Object.values(ops)[0] ?? {};
  const lsc = (op['local_service_conf'] ?? {}) as Yaml;
  const deviceType = int(lsc['device_type'], 0);
  const onnx = join(dir, typeof ps['model'] === 'string' ? ps['model'] : 'model.onnx');
  return {
    dir,
    name: manifest.name,
    manifest,
    feeds: manifest.feeds,
    fetches: manifest.fetches,
    httpPort: int(cfg['http_port'], manifest.server?.port ?? 9393),
    rpcPort: int(cfg['rpc_port'], 0),
    maxBatch: int(ps['max_batch'], 8),
    workers: int(ps['workers'], 0) || 2,
    device: typeof ps['device'] === 'string' ? ps['device'] : deviceType === 1 ? 'gpu' : 'cpu',
    onnx,
    ...(existsSync(`${onnx}.data`) ? { onnxData: `${onnx}.data` } : {}),
    pipeline: 'pipeline' in cfg || 'pipeline' in ps,
    pipelineSteps: (((cfg['pipeline'] ?? {}) as Yaml)['steps'] ?? {}) as Record<string, Record<string, unknown>>,
    pipelineResponse: (((cfg['pipeline'] ?? {}) as Yaml)['response'] ?? {}) as Record<string, string>,
    pipelineModels: Object.entries(((cfg['pipeline'] ?? {}) as Yaml)['models'] as Record<string, Yaml> ?? {}).map(([name, m]) => ({
      name,
      backendName: typeof m['backend_model'] === 'string' ? m['backend_model'] : name,
      onnx: join(dir, String(m['onnx'] ?? '')),
      ...(typeof m['serving_server'] === 'string' ? { servingServer: join(dir, m['serving_server']) } : {}),
      ...(typeof m['max_batch'] === 'number' ? { maxBatch: m['max_batch'] } : {}),
    })),
  };
}
