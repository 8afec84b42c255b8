/**
 * hard_swish: x * min(max(x + offset, 0), threshold) / scale (PIR `hardswish` fixes 3, 6, 6);
 * hard_sigmoid: max(0, min(1, slope*x + offset)); swish: x * sigmoid(beta*x).
 */
import { f } from '../graph-builder.js';
import { num, type MapContext, type OpMapper } from '../mapper.js';

function io(ctx: MapContext): [string, string] {
  return [ctx.input(ctx.pir ? '0' : 'X'), ctx.output(ctx.pir ? '0' : 'Out')];
}

export const hardSwish: OpMapper = {
  types: ['hard_swish', 'hardswish'],
  note: 'offset / threshold / scale',
  map(ctx) {
    const { g } = ctx;
    const [x, out] = io(ctx);
    const offset = ctx.pir ? 3 : num(ctx.op.attrs['offset'], 3);
    const threshold = ctx.pir ? 6 : num(ctx.op.attrs['threshold'], 6);
    const scale = ctx.pir ? 6 : num(ctx.op.attrs['scale'], 6);
    const dt = ctx.dtypeOf(ctx.pir ? '0' : 'X');
    const t = g.op('Add', [x, g.scalar(offset, dt)]);
    const c = g.op('Clip', [t, g.scalar(0, dt), g.scalar(threshold, dt)]);
    const m = g.op('Mul', [x, c]);
    g.op('Div', [m, g.scalar(scale, dt)], {}, out);
  },
};

export const hardSigmoid: OpMapper = {
  types: ['hard_sigmoid', 'hardsigmoid'],
  note: 'slope / offset',
  map(ctx) {
    const [x, out] = io(ctx);
    ctx.g.op('HardSigmoid', [x], { alpha: f(num(ctx.op.attrs['slope'], 0.2)), beta: f(num(ctx.op.attrs['offset'], 0.5)) }, out);
  },
};

export const swish: OpMapper = {
  types: ['swish', 'silu'],
  note: 'beta',
  map(ctx) {
    const { g } = ctx;
    const [x, out] = io(ctx);
    const beta = ctx.op.type === 'silu' ? 1 : num(ctx.op.attrs['beta'], 1);
    const bx = beta === 1 ? x : g.op('Mul', [x, g.scalar(beta, ctx.dtypeOf(ctx.pir ? '0' : 'X'))]);
    g.op('Mul', [x, g.op('Sigmoid', [bx])], {}, out);
  },
};
