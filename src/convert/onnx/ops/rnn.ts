/**
 * rnn (the op paddle.nn.LSTM / GRU / SimpleRNN export): time-major Input [T, N, I], PreState
 * ([h0, c0] for LSTM, [h0] otherwise; each [num_layers*D, N, H]), WeightList and an optional
 * SequenceLength [N] -> one ONNX LSTM / GRU / RNN node per layer.
 *
 * WeightList holds every weight first, then every bias: cell k = layer*D + direction has
 * weight_ih at 2k and weight_hh at 2k+1, bias_ih at 2*L*D + 2k and bias_hh after it. Paddle's
 * gate blocks are LSTM [i, f, g, o] and GRU [r, z, c]; ONNX wants [i, o, f, c] and [z, r, h], so
 * the row blocks are reordered in the graph (the runtime folds it). Paddle's GRU applies the
 * reset gate after the recurrent matmul (r * (W_hc h + b_hc)): linear_before_reset = 1.
 * A layer's output [T, D, N, H] becomes [T, N, D*H], the next layer's input and, after the last
 * layer, Out; State stacks every layer's final states as [L*D, N, H].
 */
import type { GraphBuilder } from '../graph-builder.js';
import { defineOp } from '../declare.js';

const MODES: Record<string, { onnx: string; gates: number; order: number[]; activations?: string[] }> = {
  LSTM: { onnx: 'LSTM', gates: 4, order: [0, 3, 1, 2] },
  GRU: { onnx: 'GRU', gates: 3, order: [1, 0, 2] },
  RNN_TANH: { onnx: 'RNN', gates: 1, order: [0], activations: ['Tanh'] },
  RNN_RELU: { onnx: 'RNN', gates: 1, order: [0], activations: ['Relu'] },
};

/** rows of w ([gates*H, ...]) regrouped in `order`, with a leading direction axis of 1 */
function reorder(g: GraphBuilder, w: string, H: number, order: number[]): string {
  const blocks = order.map((b) => g.op('Slice', [w, g.constant([b * H]), g.constant([(b + 1) * H]), g.constant([0])]));
  const cat = blocks.length === 1 ? blocks[0]! : g.op('Concat', blocks, { axis: 0 });
  return g.unsqueeze(cat, [0]);
}

export const rnn = defineOp({
  types: ['rnn'],
  inputs: {
    Input: 0,
    PreState: { pir: 1, list: true },
    WeightList: { pir: 2, list: true },
    SequenceLength: { pir: 3, optional: true },
  },
  outputs: { Out: 0, State: { pir: null, optional: true } },
  attrs: { mode: 'LSTM', is_bidirec: false, num_layers: 1, hidden_size: 0, input_size: 0, proj_size: 0, dropout_prob: 0 },
  minOpset: 10,
  note: 'LSTM, GRU, RNN_TANH/RELU; bidirectional, multi-layer, PreState, SequenceLength',
  map(ctx, a) {
    const { g } = ctx;
    const m = MODES[a.mode];
    if (!m) throw ctx.unsupported(`mode ${a.mode}`);
    if (a.proj_size > 0) throw ctx.unsupported(`proj_size ${a.proj_size} (an LSTM with projection has no ONNX equivalent)`);
    const L = a.num_layers;
    const D = a.is_bidirec ? 2 : 1;
    const H = a.hidden_size;
    if (!(L >= 1 && H >= 1)) throw ctx.unsupported(`num_layers ${L}, hidden_size ${H}`);
    const weights = ctx.list('WeightList');
    if (weights.tensors.length !== 4 * L * D) {
      throw ctx.unsupported(`WeightList has ${weights.tensors.length} tensors; ${L} layer(s) x ${D} direction(s) need ${4 * L * D}`);
    }
    for (let k = 0; k < 2 * L * D; k++) {
      const s = weights.shapes[k];
      if (s && s[0] !== undefined && s[0] >= 0 && s[0] !== m.gates * H) {
        throw ctx.unsupported(`weight ${k} has ${s[0]} rows; ${a.mode} with hidden_size ${H} needs ${m.gates * H}`);
      }
    }
    const states = ctx.list('PreState');
    const nStates = a.mode === 'LSTM' ? 2 : 1;
    if (states.tensors.length !== nStates) throw ctx.unsupported(`PreState has ${states.tensors.length} tensors, ${a.mode} needs ${nStates}`);
    const seqLens = ctx.has('SequenceLength') ? g.cast(ctx.input('SequenceLength'), 'int32') : '';
    const W = (k: number) => weights.tensors[k]!;
    const bias = 2 * L * D;

    let x = ctx.input('Input');
    const finalH: string[] = [];
    const finalC: string[] = [];
    for (let l = 0; l < L; l++) {
      const ws: string[] = [];
      const rs: string[] = [];
      const bs: string[] = [];
      for (let d = 0; d < D; d++) {
        const k = l * D + d;
        ws.push(reorder(g, W(2 * k), H, m.order));
        rs.push(reorder(g, W(2 * k + 1), H, m.order));
        const bIh = reorder(g, W(bias + 2 * k), H, m.order);
        const bHh = reorder(g, W(bias + 2 * k + 1), H, m.order);
        bs.push(g.op('Concat', [bIh, bHh], { axis: 1 }));
      }
      const cat = (t: string[]) => (t.length === 1 ? t[0]! : g.op('Concat', t, { axis: 0 }));
      const layerState = (t: string) => g.op('Slice', [t, g.constant([l * D]), g.constant([(l + 1) * D]), g.constant([0])]);
      const inputs = [x, cat(ws), cat(rs), cat(bs), seqLens, layerState(states.tensors[0]!)];
      if (a.mode === 'LSTM') inputs.push(layerState(states.tensors[1]!));
      const outs = g.node(m.onnx, inputs, a.mode === 'LSTM' ? 3 : 2, {
        hidden_size: H,
        direction: D === 2 ? 'bidirectional' : 'forward',
        activations: m.activations,
        linear_before_reset: a.mode === 'GRU' ? 1 : undefined,
      });
      finalH.push(outs[1]!);
      if (a.mode === 'LSTM') finalC.push(outs[2]!);
      // [T, D, N, H] -> [T, N, D*H]
      const y = g.op('Transpose', [outs[0]!], { perm: [0, 2, 1, 3] });
      x = g.op('Reshape', [y, g.constant([0, 0, -1])], {}, l === L - 1 ? ctx.output('Out') : undefined);
    }
    if (ctx.hasOutput('State')) {
      const stack = (t: string[], i: number) => g.op(t.length === 1 ? 'Identity' : 'Concat', t, t.length === 1 ? {} : { axis: 0 }, ctx.output('State', i));
      stack(finalH, 0);
      if (a.mode === 'LSTM' && (ctx.op.outputs['State']?.length ?? 0) > 1) stack(finalC, 1);
    }
  },
});
