/**
 * `pserve inspect --json` on every real model in ../shared/fixtures. Expected values come from the
 * independent summaries recorded in each fixture's PROVENANCE.txt.
 */
import { describe, expect, it } from 'vitest';
import { cli, cliJson, describeShared, shared } from './helpers.js';

type T = [name: string, dtype: string, shape: number[], lod: number];
interface Expect {
  path: string;
  format?: 'paddle-program' | 'paddle-pir';
  version?: string;
  layout: 'combined' | 'separate' | 'none';
  feeds: T[];
  fetches: T[];
  ops: Record<string, number>;
  params: [count: number, elements: number, bytes: number];
  warning?: RegExp;
}

const PPOCR_DET_OPS = { conv2d: 57, batch_norm: 49, elementwise_add: 39, relu: 22, hard_swish: 20, depthwise_conv2d: 15, pool2d: 8, hard_sigmoid: 8, elementwise_mul: 8, nearest_interp_v2: 6, conv2d_transpose: 2, feed: 1, concat: 1, sigmoid: 1, fetch: 1 };
const DET_FEED: T[] = [['x', 'float32', [-1, 3, -1, -1], 0]];
const DET_FETCH: T[] = [['sigmoid_0.tmp_0', 'float32', [-1, 1, -1, -1], 0]];

