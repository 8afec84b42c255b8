/** ProgramDesc -> format-neutral graph. */
import { versionString, type OpAttr, type ProgramDesc, type VarDesc } from '../formats/paddle-program.js';
import type { ProtoMessage } from '../formats/protobuf.js';
import { dtypeFromVarType } from './dtype.js';
import type { AttrValue, GraphBlock, OpNode, TensorSpec, VarSpec } from './types.js';

// VarType.Type codes that are never stored as parameters (FORMATS.md section 2)
const NOT_PARAMS = new Set([9 /* FEED_MINIBATCH */, 10 /* FETCH_LIST */, 15 /* READER */, 17 /* RAW */]);

function num(v: number | bigint | undefined): number {
  return v === undefined ? 0 : Number(v);
}

export function varSpec(v: VarDesc): VarSpec {
  const t = v.type;
  const tensor = t?.lod_tensor?.tensor ?? t?.selected_rows ?? t?.tensor_array?.tensor;
  return {
    name: v.name ?? '',
    dtype: tensor ? dtypeFromVarType(tensor.data_type) : 'unknown',
    shape: (tensor?.dims ?? []).map(num),
    lodLevel: t?.lod_tensor?.lod_level ?? t?.tensor_array?.lod_level ?? 0,
    persistable: v.persistable === true,
  };
}

function scalarValue(s: ProtoMessage | undefined): AttrValue {
  if (!s) return null;
  switch (s.type as number | undefined) {
    case 1: return Boolean(s.b);
    case 2: return (s.i as number | bigint | undefined) ?? 0;
    case 3: return (s.r as number | undefined) ?? 0;
    case 4: { const c = s.c as ProtoMessage | undefined; return [(c?.r as number) ?? 0, (c?.i as number) ?? 0]; }
    default: return null;
  }
}

export function attrValue(a: OpAttr): AttrValue {
  switch (a.type) {
    case 0: return a.i ?? 0;
    case 1: return a.f ?? 0;
    case 2: return a.s ?? '';
    case 3: return a.ints ?? [];
    case 4: return a.floats ?? [];
    case 5: return a.strings ?? [];
    case 6: return a.b ?? false;
    case 7: return a.bools ?? [];
    case 8: return a.block_idx ?? 0;
    case 9: return a.l ?? 0;
    case 10: return a.blocks_idx ?? [];
    case 11: return a.longs ?? [];
    case 12: return a.float64s ?? [];
    case 13: return a.var_name ?? '';
    case 14: return a.vars_name ?? [];
    case 15: return a.float64 ?? 0;
    case 16: return scalarValue(a.scalar);
    case 17: return (a.scalars ?? []).map(scalarValue);
    default: return null;
  }
}

export interface LegacyGraph {
  paddleVersion?: string;
  blocks: GraphBlock[];
  feeds: TensorSpec[];
  fetches: TensorSpec[];
  paramNames: string[];
}

export function programToGraph(prog: ProgramDesc): LegacyGraph {
  const blocks: GraphBlock[] = (prog.blocks ?? []).map((b, i) => {
    const vars = new Map<string, VarSpec>();
    for (const v of b.vars ?? []) vars.set(v.name ?? '', varSpec(v));
    const ops: OpNode[] = (b.ops ?? []).map((o) => {
      const inputs: Record<string, string[]> = {};
      for (const v of o.inputs ?? []) inputs[v.parameter ?? ''] = v.arguments ?? [];
      const outputs: Record<string, string[]> = {};
      for (const v of o.outputs ?? []) outputs[v.parameter ?? ''] = v.arguments ?? [];
      const attrs: Record<string, AttrValue> = {};
      for (const a of o.attrs ?? []) attrs[a.name ?? ''] = attrValue(a);
      return { type: o.type ?? '', inputs, outputs, attrs };
    });
    return { idx: b.idx ?? i, parentIdx: b.parent_idx ?? -1, ops, vars };
  });

  const block0 = blocks[0]!;
  const lookup = (name: string): TensorSpec => {
    for (const b of blocks) {
      const v = b.vars.get(name);
      if (v) return { name, dtype: v.dtype, shape: v.shape, lodLevel: v.lodLevel };
    }
    return { name, dtype: 'unknown', shape: [], lodLevel: 0 };
  };
  const byCol = (type: 'feed' | 'fetch') =>
    block0.ops
      .filter((o) => o.type === type)
      .map((o, i) => ({ col: typeof o.attrs['col'] === 'number' ? (o.attrs['col'] as number) : i, name: (type === 'feed' ? o.outputs['Out'] : o.inputs['X'])?.[0] ?? '' }))
      .sort((a, b) => a.col - b.col)
      .map((x) => lookup(x.name));

  const paramSet = new Set<string>();
  for (const b of prog.blocks ?? []) {
    for (const v of b.vars ?? []) {
      if (v.persistable && !NOT_PARAMS.has(v.type?.type ?? -1)) paramSet.add(v.name ?? '');
    }
  }
  const paramNames = [...paramSet].sort(compareBytes);
  const version = prog.version?.version;
  return {
    paddleVersion: version === undefined ? undefined : versionString(version),
    blocks,
    feeds: byCol('feed'),
    fetches: byCol('fetch'),
    paramNames,
  };
}

/** Byte-wise order, as C++ std::sort over std::string gives. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
