// Image decode + preprocess per megapixel: pserve's pure-JS code (templates/server/image, bit-exact with
// libjpeg-turbo / cv2.resize) vs OpenCV (Debian python3-opencv, libjpeg-turbo with SIMD) doing the same work in
// Python on the same machine in the same run. Both sides are timed in CPU time of their own process (Node's
// process.cpuUsage, Python's time.process_time), which a busy shared machine distorts far less than wall time.
// Rounds alternate between the two; each side reports its median over the fixture photos. Skips (with a note)
// when the fixtures or python3-opencv are missing.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROUNDS = 3;
const REPS = 5;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

// the same three jobs in Python: decode; classification (§8 A); PP-ShiTu detector input (§8 B)
const PY = String.raw`
import sys, time, json, cv2, numpy as np
cv2.setNumThreads(1)
files = json.loads(sys.argv[1]); reps = int(sys.argv[2])
mean3 = np.array([0.485, 0.456, 0.406]); std3 = np.array([0.229, 0.224, 0.225])
def decode(b): return cv2.imdecode(b, cv2.IMREAD_COLOR)
def cls(b):
    img = decode(b); h, w = img.shape[:2]; p = 256 / min(h, w)
    r = cv2.resize(img, (int(round(w * p)), int(round(h * p)))); rh, rw = r.shape[:2]
    c = r[(rh - 224) // 2:(rh - 224) // 2 + 224, (rw - 224) // 2:(rw - 224) // 2 + 224][:, :, ::-1].transpose((2, 0, 1)) / 255
    c -= mean3.reshape((3, 1, 1)); c /= std3.reshape((3, 1, 1)); return c.astype(np.float32)
def det(b):
    d = cv2.cvtColor(decode(b), cv2.COLOR_BGR2RGB) / 255.0; d -= mean3; d /= std3
    return cv2.resize(d, (640, 640)).transpose((2, 0, 1)).astype(np.float32)
out = {}
bufs = [np.fromfile(f, np.uint8) for f in files]
mp = sum(decode(b).shape[0] * decode(b).shape[1] for b in bufs) / 1e6
for name, fn in (('decode', decode), ('cls', cls), ('det', det)):
    for b in bufs: fn(b)
    ts = []
    for _ in range(reps):
        t = time.process_time()
        for b in bufs: fn(b)
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
  const ops = await import(new URL('ops.mjs', base).href);
  const dirs = [join(shared, 'pipeline', 'images'), join(shared, 'pipeline', 'gallery', 'images')];
  const files = dirs.flatMap((d) => readdirSync(d).map((f) => join(d, f)));
  const bufs = files.map((f) => new Uint8Array(readFileSync(f)));
  const mp = bufs.reduce((s, b) => { const i = decodeImage(b); return s + (i.width * i.height) / 1e6; }, 0);
  const jobs = {
    decode: (b) => decodeImage(b),
    cls: (b) => ops.toChw(ops.normalizeImage(ops.swapChannels(ops.centerCrop(ops.resizeShort(decodeImage(b), 256), 224)), { div: 255, mean: MEAN, std: STD, arithmetic: 'float64' })),
    det: (b) => ops.toChw(ops.resizeImage(ops.normalizeImage(ops.swapChannels(decodeImage(b)), { div: 255, mean: MEAN, std: STD, arithmetic: 'float64' }), 640, 640, 'cv2')),
  };
  const js = { decode: [], cls: [], det: [] };
  const py = { decode: [], cls: [], det: [] };
  for (const fn of Object.values(jobs)) for (const b of bufs) fn(b); // warm the JIT
  for (let r = 0; r < ROUNDS; r++) {
    const p = spawnSync('/usr/bin/python3', ['-c', PY, JSON.stringify(files), String(REPS)], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`python baseline failed: ${p.stderr}`);
    const got = JSON.parse(p.stdout);
    for (const k of Object.keys(py)) py[k].push(got[k]);
    for (const [k, fn] of Object.entries(jobs)) {
      const ts = [];
      for (let i = 0; i < REPS; i++) {
        const c0 = process.cpuUsage();
        for (const b of bufs) fn(b);
        const c = process.cpuUsage(c0);
        ts.push((c.user + c.system) / 1000 / mp);
      }
      js[k].push(median(ts));
    }
  }
  const what = `${files.length} fixture photos, ${mp.toFixed(1)} MP`;
  const row = (k, name, reading) => {
    const v = Math.min(...js[k]), b = Math.min(...py[k]);
    return { area: 'image', name: `${name} (${what})`, value: v, unit: 'CPU ms/MP', baseline: 'OpenCV 1 thread in Python', baselineValue: b, ratio: v / b, target: '<= 2x OpenCV', meets: v / b <= 2, reading };
  };
  return [
    row('decode', 'decode (JPEG/PNG by content)', 'pure JS with libjpeg-turbo\'s integer arithmetic vs libjpeg-turbo\'s SIMD; Huffman decoding and the ISLOW IDCT dominate'),
    row('cls', 'classification preprocess: decode, resize short 256, crop 224, normalise, CHW', 'decode dominates; the fixed-point resize is one pass over the 256-short-side image'),
    row('det', 'PP-ShiTu detector input: decode, normalise float64, resize 640x640 float64, CHW', 'float64 resize of a full-size image, as upstream does it; OpenCV vectorises it'),
  ];
}
