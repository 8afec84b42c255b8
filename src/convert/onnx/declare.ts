/**
 * Declarative op mappers: a mapper says ONCE which Paddle op types it covers, where each input and
 * output lives in a legacy program (named slot) and in a PIR program (position), its attributes
 * with Paddle's defaults, the lowest ONNX opset it needs and, where the spelling changes with the
 * opset, one map function per opset side by side. Its map function then reads inputs, outputs and
 * shapes by the declared names (in both program kinds) and gets the attributes resolved.
 *
 *   export const leakyRelu = defineOp({
 *     types: ['leaky_relu', 'leaky_relu_'],
 *     inputs: { X: 0 },                        // legacy slot X  <->  PIR operand 0
 *     outputs: { Out: 0 },
 *     attrs: { alpha: { default: 0.02, pir: 'negative_slope' } },   // or just `alpha: 0.02` when both spell it so
 *     minOpset: 6,
 *     note: 'alpha',                           // what the README op table says
 *     map(ctx, a) {                            // ctx: a MapContext that speaks the declared names
 *       ctx.g.op('LeakyRelu', [ctx.input('X')], { alpha: f(a.alpha) }, ctx.output('Out'));
 *     },
 *   });
 *
 * Inputs: `X: 0` (required, PIR operand 0); `{ pir: 2, optional: true }`; `{ pir: null }` (legacy
 * only); `{ legacy: 'AxisTensor', pir: 1, optional: true }` (the declared key is then only a local
 * name); `list: true` for a list operand (read with ctx.list). A required input that is missing is
 * an error naming the op before `map` runs.
 * Attributes: `name: default` or `{ default, legacy?, pir?, tensor? }`. `legacy`/`pir` rename the
 * attribute in that program kind (null: that kind never carries it, the default holds); `tensor`
 * names a declared input that, when present, overrides the attribute with its constant value
 * (AxisTensor, PIR operands made by `full` / `full_int_array`); a non-constant one is refused. The
 * value is coerced to the default's type (number, boolean, string, number[]).
 * Opsets: `minOpset` + `map`, or `opsets: { 9: mapOld, 13: mapNew }` (the variant with the highest
 * key <= the target opset runs; the lowest key is the minimum). `needs(view)` raises the minimum for
 * one instance, with the reason: it sees the resolved attributes (constant operands included),
 * which inputs are present, their declared shapes and dtypes. Without --opset_version the
 * converter writes the lowest opset every instance can take (never below 9); a lower request is
 * refused with E_ONNX_OPSET naming the ops and reasons.
 *   needs: (v) => (v.has('Min') ? { opset: 11, why: 'Min/Max tensors need Clip-11' } : undefined),
 * Variadic operands (builtin.combine): `ctx.raw` is the context over the op's raw slot names.
 * Families of look-alike ops (unary, binary with Paddle's axis broadcast, compare/logic, reduce)
 * come from one table each: see ops/unary.ts, ops/elementwise.ts, ops/compare.ts, ops/reduce.ts.
 */
import { PserveError } from '../../errors.js';
import type { DType } from '../../model/dtype.js';
import type { AttrValue, OpNode } from '../../model/types.js';
import type { MapContext, OpMapper, OpView } from './mapper.js';

export type InputDecl = number | {
  /** PIR operand position; null: legacy programs only */
  pir?: number | null;
  /** legacy slot name when it differs from the key; null: PIR programs only */
  legacy?: string | null;
  optional?: boolean;
  list?: boolean;
};
export type OutputDecl = number | { pir?: number | null; legacy?: string | null; optional?: boolean };

type AttrDefault = number | boolean | string | number[] | string[];
export type AttrDecl = AttrDefault | {
  default: AttrDefault;
  legacy?: string | null;
  pir?: string | null;
  /** a declared input whose constant value overrides the attribute when present */
  tensor?: string;
};

type Widen<T> = T extends number ? number : T extends boolean ? boolean : T extends string ? string : T extends string[] ? string[] : T extends number[] ? number[] : never;
type AttrType<D> = D extends { default: infer V } ? Widen<V> : Widen<D>;
export type Attrs<A extends Record<string, AttrDecl>> = { -readonly [K in keyof A]: AttrType<A[K]> };

export type MapFn<A extends Record<string, AttrDecl>> = (ctx: MapContext, a: Attrs<A>) => void;

