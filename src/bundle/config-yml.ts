/**
 * config.yml in Paddle Serving's pipeline shape (FORMATS.md section 5), so people who know Paddle
 * Serving can read and edit it; the bundle server reads the same keys. pserve's own settings sit
 * under `pserve:`, which Paddle Serving would ignore.
 */
export interface ConfigYmlOptions {
  name: string;
  port: number;
  device: 'cpu' | 'gpu' | 'webgpu' | 'auto';
  fetchAliases: string[];
  pserveVersion: string;
}

const q = (s: string) => JSON.stringify(s);

/**
 * The Paddle Serving part of config.yml (http_port .. local_service_conf), the same for a
 * single-model bundle and a pipeline bundle; fetch_list only where fetch aliases are given.
 */
export function servingConfLines(o: { name: string; port: number; device: string; modelConfig: string; fetchAliases?: string[] }): string[] {
  // device_type is Paddle Serving's 0 cpu / 1 gpu; webgpu and auto exist only for pserve
  const deviceType = o.device === 'gpu' ? 1 : 0;
  return [
    `http_port: ${o.port}`,
    'rpc_port: 0',
    'worker_num: 1',
    'dag:',
    '  is_thread_op: false',
    'op:',
    `  ${o.name}:`,
    '    concurrency: 1',
    '    local_service_conf:',
    '      client_type: local_predictor',
    `      model_config: ${o.modelConfig}`,
    `      device_type: ${deviceType}`,
    `      devices: ${q(deviceType === 1 ? '0' : '')}`,
    ...(o.fetchAliases ? [`      fetch_list: [${o.fetchAliases.map(q).join(', ')}]`] : []),
    '      thread_num: 0  # runtime threads per inference worker (0: the cores but one, shared among the workers)',
  ];
}

export function renderConfigYml(o: ConfigYmlOptions): string {
  const lines = [
    `# Paddle Serving pipeline config for "${o.name}", written by pserve ${o.pserveVersion}.`,
    '# node server.mjs reads it at start; command-line flags (--port, --host, --device) win.',
    ...servingConfLines({ name: o.name, port: o.port, device: o.device, modelConfig: 'serving_server', fetchAliases: o.fetchAliases }),
    'pserve:',
    '  model: model.onnx',
    '  host: 127.0.0.1',
    ...(o.device === 'webgpu' || o.device === 'auto' ? [`  device: ${o.device}`] : []),
    '  # the server\'s tunables; a flag (--max-batch) or the environment (PSERVE_MAX_BATCH) wins',
    '  max_batch: 8              # rows per model run when concurrent requests are micro-batched (1: off)',
    '  workers: 0                # inference worker threads, one session each (0: 2, or 1 on a single core)',
    '  max_body_bytes: 16777216  # larger request bodies get a 413',
    '  header_timeout_ms: 10000  # a client must send its headers within this',
    '  body_timeout_ms: 30000    # ... and its whole request within this (408 otherwise)',
    '  drain_timeout_ms: 10000   # on SIGTERM, wait this long for requests in flight',
  ];
  return `${lines.join('\n')}\n`;
}
