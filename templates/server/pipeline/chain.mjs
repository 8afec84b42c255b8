/**
 * Chains: consecutive image steps run as one unit. When a step's output is read by exactly one
 * other step, and that step reads nothing else (a `pure` step of steps.mjs: a function of its
 * parameters and that one input), the two can run back to back with the intermediate value never
 * leaving the thread: pipeline.mjs groups such runs (decode -> resize -> crop -> ... -> stack) and
 * sends each chain that holds an `offload` step to a step worker as ONE job (one copy of the input
 * in, one transfer of the output back), or runs it here when the server has no step workers. A
 * chain's leading `selects` steps (the frame sampler: a few of its input's elements) run here even
 * then, so a worker is sent 8 frames, not a whole video.
 *
 * Inside a chain, runs of steps that have a fused kernel in ../image/ops.mjs execute as one pass,
 * bit-identical to the separate steps (tests pin it):
 *   resize_short | resize | scale_fixed_ratio, then center_crop -> only the crop's window is resized
 *   [channel_order], normalize, to_chw                           -> one table lookup per value
 *   [channel_order], normalize, resize (cv2), to_chw              -> the normalised image is never made
 *   channel_order, a resize (+ crop), normalize, to_chw           -> the reversal is done by the last pass
 *                                                                   (resizing treats channels apart)
 *   decode_image, then any of these                               -> element by element: the decoded image
 *                                                                   stays in the kernels' memory, where the
 *                                                                   resize reads it (never copied out)
 * A step that fails names itself: errors carry `step`, the failing step's name.
 */
import { RequestError } from '../tensors.mjs';
import { centerCropRect, normalizeArgs, normalizeResizeChw, normalizeToChw, resize, resizeShortSize, scaleShortSize } from '../image/ops.mjs';
import { checkResize, cv2SourceRows } from '../image/resize.mjs';
import { kernelOffset } from '../image/jpeg-wasm.mjs';
import { STEPS, asImage, decodeOne } from './steps.mjs';

/** a function applied to each element of a list, or to a single value (as the steps do) */
const each = (v, f) => (Array.isArray(v) ? v.map((x, i) => f(x, i)) : f(v, 0));

/** run f, marking an error it throws with the step it belongs to (the first mark wins) */
function as(step, f) {
  try {
    return f();
  } catch (e) {
    if (e && typeof e === 'object' && e.step === undefined) e.step = step;
    throw e;
  }
}

const RESIZES = new Set(['resize_short', 'resize', 'scale_fixed_ratio']);

/**
 * The size a resize step gives an image: [w, h], or null when it keeps it (scale_fixed_ratio
 * with the short side already right); the same arithmetic as the steps.
 */
function resizeTarget(m, img) {
  if (m.op === 'resize_short') return resizeShortSize(img, m.params.size);
  if (m.op === 'resize') return [m.params.width, m.params.height];
  return scaleShortSize(img, m.params.short_size, { fixedRatio: true });
}

/**
 * a resize step, optionally followed by center_crop, on one image: only the kept window is computed; view: the
 * result may be a view of the thread's kernel memory (the next stage reads it at once)
 */
function resizeCropOne(rs, cc, x, view = false) {
  const img = as(rs.step, () => asImage(x, rs.step));
  if (!(img.data instanceof Uint8Array)) {
    // float images: the steps as they are (cv2 on float, or PIL's refusal)
    const r = as(rs.step, () => STEPS[rs.op].run(rs.params, { in: img }, { step: rs.step }));
    return cc ? as(cc.step, () => STEPS.center_crop.run(cc.params, { in: r }, { step: cc.step })) : r;
  }
  const size = as(rs.step, () => resizeTarget(rs, img));
  const library = rs.params.library;
  if (!size) return cc ? as(cc.step, () => STEPS.center_crop.run(cc.params, { in: img }, { step: cc.step })) : img;
  const [w, h] = size;
  as(rs.step, () => checkResize(img, w, h, library === 'pil' ? 'PIL resize' : 'cv2 resize'));
  const win = cc ? as(cc.step, () => centerCropRect(w, h, cc.params.size, { rounding: cc.params.rounding })) : undefined;
  return as(rs.step, () => resize(img, w, h, library, win, { view }));
}

