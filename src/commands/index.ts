/**
 * `pserve index build|append|remove|search`: PaddleClas's gallery tool (deploy/python/build_gallery.py)
 * and a query, without Python. Writes `vector.index` (faiss IndexIDMap2 over HNSW32 or Flat) and
 * `id_map.pkl` that faiss and PaddleClas read back; the index code is the bundle's own
 * (templates/server/index/), so the CLI and the server search the same way.
 */
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { CommandContext, CommandResult } from '../cli/context.js';
import { PserveError, fsError } from '../errors.js';
import { writeDirAtomic } from '../util/atomic.js';
import type { Gallery, Hit } from '../../templates/server/index/vector-index.mjs';
import { parseOptions, z } from './options.js';

type IndexLib = typeof import('../../templates/server/index/vector-index.mjs');

const Options = z.object({
  action: z.enum(['build', 'append', 'remove', 'search'], { errorMap: () => ({ message: 'expected build, append, remove or search' }) }),
  gallery: z.string().min(1).optional(),
  image_root: z.string().min(1).optional(),
  bundle: z.string().min(1).optional(),
  vectors: z.string().min(1).optional(),
  out: z.string().min(1).optional(),
  index: z.string().min(1).optional(),
  index_method: z.string().regex(/^(HNSW\d+|Flat)$/, 'expected HNSW32 (or HNSW<M>) or Flat').default('HNSW32'),
  metric: z.enum(['IP', 'L2']).default('IP'),
  image: z.string().min(1).optional(),
  vectorFile: z.string().min(1).optional(),
  k: z.string().regex(/^\d+$/, 'expected a positive integer').transform(Number).refine((v) => v >= 1 && v <= 1000, 'expected 1..1000').default('5'),
  exact: z.boolean().default(false),
  force: z.boolean().default(false),
}).superRefine((o, c) => {
  const req = (key: keyof typeof o, why: string) => { if (o[key] === undefined) c.addIssue({ code: 'custom', path: [key], message: `is required (${why})` }); };
  const no = (key: keyof typeof o, why: string) => { if (o[key] !== undefined && o[key] !== false) c.addIssue({ code: 'custom', path: [key], message: why }); };
  if (o.action === 'build' || o.action === 'append') {
    req('gallery', `index ${o.action} reads the "image<TAB>label" list`);
    if (o.action === 'build') req('out', 'the folder to write vector.index and id_map.pkl into');
    else req('index', 'the index folder to append to');
    if ((o.bundle === undefined) === (o.vectors === undefined)) c.addIssue({ code: 'custom', path: ['bundle'], message: 'give --bundle B (features from its rec model) or --vectors F.npy (one row per gallery line), not both' });
    if (o.bundle !== undefined) req('image_root', 'the folder the gallery list\'s image paths are relative to');
  }
  if (o.action === 'remove') { req('gallery', 'the lines to remove'); req('index', 'the index folder'); no('bundle', 'remove needs no features'); no('vectors', 'remove needs no features'); }
  if (o.action === 'search') {
    req('index', 'the index folder to search');
    if ((o.image === undefined) === (o.vectorFile === undefined)) c.addIssue({ code: 'custom', path: ['image'], message: 'give --image F (with --bundle B) or --vector-file F.npy' });
    if (o.image !== undefined) req('bundle', 'the bundle whose rec model turns the image into a feature');
  }
});

type Opts = z.infer<typeof Options>;

async function lib(): Promise<IndexLib> {
  return import('../../templates/server/index/vector-index.mjs');
}

/** IndexFormatError (bundle code, no file) -> PserveError naming the file */
function asPserve(e: unknown, file: string): unknown {
  if (e instanceof PserveError) return e;
  const err = e as { code?: unknown; message?: string; offset?: number; file?: string };
  if (err && typeof err.code === 'string' && err.code.startsWith('E_')) {
    return new PserveError(err.code, err.message ?? String(e), { file: err.file ?? file, offset: err.offset });
  }
  return e;
}

function readInput(path: string, what: string): Buffer {
  try {
    if (statSync(path).isDirectory()) throw new PserveError('E_IS_DIR', `${what} is a directory, expected a file`, { file: path });
    return readFileSync(path);
  } catch (e) { throw e instanceof PserveError ? e : fsError(e, path, what); }
}

function openGalleryDir(L: IndexLib, dir: string): Gallery {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new PserveError('E_NOT_FOUND', 'index folder not found', { file: dir, hint: 'the folder holding vector.index and id_map.pkl' });
  try { return L.openGallery(dir); } catch (e) { throw asPserve(e, dir); }
}

