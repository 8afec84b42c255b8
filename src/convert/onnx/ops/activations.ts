/**
 * Activations with attributes, in Paddle's definitions (legacy attribute names, PIR renames
 * declared beside them).
 */
import type { DType } from '../../../model/dtype.js';
import type { MapContext } from '../mapper.js';

/** clip(x, lo, hi) with constant bounds: Clip-6 takes attributes, Clip-11 inputs */
export function clip(ctx: MapContext, x: string, lo: number, hi: number, dt: DType, out?: string): string {
  const { g } = ctx;
  if (ctx.opset >= 11) return g.op('Clip', [x, g.scalar(lo, dt), g.scalar(hi, dt)], {}, out);
  if (dt !== 'float32' && dt !== 'float64' && dt !== 'float16') throw ctx.unsupported(`clipping ${dt} needs opset 11`);
  return g.op('Clip', [x], { min: { f: lo }, max: { f: hi } }, out);
}
