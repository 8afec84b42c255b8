// Image decode + preprocess per megapixel: pserve's pure-JS code (templates/server/image, bit-exact with
// libjpeg-turbo / cv2.resize) vs OpenCV (Debian python3-opencv, libjpeg-turbo with SIMD) doing the same work in
// Python on the same machine in the same run. The pserve side runs the recipes' own steps (imagenet; the
// ppshitu detector input) as the pipeline runs them: one chain (templates/server/pipeline/chain.mjs) with its
// fused kernels. Both sides are timed in CPU time of their own process (Node's
// process.cpuUsage, Python's time.process_time), which a busy shared machine distorts far less than wall time.
// Rounds alternate between the two; each side reports its median over the fixture photos. Skips (with a note)
// when the fixtures or python3-opencv are missing.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROUNDS = 3;
const REPS = 5;

// the same three jobs in Python: decode; classification (§8 A); PP-ShiTu detector input (§8 B)
const PY = String.raw`
import sys, time, json, cv2, numpy as np
cv2.setNumThreads(1)
files = json.loads(sys.argv[1]); reps = int(sys.argv[2])
mean3 = np.array([0.485, 0.456, 0.406]); std3 = np.array([0.229, 0.224, 0.225])
def decode(b): return cv2.imdecode(b, cv2.IMREAD_COLOR)
def cls(b): return cls_pre(decode(b))
def cls_pre(img):
    h, w = img.shape[:2]; p = 256 / min(h, w)
    r = cv2.resize(img, (int(round(w * p)), int(round(h * p)))); rh, rw = r.shape[:2]
    c = r[(rh - 224) // 2:(rh - 224) // 2 + 224, (rw - 224) // 2:(rw - 224) // 2 + 224][:, :, ::-1].transpose((2, 0, 1)) / 255
    c -= mean3.reshape((3, 1, 1)); c /= std3.reshape((3, 1, 1)); return c.astype(np.float32)
def det(b): return det_pre(decode(b))
def det_pre(img):
    d = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) / 255.0; d -= mean3; d /= std3
    return cv2.resize(d, (640, 640)).transpose((2, 0, 1)).astype(np.float32)
out = {}
bufs = [np.fromfile(f, np.uint8) for f in files]
mp = sum(decode(b).shape[0] * decode(b).shape[1] for b in bufs) / 1e6
imgs = [decode(b) for b in bufs]
for name, fn, inputs in (('decode', decode, bufs), ('cls', cls, bufs), ('det', det, bufs), ('cls_pre', cls_pre, imgs), ('det_pre', det_pre, imgs)):
    for b in inputs: fn(b)
    ts = []
    for _ in range(reps):
        t = time.process_time()
        for b in inputs: fn(b)
        ts.append((time.process_time() - t) * 1000 / mp)
    ts.sort(); out[name] = ts[len(ts) // 2]
print(json.dumps(out))
`;

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