/** gallery lines, and their features from a .npy or from the bundle's rec model */
async function featuresFor(L: IndexLib, o: Opts, ctx: CommandContext, d?: number): Promise<{ docs: string[]; vectors: Float32Array; d: number }> {
  const listPath = resolve(ctx.cwd, o.gallery!);
  const text = readInput(listPath, 'gallery list').toString('utf8');
  const imageRoot = resolve(ctx.cwd, o.image_root ?? dirname(listPath));
  let entries: { image: string; doc: string }[];
  try { entries = L.parseGalleryList(text, imageRoot); } catch (e) { throw asPserve(e, listPath); }
  if (entries.length === 0) throw new PserveError('E_GALLERY_LIST', 'the gallery list has no "image<TAB>label" lines', { file: listPath });
  const docs = entries.map((e) => e.doc);
  if (o.vectors !== undefined) {
    const p = resolve(ctx.cwd, o.vectors);
    let npy: ReturnType<IndexLib['readNpy']>;
    try { npy = L.readNpy(readInput(p, 'vectors file')); } catch (e) { throw asPserve(e, p); }
    if (npy.shape.length !== 2 || npy.shape[0] !== entries.length) {
      throw new PserveError('E_INDEX_VECTORS', `vectors of shape (${npy.shape.join(', ')}); the gallery list has ${entries.length} lines, so (${entries.length}, d) is expected`, { file: p });
    }
    if (d !== undefined && npy.shape[1] !== d) throw new PserveError('E_INDEX_VECTORS', `${npy.shape[1]}-d vectors for a ${d}-d index`, { file: p });
    return { docs, vectors: npy.data, d: npy.shape[1]! };
  }
  const { extractFeatures } = await import('../bundle/extract-features.js');
  ctx.progress({ id: 'features', phase: 'start', text: `features of ${entries.length} images` });
  const f = await extractFeatures(resolve(ctx.cwd, o.bundle!), entries.map((e) => e.image), (done, total) => ctx.progress({ id: 'features', phase: 'progress', text: `features ${done}/${total}` }));
  ctx.progress({ id: 'features', phase: 'done', text: `features of ${entries.length} images` });
  if (d !== undefined && f.d !== d) throw new PserveError('E_INDEX_VECTORS', `the bundle's model gives ${f.d}-d features, the index holds ${d}-d vectors`, { file: resolve(ctx.cwd, o.bundle!) });
  return { docs, ...f };
}

/** write the two files into `out` atomically; files of an existing `keepFrom` folder other than those two are kept */
async function writeGallery(L: IndexLib, g: Gallery, out: string, opts: { replace: boolean; keepFrom?: string }): Promise<{ vector_index: string; id_map: string }> {
  const { index, idMap } = L.serializeGallery(g);
  await writeDirAtomic(out, (tmp) => {
    if (opts.keepFrom && existsSync(opts.keepFrom)) {
      for (const n of readdirSync(opts.keepFrom)) {
        if (n !== L.INDEX_FILE && n !== L.ID_MAP_FILE) cpSync(join(opts.keepFrom, n), join(tmp, n), { recursive: true });
      }
    }
    try {
      writeFileSync(join(tmp, L.INDEX_FILE), index);
      writeFileSync(join(tmp, L.ID_MAP_FILE), idMap);
    } catch (e) { throw fsError(e, tmp, 'index output'); }
  }, { replace: opts.replace });
  return { vector_index: join(out, L.INDEX_FILE), id_map: join(out, L.ID_MAP_FILE) };
}

function summary(L: IndexLib, g: Gallery) {
  return L.describeGallery(g);
}

