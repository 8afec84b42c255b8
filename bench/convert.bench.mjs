// `pserve convert` of a model with a ~200 MB combined params file vs `cp -r` of the same files,
// plus pserve's peak RSS (the params must be streamed by the kernel, never held in memory).
// The model is generated here: a one-op program and a 200 MiB .pdiparams written with pserve's
// own encoders from dist/. Medians of interleaved runs, warm page cache for both.
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

function time(cmd, args, cwd) {
  // start each run with no dirty pages left over from the run before (ext4 write-back would be charged to it)
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: '1' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const ROWS = 51200;
const COLS = 1024; // 51200 x 1024 float32 = 200 MiB

export async function makeModel(root, dir) {
  const { encodeProgram } = await import(pathToFileURL(join(root, 'dist', 'formats', 'paddle-program.js')).href);
  const { encodeTensorHeader } = await import(pathToFileURL(join(root, 'dist', 'formats', 'pdiparams.js')).href);
  const lod = (dims, persistable = false) => ({ type: { type: 7, lod_tensor: { tensor: { data_type: 5, dims } } }, persistable });
  const v = (name, t) => ({ name, ...t });
  const arg = (parameter, name) => ({ parameter, arguments: [name] });
  const program = {
    blocks: [{
      idx: 0, parent_idx: -1,
      vars: [
        v('feed', { type: { type: 9 }, persistable: true }),
        v('fetch', { type: { type: 10 }, persistable: true }),
        v('x', lod([-1, ROWS])),
        v('w', lod([ROWS, COLS], true)),
        v('y', lod([-1, COLS])),
      ],
      ops: [
        { type: 'feed', inputs: [arg('X', 'feed')], outputs: [arg('Out', 'x')], attrs: [{ name: 'col', type: 0, i: 0 }] },
        { type: 'matmul_v2', inputs: [arg('X', 'x'), arg('Y', 'w')], outputs: [arg('Out', 'y')], attrs: [] },
        { type: 'fetch', inputs: [arg('X', 'y')], outputs: [arg('Out', 'fetch')], attrs: [{ name: 'col', type: 0, i: 0 }] },
      ],
    }],
    version: { version: 2005000 },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.pdmodel'), encodeProgram(program));
  const fd = openSync(join(dir, 'model.pdiparams'), 'w');
  try {
    writeSync(fd, encodeTensorHeader({ data_type: 5, dims: [ROWS, COLS] }));
    const chunk = Buffer.alloc(8 << 20);
    const total = ROWS * COLS * 4;
    for (let done = 0; done < total; done += chunk.length) {
      randomFillSync(chunk);
      writeSync(fd, chunk, 0, Math.min(chunk.length, total - done));
    }
  } finally {
    closeSync(fd);
  }
  return ROWS * COLS * 4;
}

/** Peak RSS of one `pserve convert`, measured by the process itself at exit. */
function peakRss(root, args, cwd) {
  const main = pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href;
  const code = `const { main } = await import(${JSON.stringify(main)}); const c = await main(${JSON.stringify(args)}); ` +
    `process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS + '\\n'); process.exitCode = c;`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd, encoding: 'utf8', env: { ...process.env, CI: '1' } });
  if (r.status !== 0) throw new Error(`pserve convert exited ${r.status}: ${r.stderr}`);
  return Number(/MAXRSS (\d+)/.exec(r.stderr)[1]) / 1024; // KiB -> MiB
}

export async function run({ root, tmp, log }) {
  const model = join(tmp, 'model');
  const bytes = await makeModel(root, model);
  log(`   generated ${(bytes / 2 ** 20).toFixed(0)} MiB of params in ${model}`);
  const bin = join(root, 'bin', 'pserve.js');
  const args = ['convert', '--dirname', model, '--model_filename', 'model.pdmodel', '--params_filename', 'model.pdiparams', '--serving_server', 'out/serving_server', '--serving_client', 'out/serving_client'];
  const clean = () => { rmSync(join(tmp, 'out'), { recursive: true, force: true }); rmSync(join(tmp, 'cp'), { recursive: true, force: true }); };
  const runs = 7;
  const pserve = [], cp = [], proto = [], inproc = [];
  const { convertModel } = await import(pathToFileURL(join(root, 'dist', 'commands', 'convert.js')).href);
  const ctx = { cwd: tmp, json: true, interactive: false, color: false, info() {}, progress() {} };
  const opts = { dirname: model, model_filename: 'model.pdmodel', params_filename: 'model.pdiparams', serving_server: 'out/serving_server', serving_client: 'out/serving_client', show_proto: false };
  // warm up: page cache for the source, first-run costs for both
  clean(); time(process.execPath, [bin, ...args], tmp); clean(); time('cp', ['-r', model, join(tmp, 'cp')], tmp); clean(); await convertModel(opts, ctx);
  for (let i = 0; i < runs; i++) {
    clean();
    cp.push(time('cp', ['-r', model, join(tmp, 'cp')], tmp));
    clean();
    pserve.push(time(process.execPath, [bin, ...args], tmp));
    proto.push(time(process.execPath, [bin, 'convert', '--dirname', model, '--model_filename', 'model.pdmodel', '--show_proto'], tmp));
    clean();
    spawnSync('sync');
    const t0 = process.hrtime.bigint();
    await convertModel(opts, ctx);
    inproc.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  clean();
  const rss = peakRss(root, args, tmp);
  clean();
  const bare = median(Array.from({ length: 5 }, () => time(process.execPath, ['-e', '0'], tmp)));
  const p = median(pserve), c = median(cp), s = median(proto), q = median(inproc);
  const mib = (bytes / 2 ** 20).toFixed(0);
  return [
    {
      area: 'convert', name: `pserve convert, ${mib} MiB combined params`, value: p, unit: 'ms', baseline: 'cp -r of the same files', baselineValue: c,
      ratio: p / c, target: '<= 1.3x cp', meets: p / c <= 1.3,
      reading: `both copy in the kernel (copy_file_range); the gap is process start-up, which no Node CLI can bring under 1.3x of a ${c.toFixed(0)} ms cp: node alone takes ${bare.toFixed(0)} ms, convert --show_proto (imports of commander, zod, protobufjs; program decode; no copy) ${s.toFixed(0)} ms`,
    },
    {
      area: 'convert', name: `convert without process start-up (convertModel in-process), ${mib} MiB`, value: q, unit: 'ms', baseline: 'cp -r of the same files', baselineValue: c,
      ratio: q / c, target: '<= 1.3x cp', meets: q / c <= 1.3,
      reading: 'program decode, params header walk, fs.copyFile into a temp sibling, confs, rename; fs.copyFile truncates the new file, so ext4 starts its write-back at close (auto_da_alloc), which cp does not pay',
    },
    {
      area: 'convert', name: `pserve convert peak RSS, ${mib} MiB params`, value: rss, unit: 'MiB', baseline: 'params file size', baselineValue: bytes / 2 ** 20,
      ratio: rss / (bytes / 2 ** 20), target: '< 0.5x params size (streamed)', meets: rss < bytes / 2 ** 20 / 2,
      reading: 'params are never read into memory: headers are walked with positioned reads, the copy is fs.copyFile',
    },
  ];
}
