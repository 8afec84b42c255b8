/**
 * Scale-out: a pipeline front (`server.mjs --model-backend URL`) keeps decoding, preprocessing and
 * post-processing, and sends its model steps over KServe v2 (binary tensors) to a second server —
 * here a second pserve bundle standing in for Triton. The answers must equal the all-in-one
 * bundle's, byte for byte, on the seed client's exact request.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
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
