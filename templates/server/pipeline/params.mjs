/**
 * Step parameters as data: each step kind declares its parameters with these specs, and one checker
 * reads a step's config.yml entry against them (unknown keys, missing keys, wrong types and ranges
 * are refused, naming the step). The server checks at start; `pserve bundle` builds zod schemas
 * from the same specs (src/pipeline/schema.ts) and refuses a bad pipeline before writing anything.
 */

export class PipelineConfigError extends Error {
  constructor(message) { super(message); this.code = 'E_PIPELINE_CONFIG'; }
}

/** spec constructors: { type, optional?, default?, ...constraints, doc? } */
export const P = {
  int: (o = {}) => ({ type: 'int', ...o }),
  number: (o = {}) => ({ type: 'number', ...o }),
  bool: (o = {}) => ({ type: 'bool', ...o }),
  string: (o = {}) => ({ type: 'string', ...o }),
  enum: (values, o = {}) => ({ type: 'enum', values, ...o }),
  /** a list of numbers; `length` fixes its length */
  numbers: (o = {}) => ({ type: 'numbers', ...o }),
  strings: (o = {}) => ({ type: 'strings', ...o }),
  /** a path relative to the bundle folder, that must not leave it */
  file: (o = {}) => ({ type: 'file', ...o }),
  /** another step's output: "step" or "step.field" */
  ref: (o = {}) => ({ type: 'ref', ...o }),
  /** a map of names to refs (a model step's feeds) */
  refMap: (o = {}) => ({ type: 'refMap', ...o }),
};

// a step, or step.field; a field may be a Paddle var name with dots and slashes (save_infer_model/scale_0.tmp_1)
export const REF_RE = /^(request|[A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_][A-Za-z0-9_./-]*))?$/;

function typeError(where, key, spec, v) {
  const want = {
    int: `an integer${spec.min !== undefined ? ` >= ${spec.min}` : ''}${spec.max !== undefined ? ` <= ${spec.max}` : ''}`,
    number: `a number${spec.min !== undefined ? ` >= ${spec.min}` : ''}${spec.max !== undefined ? ` <= ${spec.max}` : ''}`,
    bool: 'true or false',
    string: 'a string',
    enum: `one of ${spec.values?.join(', ')}`,
    numbers: `a list of ${spec.length ?? ''} numbers`.replace('  ', ' '),
    strings: 'a list of strings',
    file: 'a file path inside the bundle',
    ref: 'a step name or step.field',
    refMap: 'a map of names to step names',
  }[spec.type];
  return new PipelineConfigError(`${where}: "${key}" must be ${want}, found ${JSON.stringify(v)}`);
}

/** One value against its spec; returns the value (lists copied) or throws. */
export function checkValue(where, key, spec, v) {
  const bad = () => typeError(where, key, spec, v);
  const inRange = (n) => (spec.min === undefined || n >= spec.min) && (spec.max === undefined || n <= spec.max);
  switch (spec.type) {
    case 'int': if (!Number.isInteger(v) || !inRange(v)) throw bad(); return v;
    case 'number': if (typeof v !== 'number' || !Number.isFinite(v) || !inRange(v)) throw bad(); return v;
    case 'bool': if (typeof v !== 'boolean') throw bad(); return v;
    case 'string': if (typeof v !== 'string' || v === '') throw bad(); return v;
    case 'enum': if (!spec.values.includes(v)) throw bad(); return v;
    case 'numbers':
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || !inRange(x))) throw bad();
      if (spec.length !== undefined && v.length !== spec.length) throw bad();
      if (spec.minLength !== undefined && v.length < spec.minLength) throw bad();
      return v.slice();
    case 'strings': if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(); return v.slice();
    case 'file':
      if (typeof v !== 'string' || v === '' || v.startsWith('/') || /^[A-Za-z]:/.test(v) || v.split(/[\\/]/).includes('..')) throw bad();
      return v;
    case 'ref': if (typeof v !== 'string' || !REF_RE.test(v)) throw bad(); return v;
    case 'refMap':
      if (!v || typeof v !== 'object' || Array.isArray(v) || Object.keys(v).length === 0) throw bad();
      for (const r of Object.values(v)) if (typeof r !== 'string' || !REF_RE.test(r)) throw bad();
      return { ...v };
    default: throw new PipelineConfigError(`${where}: parameter "${key}" has an unknown spec type ${spec.type}`);
  }
}

/** A step's config entry against its kind's specs: every key known, every required key present. */
export function checkParams(where, specs, raw) {
  const out = {};
  for (const key of Object.keys(raw)) {
    if (key === 'op') continue;
    if (!(key in specs)) throw new PipelineConfigError(`${where}: unknown parameter "${key}" (it takes ${Object.keys(specs).join(', ') || 'none'})`);
  }
  for (const [key, spec] of Object.entries(specs)) {
    const v = raw[key];
    if (v === undefined || v === null) {
      if (spec.default !== undefined) out[key] = Array.isArray(spec.default) ? spec.default.slice() : spec.default;
      else if (!spec.optional) throw new PipelineConfigError(`${where}: missing parameter "${key}"`);
      continue;
    }
    out[key] = checkValue(where, key, spec, v);
  }
  return out;
}
