/**
 * Chains of image steps (templates/server/pipeline/chain.mjs) and the fused kernels they use
 * (templates/server/image/ops.mjs, resize.mjs): a resize computing only a crop's window, normalise +
 * CHW through a table, normalise + float resize + CHW without the normalised image. Each must give
 * the same bits as the separate steps (which test/image-preprocess.test.ts pins to OpenCV, PIL and
 * numpy); the runner must group the recipes' steps as intended and still name the failing step.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeShared, shared } from './helpers.js';
import { imagenetRecipe, ppshituRecipe, pptsmRecipe, pptsnRecipe } from '../src/bundle/recipes.js';
import { encodeBmp, sceneRgb } from '../src/bundle/smoke-pipeline.js';

const T = '../templates/server/pipeline/';
const { checkPipeline, preparePipeline, runPipeline, planUnits, withinPixels, INLINE_PIXELS } = await import(`${T}pipeline.mjs`);
const { STEPS } = await import(`${T}steps.mjs`);
const { runChain, compileChain } = await import(`${T}chain.mjs`);
const { StepWorkers } = await import(`${T}step-worker.mjs`);
const ops = await import('../templates/server/image/ops.mjs');
const { kernelOffset, jpegKernels } = await import('../templates/server/image/jpeg-wasm.mjs');

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

type Img = { width: number; height: number; channels: number; data: Uint8Array };
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
/** a scene (flat boxes, edges) with noise: every table entry and both rounding directions get used */
function photo(w: number, h: number, c = 3): Img {
  const rgb = sceneRgb(w, h);
  const data = new Uint8Array(w * h * c);
  for (let p = 0; p < w * h; p++) for (let k = 0; k < c; k++) data[p * c + k] = Math.min(255, Math.max(0, rgb[p * 3 + (k % 3)]! + Math.floor(rnd() * 41) - 20));
  return { width: w, height: h, channels: c, data };
}
const bits = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const same = (a: ArrayBufferView, b: ArrayBufferView) => bits(a).equals(bits(b));

describe('fused image kernels equal the separate steps bit for bit', () => {
  const images = [photo(500, 375), photo(97, 131), photo(64, 48, 1), photo(33, 20, 4), photo(1, 7), photo(7, 1)];

  it('a resize computes only a window: equal to cropping the whole result (cv2 and PIL, down, up, 2x, same size)', () => {
    let n = 0;
    for (const img of images) {
      const sizes = [[256, 192], [img.width, img.height], [Math.max(1, img.width >> 1), Math.max(1, img.height >> 1)], [img.width * 2 + 1, img.height + 3], [1 + Math.floor(rnd() * 200), 1 + Math.floor(rnd() * 200)]];
      for (const [w, h] of sizes) {
        for (const lib of ['cv2', 'pil'] as const) {
          const whole = ops.resize(img, w!, h!, lib);
          for (let k = 0; k < 4; k++) {
            const ww = 1 + Math.floor(rnd() * w!); const wh = 1 + Math.floor(rnd() * h!);
            const x = Math.floor(rnd() * (w! - ww + 1)); const y = Math.floor(rnd() * (h! - wh + 1));
            const got = ops.resize(img, w!, h!, lib, { x, y, width: ww, height: wh });
            expect([got.width, got.height]).toEqual([ww, wh]);
            expect(same(got.data, ops.crop(whole, x, y, ww, wh).data), `${lib} ${img.width}x${img.height}x${img.channels} -> ${w}x${h}, window ${ww}x${wh} at ${x},${y}`).toBe(true);
            n++;
          }
        }
      }
    }
    expect(n).toBeGreaterThan(200);
    expect(() => ops.resize(images[0], 10, 10, 'cv2', { x: 5, y: 0, width: 6, height: 1 })).toThrow(expect.objectContaining({ code: 'E_IMAGE_ARG' }));
  });

  it('[channel order], normalise, CHW in one pass (float64 and float32 arithmetic)', () => {
    for (const img of images) {
      for (const arithmetic of ['float64', 'float32'] as const) {
        const o = img.channels === 3 ? { div: 255, mean: MEAN, std: STD, arithmetic } : { div: 127.5, arithmetic };
        for (const swap of [false, true]) {
          const want = ops.toChw(ops.normalizeImage(swap ? ops.swapChannels(img) : img, o));
          const got = ops.normalizeToChw(img, o, swap);
          expect(got.dims).toEqual(want.dims);
          expect(same(got.data, want.data), `${img.width}x${img.height}x${img.channels} ${arithmetic} swap ${swap}`).toBe(true);
        }
      }
    }
  });

  it('the PP-ShiTu detector input: [channel order], normalise, float cv2 resize, CHW without the normalised image', () => {
    for (const img of images) {
      const sizes = [[640, 640], [img.width, img.height], [Math.max(1, img.width >> 1), Math.max(1, img.height >> 1)], [1 + Math.floor(rnd() * 90), 1 + Math.floor(rnd() * 90)]];
      for (const [w, h] of sizes) {
        for (const arithmetic of ['float64', 'float32'] as const) {
          const o = img.channels === 3 ? { div: 255, mean: MEAN, std: STD, arithmetic } : { div: 255, arithmetic };
          for (const swap of [false, true]) {
            const want = ops.toChw(ops.resizeImage(ops.normalizeImage(swap ? ops.swapChannels(img) : img, o), w!, h!, 'cv2'));
            const got = ops.normalizeResizeChw(img, w!, h!, o, swap);
            expect(got.dims).toEqual(want.dims);
            expect(same(got.data, want.data), `${img.width}x${img.height}x${img.channels} -> ${w}x${h} ${arithmetic} swap ${swap}`).toBe(true);
          }
        }
      }
    }
  });
});

