/**
 * Binary elementwise ops from one table. Legacy `elementwise_*` (and the legacy compare ops)
 * broadcast Y against X starting at dimension `axis` (-1: numpy-style from the right); when axis
 * places Y before X's last dims, Y gets trailing unit dims so that ONNX's numpy broadcasting lines
 * it up the same way. The PIR spellings (add, multiply, ...) carry no axis and broadcast numpy-style.
 */
import type { GraphBuilder } from '../graph-builder.js';
import { defineOp, withInplace } from '../declare.js';
import type { MapContext, OpMapper } from '../mapper.js';
import type { DType } from '../../../model/dtype.js';

/** Line X and Y up for ONNX broadcasting the way Paddle's `axis` does. */
export function alignAxis(ctx: MapContext, x: string, y: string, axis: number, xs = 'X', ys = 'Y'): [string, string] {
  if (axis === -1) return [x, y];
  const { g } = ctx;
  const xr = ctx.rank(xs);
  const yr = ctx.rank(ys);
  if (yr < xr) {
    const trailing = xr - axis - yr;
    if (trailing < 0) throw ctx.unsupported(`axis ${axis} does not fit X of rank ${xr} and Y of rank ${yr}`);
    if (trailing > 0) y = g.unsqueeze(y, Array.from({ length: trailing }, (_, i) => yr + i));
  } else if (xr < yr) {
    const trailing = yr - axis - xr;
    if (trailing < 0) throw ctx.unsupported(`axis ${axis} does not fit X of rank ${xr} and Y of rank ${yr}`);
    if (trailing > 0) x = g.unsqueeze(x, Array.from({ length: trailing }, (_, i) => xr + i));
  }
  return [x, y];
}

export interface BinaryBuild {
  g: GraphBuilder;
  ctx: MapContext;
  x: string;
  y: string;
  out: string;
  /** dtype of X */
  dt: DType;
}

export interface BinaryRow {
  types: string[];
  /** a single ONNX op computes it */
  onnx?: string;
  /** or a small graph (must write `out`) */
  build?: (b: BinaryBuild) => void;
  minOpset: number;
  note?: string;
  /** legacy slot names when not X / Y (atan2: X1 / X2) */
  slots?: [string, string];
  /** a higher opset for some instances (by input dtype) */
  needs?: (v: { dtypeOf(name: string): DType | undefined }) => { opset: number; why: string } | undefined;
}

/** One mapper per table row: inputs X/Y (PIR 0/1), output Out, Paddle's legacy `axis`. */
export function binaryFamily(rows: BinaryRow[]): OpMapper[] {
  return rows.map((r) => {
    const [xs, ys] = r.slots ?? ['X', 'Y'];
    return defineOp({
      types: r.types,
      inputs: { [xs]: 0, [ys]: 1 },
      outputs: { Out: 0 },
      attrs: { axis: { default: -1, pir: null } },
      minOpset: r.minOpset,
      ...(r.needs ? { needs: r.needs } : {}),
      note: r.note ?? (r.onnx ? `ONNX ${r.onnx}; broadcast \`axis\`` : 'broadcast `axis`'),
      map(ctx, a) {
        const [x, y] = alignAxis(ctx, ctx.input(xs), ctx.input(ys), a.axis, xs, ys);
        const out = ctx.output('Out');
        if (r.onnx) ctx.g.op(r.onnx, [x, y], {}, out);
        else r.build!({ g: ctx.g, ctx, x, y, out, dt: ctx.dtypeOf(xs) });
      },
    });
  });
}

/** t != 0 as bool; ONNX Equal takes floats only from opset 11, so below it: t < 0 or t > 0 */
export function nonZero(g: GraphBuilder, t: string, dt: DType): string {
  const zero = g.scalar(0, dt);
  if (g.opset >= 11) return g.op('Not', [g.op('Equal', [t, zero])]);
  return g.op('Or', [g.op('Less', [t, zero]), g.op('Greater', [t, zero])]);
}

const isFloat = (d: DType): boolean => d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';

