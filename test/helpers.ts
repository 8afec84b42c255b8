/**
 * Test helpers: where the shared real-Paddle fixtures are, temp dirs, and running the real CLI.
 * Tests that need ../shared/fixtures skip with a message when it is absent; under CI its absence
 * is a failure (CI always has it).
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe } from 'vitest';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = process.env['PSERVE_SHARED_FIXTURES'] ?? resolve(ROOT, '..', 'shared', 'fixtures');
export const HAVE_SHARED = existsSync(join(SHARED, 'README.md'));
export const BIN = join(ROOT, 'bin', 'pserve.js');

if (!HAVE_SHARED) {
  if (process.env['CI']) {
    throw new Error(`shared fixtures are required in CI but ${SHARED} is missing`);
  }
  // eslint-disable-next-line no-console
  console.warn(`[pserve tests] ${SHARED} not found: tests on real Paddle models are skipped. ` +
    'They come from the project\'s shared/fixtures folder, checked out beside this repo (or set PSERVE_SHARED_FIXTURES).');
}

/** describe() that runs only when the shared fixtures are present. */
export const describeShared: typeof describe = (HAVE_SHARED ? describe : describe.skip) as typeof describe;

export function shared(...p: string[]): string {
  return join(SHARED, ...p);
}

/** sha256 (hex) of a file's bytes. */
export function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Every file under `dir` (paths relative, `/`-joined, sorted) mapped to its sha256. */
export function treeHash(dir: string, rel = '', out: Record<string, string> = {}): Record<string, string> {
  for (const e of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${e}` : e;
    if (statSync(join(dir, r)).isDirectory()) treeHash(dir, r, out);
    else out[r] = sha(join(dir, r));
  }
  return out;
}

/** The python the oracle checks run (Debian's, with the packages .ci/run installs). */
export const PY = '/usr/bin/python3';
const PY_DEBS: Record<string, string> = {
  numpy: 'python3-numpy', cv2: 'python3-opencv', PIL: 'python3-pil', faiss: 'python3-faiss', onnx: 'python3-onnx',
  grpc: 'python3-grpcio', 'google.protobuf': 'python3-protobuf', requests: 'python3-requests', yaml: 'python3-yaml',
};
const pyChecked = new Map<string, boolean>();

/**
 * Whether /usr/bin/python3 imports every module of `modules` ("cv2, numpy"). When it does not, one
 * message says which oracle checks are skipped and how to get them; under CI it is an error (CI never
 * skips an oracle check).
 */
export function pyHas(modules: string): boolean {
  let ok = pyChecked.get(modules);
  if (ok === undefined) {
    ok = existsSync(PY) && spawnSync(PY, ['-c', `import ${modules}`]).status === 0;
    pyChecked.set(modules, ok);
    if (!ok) {
      const debs = modules.split(',').map((m) => PY_DEBS[m.trim()] ?? m.trim()).join(' ');
      if (process.env['CI']) throw new Error(`${PY} cannot import ${modules}, which the oracle checks need in CI (apt-get install ${debs})`);
      // eslint-disable-next-line no-console
      console.warn(`[pserve tests] ${PY} cannot import ${modules}: the checks against it are skipped (apt-get install ${debs})`);
    }
  }
  return ok;
}

/** A fresh temp dir, removed after the file's tests. */
export function tempDir(prefix = 'pserve-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** Run the real CLI (bin/pserve.js) as a child process. */
export function cli(args: string[], opts: SpawnSyncOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', CI: '1', ...(opts.env ?? {}) },
    timeout: 120_000,
    ...opts,
  });
  return { code: r.status ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Run the CLI with --json and parse stdout. */
export function cliJson<T = Record<string, unknown>>(args: string[], opts: SpawnSyncOptions = {}): { code: number; json: T; stderr: string } {
  const r = cli([...args, '--json'], opts);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr.slice(0, 500)}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}

/** An empty directory `name` under `root` (emptied if it was there). */
export function fresh(root: string, name: string): string {
  const d = join(root, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

/** A copy of a (read-only) fixture folder that tests may write into. */
export function writableCopy(src: string, dest: string): string {
  cpSync(src, dest, { recursive: true });
  for (const f of readdirSync(dest, { recursive: true }) as string[]) {
    const p = join(dest, f);
    chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);
  }
  return dest;
}

/** Every file under `dir`, depth first, sorted. */
export function* walkFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* walkFiles(p);
    else yield p;
  }
}

/**
 * The oracle for the recognition NMS of PP-ShiTu (PaddleClas's python, numpy): a python function
 * `paddleclas_nms(x1, y1, x2, y2, scores, thresh)` that returns the kept indices, best first.
 * Prepend it to a python script.
 */
export const PADDLECLAS_NMS_PY = `
def paddleclas_nms(x1, y1, x2, y2, scores, thresh):
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        xx1 = np.maximum(x1[i], x1[order[1:]]); yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]]); yy2 = np.minimum(y2[i], y2[order[1:]])
        w = np.maximum(0.0, xx2 - xx1 + 1); h = np.maximum(0.0, yy2 - yy1 + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thresh)[0] + 1]
        keep.append(int(i))
    return keep
`;
