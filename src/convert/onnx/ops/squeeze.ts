/**
 * squeeze2 / unsqueeze2 (and PIR squeeze / unsqueeze with an axes operand). Paddle's squeeze skips
 * listed axes whose size is not 1, so axes with a known size other than 1 are dropped here.
 */
import { ints, type MapContext, type OpMapper } from '../mapper.js';

function axesOf(ctx: MapContext, attr: string, tensorSlots: string[]): number[] {
  for (const s of tensorSlots) {
    if (!ctx.has(s)) continue;
    const all: number[] = [];
    for (let i = 0; i < (ctx.op.inputs[s] ?? []).length; i++) {
      const c = ctx.constOf(s, i);
      if (!c) throw ctx.unsupported(`${s} is not a constant`);
      all.push(...c.values);
    }
    return all;
  }
  return ints(ctx.op.attrs[attr]);
}

export const squeeze: OpMapper = {
  types: ['squeeze2', 'squeeze', 'squeeze_'],
  note: 'axes (size-1 only, as Paddle)',
  map(ctx) {
    const xs = ctx.pir ? '0' : 'X';
    const shape = ctx.shapeOf(xs);
    let axes = axesOf(ctx, 'axes', ctx.pir ? ['1'] : []);
    // no axes at all means every size-1 dim; listed axes that all turn out not to be size 1 mean none
    const given = axes.length > 0;
    if (shape) {
      const r = shape.length;
      axes = axes.map((a) => (a < 0 ? a + r : a)).filter((a) => shape[a] === 1 || shape[a]! < 0);
    }
    if (given && axes.length === 0) {
      ctx.g.op('Identity', [ctx.input(xs)], {}, ctx.output(ctx.pir ? '0' : 'Out'));
      return;
    }
    ctx.g.squeeze(ctx.input(xs), axes, ctx.output(ctx.pir ? '0' : 'Out'));
  },
};

export const unsqueeze: OpMapper = {
  types: ['unsqueeze2', 'unsqueeze', 'unsqueeze_'],
  note: 'axes, AxesTensor (constant)',
  map(ctx) {
    const xs = ctx.pir ? '0' : 'X';
    const axes = axesOf(ctx, 'axes', ctx.pir ? ['1'] : ['AxesTensor', 'AxesTensorList']);
    ctx.g.unsqueeze(ctx.input(xs), axes, ctx.output(ctx.pir ? '0' : 'Out'));
  },
};