const CASES: Expect[] = [
  { path: 'uci_housing/uci_housing_model', version: '1.7.0', layout: 'separate', feeds: [['x', 'float32', [-1, 13], 0]], fetches: [['fc_0.tmp_1', 'float32', [-1, 1], 0]], ops: { feed: 1, mul: 1, elementwise_add: 1, fetch: 1 }, params: [2, 14, 56] },
  {
    path: 'blazeface/model', version: '2.3.0', layout: 'combined',
    feeds: [['im_shape', 'float32', [-1, 2], 0], ['image', 'float32', [-1, 3, -1, -1], 0], ['scale_factor', 'float32', [-1, 2], 0]],
    fetches: [['multiclass_nms3_0.tmp_0', 'float32', [-1, 6], 1], ['multiclass_nms3_0.tmp_2', 'int32', [-1], 0]],
    ops: { relu: 44, batch_norm: 38, conv2d: 25, elementwise_add: 21, depthwise_conv2d: 17, slice: 14, scale: 12, reshape2: 6, transpose2: 5, elementwise_mul: 5, elementwise_sub: 4, feed: 3, pool2d: 3, concat: 3, prior_box: 2, exp: 2, stack: 2, elementwise_div: 2, unsqueeze2: 2, fetch: 2, softmax: 1, multiclass_nms3: 1 },
    params: [198, 119616, 478464],
  },
  { path: 'ppocrv3_det', version: '2.3.0', layout: 'combined', feeds: DET_FEED, fetches: DET_FETCH, ops: PPOCR_DET_OPS, params: [288, 592625, 2370500] },
  { path: 'ppocrv3_det_ch', version: '2.2.2', layout: 'combined', feeds: DET_FEED, fetches: DET_FETCH, ops: PPOCR_DET_OPS, params: [288, 592625, 2370500] },
  {
    path: 'ppocrv2_det_ch', version: '2.3.0', layout: 'combined', feeds: DET_FEED, fetches: DET_FETCH,
    ops: { batch_norm: 49, conv2d: 41, hard_swish: 20, depthwise_conv2d: 15, elementwise_add: 15, relu: 14, nearest_interp_v2: 6, conv2d_transpose: 2, feed: 1, concat: 1, sigmoid: 1, fetch: 1 },
    params: [256, 572441, 2289764],
  },
  {
    path: 'ppocr_cls_v2', version: '2.3.2', layout: 'combined', feeds: DET_FEED, fetches: [['softmax_0.tmp_0', 'float32', [-1, 2], 0]],
    ops: { conv2d: 42, batch_norm: 35, elementwise_add: 26, hard_swish: 18, relu: 15, depthwise_conv2d: 11, pool2d: 11, hard_sigmoid: 9, elementwise_mul: 9, feed: 1, shape: 1, slice: 1, fill_constant: 1, reshape2: 1, matmul_v2: 1, softmax: 1, fetch: 1 },
    params: [213, 133628, 534512],
  },
  {
    path: 'ppocr_cls_v2_oldexport', version: '0.0.0', layout: 'combined', feeds: [['x', 'float32', [-1, 3, 32, 100], 0]], fetches: [['save_infer_model/scale_0.tmp_1', 'float32', [-1, 2], 0]],
    ops: { conv2d: 42, batch_norm: 35, elementwise_add: 26, hard_swish: 18, relu: 15, depthwise_conv2d: 11, pool2d: 11, hard_sigmoid: 9, elementwise_mul: 9, shape: 2, slice: 2, feed: 1, reshape2: 1, matmul: 1, softmax: 1, scale: 1, fetch: 1 },
    params: [213, 133628, 534512],
  },
  {
    path: 'pplcnet_textline_ori_pir', format: 'paddle-pir', layout: 'combined', feeds: [['x', 'float32', [-1, 3, 80, 160], 0]], fetches: [['fetch_name_0', 'float32', [-1, 2], 0]],
    ops: { batch_norm_: 27, hardswish: 27, conv2d: 18, depthwise_conv2d: 13, full_int_array: 7, add: 5, reshape: 4, pool2d: 3, relu: 2, hardsigmoid: 2, multiply: 2, data: 1, flatten: 1, matmul: 1, softmax: 1, fetch: 1 },
    params: [145, 79354, 317416],
  },
  { path: 'mnist_mlp', version: '2.1.0', layout: 'separate', feeds: [['image', 'float32', [-1, 1, 28, 28], 0]], fetches: [['save_infer_model/scale_0.tmp_4', 'float32', [-1, 10], 0]], ops: { mul: 3, elementwise_add: 3, relu: 2, feed: 1, softmax: 1, scale: 1, fetch: 1 }, params: [6, 89610, 358440] },
  {
    path: 'mnist_mlp_2018/model', layout: 'separate', feeds: [['img', 'float32', [-1, 1, 28, 28], 0]], fetches: [['fc_2.tmp_2', 'float32', [-1, 10], 0]],
    ops: { mul: 3, elementwise_add: 3, tanh: 2, feed: 1, softmax: 1, fetch: 1 }, params: [6, 199210, 796840], warning: /not use: fc_3\.b_0, fc_3\.w_0/,
  },
  {
    path: 'dqn_conv/model', layout: 'separate', feeds: [['state', 'float32', [-1, 4, 84, 84], 0]], fetches: [['save_infer_model/scale_0', 'float32', [-1, 6], 0]],
    ops: { elementwise_add: 5, conv2d: 4, relu: 4, pool2d: 3, feed: 1, fill_constant: 1, elementwise_div: 1, flatten2: 1, mul: 1, scale: 1, fetch: 1 }, params: [10, 137030, 548120],
  },
  {
    path: 'textcnn_lod/infer_model', version: '2.4.2', layout: 'separate', feeds: [['words', 'int64', [-1, 1], 1]], fetches: [['fc_0.tmp_4', 'float32', [-1, 10], 0]],
    ops: { elementwise_add: 3, sequence_conv: 2, tanh: 2, sequence_pool: 2, mul: 2, feed: 1, lookup_table: 1, sum: 1, softmax: 1, fetch: 1 }, params: [8, 707776, 2831104],
  },
  {
    path: 'word2vec_ngram/word2vec.inference.model', version: '1.6.3', layout: 'separate',
    feeds: ['firstw', 'secondw', 'thirdw', 'fourthw'].map((n): T => [n, 'int64', [-1, 1], 0]), fetches: [['save_infer_model/scale_0', 'float32', [-1, 2074], 0]],
    ops: { feed: 4, lookup_table_v2: 4, mul: 2, elementwise_add: 2, concat: 1, sigmoid: 1, softmax: 1, scale: 1, fetch: 1 }, params: [5, 632410, 2529640],
  },
];

interface Report {
  format: string; paddleVersion?: string; paramsLayout: string; paramsFile: string | null;
  feeds: { name: string; dtype: string; shape: number[]; lodLevel: number }[];
  fetches: { name: string; dtype: string; shape: number[]; lodLevel: number }[];
  ops: Record<string, number>; params: { count: number; elements: number; bytes: number }; warnings: string[];
}

const asT = (t: Report['feeds'][number]): T => [t.name, t.dtype, t.shape, t.lodLevel];

