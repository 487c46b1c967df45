/**
 * OpenCV's cv2.Canny(image, low, high) on an 8-bit single-channel image, with its defaults
 * (aperture 3, L1 gradient), step by step as imgproc/src/canny.cpp computes it: 3x3 Sobel
 * derivatives with replicated borders, |dx| + |dy|, non-maximum suppression in four directions
 * with OpenCV's fixed-point tangents and its asymmetric tie rule (> on one side, >= on the other),
 * then hysteresis over 8-neighbours. Returns 255 on edges, 0 elsewhere.
 */
const SHIFT = 15;
const TG22 = Math.round(0.4142135623730950488 * (1 << SHIFT));

export function canny(src: Uint8Array, h: number, w: number, low: number, high: number): Uint8Array {
  const at = (i: number, j: number): number => src[Math.min(h - 1, Math.max(0, i)) * w + Math.min(w - 1, Math.max(0, j))];
  const dx = new Int32Array(h * w);
  const dy = new Int32Array(h * w);
  const mag = new Int32Array((h + 2) * (w + 2)); // zero border, as OpenCV pads its magnitude rows
  const m = (i: number, j: number): number => mag[(i + 1) * (w + 2) + j + 1];
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const gx = at(i - 1, j + 1) - at(i - 1, j - 1) + 2 * (at(i, j + 1) - at(i, j - 1)) + at(i + 1, j + 1) - at(i + 1, j - 1);
      const gy = at(i + 1, j - 1) - at(i - 1, j - 1) + 2 * (at(i + 1, j) - at(i - 1, j)) + at(i + 1, j + 1) - at(i - 1, j + 1);
      dx[i * w + j] = gx;
      dy[i * w + j] = gy;
      mag[(i + 1) * (w + 2) + j + 1] = Math.abs(gx) + Math.abs(gy);
    }
  }
  const lo = Math.floor(low);
  const hi = Math.floor(high);
  // 0: weak candidate, 1: not an edge, 2: edge.
  const map = new Uint8Array(h * w).fill(1);
  const stack: number[] = [];
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const v = m(i, j);
      if (v <= lo) continue;
      const xs = dx[i * w + j];
      const ys = dy[i * w + j];
      const x = Math.abs(xs);
      const y = Math.abs(ys) * (1 << SHIFT);
      const tg22x = x * TG22;
      let maximum: boolean;
      if (y < tg22x) maximum = v > m(i, j - 1) && v >= m(i, j + 1);
      else if (y > tg22x + x * (1 << (SHIFT + 1))) maximum = v > m(i - 1, j) && v >= m(i + 1, j);
      else {
        const s = (xs < 0) !== (ys < 0) ? -1 : 1;
        maximum = v > m(i - 1, j - s) && v > m(i + 1, j + s);
      }
      if (!maximum) continue;
      if (v > hi) {
        map[i * w + j] = 2;
        stack.push(i * w + j);
      } else map[i * w + j] = 0;
    }
  }
  while (stack.length > 0) {
    const k = stack.pop()!;
    const [i, j] = [Math.floor(k / w), k % w];
    for (let a = Math.max(0, i - 1); a <= Math.min(h - 1, i + 1); a++) {
      for (let b = Math.max(0, j - 1); b <= Math.min(w - 1, j + 1); b++) {
        if (map[a * w + b] === 0) {
          map[a * w + b] = 2;
          stack.push(a * w + b);
        }
      }
    }
  }
  return map.map((v) => (v === 2 ? 255 : 0));
}
