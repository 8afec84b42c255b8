/**
 * pool2d: max/avg; global_pooling; adaptive (output ksize 1x1 -> global, else fixed windows when the
 * input size divides evenly); ceil_mode; exclusive (avg: padding not counted); padding_algorithm;
 * data_format. PIR takes the kernel size as operand 1 (a full_int_array).
 */
import { defineOp } from '../declare.js';
import { inChannelsFirst, isChannelsLast, padsOf } from './layout.js';

export const pool2d = defineOp({
  types: ['pool2d'],
  inputs: { X: 0, ksizeT: { legacy: null, pir: 1 } },
  outputs: { Out: 0 },
  attrs: { pooling_type: 'max', ksize: { default: [] as number[], tensor: 'ksizeT' }, global_pooling: false, adaptive: false, ceil_mode: false, exclusive: true, strides: [] as number[] },
  minOpset: 9,
  needs: (v) => (v.attrs.ceil_mode ? { opset: 10, why: 'ceil_mode needs MaxPool/AveragePool-10' } : undefined),
  note: 'max/avg, global, adaptive, ceil_mode, exclusive, padding_algorithm',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const out = ctx.output('Out');
    const type = a.pooling_type;
    if (type !== 'max' && type !== 'avg') throw ctx.unsupported(`pooling_type ${type}`);
    const ksize = a.ksize;
    const global = a.global_pooling;
    const adaptive = a.adaptive;
    const cl = isChannelsLast(ctx);
    const shape = ctx.shapeOf('X');
    const rank = shape?.length ?? 4;
    const spatialIn = shape ? (cl ? shape.slice(1, rank - 1) : shape.slice(2)) : [];
    const body = (t: string, o?: string): string => {
      if (global || (adaptive && ksize.every((k) => k === 1))) {
        return g.op(type === 'max' ? 'GlobalMaxPool' : 'GlobalAveragePool', [t], {}, o);
      }
      let kernel = ksize;
      let strides = a.strides;
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
        ceil_mode: a.ceil_mode ? 1 : undefined,
        count_include_pad: type === 'avg' ? (a.exclusive ? 0 : 1) : undefined,
      };
      return g.op(type === 'max' ? 'MaxPool' : 'AveragePool', [t], attrs, o);
    };
    inChannelsFirst(ctx, x, rank, cl, out, body);
  },
});
