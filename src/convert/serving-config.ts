/**
 * A loaded Paddle model -> Paddle Serving's GeneralModelConfig, with the rules
 * paddle_serving_client.convert applies (FORMATS.md section 4): feeds in `col` order, fetches
 * sorted by name (it keys them in a dict and sorts the keys), default alias = var name, Serving's
 * own type codes, `shape: -1` for LoD vars and otherwise the dims with every unknown dim dropped.
 */
import { PserveError } from '../errors.js';
import type { GeneralModelConfig, ServingVar, ServingVarKind } from '../formats/serving-conf.js';
import type { DType } from '../model/dtype.js';
import { compareBytes } from '../model/legacy.js';
import type { PaddleModel, TensorSpec } from '../model/types.js';

/** Serving's var_type_conversion table; anything else is -1. */
export const SERVING_TYPE_CODES: Partial<Record<DType, number>> = {
  int64: 0, float32: 1, int32: 2, float64: 3, int16: 4, float16: 5, bfloat16: 6, uint8: 7, int8: 8, bool: 9, complex64: 10, complex128: 11,
};

const DTYPE_OF_CODE = new Map(Object.entries(SERVING_TYPE_CODES).map(([d, c]) => [c, d as DType]));

export function servingTypeCode(d: DType): number {
  return SERVING_TYPE_CODES[d] ?? -1;
}

/** The dtype a Serving type code stands for ('unknown' for -1 and codes Serving never wrote). */
export function dtypeOfServingCode(code: number | undefined): DType {
  return (code === undefined ? undefined : DTYPE_OF_CODE.get(code)) ?? 'unknown';
}

export function servingShape(t: TensorSpec): number[] {
  return t.lodLevel >= 1 ? [-1] : t.shape.filter((d) => d >= 0);
}

/** One var as people and --json see it. */
export interface ServingVarReport { name: string; alias: string; type: number; dtype: DType; lodLevel: number; shape: number[] }

export function varReport(v: ServingVar, kind: ServingVarKind): ServingVarReport {
  const type = (kind === 'feed' ? v.feed_type : v.fetch_type) ?? 0;
  return { name: v.name ?? '', alias: v.alias_name ?? '', type, dtype: dtypeOfServingCode(type), lodLevel: v.is_lod_tensor === true ? 1 : 0, shape: v.shape ?? [] };
}

export interface ServingConfigOptions {
  feedAliases?: string[];
  fetchAliases?: string[];
}

/** Alias lists from the command line: count must match, no empties, no duplicates. */
export function checkAliases(kind: ServingVarKind, aliases: string[] | undefined, names: string[]): string[] {
  if (aliases === undefined) return names;
  if (aliases.length !== names.length) {
    throw new PserveError('E_ALIAS_COUNT', `--${kind}_alias_names gives ${aliases.length} alias${aliases.length === 1 ? '' : 'es'} but the model has ${names.length} ${kind} var${names.length === 1 ? '' : 's'} (${names.join(', ')})`, {
      hint: kind === 'fetch' ? 'fetch aliases follow the fetch vars sorted by name' : 'feed aliases follow the feed order',
    });
  }
  aliases.forEach((a) => checkAliasName(a, kind));
  const seen = new Set<string>();
  for (const a of aliases) {
    if (seen.has(a)) throw new PserveError('E_ALIAS_DUPLICATE', `--${kind}_alias_names names ${JSON.stringify(a)} twice; aliases must be unique`);
    seen.add(a);
  }
  return aliases;
}

export function checkAliasName(a: string, kind: ServingVarKind): void {
  // eslint-disable-next-line no-control-regex
  if (a.length === 0 || /[\u0000-\u001f\u007f]/.test(a) || a.trim() !== a) {
    throw new PserveError('E_ALIAS_INVALID', `${kind} alias ${JSON.stringify(a)} is empty or has control characters or surrounding spaces`);
  }
}

function servingVar(kind: ServingVarKind, t: TensorSpec, alias: string): ServingVar {
  const v: ServingVar = { name: t.name, alias_name: alias, is_lod_tensor: t.lodLevel >= 1 };
  v[kind === 'feed' ? 'feed_type' : 'fetch_type'] = servingTypeCode(t.dtype);
  v.shape = servingShape(t);
  return v;
}

function unique(ts: TensorSpec[]): TensorSpec[] {
  const seen = new Set<string>();
  return ts.filter((t) => (seen.has(t.name) ? false : (seen.add(t.name), true)));
}

export function toServingConfig(model: Pick<PaddleModel, 'feeds' | 'fetches'>, opts: ServingConfigOptions = {}): GeneralModelConfig {
  const feeds = unique(model.feeds);
  const fetches = unique(model.fetches).sort((a, b) => compareBytes(a.name, b.name));
  const feedAlias = checkAliases('feed', opts.feedAliases, feeds.map((f) => f.name));
  const fetchAlias = checkAliases('fetch', opts.fetchAliases, fetches.map((f) => f.name));
  return {
    feed_var: feeds.map((t, i) => servingVar('feed', t, feedAlias[i]!)),
    fetch_var: fetches.map((t, i) => servingVar('fetch', t, fetchAlias[i]!)),
  };
}
