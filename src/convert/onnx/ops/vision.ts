/**
 * Sampling ops of vision models.
 *
 * grid_sampler (legacy) / grid_sample (PIR): X [N, C, H, W] sampled at Grid [N, Ho, Wo, 2]
 * (x, y in [-1, 1]) -> ONNX GridSample (opset 16; 4-D only there). mode bilinear / nearest,
 * padding_mode zeros / border / reflection and align_corners (Paddle's default: true) carry over
 * as they are. Nearest ties (a coordinate exactly halfway) round to even in onnxruntime where
 * Paddle rounds half away from zero.
 *
 * roi_align: X [N, C, H, W], ROIs [K, 4] (x1, y1, x2, y2 in input pixels before spatial_scale),
 * RoisNum [N] (RoIs per image, in order) -> ONNX RoiAlign (avg). The batch index of RoI k is the
 * number of images whose cumulative count is <= k. Without RoisNum (RoIs with LoD, which ONNX
 * has not) every RoI reads image 0: right at batch 1. sampling_ratio <= 0 is adaptive
 * (ceil(roi size / bins)) in both. aligned=false is ONNX's output_half_pixel (no half-pixel shift,
 * RoI at least 1x1); aligned=true is half_pixel, which needs opset 16.
 */
import { f } from '../graph-builder.js';
import { defineOp } from '../declare.js';
import { reduceSum } from './tensor-util.js';

const PAD_MODES = new Set(['zeros', 'border', 'reflection']);

export const gridSampler = defineOp({
  types: ['grid_sampler', 'grid_sample'],
  inputs: { X: 0, Grid: 1 },
  outputs: { Output: 0 },
  attrs: { mode: 'bilinear', padding_mode: 'zeros', align_corners: true },
  minOpset: 16,
  note: 'ONNX GridSample: bilinear/nearest, zeros/border/reflection, align_corners; 4-D',
  map(ctx, a) {
    if (a.mode !== 'bilinear' && a.mode !== 'nearest') throw ctx.unsupported(`mode ${a.mode}`);
    if (!PAD_MODES.has(a.padding_mode)) throw ctx.unsupported(`padding_mode ${a.padding_mode}`);
    const rank = ctx.shapeOf('X')?.length ?? 4;
    if (rank !== 4) throw ctx.unsupported(`a ${rank}-D input: ONNX GridSample samples 4-D inputs up to opset 19`);
    ctx.g.op('GridSample', [ctx.input('X'), ctx.input('Grid')], {
      mode: a.mode, padding_mode: a.padding_mode, align_corners: a.align_corners ? 1 : 0,
    }, ctx.output('Output'));
  },
});

export const roiAlign = defineOp({
  types: ['roi_align'],
  inputs: { X: 0, ROIs: 1, RoisNum: { pir: 2, optional: true } },
  outputs: { Out: 0 },
  attrs: { pooled_height: 1, pooled_width: 1, spatial_scale: 1, sampling_ratio: -1, aligned: false },
  minOpset: 11,
  needs: (v) => (v.attrs.aligned ? { opset: 16, why: 'aligned=true needs RoiAlign-16 (coordinate_transformation_mode half_pixel)' } : undefined),
  note: 'ONNX RoiAlign (avg); RoisNum -> batch indices; aligned (opset 16)',
  map(ctx, a) {
    const { g } = ctx;
    if (!(a.pooled_height >= 1 && a.pooled_width >= 1)) throw ctx.unsupported(`pooled size ${a.pooled_height}x${a.pooled_width}`);
    const x = ctx.input('X');
    const rois = ctx.dtypeOf('ROIs') === 'float32' ? ctx.input('ROIs') : g.cast(ctx.input('ROIs'), 'float32');
    let batchIdx: string;
    if (ctx.has('RoisNum')) {
      const counts = g.cast(ctx.input('RoisNum'), 'int64');
      const ends = g.unsqueeze(g.op('CumSum', [counts, g.constant([0], 'int64', [])]), [0]); // [1, N]
      const k = g.op('Range', [g.constant([0], 'int64', []), g.squeeze(g.shapeSlice(rois, 0, 1), [0]), g.constant([1], 'int64', [])]);
      const before = g.op('Not', [g.op('Less', [g.unsqueeze(k, [1]), ends])]); // ends[b] <= k
      batchIdx = reduceSum(g, g.cast(before, 'int64'), [1], false);
    } else {
      const first = g.op('Slice', [rois, g.constant([0]), g.constant([1]), g.constant([1])]);
      batchIdx = g.cast(g.op('Mul', [g.squeeze(first, [1]), g.scalar(0)]), 'int64');
    }
    const attrs: Record<string, string | number | { f: number }> = {
      mode: 'avg',
      output_height: a.pooled_height,
      output_width: a.pooled_width,
      sampling_ratio: Math.max(0, a.sampling_ratio),
      spatial_scale: f(a.spatial_scale),
    };
    if (ctx.opset >= 16) attrs['coordinate_transformation_mode'] = a.aligned ? 'half_pixel' : 'output_half_pixel';
    g.op('RoiAlign', [ctx.dtypeOf('X') === 'float32' ? x : g.cast(x, 'float32'), rois, batchIdx], attrs, ctx.output('Out'));
  },
});
