/**
 * Dense embedding lookup. lookup_table (v1) ids carry a trailing dim of 1 that the output drops;
 * lookup_table_v2 and PIR embedding append the embedding dim to the ids' shape. Rows looked up
 * at padding_idx (when not -1) come out as zeros.
 */
import { num, type OpMapper } from '../mapper.js';

export const lookupTable: OpMapper = {
  types: ['lookup_table', 'lookup_table_v2', 'embedding'],
  note: 'dense ids, padding_idx',
  map(ctx) {
    const { g, op } = ctx;
    const idsSlot = ctx.pir ? '0' : 'Ids';
    let ids = ctx.input(idsSlot);
    const w = ctx.input(ctx.pir ? '1' : 'W');
    const out = ctx.output(ctx.pir ? '0' : 'Out');
    if (op.type === 'lookup_table') {
      const r = ctx.rank(idsSlot);
      ids = g.squeeze(ids, [r - 1]);
    }
    const pad = num(op.attrs['padding_idx'], -1);
    if (pad < 0) { g.op('Gather', [w, ids], { axis: 0 }, out); return; }
    const rows = g.op('Gather', [w, ids], { axis: 0 });
    const keep = g.cast(g.op('Not', [g.op('Equal', [ids, g.scalar(pad, ctx.dtypeOf(idsSlot))])]), ctx.dtypeOf(ctx.pir ? '1' : 'W'));
    g.op('Mul', [rows, g.unsqueeze(keep, [-1])], {}, out);
  },
};
