/**
 * Dense embedding lookup. lookup_table (v1) ids carry a trailing dim of 1 that the output drops;
 * lookup_table_v2 and PIR embedding append the embedding dim to the ids' shape. Rows looked up
 * at padding_idx (when not -1) come out as zeros.
 */
import { defineOp } from '../declare.js';

export const lookupTable = defineOp({
  types: ['lookup_table', 'lookup_table_v2', 'embedding'],
  inputs: { Ids: 0, W: 1 },
  outputs: { Out: 0 },
  attrs: { padding_idx: -1 },
  minOpset: 9,
  note: 'dense ids, padding_idx',
  map(ctx, a) {
    const { g } = ctx;
    let ids = ctx.input('Ids');
    const w = ctx.input('W');
    const out = ctx.output('Out');
    if (!ctx.pir && ctx.op.type === 'lookup_table') ids = g.squeeze(ids, [ctx.rank('Ids') - 1]);
    if (a.padding_idx < 0) { g.op('Gather', [w, ids], { axis: 0 }, out); return; }
    const rows = g.op('Gather', [w, ids], { axis: 0 });
    const keep = g.cast(g.op('Not', [g.op('Equal', [ids, g.scalar(a.padding_idx, ctx.dtypeOf('Ids'))])]), ctx.dtypeOf('W'));
    // Unsqueeze takes negative axes only from opset 11: name the new last axis by the ids' rank
    const idsRank = ctx.rank('Ids') - (!ctx.pir && ctx.op.type === 'lookup_table' ? 1 : 0);
    g.op('Mul', [rows, g.unsqueeze(keep, [idsRank])], {}, out);
  },
});
