/**
 * Named model sets: which archives make up a deployment and where each unpacks. The built-in table
 * ships inside the package; a user file (`--registry FILE`, same JSON shape) adds or overrides sets.
 * No checksums here on purpose: upstream publishes none, so integrity comes from the lock file that
 * the first download writes.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod/v3';
import { PserveError, fsError } from '../errors.js';

export const ARCHIVE_KINDS = ['tar', 'tgz', 'zip', 'file'] as const;
export type ArchiveKind = (typeof ARCHIVE_KINDS)[number];

/** a relative directory that cannot leave --dest */
const RelDir = z.string().min(1).max(1024).refine(
  (p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.split(/[\\/]+/).includes('..'),
  { message: 'must be a relative path without ".."' },
);

export const ArchiveSpecSchema = z.object({
  url: z.string().url().refine((u) => /^https?:\/\//i.test(u), { message: 'only http(s) URLs' }),
  kind: z.enum(ARCHIVE_KINDS),
  /** where under --dest the archive unpacks (or the plain file lands) */
  into: RelDir.default('.'),
}).strict();

export const ModelSetSchema = z.object({
  description: z.string().max(500).default(''),
  archives: z.array(ArchiveSpecSchema).min(1).max(100),
}).strict();

export const RegistrySchema = z.object({
  sets: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'set names are lower-case [a-z0-9._-]' }), ModelSetSchema),
}).strict();

export type ArchiveSpec = z.infer<typeof ArchiveSpecSchema>;
export type ModelSet = z.infer<typeof ModelSetSchema>;
export type Registry = z.infer<typeof RegistrySchema>;

const SHITU = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/rec';
const OCR = 'https://paddleocr.bj.bcebos.com';
const ocrCls = { url: `${OCR}/dygraph_v2.0/ch/ch_ppocr_mobile_v2.0_cls_infer.tar`, kind: 'tar', into: 'inference' } as const;
const ocr = (path: string) => ({ url: `${OCR}/${path}`, kind: 'tar', into: 'inference' } as const);

/** The sets pserve knows by name. URLs are the ones the upstream READMEs tell users to wget. */
export const BUILTIN_REGISTRY: Registry = RegistrySchema.parse({
  sets: {
    ppshitu: {
      description: 'PP-ShiTu (PaddleClas): PP-LCNet feature model, PicoDet mainbody detector, drink gallery',
      archives: [
        { url: `${SHITU}/models/inference/general_PPLCNet_x2_5_lite_v1.0_infer.tar`, kind: 'tar', into: 'models' },
        { url: `${SHITU}/models/inference/picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar`, kind: 'tar', into: 'models' },
        { url: `${SHITU}/data/drink_dataset_v1.0.tar`, kind: 'tar', into: '.' },
      ],
    },
    ppshituv2: {
      description: 'PP-ShiTuV2 (PaddleClas): PP-LCNetV2 feature model, PicoDet mainbody detector, drink gallery v2',
      archives: [
        { url: `${SHITU}/models/inference/picodet_PPLCNet_x2_5_mainbody_lite_v1.0_infer.tar`, kind: 'tar', into: 'models' },
        { url: `${SHITU}/models/inference/PP-ShiTuV2/general_PPLCNetV2_base_pretrained_v1.0_infer.tar`, kind: 'tar', into: 'models' },
        { url: `${SHITU}/data/drink_dataset_v2.0.tar`, kind: 'tar', into: '.' },
      ],
    },
    pptsm: {
      description: 'PP-TSM (PaddleVideo) video classifier, Kinetics-400',
      archives: [{ url: 'https://videotag.bj.bcebos.com/PaddleVideo-release2.3/ppTSM.zip', kind: 'zip', into: 'inference' }],
    },
    ppocrv3: {
      description: 'PP-OCRv3 Chinese: text detector, recogniser, direction classifier',
      archives: [ocr('PP-OCRv3/chinese/ch_PP-OCRv3_det_infer.tar'), ocr('PP-OCRv3/chinese/ch_PP-OCRv3_rec_infer.tar'), ocrCls],
    },
    'ppocrv3-det': { description: 'PP-OCRv3 Chinese text detector', archives: [ocr('PP-OCRv3/chinese/ch_PP-OCRv3_det_infer.tar')] },
    'ppocrv3-rec': { description: 'PP-OCRv3 Chinese text recogniser', archives: [ocr('PP-OCRv3/chinese/ch_PP-OCRv3_rec_infer.tar')] },
    ppocrv4: {
      description: 'PP-OCRv4 Chinese (mobile): text detector, recogniser, direction classifier',
      archives: [ocr('PP-OCRv4/chinese/ch_PP-OCRv4_det_infer.tar'), ocr('PP-OCRv4/chinese/ch_PP-OCRv4_rec_infer.tar'), ocrCls],
    },
    'ppocrv4-det': { description: 'PP-OCRv4 Chinese text detector (mobile)', archives: [ocr('PP-OCRv4/chinese/ch_PP-OCRv4_det_infer.tar')] },
    'ppocrv4-rec': { description: 'PP-OCRv4 Chinese text recogniser (mobile)', archives: [ocr('PP-OCRv4/chinese/ch_PP-OCRv4_rec_infer.tar')] },
    'ppocr-cls': { description: 'PP-OCR text direction classifier (mobile v2.0)', archives: [ocrCls] },
  },
});

