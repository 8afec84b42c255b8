/**
 * A pipeline is data: config.yml's `pipeline:` section names the bundle's models, the steps (each
 * an `op` from steps.mjs with its parameters and the outputs of earlier steps it reads) and the
 * response (answer key -> step output). checkPipeline reads it without touching files (pserve
 * bundle calls it before writing a bundle; the server at start), preparePipeline loads what steps
 * need once (labels, the index, the models' bindings) and groups the steps into units (a step, or a
 * chain of pure steps that only feed each other: chain.mjs), runPipeline answers one request, walking
 * the graph: each unit starts as soon as the steps it reads have finished.
 */
import { RequestError } from '../tensors.mjs';
import { PipelineConfigError, REF_RE, checkParams, checkValue, P } from './params.mjs';
import { STEPS } from './steps.mjs';
import { imageDims } from '../image/decode.mjs';
import { runChain } from './chain.mjs';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_STEPS = 256;

/** a model entry of pipeline.models */
export const MODEL_PARAMS = {
  onnx: P.file(),
  serving_server: P.file({ optional: true }),
  batch: P.bool({ default: true }),
  max_batch: P.int({ min: 1, max: 4096, optional: true }),
  // with `server.mjs --model-backend URL`: the model's name on that KServe v2 server (default: this key)
  backend_model: P.string({ optional: true }),
};

/** the references a step reads: [param, ref] pairs */
function refsOf(kind, params) {
  const out = [];
  for (const key of kind.refs) {
    const v = params[key];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push([key, v]);
    else for (const [k, r] of Object.entries(v)) out.push([`${key}.${k}`, r]);
  }
  return out;
}

/**
 * Check a `pipeline:` section: every step kind known, its parameters right, every reference to a
 * step defined above it (so the steps form a DAG in file order), every response entry a reference.
 * Returns { models, steps: [{ name, op, params, refs }], response }.
 */
export function checkPipeline(section) {
  if (!section || typeof section !== 'object' || Array.isArray(section)) throw new PipelineConfigError('pipeline: expected a map with models, steps and response');
  for (const k of Object.keys(section)) {
    if (!['models', 'steps', 'response'].includes(k)) throw new PipelineConfigError(`pipeline: unknown key "${k}" (expected models, steps, response)`);
  }
  const models = {};
  for (const [name, raw] of Object.entries(section.models ?? {})) {
    if (!NAME_RE.test(name)) throw new PipelineConfigError(`pipeline.models: "${name}" is not a name (letters, digits, _)`);
    if (!raw || typeof raw !== 'object') throw new PipelineConfigError(`pipeline.models.${name}: expected a map with onnx`);
    models[name] = checkParams(`pipeline.models.${name}`, MODEL_PARAMS, raw);
  }
  const rawSteps = section.steps;
  if (!rawSteps || typeof rawSteps !== 'object' || Array.isArray(rawSteps) || Object.keys(rawSteps).length === 0) {
    throw new PipelineConfigError('pipeline.steps: expected a map of named steps');
  }
  if (Object.keys(rawSteps).length > MAX_STEPS) throw new PipelineConfigError(`pipeline.steps: more than ${MAX_STEPS} steps`);
  const steps = [];
  const defined = new Set(['request']);
  for (const [name, raw] of Object.entries(rawSteps)) {
    const where = `pipeline step "${name}"`;
    if (!NAME_RE.test(name) || name === 'request') throw new PipelineConfigError(`${where}: not a usable step name (letters, digits, _; not "request")`);
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PipelineConfigError(`${where}: expected a map with op and its parameters`);
    const kind = STEPS[raw.op];
    if (!kind) throw new PipelineConfigError(`${where}: unknown op "${raw.op}" (known: ${Object.keys(STEPS).join(', ')})`);
    const params = checkParams(`${where} (op ${raw.op})`, kind.params, raw);
    const refs = refsOf(kind, params);
    for (const [key, ref] of refs) {
      const stepName = REF_RE.exec(ref)[1];
      if (!defined.has(stepName)) throw new PipelineConfigError(`${where} (op ${raw.op}): "${key}" reads "${ref}", but no step "${stepName}" is defined above it`);
    }
    if (kind.params.model && !(params.model in models)) {
      throw new PipelineConfigError(`${where} (op ${raw.op}): no model "${params.model}" in pipeline.models (${Object.keys(models).join(', ') || 'none'})`);
    }
    defined.add(name);
    steps.push({ name, op: raw.op, params, refs });
  }
  const response = section.response;
  if (!response || typeof response !== 'object' || Array.isArray(response) || Object.keys(response).length === 0) {
    throw new PipelineConfigError('pipeline.response: expected a map of answer keys to step outputs (label: top.labels)');
  }
  for (const [key, ref] of Object.entries(response)) {
    checkValue('pipeline.response', key, P.ref(), ref);
    if (!defined.has(REF_RE.exec(ref)[1])) throw new PipelineConfigError(`pipeline.response: "${key}" reads "${ref}", which no step defines`);
  }
  return { models, steps, response: { ...response } };
}

