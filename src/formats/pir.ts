/**
 * Paddle 3 PIR programs (`inference.json`, FORMATS.md section 3). Pure: text in, a checked
 * structure out. Attribute values are unwrapped into plain JSON values.
 */
import { PserveError } from '../errors.js';
import { LIMITS } from './limits.js';

export type PirAttrValue = number | boolean | string | null | PirAttrValue[];

export interface PirType { dtype: string; dims: number[] }
export interface PirValue { id: number; type?: PirType }
export interface PirOp {
  /** full name with dialect, e.g. "1.conv2d"; "p" for parameters */
  name: string;
  /** operand value ids in order; 0 is a null operand */
  inputs: number[];
  outputs: PirValue[];
  attrs: Record<string, PirAttrValue>;
  /** only for "p": the parameter's name */
  paramName?: string;
  regions: PirRegion[];
}
export interface PirBlock { args: PirValue[]; ops: PirOp[] }
export interface PirRegion { blocks: PirBlock[] }
export interface PirProgram { magic: string; version: number; trainable: boolean; regions: PirRegion[] }

/** Does this text look like a PIR program? Cheap: look for the magic near the start. */
export function sniffPir(head: Uint8Array): boolean {
  let i = 0;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  if (head[i] !== 0x7b) return false;
  const text = new TextDecoder().decode(head.subarray(0, Math.min(head.length, 4096)));
  return /"base_code"|"magic"\s*:\s*"pir"|"program"/.test(text);
}

function bad(msg: string, file: string): PserveError {
  return new PserveError('E_PIR_INVALID', `PIR program: ${msg}`, { file });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function unwrapAttr(a: unknown, file: string, depth = 0): PirAttrValue {
  if (depth > LIMITS.pirDepth) throw bad('attribute nested too deeply', file);
  if (!isObj(a)) throw bad(`attribute is not an object: ${JSON.stringify(a)?.slice(0, 60)}`, file);
  const tag = String(a['#'] ?? '');
  const d = a['D'];
  if ('VD' in a) {
    const s = String(a['VD']);
    return s === 'NaN' ? NaN : s.startsWith('-') ? -Infinity : Infinity;
  }
  if (tag.endsWith('a_array')) {
    if (!Array.isArray(d)) throw bad(`${tag} without an array`, file);
    return d.map((x) => unwrapAttr(x, file, depth + 1));
  }
  if (Array.isArray(d)) {
    return d.map((x) => (isObj(x) ? unwrapAttr(x, file, depth + 1) : (x as PirAttrValue)));
  }
  if (isObj(d)) return unwrapAttr(d, file, depth + 1);
  return (d ?? null) as PirAttrValue;
}

function parseType(tt: unknown, file: string): PirType | undefined {
  // only dense tensors carry [dtype, dims, layout, lod, offset]; vectors (t_vec) and others have no single shape
  if (!isObj(tt) || !String(tt['#'] ?? '').endsWith('t_dtensor')) return undefined;
  const d = tt['D'];
  if (!Array.isArray(d) || d.length < 2) return undefined;
  const dt = isObj(d[0]) ? String(d[0]['#'] ?? '') : '';
  const dims = d[1];
  if (!Array.isArray(dims) || dims.length > LIMITS.maxRank || !dims.every((x) => Number.isInteger(x))) {
    throw bad(`type has invalid dims ${JSON.stringify(dims)?.slice(0, 60)}`, file);
  }
  return { dtype: dt, dims: dims as number[] };
}

function parseValue(v: unknown, file: string): PirValue {
  if (!isObj(v) || typeof v['%'] !== 'number') throw bad('value without an id', file);
  return { id: v['%'], type: parseType(v['TT'], file) };
}

function parseOp(o: unknown, file: string, depth: number): PirOp {
  if (!isObj(o) || typeof o['#'] !== 'string') throw bad('op without a name', file);
  const name = o['#'];
  const inputs = Array.isArray(o['I']) ? o['I'].map((i) => (isObj(i) && typeof i['%'] === 'number' ? i['%'] : 0)) : [];
  const out = o['O'];
  const outputs = Array.isArray(out) ? out.map((v) => parseValue(v, file)) : out === undefined ? [] : [parseValue(out, file)];
  const attrs: Record<string, PirAttrValue> = {};
  let paramName: string | undefined;
  if (name === 'p') {
    const a = o['A'];
    if (!Array.isArray(a) || typeof a[3] !== 'string') throw bad('parameter op without a name', file);
    paramName = a[3];
  } else if (Array.isArray(o['A'])) {
    for (const a of o['A']) {
      if (!isObj(a) || typeof a['N'] !== 'string') throw bad(`op ${name}: attribute without a name`, file);
      attrs[a['N']] = unwrapAttr(a['AT'], file);
    }
  }
  const regions = Array.isArray(o['regions']) ? o['regions'].map((r) => parseRegion(r, file, depth + 1)) : [];
  return { name, inputs, outputs, attrs, paramName, regions };
}

function parseRegion(r: unknown, file: string, depth: number): PirRegion {
  if (depth > LIMITS.pirDepth) throw bad('regions nested too deeply', file);
  if (!isObj(r) || !Array.isArray(r['blocks'])) throw bad('region without blocks', file);
  return {
    blocks: r['blocks'].map((b) => {
      if (!isObj(b) || !Array.isArray(b['ops'])) throw bad('block without ops', file);
      const args = Array.isArray(b['args']) ? b['args'].map((v) => parseValue(v, file)) : [];
      return { args, ops: b['ops'].map((o) => parseOp(o, file, depth)) };
    }),
  };
}

export function decodePir(text: string, file: string): PirProgram {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new PserveError('E_PIR_INVALID', `PIR program is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (!isObj(doc) || !isObj(doc['base_code']) || doc['base_code']['magic'] !== 'pir') {
    throw bad('expected {"base_code":{"magic":"pir",...}}', file);
  }
  const prog = doc['program'];
  if (!isObj(prog) || !Array.isArray(prog['regions'])) throw bad('expected "program":{"regions":[...]}', file);
  const bc = doc['base_code'];
  return {
    magic: 'pir',
    version: Number(bc['version'] ?? 0),
    trainable: Boolean(bc['trainable']),
    regions: prog['regions'].map((r) => parseRegion(r, file, 0)),
  };
}

/** Every op of every block of every region, depth first, in file order. */
export function* walkPirOps(regions: PirRegion[]): Generator<PirOp> {
  for (const r of regions) for (const b of r.blocks) for (const op of b.ops) { yield op; yield* walkPirOps(op.regions); }
}
