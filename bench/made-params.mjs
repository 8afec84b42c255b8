// Made params for a program-only model (the zoo's fixtures ship the .pdmodel without weights), in
// the real layout, as test/pipeline-models.ts writes them: the program's persistables in sorted
// order, one .pdiparams. Batch-norm statistics stay near their identity values and weights are
// scaled by their fan-in, so that activations stay finite through a deep network. Shared by the
// benches that need such a model (pipeline.bench.mjs, server.bench.mjs).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function fnv(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return h >>> 0;
}

/** programDir/inference.pdmodel copied to dir with an inference.pdiparams of seeded values (the project's dist/ must be built) */
export async function madeParams(root, programDir, dir) {
  const dist = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
  const { loadModel } = await dist('model/load-model.js');
  const { encodeTensorRecord } = await dist('formats/pdiparams.js');
  const { seededFloats } = await dist('formats/program-builder.js');
  const { varTypeFromDtype } = await dist('model/dtype.js');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(programDir, 'inference.pdmodel'), join(dir, 'inference.pdmodel'));
  const m = loadModel(dir, { params: 'skip' });
  const role = new Map();
  for (const op of m.blocks[0].ops) if (op.type === 'batch_norm') for (const [slot, r] of [['Mean', 'mean'], ['Variance', 'var'], ['Scale', 'scale'], ['Bias', 'bias']]) for (const n of op.inputs[slot] ?? []) role.set(n, r);
  const parts = m.paramNames.map((name) => {
    const shape = m.blocks[0].vars.get(name).shape.map((d) => Math.max(1, d));
    const n = shape.reduce((a, b) => a * b, 1);
    const u = seededFloats(n, fnv(name));
    const r = role.get(name);
    const fanIn = shape.length > 1 ? n / shape[0] : 1;
    const v = r === 'var' ? u.map((x) => 1 + 0.2 * x) : r === 'scale' ? u.map((x) => 1 + 0.1 * x) : r === 'mean' || r === 'bias' || shape.length <= 1 ? u.map((x) => 0.05 * x) : u.map((x) => x * Math.sqrt(6 / Math.max(1, fanIn)));
    return encodeTensorRecord({ data_type: varTypeFromDtype('float32'), dims: shape }, new Uint8Array(v.buffer));
  });
  writeFileSync(join(dir, 'inference.pdiparams'), Buffer.concat(parts));
}
