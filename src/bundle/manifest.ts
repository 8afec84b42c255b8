/**
 * manifest.json of a bundle: what it serves, what it was made from, and the sha256 and size of
 * every file, so that `pserve smoke` (and anyone) can tell a bundle that was altered after the fact.
 */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { PserveError, fsError } from '../errors.js';

export const MANIFEST = 'manifest.json';
/** a bundle holds a model, a runtime and a few text files; more entries than this is not a bundle */
export const MAX_BUNDLE_FILES = 10_000;

export interface BundleTensor {
  name: string;
  alias: string;
  dtype: string;
  /** full shape, batch dim included; -1 = decided per request */
  shape: number[];
  /** the shape line(s) of the serving conf (batch dim dropped, as Paddle Serving writes it) */
  servingShape: number[];
  /** 1 for a LoD tensor (is_lod_tensor in the serving conf), else 0 */
  lodLevel: number;
}

export interface BundleFile { path: string; size: number; sha256: string }

export interface BundleManifest {
  format: 'pserve-bundle';
  formatVersion: 1;
  name: string;
  pserveVersion: string;
  createdFrom: {
    /** base name of the --serving_server folder (never a full path: it would make builds differ by where they ran) */
    servingServer: string;
    model: { file: string; sha256: string } | null;
    params: { file: string; sha256: string } | null;
    onnx: { from: 'converted' | 'given'; file?: string; sha256: string };
  };
  feeds: BundleTensor[];
  fetches: BundleTensor[];
  runtime: { name: 'onnxruntime-node'; version: string; platform: string; node: string };
  server: { entry: 'server.mjs'; port: number; device: string };
  /** a pipeline bundle (config.yml's pipeline: section): its recipe and models; feeds/fetches above are its first model's */
  pipeline?: {
    recipe: string;
    route: string;
    models: { name: string; role: string; onnx: { file: string; from: 'converted' | 'given'; sha256: string }; feeds: BundleTensor[]; fetches: BundleTensor[] }[];
  };
  files: BundleFile[];
}

/** The fields every manifest.json opens with (format, version, bundle name, the pserve that wrote it). */
export function manifestHead(name: string, pserveVersion: string): Pick<BundleManifest, 'format' | 'formatVersion' | 'name' | 'pserveVersion'> {
  return { format: 'pserve-bundle', formatVersion: 1, name, pserveVersion };
}

export function sha256File(path: string): string {
  const h = createHash('sha256');
  let fd: number;
  try { fd = openSync(path, 'r'); } catch (e) { throw fsError(e, path, 'file'); }
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally { closeSync(fd); }
  return h.digest('hex');
}

/** Every regular file under `dir`, relative with '/' separators, sorted byte-wise. Links are refused. */
export function listFiles(dir: string, opts: { withDirs?: boolean } = {}): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = rel ? join(dir, rel) : dir;
    let names: string[];
    try { names = readdirSync(abs); } catch (e) { throw fsError(e, abs, 'bundle directory'); }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(dir, r));
      if (st.isSymbolicLink()) throw new PserveError('E_BUNDLE_LINK', 'bundles hold plain files only; found a symbolic link', { file: join(dir, r) });
      if (st.isDirectory()) { if (opts.withDirs) out.push(`${r}/`); walk(r); }
      else if (st.isFile()) out.push(r);
      else throw new PserveError('E_BUNDLE_SPECIAL_FILE', 'bundles hold plain files only; found a device, socket or pipe', { file: join(dir, r) });
      if (out.length > MAX_BUNDLE_FILES) throw new PserveError('E_BUNDLE_TOO_MANY_FILES', `more than ${MAX_BUNDLE_FILES} files`, { file: dir });
    }
  };
  walk('');
  return out.sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
}

export function fileEntries(dir: string): BundleFile[] {
  return listFiles(dir).filter((p) => p !== MANIFEST).map((p) => {
    const abs = join(dir, p);
    return { path: p, size: lstatSync(abs).size, sha256: sha256File(abs) };
  });
}

