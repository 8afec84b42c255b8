/**
 * prior_box, density_prior_box and anchor_generator with Paddle's semantics (its CPU kernels). Their
 * outputs depend only on the feature map's and the image's sizes, never on values, so they are
 * computed here, in Paddle's float32 steps, and written as constants: the feature map and image sizes
 * must be declared (a fixed input size, or pinned with --input_shape_dict).
 *
 * prior_box: aspect ratios expanded as Paddle does (1 first, then each new ratio, and 1/ratio with
 * flip; ratios within 1e-6 of one already present are skipped); per cell (h, w), per min size: either
 * [min, sqrt(min*max), other ratios] (min_max_aspect_ratios_order) or [every ratio, sqrt(min*max)];
 * centers (w + offset) * step, step = image / feature unless step_w/step_h are given; boxes divided
 * by the image size, clipped to [0, 1] with clip. Boxes and Variances are [H, W, num_priors, 4].
 */
import { defineOp } from '../declare.js';
import type { MapContext } from '../mapper.js';

const fr = Math.fround;

function sizes(ctx: MapContext, what: string): { fh: number; fw: number; ih: number; iw: number } {
  const f = ctx.shapeOf('Input');
  const im = ctx.shapeOf('Image');
  const ok = (s: number[] | undefined) => s !== undefined && s.length === 4 && s[2]! > 0 && s[3]! > 0;
  if (!ok(f)) throw ctx.unsupported(`${what} needs the feature map's height and width at conversion time, and Input is declared [${(f ?? []).join(', ')}] (pin the input size, e.g. --input_shape_dict)`);
  if (im !== undefined && !ok(im)) throw ctx.unsupported(`${what} needs the image's height and width at conversion time, and Image is declared [${im.join(', ')}] (pin the input size, e.g. --input_shape_dict)`);
  return { fh: f![2]!, fw: f![3]!, ih: im ? im[2]! : 0, iw: im ? im[3]! : 0 };
}

/** Write boxes and variances as float32 constants to the op's outputs. */
function emit(ctx: MapContext, boxes: number[], count: number, dims: number[], variances: number[], boxesSlot: string, varsSlot: string): void {
  const { g } = ctx;
  g.op('Identity', [g.constant(boxes, 'float32', dims)], {}, ctx.output(boxesSlot));
  if (ctx.hasOutput(varsSlot)) {
    const v: number[] = new Array(count * variances.length);
    for (let i = 0; i < count; i++) for (let j = 0; j < variances.length; j++) v[i * variances.length + j] = variances[j]!;
    g.op('Identity', [g.constant(v, 'float32', [...dims.slice(0, -1), variances.length])], {}, ctx.output(varsSlot));
  }
}

/** Paddle's ExpandAspectRatios */
export function expandAspectRatios(ratios: number[], flip: boolean): number[] {
  const out = [1];
  for (const ar of ratios) {
    if (out.some((o) => Math.abs(ar - o) < 1e-6)) continue;
    out.push(ar);
    if (flip) out.push(fr(1 / ar));
  }
  return out;
}