/** Read a user registry file and merge it over the built-in sets. */
export function loadRegistry(file?: string): Registry {
  if (file === undefined) return BUILTIN_REGISTRY;
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw fsError(e, file, 'registry file'); }
  let raw: unknown;
  try { raw = JSON.parse(text); } catch (e) {
    throw new PserveError('E_REGISTRY_INVALID', `registry is not JSON: ${(e as Error).message}`, { file });
  }
  const r = RegistrySchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new PserveError('E_REGISTRY_INVALID', `registry: ${issue.path.join('.') || '(root)'}: ${issue.message}`, { file, hint: 'expected {"sets": {"name": {"description": "...", "archives": [{"url", "kind", "into"}]}}}' });
  }
  return { sets: { ...BUILTIN_REGISTRY.sets, ...r.data.sets } };
}

/** The kind of a bare URL, from its file name (the content is sniffed again before unpacking). */
export function kindFromUrl(url: string): ArchiveKind {
  const name = new URL(url).pathname.toLowerCase();
  if (name.endsWith('.tar.gz') || name.endsWith('.tgz')) return 'tgz';
  if (name.endsWith('.tar')) return 'tar';
  if (name.endsWith('.zip')) return 'zip';
  return 'file';
}

/** Targets (set names or http(s) URLs) to a de-duplicated list of archives, in order. */
export function resolveTargets(registry: Registry, targets: string[]): ArchiveSpec[] {
  const out: ArchiveSpec[] = [];
  const seen = new Set<string>();
  const add = (a: ArchiveSpec) => {
    const key = `${a.url}\0${a.into}`;
    if (!seen.has(key)) { seen.add(key); out.push(a); }
  };
  for (const t of targets) {
    if (/^https?:\/\//i.test(t)) {
      const parsed = ArchiveSpecSchema.safeParse({ url: t, kind: kindFromUrl(t) });
      if (!parsed.success) throw new PserveError('E_USAGE', `not a usable URL: ${t}`);
      add(parsed.data);
      continue;
    }
    const set = registry.sets[t.toLowerCase()];
    if (!set) {
      throw new PserveError('E_UNKNOWN_SET', `no model set named "${t}"`, {
        hint: `known sets: ${Object.keys(registry.sets).sort().join(', ')} (or give an http(s) URL)`,
      });
    }
    for (const a of set.archives) add(a);
  }
  return out;
}
