/**
 * batch_norm in inference (is_test; running mean/variance): y = (x - mean)/sqrt(var + eps)*scale + bias.
 * Legacy slots X/Scale/Bias/Mean/Variance; PIR batch_norm_ operands are x, mean, variance, scale, bias.
 */
import { f } from '../graph-builder.js';
import { defineOp } from '../declare.js';
import { channelsLastName, inChannelsFirst } from './layout.js';

export const batchNorm = defineOp({
  types: ['batch_norm', 'batch_norm_'],
  inputs: { X: 0, Mean: 1, Variance: 2, Scale: 3, Bias: 4 },
  outputs: { Y: 0 },
  attrs: { epsilon: 1e-5, data_layout: { default: 'NCHW', pir: 'data_format' } },
  minOpset: 9,
  note: 'inference statistics, data_layout',
  map(ctx, a) {
    const { g } = ctx;
    const x = ctx.input('X');
    const ins = [ctx.input('Scale'), ctx.input('Bias'), ctx.input('Mean'), ctx.input('Variance')];
    const out = ctx.output('Y');
    const rank = ctx.shapeOf('X')?.length ?? 4;
    inChannelsFirst(ctx, x, rank, rank > 2 && channelsLastName(a.data_layout), out,
      (t, o) => g.op('BatchNormalization', [t, ...ins], { epsilon: f(a.epsilon) }, o));
  },
});