export interface OpDecl<A extends Record<string, AttrDecl>> {
  types: string[];
  inputs?: Record<string, InputDecl>;
  outputs?: Record<string, OutputDecl>;
  attrs?: A;
  note?: string;
  minOpset?: number;
  map?: MapFn<A>;
  /** per-opset variants: key = the lowest opset the variant needs */
  opsets?: Record<number, MapFn<A>>;
  /** raise the minimum opset for one instance of the op; `why` is shown when a lower opset is asked for */
  needs?: (v: NeedsView<A>) => { opset: number; why: string } | undefined;
}

/** what `needs` sees of one op instance before anything is built */
export interface NeedsView<A extends Record<string, AttrDecl>> {
  attrs: Attrs<A>;
  op: OpNode;
  has(name: string): boolean;
  shapeOf(name: string): number[] | undefined;
  dtypeOf(name: string): DType | undefined;
}

interface Slot { legacy: string | null; pir: string | null; optional: boolean; list: boolean }

function slots(decl: Record<string, InputDecl | OutputDecl> | undefined): Map<string, Slot> {
  const m = new Map<string, Slot>();
  for (const [k, d] of Object.entries(decl ?? {})) {
    if (typeof d === 'number') { m.set(k, { legacy: k, pir: String(d), optional: false, list: false }); continue; }
    m.set(k, {
      legacy: d.legacy === null ? null : d.legacy ?? k,
      pir: d.pir === null || d.pir === undefined ? null : String(d.pir),
      optional: d.optional === true,
      list: 'list' in d && d.list === true,
    });
  }
  return m;
}

/** Coerce a raw Paddle attribute to the type of its default. */
function coerce(v: AttrValue | undefined, def: AttrDefault): AttrDefault {
  if (v === undefined || v === null) return def;
  if (typeof def === 'number') {
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
    if (Array.isArray(v) && v.length === 1) return coerce(v[0], def);
    return def;
  }
  if (typeof def === 'boolean') {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number' || typeof v === 'bigint') return Number(v) !== 0;
    return def;
  }
  if (typeof def === 'string') return String(v);
  if (!Array.isArray(v)) return typeof v === 'number' || typeof v === 'bigint' ? [Number(v)] : def;
  if (def.length > 0 && typeof def[0] === 'string') return v.map((x) => String(x));
  return v.map((x) => Number(x));
}

