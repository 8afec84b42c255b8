/**
 * A Dockerfile for a bundle: the official Node image pinned by version (slim, glibc: onnxruntime's
 * binaries need it), the bundle copied as it is (owned by root, so the server cannot change it),
 * run as the image's non-root `node` user, HEALTHCHECK on the KServe ready route, its ports
 * exposed. Same bundle, same bytes: nothing time- or machine-dependent is written.
 */
import { PserveError } from '../errors.js';
import type { BundleInfo } from './bundle-info.js';

/** the Node line the bundles are tested on, pinned by version; --base-image picks another */
export const DEFAULT_BASE_IMAGE = 'node:22.12.0-bookworm-slim';

export function renderDockerfile(b: BundleInfo, baseImage = DEFAULT_BASE_IMAGE): string {
  if (!/^linux-(x64|arm64)$/.test(b.manifest.runtime.platform)) {
    throw new PserveError('E_EXPORT_PLATFORM', `the bundle carries onnxruntime for ${b.manifest.runtime.platform}; a Linux image needs a bundle built with --platform linux-x64 or linux-arm64`, { file: b.dir });
  }
  const arch = b.manifest.runtime.platform === 'linux-arm64' ? 'linux/arm64' : 'linux/amd64';
  const ports = [b.httpPort, ...(b.rpcPort ? [b.rpcPort] : [])];
  const ready = `fetch('http://127.0.0.1:${b.httpPort}/v2/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
  return [
    '# syntax=docker/dockerfile:1',
    `# pserve bundle "${b.name}" (pserve ${b.manifest.pserveVersion}, onnxruntime-node ${b.manifest.runtime.version} for ${b.manifest.runtime.platform}).`,
    `# Build from the bundle folder: docker build --platform ${arch} -f Dockerfile -t IMAGE BUNDLE_DIR`,
    `FROM --platform=${arch} ${baseImage}`,
    'ENV NODE_ENV=production',
    'WORKDIR /srv/bundle',
    '# the bundle as it is, owned by root: the server only reads it',
    'COPY . .',
    'USER node',
    `EXPOSE ${ports.join(' ')}`,
    `HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 CMD ["node", "-e", ${JSON.stringify(ready)}]`,
    `CMD ["node", "server.mjs", "--host", "0.0.0.0", "--port", "${b.httpPort}"${b.rpcPort ? `, "--rpc-port", "${b.rpcPort}"` : ''}]`,
    '',
  ].join('\n');
}

/** what the build context must not send: nothing the bundle's manifest does not list belongs in the image */
export function renderDockerignore(): string {
  return ['# written by pserve export dockerfile', 'Dockerfile', 'Dockerfile.dockerignore', '.dockerignore', '**/.*.pserve-tmp-*', ''].join('\n');
}