/**
 * A stage that works element by element: one(x, i, view, rows) gives element i's result; view: that result may
 * be a view of the thread's kernel memory, because the next stage of its group reads it at once; rows: that next
 * stage's `reads` (below), when it has one. reads(width, height): [first, end) of the rows of a width x height
 * input the stage reads, or null (all of them, or unknown).
 * @param {{ op: string, params: any, step: string }[]} list
 * @param {(x: any, i: number, view: boolean, rows?: ((w: number, h: number) => [number, number] | null) | null) => any} one
 * @param {((w: number, h: number) => [number, number] | null) | null} [reads]
 */
const elementwise = (list, one, reads = null) => ({ list, one, reads });

/**
 * The input rows a cv2 resize (and the crop after it) reads: those of the kept window's rows; null for PIL
 * (other taps), a resize that keeps the image, or arguments its steps will refuse.
 */
function cv2Reads(rs, cc) {
  if (rs.params.library !== 'cv2') return null;
  return (w, h) => {
    try {
      const size = resizeTarget(rs, { width: w, height: h });
      if (!size) return null;
      const win = cc ? centerCropRect(size[0], size[1], cc.params.size, { rounding: cc.params.rounding }) : { y: 0, height: size[1] };
      return win.height >= 1 && size[1] >= 1 ? cv2SourceRows(win.y, win.height, size[1], h) : null;
    } catch {
      return null;
    }
  };
}

/**
 * The stages of a chain: [{ steps, run(inputs) }], each taking the previous stage's output as
 * { in: value } (the first one the chain's inputs).
 */
export function compileChain(members) {
  /** @type {({ steps: string[], run: (inputs: any) => any } | { list: any[], one: (x: any, i: number, view: boolean) => any })[]} */
  const parts = [];
  const at = (i, op) => members[i]?.op === op;
  let i = 0;
  while (i < members.length) {
    const m = members[i];
    if (m.op === 'decode_image') {
      parts.push(elementwise([m], (x, k, view, rows) => as(m.step, () => decodeOne(x, k, m.step, view, rows))));
      i++;
      continue;
    }
    // channel_order, resize [crop], normalize, to_chw: the reversal moves to the last pass
    if (m.op === 'channel_order' && RESIZES.has(members[i + 1]?.op)) {
      const cc = at(i + 2, 'center_crop') ? members[i + 2] : null;
      const j = i + (cc ? 3 : 2);
      if (at(j, 'normalize') && at(j + 1, 'to_chw')) {
        const rs = members[i + 1], nz = members[j], tc = members[j + 1];
        parts.push(elementwise([m, rs, ...(cc ? [cc] : []), nz, tc], (x) => normChw(m, nz, tc, resizeCropOne(rs, cc, as(m.step, () => asImage(x, m.step)), true)), cv2Reads(rs, cc)));
        i = j + 2;
        continue;
      }
    }
    // resize [crop]
    if (RESIZES.has(m.op)) {
      const cc = at(i + 1, 'center_crop') ? members[i + 1] : null;
      parts.push(elementwise(cc ? [m, cc] : [m], (x, _k, view) => resizeCropOne(m, cc, x, view), cv2Reads(m, cc)));
      i += cc ? 2 : 1;
      continue;
    }
    // [channel_order] normalize (resize cv2) to_chw
    const sw = m.op === 'channel_order' ? m : null;
    const k = sw ? i + 1 : i;
    if (at(k, 'normalize')) {
      const nz = members[k];
      if (at(k + 1, 'to_chw')) {
        const tc = members[k + 1];
        parts.push(elementwise([...(sw ? [sw] : []), nz, tc], (x) => normChw(sw, nz, tc, x)));
        i = k + 2;
        continue;
      }
      if (at(k + 1, 'resize') && members[k + 1].params.library === 'cv2' && at(k + 2, 'to_chw')) {
        const rs = members[k + 1], tc = members[k + 2], list = members.slice(i, k + 3);
        parts.push(elementwise(list, (x) => {
          const img = as((sw ?? nz).step, () => asImage(x, (sw ?? nz).step));
          if (!(img.data instanceof Uint8Array)) return runSteps(list, { in: img });
          as(nz.step, () => normalizeArgs(img.channels, nz.params));
          as(rs.step, () => checkResize(img, rs.params.width, rs.params.height, 'cv2 resize'));
          return normalizeResizeChw(img, rs.params.width, rs.params.height, nz.params, !!sw);
        }));
        i = k + 3;
        continue;
      }
    }
    parts.push({ steps: [m.step], run: (inputs) => as(m.step, () => STEPS[m.op].run(m.params, inputs, { step: m.step })) });
    i++;
  }
  // consecutive element-wise stages run as one, element by element: an element goes through all of them
  // before the next one starts, so what a stage hands the next may stay in the thread's kernel memory
  // (decode -> resize of the crop's window: the decoded image is never copied out); what leaves the group
  // is always an array of its own
  const stages = [];
  for (let p = 0; p < parts.length;) {
    const part = parts[p];
    if (!('one' in part)) { stages.push(part); p++; continue; }
    let q = p;
    while (q < parts.length && 'one' in parts[q]) q++;
    const group = /** @type {{ list: any[], one: (x: any, i: number, view: boolean, rows?: any) => any, reads: any }[]} */ (parts.slice(p, q));
    const ones = group.map((g) => g.one);
    const reads = group.map((g, s) => group[s + 1]?.reads ?? null);
    const n = ones.length;
    stages.push(fused(group.flatMap((g) => g.list), ({ in: v }) => each(v, (x, e) => {
      let y = x;
      for (let s = 0; s < n; s++) y = ones[s](y, e, s < n - 1, reads[s]);
      return owned(y);
    })));
    p = q;
  }
  return stages;
}

