#!/usr/bin/env node
// Generates the project's own small fixtures into fixtures/ with pserve's own encoders (run `npm run build`
// first). Deterministic: running it twice gives identical bytes. `node scripts/gen-fixtures.mjs [--check]`
// --check exits 1 when a committed fixture differs from what the script would write.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProgramBuilder, seededFloats } from '../dist/formats/program-builder.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
let differ = 0;

function put(rel, bytes) {
  const file = join(root, 'fixtures', rel);
  const buf = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (check) {
    if (!existsSync(file) || Buffer.compare(readFileSync(file), buf) !== 0) { console.error(`differs: fixtures/${rel}`); differ++; }
    return;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, buf);
  console.log(`wrote fixtures/${rel} (${buf.length} bytes)`);
}

const positive = (n, seed) => seededFloats(n, seed, 0.5).map((v) => Math.abs(v) + 0.5);

// tiny_classifier: a 4-class image classifier, 3x32x32 input, in the Paddle 2.x inference layout.
// conv-bn-relu-maxpool, conv(+bias)-relu, adaptive avg pool, flatten, matmul_v2 + bias, softmax.
{
  const b = new ProgramBuilder(2004000);
  b.feed('x', 'float32', [-1, 3, 32, 32]);
  b.param('conv1_weights', [8, 3, 3, 3], seededFloats(8 * 27, 1, 0.35));
  b.param('bn1_scale', [8], positive(8, 2));
  b.param('bn1_offset', [8], seededFloats(8, 3, 0.1));
  b.param('bn1_mean', [8], seededFloats(8, 4, 0.1));
  b.param('bn1_variance', [8], positive(8, 5));
  b.param('conv2_weights', [16, 8, 3, 3], seededFloats(16 * 72, 6, 0.2));
  b.param('conv2_bias', [16], seededFloats(16, 7, 0.1));
  b.param('fc_weights', [16, 4], seededFloats(64, 8, 0.5));
  b.param('fc_bias', [4], seededFloats(4, 9, 0.1));
  const conv = { strides: [1, 1], paddings: [1, 1], dilations: [1, 1], groups: 1, padding_algorithm: 'EXPLICIT', data_format: 'NCHW' };
  b.variable('conv1.tmp_0', 'float32', [-1, 8, 32, 32]);
  b.op('conv2d', { Input: ['x'], Filter: ['conv1_weights'] }, { Output: ['conv1.tmp_0'] }, conv);
  for (const v of ['bn1.tmp_2']) b.variable(v, 'float32', [-1, 8, 32, 32]);
  for (const v of ['bn1.saved_mean', 'bn1.saved_variance']) b.variable(v, 'float32', [8]);
  b.op('batch_norm',
    { X: ['conv1.tmp_0'], Scale: ['bn1_scale'], Bias: ['bn1_offset'], Mean: ['bn1_mean'], Variance: ['bn1_variance'] },
    { Y: ['bn1.tmp_2'], MeanOut: ['bn1_mean'], VarianceOut: ['bn1_variance'], SavedMean: ['bn1.saved_mean'], SavedVariance: ['bn1.saved_variance'] },
    { epsilon: { f: 1e-5 }, momentum: { f: 0.9 }, is_test: true, data_layout: 'NCHW', use_global_stats: false });
  b.variable('relu1.tmp_0', 'float32', [-1, 8, 32, 32]);
  b.op('relu', { X: ['bn1.tmp_2'] }, { Out: ['relu1.tmp_0'] });
  const pool = { global_pooling: false, adaptive: false, ceil_mode: false, exclusive: true, padding_algorithm: 'EXPLICIT', data_format: 'NCHW', paddings: [0, 0] };
  b.variable('pool1.tmp_0', 'float32', [-1, 8, 16, 16]);
  b.op('pool2d', { X: ['relu1.tmp_0'] }, { Out: ['pool1.tmp_0'] }, { ...pool, pooling_type: 'max', ksize: [2, 2], strides: [2, 2] });
  b.variable('conv2.tmp_0', 'float32', [-1, 16, 16, 16]);
  b.op('conv2d', { Input: ['pool1.tmp_0'], Filter: ['conv2_weights'] }, { Output: ['conv2.tmp_0'] }, conv);
  b.variable('conv2.tmp_1', 'float32', [-1, 16, 16, 16]);
  b.op('elementwise_add', { X: ['conv2.tmp_0'], Y: ['conv2_bias'] }, { Out: ['conv2.tmp_1'] }, { axis: 1 });
  b.variable('relu2.tmp_0', 'float32', [-1, 16, 16, 16]);
  b.op('relu', { X: ['conv2.tmp_1'] }, { Out: ['relu2.tmp_0'] });
  b.variable('pool2.tmp_0', 'float32', [-1, 16, 1, 1]);
  b.op('pool2d', { X: ['relu2.tmp_0'] }, { Out: ['pool2.tmp_0'] }, { ...pool, pooling_type: 'avg', ksize: [1, 1], strides: [1, 1], adaptive: true });
  b.variable('flatten.tmp_0', 'float32', [-1, 16]);
  b.variable('flatten.tmp_0.xshape', 'float32', [0, -1, 16, 1, 1]);
  b.op('flatten_contiguous_range', { X: ['pool2.tmp_0'] }, { Out: ['flatten.tmp_0'], XShape: ['flatten.tmp_0.xshape'] }, { start_axis: 1, stop_axis: 3 });
  b.variable('fc.tmp_0', 'float32', [-1, 4]);
  b.op('matmul_v2', { X: ['flatten.tmp_0'], Y: ['fc_weights'] }, { Out: ['fc.tmp_0'] }, { trans_x: false, trans_y: false });
  b.variable('fc.tmp_1', 'float32', [-1, 4]);
  b.op('elementwise_add', { X: ['fc.tmp_0'], Y: ['fc_bias'] }, { Out: ['fc.tmp_1'] }, { axis: -1 });
  b.variable('softmax_0.tmp_0', 'float32', [-1, 4]);
  b.op('softmax', { X: ['fc.tmp_1'] }, { Out: ['softmax_0.tmp_0'] }, { axis: -1 });
  b.fetch('softmax_0.tmp_0');
  put('tiny_classifier/inference.pdmodel', b.programBytes());
  put('tiny_classifier/inference.pdiparams', b.paramsBytes());
  put('tiny_classifier/README.md', [
    '# tiny_classifier (generated)',
    '',
    'Written by `scripts/gen-fixtures.mjs` with pserve\'s own encoders: a 4-class image classifier in the',
    'Paddle 2.x inference layout (`inference.pdmodel` + `inference.pdiparams`), input `x` float32 [-1,3,32,32],',
    'output `softmax_0.tmp_0` [-1,4]. Weights are seeded pseudo-random numbers: the model classifies nothing real;',
    'it exists so that `pserve demo` and the tests have a small, offline, conv-net sample.',
    '',
  ].join('\n'));
}

