/**
 * conv2d_transpose: Paddle's filter is [Cin, Cout/groups, kh, kw], as ONNX ConvTranspose wants.
 * output_padding maps directly; an explicit output_size is refused (its padding split is not
 * determined by the attributes alone).
 */
import { ints, type OpMapper } from '../mapper.js';
import { convParts } from './conv.js';
import { inChannelsFirst } from './layout.js';

export const convTranspose: OpMapper = {
  types: ['conv2d_transpose', 'depthwise_conv2d_transpose'],
  note: 'output_padding; output_size refused',
  map(ctx) {
    const outSize = ints(ctx.op.attrs['output_size']);
    if (outSize.length > 0 || (ctx.pir && ctx.has('2') && !(ctx.constOf('2')?.values.length === 0))) {
      throw ctx.unsupported('an explicit output_size is not converted');
    }
    const { spatial, inputs, out, attrs, channelsLast } = convParts(ctx);
    const outPad = ints(ctx.op.attrs['output_padding']);
    const all = { ...attrs, output_padding: outPad.length ? outPad : undefined };
    inChannelsFirst(ctx, inputs[0]!, spatial + 2, channelsLast, out, (x, o) => ctx.g.op('ConvTranspose', [x, ...inputs.slice(1)], all, o));
  },
};
