/**
 * nearest/bilinear/bicubic/linear/trilinear interpolation (v2 and PIR spellings) -> ONNX Resize
 * (trilinear: 5-D linear, out_d/out_h/out_w).
 * Output size, in Paddle's priority: SizeTensor, then OutSize, then Scale (tensor, then attribute,
 * when > 0), then out_h/out_w. Coordinates: align_corners -> align_corners; nearest otherwise
 * asymmetric with floor; linear with align_mode 0 -> half_pixel, align_mode 1 -> asymmetric.
 */
import { f } from '../graph-builder.js';
import { defineOp } from '../declare.js';
import { num, type MapContext } from '../mapper.js';
import { channelsLastName, inChannelsFirst } from './layout.js';

const METHOD: Record<string, string> = {
  nearest_interp_v2: 'nearest', bilinear_interp_v2: 'bilinear', bicubic_interp_v2: 'bicubic', linear_interp_v2: 'linear',
  nearest_interp: 'nearest', bilinear_interp: 'bilinear', bicubic_interp: 'bicubic', linear_interp: 'linear',
  trilinear_interp_v2: 'trilinear', trilinear_interp: 'trilinear',
};

function map(ctx: MapContext): void {
  const { g, op } = ctx;
  const xs = 'X';
  const x = ctx.input(xs);
  const out = ctx.output('Out');
  const method = String(op.attrs['interp_method'] ?? METHOD[op.type]);
  const alignCorners = op.attrs['align_corners'] === true;
  const alignMode = num(op.attrs['align_mode'], 1);
  const shape = ctx.shapeOf(xs);
  const rank = shape?.length ?? 4;
  const spatial = rank - 2;
  const cl = channelsLastName(String(op.attrs['data_layout'] ?? op.attrs['data_format'] ?? 'NCHW'));

  const mode = method === 'nearest' ? 'nearest' : method === 'bicubic' ? 'cubic' : 'linear';
  const ctm = alignCorners ? 'align_corners' : mode === 'nearest' ? 'asymmetric' : alignMode === 0 ? 'half_pixel' : 'asymmetric';
  const attrs = {
    mode,
    coordinate_transformation_mode: ctm,
    nearest_mode: mode === 'nearest' ? (alignCorners ? 'round_prefer_ceil' : 'floor') : undefined,
    cubic_coeff_a: mode === 'cubic' ? f(-0.75) : undefined,
  };
  const empty = () => g.constant([], 'float32', [0]);
  const roi = () => (ctx.opset >= 13 ? '' : empty());

  const body = (t: string, o?: string): string => {
    const batchChannels = () => g.shapeSlice(t, 0, 2);
    const withSizes = (hw: string) => g.op('Resize', [t, roi(), ctx.opset >= 13 ? '' : empty(), g.op('Concat', [batchChannels(), hw], { axis: 0 })], attrs, o);
    const sizeSlot = 'SizeTensor';
    const outSizeSlot = 'OutSize';
    const scaleSlot = 'Scale';
    if (ctx.has(sizeSlot)) {
      const parts = ctx.list(sizeSlot).tensors.map((p) => g.op('Reshape', [g.cast(p, 'int64'), g.constant([1])]));
      return withSizes(g.op('Concat', parts, { axis: 0 }));
    }
    if (ctx.has(outSizeSlot)) return withSizes(g.cast(ctx.input(outSizeSlot), 'int64'));
    let scales: number[] = [];
    if (ctx.has(scaleSlot)) {
      const c = ctx.constOf(scaleSlot);
      if (!c) {
        const sc = g.cast(ctx.input(scaleSlot), 'float32');
        const full = spatial > 1 ? g.op('Expand', [sc, g.constant([spatial])]) : sc;
        const all = g.op('Concat', [g.constant([1, 1], 'float32'), g.op('Slice', [full, g.constant([0]), g.constant([spatial])])], { axis: 0 });
        return g.op('Resize', [t, roi(), all], attrs, o);
      }
      scales = c.values;
    } else {
      const a = op.attrs['scale'];
      scales = Array.isArray(a) ? a.map(Number) : typeof a === 'number' ? [a] : [];
    }
    if (scales.length > 0 && scales.every((v) => v > 0)) {
      const sc = scales.length === 1 ? new Array(spatial).fill(scales[0]) : scales.slice(0, spatial);
      return g.op('Resize', [t, roi(), g.constant([1, 1, ...sc], 'float32')], attrs, o);
    }
    const names = spatial === 1 ? ['out_w'] : spatial === 2 ? ['out_h', 'out_w'] : ['out_d', 'out_h', 'out_w'];
    const hw = names.map((n) => num(op.attrs[n], -1));
    if (hw.some((v) => v <= 0)) throw ctx.unsupported('no output size: neither SizeTensor, OutSize, scale nor out_h/out_w is set');
    return withSizes(g.constant(hw));
  };
  inChannelsFirst(ctx, x, rank, cl, out, body);
}

export const interpolate = defineOp({
  types: Object.keys(METHOD),
  // SizeTensor is a list: one tensor per dim in legacy programs, a builtin.combine in PIR
  inputs: { X: 0, OutSize: { pir: 1, optional: true }, SizeTensor: { pir: 2, optional: true, list: true }, Scale: { pir: 3, optional: true } },
  outputs: { Out: 0 },
  minOpset: 11,
  note: 'align_corners, align_mode, scale vs out_size/SizeTensor, data_layout',
  map,
});
