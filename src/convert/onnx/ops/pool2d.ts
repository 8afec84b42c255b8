/**
 * pool2d: max/avg; global_pooling; adaptive (output ksize 1x1 -> global, else fixed windows when the
 * input size divides evenly); ceil_mode; exclusive (avg: padding not counted); padding_algorithm;
 * data_format. PIR takes the kernel size as operand 1 (a full_int_array).
 */
import { ints, type OpMapper } from '../mapper.js';
import { inChannelsFirst, isChannelsLast, padsOf } from './layout.js';

export const pool2d: OpMapper = {
  types: ['pool2d'],
  note: 'max/avg, global, adaptive, ceil_mode, exclusive, padding_algorithm',
  map(ctx) {
    const { g, op } = ctx;
    const xs = ctx.pir ? '0' : 'X';
    const x = ctx.input(xs);
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    const type = String(op.attrs['pooling_type'] ?? 'max');
    if (type !== 'max' && type !== 'avg') throw ctx.unsupported(`pooling_type ${type}`);
    let ksize = ints(op.attrs['ksize']);
    if (ctx.pir) {
      const c = ctx.constOf('1');
      if (!c) throw ctx.unsupported('kernel size is not a constant');
      ksize = c.values;
    }
    const global = op.attrs['global_pooling'] === true;
    const adaptive = op.attrs['adaptive'] === true;
    const cl = isChannelsLast(ctx);
    const shape = ctx.shapeOf(xs);
    const rank = shape?.length ?? 4;
    const spatialIn = shape ? (cl ? shape.slice(1, rank - 1) : shape.slice(2)) : [];
    const body = (t: string, o?: string): string => {
      if (global || (adaptive && ksize.every((k) => k === 1))) {
        return g.op(type === 'max' ? 'GlobalMaxPool' : 'GlobalAveragePool', [t], {}, o);
      }
      let kernel = ksize;
      let strides = ints(op.attrs['strides']);
      let pad = padsOf(ctx, ksize.length);
      if (adaptive) {
        if (spatialIn.length !== ksize.length || spatialIn.some((d, i) => d < 0 || d % ksize[i]! !== 0)) {
          throw ctx.unsupported(`adaptive pooling to ${ksize.join('x')} needs a fixed input size that it divides (input ${spatialIn.join('x') || 'unknown'})`);
        }
        kernel = spatialIn.map((d, i) => d / ksize[i]!);
        strides = kernel;
        pad = { pads: new Array(ksize.length * 2).fill(0) };
      }
      const attrs = {
        kernel_shape: kernel,
        strides: strides.length ? strides : undefined,
        pads: pad.pads,
        auto_pad: pad.autoPad,
        ceil_mode: op.attrs['ceil_mode'] === true ? 1 : undefined,
        count_include_pad: type === 'avg' ? (op.attrs['exclusive'] === false ? 1 : 0) : undefined,
      };
      return g.op(type === 'max' ? 'MaxPool' : 'AveragePool', [t], attrs, o);
    };
    inChannelsFirst(ctx, x, rank, cl, out, body);
  },
};