export const priorBox = defineOp({
  types: ['prior_box'],
  inputs: { Input: 0, Image: 1 },
  outputs: { Boxes: 0, Variances: 1 },
  attrs: {
    min_sizes: [] as number[], max_sizes: [] as number[], aspect_ratios: [] as number[], variances: [0.1, 0.1, 0.2, 0.2], flip: false, clip: false,
    step_w: 0, step_h: 0, offset: 0.5, min_max_aspect_ratios_order: false,
  },
  minOpset: 1,
  note: 'constants from declared sizes; every attribute',
  map(ctx, a) {
    const { fh, fw, ih, iw } = sizes(ctx, 'prior_box');
    if (a.max_sizes.length > 0 && a.max_sizes.length !== a.min_sizes.length) throw ctx.unsupported('max_sizes must match min_sizes in length');
    const ars = expandAspectRatios(a.aspect_ratios, a.flip);
    const stepW = a.step_w === 0 || a.step_h === 0 ? fr(iw / fw) : fr(a.step_w);
    const stepH = a.step_w === 0 || a.step_h === 0 ? fr(ih / fh) : fr(a.step_h);
    const off = fr(a.offset);
    const out: number[] = [];
    let perCell = 0;
    for (let h = 0; h < fh; h++) for (let w = 0; w < fw; w++) {
      const cx = fr(fr(w + off) * stepW);
      const cy = fr(fr(h + off) * stepH);
      const push = (bw: number, bh: number) => {
        out.push(fr(fr(cx - bw) / iw), fr(fr(cy - bh) / ih), fr(fr(cx + bw) / iw), fr(fr(cy + bh) / ih));
      };
      const start = out.length;
      a.min_sizes.forEach((minRaw, s) => {
        const min = fr(minRaw);
        const square = () => { if (a.max_sizes.length) { const b = fr(Math.sqrt(fr(min * fr(a.max_sizes[s]!))) / 2); push(b, b); } };
        if (a.min_max_aspect_ratios_order) {
          push(fr(min / 2), fr(min / 2));
          square();
          for (const ar of ars) {
            if (Math.abs(ar - 1) < 1e-6) continue;
            push(fr(fr(min * fr(Math.sqrt(ar))) / 2), fr(fr(min / fr(Math.sqrt(ar))) / 2));
          }
        } else {
          for (const ar of ars) push(fr(fr(min * fr(Math.sqrt(ar))) / 2), fr(fr(min / fr(Math.sqrt(ar))) / 2));
          square();
        }
      });
      perCell = (out.length - start) / 4;
    }
    const boxes = a.clip ? out.map((v) => Math.min(Math.max(v, 0), 1)) : out;
    emit(ctx, boxes, fh * fw * perCell, [fh, fw, perCell, 4], a.variances, 'Boxes', 'Variances');
  },
});

/**
 * density_prior_box: per cell, per fixed size s (density d = densities[s], shift = int(step_avg) / d
 * in integers), per fixed ratio, a d x d grid of boxes around the cell center, each clamped to [0, 1]
 * as Paddle does; flatten_to_2d gives [H*W*num_priors, 4].
 */
export const densityPriorBox = defineOp({
  types: ['density_prior_box'],
  inputs: { Input: 0, Image: 1 },
  outputs: { Boxes: 0, Variances: 1 },
  attrs: {
    variances: [0.1, 0.1, 0.2, 0.2], clip: false, flatten_to_2d: false, fixed_sizes: [] as number[], fixed_ratios: [] as number[], densities: [] as number[],
    step_w: 0, step_h: 0, offset: 0.5,
  },
  minOpset: 1,
  note: 'constants from declared sizes; every attribute',
  map(ctx, a) {
    const { fh, fw, ih, iw } = sizes(ctx, 'density_prior_box');
    if (a.densities.length !== a.fixed_sizes.length) throw ctx.unsupported('densities must match fixed_sizes in length');
    const stepW = a.step_w === 0 || a.step_h === 0 ? fr(iw / fw) : fr(a.step_w);
    const stepH = a.step_w === 0 || a.step_h === 0 ? fr(ih / fh) : fr(a.step_h);
    const off = fr(a.offset);
    const stepAvg = Math.trunc(fr(fr(stepW + stepH) * 0.5));
    const sq = a.fixed_ratios.map((r) => fr(Math.sqrt(r)));
    const out: number[] = [];
    let perCell = 0;
    for (let h = 0; h < fh; h++) for (let w = 0; w < fw; w++) {
      const cx = fr(fr(w + off) * stepW);
      const cy = fr(fr(h + off) * stepH);
      const start = out.length;
      a.fixed_sizes.forEach((sizeRaw, s) => {
        const size = fr(sizeRaw);
        const d = Math.trunc(a.densities[s]!);
        const shift = Math.trunc(stepAvg / d);
        sq.forEach((r) => {
          const bw = fr(size * r);
          const bh = fr(size / r);
          const dcx = fr(cx - stepAvg / 2 + shift / 2);
          const dcy = fr(cy - stepAvg / 2 + shift / 2);
          for (let di = 0; di < d; di++) for (let dj = 0; dj < d; dj++) {
            const x = fr(dcx + dj * shift);
            const y = fr(dcy + di * shift);
            out.push(fr(Math.max((x - bw / 2) / iw, 0)), fr(Math.max((y - bh / 2) / ih, 0)), fr(Math.min((x + bw / 2) / iw, 1)), fr(Math.min((y + bh / 2) / ih, 1)));
          }
        });
      });
      perCell = (out.length - start) / 4;
    }
    const boxes = a.clip ? out.map((v) => Math.min(Math.max(v, 0), 1)) : out;
    const dims = a.flatten_to_2d ? [fh * fw * perCell, 4] : [fh, fw, perCell, 4];
    emit(ctx, boxes, fh * fw * perCell, dims, a.variances, 'Boxes', 'Variances');
  },
});

