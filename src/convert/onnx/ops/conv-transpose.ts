/**
 * conv2d_transpose: Paddle's filter is [Cin, Cout/groups, kh, kw], as ONNX ConvTranspose wants.
 * output_padding maps directly; an explicit output_size is refused (its padding split is not
 * determined by the attributes alone).
 */
import { defineOp } from '../declare.js';
import { CONV_INPUTS, convParts } from './conv.js';
import { inChannelsFirst } from './layout.js';

export const convTranspose = defineOp({
  types: ['conv2d_transpose', 'depthwise_conv2d_transpose'],
  inputs: { ...CONV_INPUTS, output_size: { legacy: null, pir: 2, optional: true } },
  outputs: { Output: 0 },
  attrs: { output_size: [] as number[], output_padding: [] as number[] },
  minOpset: 1,
  note: 'output_padding; output_size refused',
  map(ctx, a) {
    if (a.output_size.length > 0 || (ctx.has('output_size') && !(ctx.constOf('output_size')?.values.length === 0))) {
      throw ctx.unsupported('an explicit output_size is not converted');
    }
    const { spatial, inputs, out, attrs, channelsLast } = convParts(ctx);
    const all = { ...attrs, output_padding: a.output_padding.length ? a.output_padding : undefined };
    inChannelsFirst(ctx, inputs[0]!, spatial + 2, channelsLast, out, (x, o) => ctx.g.op('ConvTranspose', [x, ...inputs.slice(1)], all, o));
  },
});
