/**
 * Pipeline bundles end to end (issue 11, "Done when"): the recipes write bundles from Paddle models
 * converted natively; each bundle is started from its folder with only `node server.mjs` and gets
 * the EXACT bodies the seeds' clients send (json.dumps of base64 images, raw RGB frames of
 * example.avi decoded by python3-opencv as PaddleVideo's client does). The answers must be
 * err_no 0 with key/value in upstream's format, and their numbers must match numpy computing the
 * same known models on tensors prepared by OpenCV / PIL following FORMATS §8.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBundleServer, type RunningServer } from '../src/bundle/smoke.js';
import { PADDLECLAS_NMS_PY, PY, cli, cliJson, describeShared, pyHas, shared, tempDir } from './helpers.js';
import { detectorOnnx, withMadeParams, writeDetectorServing, writeImagenetModel, writeTsnModel, writeVideoModel, type LinearHead } from './pipeline-models.js';
import { makeZooParams, setParams } from './zoo-params.js';

const HAVE_CV2 = pyHas('cv2, numpy, PIL');

type Running = RunningServer;
const startBundle = (dir: string): Promise<Running> => startBundleServer(dir, []);

function stop(r: Running | undefined): void {
  if (r && r.child.exitCode === null) r.child.kill('SIGTERM');
}

/** json.dumps(obj) as Python writes it: ", " and ": " separators */
function pyJsonDumps(keys: string[], values: string[]): string {
  return `{"key": [${keys.map((k) => JSON.stringify(k)).join(', ')}], "value": [${values.map((v) => JSON.stringify(v)).join(', ')}]}`;
}

// no keep-alive: the oracles take seconds between requests, and a server may close an idle
// connection just as the client reuses it
const fresh = new Agent({ pipelining: 0 });

async function post(url: string, body: string): Promise<{ status: number; json: { err_no: number; err_msg: string; key: string[]; value: string[]; tensors: unknown[] } }> {
  const r = await fetch(url, { method: 'POST', body, dispatcher: fresh });
  return { status: r.status, json: await r.json() as never };
}

