// Native Paddle -> ONNX conversion (`pserve onnx --engine native`, validation on as users run it,
// the whole CLI process) per fixture: wall time and peak RSS vs bare `node -e 0`. Medians of interleaved runs;
// peak RSS from /usr/bin/time when present.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const FIXTURES = [
  ['uci_housing/uci_housing_model', 'uci_housing'],
  ['mnist_mlp', 'mnist_mlp'],
  ['mnist_mlp_2018/model', 'mnist_mlp_2018'],
  ['dqn_conv/model', 'dqn_conv'],
  ['word2vec_ngram/word2vec.inference.model', 'word2vec_ngram'],
  ['ppocr_cls_v2', 'ppocr_cls_v2'],
  ['ppocr_cls_v2_oldexport', 'ppocr_cls_v2_oldexport'],
  ['pplcnet_textline_ori_pir', 'pplcnet_textline_ori_pir'],
  ['ppocrv2_det_ch', 'ppocrv2_det_ch'],
  ['ppocrv3_det', 'ppocrv3_det'],
  ['ppocrv3_det_ch', 'ppocrv3_det_ch'],
];

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

function measure(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = TIME
    ? spawnSync(TIME, ['-f', 'PSERVE_RSS_KB=%M', cmd, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } })
    : spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${String(r.stderr).slice(-400)}`);
  const m = /PSERVE_RSS_KB=(\d+)/.exec(String(r.stderr));
  return { ms, rssMb: m ? Number(m[1]) / 1024 : NaN };
}

export async function run({ root, tmp, shared, log }) {
  const node = process.execPath;
  const bin = join(root, 'bin', 'pserve.js');
  const list = shared ? FIXTURES.map(([p, n]) => [join(shared, p), n]) : [[join(root, 'fixtures', 'tiny_classifier'), 'tiny_classifier']];
  const runs = 5;
  const rows = [];
  const bareT = [], bareR = [];
  for (let i = 0; i < runs; i++) { const b = measure(node, ['-e', '0']); bareT.push(b.ms); bareR.push(b.rssMb); }
  for (const [dir, name] of list) {
    const out = join(tmp, `${name}.onnx`);
    // validation on: users run it that way (the written model is loaded and run once in onnxruntime)
    const args = [bin, 'onnx', '--model_dir', dir, '--save_file', out, '--engine', 'native', '--json'];
    measure(node, args); // warm the page cache
    const t = [], r = [];
    for (let i = 0; i < runs; i++) {
      const b = measure(node, ['-e', '0']); bareT.push(b.ms); bareR.push(b.rssMb);
      const c = measure(node, args); t.push(c.ms); r.push(c.rssMb);
    }
    const bt = median(bareT), br = median(bareR), ct = median(t), cr = median(r);
    const size = statSync(out).size;
    log(`   ${name}: ${ct.toFixed(0)} ms, ${cr.toFixed(0)} MB peak; bare node ${bt.toFixed(0)} ms, ${br.toFixed(0)} MB; onnx ${size} bytes`);
    const isDet = name === 'ppocrv3_det';
    rows.push({
      area: 'onnx', name: `native conversion time, ${name}`, value: ct, unit: 'ms', baseline: 'node -e 0', baselineValue: bt, ratio: ct / bt,
      target: isDet ? '< 10x bare node (issue 5)' : 'report', meets: isDet ? ct / bt < 10 : true,
      reading: `whole CLI process with validation on: program decode, params read, graph build, protobuf encode (${(size / 1e6).toFixed(2)} MB ONNX), onnxruntime load and one run`,
    });
    if (!Number.isNaN(cr)) {
      const paramsMb = size / 2 ** 20;
      rows.push({
        area: 'onnx', name: `native conversion peak RSS, ${name}`, value: cr, unit: 'MB', baseline: 'node -e 0', baselineValue: br, ratio: cr / br,
        target: 'growth over bare node <= 2x ONNX size + 64 MB of modules', meets: cr - br <= 2 * paramsMb + 64,
        reading: `grows ${(cr - br).toFixed(0)} MB over bare node for ${paramsMb.toFixed(1)} MB of ONNX; the module graph (commander, zod, protobufjs, onnx-proto) is most of it`,
      });
    }
  }
  rows.push(...await largeModel({ root, tmp, log, node, bin }));
  return rows;
}

/**
 * A generated fully-connected stack with >= 200 MiB of params (52 x [1024,1024] float32 + biases),
 * converted as users run it (validation on: onnxruntime loads it in the same process). Peak RSS is
 * compared with the same command on the tiny generated classifier (the process's own constant):
 * the growth must stay within 1.3x the params size.
 */
export async function largeModel({ root, tmp, log, node, bin }) {
  const { ProgramBuilder, seededFloats } = await import(pathToFileURL(join(root, 'dist', 'formats', 'program-builder.js')).href);
  const dir = join(tmp, 'fc52');
  mkdirSync(dir, { recursive: true });
  const H = 1024;
  const b = new ProgramBuilder(2006000);
  b.feed('x', 'float32', [-1, H]);
  let cur = 'x';
  for (let i = 0; i < 52; i++) {
    const w = `fc_${String(i).padStart(3, '0')}.w_0`;
    const bias = `fc_${String(i).padStart(3, '0')}.b_0`;
    b.param(w, [H, H], seededFloats(H * H, i + 1, 0.05));
    b.param(bias, [H], seededFloats(H, 1000 + i, 0.01));
    b.variable(`mm_${i}`, 'float32', [-1, H]).variable(`add_${i}`, 'float32', [-1, H]).variable(`relu_${i}`, 'float32', [-1, H]);
    b.op('matmul_v2', { X: [cur] , Y: [w] }, { Out: [`mm_${i}`] }, { trans_x: false, trans_y: false });
    b.op('elementwise_add', { X: [`mm_${i}`], Y: [bias] }, { Out: [`add_${i}`] }, { axis: -1 });
    b.op('relu', { X: [`add_${i}`] }, { Out: [`relu_${i}`] });
    cur = `relu_${i}`;
  }
  b.fetch(cur);
  writeFileSync(join(dir, 'inference.pdmodel'), b.programBytes());
  writeFileSync(join(dir, 'inference.pdiparams'), b.paramsBytes());
  const paramsMb = statSync(join(dir, 'inference.pdiparams')).size / 2 ** 20;
  const args = (d, out) => [bin, 'onnx', '--model_dir', d, '--save_file', join(tmp, out), '--engine', 'native', '--json'];
  const tiny = join(root, 'fixtures', 'tiny_classifier');
  measure(node, args(dir, 'fc52.onnx')); // warm the page cache
  const t = [], r = [], tr = [], tt = [];
  for (let i = 0; i < 3; i++) {
    const b = measure(node, args(tiny, 'tiny.onnx')); tr.push(b.rssMb); tt.push(b.ms);
    const c = measure(node, args(dir, 'fc52.onnx')); t.push(c.ms); r.push(c.rssMb);
  }
  const ct = median(t), cr = median(r), base = median(tr), baseT = median(tt);
  log(`   fc52 (${paramsMb.toFixed(0)} MiB params): ${ct.toFixed(0)} ms, ${cr.toFixed(0)} MB peak; tiny_classifier ${base.toFixed(0)} MB peak`);
  const rows = [{
    area: 'onnx', name: `native conversion time with validation, ${paramsMb.toFixed(0)} MiB params (generated fc stack)`, value: ct, unit: 'ms',
    baseline: 'same command on tiny_classifier', baselineValue: baseT, ratio: ct / baseT, target: 'report', meets: true,
    reading: 'whole CLI process as users run it: program decode, graph build, parameters copied from the params file into the .onnx, onnxruntime load + one inference',
  }];
  if (!Number.isNaN(cr)) {
    rows.push({
      area: 'onnx', name: `native conversion peak RSS with validation, ${paramsMb.toFixed(0)} MiB params`, value: cr, unit: 'MB',
      baseline: 'same command on tiny_classifier', baselineValue: base, ratio: (cr - base) / paramsMb,
      target: 'growth over the tiny model <= 1.3x params (issue 10)', meets: cr - base <= 1.3 * paramsMb,
      reading: `grows ${(cr - base).toFixed(0)} MB for ${paramsMb.toFixed(0)} MiB of params: the converter streams them (no copy held); onnxruntime holds one copy of the weights while validating`,
    });
  }
  return rows;
}
