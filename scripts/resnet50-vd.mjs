#!/usr/bin/env node
// ResNet50_vd as PaddleClas exports it (ppcls legendary_models ResNet, version "vd", through
// tools/export_model.py: ExportModel adds the softmax), written as a Paddle 2.5 inference program
// (legacy inference.pdmodel + combined inference.pdiparams) with made, deterministic params in the
// real layout. It is the seed's classification model (FORMATS.md §8 A, service imagenet); no
// ResNet50_vd program is among the shared fixtures and the project commits only fixtures its own
// scripts generate, so the bench and the tests build it here, with pserve's own encoders (dist/:
// run `npm run build` first).
//
//   x [-1,3,224,224]
//   stem: 3x3 conv+BN+ReLU 32 (stride 2), 32, 64; max pool 3x3 stride 2 pad 1
//   4 stages of bottleneck blocks [3,4,6,3], widths 64/128/256/512, out x4; the 3x3 conv strides;
//   shortcut of a stage's first block: stage 1 a 1x1 conv+BN (stride 1), stages 2-4 (the "vd"
//   tweak) avg pool 2x2 stride 2 (padding "SAME", ceil_mode) then a 1x1 conv+BN
//   add, ReLU; adaptive avg pool 1, flatten, linear 2048->1000 (matmul_v2 + elementwise_add), softmax
//
// Names follow Paddle 2.5's dygraph-to-static export: parameters carry the layer's name in
// construction order (conv2d_0.w_0 ... conv2d_52.w_0; batch_norm_k.w_0 scale, .b_0 bias, .w_1
// mean, .w_2 variance; linear_0.w_0/.b_0); a functional op's output takes the next number of its
// op's name after the layers' (conv2d_53.tmp_0 ..., pool2d_k.tmp_0, relu_k.tmp_0, flatten_1.tmp_0,
// linear_1.tmp_0/.tmp_1, softmax_1.tmp_0); batch norm writes its layer's own temporaries
// (batch_norm_k.tmp_0..3, Y = tmp_3); paddle.add writes elementwise_add_k.
//
// Params: weights uniform with He variance (2/fan_in), batch-norm variances 1 +- 0.2, means and
// biases +-0.05, scales 1 +- 0.1 except the last BN of each residual branch (0.25 +- 0.025, as a
// trained ResNet's are small there) so the residual stream stays in range through 16 blocks
// (pooled features of a few units on a natural image); the classifier's He-uniform weights then
// give logits with a spread of several units: a peaked softmax, neither flat nor one-hot.
//
// Options: widthDiv divides every channel count (stem, stages, fc input) for a small model with
// the same layer plan; depths changes the blocks per stage; classes the fc width; params: false
// writes the program only.
//
// CLI: node scripts/resnet50-vd.mjs <out_dir> [--width-div N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ProgramBuilder, seededFloats } from '../dist/formats/program-builder.js';

export const RESNET50_VD = Object.freeze({ stem: [32, 32, 64], depths: [3, 4, 6, 3], widths: [64, 128, 256, 512], expansion: 4, classes: 1000, size: 224 });
export const FEED = 'x';
export const FETCH = 'softmax_1.tmp_0';

function fnv(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return h >>> 0;
}

const conv2dOut = (h, k, s, p) => Math.floor((h + 2 * p - k) / s) + 1;

/**
 * Builds the program (and params unless params: false) in a ProgramBuilder.
 * Returns { builder, feed, fetch, layers }: layers has the program's count of each op type but feed/fetch
 * (elementwise_add includes the fc bias), residualAdds, convLayers, paramCount (numbers in the
 * .pdiparams), features (the fc's input width) and classes.
 */
