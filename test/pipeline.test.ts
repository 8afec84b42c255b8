/**
 * The pipeline engine (templates/server/pipeline/): Python str() of answers against CPython and
 * numpy 1.x, the config checks (each bad step refused naming it, at build time through zod and at
 * server start through the same specs), the DAG runner, and the post-processing steps whose
 * arithmetic upstream does in numpy (NMS with +1 areas, DetOp's box handling, the shape string).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipelineModules, validatePipeline } from '../src/bundle/pipeline-schema.js';
import { imagenetRecipe, ppshituRecipe, pptsmRecipe, pptsnRecipe, renderYaml } from '../src/bundle/recipes.js';
import { PADDLECLAS_NMS_PY, PY, pyHas, tempDir } from './helpers.js';

const T = '../templates/server/pipeline/';
const { pyRepr, pyFloatRepr, npFloat32Repr, PyFloat, NpFloat32 } = await import(`${T}pyrepr.mjs`);
const { checkPipeline, preparePipeline, runPipeline } = await import(`${T}pipeline.mjs`);
const { STEPS, nmsResults, parseShapeString, pyRound } = await import(`${T}steps.mjs`);
const { parseYaml } = await import('../templates/server/config.mjs');

const HAVE_NUMPY = pyHas('numpy');
const py = (script: string, input: string) => {
  const r = spawnSync(PY, ['-c', script], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};

describe('Python str() of answers', () => {
  // doubles across the switch points of repr (1e-4, 1e16), float32 values, integers, edge cases
  const doubles = [0.9341402053833008, 0.9907388687133789, 1e-5, 1.5e-5, 0.0001, 0.00012, 9.999e-5, 1e16, 9999999999999998, 1.2345678901234568e17,
    1, 100000, 3.14159, -2.5e-7, 0.1, 1 / 3, 2 / 3, 5e-324, 1.7976931348623157e308, 123.456, 1e22, 4.35e-6];
  const f32s = [...doubles.map((x) => Math.fround(x)).filter(Number.isFinite), 0.79903316, 1e-4, 3.4028234663852886e38, 1.401298464324817e-45, 0.5, 16777216, 16777217, 1e-10, 65504];

  it.skipIf(!HAVE_NUMPY)('float64 repr and numpy 1.x float32 str match CPython and numpy for every value', () => {
    const want = JSON.parse(py('import json,sys,numpy as np\nd=json.load(sys.stdin)\nprint(json.dumps([[repr(float(x)) for x in d[0]],[str(np.float32(x)) for x in d[1]]]))', JSON.stringify([doubles, f32s]))) as [string[], string[]];
    expect(doubles.map((x) => pyFloatRepr(x))).toEqual(want[0]);
    expect(f32s.map((x) => npFloat32Repr(x))).toEqual(want[1]);
  });

  it.skipIf(!HAVE_NUMPY)('lists, dicts and strings as str() prints them (quotes, escapes, non-ASCII kept)', () => {
    const value = [{ bbox: [345, 95, 524, 576], rec_docs: 'Red Bull-Enhanced', rec_scores: new NpFloat32(0.79903316) }, { bbox: [0, 0, 1, 1], rec_docs: "it's", rec_scores: new NpFloat32(1) }];
    const want = py("import numpy as np\nprint(str([{'bbox': [345, 95, 524, 576], 'rec_docs': 'Red Bull-Enhanced', 'rec_scores': np.float32(0.79903316)}, {'bbox': [0, 0, 1, 1], 'rec_docs': \"it's\", 'rec_scores': np.float32(1)}]), end='')", '');
    expect(pyRepr(value)).toBe(want);
    const strs = ['daisy', "it's", 'a"b\'c', 'tab\there\nnl', 'é中文\u0081\u007f', '\\'];
    expect(pyRepr(strs)).toBe(py('import json,sys\nprint(str(json.load(sys.stdin)), end="")', JSON.stringify(strs)));
    expect(pyRepr([new PyFloat(1), new PyFloat(0.5), 2, true, null])).toBe('[1.0, 0.5, 2, True, None]');
  });
});

describe('pipeline config: every bad step is refused, naming it', () => {
  const good = () => ({
    models: { m: { onnx: 'models/m/model.onnx' } },
    steps: {
      images: { op: 'request_base64', keys: [] },
      decoded: { op: 'decode_image', in: 'images' },
      resized: { op: 'resize_short', in: 'decoded', size: 256 },
      out: { op: 'model', model: 'm', feeds: { x: 'resized' } },
    },
    response: { r: 'out.y' },
  });
  const both = async (mutate: (p: any) => void, re: RegExp) => {
    const p = good();
    mutate(p);
    expect(() => checkPipeline(p)).toThrow(re);
    const mods = await pipelineModules();
    let err: any;
    try { validatePipeline(mods, p); } catch (e) { err = e; }
    expect(err?.code).toBe('E_PIPELINE_CONFIG');
    expect(err.message).toMatch(re);
  };

  it('accepts a good pipeline, and the four recipes', async () => {
    expect(checkPipeline(good()).steps.map((s: any) => s.name)).toEqual(['images', 'decoded', 'resized', 'out']);
    const mods = await pipelineModules();
    const io = { feeds: ['x'], fetches: ['y'] };
    for (const r of [imagenetRecipe(io, 'l.txt'), pptsmRecipe(io, 'l.txt'), pptsnRecipe(io, 'l.txt'), ppshituRecipe({ feeds: ['image', 'im_shape', 'scale_factor'], fetches: ['rows', 'counts'] }, io)]) {
      // what config.yml holds reads back through the server's YAML reader to the same pipeline
      const text = ['pipeline:', ...renderYaml(r.pipeline, 2)].join('\n');
      const back = parseYaml(text).pipeline;
      expect(back).toEqual(r.pipeline);
      expect(validatePipeline(mods, back).steps.length).toBe(Object.keys(r.pipeline.steps as object).length);
    }
  });
  it('an unknown op', () => both((p) => { p.steps.resized.op = 'resize_long'; }, /step "resized": unknown op "resize_long"/));
  it('an unknown parameter', () => both((p) => { p.steps.resized.sise = 3; }, /step "resized" \(op resize_short\): unknown parameter "sise"/));
  it('a missing parameter', () => both((p) => { delete p.steps.resized.size; }, /step "resized" \(op resize_short\): .*"size"/));
  it('a parameter of the wrong type or out of range', async () => {
    await both((p) => { p.steps.resized.size = 'big'; }, /step "resized" \(op resize_short\): "size"/);
    await both((p) => { p.steps.resized.size = 0; }, /step "resized" \(op resize_short\): "size"/);
    await both((p) => { p.steps.resized.library = 'skimage'; }, /step "resized" \(op resize_short\): "library"/);
  });
  it('a reference to a step that is not defined above (no cycles, no typos)', () => both((p) => { p.steps.decoded.in = 'resized'; }, /step "decoded" \(op decode_image\): "in" reads "resized", but no step "resized" is defined above it/));
  it('a model step naming no model, a file path leaving the bundle, a response reading nothing', async () => {
    await both((p) => { p.steps.out.model = 'other'; }, /step "out" \(op model\): no model "other"/);
    await both((p) => { p.steps.top = { op: 'topk', in: 'out.y', labels: '../../etc/passwd' }; }, /step "top" \(op topk\): "labels"/);
    await both((p) => { p.response = { r: 'nowhere' }; }, /pipeline.response: "r" reads "nowhere"/);
  });
  it('the server refuses an edited config.yml at start, naming the step', async () => {
    const dir = tempDir('pserve-pipe-cfg-');
    mkdirSync(join(dir, 'server'));
    const p = good();
    (p.steps.resized as any).size = -3;
    writeFileSync(join(dir, 'config.yml'), ['http_port: 0', 'op:', '  svc:', '    concurrency: 1', 'pipeline:', ...renderYaml(p, 2)].join('\n'));
    const { startServer } = await import('../templates/server.mjs');
    await expect(startServer(['--config', join(dir, 'config.yml'), '--port', '0'], { log: () => {} })).rejects.toThrow(/step "resized" \(op resize_short\): "size" must be an integer >= 1/);
  });
});

describe('the DAG runner', () => {
  it('runs steps when their inputs are ready, passes fields, reports the first failure in file order', async () => {
    const order: string[] = [];
    STEPS.__test_delay = {
      params: { in: { type: 'ref' }, ms: { type: 'int', min: 0 } },
      refs: ['in'],
      run: async ({ ms }: any, { in: v }: any, { step }: any) => { await new Promise((r) => setTimeout(r, ms)); order.push(step); return { v: `${step}(${typeof v === 'object' && v?.v ? v.v : 'req'})` }; },
    };
    try {
      const checked = checkPipeline({
        steps: {
          slow: { op: '__test_delay', in: 'request', ms: 30 },
          fast: { op: '__test_delay', in: 'request', ms: 0 },
          after: { op: '__test_delay', in: 'slow', ms: 0 },
        },
        response: { a: 'after.v', b: 'fast.v' },
      });
      const prepared = await preparePipeline(checked, { base: '.', models: {} });
      const out = await runPipeline(prepared, { key: [], value: [] });
      expect(out).toEqual({ a: 'after(slow(req))', b: 'fast(req)' });
      expect(order).toEqual(['fast', 'slow', 'after']);
    } finally {
      delete STEPS.__test_delay;
    }
  });
});

describe('image steps on step workers', () => {
  it('run off the HTTP thread with the same result, and their refusals come back as bad requests naming the step', async () => {
    const { StepWorkers } = await import(`${T}step-worker.mjs`);
    const { encodeBmp, sceneRgb } = await import('../src/bundle/smoke-pipeline.js');
    const checked = checkPipeline({
      steps: {
        images: { op: 'request_base64' },
        decoded: { op: 'decode_image', in: 'images' },
        resized: { op: 'resize_short', in: 'decoded', size: 32 },
      },
      response: { r: 'resized' },
    });
    const workers = new StepWorkers(1);
    try {
      const off = await preparePipeline(checked, { base: '.', models: {}, stepWorkers: workers });
      const on = await preparePipeline(checked, { base: '.', models: {} });
      const bmp = encodeBmp(64, 48, sceneRgb(64, 48)).toString('base64');
      const a = await runPipeline(off, { key: ['image'], value: [bmp] });
      const b = await runPipeline(on, { key: ['image'], value: [bmp] });
      expect([a.r[0].width, a.r[0].height]).toEqual([43, 32]);
      expect(Buffer.from(a.r[0].data).equals(Buffer.from(b.r[0].data))).toBe(true);
      await expect(runPipeline(off, { key: ['image'], value: [Buffer.from('GIF89a....').toString('base64')] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/step "decoded": image 0 cannot be decoded/) });
    } finally {
      await workers.close();
    }
  });
});

describe('post-processing as upstream computes it', () => {
  it.skipIf(!HAVE_NUMPY)('NMS over result dicts: +1 areas, float32 corners, scores descending, IoU <= threshold kept (PaddleClas nms_to_rec_results)', () => {
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    const trials = Array.from({ length: 20 }, (_, trial) => ({
      thresh: [0.05, 0.3, 0.5][trial % 3]!,
      results: Array.from({ length: 12 }, () => {
        const x = Math.floor(rnd() * 300); const y = Math.floor(rnd() * 300);
        return { bbox: [x, y, x + 20 + Math.floor(rnd() * 200), y + 20 + Math.floor(rnd() * 200)], rec_docs: 'x', rec_scores: new NpFloat32(0.5 + rnd() / 2) };
      }),
    }));
    const want = JSON.parse(py(`
import json, sys, numpy as np
${PADDLECLAS_NMS_PY}
out = []
for rs, thresh in json.load(sys.stdin):
    x1 = np.array([r[0][0] for r in rs]).astype('float32'); y1 = np.array([r[0][1] for r in rs]).astype('float32')
    x2 = np.array([r[0][2] for r in rs]).astype('float32'); y2 = np.array([r[0][3] for r in rs]).astype('float32')
    scores = np.array([r[1] for r in rs], dtype='float32')
    out.append(paddleclas_nms(x1, y1, x2, y2, scores, thresh))
print(json.dumps(out))`, JSON.stringify(trials.map((t) => [t.results.map((r) => [r.bbox, r.rec_scores.v]), t.thresh])))) as number[][];
    trials.forEach((t, i) => expect(nmsResults(t.results, t.thresh).map((r: any) => t.results.indexOf(r))).toEqual(want[i]));
  });

  it('det_boxes: sorted by score, first top_k, then the threshold; class -1 padding skipped; corners back with -1; the whole image appended', () => {
    const rows = Float32Array.from([
      0, 0.3, 10.5, 20.25, 110.75, 220.5,
      0, 0.9, 1, 2, 3, 4,
      -1, 0, 0, 0, 0, 0,
      0, 0.15, 5, 5, 6, 6,
      0, 0.95, 7, 8, 9, 10,
    ]);
    const out = STEPS.det_boxes.run({ score_threshold: 0.2, top_k: 2, append_whole_image: true }, { in: { data: rows, dims: [5, 6] }, image: [{ width: 640, height: 480, channels: 3, data: new Uint8Array(0) }] }, { step: 'b' });
    expect(out.map((b: any) => b.score)).toEqual([Math.fround(0.95), Math.fround(0.9), 1]);
    expect(out[0].bbox).toEqual([7, 8, 9, 10]);
    expect(out[2].bbox).toEqual([0, 0, 640, 480]);
    const thresholdAfterTopK = STEPS.det_boxes.run({ score_threshold: 0.2, top_k: 5, append_whole_image: false }, { in: { data: rows, dims: [5, 6] }, image: [] }, { step: 'b' });
    expect(thresholdAfterTopK.map((b: any) => b.score)).toEqual([0.95, 0.9, 0.3].map(Math.fround));
    // float64 like Python: x2' = (x2 - x1 + 1) + (x1 - 1)
    expect(thresholdAfterTopK[2].bbox).toEqual([10.5, 20.25, (110.75 - 10.5 + 1) + (10.5 - 1), (220.5 - 20.25 + 1) + (20.25 - 1)]);
  });

  it('the frames shape string is read as data, never evaluated', () => {
    expect(parseShapeString('(131, 240, 320, 3)', 'k')).toEqual([131, 240, 320, 3]);
    expect(parseShapeString('[2,4,4,3]', 'k')).toEqual([2, 4, 4, 3]);
    expect(parseShapeString('(5,)', 'k')).toEqual([5]);
    for (const bad of ["__import__('os')", '(1, 2', '(1, -2)', '(1.5, 2)', '()', 'x'.repeat(500)]) expect(() => parseShapeString(bad, 'k')).toThrow(/expected a shape/);
  });

  it('request decoders: every key a value, in order; too many values, a missing key, non-base64 are bad requests', () => {
    const request = { key: ['a', 'b', 'c'], value: ['AAEC', 'AwQF', 'BgcI'] };
    const got = STEPS.request_base64.run({ keys: [], max_values: 64 }, {}, { request, step: 's' });
    expect(got.map((b: Buffer) => Array.from(b))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
    expect(() => STEPS.request_base64.run({ keys: [], max_values: 2 }, {}, { request, step: 's' })).toThrow(/3 values, at most 2 per request/);
    expect(() => STEPS.request_base64.run({ keys: ['image'], max_values: 2 }, {}, { request, step: 's' })).toThrow(/no key "image"/);
    expect(() => STEPS.request_base64.run({ keys: [], max_values: 64 }, {}, { request: { key: ['a'], value: [12] }, step: 's' })).toThrow(/expected a base64 string/);
    const frames = STEPS.request_frames.run({ data_key: 'frames', shape_key: 'frames_shape', channel_order: 'rgb', strict_keys: true, max_frames: 10 },
      {}, { request: { key: ['frames', 'frames_shape'], value: [Buffer.alloc(2 * 2 * 3 * 3, 9).toString('base64'), '(2, 2, 3, 3)'] }, step: 's' });
    expect(frames.map((f: any) => [f.width, f.height, f.data.length])).toEqual([[3, 2, 18], [3, 2, 18]]);
    expect(() => STEPS.request_frames.run({ data_key: 'frames', shape_key: 'frames_shape', channel_order: 'rgb', strict_keys: true, max_frames: 1 },
      {}, { request: { key: ['frames', 'frames_shape'], value: [Buffer.alloc(36).toString('base64'), '(2, 2, 3, 3)'] }, step: 's' })).toThrow(/1\.\.1 frames/);
  });

  it('Python round (half to even) for PaddleVideo CenterCrop and Paddle Serving Resize', () => {
    expect([0.5, 1.5, 2.5, 58.5, 59.5, -0.5, 2.4, 2.6].map(pyRound)).toEqual([0, 2, 2, 58, 60, -0, 2, 3]);
  });

  it('softmax and top-k: first index on ties; labels as each seed reads its label file', async () => {
    const dir = tempDir('pserve-pipe-lab-');
    writeFileSync(join(dir, 'imagenet.label'), 'tench, Tinca tinca,\ndaisy,\n');
    writeFileSync(join(dir, 'k400.txt'), '0 abseiling\n1 archery\n');
    const t = { data: Float32Array.from([0.2, 0.8, 0.5, 0.5]), dims: [2, 2] };
    const cls = STEPS.topk.prepare({ labels: 'imagenet.label', label_format: 'strip_comma' }, { base: dir, where: 's' });
    const r = STEPS.topk.run({ k: 1 }, { in: t }, { step: 's', state: cls });
    expect(pyRepr(r.labels)).toBe("['daisy', 'tench Tinca tinca']");
    expect(pyRepr(r.scores)).toBe(`[${pyFloatRepr(Math.fround(0.8))}, 0.5]`);
    const vid = STEPS.topk.prepare({ labels: 'k400.txt', label_format: 'index_name' }, { base: dir, where: 's' });
    const sm = STEPS.softmax.run({}, { in: { data: Float32Array.from([1, 3]), dims: [1, 2] } }, { step: 's' });
    const v = STEPS.topk.run({ k: 1 }, { in: sm }, { step: 's', state: vid });
    expect(v.labels).toEqual(['archery']);
    expect(v.scores[0].v).toBeCloseTo(Math.exp(3) / (Math.exp(1) + Math.exp(3)), 6);
  });
});
