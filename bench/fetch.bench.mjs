// `pserve fetch URL --dest` (download + sha256 + cache copy + safe unpack, one pass) against
// `curl -s URL | tar -x -C dir` for a ~200 MB tarball of incompressible files served from a
// loopback server, interleaved runs in the same process tree, medians. Peak RSS of pserve is taken
// for a 50 MB and the 200 MB archive: streaming means it should not grow with the archive.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

async function makeTarball(root, tmp, name, files, fileBytes) {
  const src = join(tmp, `src-${name}`);
  mkdirSync(join(src, name), { recursive: true });
  for (let i = 0; i < files; i++) {
    const fd = openSync(join(src, name, `part${i}.bin`), 'w');
    for (let left = fileBytes; left > 0; left -= 4 << 20) writeSync(fd, randomBytes(Math.min(left, 4 << 20)));
    closeSync(fd);
  }
  const { c } = await import(join(root, 'node_modules', 'tar', 'dist', 'esm', 'index.js'));
  const out = join(tmp, `${name}.tar`);
  await c({ cwd: src, file: out, portable: true }, [name]);
  rmSync(src, { recursive: true, force: true });
  return out;
}

function serve(files) {
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-length': String(statSync(file).size), 'content-type': 'application/x-tar', etag: '"bench"' });
    createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function timed(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(0, 500)}`));
      else resolve(ms);
    });
  });
}

export async function run({ root, tmp, log }) {
  const hasCurl = spawnSync('sh', ['-c', 'command -v curl && command -v tar'], { stdio: 'ignore' }).status === 0;
  if (!hasCurl) throw new Error('curl and tar are needed for the baseline');
  log('   generating a 200 MB and a 50 MB tarball of random data');
  const big = await makeTarball(root, tmp, 'big_infer', 8, 25 << 20);
  const small = await makeTarball(root, tmp, 'small_infer', 2, 25 << 20);
  const bigBytes = statSync(big).size;
  const server = await serve({ '/big_infer.tar': big, '/small_infer.tar': small });
  const base = `http://127.0.0.1:${server.address().port}`;
  const bin = join(root, 'bin', 'pserve.js');
  // peak RSS of the pserve process itself, written at exit
  const rssHook = join(tmp, 'rss.cjs');
  writeFileSync(rssHook, "process.on('exit', () => require('fs').writeFileSync(process.env.PSERVE_BENCH_RSS, String(process.resourceUsage().maxRSS * 1024)));\n");
  const env = { ...process.env, CI: '1', NO_COLOR: '1', NODE_OPTIONS: `--require ${rssHook}` };
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY']) delete env[k];

  const pserveOnce = async (name, i) => {
    const dest = join(tmp, `p-${name}-${i}`);
    const cache = join(tmp, `cache-${name}-${i}`);
    const rssFile = join(tmp, `rss-${name}-${i}`);
    const ms = await timed(process.execPath, [bin, 'fetch', `${base}/${name}.tar`, '--dest', dest, '--lock', join(tmp, `lock-${name}-${i}.json`)],
      { env: { ...env, PSERVE_CACHE_DIR: cache, PSERVE_BENCH_RSS: rssFile } });
    const rss = Number(readFileSync(rssFile, 'utf8'));
    rmSync(dest, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
    return { ms, rss };
  };
  const curlOnce = async (i) => {
    const dest = join(tmp, `c-${i}`);
    mkdirSync(dest);
    const ms = await timed('sh', ['-c', `curl -sf "$1" | tar -x -C "$2"`, 'sh', `${base}/big_infer.tar`, dest]);
    rmSync(dest, { recursive: true, force: true });
    return ms;
  };

  const runs = 5;
  const p = [], c = [], rssBig = [], rssSmall = [];
  await pserveOnce('small_infer', 'warm');
  await curlOnce('warm');
  for (let i = 0; i < runs; i++) {
    const a = await pserveOnce('big_infer', i);
    p.push(a.ms); rssBig.push(a.rss);
    c.push(await curlOnce(i));
    rssSmall.push((await pserveOnce('small_infer', i)).rss);
  }
  server.close();
  const mb = bigBytes / 2 ** 20;
  const pRate = mb / (median(p) / 1000);
  const cRate = mb / (median(c) / 1000);
  const rB = median(rssBig) / 2 ** 20, rS = median(rssSmall) / 2 ** 20;
  log(`   pserve ${p.map((x) => x.toFixed(0)).join(',')} ms; curl|tar ${c.map((x) => x.toFixed(0)).join(',')} ms; RSS 200MB ${rB.toFixed(1)} MiB, 50MB ${rS.toFixed(1)} MiB`);
  return [
    {
      area: 'fetch', name: `fetch ${mb.toFixed(0)} MiB tarball from loopback (download+sha256+cache+unpack)`, value: pRate, unit: 'MiB/s',
      baseline: 'curl -s URL | tar -x', baselineValue: cRate, ratio: pRate / cRate, target: '>= 0.8x curl | tar -x', meets: pRate / cRate >= 0.8,
      reading: 'one node thread hashes, writes the cache copy and feeds the tar parser; curl and tar are two processes and keep no copy; includes ~0.1 s node start-up',
    },
    {
      area: 'fetch', name: 'pserve fetch peak RSS, 200 MiB archive', value: rB, unit: 'MiB',
      baseline: 'same, 50 MiB archive', baselineValue: rS, ratio: rB / rS, target: '<= 1.25x (flat in archive size)', meets: rB / rS <= 1.25,
      reading: 'everything streams: 1 MiB read chunks, backpressure from the file writes; RSS is node + undici + tar buffers',
    },
  ];
}