const io = { feeds: ['x'], fetches: ['y'], inputShape: [-1, 3, 224, 224] };
const recipes = {
  imagenet: imagenetRecipe(io, 'l.txt').pipeline,
  pptsm: pptsmRecipe({ feeds: ['x'], fetches: ['y'] }, 'l.txt').pipeline,
  pptsn: pptsnRecipe({ feeds: ['x'], fetches: ['y'] }, 'l.txt').pipeline,
  ppshitu: ppshituRecipe({ feeds: ['image', 'im_shape', 'scale_factor'], fetches: ['rows', 'counts'] }, io).pipeline,
};
/** the recipe's steps checked and prepared (no models: planning only reads the graph) */
function stepsOf(p: any) {
  const checked = checkPipeline(p);
  return { steps: checked.steps.map((s: any) => ({ ...s, kind: STEPS[s.op] })), response: checked.response };
}
const unitNames = (p: any) => { const { steps, response } = stepsOf(p); return planUnits(steps, response).map((u: any) => u.members.map((m: any) => m.name)); };

describe('the runner groups image steps into chains', () => {
  it('each recipe: the steps that only feed each other form one chain, a value read twice ends one', () => {
    expect(unitNames(recipes.imagenet)).toEqual([['images'], ['decoded', 'resized', 'cropped', 'rgb', 'normalized', 'chw', 'batch'], ['scores'], ['top1']]);
    expect(unitNames(recipes.pptsm)).toEqual([['frames'], ['sampled', 'scaled', 'cropped', 'normalized', 'chw', 'batch'], ['logits'], ['probs'], ['top1']]);
    expect(unitNames(recipes.pptsn)).toEqual([['frames'], ['sampled', 'scaled', 'cropped', 'normalized', 'chw', 'batch'], ['logits'], ['probs'], ['top1']]);
    const shitu = unitNames(recipes.ppshitu);
    // decoded is read by the detector's chain, det_info, det_boxes and crop_boxes: it stands alone
    expect(shitu).toContainEqual(['decoded']);
    expect(shitu).toContainEqual(['det_rgb', 'det_norm', 'det_resized', 'det_chw', 'det_batch']);
    expect(shitu).toContainEqual(['crops', 'rec_rgb', 'rec_resized', 'rec_norm', 'rec_chw', 'rec_batch']);
  });

  it('a value the response shows, or a step reading two values, ends a chain', () => {
    const p = structuredClone(recipes.imagenet);
    p.response = { ...p.response, shown: 'cropped' };
    expect(unitNames(p)).toContainEqual(['decoded', 'resized', 'cropped']);
    expect(unitNames(p)).toContainEqual(['rgb', 'normalized', 'chw', 'batch']);
  });

  it('a model takes a tensor uncopied only when no other step reads it (through a one-tensor stack too)', () => {
    const soleOf = (p: any, step: string) => { const { steps, response } = stepsOf(p); return [...planUnits(steps, response).find((u: any) => u.head.name === step).sole]; };
    expect(soleOf(recipes.imagenet, 'scores')).toEqual(['feeds.x']);
    expect(soleOf(recipes.pptsm, 'logits')).toEqual(['feeds.x']);
    // det_info is read twice (im_shape and scale_factor): those two are copied
    expect(soleOf(recipes.ppshitu, 'detection')).toEqual(['feeds.image']);
    const p = structuredClone(recipes.imagenet);
    p.response = { ...p.response, shown: 'chw' };
    // batch is chw itself when one image comes: moving it would empty what the response shows
    expect(soleOf(p, 'scores')).toEqual([]);
    // a scale that keeps an image which fits passes it on as it is: while another step still reads the
    // decoded image, the model must not take it (decoded -> scale_fixed_ratio -> stack -> model)
    const q = structuredClone(recipes.imagenet);
    q.steps = {
      images: q.steps.images, decoded: q.steps.decoded,
      kept: { op: 'scale_fixed_ratio', in: 'decoded', short_size: 224 },
      batch: { op: 'stack', in: 'kept' },
      scores: { ...q.steps.scores, feeds: { x: 'batch' } },
      other: { op: 'to_chw', in: 'decoded' },
    };
    q.response = { s: 'scores.y', o: 'other' };
    expect(soleOf(q, 'scores')).toEqual([]);
    delete q.steps.other;
    q.response = { s: 'scores.y' };
    expect(soleOf(q, 'scores')).toEqual(['feeds.x']);
  });

  it('the recipes\' chains use the fused kernels', () => {
    const stagesOf = (names: string[], p: any) => {
      const { steps } = stepsOf(p);
      return compileChain(names.map((n) => { const s = steps.find((x: any) => x.name === n); return { op: s.op, params: s.params, step: s.name }; })).map((st: any) => st.steps);
    };
    expect(stagesOf(['decoded', 'resized', 'cropped', 'rgb', 'normalized', 'chw', 'batch'], recipes.imagenet)).toEqual([['decoded', 'resized', 'cropped', 'rgb', 'normalized', 'chw'], ['batch']]);
    expect(stagesOf(['det_rgb', 'det_norm', 'det_resized', 'det_chw', 'det_batch'], recipes.ppshitu)).toEqual([['det_rgb', 'det_norm', 'det_resized', 'det_chw'], ['det_batch']]);
    expect(stagesOf(['crops', 'rec_rgb', 'rec_resized', 'rec_norm', 'rec_chw', 'rec_batch'], recipes.ppshitu)).toEqual([['crops'], ['rec_rgb', 'rec_resized', 'rec_norm', 'rec_chw'], ['rec_batch']]);
    expect(stagesOf(['sampled', 'scaled', 'cropped', 'normalized', 'chw', 'batch'], recipes.pptsm)).toEqual([['sampled'], ['scaled', 'cropped', 'normalized', 'chw'], ['batch']]);
  });
});

