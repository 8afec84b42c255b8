/**
 * `pserve smoke` on a pipeline bundle: the request goes in the upstream client's form, read from
 * the bundle's own config.yml (request_base64 keys get a generated image, request_frames gets
 * generated raw RGB frames with their "(T, H, W, C)" shape string), and the answer must be
 * err_no 0 with the response keys of config.yml, each value a Python literal; the plain JSON
 * route must answer the same keys, and /metrics must count the requests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PserveError } from '../errors.js';
import { pipelineModules } from './pipeline-schema.js';

type Check = (name: string, fn: () => Promise<string>) => Promise<void>;

/** A 24-bit BMP (bottom-up BGR rows padded to 4 bytes) of an RGB HWC buffer. */
export function encodeBmp(width: number, height: number, rgb: Uint8Array): Buffer {
  const stride = (width * 3 + 3) & ~3;
  const size = 54 + stride * height;
  const b = Buffer.alloc(size);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(size, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(stride * height, 34);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      b[row + x * 3] = rgb[s + 2]!;
      b[row + x * 3 + 1] = rgb[s + 1]!;
      b[row + x * 3 + 2] = rgb[s]!;
    }
  }
  return b;
}

/** A synthetic scene: a sky-to-ground gradient with a few coloured boxes (shifted by `t` for video frames). */
export function sceneRgb(width: number, height: number, t = 0): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  const boxes = [[0.15, 0.2, 0.35, 0.6, [200, 40, 40]], [0.5, 0.3, 0.8, 0.85, [40, 160, 60]], [0.3, 0.65, 0.55, 0.95, [230, 200, 30]]] as const;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      let c = [Math.round(90 + 120 * (y / height)), Math.round(140 + 60 * (x / width)), Math.round(220 - 150 * (y / height))];
      for (const [x0, y0, x1, y1, col] of boxes) {
        const fx = x / width - t * 0.01;
        if (fx >= x0 && fx < x1 && y / height >= y0 && y / height < y1) c = [...col];
      }
      out[i] = c[0]!; out[i + 1] = c[1]!; out[i + 2] = c[2]!;
    }
  }
  return out;
}

interface Decoder { op: string; keys?: string[]; data_key?: string; shape_key?: string }

/** the request the bundle's first decoder step expects, as the seed's client would send it */
export function upstreamRequest(steps: Record<string, Decoder>): { keys: string[]; values: string[]; what: string } {
  const dec = Object.values(steps).find((s) => s.op === 'request_frames' || s.op === 'request_base64');
  if (!dec) throw new PserveError('E_SMOKE_FAILED', 'the pipeline has no request_base64 or request_frames step: smoke does not know what to send');
  if (dec.op === 'request_frames') {
    const [t, h, w] = [16, 240, 320];
    const frames = Buffer.alloc(t * h * w * 3);
    for (let i = 0; i < t; i++) frames.set(sceneRgb(w, h, i), i * h * w * 3);
    return { keys: [dec.data_key ?? 'frames', dec.shape_key ?? 'frames_shape'], values: [frames.toString('base64'), `(${t}, ${h}, ${w}, 3)`], what: `${t} generated frames of ${w}x${h}` };
  }
  const keys = dec.keys && dec.keys.length ? dec.keys : ['image'];
  const img = encodeBmp(320, 240, sceneRgb(320, 240));
  return { keys, values: keys.map(() => img.toString('base64')), what: `a generated 320x240 image (${keys.map((k) => `"${k}"`).join(', ')})` };
}

/** json.dumps as the seeds' clients call it (", " and ": " separators) */
const pyJson = (keys: string[], values: string[]) => `{"key": [${keys.map((k) => JSON.stringify(k)).join(', ')}], "value": [${values.map((v) => JSON.stringify(v)).join(', ')}]}`;

const PY_LITERAL = /^(\[.*\]|\{.*\}|'.*'|".*"|-?\d[\d.e+-]*|True|False|None)$/s;

export async function smokePipeline(dir: string, base: string, name: string, check: Check): Promise<{ pipeline: boolean; json: boolean }> {
  const mods = await pipelineModules();
  const cfg = mods.parseYaml(readFileSync(join(dir, 'config.yml'), 'utf8')) as { pipeline?: { steps?: Record<string, Decoder>; response?: Record<string, string> } };
  const steps = cfg.pipeline?.steps ?? {};
  const keysWanted = Object.keys(cfg.pipeline?.response ?? {});
  const req = upstreamRequest(steps);
  const body = pyJson(req.keys, req.values);
  const done = { pipeline: false, json: false };
  await check('pipeline (upstream client form)', async () => {
    const res = await fetch(`${base}/${encodeURIComponent(name)}/prediction`, { method: 'POST', body });
    const j = await res.json() as { err_no?: number; err_msg?: string; key?: string[]; value?: unknown[]; tensors?: unknown[] };
    if (res.status !== 200 || j.err_no !== 0) throw new Error(`HTTP ${res.status}, err_no ${j.err_no}: ${j.err_msg ?? ''}`);
    if (JSON.stringify(j.key) !== JSON.stringify(keysWanted)) throw new Error(`keys ${JSON.stringify(j.key)}, config.yml answers ${JSON.stringify(keysWanted)}`);
    if (!Array.isArray(j.tensors) || j.err_msg !== '') throw new Error('err_msg and tensors must be "" and []');
    const shown: string[] = [];
    j.value!.forEach((v, i) => {
      if (typeof v !== 'string' || !PY_LITERAL.test(v)) throw new Error(`value of "${j.key![i]}" is not a Python literal: ${JSON.stringify(v).slice(0, 80)}`);
      shown.push(`${j.key![i]} ${v.length > 60 ? `${v.slice(0, 57)}...` : v}`);
    });
    done.pipeline = true;
    return `${req.what}: ${shown.join(', ')}`;
  });
  await check('pipeline (plain JSON route)', async () => {
    const res = await fetch(`${base}/pserve/pipeline/${encodeURIComponent(name)}`, { method: 'POST', body });
    const j = await res.json() as { ok?: boolean; result?: Record<string, unknown> };
    if (res.status !== 200 || j.ok !== true) throw new Error(`HTTP ${res.status}: ${JSON.stringify(j).slice(0, 200)}`);
    const got = Object.keys(j.result ?? {});
    if (JSON.stringify(got) !== JSON.stringify(keysWanted)) throw new Error(`keys ${JSON.stringify(got)}, config.yml answers ${JSON.stringify(keysWanted)}`);
    done.json = true;
    return `result keys ${got.join(', ')}`;
  });
  await check('metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = /^pserve_requests_total\{protocol="pipeline",code="200"\} (\d+)$/m.exec(text);
    const n = m ? Number(m[1]) : 0;
    if (done.pipeline && n < 1) throw new Error(`/metrics counts ${n} successful pipeline requests, expected 1`);
    if (!/pserve_request_duration_seconds_bucket/.test(text)) throw new Error('/metrics has no latency histogram');
    return `pipeline requests counted: ${n}`;
  });
  return done;
}