/**
 * Load what the steps need once (labels, index, model bindings). env: { base, models: { name: { bind } },
 * stepWorkers?, inlineAlone? } — with stepWorkers (step-worker.mjs), the image steps marked `offload` run
 * there, except for a request alone in the server (unless inlineAlone is false), which runs them here.
 */
export async function preparePipeline(checked, env) {
  const steps = [];
  for (const s of checked.steps) {
    const kind = STEPS[s.op];
    const where = `pipeline step "${s.name}" (op ${s.op})`;
    const state = kind.prepare ? await kind.prepare(s.params, { ...env, where }) : undefined;
    steps.push({ ...s, kind, state });
  }
  return { steps, units: planUnits(steps, checked.response), response: checked.response, stepWorkers: env.stepWorkers ?? null, inlineAlone: env.inlineAlone !== false, active: 0 };
}

/**
 * The steps grouped into units, in file order. A pure step (steps.mjs) starts a chain; the chain
 * takes in the next step while its last step's output is read by exactly one step, that step is
 * pure and reads nothing but that output (and the response does not show it): nobody else ever
 * needs the value in between. Each unit: { members, head, last, chain, offload, sole }; sole: the
 * head's parameters (as "feeds.x") whose value no other step reads and the response does not show.
 */
export function planUnits(steps, response) {
  const readers = new Map(steps.map((s) => [s.name, []]));
  for (const s of steps) for (const [, ref] of s.refs) readers.get(REF_RE.exec(ref)[1])?.push({ s, ref });
  const shown = new Set(Object.values(response).map((ref) => REF_RE.exec(ref)[1]));
  const byName = new Map(steps.map((s) => [s.name, s]));
  // a value only one step reads (once) and the response does not show; a step whose output may share
  // its input's buffer (`aliases`: a stack of one tensor, a scale that keeps the image; `selects`: the
  // frame sampler's picks) counts only when its inputs are sole too
  const soleMemo = new Map();
  const isSole = (name) => {
    if (soleMemo.has(name)) return soleMemo.get(name);
    const s = byName.get(name);
    const v = !!s && !shown.has(name) && readers.get(name).length === 1 && (!(s.kind.aliases || s.kind.selects) || s.refs.every(([, ref]) => isSole(REF_RE.exec(ref)[1])));
    soleMemo.set(name, v);
    return v;
  };
  const taken = new Set();
  const units = [];
  for (const s of steps) {
    if (taken.has(s.name)) continue;
    const members = [s];
    if (s.kind.pure) {
      for (let cur = s; ;) {
        const rs = readers.get(cur.name);
        if (shown.has(cur.name) || rs.length !== 1) break;
        const next = rs[0].s;
        if (!next.kind.pure || next.refs.length !== 1 || rs[0].ref !== cur.name) break;
        members.push(next);
        taken.add(next.name);
        cur = next;
      }
    }
    // the head's inputs that nothing else reads (a model step may move such a tensor to its worker uncopied)
    const sole = new Set(s.refs.filter(([, ref]) => isSole(REF_RE.exec(ref)[1])).map(([key]) => key));
    units.push({ members, head: s, last: members[members.length - 1], chain: s.kind.pure === true, offload: members.some((m) => m.kind.offload), sole });
  }
  return units;
}

function resolveRef(values, ref, step) {
  const [, name, field] = REF_RE.exec(ref);
  const v = values.get(name);
  if (field === undefined) return v;
  if (!v || typeof v !== 'object' || !(field in v)) throw new RequestError(500, `step "${step}": "${name}" has no output "${field}"`, 10000);
  return v[field];
}

/**
 * One request through the pipeline. request: { key: string[], value: unknown[] }. Resolves the
 * response as { key: value } (values as the steps made them; the caller renders them).
 */
