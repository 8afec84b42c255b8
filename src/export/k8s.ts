/**
 * Kubernetes manifests for a bundle: a Deployment running the bundle's server (probes on the
 * KServe v2 health routes, resources, non-root, read-only root filesystem), a Service, a
 * HorizontalPodAutoscaler, Prometheus scrape annotations; and a KServe InferenceService, either
 * for a Triton model repository (`modelFormat: onnx`, `storageUri`) or for the bundle itself as a
 * custom v2 predictor container. Plain objects, written as YAML by `toYaml`.
 */
import type { BundleInfo } from './bundle-info.js';

export interface K8sOptions {
  image: string;
  replicas: number;
  maxReplicas: number;
  namespace?: string;
  /** a Triton repository's URI: the InferenceService serves it with Triton; else the bundle's image */
  storageUri?: string;
  cpu: string;
  memory: string;
  gpu: boolean;
}

export type K8sObject = Record<string, unknown>;

const label = (name: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'pserve' });

export function k8sObjects(b: BundleInfo, o: K8sOptions): { file: string; object: K8sObject }[] {
  const name = b.name.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 53) || 'pserve';
  const meta = (extra: Record<string, unknown> = {}) => ({ name, ...(o.namespace ? { namespace: o.namespace } : {}), labels: label(name), ...extra });
  const ports = [{ name: 'http', containerPort: b.httpPort, protocol: 'TCP' }, ...(b.rpcPort ? [{ name: 'grpc', containerPort: b.rpcPort, protocol: 'TCP' }] : [])];
  const probe = (path: string, initialDelaySeconds: number) => ({ httpGet: { path, port: 'http' }, initialDelaySeconds, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 });
  const resources = {
    requests: { cpu: o.cpu, memory: o.memory },
    limits: { memory: o.memory, ...(o.gpu ? { 'nvidia.com/gpu': '1' } : {}) },
  };
  const securityContext = {
    runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
  const container = {
    name: 'server',
    image: o.image,
    // the bundle's own entry, listening on all interfaces inside the pod
    command: ['node', 'server.mjs', '--host', '0.0.0.0', '--port', String(b.httpPort), ...(b.rpcPort ? ['--rpc-port', String(b.rpcPort)] : [])],
    ports,
    readinessProbe: probe('/v2/health/ready', 5),
    livenessProbe: probe('/v2/health/live', 15),
    resources,
    securityContext,
    // onnxruntime and node write nothing but a temp file now and then
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
  const scrape = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(b.httpPort), 'prometheus.io/path': '/metrics' };
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(),
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: label(name) },
      template: {
        metadata: { labels: label(name), annotations: scrape },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [container],
          volumes: [{ name: 'tmp', emptyDir: {} }],
          terminationGracePeriodSeconds: 30,
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta({ annotations: scrape }),
    spec: {
      selector: label(name),
      ports: ports.map((p) => ({ name: p.name, port: p.containerPort, targetPort: p.name, protocol: 'TCP' })),
    },
  };
  const hpa = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: o.replicas,
      maxReplicas: Math.max(o.replicas, o.maxReplicas),
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    },
  };
  const isvc = o.storageUri
    ? {
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: meta(),
      spec: {
        predictor: {
          minReplicas: o.replicas,
          maxReplicas: Math.max(o.replicas, o.maxReplicas),
          model: {
            modelFormat: { name: 'onnx' },
            runtime: 'kserve-tritonserver',
            protocolVersion: 'v2',
            storageUri: o.storageUri,
            resources,
          },
        },
      },
    }
    : {
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: meta({ annotations: scrape }),
      spec: {
        predictor: {
          minReplicas: o.replicas,
          maxReplicas: Math.max(o.replicas, o.maxReplicas),
          containers: [{
            name: 'kserve-container',
            image: o.image,
            command: ['node', 'server.mjs', '--host', '0.0.0.0', '--port', '8080'],
            ports: [{ name: 'http1', containerPort: 8080, protocol: 'TCP' }],
            readinessProbe: { httpGet: { path: '/v2/health/ready', port: 8080 }, periodSeconds: 10 },
            livenessProbe: { httpGet: { path: '/v2/health/live', port: 8080 }, periodSeconds: 10 },
            resources,
            securityContext,
          }],
        },
      },
    };
  return [
    { file: 'deployment.yaml', object: deployment },
    { file: 'service.yaml', object: service },
    { file: 'hpa.yaml', object: hpa },
    { file: 'inferenceservice.yaml', object: isvc },
  ];
}

/** YAML for plain JSON-like data: block style, keys in insertion order, strings quoted when YAML would read them as something else. */
export function toYaml(v: unknown, indent = 0): string {
  const pad = ' '.repeat(indent);
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return v.map((x) => {
      const body = toYaml(x, indent + 2);
      return isBlock(x) ? `${pad}- ${body.slice(indent + 2)}` : `${pad}- ${body}`;
    }).join('\n');
  }
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return '{}';
    return entries.map(([k, x]) => {
      const key = `${pad}${scalar(k)}:`;
      if (isBlock(x)) return `${key}\n${toYaml(x, indent + 2)}`;
      return `${key} ${toYaml(x, indent + 2)}`;
    }).join('\n');
  }
  return scalar(v);
}

function isBlock(x: unknown): boolean {
  return (Array.isArray(x) && x.length > 0) || (!!x && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length > 0);
}

function scalar(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  const s = String(v);
  // plain only when YAML 1.2 reads it back as this same string
  if (/^[A-Za-z_/][A-Za-z0-9_./-]*$/.test(s) && !/^(true|false|yes|no|on|off|null|y|n|~)$/i.test(s)) return s;
  return JSON.stringify(s);
}