/** Paddle's mod: the remainder takes the divisor's sign (Python's %), for floats too. */
function mod({ g, x, y, out, dt }: BinaryBuild): void {
  if (!isFloat(dt)) { g.op('Mod', [x, y], { fmod: 0 }, out); return; }
  const r = g.op('Mod', [x, y], { fmod: 1 });
  const zero = g.scalar(0, dt);
  const differ = g.op('Xor', [g.op('Less', [r, zero]), g.op('Less', [y, zero])]);
  const fix = g.op('And', [differ, nonZero(g, r, dt)]);
  g.op('Where', [fix, g.op('Add', [r, y]), r], {}, out);
}

/** floor(x / y); for integers the exact (x - x mod y) / y, since ONNX Div truncates integers */
function floordiv({ g, x, y, out, dt }: BinaryBuild): void {
  if (isFloat(dt)) { g.op('Floor', [g.op('Div', [x, y])], {}, out); return; }
  g.op('Div', [g.op('Sub', [x, g.op('Mod', [x, y], { fmod: 0 })]), y], {}, out);
}

/** atan2(X1, X2): the angle of the point (X2, X1), in (-pi, pi] */
function atan2({ g, x: n, y: d, out, dt }: BinaryBuild): void {
  const zero = g.scalar(0, dt);
  const dz = g.op('Not', [nonZero(g, d, dt)]);
  const a = g.op('Atan', [g.op('Div', [n, g.op('Where', [dz, g.scalar(1, dt), d])])]);
  const adj = g.op('Where', [g.op('Less', [d, zero]), g.op('Where', [g.op('Less', [n, zero]), g.scalar(-Math.PI, dt), g.scalar(Math.PI, dt)]), zero]);
  const onAxis = g.op('Mul', [g.op('Sign', [n]), g.scalar(Math.PI / 2, dt)]);
  g.op('Where', [dz, onAxis, g.op('Add', [a, adj])], {}, out);
}

/** ONNX Max / Min / Pow take integer tensors from opset 12 (float only before) */
const intFrom12 = (onnx: string) => (v: { dtypeOf(name: string): DType | undefined }): { opset: number; why: string } | undefined => {
  const d = v.dtypeOf('X');
  return d !== undefined && !isFloat(d) ? { opset: 12, why: `${onnx} on ${d}` } : undefined;
};

export const ELEMENTWISE: OpMapper[] = binaryFamily([
  { types: ['elementwise_add', ...withInplace('add')], onnx: 'Add', minOpset: 7 },
  { types: ['elementwise_sub', ...withInplace('subtract')], onnx: 'Sub', minOpset: 7 },
  { types: ['elementwise_mul', ...withInplace('multiply')], onnx: 'Mul', minOpset: 7 },
  { types: ['elementwise_div', ...withInplace('divide')], onnx: 'Div', minOpset: 7 },
  { types: ['elementwise_max', 'maximum'], onnx: 'Max', minOpset: 8, needs: intFrom12('Max'), note: 'ONNX Max (integers: 12); broadcast `axis`' },
  { types: ['elementwise_min', 'minimum'], onnx: 'Min', minOpset: 8, needs: intFrom12('Min'), note: 'ONNX Min (integers: 12); broadcast `axis`' },
  { types: ['elementwise_pow', 'elementwise_pow_'], onnx: 'Pow', minOpset: 7, needs: intFrom12('Pow'), note: 'ONNX Pow (integers: 12); broadcast `axis`' },
  { types: ['elementwise_mod', ...withInplace('remainder')], build: mod, minOpset: 10, note: "Paddle's sign rule (divisor's sign, floats too); broadcast `axis`" },
  { types: ['elementwise_floordiv', ...withInplace('floor_divide')], build: floordiv, minOpset: 10, note: 'floor division (integers exact); broadcast `axis`' },
  { types: ['atan2'], build: atan2, minOpset: 9, slots: ['X1', 'X2'], note: 'quadrants, x2 = 0' },
]);
