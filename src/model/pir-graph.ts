/** PIR program -> format-neutral graph. Values get names: feeds and parameters by their own names, others `%id`. */
import { walkPirOps, type PirProgram } from '../formats/pir.js';
import { dtypeFromName, dtypeFromPir } from './dtype.js';
import { compareBytes } from './legacy.js';
import type { AttrValue, GraphBlock, OpNode, TensorSpec, VarSpec } from './types.js';

export interface PirGraph {
  blocks: GraphBlock[];
  feeds: TensorSpec[];
  fetches: TensorSpec[];
  paramNames: string[];
}

export function pirToGraph(pir: PirProgram): PirGraph {
  const names = new Map<number, string>();
  const vars = new Map<string, VarSpec>();
  const all = [...walkPirOps(pir.regions)];
  for (const op of all) {
    if (op.name === 'p' && op.paramName && op.outputs[0]) names.set(op.outputs[0].id, op.paramName);
    if (op.name.endsWith('.data') && typeof op.attrs['name'] === 'string' && op.outputs[0]) names.set(op.outputs[0].id, op.attrs['name']);
  }
  const nameOf = (id: number) => (id === 0 ? '' : names.get(id) ?? `%${id}`);
  for (const op of all) {
    for (const v of op.outputs) {
      const name = nameOf(v.id);
      vars.set(name, {
        name,
        dtype: v.type ? dtypeFromPir(v.type.dtype) : 'unknown',
        shape: v.type?.dims ?? [],
        lodLevel: 0,
        persistable: op.name === 'p',
      });
    }
  }
  const ops: OpNode[] = [];
  const feeds: { col: number; spec: TensorSpec }[] = [];
  const fetches: { col: number; spec: TensorSpec }[] = [];
  const params: string[] = [];
  for (const op of all) {
    if (op.name === 'p') { params.push(op.paramName!); continue; }
    const type = op.name.replace(/^\d+\./, '');
    const inputs: Record<string, string[]> = {};
    op.inputs.forEach((id, i) => { inputs[String(i)] = id === 0 ? [] : [nameOf(id)]; });
    const outputs: Record<string, string[]> = {};
    op.outputs.forEach((v, i) => { outputs[String(i)] = [nameOf(v.id)]; });
    ops.push({ type, inputs, outputs, attrs: op.attrs as Record<string, AttrValue> });
    if (type === 'data') {
      const v = vars.get(nameOf(op.outputs[0]?.id ?? 0));
      const dt = typeof op.attrs['dtype'] === 'string' ? dtypeFromName(op.attrs['dtype']) : 'unknown';
      feeds.push({ col: feeds.length, spec: { name: String(op.attrs['name']), dtype: v?.dtype ?? dt, shape: v?.shape ?? [], lodLevel: 0 } });
    } else if (type === 'fetch') {
      const src = vars.get(nameOf(op.inputs[0] ?? 0));
      const out = op.outputs[0];
      const col = typeof op.attrs['col'] === 'number' ? op.attrs['col'] : fetches.length;
      fetches.push({
        col,
        spec: {
          name: String(op.attrs['name'] ?? nameOf(out?.id ?? 0)),
          dtype: out?.type ? dtypeFromPir(out.type.dtype) : src?.dtype ?? 'unknown',
          shape: out?.type?.dims ?? src?.shape ?? [],
          lodLevel: 0,
        },
      });
    }
  }
  feeds.sort((a, b) => a.col - b.col);
  fetches.sort((a, b) => a.col - b.col);
  return {
    blocks: [{ idx: 0, parentIdx: -1, ops, vars }],
    feeds: feeds.map((f) => f.spec),
    fetches: fetches.map((f) => f.spec),
    paramNames: [...new Set(params)].sort(compareBytes),
  };
}
