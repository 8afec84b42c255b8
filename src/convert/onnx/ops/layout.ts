/** Shared by conv/pool/norm/resize mappers: Paddle padding attributes and NHWC handling. */
import type { MapContext } from '../mapper.js';
import { ints } from '../mapper.js';

export interface PadSpec { pads?: number[]; autoPad?: string }

/**
 * Paddle `padding_algorithm`: SAME pads so that out = ceil(in/stride), the odd pixel at the end
 * (ONNX SAME_UPPER); VALID pads nothing; EXPLICIT takes `paddings`, either one per spatial dim
 * (both sides) or two per dim in Paddle's order [top, bottom, left, right], which ONNX wants as
 * [top, left, bottom, right].
 */
export function padsOf(ctx: MapContext, spatial: number): PadSpec {
  const algo = String(ctx.attr('padding_algorithm', 'EXPLICIT'));
  if (algo === 'SAME') return { autoPad: 'SAME_UPPER' };
  if (algo === 'VALID') return { pads: new Array(spatial * 2).fill(0) };
  const p = ints(ctx.op.attrs['paddings']);
  if (p.length === 0) return { pads: new Array(spatial * 2).fill(0) };
  if (p.length === spatial) return { pads: [...p, ...p] };
  if (p.length === spatial * 2) {
    const begin = Array.from({ length: spatial }, (_, i) => p[2 * i]!);
    const end = Array.from({ length: spatial }, (_, i) => p[2 * i + 1]!);
    return { pads: [...begin, ...end] };
  }
  throw ctx.unsupported(`paddings has ${p.length} values for ${spatial} spatial dims`);
}

export function isChannelsLast(ctx: MapContext, attr = 'data_format'): boolean {
  return channelsLastName(String(ctx.op.attrs[attr] ?? ctx.op.attrs['data_layout'] ?? 'NCHW'));
}

/** a Paddle data_format / data_layout value that puts channels last */
export function channelsLastName(v: string): boolean {
  return v === 'NHWC' || v === 'NDHWC' || v === 'NLC';
}

/** Run `body` in NCHW: channels-last inputs are transposed in, and the result transposed back to `out`. */
export function inChannelsFirst(ctx: MapContext, x: string, rank: number, channelsLast: boolean, out: string, body: (x: string, out?: string) => string): void {
  if (!channelsLast) { body(x, out); return; }
  const toFirst = [0, rank - 1, ...Array.from({ length: rank - 2 }, (_, i) => i + 1)];
  const toLast = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1];
  const t = ctx.g.op('Transpose', [x], { perm: toFirst });
  const y = body(t);
  ctx.g.op('Transpose', [y], { perm: toLast }, out);
}
