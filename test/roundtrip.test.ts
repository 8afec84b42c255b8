/**
 * Byte-exact decode -> encode of every real program and params file, and of the generated ones.
 * All 21 real programs (including three legacy files that still carry ProgramDesc's since-reserved
 * field 3 between fields 1 and 4) and all 7 combined params files reproduce byte for byte.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeProgram, encodeProgram, ProgramDescSpec } from '../src/formats/paddle-program.js';
import { BytesSource, encodeTensorRecord, readTensorRecord, readTensorStream } from '../src/formats/pdiparams.js';
import { decodeMessage, encodeMessage } from '../src/formats/protobuf.js';
import { ProgramBuilder, seededFloats } from '../src/formats/program-builder.js';
import { HAVE_SHARED, ROOT, SHARED, describeShared, walkFiles } from './helpers.js';


const files = HAVE_SHARED ? [...walkFiles(SHARED)] : [];
const programs = files.filter((f) => /(\.pdmodel|__model__)$/.test(f));
const combined = files.filter((f) => f.endsWith('.pdiparams'));
// per-variable param files: the siblings of a __model__ that the program names
const separate = HAVE_SHARED
  ? programs.filter((p) => p.endsWith('__model__')).flatMap((p) => {
    const dir = join(p, '..');
    return readdirSync(dir).filter((e) => /^(fc_|policy_|embedding_|sequence_conv_|shared_w)/.test(e)).map((e) => join(dir, e));
  })
  : [];

describeShared('real programs round-trip byte for byte', () => {
  it('finds the fixtures', () => {
    expect(programs.length).toBeGreaterThanOrEqual(21);
    expect(combined.length).toBeGreaterThanOrEqual(7);
    expect(separate.length).toBeGreaterThanOrEqual(20);
  });
  for (const f of programs) {
    it(f.slice(SHARED.length + 1), () => {
      const bytes = readFileSync(f);
      const again = encodeProgram(decodeProgram(bytes, f));
      expect(Buffer.compare(Buffer.from(again), bytes)).toBe(0);
    });
  }
});

describeShared('real params files round-trip byte for byte', () => {
  for (const f of combined) {
    it(f.slice(SHARED.length + 1), () => {
      const bytes = readFileSync(f);
      const recs = readTensorStream(new BytesSource(bytes), f);
      expect(recs.at(-1)!.end).toBe(bytes.length);
      const again = Buffer.concat(recs.map((r) => encodeTensorRecord(r.desc, bytes.subarray(r.dataOffset, r.end), r.lod)));
      expect(Buffer.compare(again, bytes)).toBe(0);
    });
  }
  it(`every per-variable param file`, () => {
    for (const f of separate) {
      const bytes = readFileSync(f);
      const r = readTensorRecord(new BytesSource(bytes), 0, f);
      expect(r.end).toBe(bytes.length);
      const again = encodeTensorRecord(r.desc, bytes.subarray(r.dataOffset, r.end), r.lod);
      expect(Buffer.compare(Buffer.from(again), bytes)).toBe(0);
    }
  });
});

describe('codec fidelity', () => {
  it('keeps unknown fields, in field-number order', () => {
    // ProgramDesc: blocks(1) ... field 3 (unknown: reserved) ... version(4), plus an unknown field 9 at the end
    const prog = new ProgramBuilder(2003000).feed('x', 'float32', [-1, 2]).fetch('x').programBytes();
    const decoded = decodeProgram(prog, 'p');
    const blocks = encodeMessage(ProgramDescSpec, { blocks: decoded.blocks });
    const unknown3 = Uint8Array.from([0x1a, 0x03, 0x0a, 0x01, 0x41]);
    const version = encodeMessage(ProgramDescSpec, { version: decoded.version });
    const unknown9 = Uint8Array.from([0x48, 0x07]);
    const bytes = Buffer.concat([blocks, unknown3, version, unknown9]);
    const round = decodeMessage(ProgramDescSpec, bytes, 't');
    expect(round.$unknown?.length).toBe(2);
    expect(Buffer.compare(Buffer.from(encodeMessage(ProgramDescSpec, round)), bytes)).toBe(0);
  });

  it('keeps packed repeated scalars packed and unpacked ones unpacked', () => {
    const unpacked = encodeProgram({ blocks: [{ idx: 0, vars: [{ name: 'v', type: { type: 7, lod_tensor: { tensor: { data_type: 5, dims: [-1, 3, 4, 5] } } } }] }] });
    expect(encodeProgram(decodeProgram(unpacked, 'u'))).toEqual(unpacked);
    const prog = decodeProgram(unpacked, 'u');
    const td = prog.blocks![0]!.vars![0]!.type!.lod_tensor!.tensor!;
    td.$packed = new Set(['dims']);
    const packed = encodeProgram(prog);
    expect(packed.length).toBeLessThan(unpacked.length);
    const back = decodeProgram(packed, 'p');
    expect(back.blocks![0]!.vars![0]!.type!.lod_tensor!.tensor!.dims).toEqual([-1, 3, 4, 5]);
    expect(encodeProgram(back)).toEqual(packed);
  });

  it('negative int32 are 10-byte varints, as C++ writes them', () => {
    const b = encodeProgram({ blocks: [{ idx: 0, parent_idx: -1 }] });
    // 0a 0d | 08 00 | 10 ff ff ff ff ff ff ff ff ff 01
    expect(Buffer.from(b).toString('hex')).toBe('0a0d080010ffffffffffffffffff01');
  });

  it('generated fixtures are what the generator writes (byte-stable)', () => {
    const b = new ProgramBuilder().feed('x', 'float32', [-1, 2]).param('w', [2, 2], seededFloats(4, 1));
    expect(b.programBytes()).toEqual(new ProgramBuilder().feed('x', 'float32', [-1, 2]).param('w', [2, 2], seededFloats(4, 1)).programBytes());
    for (const f of ['tiny_classifier/inference.pdmodel', 'tiny_mlp_separate/__model__']) {
      const bytes = readFileSync(join(ROOT, 'fixtures', f));
      expect(Buffer.compare(Buffer.from(encodeProgram(decodeProgram(bytes, f))), bytes)).toBe(0);
    }
    const params = readFileSync(join(ROOT, 'fixtures/tiny_classifier/inference.pdiparams'));
    const recs = readTensorStream(new BytesSource(params), 'p');
    expect(recs.map((r) => r.dims)).toEqual([[8], [8], [8], [8], [8, 3, 3, 3], [16], [16, 8, 3, 3], [4], [16, 4]]);
  });
});
