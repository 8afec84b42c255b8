/**
 * `pserve inspect` says what the native ONNX engine makes of a program (op types it cannot convert
 * yet, with counts; training-program signals), and `pserve onnx` refuses a training program with
 * that message and a code instead of listing its gradient and optimizer ops as unsupported.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProgramBuilder, seededFloats } from '../src/formats/program-builder.js';
import { cli, cliJson, describeShared, shared, tempDir } from './helpers.js';

const dir = tempDir('pserve-verdict-');

/** what paddle.static.save (not save_inference_model) leaves: forward, backward and sgd ops, no feed/fetch */
function trainingProgram(): string {
  const d = join(dir, 'train');
  mkdirSync(d, { recursive: true });
  const b = new ProgramBuilder()
    .variable('x', 'float32', [-1, 4]).variable('label', 'float32', [-1, 1])
    .param('fc.w_0', [4, 1], seededFloats(4, 1)).param('learning_rate_0', [1], Float32Array.of(0.01))
    .variable('pred', 'float32', [-1, 1]).variable('cost', 'float32', [-1, 1]).variable('loss', 'float32', [])
    .variable('loss@GRAD', 'float32', []).variable('cost@GRAD', 'float32', [-1, 1]).variable('pred@GRAD', 'float32', [-1, 1])
    .variable('fc.w_0@GRAD', 'float32', [4, 1])
    .op('mul', { X: ['x'], Y: ['fc.w_0'] }, { Out: ['pred'] }, { x_num_col_dims: 1, y_num_col_dims: 1 })
    .op('square_error_cost', { X: ['pred'], Y: ['label'] }, { Out: ['cost'] })
    .op('mean', { X: ['cost'] }, { Out: ['loss'] })
    .op('fill_constant', {}, { Out: ['loss@GRAD'] }, { dtype: 5, shape: [], value: { f: 1 } })
    .op('mean_grad', { X: ['cost'], 'Out@GRAD': ['loss@GRAD'] }, { 'X@GRAD': ['cost@GRAD'] })
    .op('square_error_cost_grad', { X: ['pred'], 'Out@GRAD': ['cost@GRAD'] }, { 'X@GRAD': ['pred@GRAD'] })
    .op('mul_grad', { X: ['x'], Y: ['fc.w_0'], 'Out@GRAD': ['pred@GRAD'] }, { 'Y@GRAD': ['fc.w_0@GRAD'] })
    .op('sgd', { Param: ['fc.w_0'], Grad: ['fc.w_0@GRAD'], LearningRate: ['learning_rate_0'] }, { ParamOut: ['fc.w_0'] });
  writeFileSync(join(d, 'main.pdmodel'), b.programBytes());
  writeFileSync(join(d, 'main.pdiparams'), b.paramsBytes());
  return d;
}

/** an inference program with two op types the engine has no mapper for */
function partlyConvertible(): string {
  const d = join(dir, 'partial');
  mkdirSync(d, { recursive: true });
  const b = new ProgramBuilder().feed('x', 'float32', [-1, 4])
    .variable('a', 'float32', [-1, 4]).variable('b', 'float32', [-1, 4]).variable('c', 'float32', [-1, 4]).variable('y', 'float32', [-1, 4])
    .op('relu', { X: ['x'] }, { Out: ['a'] })
    .op('sequence_softmax', { X: ['a'] }, { Out: ['b'] })
    .op('sequence_softmax', { X: ['b'] }, { Out: ['c'] })
    .op('no_such_op_anywhere', { X: ['c'] }, { Out: ['y'] })
    .fetch('y');
  writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
  return d;
}