describe('a chain gives what its steps give one by one', () => {
  /** every member run alone through STEPS, in order */
  const oneByOne = async (members: any[], inputs: any) => {
    let v = inputs;
    for (const m of members) v = { in: await STEPS[m.op].run(m.params, v, { step: m.step }) };
    return v.in;
  };
  const membersOf = (p: any, names: string[]) => {
    const { steps } = stepsOf(p);
    return names.map((n) => { const s = steps.find((x: any) => x.name === n); return { op: s.op, params: s.params, step: s.name }; });
  };
  const bmp = (w: number, h: number) => encodeBmp(w, h, photo(w, h).data);

  it('classification, the PP-ShiTu detector and crops, PP-TSM frames: the same tensors', async () => {
    for (const [w, h] of [[500, 375], [300, 533], [256, 256], [640, 640]] as const) {
      const m = membersOf(recipes.imagenet, ['decoded', 'resized', 'cropped', 'rgb', 'normalized', 'chw', 'batch']);
      const inputs = { in: [bmp(w, h), bmp(h, w)] };
      const got = await runChain(m, inputs);
      const want = await oneByOne(m, inputs);
      expect(got.dims).toEqual([2, 3, 224, 224]);
      expect(same(got.data, want.data), `imagenet ${w}x${h}`).toBe(true);

      const det = membersOf(recipes.ppshitu, ['det_rgb', 'det_norm', 'det_resized', 'det_chw', 'det_batch']);
      const img = photo(w, h);
      const gd = await runChain(det, { in: [img] });
      expect(same(gd.data, (await oneByOne(det, { in: [img] })).data), `det ${w}x${h}`).toBe(true);

      const rec = membersOf(recipes.ppshitu, ['crops', 'rec_rgb', 'rec_resized', 'rec_norm', 'rec_chw', 'rec_batch']);
      const boxes = [{ bbox: [10.7, 20.2, w / 2 + 3.5, h - 1] }, { bbox: [0, 0, w, h] }, { bbox: [w - 50, h - 30, w, h] }];
      const gr = await runChain(rec, { in: [img], boxes });
      expect(gr.dims).toEqual([3, 3, 224, 224]);
      expect(same(gr.data, (await oneByOne(rec, { in: [img], boxes })).data), `rec ${w}x${h}`).toBe(true);

      const tsm = membersOf(recipes.pptsm, ['sampled', 'scaled', 'cropped', 'normalized', 'chw', 'batch']);
      const frames = Array.from({ length: 9 }, () => photo(w >> 1, h >> 1));
      const gt = await runChain(tsm, { in: frames });
      expect(gt.dims).toEqual([1, 8, 3, 224, 224]);
      expect(same(gt.data, (await oneByOne(tsm, { in: frames })).data), `pptsm ${w}x${h}`).toBe(true);
    }
  });

  it('PP-TSN frames (25 of 30 sampled, cv2 scale, ten crops with flips): the same [1, 250, 3, 224, 224] tensor', async () => {
    const tsn = membersOf(recipes.pptsn, ['sampled', 'scaled', 'cropped', 'normalized', 'chw', 'batch']);
    const frames = Array.from({ length: 30 }, () => photo(200, 150));
    const got = await runChain(tsn, { in: frames });
    expect(got.dims).toEqual([1, 250, 3, 224, 224]);
    expect(same(got.data, (await oneByOne(tsn, { in: frames })).data)).toBe(true);
  });

  it('random chains of image steps: the same result, or the same error from the same step', async () => {
    const norm = () => ({ div: 255, mean: MEAN, std: STD, arithmetic: rnd() < 0.5 ? 'float64' : 'float32' });
    const size = () => 1 + Math.floor(rnd() * 90);
    const lib = () => (rnd() < 0.5 ? 'cv2' : 'pil');
    const ops_ = [
      () => ({ op: 'channel_order', params: {} }),
      () => ({ op: 'resize_short', params: { size: size(), library: lib() } }),
      () => ({ op: 'resize', params: { width: size(), height: size(), library: rnd() < 0.8 ? 'cv2' : 'pil' } }),
      () => ({ op: 'scale_fixed_ratio', params: { short_size: size(), library: lib() } }),
      () => ({ op: 'center_crop', params: { size: size(), rounding: rnd() < 0.5 ? 'floor' : 'round' } }),
      () => ({ op: 'normalize', params: norm() }),
      () => ({ op: 'to_chw', params: {} }),
    ];
    // the recipes' shapes, then arbitrary ones
    const shapes = [[0, 1, 4, 5, 6], [5, 2, 6], [0, 5, 2, 6], [0, 2, 5, 6], [0, 1, 4, 5, 6], [3, 4, 5, 6], [0, 3, 4, 5, 6]];
    let same_ = 0; let errors = 0;
    for (let t = 0; t < 160; t++) {
      const shape = t < shapes.length * 6 ? shapes[t % shapes.length]! : Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => Math.floor(rnd() * ops_.length));
      const members = shape.map((k, i) => ({ ...ops_[k]!(), step: `s${i}` }));
      const img = photo(1 + Math.floor(rnd() * 120), 1 + Math.floor(rnd() * 120));
      const inputs = { in: rnd() < 0.3 ? [img, photo(40, 30)] : img };
      let want: any; let wantErr: any;
      try { want = await oneByOne(members, inputs); } catch (e) { wantErr = e; }
      let got: any; let gotErr: any;
      try { got = await runChain(members, inputs); } catch (e) { gotErr = e; }
      const what = JSON.stringify(members.map((m) => [m.op, m.params]));
      if (wantErr) {
        errors++;
        expect(gotErr?.message, what).toBe(wantErr.message);
        expect(gotErr?.code, what).toBe(wantErr.code);
        // the step the error belongs to: the one whose run threw when the steps ran one by one
        const failing = await (async () => { let v = inputs; for (const m of members) { try { v = { in: await STEPS[m.op].run(m.params, v, { step: m.step }) }; } catch { return m.step; } } return null; })();
        expect(gotErr?.step, what).toBe(failing);
        continue;
      }
      expect(gotErr, `${what}: ${gotErr?.message}`).toBeUndefined();
      const flat = (v: any): ArrayBufferView[] => (Array.isArray(v) ? v.flatMap(flat) : [v.data]);
      const [a, b] = [flat(got), flat(want)];
      expect(a.length, what).toBe(b.length);
      a.forEach((x, i) => expect(same(x, b[i]!) && x.constructor === b[i]!.constructor, what).toBe(true));
      same_++;
    }
    expect(same_).toBeGreaterThan(60);
    expect(errors).toBeGreaterThan(5);
    // a list whose first image fails at a later step and whose second fails at an earlier one: the
    // steps report the earlier step's error (each step runs over the whole list), and so does the chain
    for (const members of [
      [{ op: 'resize_short', params: { size: 3000, library: 'cv2' }, step: 'r' }, { op: 'center_crop', params: { size: 4000, rounding: 'floor' }, step: 'c' }],
      [{ op: 'channel_order', params: {}, step: 'o' }, { op: 'resize_short', params: { size: 3000, library: 'cv2' }, step: 'r' }, { op: 'center_crop', params: { size: 4000, rounding: 'floor' }, step: 'c' }, { op: 'normalize', params: norm(), step: 'n' }, { op: 'to_chw', params: {}, step: 't' }],
    ]) {
      const inputs = { in: [photo(40, 40), photo(4, 400)] };
      const want = await oneByOne(members, inputs).then(() => null, (e) => e);
      const got = await runChain(members, inputs).then(() => null, (e) => e);
      expect(want?.message).toMatch(/resize/);
      expect(got?.message).toBe(want.message);
      expect(got?.step).toBe('r');
    }
  });

  it('on a step worker and on the HTTP thread alike; a failure names the failing step of the chain', async () => {
    const p = structuredClone(recipes.imagenet);
    delete p.models;
    p.steps = Object.fromEntries(Object.entries(p.steps).filter(([k]) => ['images', 'decoded', 'resized', 'cropped', 'rgb', 'normalized', 'chw', 'batch'].includes(k)));
    p.response = { t: 'batch' };
    const checked = checkPipeline(p);
    const workers = new StepWorkers(1);
    try {
      const off = await preparePipeline(checked, { base: '.', models: {}, stepWorkers: workers, inlineAlone: false });
      const on = await preparePipeline(checked, { base: '.', models: {} });
      const req = { key: ['image'], value: [bmp(321, 250).toString('base64')] };
      const a = await runPipeline(off, req);
      const b = await runPipeline(on, req);
      expect(a.t.dims).toEqual([1, 3, 224, 224]);
      expect(same(a.t.data, b.t.data)).toBe(true);
      // resized to 256 on the short side: a 224 crop fits; a crop of 300 does not, and says so as the crop step
      const big = structuredClone(p);
      big.steps.cropped.size = 300;
      const cb = checkPipeline(big);
      for (const prepared of [await preparePipeline(cb, { base: '.', models: {}, stepWorkers: workers, inlineAlone: false }), await preparePipeline(cb, { base: '.', models: {} })]) {
        await expect(runPipeline(prepared, req)).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/^step "cropped": center_crop: crop 300x300 is larger than the 329x256 image/) });
        await expect(runPipeline(prepared, { key: ['image'], value: ['R0lGODlhAQABAAAAACw='] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/^step "decoded": image 0 cannot be decoded/) });
      }
      // video: the sampler runs here, the worker gets the 8 sampled frames; the same tensor either way
      const v = structuredClone(recipes.pptsm);
      delete v.models;
      v.steps = Object.fromEntries(Object.entries(v.steps).filter(([k]) => ['frames', 'sampled', 'scaled', 'cropped', 'normalized', 'chw', 'batch'].includes(k)));
      v.response = { t: 'batch' };
      const cv = checkPipeline(v);
      const T = 21; const fw = 200; const fh = 150;
      const raw = Buffer.concat(Array.from({ length: T }, () => Buffer.from(photo(fw, fh).data)));
      const vreq = { key: ['frames', 'frames_shape'], value: [raw.toString('base64'), `(${T}, ${fh}, ${fw}, 3)`] };
      const va = await runPipeline(await preparePipeline(cv, { base: '.', models: {}, stepWorkers: workers, inlineAlone: false }), vreq);
      const vb = await runPipeline(await preparePipeline(cv, { base: '.', models: {} }), vreq);
      expect(va.t.dims).toEqual([1, 8, 3, 224, 224]);
      expect(same(va.t.data, vb.t.data)).toBe(true);
    } finally {
      await workers.close();
    }
  });

  it('a request alone runs its chain on the HTTP thread; concurrent ones go to the step workers', async () => {
    const p = structuredClone(recipes.imagenet);
    delete p.models;
    p.steps = Object.fromEntries(Object.entries(p.steps).filter(([k]) => ['images', 'decoded', 'resized', 'cropped', 'rgb', 'normalized', 'chw', 'batch'].includes(k)));
    p.response = { t: 'batch' };
    const workers = new StepWorkers(2);
    let jobs = 0;
    const real = workers.runChain.bind(workers);
    workers.runChain = (m: unknown, i: unknown) => { jobs += 1; return real(m, i); };
    try {
      const prepared = await preparePipeline(checkPipeline(p), { base: '.', models: {}, stepWorkers: workers });
      const req = { key: ['image'], value: [bmp(321, 250).toString('base64')] };
      const alone = await runPipeline(prepared, req);
      expect(jobs).toBe(0);
      const both = await Promise.all([runPipeline(prepared, req), runPipeline(prepared, req)]);
      expect(jobs).toBe(2);
      expect(prepared.active).toBe(0);
      for (const r of both) expect(same(r.t.data, alone.t.data)).toBe(true);
      // a failure alone still leaves the count right
      await expect(runPipeline(prepared, { key: ['image'], value: ['R0lGODlhAQABAAAAACw='] })).rejects.toMatchObject({ status: 400 });
      expect(prepared.active).toBe(0);
      expect(jobs).toBe(2);
      // an image over INLINE_PIXELS goes to a worker even alone: the HTTP thread keeps reading and answering
      const big = await runPipeline(prepared, { key: ['image'], value: [bmp(1400, 800).toString('base64')] });
      expect(jobs).toBe(3);
      expect(big.t.dims).toEqual([1, 3, 224, 224]);
      expect(withinPixels({ in: [bmp(1024, 1024)] }, INLINE_PIXELS)).toBe(true);
      expect(withinPixels({ in: [bmp(1024, 1025)] }, INLINE_PIXELS)).toBe(false);
      expect(withinPixels({ in: [bmp(800, 800), bmp(800, 800)] }, INLINE_PIXELS)).toBe(false);
    } finally {
      await workers.close();
    }
  });
});

