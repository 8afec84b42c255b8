/** Fuzzing of the Paddle decoders: program protobuf, PIR JSON, params streams (both layouts). */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeProgram } from '../../src/formats/paddle-program.js';
import { BytesSource, readTensorRecord, readTensorStream } from '../../src/formats/pdiparams.js';
import { decodePir } from '../../src/formats/pir.js';
import { pirToGraph } from '../../src/model/pir-graph.js';
import { programToGraph } from '../../src/model/legacy.js';
import { ProgramBuilder } from '../../src/formats/program-builder.js';
import { HAVE_SHARED, ROOT, SHARED } from '../helpers.js';
import { TOTALS, fuzz, type FuzzStats } from './harness.js';

const fx = (...p: string[]) => readFileSync(join(ROOT, 'fixtures', ...p));
const sh = (...p: string[]) => readFileSync(join(SHARED, ...p));

function report(s: FuzzStats): void {
  TOTALS.push(s);
  expect(s.crashes, s.crashes.join('\n')).toEqual([]);
  expect(s.runs).toBeGreaterThan(0);
}

/** Offsets where params records start: truncation and huge lengths aim there. */
function recordBoundaries(b: Uint8Array): number[] {
  const out: number[] = [];
  for (const r of readTensorStream(new BytesSource(b), 'seed')) out.push(r.offset, r.offset + 4, r.offset + 12, r.dataOffset - 4, r.dataOffset);
  return out;
}

describe('fuzz: Paddle formats', () => {
  afterAll(() => {
    const runs = TOTALS.reduce((s, t) => s + t.runs, 0);
    // eslint-disable-next-line no-console
    console.log(`fuzz (model formats): ${runs} mutated inputs, ${TOTALS.map((t) => `${t.name} ${t.runs} (ok ${t.ok}, slowest ${t.slowestMs.toFixed(1)} ms)`).join('; ')}`);
  });

  it('program protobuf: 10000 mutations', () => {
    const seeds = [fx('tiny_classifier', 'inference.pdmodel'), fx('tiny_mlp_separate', '__model__')];
    if (HAVE_SHARED) seeds.push(sh('uci_housing/uci_housing_model/__model__'), sh('mnist_mlp_2018/model/__model__'), sh('lac_convert_program_only/lac_model/__model__'));
    const s = fuzz('program', seeds.map((bytes) => ({ bytes })), (b) => programToGraph(decodeProgram(b, 'fuzz')), 10000, 11);
    report(s);
  });

  it('params streams (combined): 10000 mutations', () => {
    const seeds = [fx('tiny_classifier', 'inference.pdiparams')];
    if (HAVE_SHARED) {
      // the first 12 tensors of a real file: small enough to mutate thousands of times
      const real = sh('blazeface/model/model.pdiparams');
      seeds.push(real.subarray(0, readTensorStream(new BytesSource(real), 's')[11]!.end));
    }
    const s = fuzz('pdiparams', seeds.map((bytes) => ({ bytes, boundaries: recordBoundaries(bytes) })), (b) => readTensorStream(new BytesSource(b), 'fuzz', 64), 10000, 12);
    report(s);
  });

  it('params files (one per variable): 3000 mutations', () => {
    const dir = join(ROOT, 'fixtures', 'tiny_mlp_separate');
    const seeds = readdirSync(dir).filter((f) => f.startsWith('fc_')).map((f) => readFileSync(join(dir, f)));
    if (HAVE_SHARED) seeds.push(sh('uci_housing/uci_housing_model/fc_0.w_0'), sh('dqn_conv/model/policy_conv1_b'));
    const s = fuzz('param-file', seeds.map((bytes) => ({ bytes, boundaries: recordBoundaries(bytes) })), (b) => readTensorRecord(new BytesSource(b), 0, 'fuzz'), 3000, 13);
    report(s);
  });

  it('PIR JSON: 4000 mutations', () => {
    const small = new TextEncoder().encode(JSON.stringify({
      base_code: { magic: 'pir', trainable: false, version: 1 },
      program: { regions: [{ '#': 'region_0', blocks: [{ '#': 'block_0', args: [], ops: [
        { '#': 'p', A: [0, 1, 1, 'w'], DA: [], O: { '%': 1, TT: { '#': '0.t_dtensor', D: [{ '#': '0.t_f32' }, [4, 2], 'NCHW', [], 0] } }, OA: [1, 0, 1], QA: [] },
        { '#': '1.data', A: [{ AT: { '#': '0.a_str', D: 'x' }, N: 'name' }, { AT: { '#': '1.a_intarray', D: [-1, 4] }, N: 'shape' }, { AT: { '#': '1.a_dtype', D: 'float32' }, N: 'dtype' }], I: [], O: [{ '%': 2, TT: { '#': '0.t_dtensor', D: [{ '#': '0.t_f32' }, [-1, 4], 'NCHW', [], 0] } }], OA: [] },
        { '#': '1.matmul', A: [{ AT: { '#': '0.a_bool', D: false }, N: 'transpose_x' }, { AT: { '#': '0.a_f32', VD: 'NaN' }, N: 'odd' }], I: [{ '%': 2 }, { '%': 1 }], O: [{ '%': 3, TT: { '#': '0.t_dtensor', D: [{ '#': '0.t_f32' }, [-1, 2], 'NCHW', [], 0] } }], OA: [] },
        { '#': '1.fetch', A: [{ AT: { '#': '0.a_str', D: 'out' }, N: 'name' }, { AT: { '#': '0.a_i32', D: 0 }, N: 'col' }], I: [{ '%': 3 }], O: [{ '%': 4, TT: { '#': '0.t_dtensor', D: [{ '#': '0.t_f32' }, [-1, 2], 'NCHW', [], 0] } }], OA: [] },
      ] }] }] },
    }));
    const seeds = [small];
    if (HAVE_SHARED) seeds.push(sh('pplcnet_textline_ori_pir/inference.json'));
    const dec = new TextDecoder();
    const s = fuzz('pir-json', seeds.map((bytes) => ({ bytes })), (b) => pirToGraph(decodePir(dec.decode(b), 'fuzz')), 4000, 14);
    report(s);
  });

  it('deep nesting and duplicate names end in a code, not a stack overflow', () => {
    // protobuf: 100 000 nested length-delimited fields 1 (blocks -> vars -> ...)
    let b: Uint8Array = new Uint8Array([0x08, 0x00]);
    for (let i = 0; i < 2000; i++) { const n = b.length; const hdr = n < 128 ? [0x0a, n] : [0x0a, (n & 0x7f) | 0x80, n >> 7]; if (n >= 16384) break; b = Uint8Array.from([...hdr, ...b]); }
    try { decodeProgram(b, 'deep'); } catch (e) { expect((e as { code?: string }).code).toMatch(/^E_/); }
    const deepJson = `{"base_code":{"magic":"pir"},"program":{"regions":[${'{"blocks":[{"ops":[{"#":"1.x","regions":['.repeat(200)}${']}]}]'.repeat(200)}]}}`;
    let code = '';
    try { decodePir(deepJson, 'deep'); } catch (e) { code = (e as { code?: string }).code ?? String(e); }
    expect(code).toBe('E_PIR_INVALID');
    // duplicate feed names and duplicate params still decode into a definite answer
    const dup = new ProgramBuilder().feed('x', 'float32', [-1, 2]).feed('x', 'float32', [-1, 2]).fetch('x').programBytes();
    const g = programToGraph(decodeProgram(dup, 'dup'));
    expect(g.feeds.map((f) => f.name)).toEqual(['x', 'x']);
  });
});

