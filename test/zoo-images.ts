/**
 * Deterministic, realistic-enough inputs for the zoo tests, drawn in JS so no image library is
 * needed: text lines made of pen strokes (glyph-like: bars, diagonals, bowls) on paper-like
 * backgrounds, and smooth natural-looking scenes (sky/ground gradients with shaded blobs).
 */
import { seededFloats } from '../src/formats/program-builder.js';

export interface Rgb { h: number; w: number; data: Float32Array /* HWC, 0..255 */ }

function rng(seed: number): () => number {
  const u = seededFloats(1 << 16, seed);
  let i = 0;
  return () => (u[i++ & 0xffff]! + 1) / 2;
}

function blank(h: number, w: number, top: number[], bottom: number[]): Rgb {
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    const t = y / Math.max(1, h - 1);
    data[(y * w + x) * 3 + c] = top[c]! * (1 - t) + bottom[c]! * t + 6 * Math.sin(x * 0.05 + c) * Math.cos(y * 0.07);
  }
  return { h, w, data };
}

function stroke(img: Rgb, x0: number, y0: number, x1: number, y1: number, r: number, ink: number[]): void {
  const minX = Math.max(0, Math.floor(Math.min(x0, x1) - r)); const maxX = Math.min(img.w - 1, Math.ceil(Math.max(x0, x1) + r));
  const minY = Math.max(0, Math.floor(Math.min(y0, y1) - r)); const maxY = Math.min(img.h - 1, Math.ceil(Math.max(y0, y1) + r));
  const dx = x1 - x0; const dy = y1 - y0; const L2 = dx * dx + dy * dy || 1;
  for (let y = minY; y <= maxY; y++) for (let x = minX; x <= maxX; x++) {
    const t = Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / L2));
    const d = Math.hypot(x - (x0 + t * dx), y - (y0 + t * dy));
    const a = Math.max(0, Math.min(1, r + 0.5 - d)); // anti-aliased edge
    if (a > 0) for (let c = 0; c < 3; c++) { const i = (y * img.w + x) * 3 + c; img.data[i] = img.data[i]! * (1 - a) + ink[c]! * a; }
  }
}

/** one line of glyph-like marks in the box [x, y, w, h] (h = glyph height) */
export function drawTextLine(img: Rgb, x: number, y: number, w: number, h: number, seed: number, ink = [20, 20, 30]): void {
  const R = rng(seed);
  const gw = h * 0.62; const gap = h * 0.12; const r = Math.max(0.8, h * 0.07);
  for (let gx = x; gx + gw <= x + w; gx += gw + gap) {
    if (R() < 0.12) { gx += gw * 0.4; continue; } // a word space
    const pts = () => [gx + R() * gw, y + R() * h] as const;
    const kind = Math.floor(R() * 4);
    if (kind === 0) { stroke(img, gx + gw / 2, y, gx + gw / 2, y + h, r, ink); stroke(img, gx, y + h * 0.1, gx + gw, y + h * 0.1, r, ink); }
    else if (kind === 1) { stroke(img, gx, y + h, gx + gw / 2, y, r, ink); stroke(img, gx + gw / 2, y, gx + gw, y + h, r, ink); stroke(img, gx + gw * 0.25, y + h * 0.6, gx + gw * 0.75, y + h * 0.6, r, ink); }
    else if (kind === 2) {
      for (let k = 0; k < 12; k++) {
        const a0 = (k / 12) * 2 * Math.PI; const a1 = ((k + 1) / 12) * 2 * Math.PI;
        stroke(img, gx + gw / 2 + Math.cos(a0) * gw / 2, y + h / 2 + Math.sin(a0) * h / 2, gx + gw / 2 + Math.cos(a1) * gw / 2, y + h / 2 + Math.sin(a1) * h / 2, r, ink);
      }
    } else { const [ax, ay] = pts(); const [bx, by] = pts(); stroke(img, gx, y, gx, y + h, r, ink); stroke(img, gx, y + h / 2, ax, ay, r, ink); stroke(img, ax, ay, bx, by, r, ink); }
  }
}

/** a cropped text line, as a recognizer sees it */
export function textLineImage(h: number, w: number, seed: number): Rgb {
  const img = blank(h, w, [236, 232, 220], [226, 224, 214]);
  drawTextLine(img, h * 0.2, h * 0.18, w - h * 0.4, h * 0.64, seed);
  return img;
}

/** a page with several text lines of different sizes; returns the image and the line boxes [x, y, w, h] */
export function textPageImage(h: number, w: number, seed: number): { img: Rgb; boxes: number[][] } {
  const img = blank(h, w, [245, 243, 236], [228, 226, 220]);
  const boxes: number[][] = [];
  let y = h * 0.08;
  let k = 0;
  while (y < h * 0.85) {
    const gh = [14, 20, 26, 16][k % 4]!;
    const x = w * (0.06 + 0.1 * (k % 3));
    const lw = w * (0.5 + 0.12 * (k % 3));
    drawTextLine(img, x, y, lw, gh, seed + k);
    boxes.push([x, y, lw, gh]);
    y += gh * 2.4;
    k++;
  }
  return { img, boxes };
}

/** a smooth outdoor-like scene: sky and ground gradients, shaded ellipses; `shift` moves them (video frames) */
export function sceneImage(h: number, w: number, seed: number, shift = 0): Rgb {
  const img = blank(h, w, [120, 170, 230], [90, 130, 70]);
  const R = rng(seed);
  for (let k = 0; k < 6; k++) {
    const cx = R() * w + shift * (k + 1); const cy = h * (0.3 + 0.6 * R()); const rx = w * (0.05 + 0.12 * R()); const ry = h * (0.05 + 0.12 * R());
    const col = [R() * 255, R() * 255, R() * 255];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      if (d < 1) for (let c = 0; c < 3; c++) img.data[(y * w + x) * 3 + c] = col[c]! * (0.6 + 0.4 * (1 - d));
    }
  }
  return img;
}

/** HWC 0..255 -> CHW float32, (v/255 - mean)/std per channel */
export function normalize(img: Rgb, mean: number[], std: number[]): Float32Array {
  const { h, w, data } = img;
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) out[c * h * w + i] = (Math.min(255, Math.max(0, data[i * 3 + c]!)) / 255 - mean[c]!) / std[c]!;
  return out;
}

export const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
export const HALF = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