describe('top-1 in one scan', () => {
  it('picks what the sort picks: the largest, the first on ties, infinities and -0 as the sort orders them; a NaN row takes the sort', () => {
    const state = { labels: Array.from({ length: 64 }, (_, i) => `l${i}`) };
    const bySort = (row: number[]) => row.map((_, j) => j).sort((a, b) => row[b]! - row[a]! || a - b)[0];
    for (let t = 0; t < 2000; t++) {
      const c = 1 + Math.floor(rnd() * 60);
      const data = Float32Array.from({ length: c * 2 }, () => (rnd() < 0.3 ? Math.floor(rnd() * 3) : rnd() < 0.03 ? -Infinity : rnd() < 0.03 ? Infinity : rnd() - 0.5));
      if (rnd() < 0.05) data[Math.floor(rnd() * data.length)] = NaN;
      if (rnd() < 0.05) data[0] = -0;
      const out = STEPS.topk.run({ k: 1 }, { in: { data, dims: [2, c] } }, { step: 't', state });
      for (let r = 0; r < 2; r++) expect(out.indices[r]).toBe(bySort(Array.from(data.subarray(r * c, (r + 1) * c), Number)));
    }
  });
});

describeShared('decode -> resize in one group: the decoded JPEG is read where the kernels wrote it', () => {
  const dir = shared('pipeline', 'images');
  const jpegs = readdirSync(dir).map((f) => readFileSync(join(dir, f))).filter((b) => b[0] === 0xff && b[1] === 0xd8);
  const oneByOne = async (members: any[], inputs: any) => {
    let v = inputs;
    for (const m of members) v = { in: await STEPS[m.op].run(m.params, v, { step: m.step }) };
    return v.in;
  };
  const datas = (v: any): ArrayBufferView[] => (Array.isArray(v) ? v.flatMap(datas) : [v.data]);
  /** the chain's result, checked against the steps one by one: the same bits, and nothing left in kernel memory */
  const check = async (members: any[], inputs: any, what: string) => {
    let want: any; let wantErr: any;
    try { want = await oneByOne(members, inputs); } catch (e) { wantErr = e; }
    // the kernels' memory scribbled over first: what the chain reads there must be what it wrote (a decode for a
    // cropping resize writes only the rows the resize reads)
    const k = jpegKernels(1 << 16);
    if (k) new Uint8Array(k.memory.buffer).fill(0x5a);
    let got: any; let gotErr: any;
    try { got = await runChain(members, inputs); } catch (e) { gotErr = e; }
    if (wantErr) {
      expect(gotErr?.message, what).toBe(wantErr.message);
      expect(gotErr?.code, what).toBe(wantErr.code);
      return 'error';
    }
    expect(gotErr, `${what}: ${gotErr?.message}`).toBeUndefined();
    const [a, b] = [datas(got), datas(want)];
    expect(a.length, what).toBe(b.length);
    a.forEach((x, i) => {
      expect(same(x, b[i]!) && x.constructor === b[i]!.constructor, what).toBe(true);
      expect(kernelOffset(x as Uint8Array), `${what}: the result is a view of the kernels' memory`).toBe(-1);
    });
    return 'same';
  };

  it('the classification chain on the fixture photos, alone and in lists', async () => {
    expect(jpegs.length).toBeGreaterThanOrEqual(3);
    const m = [
      { op: 'decode_image', params: {}, step: 'd' },
      { op: 'resize_short', params: { size: 256, library: 'cv2' }, step: 'r' },
      { op: 'center_crop', params: { size: 224, rounding: 'floor' }, step: 'c' },
      { op: 'channel_order', params: {}, step: 'o' },
      { op: 'normalize', params: { div: 255, mean: MEAN, std: STD, arithmetic: 'float64' }, step: 'n' },
      { op: 'to_chw', params: {}, step: 't' },
      { op: 'stack', params: {}, step: 's' },
    ];
    expect(compileChain(m).map((st: any) => st.steps)).toEqual([['d', 'r', 'c', 'o', 'n', 't'], ['s']]);
    for (const b of jpegs) expect(await check(m, { in: [b] }, 'one photo')).toBe('same');
    expect(await check(m, { in: jpegs.slice(0, 3) }, 'three photos')).toBe('same');
    // an EXIF rotation met only after the scan (APP1 before EOI): the rows skipped for the crop are needed after
    // all, and the decoder starts again whole
    const exif = Buffer.from([0xff, 0xe1, 0, 34, 0x45, 0x78, 0x69, 0x66, 0, 0, 0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    const late = Buffer.concat([jpegs[0]!.subarray(0, jpegs[0]!.length - 2), exif, Buffer.from([0xff, 0xd9])]);
    expect(STEPS.decode_image.run({}, { in: late }, { step: 'd' }).width).toBe(STEPS.decode_image.run({}, { in: jpegs[0] }, { step: 'd' }).height);
    expect(await check(m, { in: [late] }, 'EXIF after the scan')).toBe('same');
    // (a tall crop of the unrotated image reads few rows; of the rotated one, those rows' far ends)
    const tall = [m[0]!, { op: 'resize', params: { width: 100, height: 300, library: 'cv2' }, step: 'r' }, { op: 'center_crop', params: { size: 90, rounding: 'floor' }, step: 'c' }];
    expect(await check(tall, { in: [late] }, 'EXIF after the scan, tall crop')).toBe('same');
    expect(await check(tall, { in: [jpegs[0]] }, 'tall crop')).toBe('same');
    // what the group hands on when the resize keeps the image (scale_fixed_ratio at its size): a copy of its own
    const first = STEPS.decode_image.run({}, { in: jpegs[0] }, { step: 'd' });
    const keep = [{ op: 'decode_image', params: {}, step: 'd' }, { op: 'scale_fixed_ratio', params: { short_size: Math.min(first.width, first.height), library: 'cv2' }, step: 'k' }];
    expect(await check(keep, { in: [jpegs[0]] }, 'kept size')).toBe('same');
    expect(await check(keep.slice(0, 1).concat([{ op: 'resize_short', params: { size: 100, library: 'cv2' }, step: 'r' }]), { in: jpegs[1] }, 'decode, resize')).toBe('same');
  });

  it('random chains after decode_image: the same result or the same error; a broken JPEG in a list', async () => {
    const size = () => 1 + Math.floor(rnd() * 300);
    const lib = () => (rnd() < 0.7 ? 'cv2' : 'pil');
    const ops_ = [
      () => ({ op: 'channel_order', params: {} }),
      () => ({ op: 'resize_short', params: { size: size(), library: lib() } }),
      () => ({ op: 'resize', params: { width: size(), height: size(), library: lib() } }),
      () => ({ op: 'scale_fixed_ratio', params: { short_size: size(), library: lib() } }),
      () => ({ op: 'center_crop', params: { size: size(), rounding: rnd() < 0.5 ? 'floor' : 'round' } }),
      () => ({ op: 'normalize', params: { div: 255, mean: MEAN, std: STD, arithmetic: rnd() < 0.5 ? 'float64' : 'float32' } }),
      () => ({ op: 'to_chw', params: {} }),
    ];
    const outcomes = { same: 0, error: 0 };
    for (let t = 0; t < 40; t++) {
      const shape = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => Math.floor(rnd() * ops_.length));
      const members = [{ op: 'decode_image', params: {}, step: 'd' }, ...shape.map((k, i) => ({ ...ops_[k]!(), step: `s${i}` }))];
      const pick = () => jpegs[Math.floor(rnd() * jpegs.length)]!;
      outcomes[await check(members, { in: rnd() < 0.3 ? [pick(), pick()] : pick() }, JSON.stringify(members.map((m) => [m.op, m.params])))]++;
    }
    expect(outcomes.same).toBeGreaterThan(15);
    // the second image broken, the first failing at a later step: the decode error, as one step after another
    const members = [{ op: 'decode_image', params: {}, step: 'd' }, { op: 'resize_short', params: { size: 100, library: 'cv2' }, step: 'r' }, { op: 'center_crop', params: { size: 4000, rounding: 'floor' }, step: 'c' }];
    const broken = Buffer.from(jpegs[0]!.subarray(0, 300));
    expect(await check(members, { in: [jpegs[1], broken] }, 'broken second')).toBe('error');
    await expect(runChain(members, { in: [jpegs[1], broken] })).rejects.toMatchObject({ step: 'd', message: expect.stringMatching(/^step "d": image 1 cannot be decoded/) });
  });
});