describeShared('pserve inspect --json on every real model with params', () => {
  for (const c of CASES) {
    it(c.path, () => {
      const { code, json } = cliJson<Report>(['inspect', shared(c.path)]);
      expect(code).toBe(0);
      expect(json.format).toBe(c.format ?? 'paddle-program');
      expect(json.paddleVersion).toBe(c.version);
      expect(json.paramsLayout).toBe(c.layout);
      expect(json.feeds.map(asT)).toEqual(c.feeds);
      expect(json.fetches.map(asT)).toEqual(c.fetches);
      expect(json.ops).toEqual(c.ops);
      expect([json.params.count, json.params.elements, json.params.bytes]).toEqual(c.params);
      if (c.warning) expect(json.warnings.join('\n')).toMatch(c.warning);
      else expect(json.warnings).toEqual([]);
    });
  }
});

describeShared('program-only fixtures inspect without params', () => {
  const programOnly = [
    'bisenetv2_convert_program_only/bisenetv2_demo_model',
    'bisenetv2_convert_program_only/serving_server',
    'lac_convert_program_only/lac_model',
    'programs_only/pdmodel/FSIE_PP-LCNet_doc_ori_cls',
    'programs_only/pdmodel/PP-DocLayoutV2_paddle3.1',
    'programs_only/pdmodel/PP-OCRv3_rec_custom',
    'programs_only/pdmodel/PPHGNetV2_B0_uslp',
    'programs_only/pdmodel/PPLCNet_garbage_paddle3.0',
    'programs_only/pdmodel/VAE_decoder',
    'programs_only/pir/PP-DocLayout_plus-L',
    'programs_only/pir/PP-LCNet_x1_0_doc_ori_infer',
    'programs_only/pir/PP-OCRv5_server_det_infer',
    'programs_only/pir/PP-OCRv5_server_rec_infer',
    'programs_only/pir/UVDoc',
  ];
  for (const p of programOnly) {
    it(p, () => {
      const { code, json } = cliJson<Report>(['inspect', shared(p)]);
      expect(code).toBe(0);
      expect(json.paramsLayout).toBe('none');
      expect(json.params.count).toBe(0);
      expect(json.feeds.length).toBeGreaterThan(0);
      expect(json.fetches.length).toBeGreaterThan(0);
      expect(Object.values(json.ops).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(json.warnings.join('\n')).toMatch(/no params found/);
    });
  }

  it('bisenetv2: the re-saved program has the same feeds, fetches and ops as its input', () => {
    const a = cliJson<Report>(['inspect', shared('bisenetv2_convert_program_only/bisenetv2_demo_model')]).json;
    const b = cliJson<Report>(['inspect', shared('bisenetv2_convert_program_only/serving_server')]).json;
    expect(a.paddleVersion).toBe('2.0.2');
    expect(b.paddleVersion).toBe('2.4.0');
    expect(b.feeds).toEqual(a.feeds);
    expect(b.fetches).toEqual(a.fetches);
    expect(b.ops).toEqual(a.ops);
    expect(Object.values(a.ops).reduce((x, y) => x + y, 0)).toBe(227);
    expect(a.fetches.map(asT)).toEqual([['save_infer_model/scale_0.tmp_1', 'int64', [-1, -1, -1], 0]]);
  });

  it('human output names the format, the feeds and the op histogram', () => {
    const r = cli(['inspect', shared('uci_housing/uci_housing_model')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/paddle-program \(Paddle 1\.7\.0\)/);
    expect(r.stdout).toMatch(/feed\s+0\s+x\s+float32\s+\[-1, 13\]/);
    expect(r.stdout).toMatch(/elementwise_add\s+1/);
  });

  it('--model_filename and --params_filename override discovery', () => {
    const { code, json } = cliJson<Report>(['inspect', shared('ppocrv3_det'), '--model_filename', 'inference.pdmodel', '--params_filename', 'inference.pdiparams']);
    expect(code).toBe(0);
    expect(json.params.count).toBe(288);
  });
});

describe('inspect without fixtures', () => {
  it('--version prints the package version', () => {
    const r = cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
  it('an unknown command is a usage error (exit 2)', () => {
    const r = cli(['no-such-command']);
    expect(r.code).toBe(2);
  });
});