export async function run(raw: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult> {
  const o = parseOptions(Options, raw, 'index');
  const L = await lib();

  if (o.action === 'build') {
    const out = resolve(ctx.cwd, o.out!);
    if (existsSync(out) && !o.force) throw new PserveError('E_EXISTS', 'output folder already exists (use --force to replace it)', { file: out });
    const f = await featuresFor(L, o, ctx);
    ctx.progress({ id: 'index', phase: 'start', text: `building ${o.index_method} over ${f.docs.length} vectors` });
    let g: Gallery;
    const linked = (done: number, total: number) => ctx.progress({ id: 'index', phase: 'progress', text: `linking ${done}/${total} into the HNSW graph` });
    try { g = L.buildGallery({ vectors: f.vectors, docs: f.docs, d: f.d, method: o.index_method, metric: o.metric, onProgress: linked }); } catch (e) { throw asPserve(e, out); }
    const files = await writeGallery(L, g, out, { replace: o.force });
    ctx.progress({ id: 'index', phase: 'done', text: `${files.vector_index}` });
    const s = summary(L, g);
    return {
      data: { ok: true, action: 'build', index: out, files, ...s, added: f.docs.length, ids: [0, f.docs.length - 1] },
      text: `${out}\n${s.method} ${s.metric}, ${s.ntotal} vectors of ${s.d} floats (ids 0..${f.docs.length - 1})`,
    };
  }

  const dir = resolve(ctx.cwd, o.index!);
  const g = openGalleryDir(L, dir);

  if (o.action === 'search') {
    let queries: Float32Array;
    let source: string;
    if (o.vectorFile !== undefined) {
      source = resolve(ctx.cwd, o.vectorFile);
      let npy: ReturnType<IndexLib['readNpy']>;
      try { npy = L.readNpy(readInput(source, 'vector file')); } catch (e) { throw asPserve(e, source); }
      const dim = npy.shape[npy.shape.length - 1];
      if (npy.shape.length < 1 || npy.shape.length > 2 || dim !== g.index.d) {
        throw new PserveError('E_INDEX_VECTORS', `vectors of shape (${npy.shape.join(', ')}); the index holds ${g.index.d}-d vectors, so (${g.index.d},) or (n, ${g.index.d}) is expected`, { file: source });
      }
      queries = npy.data;
    } else {
      source = resolve(ctx.cwd, o.image!);
      readInput(source, 'query image');
      const { extractFeatures } = await import('../bundle/extract-features.js');
      const f = await extractFeatures(resolve(ctx.cwd, o.bundle!), [source]);
      if (f.d !== g.index.d) throw new PserveError('E_INDEX_VECTORS', `the bundle's model gives ${f.d}-d features, the index holds ${g.index.d}-d vectors`, { file: resolve(ctx.cwd, o.bundle!) });
      queries = f.vectors;
    }
    const t0 = performance.now();
    const results: Hit[][] = L.searchGallery(g, queries, o.k, { exact: o.exact });
    const ms = performance.now() - t0;
    const s = summary(L, g);
    const text = results.map((row, i) => [`query ${i}:`, ...row.map((h, r) => `  ${r + 1}. id ${h.id}  score ${h.score.toFixed(6)}  ${h.doc.replace('\t', '  ')}`)].join('\n')).join('\n');
    return {
      data: { ok: true, action: 'search', index: dir, query: source, method: s.method, metric: s.metric, search: o.exact || s.method === 'Flat' ? 'exact' : 'hnsw', k: o.k, ms, results },
      text,
    };
  }

  if (o.action === 'append') {
    const out = resolve(ctx.cwd, o.out ?? dir);
    if (out !== dir && existsSync(out) && !o.force) throw new PserveError('E_EXISTS', 'output folder already exists (use --force to replace it)', { file: out });
    const f = await featuresFor(L, o, ctx, g.index.d);
    let next: Gallery;
    try { next = L.appendGallery(g, f.vectors, f.docs, (done, total) => ctx.progress({ id: 'index', phase: 'progress', text: `linking ${done}/${total} into the HNSW graph` })); } catch (e) { throw asPserve(e, dir); }
    const files = await writeGallery(L, next, out, { replace: true, keepFrom: dir });
    const first = next.index.idMap[g.index.ntotal]!;
    const s = summary(L, next);
    return {
      data: { ok: true, action: 'append', index: out, files, ...s, added: f.docs.length, ids: [first, first + f.docs.length - 1] },
      text: `${out}\nappended ${f.docs.length} (ids ${first}..${first + f.docs.length - 1}); ${s.method} ${s.metric}, ${s.ntotal} vectors`,
    };
  }

  // remove
  const out = resolve(ctx.cwd, o.out ?? dir);
  if (out !== dir && existsSync(out) && !o.force) throw new PserveError('E_EXISTS', 'output folder already exists (use --force to replace it)', { file: out });
  const listPath = resolve(ctx.cwd, o.gallery!);
  let docs: string[];
  try { docs = L.parseGalleryList(readInput(listPath, 'gallery list').toString('utf8'), '.').map((e) => e.doc); } catch (e) { throw asPserve(e, listPath); }
  let r: { gallery: Gallery; removed: number[] };
  try { r = L.removeFromGallery(g, docs); } catch (e) { throw asPserve(e, join(dir, L.INDEX_FILE)); }
  const files = await writeGallery(L, r.gallery, out, { replace: true, keepFrom: dir });
  const s = summary(L, r.gallery);
  return {
    data: { ok: true, action: 'remove', index: out, files, ...s, removed: r.removed },
    text: `${out}\nremoved ${r.removed.length} (ids ${r.removed.join(', ') || 'none'}); ${s.method} ${s.metric}, ${s.ntotal} vectors`,
  };
}