/**
 * anchor_generator (Faster R-CNN anchors): per cell, per aspect ratio, per anchor size, a box centred
 * at (w * stride_w + offset * (stride_w - 1), ...) of base size round(sqrt(area / ar)) x
 * round(base_w * ar) scaled by anchor_size / stride, in pixels with Paddle's "- 1" convention.
 * Anchors and Variances are [H, W, num_anchors, 4].
 */
export const anchorGenerator = defineOp({
  types: ['anchor_generator'],
  inputs: { Input: 0 },
  outputs: { Anchors: 0, Variances: 1 },
  attrs: { anchor_sizes: [64, 128, 256, 512], aspect_ratios: [0.5, 1, 2], stride: [16, 16], variances: [0.1, 0.1, 0.2, 0.2], offset: 0.5 },
  minOpset: 1,
  note: 'constants from declared sizes; every attribute',
  map(ctx, a) {
    const f = ctx.shapeOf('Input');
    if (!f || f.length !== 4 || !(f[2]! > 0) || !(f[3]! > 0)) {
      throw ctx.unsupported(`anchor_generator needs the feature map's height and width at conversion time, and Input is declared [${(f ?? []).join(', ')}] (pin the input size, e.g. --input_shape_dict)`);
    }
    const [fh, fw] = [f[2]!, f[3]!];
    const sw = fr(a.stride[0]!); const sh = fr(a.stride[1]!);
    const off = fr(a.offset);
    const out: number[] = [];
    for (let h = 0; h < fh; h++) for (let w = 0; w < fw; w++) {
      const xc = fr(fr(w * sw) + fr(off * fr(sw - 1)));
      const yc = fr(fr(h * sh) + fr(off * fr(sh - 1)));
      for (const arRaw of a.aspect_ratios) {
        const ar = fr(arRaw);
        for (const sizeRaw of a.anchor_sizes) {
          const size = fr(sizeRaw);
          const area = fr(sw * sh);
          const baseW = fr(Math.round(fr(Math.sqrt(fr(area / ar)))));
          const baseH = fr(Math.round(fr(baseW * ar)));
          const aw = fr(fr(size / sw) * baseW);
          const ah = fr(fr(size / sh) * baseH);
          out.push(fr(xc - 0.5 * (aw - 1)), fr(yc - 0.5 * (ah - 1)), fr(xc + 0.5 * (aw - 1)), fr(yc + 0.5 * (ah - 1)));
        }
      }
    }
    const n = a.aspect_ratios.length * a.anchor_sizes.length;
    emit(ctx, out, fh * fw * n, [fh, fw, n, 4], a.variances, 'Anchors', 'Variances');
  },
});