/** eval() of the value strings the clients read: Python literal -> JSON via ast.literal_eval */
function pyEval(values: string[]): unknown[] {
  const r = spawnSync(PY, ['-c', 'import ast,json,sys\nprint(json.dumps([ast.literal_eval(v) for v in json.load(sys.stdin)]))'], { input: JSON.stringify(values), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as unknown[];
}

function runPy(script: string, args: string[]): string {
  const r = spawnSync(PY, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`python: ${r.stderr}`);
  return r.stdout;
}

const writeHead = (file: string, h: LinearHead) => writeFileSync(file, JSON.stringify({ w: Array.from(h.w), b: Array.from(h.b), in: h.inFeatures, classes: h.classes }));

// FORMATS §8 A with cv2 + numpy, then the known model: 4x4 block means, fc, softmax
const IMAGENET_ORACLE = `
import sys, json, cv2, numpy as np
img = cv2.imdecode(np.frombuffer(open(sys.argv[1],'rb').read(), np.uint8), cv2.IMREAD_COLOR)
h, w = img.shape[:2]
p = 256 / min(h, w)
img = cv2.resize(img, (int(round(w * p)), int(round(h * p))), interpolation=cv2.INTER_LINEAR)
h, w = img.shape[:2]
y, x = (h - 224) // 2, (w - 224) // 2
img = img[y:y+224, x:x+224][:, :, ::-1]
t = img.transpose((2, 0, 1)) / 255.0
t = (t - np.array([0.485, 0.456, 0.406]).reshape(3,1,1)) / np.array([0.229, 0.224, 0.225]).reshape(3,1,1)
t = t.astype('float32')
feat = t.reshape(3, 4, 56, 4, 56).mean(axis=(2, 4)).reshape(48).astype('float64')
hd = json.load(open(sys.argv[2]))
W = np.array(hd['w'], dtype='float32').reshape(hd['in'], hd['classes']).astype('float64')
z = feat @ W + np.array(hd['b'], dtype='float64')
e = np.exp(z - z.max()); pr = e / e.sum()
labels = [l.strip().replace(',', '') for l in open(sys.argv[3])]
print(json.dumps({'label': labels[int(pr.argmax())], 'prob': float(pr.max())}))
`;

describeShared('pipeline bundle: --recipe imagenet answers PaddleClas pipeline_http_client.py', () => {
  const dir = tempDir('pserve-pipe-cls-');
  let server: Running | undefined;
  let head: LinearHead;
  const bundle = join(dir, 'bundle');
  beforeAll(async () => {
    head = writeImagenetModel(join(dir, 'model'));
    const c = cli(['convert', '--dirname', join(dir, 'model'), '--serving_server', join(dir, 'serving_server'), '--serving_client', join(dir, 'serving_client'), '--feed_alias_names', 'inputs', '--fetch_alias_names', 'prediction']);
    expect(c.code, c.stderr).toBe(0);
    const b = cliJson<{ ok: boolean; name: string; port: number; models: unknown[] }>(['bundle', '--recipe', 'imagenet', '--serving_server', join(dir, 'serving_server'), '--labels', shared('pipeline', 'labels', 'imagenet.label'), '--out', bundle]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json).toMatchObject({ ok: true, name: 'imagenet', port: 18080 });
    server = await startBundle(bundle);
  }, 120000);
  afterAll(() => stop(server));

  it('writes the service name, the seed port, every threshold of §8 A and the labels into the bundle', () => {
    const yml = readFileSync(join(bundle, 'config.yml'), 'utf8');
    expect(yml).toMatch(/^http_port: 18080$/m);
    expect(yml).toMatch(/^ {2}imagenet:$/m);
    for (const s of ['op: resize_short', 'size: 256', 'op: center_crop', 'size: 224', 'rounding: floor', 'mean: [0.485, 0.456, 0.406]', 'std: [0.229, 0.224, 0.225]', 'label_format: strip_comma']) expect(yml).toContain(s);
    expect(readFileSync(join(bundle, 'labels', 'imagenet.label'), 'utf8')).toBe(readFileSync(shared('pipeline', 'labels', 'imagenet.label'), 'utf8'));
    const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as { files: { path: string }[]; pipeline: { recipe: string } };
    expect(manifest.pipeline.recipe).toBe('imagenet');
    for (const p of ['server/pipeline/pipeline.mjs', 'server/pipeline/steps.mjs', 'server/image/decode.mjs', 'models/imagenet/model.onnx']) expect(manifest.files.map((f) => f.path)).toContain(p);
  });

  it.skipIf(!HAVE_CV2)('daisy.jpg as the client sends it: err_no 0, label and prob as Python str(), the numbers of cv2 + numpy', async () => {
    const img = shared('pipeline', 'images', 'daisy.jpg');
    const body = pyJsonDumps(['image'], [readFileSync(img).toString('base64')]);
    const r = await post(`${server!.url}/imagenet/prediction`, body);
    expect(r.status).toBe(200);
    expect(r.json.err_no, r.json.err_msg).toBe(0);
    expect(r.json).toMatchObject({ err_msg: '', key: ['label', 'prob'], tensors: [] });
    expect(r.json.value[0]).toMatch(/^\['[^']+'\]$/);
    expect(r.json.value[1]).toMatch(/^\[\d\.\d+(e-\d+)?\]$/);
    const [labels, probs] = pyEval(r.json.value) as [string[], number[]];
    writeHead(join(dir, 'head.json'), head);
    const want = JSON.parse(runPy(IMAGENET_ORACLE, [img, join(dir, 'head.json'), shared('pipeline', 'labels', 'imagenet.label')])) as { label: string; prob: number };
    expect(labels).toEqual([want.label]);
    expect(Math.abs(probs[0]! - want.prob)).toBeLessThan(1e-5);
  }, 60000);

  it.skipIf(!HAVE_CV2)('several keys make a batch, answered in key order; the plain JSON route gives the same numbers', async () => {
    const imgs = ['daisy.jpg', 'ILSVRC2012_val_00010010.jpeg'].map((n) => shared('pipeline', 'images', n));
    const body = pyJsonDumps(['a', 'b'], imgs.map((p) => readFileSync(p).toString('base64')));
    const r = await post(`${server!.url}/imagenet/prediction`, body);
    expect(r.json.err_no, r.json.err_msg).toBe(0);
    // both routes before the (slow) oracles: an idle keep-alive connection may be closed by the server meanwhile
    const j = await fetch(`${server!.url}/pserve/pipeline/imagenet`, { method: 'POST', body, dispatcher: fresh });
    const plain = await j.json() as { ok: boolean; result: { label: string[]; prob: number[] } };
    // a gzip body (Content-Encoding) reads as on a model bundle's routes
    const gz = await fetch(`${server!.url}/pserve/pipeline/imagenet`, { method: 'POST', body: gzipSync(Buffer.from(body)), headers: { 'content-encoding': 'gzip' }, dispatcher: fresh });
    const zipped = await gz.json();
    const [labels, probs] = pyEval(r.json.value) as [string[], number[]];
    expect(labels).toHaveLength(2);
    for (const [i, p] of imgs.entries()) {
      const want = JSON.parse(runPy(IMAGENET_ORACLE, [p, join(dir, 'head.json'), shared('pipeline', 'labels', 'imagenet.label')])) as { label: string; prob: number };
      expect(labels[i]).toBe(want.label);
      expect(Math.abs(probs[i]! - want.prob)).toBeLessThan(1e-5);
    }
    expect(plain.ok).toBe(true);
    expect(plain.result.label).toEqual(labels);
    expect(plain.result.prob).toEqual(probs);
    expect(zipped).toEqual(plain);
  }, 60000);

  it('a pipeline is data: config.yml edited (top-3 with scores, softmax added), the same bundle answers the new shape without code', async () => {
    const edited = join(dir, 'edited');
    cpSync(bundle, edited, { recursive: true });
    const yml = readFileSync(join(edited, 'config.yml'), 'utf8');
    const top = yml.indexOf('    top1:');
    expect(top).toBeGreaterThan(0);
    writeFileSync(join(edited, 'config.yml'), `${yml.slice(0, top)}    probs:\n      op: softmax\n      in: scores.prediction\n${yml.slice(top).replace('in: scores.prediction', 'in: probs').replace('k: 1', 'k: 3')}`);
    const s = await startBundle(edited);
    try {
      const r = await post(`${s.url}/imagenet/prediction`, pyJsonDumps(['image'], [readFileSync(shared('pipeline', 'images', 'daisy.jpg')).toString('base64')]));
      expect(r.json.err_no, r.json.err_msg).toBe(0);
      const [labels, probs] = pyEval(r.json.value) as [string[][], number[][]];
      expect(labels[0]).toHaveLength(3);
      expect(probs[0]![0]!).toBeGreaterThanOrEqual(probs[0]![1]!);
    } finally { stop(s); }
    // a wrong parameter in the edited file: the server refuses to start, naming the step
    writeFileSync(join(edited, 'config.yml'), readFileSync(join(edited, 'config.yml'), 'utf8').replace('k: 3', 'k: three'));
    const r = spawnSync(process.execPath, ['server.mjs', '--port', '0'], { cwd: edited, encoding: 'utf8', timeout: 60000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/pipeline step "top1" \(op topk\): "k" must be an integer/);
  }, 60000);

  it('overlapping requests (batched runs, model inputs handed back and written again, step workers): each answer is its image\'s answer alone', async () => {
    const photos = readdirSync(shared('pipeline', 'images')).map((n) => readFileSync(shared('pipeline', 'images', n)).toString('base64'));
    const alone: string[][] = [];
    for (const p of photos) {
      const r = await post(`${server!.url}/imagenet/prediction`, pyJsonDumps(['image'], [p]));
      expect(r.json.err_no, r.json.err_msg).toBe(0);
      alone.push(r.json.value);
    }
    const want = pyEval(alone.flat()) as (string[] | number[])[];
    // requests of 1-3 photos at once, in rounds of overlapping requests, with a broken image now and then
    let k = 7;
    const next = () => { k = (k * 48271) % 2147483647; return k; };
    for (let round = 0; round < 4; round++) {
      const reqs = Array.from({ length: 12 }, () => Array.from({ length: 1 + (next() % 3) }, () => next() % (photos.length + 1)));
      const answers = await Promise.all(reqs.map((ids) => post(`${server!.url}/imagenet/prediction`, pyJsonDumps(ids.map((_, i) => `k${i}`), ids.map((i) => photos[i] ?? Buffer.from('not an image').toString('base64'))))));
      const evals = pyEval(answers.flatMap((r) => (r.json.err_no === 0 ? r.json.value : []))) as (string[] | number[])[];
      let at = 0;
      answers.forEach((r, n) => {
        const ids = reqs[n]!;
        if (ids.some((i) => i === photos.length)) { expect(r.json.err_no).toBe(5000); return; }
        expect(r.json.err_no, r.json.err_msg).toBe(0);
        const labels = evals[at++]!, probs = evals[at++]!;
        ids.forEach((i, j) => expect([labels[j], probs[j]], `round ${round} request ${n} key ${j}`).toEqual([want[2 * i]![0], want[2 * i + 1]![0]]));
      });
    }
  }, 120000);

  it('bad requests: a wrong service name is err_no 3002, an image that does not decode is err_no 5000 naming it', async () => {
    const wrong = await post(`${server!.url}/nosuch/prediction`, pyJsonDumps(['image'], ['AAAA']));
    expect(wrong.json.err_no).toBe(3002);
    const bad = await post(`${server!.url}/imagenet/prediction`, pyJsonDumps(['image'], [Buffer.from('not an image').toString('base64')]));
    expect(bad.json.err_no).toBe(5000);
    expect(bad.json.err_msg).toMatch(/image 0 cannot be decoded/);
    expect(bad.json.value).toEqual([]);
  });
});

describe('pserve bundle --recipe: refused before anything is written', () => {
  const dir = tempDir('pserve-pipe-bad-');
  it('a missing --labels, --det without ppshitu, an unknown recipe', () => {
    writeImagenetModel(join(dir, 'model'));
    expect(cli(['convert', '--dirname', join(dir, 'model'), '--serving_server', join(dir, 'ss'), '--serving_client', join(dir, 'sc')]).code).toBe(0);
    const noLabels = cli(['bundle', '--recipe', 'imagenet', '--serving_server', join(dir, 'ss'), '--out', join(dir, 'b1')]);
    expect(noLabels.code).toBe(2);
    expect(noLabels.stderr).toMatch(/E_USAGE.*--labels is required/);
    const det = cli(['bundle', '--recipe', 'imagenet', '--serving_server', join(dir, 'ss'), '--det', dir, '--labels', join(dir, 'model', 'inference.pdmodel'), '--out', join(dir, 'b2')]);
    expect(det.code).toBe(2);
    expect(det.stderr).toMatch(/--det applies to --recipe ppshitu only/);
    const unknown = cli(['bundle', '--recipe', 'resnet', '--serving_server', join(dir, 'ss'), '--out', join(dir, 'b3')]);
    expect(unknown.code).toBe(2);
    expect(existsSync(join(dir, 'b1')) || existsSync(join(dir, 'b2')) || existsSync(join(dir, 'b3'))).toBe(false);
  });
});

// FORMATS §8 C with PIL + numpy on frames decoded as PaddleVideo's client decodes them, then the known model
const VIDEO_CLIENT = `
import sys, cv2, numpy as np
cap = cv2.VideoCapture(sys.argv[1])
frames = []
while True:
    ok, f = cap.read()
    if not ok: break
    frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
a = np.stack(frames)
open(sys.argv[2], 'wb').write(a.tobytes())
print(str(a.shape))
`;

const VIDEO_ORACLE = `
import sys, json, numpy as np
from PIL import Image
shape = tuple(int(x) for x in sys.argv[2].strip('()').split(','))
a = np.frombuffer(open(sys.argv[1],'rb').read(), np.uint8).reshape(shape)
T = shape[0]; avg = int(T / 8)
idx = [((avg - 1) // 2 + i * avg) % T if avg >= 1 else i % T for i in range(8)]
imgs = []
for i in idx:
    im = Image.fromarray(a[i], mode='RGB')
    w, h = im.size
    if not ((w <= h and w == 256) or (h <= w and h == 256)):
        im = im.resize((256, int(256 * 4.0 / 3.0)) if w <= h else (int(256 * 4.0 / 3.0), 256), Image.BILINEAR)
    w, h = im.size
    x1, y1 = int(round((w - 224) / 2.0)), int(round((h - 224) / 2.0))
    imgs.append(im.crop((x1, y1, x1 + 224, y1 + 224)))
t = np.stack(imgs).astype('float32').transpose(0, 3, 1, 2)
t = t / 255.0
t -= np.array([0.485, 0.456, 0.406]).reshape(3,1,1).astype(np.float32)
t /= np.array([0.229, 0.224, 0.225]).reshape(3,1,1).astype(np.float32)
feat = t.reshape(24, 2, 112, 2, 112).mean(axis=(2, 4)).reshape(96).astype('float64')
hd = json.load(open(sys.argv[3]))
W = np.array(hd['w'], dtype='float32').reshape(hd['in'], hd['classes']).astype('float64')
z = feat @ W + np.array(hd['b'], dtype='float64')
e = np.exp(z - z.max()); pr = e / e.sum()
names = {int(l.split(' ')[0]): l.strip().split(' ')[1] for l in open(sys.argv[4])}
print(json.dumps({'label': names[int(pr.argmax())], 'prob': float(pr.max()), 'idx': idx}))
`;

describeShared('pipeline bundle: --recipe pptsm answers PaddleVideo pipeline_http_client.py', () => {
  const dir = tempDir('pserve-pipe-video-');
  let server: Running | undefined;
  let head: LinearHead;
  const bundle = join(dir, 'bundle');
  beforeAll(async () => {
    head = writeVideoModel(join(dir, 'model'));
    const c = cli(['convert', '--dirname', join(dir, 'model'), '--serving_server', join(dir, 'serving_server'), '--serving_client', join(dir, 'serving_client'), '--fetch_alias_names', 'outputs']);
    expect(c.code, c.stderr).toBe(0);
    const b = cliJson<{ ok: boolean; name: string; port: number; maxBodyBytes: number }>(['bundle', '--recipe', 'pptsm', '--serving_server', join(dir, 'serving_server'), '--labels', shared('pipeline', 'labels', 'Kinetics-400_label_list.txt'), '--out', bundle]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json).toMatchObject({ ok: true, name: 'video', port: 18080 });
    expect(b.json.maxBodyBytes).toBeGreaterThan(64 * 1024 * 1024);
    server = await startBundle(bundle);
  }, 120000);
  afterAll(() => stop(server));

  it.skipIf(!pyHas('cv2, numpy, PIL'))('example.avi as the client sends it (40 MB of JSON): err_no 0, label and prob of PIL + numpy', async () => {
    const raw = join(dir, 'frames.raw');
    const shape = runPy(VIDEO_CLIENT, [shared('pipeline', 'video', 'example.avi'), raw]).trim();
    expect(shape).toMatch(/^\(\d+, 240, 320, 3\)$/);
    const body = pyJsonDumps(['frames', 'frames_shape'], [readFileSync(raw).toString('base64'), shape]);
    expect(body.length).toBeGreaterThan(30_000_000);
    const r = await post(`${server!.url}/video/prediction`, body);
    expect(r.status).toBe(200);
    expect(r.json.err_no, r.json.err_msg).toBe(0);
    expect(r.json.key).toEqual(['label', 'prob']);
    const [labels, probs] = pyEval(r.json.value) as [string[], number[]];
    writeHead(join(dir, 'head.json'), head);
    const want = JSON.parse(runPy(VIDEO_ORACLE, [raw, shape, join(dir, 'head.json'), shared('pipeline', 'labels', 'Kinetics-400_label_list.txt')])) as { label: string; prob: number; idx: number[] };
    if (shape.startsWith('(131,')) expect(want.idx).toEqual([7, 23, 39, 55, 71, 87, 103, 119]);
    expect(labels).toEqual([want.label]);
    expect(Math.abs(probs[0]! - want.prob)).toBeLessThan(1e-5);
  }, 120000);

  it('frames whose size does not match the shape string, a shape that is code, an unexpected key: err_no 5000', async () => {
    const frames = Buffer.alloc(2 * 4 * 4 * 3, 7).toString('base64');
    const short = await post(`${server!.url}/video/prediction`, pyJsonDumps(['frames', 'frames_shape'], [frames, '(3, 4, 4, 3)']));
    expect(short.json.err_no).toBe(5000);
    expect(short.json.err_msg).toMatch(/cannot be reshaped/);
    const code = await post(`${server!.url}/video/prediction`, pyJsonDumps(['frames', 'frames_shape'], [frames, "__import__('os').system('true')"]));
    expect(code.json.err_no).toBe(5000);
    expect(code.json.err_msg).toMatch(/expected a shape/);
    const key = await post(`${server!.url}/video/prediction`, pyJsonDumps(['frames', 'frames_shape', 'x'], [frames, '(2, 4, 4, 3)', '1']));
    expect(key.json.err_msg).toMatch(/unexpected key received: x/);
  });

  it('pserve smoke sends generated frames in the client\'s form and passes', () => { expectVideoSmoke(bundle); }, 60000);
});


// PaddleVideo's PP-TSN serving preprocessing (recognition_web_service.py -n PPTSN) with PIL + cv2 + numpy:
// Sampler(25, 1, valid_mode=True, select_left=True) over the frames as PIL images, Scale(256,
// fixed_ratio=True, do_round=True, backend='cv2') (cv2.resize of the array, back to PIL), TenCrop(224)
// (PIL crop + FLIP_LEFT_RIGHT), Image2Array, Normalization in float32; writes [250,3,224,224] float32
const TSN_TENSOR = `
import sys, json, cv2, numpy as np
from PIL import Image
shape = tuple(int(x) for x in sys.argv[2].strip('()').split(','))
a = np.frombuffer(open(sys.argv[1],'rb').read(), np.uint8).reshape(shape)
T = shape[0]
if T > 25:
    avg = T / 25
    idx = [int(avg / 2.0 + avg * i) for i in range(25)]
else:
    idx = [0] * 25
imgs = []
for i in idx:
    im = Image.fromarray(a[i % T], mode='RGB')
    w, h = im.size
    if not ((w <= h and w == 256) or (h <= w and h == 256)):
        ow, oh = (256, int(256 * 4.0 / 3.0)) if w <= h else (int(256 * 4.0 / 3.0), 256)
        im = Image.fromarray(cv2.resize(np.asarray(im), (ow, oh), interpolation=cv2.INTER_LINEAR))
    imgs.append(im)
w, h = imgs[0].size
ws, hs = (w - 224) // 4, (h - 224) // 4
crops = []
for x, y in [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]:
    c = [im.crop((x, y, x + 224, y + 224)) for im in imgs]
    crops.extend(c)
    crops.extend([im.transpose(Image.FLIP_LEFT_RIGHT) for im in c])
t = np.stack(crops).astype('float32').transpose(0, 3, 1, 2)
t = t / 255.0
t -= np.array([0.485, 0.456, 0.406]).reshape(3,1,1).astype(np.float32)
t /= np.array([0.229, 0.224, 0.225]).reshape(3,1,1).astype(np.float32)
np.ascontiguousarray(t, dtype='<f4').tofile(sys.argv[3])
print(json.dumps({'idx': idx, 'scaled': [w, h], 'shape': list(t.shape)}))
`;

// the PP-TSN-shaped model in numpy on that tensor: 112x112 block means of the 750 planes, fc, softmax (float64)
const TSN_MODEL = `
import sys, json, numpy as np
t = np.fromfile(sys.argv[1], '<f4').reshape(750, 2, 112, 2, 112).astype('float64')
feat = t.mean(axis=(2, 4)).reshape(3000)
hd = json.load(open(sys.argv[2]))
W = np.array(hd['w'], dtype='float32').reshape(hd['in'], hd['classes']).astype('float64')
z = feat @ W + np.array(hd['b'], dtype='float32').astype('float64')
e = np.exp(z - z.max()); pr = e / e.sum()
print(json.dumps({'idx': int(pr.argmax()), 'prob': float(pr.max())}))
`;

describeShared('pipeline bundle: --recipe pptsn (PP-TSN: 25 frames, cv2 scale, ten crops) answers PaddleVideo pipeline_http_client.py', () => {
  const dir = tempDir('pserve-pipe-tsn-');
  let server: Running | undefined;
  const bundle = join(dir, 'bundle');
  const labelsFile = shared('pipeline', 'labels', 'Kinetics-400_label_list.txt');
  let head: LinearHead;
  beforeAll(async () => {
    head = writeTsnModel(join(dir, 'model'));
    const c = cli(['convert', '--dirname', join(dir, 'model'), '--serving_server', join(dir, 'serving_server'), '--serving_client', join(dir, 'serving_client'), '--fetch_alias_names', 'outputs']);
    expect(c.code, c.stderr).toBe(0);
    const b = cliJson<{ ok: boolean; name: string; port: number; recipe: string; models: { feeds: { name: string; shape: number[] }[] }[] }>(['bundle', '--recipe', 'pptsn', '--serving_server', join(dir, 'serving_server'), '--labels', labelsFile, '--out', bundle]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json).toMatchObject({ ok: true, name: 'video', port: 18080, recipe: 'pptsn' });
    const config = readFileSync(join(bundle, 'config.yml'), 'utf8');
    for (const want of ['num_seg: 25', 'select_left: true', 'op: scale_fixed_ratio', 'library: cv2', 'op: ten_crop']) expect(config).toContain(want);
    expect(config).toContain('shape: [-1, 250, 3, 224, 224]');
    server = await startBundle(bundle);
  }, 120000);
  afterAll(() => stop(server));

  it.skipIf(!HAVE_CV2)('example.avi as the client sends it: err_no 0; the 250-crop tensor and the answer equal PaddleVideo\'s preprocessing (cv2/PIL/numpy) run through onnxruntime', async () => {
    const raw = join(dir, 'frames.raw');
    const shape = runPy(VIDEO_CLIENT, [shared('pipeline', 'video', 'example.avi'), raw]).trim();
    expect(shape).toMatch(/^\(\d+, 240, 320, 3\)$/);
    const frames = readFileSync(raw).toString('base64');
    const status = `/proc/${server!.child.pid}/status`;
    const peak = () => (existsSync(status) ? /VmHWM:\s*(\d+) kB/.exec(readFileSync(status, 'utf8'))?.[1] : undefined);
    const before = peak();
    const r = await post(`${server!.url}/video/prediction`, pyJsonDumps(['frames', 'frames_shape'], [frames, shape]));
    const after = peak();
    expect(r.status).toBe(200);
    expect(r.json.err_no, r.json.err_msg).toBe(0);
    expect(r.json.key).toEqual(['label', 'prob']);
    const [labels, probs] = pyEval(r.json.value) as [string[], number[]];

    // the oracle tensor: PaddleVideo's preprocessing in python
    const tfile = join(dir, 'tsn.f32');
    const info = JSON.parse(runPy(TSN_TENSOR, [raw, shape, tfile])) as { idx: number[]; scaled: number[]; shape: number[] };
    expect(info.shape).toEqual([250, 3, 224, 224]);
    expect(info.scaled).toEqual([341, 256]);
    if (shape.startsWith('(131,')) expect(info.idx).toEqual([2, 7, 13, 18, 23, 28, 34, 39, 44, 49, 55, 60, 65, 70, 75, 81, 86, 91, 96, 102, 107, 112, 117, 123, 128]);
    const want = new Float32Array(readFileSync(tfile).buffer.slice(0));

    // the bundle's own steps (its config.yml, without the model) on the same request: the tensor it feeds
    const T = '../templates/server/pipeline/';
    const { checkPipeline, preparePipeline, runPipeline } = await import(`${T}pipeline.mjs`);
    const p = structuredClone((await import('../src/bundle/recipes.js')).pptsnRecipe({ feeds: ['data_batch_0'], fetches: ['outputs'] }, 'l.txt').pipeline) as any;
    delete p.models;
    p.steps = Object.fromEntries(Object.entries(p.steps).filter(([k]) => ['frames', 'sampled', 'scaled', 'cropped', 'normalized', 'chw', 'batch'].includes(k)));
    p.response = { t: 'batch' };
    const got = (await runPipeline(await preparePipeline(checkPipeline(p), { base: '.', models: {} }), { key: ['frames', 'frames_shape'], value: [frames, shape] })).t;
    expect(got.dims).toEqual([1, 250, 3, 224, 224]);
    expect(got.data.length).toBe(want.length);
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) { const d = Math.abs(got.data[i] - want[i]!); if (d > maxDiff) maxDiff = d; }
    console.log(`pptsn: preprocessed [1,250,3,224,224] vs PaddleVideo (PIL/cv2/numpy): max abs diff ${maxDiff}`);
    expect(maxDiff).toBeLessThan(1e-6);

    // the oracle tensor through onnxruntime on the bundle's model, softmax, label of the arg max
    const ort = await import('onnxruntime-node');
    const sess = await ort.InferenceSession.create(join(bundle, 'models', 'video', 'model.onnx'));
    const out = await sess.run({ [sess.inputNames[0]!]: new ort.Tensor('float32', want, [1, 250, 3, 224, 224]) });
    const logits = out[sess.outputNames[0]!]!.data as Float32Array;
    await sess.release();
    expect(logits.length).toBe(400);
    const m = Math.max(...logits);
    const e = Array.from(logits, (x) => Math.exp(x - m));
    const sum = e.reduce((a, b) => a + b, 0);
    const best = e.indexOf(Math.max(...e));
    const names = new Map(readFileSync(labelsFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => { const [i, n] = l.trim().split(' '); return [Number(i), n!]; }));
    console.log(`pptsn: label ${labels[0]} prob ${probs[0]} (oracle ${names.get(best)} ${e[best]! / sum})`);
    expect(labels).toEqual([names.get(best)]);
    expect(Math.abs(probs[0]! - e[best]! / sum)).toBeLessThan(1e-5);

    // and the known model computed in numpy on the oracle tensor (checks the converted ONNX too)
    writeHead(join(dir, 'head.json'), head);
    const np_ = JSON.parse(runPy(TSN_MODEL, [tfile, join(dir, 'head.json')])) as { idx: number; prob: number };
    expect(np_.idx).toBe(best);
    expect(Math.abs(probs[0]! - np_.prob)).toBeLessThan(1e-5);
    if (before && after) console.log(`pptsn: server peak RSS ${before} kB before the example.avi request, ${after} kB after`);
  }, 120000);

  it('pserve smoke sends generated frames in the client\'s form and passes', () => { expectVideoSmoke(bundle); }, 60000);

  it('--recipe pptsn without --labels, or with --det: E_USAGE, exit 2, nothing written', () => {
    const out = join(dir, 'never');
    const noLabels = cliJson<{ ok: boolean; error: { code: string; message: string } }>(['bundle', '--recipe', 'pptsn', '--serving_server', join(dir, 'serving_server'), '--out', out]);
    expect(noLabels.code).toBe(2);
    expect(noLabels.json.error.code).toBe('E_USAGE');
    expect(noLabels.json.error.message).toMatch(/--labels is required.*Kinetics-400_label_list\.txt/);
    const det = cliJson<{ ok: boolean; error: { code: string; message: string } }>(['bundle', '--recipe', 'pptsn', '--serving_server', join(dir, 'serving_server'), '--labels', labelsFile, '--det', dir, '--out', out]);
    expect(det.code).toBe(2);
    expect(det.json.error.message).toMatch(/--det applies to --recipe ppshitu only/);
    expect(existsSync(out)).toBe(false);
  });
});

// PP-ShiTu RecOp's crop preparation (FORMATS §8 B 4-5) with cv2 + numpy: float32 [N,3,224,224] for boxes given as JSON
const REC_TENSORS = `
import sys, json, cv2, numpy as np
out = []
for path, boxes in json.load(open(sys.argv[1])):
    img = cv2.imdecode(np.frombuffer(open(path,'rb').read(), np.uint8), cv2.IMREAD_COLOR)
    for b in boxes:
        b = [int(x) for x in b]
        im = img[b[1]:b[3], b[0]:b[2]][:, :, ::-1]
        im = cv2.resize(im, (224, 224), interpolation=cv2.INTER_LINEAR)
        t = (im / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        out.append(t.transpose((2, 0, 1)).astype('float32'))
np.stack(out).astype('<f4').tofile(sys.argv[2])
print(len(out))
`;

// PaddleClas build_gallery.py: IndexIDMap2(index_factory(d, "HNSW32", IP)) over L2-normalised features, id -> "path\\tlabel"
const BUILD_INDEX = `
import sys, json, pickle, faiss, numpy as np, os
meta = json.load(open(sys.argv[2]))
f = np.fromfile(sys.argv[1], '<f4').reshape(len(meta), -1)
f = f / np.sqrt(np.sum(np.square(f), axis=1, keepdims=True))
index = faiss.IndexIDMap2(faiss.index_factory(f.shape[1], 'HNSW32', faiss.METRIC_INNER_PRODUCT))
index.add_with_ids(f, np.arange(len(meta)).astype('int64'))
os.makedirs(sys.argv[3], exist_ok=True)
faiss.write_index(index, os.path.join(sys.argv[3], 'vector.index'))
pickle.dump({np.int64(i): m for i, m in enumerate(meta)}, open(os.path.join(sys.argv[3], 'id_map.pkl'), 'wb'))
`;

// the detector's rows as the fake detector computes them (float32), DetOp's boxes, RecOp's search, threshold and NMS
const SHITU_ORACLE = `
import sys, json, pickle, faiss, numpy as np
${PADDLECLAS_NMS_PY}
cfg = json.load(open(sys.argv[1]))
img_h, img_w = cfg['h'], cfg['w']
if 'rows' in cfg:
    rows = np.array(cfg['rows'], dtype='float32').reshape(-1, 6)[:cfg['count']]
else:
    sf = np.array([1, 1, 640 / img_h, 640 / img_w, 640 / img_h, 640 / img_w], dtype='float32')
    rows = np.array(cfg['boxes640'], dtype='float32') / sf
boxes = []
for r in rows:
    x1, y1, x2, y2 = [float(v) for v in r[2:]]
    boxes.append({'score': float(r[1]), 'bbox': [x1, y1, x2 - x1 + 1, y2 - y1 + 1]})
boxes.sort(key=lambda x: x['score'], reverse=True)
boxes = [b for b in boxes[:5] if b['score'] >= 0.2]
for b in boxes:
    b['bbox'][2] += b['bbox'][0] - 1
    b['bbox'][3] += b['bbox'][1] - 1
if cfg.get('stage') == 'boxes':
    print(json.dumps([b['bbox'] for b in boxes] + [[0, 0, img_w, img_h]])); sys.exit()
boxes.append({'score': 1.0, 'bbox': [0, 0, img_w, img_h]})
feat = np.fromfile(cfg['features'], '<f4').reshape(len(boxes), -1)
feat = np.divide(feat, np.sqrt(np.sum(np.square(feat), axis=1, keepdims=True)))
index = faiss.read_index(cfg['index'] + '/vector.index')
id_map = pickle.load(open(cfg['index'] + '/id_map.pkl', 'rb'))
scores, docs = index.search(feat, 1)
if cfg.get('stage') == 'scores':
    print(json.dumps([[[int(x) for x in b['bbox']], float(scores[i][0]), id_map[docs[i][0]].split()[1]] for i, b in enumerate(boxes)])); sys.exit()
results = []
for i in range(scores.shape[0]):
    if scores[i][0] >= 0.5:
        results.append({'bbox': [int(x) for x in boxes[i]['bbox']], 'rec_docs': id_map[docs[i][0]].split()[1], 'rec_scores': scores[i][0]})
x1 = np.array([r['bbox'][0] for r in results]).astype('float32'); y1 = np.array([r['bbox'][1] for r in results]).astype('float32')
x2 = np.array([r['bbox'][2] for r in results]).astype('float32'); y2 = np.array([r['bbox'][3] for r in results]).astype('float32')
sc = np.array([r['rec_scores'] for r in results])
keep = [results[i] for i in paddleclas_nms(x1, y1, x2, y2, sc, 0.05)]
print(str(keep))
`;

// PP-ShiTu DetOp's input (FORMATS §8 B 1-2) with cv2 + numpy for a detector of S x S
const DET_TENSOR = `
import sys, cv2, numpy as np
img = cv2.imdecode(np.fromfile(sys.argv[1], np.uint8), cv2.IMREAD_COLOR)
s = int(sys.argv[3])
d = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) / 255.0
d = (d - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
d = cv2.resize(d, (s, s), interpolation=cv2.INTER_LINEAR).transpose((2, 0, 1)).astype('<f4')
d.tofile(sys.argv[2])
print(img.shape[0], img.shape[1])
`;

async function runOnnx(model: string, file: string, n: number): Promise<Float32Array> {
  const ort = await import('onnxruntime-node');
  const s = await ort.InferenceSession.create(model);
  const data = new Float32Array(readFileSync(file).buffer.slice(0));
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', data, [n, 3, 224, 224]) });
  const f = out[s.outputNames[0]!]!.data as Float32Array;
  await s.release();
  return f;
}

describeShared('pipeline bundle: --recipe ppshitu (made-params PP-LCNet rec model, a detector ONNX with Paddle\'s [N,6] rows) answers PP-ShiTu pipeline_http_client.py', () => {
  const dir = tempDir('pserve-pipe-shitu-');
  let server: Running | undefined;
  const bundle = join(dir, 'bundle');
  const drink = shared('pipeline', 'images', 'drink_100.jpeg');
  // three detections in 640x640 space: kept (0.9), kept (0.6), dropped by the 0.2 threshold (0.1)
  const boxes640 = [[0, 0.6, 0, 0, 320, 320], [0, 0.9, 100, 80, 500, 560], [0, 0.1, 10, 10, 600, 600]];
  beforeAll(async () => {
    withMadeParams(shared('zoo', 'ppshitu_rec_pplcnet_x2_5'), join(dir, 'rec_model'));
    const c = cli(['convert', '--dirname', join(dir, 'rec_model'), '--serving_server', join(dir, 'rec_ss'), '--serving_client', join(dir, 'rec_sc'), '--fetch_alias_names', 'features']);
    expect(c.code, c.stderr).toBe(0);
    writeDetectorServing(join(dir, 'det_ss'));
    writeFileSync(join(dir, 'det.onnx'), detectorOnnx(boxes640));
    if (!pyHas('cv2, numpy, faiss')) return;
    // the gallery: the drink photos and the anmuxi product shots, features from the same rec model
    const o = cli(['onnx', '--model_dir', join(dir, 'rec_ss'), '--save_file', join(dir, 'rec.onnx'), '--engine', 'native']);
    expect(o.code, o.stderr).toBe(0);
    const gallery: [string, string][] = [
      [drink, 'drink_100.jpeg\tRedBull'],
      [shared('pipeline', 'images', 'drink_mosilian.jpeg'), 'drink_mosilian.jpeg\tMosilian'],
      // anmuxi_001.jpg is a PNG named .jpg: decoded by content
      ...[1, 2].map((i) => [shared('pipeline', 'gallery', 'images', `anmuxi_00${i}.jpg`), `anmuxi_00${i}.jpg\tAnmuxi`] as [string, string]),
    ];
    writeFileSync(join(dir, 'gallery.json'), JSON.stringify(gallery.map(([p]) => [p, [[0, 0, 1e9, 1e9]]])));
    const n = Number(runPy(REC_TENSORS, [join(dir, 'gallery.json'), join(dir, 'gallery.f32')]));
    writeFileSync(join(dir, 'gallery_feat.f32'), await runOnnx(join(dir, 'rec.onnx'), join(dir, 'gallery.f32'), n));
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(gallery.map(([, m]) => m)));
    runPy(BUILD_INDEX, [join(dir, 'gallery_feat.f32'), join(dir, 'meta.json'), join(dir, 'index')]);
    const b = cliJson<{ ok: boolean; name: string; port: number; models: { name: string; onnx: { from: string } }[] }>(['bundle', '--recipe', 'ppshitu', '--det', join(dir, 'det_ss'), '--det_onnx', join(dir, 'det.onnx'), '--rec', join(dir, 'rec_ss'), '--index', join(dir, 'index'), '--out', bundle]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json).toMatchObject({ ok: true, name: 'recognition', port: 18081 });
    expect(b.json.models.map((m) => [m.name, m.onnx.from])).toEqual([['det', 'given'], ['rec', 'converted']]);
    server = await startBundle(bundle);
  }, 240000);
  afterAll(() => stop(server));

  it.skipIf(!pyHas('cv2, numpy, faiss'))('drink_100.jpeg as the client sends it: err_no 0, result = str([{bbox, rec_docs, rec_scores}]) as cv2 + faiss + numpy give it', async () => {
    const body = pyJsonDumps(['image'], [readFileSync(drink).toString('base64')]);
    const r = await post(`${server!.url}/recognition/prediction`, body);
    expect(r.status).toBe(200);
    expect(r.json.err_no, r.json.err_msg).toBe(0);
    expect(r.json.key).toEqual(['result']);
    const got = pyEval(r.json.value)[0] as { bbox: number[]; rec_docs: string; rec_scores: number }[];
    // the oracle: DetOp's boxes from the detector's rows, RecOp's crops, the rec model, faiss, NMS
    const size = runPy('import sys,cv2,numpy as np\nim=cv2.imdecode(np.fromfile(sys.argv[1],np.uint8),1)\nprint(im.shape[0], im.shape[1])', [drink]).trim().split(' ').map(Number);
    const cfg = { h: size[0], w: size[1], boxes640, index: join(dir, 'index'), features: join(dir, 'q_feat.f32') };
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ ...cfg, stage: 'boxes' }));
    const boxes = JSON.parse(runPy(SHITU_ORACLE, [join(dir, 'cfg.json')])) as number[][];
    expect(boxes).toHaveLength(3);
    writeFileSync(join(dir, 'q.json'), JSON.stringify([[drink, boxes]]));
    const n = Number(runPy(REC_TENSORS, [join(dir, 'q.json'), join(dir, 'q.f32')]));
    writeFileSync(join(dir, 'q_feat.f32'), await runOnnx(join(bundle, 'models', 'rec', 'model.onnx'), join(dir, 'q.f32'), n));
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg));
    const wantText = runPy(SHITU_ORACLE, [join(dir, 'cfg.json')]).trim();
    const want = pyEval([wantText])[0] as typeof got;
    expect(want.length).toBeGreaterThan(0);
    expect(got.map((x) => [x.bbox, x.rec_docs])).toEqual(want.map((x) => [x.bbox, x.rec_docs]));
    got.forEach((x, i) => expect(Math.abs(x.rec_scores - want[i]!.rec_scores)).toBeLessThan(1e-5));
    // the text itself: Python's str() of the list, numpy float32 scores
    expect(r.json.value[0]).toMatch(/^\[(\{'bbox': \[\d+, \d+, \d+, \d+\], 'rec_docs': '[^']+', 'rec_scores': [\d.e-]+\}(, )?)+\]$/);
  }, 120000);

  it.skipIf(!pyHas('cv2, numpy, faiss'))('with PP-YOLO tiny (real weights, converted by pserve\'s native engine) as the detector and an index from pserve index build over the gallery: coco_000000570688.jpg gets boxes + rec_docs', async () => {
    // the bundle converts the detector natively (yolo_box, multiclass_nms3); the oracle runs paddle2onnx's own ONNX of it
    const det = shared('zoo', 'ppyolo_tiny');
    const detOnnx = join(det, 'paddle2onnx_reference', 'model_opset11.onnx');
    expect(cli(['convert', '--dirname', det, '--model_filename', 'model.pdmodel', '--params_filename', 'model.pdiparams', '--serving_server', join(dir, 'yolo_ss'), '--serving_client', join(dir, 'yolo_sc')]).code).toBe(0);
    writeFileSync(join(dir, 'gallery.txt'), [1, 2, 3, 4, 5, 6].map((i) => `anmuxi_00${i}.jpg\tanmuxi\n`).join(''));
    const idx = cli(['index', 'build', '--gallery', join(dir, 'gallery.txt'), '--image_root', shared('pipeline', 'gallery', 'images'), '--bundle', bundle, '--out', join(dir, 'yolo_index')]);
    expect(idx.code, idx.stderr).toBe(0);
    const yb = join(dir, 'yolo_bundle');
    const b = cliJson<{ models: { name: string; onnx: { from: string } }[] }>(['bundle', '--recipe', 'ppshitu', '--det', join(dir, 'yolo_ss'), '--rec', join(dir, 'rec_ss'), '--rec_onnx', join(bundle, 'models', 'rec', 'model.onnx'), '--index', join(dir, 'yolo_index'), '--out', yb]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json.models.find((m) => m.name === 'det')?.onnx.from).toBe('converted');
    expect(readFileSync(join(yb, 'config.yml'), 'utf8')).toMatch(/det_resized:\n {6}op: resize\n {6}in: det_norm\n {6}width: 320\n {6}height: 320/);
    const coco = shared('pipeline', 'images', 'coco_000000570688.jpg');
    const s = await startBundle(yb);
    let r;
    try {
      r = await post(`${s.url}/recognition/prediction`, pyJsonDumps(['image'], [readFileSync(coco).toString('base64')]));
    } finally { stop(s); }
    expect(r.json.err_no, r.json.err_msg).toBe(0);
    const got = pyEval(r.json.value)[0] as { bbox: number[]; rec_docs: string; rec_scores: number }[];
    expect(got.length).toBeGreaterThan(0);
    // the oracle: DetOp's tensor by cv2, the same detector in onnxruntime, DetOp's boxes, RecOp's crops, faiss on pserve's index
    const [h, w] = runPy(DET_TENSOR, [coco, join(dir, 'det.f32'), '320']).trim().split(' ').map(Number) as [number, number];
    const ort = await import('onnxruntime-node');
    const sess = await ort.InferenceSession.create(detOnnx);
    const out = await sess.run({
      image: new ort.Tensor('float32', new Float32Array(readFileSync(join(dir, 'det.f32')).buffer.slice(0)), [1, 3, 320, 320]),
      im_shape: new ort.Tensor('float32', Float32Array.from([320, 320]), [1, 2]),
      scale_factor: new ort.Tensor('float32', Float32Array.from([320 / h, 320 / w]), [1, 2]),
    });
    const rows = Array.from(out['multiclass_nms3_0.tmp_0']!.data as Float32Array);
    const count = Number((out['multiclass_nms3_0.tmp_2']!.data as Int32Array)[0]);
    await sess.release();
    const cfg = { h, w, rows, count, index: join(dir, 'yolo_index'), features: join(dir, 'y_feat.f32') };
    writeFileSync(join(dir, 'ycfg.json'), JSON.stringify({ ...cfg, stage: 'boxes' }));
    const boxes = JSON.parse(runPy(SHITU_ORACLE, [join(dir, 'ycfg.json')])) as number[][];
    expect(boxes.length).toBeGreaterThan(1);
    writeFileSync(join(dir, 'yq.json'), JSON.stringify([[coco, boxes]]));
    const n = Number(runPy(REC_TENSORS, [join(dir, 'yq.json'), join(dir, 'yq.f32')]));
    writeFileSync(join(dir, 'y_feat.f32'), await runOnnx(join(bundle, 'models', 'rec', 'model.onnx'), join(dir, 'yq.f32'), n));
    writeFileSync(join(dir, 'ycfg.json'), JSON.stringify({ ...cfg, stage: 'scores' }));
    const perBox = JSON.parse(runPy(SHITU_ORACLE, [join(dir, 'ycfg.json')])) as [number[], number, string][];
    // every answer is one of DetOp's boxes (or the whole image), with faiss's label and score for it
    for (const g of got) {
      const m = perBox.find(([bb]) => JSON.stringify(bb) === JSON.stringify(g.bbox));
      expect(m, `bbox ${JSON.stringify(g.bbox)} is not one of ${JSON.stringify(perBox.map((x) => x[0]))}`).toBeDefined();
      expect(g.rec_docs).toBe(m![2]);
      expect(Math.abs(g.rec_scores - m![1])).toBeLessThan(1e-5);
      expect(g.rec_scores).toBeGreaterThanOrEqual(0.5);
    }
  }, 180000);

  it.skipIf(!pyHas('cv2, numpy, faiss'))('with the seed\'s own detector, PicoDet mainbody (control flow + multiclass_nms3, made params, converted natively): drink_100.jpeg gets err_no 0 and upstream\'s result form', async () => {
    // made params as the control-flow test makes them: the DFL projection 0..7 and a class bias that leaves detections
    const pico = makeZooParams(shared('zoo', 'ppshitu_mainbody_det_picodet_v1'), join(dir, 'pico_model'));
    setParams(pico, { dygraph_tmp_4: () => [0, 1, 2, 3, 4, 5, 6, 7], ...Object.fromEntries(['conv2d_84.b_0', 'conv2d_85.b_0', 'conv2d_86.b_0', 'conv2d_87.b_0'].map((h) => [h, (old: Float32Array) => [-4, ...Array.from(old).slice(1)]])) });
    const cv = cli(['convert', '--dirname', pico, '--serving_server', join(dir, 'pico_ss'), '--serving_client', join(dir, 'pico_sc')]);
    expect(cv.code, cv.stderr).toBe(0);
    const pb = join(dir, 'pico_bundle');
    const b = cliJson<{ models: { name: string; onnx: { from: string } }[] }>(['bundle', '--recipe', 'ppshitu', '--det', join(dir, 'pico_ss'), '--rec', join(dir, 'rec_ss'), '--rec_onnx', join(bundle, 'models', 'rec', 'model.onnx'), '--index', join(dir, 'index'), '--out', pb]);
    expect(b.code, JSON.stringify(b.json)).toBe(0);
    expect(b.json.models.find((m) => m.name === 'det')?.onnx.from).toBe('converted');
    expect(readFileSync(join(pb, 'config.yml'), 'utf8')).toMatch(/width: 640\n {6}height: 640/);
    const s = await startBundle(pb);
    let r;
    try {
      r = await post(`${s.url}/recognition/prediction`, pyJsonDumps(['image'], [readFileSync(shared('pipeline', 'images', 'drink_100.jpeg')).toString('base64')]));
    } finally { stop(s); }
    expect(r.json.err_no, r.json.err_msg).toBe(0);
    expect(r.json.key).toEqual(['result']);
    // Python's str() of a list of {bbox, rec_docs, rec_scores} dicts (empty when no crop reaches the index's 0.5)
    expect(r.json.value[0]).toMatch(/^\[((\{'bbox': \[\d+, \d+, \d+, \d+\], 'rec_docs': '[^']+', 'rec_scores': [\d.e-]+\})(, )?)*\]$/);
  }, 180000);

  it.skipIf(!pyHas('cv2, numpy, faiss'))('pserve smoke sends a generated image in the client\'s form and passes', () => {
    const r = cliJson<{ ok: boolean; checks: { name: string; ok: boolean }[] }>(['smoke', bundle]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.checks.map((c) => [c.name, c.ok])).toEqual([['pipeline (upstream client form)', true], ['pipeline (plain JSON route)', true], ['metrics', true], ['SIGTERM', true]]);
  }, 60000);
});

/** `pserve smoke` on a video bundle: generated frames in the client's form, err_no 0, a label and a prob */
function expectVideoSmoke(bundle: string): void {
  const r = cliJson<{ ok: boolean; checks: { name: string; ok: boolean; detail: string }[] }>(['smoke', bundle]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.json.ok).toBe(true);
  expect(r.json.checks.find((c) => c.name === 'pipeline (upstream client form)')?.detail).toMatch(/^16 generated frames of 320x240: label \['[^']+'\], prob \[[\d.e-]+\]$/);
}