/** a value whose data is a view of the thread's kernel memory, copied out (anything else as it is) */
function owned(y) {
  if (y && ArrayBuffer.isView(y.data) && kernelOffset(y.data) >= 0) return { ...y, data: y.data.slice() };
  return y;
}

/**
 * A fused stage: its steps' work element by element in one pass. The steps themselves run each step
 * over the whole list before the next, so when a list fails, which element's error comes first can
 * differ: a failing list is run again step by step, and the steps' own first error is thrown.
 */
function fused(list, run) {
  return {
    steps: list.map((m) => m.step),
    run: (inputs) => {
      try {
        return run(inputs);
      } catch (e) {
        if (Array.isArray(inputs.in) && inputs.in.length > 1) runSteps(list, inputs);
        throw e;
      }
    },
  };
}

/** [channel_order] normalize to_chw on one image (its channels reversed first when sw is given) */
function normChw(sw, nz, tc, x) {
  const img = as((sw ?? nz).step, () => asImage(x, (sw ?? nz).step));
  if (!(img.data instanceof Uint8Array)) return runSteps([sw, nz, tc].filter(Boolean), { in: img });
  as(nz.step, () => normalizeArgs(img.channels, nz.params));
  return normalizeToChw(img, nz.params, !!sw);
}

/** steps one after the other, unfused */
function runSteps(list, inputs) {
  let v = inputs;
  for (const m of list) v = { in: as(m.step, () => STEPS[m.op].run(m.params, v, { step: m.step })) };
  return v.in;
}

/**
 * Run a chain: members [{ op, params, step }] (step: the step's name), inputs: the first step's
 * inputs ({ param: value }). Resolves the last step's output. Stateless, so it runs the same on a
 * step worker and on the HTTP thread.
 */
export async function runChain(members, inputs) {
  if (members.length === 0) throw new RequestError(500, 'an empty chain of steps', 10000);
  let v = inputs;
  for (const stage of compileChain(members)) v = { in: await stage.run(v) };
  return v.in;
}
