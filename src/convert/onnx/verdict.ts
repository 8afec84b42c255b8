/**
 * What the native ONNX engine makes of a program before converting it: the op types it cannot
 * convert yet (with counts and the known reason), and whether the program is a training program
 * (gradient or optimizer ops, no feed/fetch), which no inference converter should be handed.
 * `pserve inspect` shows both; `pserve onnx` refuses a training program with that message.
 */
import { PserveError } from '../../errors.js';
import type { LoadedModel } from '../../model/load-model.js';
import type { PaddleModel } from '../../model/types.js';
import { countOps, MIN_OPSET, opsetNeeds } from './convert.js';
import { KNOWN_UNSUPPORTED, mapperFor } from './registry.js';

/** parameter-update ops of Paddle's optimizers and loss scaling (legacy and PIR in-place spellings) */
const OPTIMIZER_OPS = new Set([
  'sgd', 'momentum', 'lars_momentum', 'adam', 'adamw', 'adamax', 'lamb', 'rmsprop', 'adagrad', 'adadelta', 'decayed_adagrad',
  'ftrl', 'dpsgd', 'merged_adam', 'merged_momentum', 'dgc_momentum', 'proximal_gd', 'proximal_adagrad', 'asgd', 'nadam', 'radam',
  'check_finite_and_unscale', 'update_loss_scaling',
].flatMap((t) => [t, `${t}_`]));

export interface TrainingSignals {
  training: boolean;
  /** ops named *_grad */
  gradOps: number;
  /** optimizer / loss-scaling op types present */
  optimizerOps: string[];
  /** the program has neither feed nor fetch ops (not saved with save_inference_model) */
  noFeedFetch: boolean;
  /** one line for the user, when `training` */
  message?: string;
}

export interface NativeVerdict {
  /** every op type has a mapper and the program is not a training program */
  convertible: boolean;
  unsupported: { op: string; count: number; reason?: string }[];
  training: TrainingSignals;
  /** the opset the native engine would write without --opset_version, and the op types that set it (when above 9) */
  opset?: { lowest: number; setBy: string[] };
}

export function trainingSignals(model: PaddleModel, counts = countOps(model)): TrainingSignals {
  let gradOps = 0;
  const optimizerOps: string[] = [];
  for (const [t, n] of counts) {
    if (/_grad(_grad)*_?$/.test(t)) gradOps += n;
    if (OPTIMIZER_OPS.has(t)) optimizerOps.push(t);
  }
  const io = ['feed', 'fetch', 'data'].some((t) => counts.has(t));
  const noFeedFetch = !io && model.feeds.length === 0 && model.fetches.length === 0;
  const training = gradOps > 0 || optimizerOps.length > 0;
  const why = [
    ...(gradOps > 0 ? [`${gradOps} gradient ops`] : []),
    ...(optimizerOps.length > 0 ? [`optimizer ops (${optimizerOps.sort().join(', ')})`] : []),
    ...(noFeedFetch ? ['no feed/fetch ops'] : []),
  ];
  return {
    training, gradOps, optimizerOps: optimizerOps.sort(), noFeedFetch,
    ...(training ? { message: `this is a training program (${why.join(', ')}), not an inference model: export it with paddle.jit.save or paddle.static.save_inference_model, then convert that` } : {}),
  };
}

export function nativeVerdict(model: PaddleModel): NativeVerdict {
  const counts = countOps(model);
  const unsupported = [...counts].filter(([t]) => !mapperFor(t))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([op, count]) => ({ op, count, ...(KNOWN_UNSUPPORTED[op] ? { reason: KNOWN_UNSUPPORTED[op] } : {}) }));
  const training = trainingSignals(model, counts);
  const convertible = unsupported.length === 0 && !training.training && model.fetches.length > 0;
  if (!convertible || !('readParam' in model)) return { convertible, unsupported, training };
  const needs = opsetNeeds(model as LoadedModel);
  const lowest = needs.reduce((a, n) => Math.max(a, n.opset), MIN_OPSET);
  const setBy = lowest > MIN_OPSET ? [...new Set(needs.filter((n) => n.opset === lowest).map((n) => (n.why ? `${n.type} (${n.why})` : n.type)))].sort() : [];
  return { convertible, unsupported, training, opset: { lowest, setBy } };
}

/** A program without fetch targets has nothing for an ONNX graph to output. */
export function noOutputsError(model: PaddleModel): PserveError {
  return new PserveError('E_ONNX_NO_OUTPUTS', 'the program has no fetch ops, so an ONNX graph would have no outputs: save the model with paddle.jit.save or paddle.static.save_inference_model', { file: model.modelFile, hint: 'nothing was written' });
}

/** The coded error for a training program handed to the converter. */
export function trainingProgramError(model: PaddleModel, t: TrainingSignals): PserveError {
  return new PserveError('E_ONNX_TRAINING_PROGRAM', t.message ?? 'this is a training program', { file: model.modelFile, hint: 'nothing was written' });
}
