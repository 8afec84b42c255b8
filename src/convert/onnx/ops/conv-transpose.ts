/**
 * conv2d_transpose: Paddle's filter is [Cin, Cout/groups, kh, kw], as ONNX ConvTranspose wants.
 * output_padding maps directly; an explicit output_size is refused (its padding split is not
 * determined by the attributes alone).
 */
import { ints, num, type OpMapper } from '../mapper.js';
import { inChannelsFirst, isChannelsLast, padsOf } from './layout.js';

export const convTranspose: OpMapper = {
  types: ['conv2d_transpose', 'depthwise_conv2d_transpose'],
  note: 'output_padding; output_size refused',
  map(ctx) {
    const { g } = ctx;
    const xs = ctx.pir ? '0' : 'Input';
    const ws = ctx.pir ? '1' : 'Filter';
    const w = ctx.shapeOf(ws);
    if (!w) throw ctx.unsupported('filter shape unknown');
    const spatial = w.length - 2;
    const outSize = ints(ctx.op.attrs['output_size']);
    if (outSize.length > 0 || (ctx.pir && ctx.has('2') && !(ctx.constOf('2')?.values.length === 0))) {
      throw ctx.unsupported('an explicit output_size is not converted');
    }
    const pad = padsOf(ctx, spatial);
    const strides = ints(ctx.op.attrs['strides']);
    const dil = ints(ctx.op.attrs['dilations']);
    const outPad = ints(ctx.op.attrs['output_padding']);
    const inputs = [ctx.input(xs), ctx.input(ws)];
    if (!ctx.pir && ctx.has('Bias')) inputs.push(ctx.input('Bias'));
    const out = ctx.output(ctx.pir ? '0' : 'Output');
    const attrs = {
      kernel_shape: w.slice(2),
      strides: strides.length ? strides : undefined,
      dilations: dil.length ? dil : undefined,
      group: num(ctx.op.attrs['groups'], 1),
      pads: pad.pads,
      auto_pad: pad.autoPad,
      output_padding: outPad.length ? outPad : undefined,
    };
    inChannelsFirst(ctx, inputs[0]!, spatial + 2, isChannelsLast(ctx), out, (x, o) => g.op('ConvTranspose', [x, ...inputs.slice(1)], attrs, o));
  },
};