export function buildResNet50vd(opts = {}) {
  const div = opts.widthDiv ?? 1;
  const depths = opts.depths ?? RESNET50_VD.depths;
  const classes = opts.classes ?? RESNET50_VD.classes;
  const size = opts.size ?? RESNET50_VD.size;
  const withParams = opts.params !== false;
  const ch = (c) => {
    if (c % div !== 0) throw new Error(`widthDiv ${div} does not divide ${c}`);
    return c / div;
  };
  const b = new ProgramBuilder(2005002);
  let paramCount = 0;
  const param = (name, shape, values) => {
    paramCount += shape.reduce((a, d) => a * d, 1);
    if (withParams) b.param(name, shape, values());
    else b.variable(name, 'float32', shape, { persistable: true });
  };
  const uniform = (name, n, scale, offset = 0) => () => {
    const u = seededFloats(n, fnv(name));
    if (scale !== 1 || offset !== 0) for (let i = 0; i < n; i++) u[i] = offset + scale * u[i];
    return u;
  };

  // numbering: layers in construction order, functional ops after them (see the header)
  const convLayers = RESNET50_VD.stem.length + 3 * depths.reduce((a, d) => a + d, 0) + depths.length;
  let convLayer = 0;
  let convOp = convLayers;
  let bnLayer = 0;
  let relu = 0;
  let pool = 0;
  let add = 0;
  const counts = { conv2d: 0, batch_norm: 0, relu: 0, pool2d: 0, elementwise_add: 0 };
  const t4 = (name, c, h) => { b.variable(name, 'float32', [-1, c, h, h]); return name; };

  /** conv (no bias) + batch norm [+ relu]; returns [out var, out channels, out size] */
  function convBN(x, cin, h, cout, k, stride, { act = true, lastOfBranch = false } = {}) {
    const w = `conv2d_${convLayer++}.w_0`;
    const fanIn = cin * k * k;
    param(w, [cout, cin, k, k], uniform(w, cout * fanIn, Math.sqrt(6 / fanIn)));
    const p = (k - 1) >> 1;
    const ho = conv2dOut(h, k, stride, p);
    const c = t4(`conv2d_${convOp++}.tmp_0`, cout, ho);
    b.op('conv2d', { Input: [x], Filter: [w] }, { Output: [c] },
      { data_format: 'NCHW', dilations: [1, 1], groups: 1, padding_algorithm: 'EXPLICIT', paddings: [p, p], strides: [stride, stride] });
    counts.conv2d++;
    const bn = `batch_norm_${bnLayer++}`;
    const [scale, bias, mean, variance] = [`${bn}.w_0`, `${bn}.b_0`, `${bn}.w_1`, `${bn}.w_2`];
    param(bias, [cout], uniform(bias, cout, 0.05));
    param(scale, [cout], lastOfBranch ? uniform(scale, cout, 0.025, 0.25) : uniform(scale, cout, 0.1, 1));
    param(mean, [cout], uniform(mean, cout, 0.05));
    param(variance, [cout], uniform(variance, cout, 0.2, 1));
    b.variable(`${bn}.tmp_0`, 'float32', [cout]);
    b.variable(`${bn}.tmp_1`, 'float32', [cout]);
    b.variable(`${bn}.tmp_2`, 'float32', [-1]);
    const y = t4(`${bn}.tmp_3`, cout, ho);
    b.op('batch_norm',
      { X: [c], Scale: [scale], Bias: [bias], Mean: [mean], Variance: [variance] },
      { Y: [y], MeanOut: [mean], VarianceOut: [variance], SavedMean: [`${bn}.tmp_0`], SavedVariance: [`${bn}.tmp_1`] },
      { data_layout: 'NCHW', epsilon: { f: 1e-5 }, is_test: true, momentum: { f: 0.9 }, trainable_statistics: false, use_global_stats: false });
    counts.batch_norm++;
    if (!act) return [y, cout, ho];
    return [reluOf(y, cout, ho), cout, ho];
  }
  function reluOf(x, c, h) {
    const r = t4(`relu_${relu++}.tmp_0`, c, h);
    b.op('relu', { X: [x] }, { Out: [r] });
    counts.relu++;
    return r;
  }
  function pool2d(x, c, h, attrs, ho) {
    const o = t4(`pool2d_${pool++}.tmp_0`, c, ho);
    b.op('pool2d', { X: [x] }, { Out: [o] }, { adaptive: false, ceil_mode: false, data_format: 'NCHW', exclusive: true, global_pooling: false, padding_algorithm: 'EXPLICIT', paddings: [0, 0], ...attrs });
    counts.pool2d++;
    return o;
  }

  b.feed(FEED, 'float32', [-1, 3, size, size]);
  let [x, c, h] = [FEED, 3, size];
  for (const [i, out] of RESNET50_VD.stem.entries()) [x, c, h] = convBN(x, c, h, ch(out), 3, i === 0 ? 2 : 1);
  const hp = conv2dOut(h, 3, 2, 1);
  x = pool2d(x, c, h, { pooling_type: 'max', ksize: [3, 3], strides: [2, 2], paddings: [1, 1] }, hp);
  h = hp;
  for (const [s, depth] of depths.entries()) {
    const width = ch(RESNET50_VD.widths[s]);
    for (let i = 0; i < depth; i++) {
      const stride = i === 0 && s !== 0 ? 2 : 1;
      const [y0, c0, h0] = convBN(x, c, h, width, 1, 1);
      const [y1, c1, h1] = convBN(y0, c0, h0, width, 3, stride);
      const [y2, c2, h2] = convBN(y1, c1, h1, width * RESNET50_VD.expansion, 1, 1, { act: false, lastOfBranch: true });
      let short = x;
      if (i === 0) {
        let [sx, sh] = [x, h];
        if (stride !== 1) {
          // "vd": AvgPool2D(2, stride, padding "SAME", ceil_mode) then the 1x1 conv at stride 1
          sh = Math.ceil(h / stride);
          sx = pool2d(x, c, h, { pooling_type: 'avg', ksize: [2, 2], strides: [stride, stride], padding_algorithm: 'SAME', ceil_mode: true }, sh);
        }
        [short] = convBN(sx, c, sh, c2, 1, 1, { act: false });
      }
      const sum = t4(`elementwise_add_${add++}`, c2, h2);
      b.op('elementwise_add', { X: [y2], Y: [short] }, { Out: [sum] }, { axis: -1 });
      counts.elementwise_add++;
      [x, c, h] = [reluOf(sum, c2, h2), c2, h2];
    }
  }
  x = pool2d(x, c, h, { pooling_type: 'avg', adaptive: true, ksize: [1, 1], strides: [1, 1] }, 1);
  b.variable('flatten_1.tmp_0', 'float32', [-1, c]);
  b.op('flatten_contiguous_range', { X: [x] }, { Out: ['flatten_1.tmp_0'] }, { start_axis: 1, stop_axis: 3 });
  param('linear_0.w_0', [c, classes], uniform('linear_0.w_0', c * classes, Math.sqrt(6 / c)));
  param('linear_0.b_0', [classes], uniform('linear_0.b_0', classes, 0.05));
  b.variable('linear_1.tmp_0', 'float32', [-1, classes]);
  b.op('matmul_v2', { X: ['flatten_1.tmp_0'], Y: ['linear_0.w_0'] }, { Out: ['linear_1.tmp_0'] }, { trans_x: false, trans_y: false });
  b.variable('linear_1.tmp_1', 'float32', [-1, classes]);
  b.op('elementwise_add', { X: ['linear_1.tmp_0'], Y: ['linear_0.b_0'] }, { Out: ['linear_1.tmp_1'] }, { axis: -1 });
  counts.elementwise_add++;
  b.variable(FETCH, 'float32', [-1, classes]);
  b.op('softmax', { X: ['linear_1.tmp_1'] }, { Out: [FETCH] }, { axis: -1 });
  b.fetch(FETCH);
  return { builder: b, feed: FEED, fetch: FETCH, layers: { ...counts, residualAdds: add, convLayers, paramCount, features: c, classes } };
}

/** Writes inference.pdmodel (+ inference.pdiparams unless params: false) to `dir`; returns the layer counts. */
export function writeResNet50vd(dir, opts = {}) {
  const { builder, feed, fetch, layers } = buildResNet50vd(opts);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'inference.pdmodel'), builder.programBytes());
  if (opts.params !== false) writeFileSync(join(dir, 'inference.pdiparams'), builder.paramsBytes());
  return { dir: resolve(dir), feed, fetch, layers };
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--width-div');
  const widthDiv = at >= 0 ? Number(args.splice(at, 2)[1]) : 1;
  if (args.length !== 1 || !(Number.isInteger(widthDiv) && widthDiv >= 1)) {
    process.stderr.write('usage: node scripts/resnet50-vd.mjs <out_dir> [--width-div N]\n');
    process.exit(2);
  }
  const r = writeResNet50vd(args[0], { widthDiv });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