export async function run({ root, shared, log }) {
  if (!shared) { log('   shared fixtures missing: image bench skipped'); return []; }
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import cv2, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) { log('   python3-opencv not available: image bench skipped'); return []; }
  const base = pathToFileURL(join(root, 'templates', 'server', 'image') + '/').href;
  const { decodeImage } = await import(new URL('decode.mjs', base).href);
  const { compileChain } = await import(pathToFileURL(join(root, 'templates', 'server', 'pipeline', 'chain.mjs')).href);
  const { imagenetRecipe, ppshituRecipe } = await import(pathToFileURL(join(root, 'dist', 'bundle', 'recipes.js')).href);
  // the recipes' steps from the decoded image to the CHW tensor, run as the pipeline runs a chain
  const io = { feeds: ['x'], fetches: ['y'], inputShape: [-1, 3, 224, 224] };
  const chainOf = (steps, names) => {
    const stages = compileChain(names.map((n) => ({ op: steps[n].op, params: { ...steps[n] }, step: n })));
    return (b) => { let v = { in: b }; for (const st of stages) v = { in: st.run(v) }; return v.in; };
  };
  const cls = imagenetRecipe(io, 'l.txt').pipeline.steps;
  const det = ppshituRecipe({ feeds: ['image', 'im_shape', 'scale_factor'], fetches: ['rows', 'counts'] }, io).pipeline.steps;
  const dirs = [join(shared, 'pipeline', 'images'), join(shared, 'pipeline', 'gallery', 'images')];
  const files = dirs.flatMap((d) => readdirSync(d).map((f) => join(d, f)));
  const bufs = files.map((f) => new Uint8Array(readFileSync(f)));
  const mp = bufs.reduce((s, b) => { const i = decodeImage(b); return s + (i.width * i.height) / 1e6; }, 0);
  const imgs = bufs.map((b) => decodeImage(b));
  // [function, its inputs]: the whole job from the file's bytes, and the preprocessing alone from the decoded image
  const jobs = {
    decode: [(b) => decodeImage(b), bufs],
    cls: [chainOf(cls, ['decoded', 'resized', 'cropped', 'rgb', 'normalized', 'chw']), bufs],
    det: [chainOf(det, ['decoded', 'det_rgb', 'det_norm', 'det_resized', 'det_chw']), bufs],
    cls_pre: [chainOf(cls, ['resized', 'cropped', 'rgb', 'normalized', 'chw']), imgs],
    det_pre: [chainOf(det, ['det_rgb', 'det_norm', 'det_resized', 'det_chw']), imgs],
  };
  const js = Object.fromEntries(Object.keys(jobs).map((k) => [k, []]));
  const py = Object.fromEntries(Object.keys(jobs).map((k) => [k, []]));
  for (const [fn, inputs] of Object.values(jobs)) for (const b of inputs) fn(b); // warm the JIT
  for (let r = 0; r < ROUNDS; r++) {
    const p = spawnSync('/usr/bin/python3', ['-c', PY, JSON.stringify(files), String(REPS)], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`python baseline failed: ${p.stderr}`);
    const got = JSON.parse(p.stdout);
    for (const k of Object.keys(py)) py[k].push(got[k]);
    for (const [k, [fn, inputs]] of Object.entries(jobs)) {
      const ts = [];
      for (let i = 0; i < REPS; i++) {
        const c0 = process.cpuUsage();
        for (const b of inputs) fn(b);
        const c = process.cpuUsage(c0);
        ts.push((c.user + c.system) / 1000 / mp);
      }
      js[k].push(median(ts));
    }
  }
  const what = `${files.length} fixture photos, ${mp.toFixed(1)} MP`;
  // the preprocessing alone (from the decoded image), timed on its own on both sides
  const over = (k) => {
    const v = Math.min(...js[`${k}_pre`]), b = Math.min(...py[`${k}_pre`]);
    return `${v.toFixed(1)} CPU ms/MP vs OpenCV's ${b.toFixed(1)} (${(v / b).toFixed(2)}x)`;
  };
  const row = (k, name, reading) => {
    const v = Math.min(...js[k]), b = Math.min(...py[k]);
    return { area: 'image', name: `${name} (${what})`, value: v, unit: 'CPU ms/MP', baseline: 'OpenCV 1 thread in Python', baselineValue: b, ratio: v / b, target: '<= 2x OpenCV', meets: v / b <= 2, reading };
  };
  return [
    row('decode', 'decode (JPEG/PNG by content)', 'libjpeg-turbo\'s integer arithmetic, bit for bit: baseline entropy decoding, the ISLOW IDCT, fancy upsampling and YCbCr->RGB as WebAssembly (SIMD) kernels written in the project (JS paths where WebAssembly SIMD is missing); PNG unfiltering likewise; copying the result out of the kernels\' memory into a fresh buffer is a large share (first touches of new pages are costly faults on this VM)'),
    row('cls', 'classification preprocess: decode, resize short 256, crop 224, normalise, CHW', `decode is most of it; then the imagenet chain resizes only the 224x224 window the crop keeps (cv2 fixed point) and writes the float32 CHW tensor through a per-channel table in one pass: ${over('cls')} after the decode`),
    row('det', 'PP-ShiTu detector input: decode, normalise float64, resize 640x640 float64, CHW', `the float64 normalise + cv2 float64 resize + CHW run as one pass per source row (no normalised image is made): ${over('det')} after the decode; scalar float64 JS against OpenCV's vectorised resize`),
  ];
}