/** manifest.json's bytes as pserve writes them (bundle builds and alias edits alike) */
export function manifestText(m: BundleManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

export function readManifest(dir: string): BundleManifest {
  const file = join(dir, MANIFEST);
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    const err = fsError(e, file, 'bundle manifest');
    throw new PserveError(err.code === 'E_NOT_FOUND' ? 'E_BUNDLE_NO_MANIFEST' : err.code, `${err.message}: is this a pserve bundle?`, { file });
  }
  let m: BundleManifest;
  try { m = JSON.parse(text) as BundleManifest; } catch (e) {
    throw new PserveError('E_BUNDLE_MANIFEST_INVALID', `manifest is not JSON: ${(e as Error).message}`, { file });
  }
  if (m?.format !== 'pserve-bundle' || !Array.isArray(m.files) || !Array.isArray(m.feeds) || !Array.isArray(m.fetches) || typeof m.name !== 'string') {
    throw new PserveError('E_BUNDLE_MANIFEST_INVALID', 'expected format "pserve-bundle" with name, feeds, fetches and files', { file });
  }
  return m;
}

export interface VerifyResult {
  /** no problem and nothing unlisted */
  ok: boolean;
  checked: number;
  /** listed files that are missing, resized or altered */
  problems: string[];
  /** files (and empty folders, with a trailing '/') in the bundle that manifest.json does not list */
  unlisted: string[];
}

/**
 * Paths under the bundle that the manifest does not account for: files it does not list, and
 * folders that hold no listed file. `paths` is listFiles(dir, { withDirs: true }).
 */
export function unlistedPaths(manifest: BundleManifest, paths: string[]): string[] {
  const listed = new Set(manifest.files.map((f) => f.path));
  listed.add(MANIFEST);
  const dirs = new Set<string>();
  for (const p of listed) {
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) dirs.add(p.slice(0, i + 1));
  }
  return paths.filter((p) => (p.endsWith('/') ? !dirs.has(p) : !listed.has(p)));
}

/** Recompute every listed file's size and sha256 (a missing, resized or altered file is a problem), and find unlisted files. */
export function verifyBundle(dir: string, manifest = readManifest(dir)): VerifyResult {
  const problems: string[] = [];
  for (const f of manifest.files) {
    if (typeof f.path !== 'string' || f.path.startsWith('/') || f.path.split('/').includes('..')) {
      problems.push(`${String(f.path)}: path escapes the bundle`);
      continue;
    }
    const abs = join(dir, f.path);
    let size: number;
    try { size = lstatSync(abs).size; } catch { problems.push(`${f.path}: missing`); continue; }
    if (size !== f.size) { problems.push(`${f.path}: size ${size}, manifest says ${f.size}`); continue; }
    const h = sha256File(abs);
    if (h !== f.sha256) problems.push(`${f.path}: sha256 ${h.slice(0, 12)}..., manifest says ${String(f.sha256).slice(0, 12)}...`);
  }
  const unlisted = unlistedPaths(manifest, listFiles(dir, { withDirs: true }));
  return { ok: problems.length === 0 && unlisted.length === 0, checked: manifest.files.length, problems, unlisted };
}

const firstFew = (list: string[], n: number, sep: string) => `${list.slice(0, n).join(sep)}${list.length > n ? `${sep}and ${list.length - n} more` : ''}`;

/**
 * The error for a bundle that failed verifyBundle: E_BUNDLE_TAMPERED when a listed file is
 * missing or altered, else E_BUNDLE_UNLISTED naming the files that manifest.json does not list
 * (a packed or served bundle must be exactly what was built and hashed).
 */
export function bundleMismatchError(dir: string, v: Pick<VerifyResult, 'problems' | 'unlisted'>, hint: string): PserveError {
  const file = join(dir, MANIFEST);
  const extra = v.unlisted.length ? `; ${v.unlisted.length} file(s) not listed: ${firstFew(v.unlisted, 5, ', ')}` : '';
  if (v.problems.length) {
    // a hand edit of the confs or config.yml (the alias edit deployment guides describe) has a fix
    const confOnly = v.problems.every((p) => /^(serving_server\/|serving_client\/|config\.yml:)/.test(p) && !/^serving_server\/(?!serving_server_conf)/.test(p));
    if (confOnly) {
      return new PserveError('E_BUNDLE_CONF_EDITED', `the serving confs or config.yml were edited by hand since the bundle was built: ${firstFew(v.problems, 3, '; ')}`, {
        file,
        hint: `to rename an alias, undo the edit and run \`pserve alias set <feed|fetch> <alias>\` in ${dir}: it changes the confs, config.yml and manifest.json together`,
      });
    }
    return new PserveError('E_BUNDLE_TAMPERED', `the bundle does not match its manifest: ${firstFew(v.problems, 3, '; ')}${extra}`, { file, hint });
  }
  return new PserveError('E_BUNDLE_UNLISTED', `the bundle holds ${v.unlisted.length} file(s) that manifest.json does not list: ${firstFew(v.unlisted, 5, ', ')}`, { file, hint: `remove them, or ${hint}` });
}
