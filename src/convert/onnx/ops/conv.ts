/** conv2d / depthwise_conv2d (and conv3d): strides, dilations, groups, padding_algorithm, data_format, optional Bias. */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';
import { ints, num } from '../mapper.js';
import { inChannelsFirst, isChannelsLast, padsOf } from './layout.js';

/** conv and conv-transpose declare the same operands */
export const CONV_INPUTS = { Input: 0, Filter: 1, Bias: { pir: null, optional: true } } as const;

/**
 * What Conv and ConvTranspose share: the operands (input, filter, legacy Bias), the output, and the
 * kernel/stride/dilation/group/padding attributes, all read with Paddle's semantics.
 */
export function convParts(ctx: MapContext) {
  const w = ctx.shapeOf('Filter');
  if (!w) throw ctx.unsupported('filter shape unknown');
  const spatial = w.length - 2;
  const strides = ints(ctx.op.attrs['strides']);
  const dil = ints(ctx.op.attrs['dilations']);
  const pad = padsOf(ctx, spatial);
  const inputs = [ctx.input('Input'), ctx.input('Filter')];
  if (ctx.has('Bias')) inputs.push(ctx.input('Bias'));
  const out = ctx.output('Output');
  const attrs = {
    kernel_shape: w.slice(2),
    strides: strides.length ? strides : undefined,
    // Paddle's SAME sets every dilation to 1 (UpdatePaddingAndDilation)
    dilations: dil.length && !pad.autoPad ? dil : undefined,
    group: num(ctx.op.attrs['groups'], 1),
    pads: pad.pads,
    auto_pad: pad.autoPad,
  };
  return { spatial, inputs, out, attrs, channelsLast: isChannelsLast(ctx) };
}

export const conv = defineOp({
  types: ['conv2d', 'depthwise_conv2d', 'conv3d'],
  inputs: CONV_INPUTS,
  outputs: { Output: 0 },
  minOpset: 1,
  note: 'padding_algorithm SAME/VALID/EXPLICIT, groups, dilations, data_format',
  map(ctx) {
    const { spatial, inputs, out, attrs, channelsLast } = convParts(ctx);
    inChannelsFirst(ctx, inputs[0]!, spatial + 2, channelsLast, out, (x, o) => ctx.g.op('Conv', [x, ...inputs.slice(1)], attrs, o));
  },
});
