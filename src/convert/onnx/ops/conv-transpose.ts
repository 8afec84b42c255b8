/**
 * conv2d_transpose: Paddle's filter is [Cin, Cout/groups, kh, kw], as ONNX ConvTranspose wants.
 * output_padding maps directly. Paddle's SAME pads as a forward conv of the input would
 * (pad_sum = max((ceil(in/s) - 1)·s + k - in, 0), the odd pixel at the end, dilations 1), which is
 * not ONNX's SAME for ConvTranspose (out = in·s): those pads are written out, so the input's
 * spatial size must be declared. An explicit output_size (attribute, or the PIR operand) is the
 * extra rows and columns at the end, i.e. output_padding = output_size - the inferred size, which
 * also needs the declared input size.
 */
import { defineOp } from '../declare.js';
import { CONV_INPUTS, convParts } from './conv.js';
import { inChannelsFirst } from './layout.js';

export const convTranspose = defineOp({
  types: ['conv2d_transpose', 'depthwise_conv2d_transpose'],
  inputs: { ...CONV_INPUTS, output_size: { legacy: null, pir: 2, optional: true } },
  outputs: { Output: 0 },
  attrs: { output_size: { default: [] as number[], tensor: 'output_size' }, output_padding: [] as number[], padding_algorithm: 'EXPLICIT' },
  minOpset: 1,
  note: 'strides, paddings (2 or 4), padding_algorithm SAME/VALID (SAME, output_size: input size declared), dilations, groups, output_padding, output_size, data_format',
  map(ctx, a) {
    const { spatial, inputs, out, attrs, channelsLast } = convParts(ctx);
    const xs = ctx.shapeOf('Input');
    const inSize = xs ? (channelsLast ? xs.slice(1, 1 + spatial) : xs.slice(2)) : undefined;
    const known = inSize !== undefined && inSize.length === spatial && inSize.every((d) => d > 0);
    const k = attrs.kernel_shape;
    const stride = (i: number): number => attrs.strides?.[i] ?? 1;
    let pads = attrs.pads;
    let dilations = attrs.dilations;
    if (a.padding_algorithm === 'SAME') {
      if (!known) throw ctx.unsupported('padding_algorithm SAME pads by the input size, which is not declared (fix it with --input_shape_dict)');
      const begin: number[] = []; const end: number[] = [];
      for (let i = 0; i < spatial; i++) {
        const o = Math.ceil(inSize[i]! / stride(i));
        const sum = Math.max((o - 1) * stride(i) + k[i]! - inSize[i]!, 0);
        begin.push(Math.floor(sum / 2)); end.push(sum - Math.floor(sum / 2));
      }
      pads = [...begin, ...end];
      dilations = undefined;
    }
    let outputPadding = a.output_padding.length ? a.output_padding : undefined;
    if (a.output_size.length > 0) {
      if (a.output_size.length !== spatial) throw ctx.unsupported(`output_size has ${a.output_size.length} values for ${spatial} spatial dims`);
      if (!known) throw ctx.unsupported('an explicit output_size needs the input size, which is not declared (fix it with --input_shape_dict)');
      outputPadding = a.output_size.map((want, i) => {
        const d = dilations?.[i] ?? 1;
        const inferred = (inSize[i]! - 1) * stride(i) - pads![i]! - pads![i + spatial]! + d * (k[i]! - 1) + 1;
        const extra = want - inferred;
        // Paddle's own bound: inferred <= output_size < inferred + stride
        if (!(extra >= 0 && extra < stride(i))) throw ctx.unsupported(`output_size ${want} (dim ${i}) is outside [${inferred}, ${inferred + stride(i)})`);
        return extra;
      });
    }
    const all = { ...attrs, pads, auto_pad: undefined, dilations, output_padding: outputPadding };
    inChannelsFirst(ctx, inputs[0]!, spatial + 2, channelsLast, out, (x, o) => ctx.g.op('ConvTranspose', [x, ...inputs.slice(1)], all, o));
  },
});
