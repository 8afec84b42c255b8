/**
 * Adaptive pooling (pool2d / pool3d with adaptive=true) when the windows are not one fixed
 * kernel: the input size does not divide by the output size, or is not known until run time.
 * Paddle's window for output index i along a dim of size D with O outputs is
 * [floor(i*D/O), ceil((i+1)*D/O)). The windows are a product of per-dim intervals, and both max
 * and mean over such a box can be taken one dim at a time, so each spatial dim becomes O slices
 * reduced along that dim and concatenated: sum(O) slices, not prod(O). With a dynamic size the
 * bounds are computed from Shape at run time.
 */
import type { GraphBuilder } from '../graph-builder.js';

/** the most outputs along one dim this expands to (each is a Slice + Reduce) */
export const MAX_ADAPTIVE_OUT = 64;

/**
 * Pool `x` (channels first: spatial dims start at axis 2) adaptively to `outSize`; `inSize` holds
 * the declared spatial sizes (-1 when unknown). Returns the pooled tensor, written to `out` when given.
 */
export function adaptivePool(g: GraphBuilder, x: string, type: 'max' | 'avg', outSize: number[], inSize: number[], out?: string): string {
  let t = x;
  const reduce = type === 'max' ? 'ReduceMax' : 'ReduceMean';
  outSize.forEach((O, k) => {
    const axis = k + 2;
    const D = inSize[k] ?? -1;
    if (D > 0 && D % O === 0 && D / O === 1) return; // identity along this dim
    let dimT: string | undefined;
    const bounds = (i: number): [string, string] => {
      if (D > 0) return [g.constant([Math.floor((i * D) / O)]), g.constant([Math.ceil(((i + 1) * D) / O)])];
      dimT ??= g.shapeSlice(x, axis, axis + 1);
      const start = g.op('Div', [g.op('Mul', [dimT, g.constant([i])]), g.constant([O])]);
      const end = g.op('Div', [g.op('Add', [g.op('Mul', [dimT, g.constant([i + 1])]), g.constant([O - 1])]), g.constant([O])]);
      return [start, end];
    };
    const parts: string[] = [];
    for (let i = 0; i < O; i++) {
      let win: string;
      if (g.opset < 10) {
        // Slice-1 takes its bounds as attributes: sizes known at conversion time only
        if (!(D > 0)) throw new Error('adaptive pooling over a run-time size needs opset 10 (Slice with tensor bounds)');
        win = g.op('Slice', [t], { starts: [Math.floor((i * D) / O)], ends: [Math.ceil(((i + 1) * D) / O)], axes: [axis] });
      } else {
        const [s, e] = bounds(i);
        win = g.op('Slice', [t, s, e, g.constant([axis])]);
      }
      parts.push(g.op(reduce, [win], { axes: [axis], keepdims: 1 }));
    }
    t = parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis });
  });
  return out === undefined ? t : g.op('Identity', [t], {}, out);
}
