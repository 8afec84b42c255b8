/**
 * The runtime a bundle carries: onnxruntime-node's and onnxruntime-common's JavaScript plus the
 * native binaries of ONE platform, copied from pserve's own installation. Only paths are
 * resolved here; onnxruntime itself is imported by src/runtime alone.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PserveError } from '../errors.js';

const require = createRequire(import.meta.url);

export interface RuntimeInfo { version: string; platform: string; files: number; bytes: number }

export function currentPlatform(): string {
  return `${process.platform}-${process.arch}`;
}

function packageDir(name: string, from?: string): string {
  try {
    // onnxruntime-common's "exports" hides package.json: resolve its entry and walk up to the package root
    const req = from ? createRequire(join(from, 'package.json')) : require;
    let dir = dirname(req.resolve(name));
    for (let i = 0; i < 8; i++) {
      const pj = join(dir, 'package.json');
      if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === name) return dir;
      dir = dirname(dir);
    }
  } catch { /* reported below */ }
  throw new PserveError('E_RUNTIME_MISSING', `${name} is not installed beside pserve`, { hint: 'reinstall pserve (npm install -g pserve)' });
}

export function availablePlatforms(): string[] {
  const bin = join(packageDir('onnxruntime-node'), 'bin', 'napi-v6');
  if (!existsSync(bin)) return [];
  const out: string[] = [];
  for (const os of readdirSync(bin)) for (const arch of readdirSync(join(bin, os))) {
    if (existsSync(join(bin, os, arch, 'onnxruntime_binding.node'))) out.push(`${os}-${arch}`);
  }
  return out.sort();
}

/** .js and package.json only: no maps, no typings, no sources */
function copyJs(src: string, dest: string, stats: { files: number; bytes: number }): void {
  for (const n of readdirSync(src).sort()) {
    const s = join(src, n);
    const st = statSync(s);
    if (st.isDirectory()) { copyJs(s, join(dest, n), stats); continue; }
    // nested package.json files carry "type": "commonjs" for dist/cjs and must travel too
    if (!/\.(c|m)?js$/.test(n) && n !== 'package.json') continue;
    mkdirSync(dest, { recursive: true });
    copyFileSync(s, join(dest, n));
    stats.files += 1;
    stats.bytes += st.size;
  }
}

function copyOne(src: string, dest: string, stats: { files: number; bytes: number }): void {
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(src, dest);
  stats.files += 1;
  stats.bytes += statSync(src).size;
}

/** Copy the runtime for `platform` (e.g. linux-x64) into `<bundle>/node_modules`. */
export function copyRuntime(bundleDir: string, platform: string): RuntimeInfo {
  const m = /^(linux|darwin|win32)-(x64|arm64)$/.exec(platform);
  if (!m) throw new PserveError('E_PLATFORM_INVALID', `platform "${platform}" is not one of linux-x64, linux-arm64, darwin-arm64, win32-x64, win32-arm64`);
  const ortDir = packageDir('onnxruntime-node');
  const commonDir = packageDir('onnxruntime-common', ortDir);
  const nativeDir = join(ortDir, 'bin', 'napi-v6', m[1]!, m[2]!);
  if (!existsSync(join(nativeDir, 'onnxruntime_binding.node'))) {
    throw new PserveError('E_PLATFORM_UNAVAILABLE', `onnxruntime-node has no native binaries for ${platform} in this installation (it has ${availablePlatforms().join(', ') || 'none'})`, { file: nativeDir });
  }
  const version = (JSON.parse(readFileSync(join(ortDir, 'package.json'), 'utf8')) as { version: string }).version;
  const nm = join(bundleDir, 'node_modules');
  const stats = { files: 0, bytes: 0 };
  copyOne(join(ortDir, 'package.json'), join(nm, 'onnxruntime-node', 'package.json'), stats);
  copyJs(join(ortDir, 'dist'), join(nm, 'onnxruntime-node', 'dist'), stats);
  // every file of the platform folder: when a user installed the CUDA provider libraries into
  // pserve's copy, the bundle carries them too
  for (const n of readdirSync(nativeDir).sort()) {
    if (statSync(join(nativeDir, n)).isFile()) copyOne(join(nativeDir, n), join(nm, 'onnxruntime-node', 'bin', 'napi-v6', m[1]!, m[2]!, n), stats);
  }
  copyOne(join(commonDir, 'package.json'), join(nm, 'onnxruntime-common', 'package.json'), stats);
  copyJs(join(commonDir, 'dist', 'cjs'), join(nm, 'onnxruntime-common', 'dist', 'cjs'), stats);
  copyJs(join(commonDir, 'dist', 'esm'), join(nm, 'onnxruntime-common', 'dist', 'esm'), stats);
  return { version, platform, ...stats };
}

/**
 * Copy @grpc/grpc-js (pure JavaScript: its build/src, package.json, LICENSE) and the one package
 * it loads at start, @js-sdsl/ordered-map, into `<bundle>/node_modules`, for the server's gRPC
 * port. @grpc/proto-loader is not copied: grpc-js loads it only for channelz and ORCA, which the
 * bundle server does not use (it encodes its messages itself).
 */
export function copyGrpc(bundleDir: string): { version: string; files: number; bytes: number } {
  const grpcDir = packageDir('@grpc/grpc-js');
  const mapDir = packageDir('@js-sdsl/ordered-map', grpcDir);
  const nm = join(bundleDir, 'node_modules');
  const stats = { files: 0, bytes: 0 };
  for (const [dir, name, sub] of [[grpcDir, '@grpc/grpc-js', 'build'], [mapDir, '@js-sdsl/ordered-map', 'dist']] as const) {
    copyOne(join(dir, 'package.json'), join(nm, name, 'package.json'), stats);
    if (existsSync(join(dir, 'LICENSE'))) copyOne(join(dir, 'LICENSE'), join(nm, name, 'LICENSE'), stats);
    copyJs(join(dir, sub), join(nm, name, sub), stats);
  }
  const version = (JSON.parse(readFileSync(join(grpcDir, 'package.json'), 'utf8')) as { version: string }).version;
  return { version, ...stats };
}
