/**
 * temporal_shift (TSM): x is [N*T, C, H, W] (or [N*T, H, W, C] with data_format NHWC; an export
 * without the attribute is NCHW, Paddle's default). With c1 = int(C*shift_ratio) and
 * c2 = int(C*2*shift_ratio), frame t takes channels [0,c1) from frame t-1, [c1,c2) from frame t+1
 * and the rest from itself; frames outside the clip read zeros. As ONNX: reshape to
 * [N, T, ...], pad T by one zero frame each side, slice the three channel groups at their time
 * offsets, concat, reshape back.
 */
import { defineOp } from '../declare.js';

export const temporalShift = defineOp({
  types: ['temporal_shift'],
  inputs: { X: 0 },
  outputs: { Out: 0 },
  attrs: { seg_num: 0, shift_ratio: 0.25, data_format: 'NCHW' },
  minOpset: 11,
  note: 'seg_num, shift_ratio, data_format (NCHW when absent)',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const T = a.seg_num;
    if (!(Number.isInteger(T) && T >= 1)) throw ctx.unsupported(`seg_num must be a positive integer (got ${T})`);
    if (a.data_format !== 'NCHW' && a.data_format !== 'NHWC') throw ctx.unsupported(`data_format ${a.data_format}`);
    const shape = ctx.shapeOf('X');
    if (shape && shape.length !== 4) throw ctx.unsupported(`input must be 4-D, got rank ${shape.length}`);
    const cAxis = a.data_format === 'NCHW' ? 1 : 3;
    const C = shape?.[cAxis] ?? -1;
    if (C < 0) throw ctx.unsupported('the channel count of the input is not declared');
    const c1 = Math.trunc(C * a.shift_ratio);
    const c2 = Math.trunc(C * 2 * a.shift_ratio);
    // [N*T, a, b, c] -> [N, T, a, b, c]
    const rest = g.shapeSlice(x, 1, 4);
    const full = g.shapeSlice(x, 0, 4);
    const x5 = g.op('Reshape', [x, g.op('Concat', [g.constant([-1, T]), rest], { axis: 0 })]);
    const padded = g.op('Pad', [x5, g.constant([0, 1, 0, 0, 0, 0, 1, 0, 0, 0]), g.scalar(0, ctx.dtypeOf('X'))], { mode: 'constant' });
    const ch = cAxis + 1;
    const part = (t0: number, cs: number, ce: number) => g.op('Slice', [padded, g.constant([t0, cs]), g.constant([t0 + T, ce]), g.constant([1, ch])]);
    const parts: string[] = [];
    if (c1 > 0) parts.push(part(0, 0, c1));
    if (c2 > c1) parts.push(part(2, c1, c2));
    if (C > c2) parts.push(part(1, c2, C));
    const shifted = parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: ch });
    g.op('Reshape', [shifted, full], {}, ctx.output('Out'));
  },
});