function isOptionalNull(v: AttrDecl): v is Exclude<AttrDecl, AttrDefault> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Build a plain OpMapper (what the registry and converter know) from a declaration. */
export function defineOp<const A extends Record<string, AttrDecl> = Record<string, never>>(d: OpDecl<A>): OpMapper {
  const ins = slots(d.inputs);
  const outs = slots(d.outputs);
  const variants = d.opsets
    ? Object.entries(d.opsets).map(([k, fn]) => [Number(k), fn] as const).sort((a, b) => a[0] - b[0])
    : [[d.minOpset ?? 11, d.map!] as const];
  if (variants.length === 0 || variants.some(([, fn]) => typeof fn !== 'function')) throw new Error(`mapper ${d.types[0]}: neither map nor opsets`);
  const minOpset = Math.max(d.minOpset ?? 0, variants[0]![0]);

  const slotName = (pir: boolean, name: string, io: 'input' | 'output'): string | null => {
    const s = (io === 'input' ? ins : outs).get(name);
    if (!s) throw new Error(`mapper ${d.types[0]}: ${io} ${name} is not declared`);
    return pir ? s.pir : s.legacy;
  };

  /** the raw attribute value with its per-kind name, or the default when this kind never has it */
  const rawAttr = (op: OpNode, pir: boolean, key: string, decl: AttrDecl): AttrDefault => {
    if (!isOptionalNull(decl)) return coerce(op.attrs[key], decl);
    const name = pir ? (decl.pir === undefined ? key : decl.pir) : (decl.legacy === undefined ? key : decl.legacy);
    return name === null ? decl.default : coerce(op.attrs[name], decl.default);
  };

  const viewAttrs = (op: OpNode, pir: boolean, constOf?: (name: string) => number[] | undefined): Attrs<A> => {
    const out: Record<string, AttrDefault> = {};
    for (const [k, decl] of Object.entries(d.attrs ?? {}) as [string, AttrDecl][]) {
      let v = rawAttr(op, pir, k, decl);
      if (isOptionalNull(decl) && decl.tensor && constOf) {
        const c = constOf(decl.tensor);
        if (c) v = Array.isArray(decl.default) ? c : c[0]!;
      }
      out[k] = v;
    }
    return out as Attrs<A>;
  };

  const mapper: OpMapper = {
    types: d.types,
    minOpset,
    ...(d.note !== undefined ? { note: d.note } : {}),
    map(raw) {
      const tr = (name: string, io: 'input' | 'output'): string => {
        const s = slotName(raw.pir, name, io);
        if (s === null) throw raw.unsupported(`${io} ${name} does not exist in ${raw.pir ? 'PIR' : 'legacy'} programs`);
        return s;
      };
      const present = (name: string): boolean => {
        const s = slotName(raw.pir, name, 'input');
        return s !== null && raw.has(s);
      };
      for (const [k, s] of ins) {
        if (s.optional) continue;
        const sn = raw.pir ? s.pir : s.legacy;
        if (sn !== null && !raw.has(sn)) {
          throw new PserveError('E_ONNX_OP_SLOT', `op ${raw.op.type}: input ${k}${raw.pir ? ` (operand ${sn})` : ''} is missing`, { file: raw.unsupported('').file, hint: 'nothing was written' });
        }
      }
      const ctx: MapContext = {
        g: raw.g,
        opset: raw.opset,
        op: raw.op,
        pir: raw.pir,
        input: (n, i) => raw.input(tr(n, 'input'), i),
        inputs: (n) => (present(n) ? raw.inputs(tr(n, 'input')) : []),
        list: (n) => raw.list(tr(n, 'input')),
        has: present,
        output: (n, i) => raw.output(tr(n, 'output'), i),
        hasOutput: (n) => { const s = slotName(raw.pir, n, 'output'); return s !== null && (raw.op.outputs[s] ?? []).some((x) => x !== ''); },
        attr: (n, fb) => raw.attr(n, fb),
        shapeOf: (n, i) => (present(n) ? raw.shapeOf(tr(n, 'input'), i) : undefined),
        outputShapeOf: (n, i) => { const s = slotName(raw.pir, n, 'output'); return s === null ? undefined : raw.outputShapeOf(s, i); },
        outputDtypeOf: (n, i) => { const s = slotName(raw.pir, n, 'output'); return s === null ? undefined : raw.outputDtypeOf(s, i); },
        rank: (n, i) => raw.rank(tr(n, 'input'), i),
        dtypeOf: (n, i) => raw.dtypeOf(tr(n, 'input'), i),
        constOf: (n, i) => (present(n) ? raw.constOf(tr(n, 'input'), i) : undefined),
        unsupported: (r) => raw.unsupported(r),
        raw,
      };
      const attrs = viewAttrs(raw.op, raw.pir, (name) => {
        if (!present(name)) return undefined;
        const c = ctx.constOf(name);
        if (!c) throw raw.unsupported(`${name} (${tr(name, 'input')}) is not a constant`);
        return c.values;
      });
      let fn = variants[0]![1];
      for (const [v, f] of variants) if (v <= raw.opset) fn = f;
      fn(ctx, attrs);
    },
  };
  if (d.needs) {
    const needs = d.needs;
    mapper.needs = (view: OpView) => needs({
      attrs: viewAttrs(view.op, view.pir, (n) => {
        const sn = slotName(view.pir, n, 'input');
        return sn === null ? undefined : view.constOf?.(sn);
      }),
      op: view.op,
      has: (n) => { const s = slotName(view.pir, n, 'input'); return s !== null && (view.op.inputs[s] ?? []).some((x) => x !== ''); },
      shapeOf: (n) => { const s = slotName(view.pir, n, 'input'); return s === null ? undefined : view.shapeOf(s); },
      dtypeOf: (n) => { const s = slotName(view.pir, n, 'input'); return s === null ? undefined : view.dtypeOf?.(s); },
    });
  }
  return mapper;
}

/** `types` plus their in-place PIR spellings (`relu` -> `relu`, `relu_`). */
export function withInplace(...types: string[]): string[] {
  return types.flatMap((t) => [t, `${t}_`]);
}