// tiny_mlp_separate: legacy one-file-per-parameter layout (`__model__` + files named after the params).
{
  const b = new ProgramBuilder(1008000);
  b.feed('x', 'float32', [-1, 4]);
  b.param('fc_0.w_0', [4, 3], seededFloats(12, 11));
  b.param('fc_0.b_0', [3], seededFloats(3, 12));
  b.variable('fc_0.tmp_0', 'float32', [-1, 3]);
  b.variable('fc_0.tmp_1', 'float32', [-1, 3]);
  b.variable('fc_0.tmp_2', 'float32', [-1, 3]);
  b.op('mul', { X: ['x'], Y: ['fc_0.w_0'] }, { Out: ['fc_0.tmp_0'] }, { x_num_col_dims: 1, y_num_col_dims: 1 });
  b.op('elementwise_add', { X: ['fc_0.tmp_0'], Y: ['fc_0.b_0'] }, { Out: ['fc_0.tmp_1'] }, { axis: 1 });
  b.op('relu', { X: ['fc_0.tmp_1'] }, { Out: ['fc_0.tmp_2'] });
  b.fetch('fc_0.tmp_2');
  put('tiny_mlp_separate/__model__', b.programBytes());
  for (const [name, bytes] of b.separateParams()) put(`tiny_mlp_separate/${name}`, bytes);
}

if (check && differ > 0) { console.error(`${differ} fixture file(s) differ from the generator`); process.exit(1); }
if (check) console.log('fixtures match the generator');
