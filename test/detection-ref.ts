/**
 * Float64 re-implementation of Paddle's multiclass_nms CPU kernel (MultiClassNMS / NMSFast /
 * JaccardOverlap), written from Paddle's kernel for the detection tests: the independent reference the
 * converted NMS is checked against. No code shared with the ONNX mappers.
 */

export interface NmsAttrs { score_threshold: number; nms_top_k: number; keep_top_k: number; nms_threshold: number; normalized: boolean; nms_eta: number; background_label: number }

function area(b: number[], normalized: boolean): number {
  if (b[2]! < b[0]! || b[3]! < b[1]!) return 0;
  const w = b[2]! - b[0]!; const h = b[3]! - b[1]!;
  return normalized ? w * h : (w + 1) * (h + 1);
}
export function iou(a: number[], b: number[], normalized: boolean): number {
  if (b[0]! > a[2]! || b[2]! < a[0]! || b[1]! > a[3]! || b[3]! < a[1]!) return 0;
  const n = normalized ? 0 : 1;
  const iw = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!) + n;
  const ih = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!) + n;
  const inter = iw * ih;
  return inter / (area(a, normalized) + area(b, normalized) - inter);
}

/** Paddle's MultiClassNMS for one image: class -> kept box indices, in output order */
function nmsImage(boxes: number[][], scores: number[][], at: NmsAttrs): Map<number, number[]> {
  const kept = new Map<number, number[]>();
  let total = 0;
  for (let c = 0; c < scores.length; c++) {
    if (c === at.background_label) continue;
    const s = scores[c]!;
    let cand = s.map((v, i) => [v, i] as [number, number]).filter(([v]) => v > at.score_threshold);
    cand = cand.map((p, k) => [p, k] as const).sort((x, y) => (y[0][0] - x[0][0]) || (x[1] - y[1])).map(([p]) => p); // stable
    if (at.nms_top_k > -1 && at.nms_top_k < cand.length) cand = cand.slice(0, at.nms_top_k);
    const sel: number[] = [];
    let thr = at.nms_threshold;
    for (const [, i] of cand) {
      let keep = true;
      for (const j of sel) { if (!(iou(boxes[i]!, boxes[j]!, at.normalized) <= thr)) { keep = false; break; } }
      if (keep) { sel.push(i); if (at.nms_eta < 1 && thr > 0.5) thr *= at.nms_eta; }
    }
    kept.set(c, sel);
    total += sel.length;
  }
  if (at.keep_top_k > -1 && total > at.keep_top_k) {
    const pairs: [number, number, number][] = [];
    for (const [c, idx] of [...kept.entries()].sort((x, y) => x[0] - y[0])) for (const i of idx) pairs.push([scores[c]![i]!, c, i]);
    const top = pairs.map((p, k) => [p, k] as const).sort((x, y) => (y[0][0] - x[0][0]) || (x[1] - y[1])).map(([p]) => p).slice(0, at.keep_top_k);
    const next = new Map<number, number[]>();
    for (const [, c, i] of top) { if (!next.has(c)) next.set(c, []); next.get(c)!.push(i); }
    return next;
  }
  return kept;
}

/** rows [label, score, x1, y1, x2, y2], per-image counts, Index (image * M + box) */
export function paddleNms(boxes: number[][][], scores: number[][][], at: NmsAttrs): { rows: number[][]; counts: number[]; index: number[] } {
  const rows: number[][] = []; const counts: number[] = []; const index: number[] = [];
  boxes.forEach((b, n) => {
    const kept = nmsImage(b, scores[n]!, at);
    let count = 0;
    for (const c of [...kept.keys()].sort((x, y) => x - y)) {
      for (const i of kept.get(c)!) { rows.push([c, scores[n]![c]![i]!, ...b[i]!]); index.push(n * b.length + i); count++; }
    }
    counts.push(count);
  });
  return { rows, counts, index };
}
