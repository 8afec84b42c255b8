/**
 * Every command's --json output, success and failure, checked against the one result schema
 * (src/cli/result-schema.ts): one JSON object, `ok` and `command` first, absolute paths, one dtype
 * spelling, `lodLevel` for LoD. Real CLI, real files, a loopback server for fetch.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkResult } from '../src/cli/result-schema.js';
import { BIN, ROOT, cli, tempDir } from './helpers.js';
import { fetchJson, rawTar, startServer, type TestServer } from './fetch-server.js';

const sample = join(ROOT, 'fixtures', 'tiny_classifier');

/** run with --json; stdout must be exactly one JSON object that conforms */
function conforming(args: string[], cwd: string): { code: number; json: any } {
  const r = cli([...args, '--json'], { cwd });
  let json: any;
  try { json = JSON.parse(r.stdout); } catch { throw new Error(`pserve ${args.join(' ')} --json: stdout is not one JSON object: ${r.stdout.slice(0, 300)} / ${r.stderr.slice(0, 300)}`); }
  expect(checkResult(json), `pserve ${args.join(' ')} --json`).toEqual([]);
  expect(Object.keys(json).slice(0, 2)).toEqual(['ok', 'command']);
  return { code: r.code, json };
}

describe('--json: one result schema for every command', () => {
  const tmp = tempDir('pserve-json-');
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer();
    srv.routes.set('/m/tiny.tar', { body: rawTar([{ path: 'tiny/readme.txt', body: Buffer.from('tiny\n') }]) });
  });
  afterAll(async () => { await srv?.close(); });

  it('inspect, convert, alias, onnx, bundle, smoke, package, demo: success and failure', () => {
    expect(conforming(['inspect', sample], tmp).json.ok).toBe(true);
    // a relative path in, absolute paths out
    expect(conforming(['inspect', 'tiny_classifier'], join(ROOT, 'fixtures')).json.modelFile).toBe(join(sample, 'inference.pdmodel'));
    expect(conforming(['inspect', join(tmp, 'nothing-here')], tmp).json.error.code).toMatch(/^E_/);

    expect(conforming(['convert', '--dirname', sample], tmp).json.ok).toBe(true);
    expect(conforming(['convert', '--dirname', sample, '--fetch_alias_names', 'a,b'], tmp).json.ok).toBe(false);
    expect(conforming(['alias', 'list'], tmp).json.ok).toBe(true);
    expect(conforming(['alias', 'set', 'fetch', 'probs'], tmp).json.to).toBe('probs');
    expect(conforming(['alias', 'set', 'nope', 'x'], tmp).code).toBe(2);

    const onnx = conforming(['onnx', '--model_dir', sample, '--save_file', 'm.onnx', '--engine', 'native'], tmp);
    expect(onnx.json.file).toBe(join(tmp, 'm.onnx'));
    expect(conforming(['onnx', '--model_dir', sample], tmp).code).toBe(2);

    const bundle = conforming(['bundle', '--serving_server', 'serving_server', '--serving_client', 'serving_client', '--onnx', 'm.onnx', '--out', 'b', '--name', 'cls'], tmp);
    expect(bundle.json.out).toBe(join(tmp, 'b'));
    expect(conforming(['bundle', '--serving_server', 'serving_server', '--out', 'b'], tmp).json.error.code).toBe('E_EXISTS');

    const smoke = conforming(['smoke', 'b'], tmp);
    expect(smoke.json.ok).toBe(true);
    expect(Object.values(smoke.json.inputs).map((i: any) => i.dtype)).toEqual(['float32']);
    expect(conforming(['smoke', 'no-bundle'], tmp).json.ok).toBe(false);

    expect(conforming(['package', 'b', '--out', 'b.tgz'], tmp).json.path).toBe(join(tmp, 'b.tgz'));
    expect(conforming(['package', 'b'], tmp).code).toBe(2);

    expect(conforming(['demo', '--dir', 'demo'], tmp).json.dir).toBe(join(tmp, 'demo'));

    expect(conforming(['export', 'triton', '--bundle', 'b', '--out', 'repo'], tmp).json.out).toBe(join(tmp, 'repo'));
    expect(conforming(['export', 'dockerfile', '--bundle', 'b', '--out', 'docker'], tmp).json.ok).toBe(true);
    expect(conforming(['export', 'k8s', '--bundle', 'nothing', '--image', 'x'], tmp).json.ok).toBe(false);
    expect(conforming(['index', 'search', '--index', join(tmp, 'no-index'), '--vector-file', 'q.npy'], tmp).json.ok).toBe(false);
  }, 180_000);

  it('fetch (a download and --list) and serve', async () => {
    const env = { PSERVE_CACHE_DIR: join(tmp, 'cache') };
    const list = await fetchJson<any>(['fetch', '--list'], env, tmp);
    expect(checkResult(list.json)).toEqual([]);
    const got = await fetchJson<any>(['fetch', `${srv.base}/m/tiny.tar`, '--dest', 'dl'], env, tmp);
    expect(got.code, got.stderr).toBe(0);
    expect(checkResult(got.json)).toEqual([]);
    expect(got.json.files[0].dest).toEqual([join(tmp, 'dl', 'tiny')]);
    const again = await fetchJson<any>(['fetch', `${srv.base}/m/tiny.tar`, '--dest', 'dl'], env, tmp);
    expect(again.json.files[0].upToDate).toBe(true);
    const missing = await fetchJson<any>(['fetch', `${srv.base}/m/none.tar`, '--dest', 'dl'], env, tmp);
    expect(missing.code).toBe(1);
    expect(checkResult(missing.json)).toEqual([]);

    // serve: the server's log goes to stderr, stdout is the one result object when it ends
    const child = spawn(process.execPath, [BIN, 'serve', join(tmp, 'b'), '--port', '0', '--json'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`serve did not listen: ${err}`)), 60_000);
      child.stderr.on('data', () => { if (err.includes('listening on')) { clearTimeout(t); ok(); } });
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((ok) => child.on('close', ok));
    expect(code).toBe(0);
    const served = JSON.parse(out);
    expect(checkResult(served)).toEqual([]);
    expect(served).toMatchObject({ ok: true, command: 'serve', bundle: join(tmp, 'b'), exitCode: 0 });
  }, 120_000);

  it('the schema itself refuses the old shapes', () => {
    expect(checkResult({ ok: true, command: 'smoke', bundle: '/b', inputs: { x: { dtype: 'FP32', shape: [1] } }, checks: [] }).join()).toMatch(/dtype/);
    expect(checkResult({ ok: true, command: 'onnx', engine: 'native', file: 'm.onnx', size: 1, inputs: [], outputs: [] }).join()).toMatch(/absolute/);
    expect(checkResult({ ok: true, command: 'alias', feeds: [{ name: 'x', dtype: 'float32', shape: [], lod: false, type: 1 }], fetches: [], files: [], warnings: [] }).join()).toMatch(/lodLevel/);
    expect(checkResult({ command: 'inspect' }).length).toBeGreaterThan(0);
  });
});
