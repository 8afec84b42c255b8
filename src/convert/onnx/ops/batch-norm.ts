/**
 * batch_norm in inference (is_test; running mean/variance): y = (x - mean)/sqrt(var + eps)*scale + bias.
 * Legacy slots X/Scale/Bias/Mean/Variance; PIR batch_norm_ operands are x, mean, variance, scale, bias.
 */
import { f } from '../graph-builder.js';
import { num, type OpMapper } from '../mapper.js';
import { inChannelsFirst, isChannelsLast } from './layout.js';

export const batchNorm: OpMapper = {
  types: ['batch_norm', 'batch_norm_'],
  note: 'inference statistics, data_layout',
  map(ctx) {
    const { g } = ctx;
    const [xs, ms, vs, ss, bs] = ctx.pir ? ['0', '1', '2', '3', '4'] : ['X', 'Mean', 'Variance', 'Scale', 'Bias'];
    const x = ctx.input(xs!);
    const ins = [ctx.input(ss!), ctx.input(bs!), ctx.input(ms!), ctx.input(vs!)];
    const out = ctx.output(ctx.pir ? '0' : 'Y');
    const eps = num(ctx.op.attrs['epsilon'], 1e-5);
    const rank = ctx.shapeOf(xs!)?.length ?? 4;
    inChannelsFirst(ctx, x, rank, rank > 2 && isChannelsLast(ctx, ctx.pir ? 'data_format' : 'data_layout'), out,
      (t, o) => g.op('BatchNormalization', [t, ...ins], { epsilon: f(eps) }, o));
  },
};
