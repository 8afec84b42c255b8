/**
 * Checking a pipeline before a bundle is written: the step kinds and their parameter specs live in
 * the bundle's server code (templates/server/pipeline/, the one home of the pipeline); here each
 * spec becomes a zod schema, so a wrong parameter is refused at build time with the step's name,
 * and the server's own checker (checkPipeline) then validates the references between steps.
 */
import { z } from 'zod/v3';
import { PserveError } from '../errors.js';

interface ParamSpec { type: string; optional?: boolean; default?: unknown; min?: number; max?: number; values?: string[]; length?: number; minLength?: number }
interface StepKind { params: Record<string, ParamSpec>; doc?: string }

export interface PipelineModules {
  STEPS: Record<string, StepKind>;
  MODEL_PARAMS: Record<string, ParamSpec>;
  checkPipeline: (section: unknown) => { models: Record<string, Record<string, unknown>>; steps: { name: string; op: string; params: Record<string, unknown> }[]; response: Record<string, string> };
  parseYaml: (text: string) => Record<string, unknown>;
  /** what a reference to a step output looks like ("step" or "step.field") */
  REF_RE: RegExp;
}

const PIPELINE_DIR = new URL('../../templates/server/pipeline/', import.meta.url);

/** the pipeline modules of templates/ (the code bundles run) */
export async function pipelineModules(): Promise<PipelineModules> {
  const steps = await import(new URL('steps.mjs', PIPELINE_DIR).href) as { STEPS: PipelineModules['STEPS'] };
  const pipe = await import(new URL('pipeline.mjs', PIPELINE_DIR).href) as Pick<PipelineModules, 'checkPipeline' | 'MODEL_PARAMS'>;
  const conf = await import(new URL('../config.mjs', PIPELINE_DIR).href) as Pick<PipelineModules, 'parseYaml'>;
  const params = await import(new URL('params.mjs', PIPELINE_DIR).href) as Pick<PipelineModules, 'REF_RE'>;
  return { STEPS: steps.STEPS, MODEL_PARAMS: pipe.MODEL_PARAMS, checkPipeline: pipe.checkPipeline, parseYaml: conf.parseYaml, REF_RE: params.REF_RE };
}

function zodOf(spec: ParamSpec, REF: RegExp): z.ZodTypeAny {
  let s: z.ZodTypeAny;
  const num = (base: z.ZodNumber) => {
    let n = base;
    if (spec.min !== undefined) n = n.min(spec.min);
    if (spec.max !== undefined) n = n.max(spec.max);
    return n;
  };
  switch (spec.type) {
    case 'int': s = num(z.number().int()); break;
    case 'number': s = num(z.number().finite()); break;
    case 'bool': s = z.boolean(); break;
    case 'string': s = z.string().min(1); break;
    case 'enum': s = z.enum(spec.values as [string, ...string[]]); break;
    case 'numbers': {
      let a = z.array(num(z.number().finite()));
      if (spec.length !== undefined) a = a.length(spec.length);
      if (spec.minLength !== undefined) a = a.min(spec.minLength);
      s = a;
      break;
    }
    case 'strings': s = z.array(z.string()); break;
    case 'file': s = z.string().min(1).refine((v) => !v.startsWith('/') && !/^[A-Za-z]:/.test(v) && !v.split(/[\\/]/).includes('..'), 'must be a path inside the bundle'); break;
    case 'ref': s = z.string().regex(REF, 'must name a step ("step" or "step.field")'); break;
    case 'refMap': s = z.record(z.string().regex(REF, 'must name a step')).refine((m) => Object.keys(m).length > 0, 'must not be empty'); break;
    default: throw new PserveError('E_INTERNAL', `pipeline parameter spec of unknown type ${spec.type}`);
  }
  return spec.optional || spec.default !== undefined ? s.nullable().optional() : s;
}

/** one zod schema per step kind: its parameters plus `op`, unknown keys refused */
export function stepSchemas(mods: PipelineModules): Record<string, z.ZodTypeAny> {
  return Object.fromEntries(Object.entries(mods.STEPS).map(([op, kind]) => [
    op,
    z.object({ op: z.literal(op), ...Object.fromEntries(Object.entries(kind.params).map(([k, spec]) => [k, zodOf(spec, mods.REF_RE)])) }).strict(),
  ]));
}

/**
 * A pipeline section as pserve bundle writes or reads it: each step through its zod schema (the
 * first problem, naming the step and the parameter), then the server's own check of the graph.
 */
export function validatePipeline(mods: PipelineModules, section: unknown, file?: string): ReturnType<PipelineModules['checkPipeline']> {
  const fail = (msg: string) => new PserveError('E_PIPELINE_CONFIG', msg, file ? { file } : {});
  const schemas = stepSchemas(mods);
  const steps = (section as { steps?: unknown } | null)?.steps;
  if (steps && typeof steps === 'object' && !Array.isArray(steps)) {
    for (const [name, raw] of Object.entries(steps as Record<string, unknown>)) {
      const op = (raw as { op?: unknown } | null)?.op;
      const schema = typeof op === 'string' ? schemas[op] : undefined;
      if (!schema) throw fail(`pipeline step "${name}": unknown op ${JSON.stringify(op)} (known: ${Object.keys(schemas).join(', ')})`);
      const r = schema.safeParse(raw);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        const key = issue.path.join('.') || 'parameters';
        const what = issue.code === 'unrecognized_keys' ? `unknown parameter ${issue.keys.map((k) => `"${k}"`).join(', ')}` : `"${key}": ${issue.message}`;
        throw fail(`pipeline step "${name}" (op ${op}): ${what}`);
      }
    }
  }
  try {
    return mods.checkPipeline(section);
  } catch (e) {
    throw fail((e as Error).message);
  }
}