/** the most pixels (decoded images, or bytes / 3 of other data) a chain may hold to run on the HTTP thread */
export const INLINE_PIXELS = 1 << 20;

/** whether the images a value holds (encoded ones by their headers) come to at most `budget` pixels */
export function withinPixels(v, budget) {
  let left = budget;
  const walk = (x, depth) => {
    if (left < 0 || depth > 4) return;
    if (x instanceof Uint8Array) {
      const d = imageDims(x);
      left -= d ? d.width * d.height : x.length / 3;
    } else if (ArrayBuffer.isView(x)) left -= x.byteLength / 3;
    else if (Array.isArray(x)) for (const e of x) walk(e, depth + 1);
    else if (x && typeof x === 'object') {
      if (Number.isInteger(x.width) && Number.isInteger(x.height)) left -= x.width * x.height;
      else for (const e of Object.values(x)) walk(e, depth + 1);
    }
  };
  walk(v, 0);
  return left >= 0;
}

export async function runPipeline(prepared, request) {
  prepared.active = (prepared.active ?? 0) + 1;
  try {
    return await walk(prepared, request);
  } finally {
    prepared.active -= 1;
  }
}

async function walk(prepared, request) {
  const values = new Map([['request', request]]);
  const pending = new Map();
  const runUnit = async (u) => {
    const s = u.head;
    await Promise.all(s.refs.map(([, ref]) => pending.get(REF_RE.exec(ref)[1])));
    let inputs = {};
    for (const key of s.kind.refs) {
      const p = s.params[key];
      if (p === undefined) continue;
      if (typeof p === 'string') inputs[key] = resolveRef(values, p, s.name);
      else inputs[key] = Object.fromEntries(Object.entries(p).map(([k, r]) => [k, resolveRef(values, r, s.name)]));
    }
    try {
      let out;
      if (!u.chain) out = await s.kind.run(s.params, inputs, { request, step: s.name, state: s.state, sole: u.sole });
      else {
        // a chain: one job on a step worker when it holds image work and the server has them, else here
        let members = u.members.map((m) => ({ op: m.op, params: m.params, step: m.name }));
        const pool = u.offload ? prepared.stepWorkers : null;
        if (pool) {
          // steps that only pick some of their input (the frame sampler) run here first: the worker
          // gets the 8 sampled frames, not the whole video
          let n = 0;
          while (n < members.length - 1 && u.members[n].kind.selects) n++;
          if (n > 0) {
            inputs = { in: await runChain(members.slice(0, n), inputs) };
            members = members.slice(n);
          }
        }
        // A small job of a request alone in the server runs here: the HTTP thread has nothing else to
        // do, and the two thread hops (and a worker waking from idle) cost more than they save. Under
        // load, while a worker job is still running, or for images over INLINE_PIXELS (the HTTP thread
        // would stop reading and answering for tens of milliseconds), the step workers take it.
        const alone = prepared.inlineAlone && prepared.active === 1 && !pool?.busy && withinPixels(inputs, INLINE_PIXELS);
        const workers = pool && !alone ? pool : null;
        out = await (workers ? workers.runChain(members, inputs) : runChain(members, inputs));
      }
      values.set(u.last.name, out);
    } catch (e) {
      const name = e?.step ?? s.name;
      // a RequestError from a step worker arrives as its parts
      if (!(e instanceof RequestError) && Number.isInteger(e?.status)) throw new RequestError(e.status, e.message, e.errNo ?? 5000);
      // the image and index modules refuse what a request brought (an image smaller than the crop,
      // an empty box) with their own coded errors: a bad request, said with the step's name
      if (!(e instanceof RequestError) && /^E_(IMAGE|INDEX|PICKLE)_/.test(String(e?.code))) throw new RequestError(400, `step "${name}": ${e.message}`);
      throw e;
    }
  };
  pending.set('request', Promise.resolve());
  for (const u of prepared.units ?? planUnits(prepared.steps, prepared.response)) {
    const p = runUnit(u);
    for (const m of u.members) pending.set(m.name, p);
  }
  // every step is awaited (a failure is reported once, the first in file order)
  const settled = await Promise.allSettled(prepared.steps.map((s) => pending.get(s.name)));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return Object.fromEntries(Object.entries(prepared.response).map(([k, ref]) => [k, resolveRef(values, ref, 'response')]));
}
