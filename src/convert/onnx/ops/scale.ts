/** scale: scale*x + bias (bias_after_scale) or scale*(x + bias); a ScaleTensor input replaces the attribute. */
import { num, type OpMapper } from '../mapper.js';

export const scale: OpMapper = {
  types: ['scale', 'scale_'],
  note: 'bias_after_scale, ScaleTensor',
  map(ctx) {
    const { g, op } = ctx;
    const s = ctx.pir ? '0' : 'X';
    const x = ctx.input(s);
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    const dt = ctx.dtypeOf(s);
    const tensorSlot = ctx.pir ? '1' : 'ScaleTensor';
    const scaleT = ctx.has(tensorSlot) ? ctx.input(tensorSlot) : undefined;
    const sc = num(op.attrs['scale'], 1);
    const bias = num(op.attrs['bias'], 0);
    const after = op.attrs['bias_after_scale'] !== false;
    if (!scaleT && sc === 1 && bias === 0) { g.op('Identity', [x], {}, out); return; }
    const scaleIn = scaleT ?? g.scalar(sc, dt);
    if (bias === 0) { g.op('Mul', [x, scaleIn], {}, out); return; }
    if (after) g.op('Add', [g.op('Mul', [x, scaleIn]), g.scalar(bias, dt)], {}, out);
    else g.op('Mul', [g.op('Add', [x, g.scalar(bias, dt)]), scaleIn], {}, out);
  },
};
