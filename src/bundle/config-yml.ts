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

export function renderConfigYml(o: ConfigYmlOptions): string {
  // device_type is Paddle Serving's 0 cpu / 1 gpu; webgpu and auto exist only for pserve
  const deviceType = o.device === 'gpu' ? 1 : 0;
  const lines = [
    `# Paddle Serving pipeline config for "${o.name}", written by pserve ${o.pserveVersion}.`,
    '# node server.mjs reads it at start; command-line flags (--port, --host, --device) win.',
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
    '      model_config: serving_server',
    `      device_type: ${deviceType}`,
    `      devices: ${q(deviceType === 1 ? '0' : '')}`,
    `      fetch_list: [${o.fetchAliases.map(q).join(', ')}]`,
    '      thread_num: 0',
    'pserve:',
    '  model: model.onnx',
    '  host: 127.0.0.1',
    ...(o.device === 'webgpu' || o.device === 'auto' ? [`  device: ${o.device}`] : []),
    '  max_body_bytes: 16777216',
    '  header_timeout_ms: 10000',
    '  body_timeout_ms: 30000',
    '  drain_timeout_ms: 10000',
  ];
  return `${lines.join('\n')}\n`;
}
