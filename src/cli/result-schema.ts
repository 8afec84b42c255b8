/**
 * The one shape of `--json` output, for every command: a single object with `ok` and `command`
 * first, then the command's own fields. Conventions every command keeps:
 * - paths are absolute;
 * - dtypes are spelled one way: float32, int64, ... (never FP32 or Paddle's type codes);
 * - LoD is `lodLevel` (a number: 0 for a plain tensor);
 * - a failure is `{ ok: false, command, error: { code: 'E_…', message, kind, file?, offset?, hint? } }`.
 * The test suite runs every command with --json and checks its output against these schemas.
 */
import { isAbsolute } from 'node:path';
import { z } from 'zod/v3';

export const DTYPES = ['float16', 'bfloat16', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string', 'complex64', 'complex128'] as const;

export const AbsPath = z.string().refine((p) => isAbsolute(p), { message: 'expected an absolute path' });
export const DType = z.enum(DTYPES);

export const Tensor = z.object({
  name: z.string(),
  alias: z.string().optional(),
  dtype: DType,
  shape: z.array(z.number().int()),
  lodLevel: z.number().int().min(0),
}).passthrough();

export const ErrorInfo = z.object({
  code: z.string().regex(/^E_[A-Z0-9_]+$/),
  message: z.string().min(1),
  kind: z.enum(['permanent', 'transient', 'usage']),
  file: AbsPath.optional(),
  offset: z.number().int().min(0).optional(),
  hint: z.string().optional(),
}).passthrough();

const envelope = <N extends string>(command: N) => ({ ok: z.boolean(), command: z.literal(command) });

export const Failure = z.object({ ok: z.literal(false), command: z.string().nullable(), error: ErrorInfo }).strict();

const ServingVar = Tensor.extend({ type: z.number().int(), index: z.number().int().optional() });
const BundleTensor = Tensor.extend({ alias: z.string(), servingShape: z.array(z.number().int()) });

export const RESULT_SCHEMAS = {
  inspect: z.object({
    ...envelope('inspect'),
    format: z.enum(['paddle-program', 'paddle-pir']),
    modelFile: AbsPath,
    paramsFile: AbsPath.nullable(),
    paramsLayout: z.enum(['combined', 'separate', 'none']),
    feeds: z.array(Tensor),
    fetches: z.array(Tensor),
    ops: z.record(z.number().int()),
    params: z.object({ count: z.number().int(), elements: z.number(), bytes: z.number() }).passthrough(),
    warnings: z.array(z.string()),
  }).passthrough(),
  convert: z.object({
    ...envelope('convert'),
    model: AbsPath,
    serverDir: AbsPath.nullable(),
    clientDir: AbsPath.nullable(),
    copied: z.array(z.object({ name: z.string(), file: AbsPath, bytes: z.number().int() })),
    written: z.array(AbsPath),
    feeds: z.array(ServingVar),
    fetches: z.array(ServingVar),
    warnings: z.array(z.string()),
  }).passthrough(),
  alias: z.union([
    z.object({ ...envelope('alias'), kind: z.enum(['feed', 'fetch']), from: z.string(), to: z.string(), changed: z.array(AbsPath), warnings: z.array(z.string()) }).passthrough(),
    z.object({ ...envelope('alias'), feeds: z.array(ServingVar), fetches: z.array(ServingVar), files: z.array(AbsPath), warnings: z.array(z.string()) }).passthrough(),
  ]),
  fetch: z.union([
    z.object({
      ...envelope('fetch'),
      dest: AbsPath, lock: AbsPath, cache: AbsPath,
      files: z.array(z.object({ url: z.string().url(), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int(), dest: z.array(AbsPath), upToDate: z.boolean() }).passthrough()),
    }).passthrough(),
    z.object({ ...envelope('fetch'), sets: z.array(z.object({ name: z.string(), description: z.string() }).passthrough()) }).passthrough(),
  ]),
  onnx: z.object({
    ...envelope('onnx'),
    engine: z.enum(['native', 'paddle2onnx']),
    file: AbsPath,
    externalDataFile: AbsPath.optional(),
    size: z.number().int(),
    inputs: z.array(Tensor),
    outputs: z.array(Tensor),
  }).passthrough(),
  bundle: z.object({
    ...envelope('bundle'),
    out: AbsPath,
    name: z.string(),
    platform: z.string(),
    feeds: z.array(BundleTensor),
    fetches: z.array(BundleTensor),
  }).passthrough(),
  serve: z.object({ ...envelope('serve'), bundle: AbsPath, exitCode: z.number().int().nullable() }).passthrough(),
  smoke: z.object({
    ...envelope('smoke'),
    bundle: AbsPath,
    inputs: z.record(z.object({ dtype: DType, shape: z.array(z.number().int()) }).passthrough()),
    checks: z.array(z.object({ name: z.string(), ok: z.boolean() }).passthrough()),
  }).passthrough(),
  package: z.object({ ...envelope('package'), path: AbsPath, size: z.number().int(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).passthrough(),
  export: z.object({
    ...envelope('export'),
    target: z.enum(['triton', 'k8s', 'dockerfile']),
    bundle: AbsPath,
    out: AbsPath,
    files: z.array(AbsPath).min(1),
  }).passthrough(),
  index: z.object({
    ...envelope('index'),
    action: z.enum(['build', 'append', 'remove', 'search']),
    index: AbsPath,
    files: z.object({ vector_index: AbsPath, id_map: AbsPath }).passthrough().optional(),
  }).passthrough(),
  demo: z.object({ ...envelope('demo'), dir: AbsPath, model: AbsPath, steps: z.array(z.object({ step: z.string(), ok: z.boolean() }).passthrough()) }).passthrough(),
} as const;

export type CommandName = keyof typeof RESULT_SCHEMAS;

/**
 * Check one --json output: a failure envelope, or the command's own schema. Returns the list of
 * problems (empty when it conforms), each naming the JSON path.
 */
export function checkResult(out: unknown): string[] {
  const o = out as { ok?: unknown; command?: unknown };
  if (o && o.ok === false && 'error' in (o as object)) return issues(Failure.safeParse(out));
  const schema = RESULT_SCHEMAS[o?.command as CommandName] as z.ZodTypeAny | undefined;
  if (!schema) return [`command: unknown command ${JSON.stringify(o?.command)}`];
  return [...issues(schema.safeParse(out)), ...conventions(out, '')];
}

function issues(r: z.SafeParseReturnType<unknown, unknown>): string[] {
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
}

/** Rules that hold at any depth: one dtype spelling, `lodLevel` not `lod`. */
function conventions(v: unknown, path: string): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => conventions(x, `${path}.${i}`));
  if (!v || typeof v !== 'object') return [];
  const out: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    const p = path ? `${path}.${k}` : k;
    if (k === 'dtype' && !(DTYPES as readonly string[]).includes(x as string)) out.push(`${p}: dtype ${JSON.stringify(x)} is not one of ${DTYPES.join(', ')}`);
    if (k === 'lod' || k === 'lod_level' || k === 'is_lod_tensor') out.push(`${p}: LoD is spelled lodLevel`);
    out.push(...conventions(x, p));
  }
  return out;
}
