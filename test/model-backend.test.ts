/**
 * Scale-out: a pipeline front (`server.mjs --model-backend URL`) keeps decoding, preprocessing and
 * post-processing, and sends its model steps over KServe v2 (binary tensors) to a second server —
 * here a second pserve bundle standing in for Triton. The answers must equal the all-in-one
 * bundle's, byte for byte, on the seed client's exact request.
 */
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error no typings for the template
import { RemotePool } from '../templates/server/remote-pool.mjs';
import { startBundleServer, type RunningServer } from '../src/bundle/smoke.js';
import { ROOT, cliJson, describeShared, shared, tempDir } from './helpers.js';

const running: RunningServer[] = [];
afterAll(() => { for (const r of running) r.child.kill('SIGKILL'); });

async function start(dir: string, args: string[] = []): Promise<RunningServer> {
  const r = await startBundleServer(dir, args);
  running.push(r);
  return r;
}

async function ask(url: string, body: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}/imagenet/prediction`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: r.status, text: await r.text() };
}

describeShared('a pipeline front with --model-backend', () => {
  const tmp = tempDir('pserve-backend-');

  it('gets the all-in-one bundle\'s answers while its model runs on a KServe v2 backend; a dead backend is a 503-style err_no, not a crash', async () => {
    const sample = join(ROOT, 'fixtures', 'tiny_classifier');
    expect(cliJson<any>(['convert', '--dirname', sample, '--serving_server', 'srv', '--serving_client', 'cli'], { cwd: tmp }).code).toBe(0);
    writeFileSync(join(tmp, 'labels.txt'), 'red,\ngreen,\nblue,\nyellow,\n');
    const front = cliJson<any>(['bundle', '--recipe', 'imagenet', '--serving_server', 'srv', '--labels', 'labels.txt', '--out', 'front'], { cwd: tmp });
    expect(front.code, front.stderr).toBe(0);
    // the stand-in for Triton: the same model as a plain bundle named as the pipeline's model
    const back = cliJson<any>(['bundle', '--serving_server', 'srv', '--serving_client', 'cli', '--out', 'back', '--name', 'imagenet'], { cwd: tmp });
    expect(back.code, back.stderr).toBe(0);

    // the seed client's body: {"key": ["image"], "value": [base64 of the JPEG]}, as json.dumps writes it
    const img = readFileSync(shared('pipeline', 'images', 'daisy.jpg')).toString('base64');
    const body = `{"key": ["image"], "value": ["${img}"]}`;

    const allInOne = await start(join(tmp, 'front'));
    const a = await ask(allInOne.url, body);
    allInOne.child.kill('SIGTERM');
    expect(a.status).toBe(200);
    expect(JSON.parse(a.text).err_no).toBe(0);

    const backend = await start(join(tmp, 'back'));
    const fr = await start(join(tmp, 'front'), ['--model-backend', backend.url]);
    const b = await ask(fr.url, body);
    expect(b.status).toBe(200);
    expect(b.text).toBe(a.text);
    // the model ran on the backend: its KServe counter moved
    const metrics = await (await fetch(`${backend.url}/metrics`)).text();
    expect(metrics).toMatch(/protocol="kserve[^"]*"[^\n]*\} [1-9]/);

    // the backend goes away: the front answers with an error code and keeps serving
    backend.child.kill('SIGKILL');
    await new Promise((ok) => backend.child.once('exit', ok));
    const c = await ask(fr.url, body);
    expect(c.status).toBeLessThan(500);
    expect(JSON.parse(c.text).err_no).not.toBe(0);
    expect((await fetch(`${fr.url}/v2/health/live`)).status).toBe(200);
    fr.child.kill('SIGTERM');
  }, 180_000);
});

describe('RemotePool reading binary outputs', () => {
  // a KServe v2 stand-in answering two FP32 outputs and one INT64 as raw tensors after a JSON
  // header whose length is padded so the first tensor starts at `headerLength`
  async function backend(headerLength: number): Promise<{ url: string; close: () => void }> {
    const a = Float32Array.from([1.5, -2.25, 3]);
    const b = BigInt64Array.from([-(2n ** 63n), 7n]);
    const c = Float32Array.from([0.1]);
    const server = http.createServer((req, res) => {
      if (req.method === 'GET') {
        res.end(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }], outputs: [{ name: 'a', datatype: 'FP32', shape: [3] }, { name: 'b', datatype: 'INT64', shape: [2] }, { name: 'c', datatype: 'FP32', shape: [1] }] }));
        return;
      }
      req.resume();
      req.on('end', () => {
        let head = JSON.stringify({ model_name: 'm', outputs: [{ name: 'a', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 12 } }, { name: 'b', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } }, { name: 'c', datatype: 'FP32', shape: [1], parameters: { binary_data_size: 4 } }] });
        head += ' '.repeat(headerLength - head.length);
        const body = Buffer.concat([Buffer.from(head), Buffer.from(a.buffer), Buffer.from(b.buffer), Buffer.from(c.buffer)]);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length), 'content-length': body.length });
        res.end(body);
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => server.close() };
  }

  it('gives the same numbers whether the tensors sit aligned in the reply (views, no copy) or not (aligned copies)', async () => {
    // 400: a and c aligned (views), b at 412 not 8-aligned (copied); 401: none aligned; 404: b aligned too
    for (const headerLength of [400, 401, 404]) {
      const be = await backend(headerLength);
      try {
        const pool = new RemotePool({ url: be.url, model: 'm' });
        await pool.start();
        const out = await pool.run([{ onnx: 'x', dtype: 'float32', data: Float32Array.from([1]), shape: [1, 1] }], ['a', 'b', 'c']);
        expect(Array.from(out.a.data)).toEqual([1.5, -2.25, 3]);
        expect(Array.from(out.b.data)).toEqual([-(2n ** 63n), 7n]);
        expect(Array.from(out.c.data)).toEqual([Math.fround(0.1)]);
        expect(out.a.dims).toEqual([3]);
        // a view of the reply keeps the reply's offset; a copy starts at 0 of a buffer of its own
        expect(out.a.data.byteOffset).toBe(headerLength % 4 === 0 ? headerLength : 0);
        expect(out.b.data.byteOffset).toBe((headerLength + 12) % 8 === 0 ? headerLength + 12 : 0);
        expect(out.c.data.byteOffset).toBe(headerLength % 4 === 0 ? headerLength + 28 : 0);
      } finally {
        be.close();
      }
    }
  });
});