describe('native ONNX verdict', () => {
  it('inspect: a training program is flagged (text and --json), onnx refuses it with E_ONNX_TRAINING_PROGRAM', () => {
    const d = trainingProgram();
    const j = cliJson<{ onnx: { convertible: boolean; training: { training: boolean; gradOps: number; optimizerOps: string[]; noFeedFetch: boolean; message: string } } }>(['inspect', join(d, 'main.pdmodel')]);
    expect(j.code, j.stderr).toBe(0);
    expect(j.json.onnx.convertible).toBe(false);
    expect(j.json.onnx.training).toMatchObject({ training: true, gradOps: 3, optimizerOps: ['sgd'], noFeedFetch: true });
    const t = cli(['inspect', join(d, 'main.pdmodel')]);
    expect(t.stdout).toMatch(/training program \(3 gradient ops, optimizer ops \(sgd\), no feed\/fetch ops\)/);
    const out = join(dir, 'train.onnx');
    const o = cliJson<{ ok: boolean; error: { code: string; message: string } }>(['onnx', '--model_dir', d, '--model_filename', 'main.pdmodel', '--params_filename', 'main.pdiparams', '--save_file', out, '--engine', 'native']);
    expect(o.code).toBe(1);
    expect(o.json.error.code).toBe('E_ONNX_TRAINING_PROGRAM');
    expect(o.json.error.message).toMatch(/training program/);
    expect(o.json.error.message).not.toMatch(/cannot be converted/);
    expect(existsSync(out)).toBe(false);
    // also when paddle2onnx would be the engine: refused before the tool runs
    const auto = cliJson<{ error: { code: string } }>(['onnx', '--model_dir', d, '--model_filename', 'main.pdmodel', '--params_filename', 'main.pdiparams', '--save_file', out, '--engine', 'auto']);
    expect(auto.json.error.code).toBe('E_ONNX_TRAINING_PROGRAM');
  });

  it('a forward-only program without feed/fetch ops: inspect says there is nothing to output, onnx refuses with E_ONNX_NO_OUTPUTS', () => {
    const d = join(dir, 'nofetch');
    mkdirSync(d, { recursive: true });
    const b = new ProgramBuilder().variable('x', 'float32', [-1, 4]).variable('y', 'float32', [-1, 4]).op('relu', { X: ['x'] }, { Out: ['y'] });
    writeFileSync(join(d, 'inference.pdmodel'), b.programBytes());
    const j = cliJson<{ onnx: { convertible: boolean; training: { training: boolean; noFeedFetch: boolean } } }>(['inspect', d]);
    expect(j.code, j.stderr).toBe(0);
    expect(j.json.onnx).toMatchObject({ convertible: false, training: { training: false, noFeedFetch: true } });
    expect(cli(['inspect', d]).stdout).toMatch(/not convertible: the program has no fetch ops/);
    const out = join(dir, 'nofetch.onnx');
    const o = cliJson<{ error: { code: string } }>(['onnx', '--model_dir', d, '--save_file', out, '--engine', 'native']);
    expect(o.code).toBe(1);
    expect(o.json.error.code).toBe('E_ONNX_NO_OUTPUTS');
    expect(existsSync(out)).toBe(false);
  });

  it('inspect lists the op types the native engine cannot convert yet, with counts and known reasons', () => {
    const d = partlyConvertible();
    const j = cliJson<{ onnx: { convertible: boolean; unsupported: { op: string; count: number; reason?: string }[]; training: { training: boolean } } }>(['inspect', d]);
    expect(j.code, j.stderr).toBe(0);
    expect(j.json.onnx.convertible).toBe(false);
    expect(j.json.onnx.training.training).toBe(false);
    expect(j.json.onnx.unsupported).toEqual([
      { op: 'sequence_softmax', count: 2, reason: 'LoD sequence op: ONNX tensors carry no LoD' },
      { op: 'no_such_op_anywhere', count: 1 },
    ]);
    expect(cli(['inspect', d]).stdout).toMatch(/cannot convert 2 op types yet: sequence_softmax x2 \(LoD sequence op[^)]*\), no_such_op_anywhere x1/);
  });
});

describeShared('verdict on real programs', () => {
  it('ppocrv3_det converts entirely at opset 11 or higher (its resize sets that); not a training program', () => {
    const j = cliJson<{ onnx: { convertible: boolean; unsupported: unknown[]; training: { training: boolean } } }>(['inspect', shared('ppocrv3_det')]);
    expect(j.json.onnx).toMatchObject({ convertible: true, unsupported: [], training: { training: false }, opset: { lowest: 11, setBy: ['nearest_interp_v2'] } });
    expect(cli(['inspect', shared('ppocrv3_det')]).stdout).toMatch(/converts every op of this program, at opset 11 or higher \(set by nearest_interp_v2\)/);
  });
});
