/**
 * pool2d / pool3d: max/avg; global_pooling; adaptive (output ksize all 1 -> global, fixed windows
 * when the input size divides evenly, else per-dim windows, also for sizes known only at run time:
 * adaptive-pool.ts); ceil_mode; exclusive (avg: padding not counted); padding_algorithm;
 * data_format. PIR takes the kernel size as operand 1 (a full_int_array).
 */
import { defineOp } from '../declare.js';
import { inChannelsFirst, isChannelsLast, padsOf } from './layout.js';
import { adaptivePool, MAX_ADAPTIVE_OUT } from './adaptive-pool.js';

export const pool2d = defineOp({
  types: ['pool2d', 'pool3d'],
  inputs: { X: 0, ksizeT: { legacy: null, pir: 1 } },
  outputs: { Out: 0 },
  attrs: { pooling_type: 'max', ksize: { default: [] as number[], tensor: 'ksizeT' }, global_pooling: false, adaptive: false, ceil_mode: false, exclusive: true, strides: [] as number[] },
  minOpset: 9,
  needs: (v) => {
    if (v.attrs.ceil_mode) return { opset: 10, why: 'ceil_mode needs MaxPool/AveragePool-10' };
    const sp = v.shapeOf('X')?.slice(2);
    if (v.attrs.adaptive && !v.attrs.global_pooling && !v.attrs.ksize.every((k) => k === 1) && (!sp || sp.some((d) => d < 0))) {
      return { opset: 10, why: 'adaptive pooling over a size known only at run time needs Slice-10' };
    }
    return undefined;
  },
  note: 'max/avg, global, adaptive (uneven or dynamic input too), ceil_mode, exclusive, padding_algorithm; 2-D and 3-D',
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
          // uneven or run-time windows: one dim at a time (adaptive-pool.ts)
          if (ksize.length !== rank - 2 || ksize.some((k) => !(k >= 1 && k <= MAX_ADAPTIVE_OUT))) {
            throw ctx.unsupported(`adaptive pooling to ${ksize.join('x')}: each output size must be 1..${MAX_ADAPTIVE_OUT}`);
          }
          return adaptivePool(g, t, type, ksize, spatialIn.length === ksize.length ? spatialIn : ksize.map(() => -1), o);
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
