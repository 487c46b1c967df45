/**
 * Small image-processing primitives for the common corruptions, each matching the
 * library routine the published CIFAR-10-C code calls (named in each comment),
 * including its border handling, so the corruptions reproduce the reference
 * procedure on one HWC image in [0, 1] (float64 for exact intermediate steps).
 */

export interface Img {
  h: number;
  w: number;
  c: number;
  data: Float64Array;
}

export const image = (h: number, w: number, c: number, data = new Float64Array(h * w * c)): Img => ({ h, w, c, data });
export const idx = (im: Img, i: number, j: number, ch: number): number => (i * im.w + j) * im.c + ch;
export const mapPixels = (im: Img, f: (v: number, k: number) => number): Img => image(im.h, im.w, im.c, im.data.map(f));

export type Border = (i: number, n: number) => number;
/** OpenCV BORDER_REFLECT_101: gfedcb|abcdefgh|gfedcba. */
export const reflect101: Border = (i, n) => {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
};
/** scipy 'reflect' (half-sample symmetric): dcba|abcd|dcba. */
export const reflect: Border = (i, n) => {
  const period = 2 * n;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - 1 - m;
};
/** scipy 'nearest' (skimage.filters.gaussian's default): aaaa|abcd|dddd. */
export const nearest: Border = (i, n) => Math.min(n - 1, Math.max(0, i));

/** Correlates every channel with a 1-D kernel along rows then columns (centred). */
export function separable(im: Img, kernel: number[], border: Border): Img {
  const r = (kernel.length - 1) / 2;
  const pass = (src: Img, vertical: boolean): Img => {
    const out = image(src.h, src.w, src.c);
    for (let i = 0; i < src.h; i++) {
      for (let j = 0; j < src.w; j++) {
        for (let ch = 0; ch < src.c; ch++) {
          let acc = 0;
          for (let t = 0; t < kernel.length; t++) {
            const ii = vertical ? border(i + t - r, src.h) : i;
            const jj = vertical ? j : border(j + t - r, src.w);
            acc += kernel[t] * src.data[idx(src, ii, jj, ch)];
          }
          out.data[idx(out, i, j, ch)] = acc;
        }
      }
    }
    return out;
  };
  return pass(pass(im, false), true);
}

/** scipy.ndimage.gaussian_filter over the two spatial axes (what skimage.filters.gaussian does). */
export function gaussianFilter(im: Img, sigma: number, border: Border = nearest, truncate = 4): Img {
  if (sigma <= 0) return image(im.h, im.w, im.c, im.data.slice());
  const radius = Math.floor(truncate * sigma + 0.5);
  const weights = Array.from({ length: 2 * radius + 1 }, (_, t) => Math.exp(-0.5 * ((t - radius) / sigma) ** 2));
  const total = weights.reduce((a, b) => a + b, 0);
  return separable(im, weights.map((v) => v / total), border);
}

/** cv2.filter2D: correlation with a square kernel (row-major, odd side), BORDER_REFLECT_101. */
export function filter2D(im: Img, kernel: number[], side: number): Img {
  const r = (side - 1) / 2;
  const out = image(im.h, im.w, im.c);
  for (let i = 0; i < im.h; i++) {
    for (let j = 0; j < im.w; j++) {
      for (let ch = 0; ch < im.c; ch++) {
        let acc = 0;
        for (let a = 0; a < side; a++) {
          for (let b = 0; b < side; b++) {
            acc += kernel[a * side + b] * im.data[idx(im, reflect101(i + a - r, im.h), reflect101(j + b - r, im.w), ch)];
          }
        }
        out.data[idx(out, i, j, ch)] = acc;
      }
    }
  }
  return out;
}

/** cv2.blur with a 3x3 box. */
export const boxBlur3 = (im: Img): Img => filter2D(im, new Array(9).fill(1 / 9), 3);

/** cv2.getGaussianKernel(size, sigma). */
export function cvGaussianKernel(size: number, sigma: number): number[] {
  const r = (size - 1) / 2;
  const w = Array.from({ length: size }, (_, t) => Math.exp(-((t - r) ** 2) / (2 * sigma * sigma)));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / total);
}

/** Bilinear sample at fractional (y, x) with out-of-range neighbours mapped by `border`. */
export function bilinear(im: Img, y: number, x: number, ch: number, border: Border): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const fy = y - y0;
  const fx = x - x0;
  const at = (i: number, j: number) => im.data[idx(im, border(i, im.h), border(j, im.w), ch)];
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
}

/** scipy.ndimage.zoom(order=1) of the spatial axes: output size round(n * f), corners aligned. */
export function zoomBilinear(im: Img, factor: number): Img {
  const oh = Math.round(im.h * factor);
  const ow = Math.round(im.w * factor);
  const out = image(oh, ow, im.c);
  const sy = oh > 1 ? (im.h - 1) / (oh - 1) : 0;
  const sx = ow > 1 ? (im.w - 1) / (ow - 1) : 0;
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      for (let ch = 0; ch < im.c; ch++) out.data[idx(out, i, j, ch)] = bilinear(im, i * sy, j * sx, ch, nearest);
    }
  }
  return out;
}

/** The reference clipped_zoom: crop the centre 1/f of the image, zoom it by f, trim back to size. */
export function clippedZoom(im: Img, factor: number): Img {
  const ch = Math.ceil(im.h / factor);
  const cw = Math.ceil(im.w / factor);
  const top = Math.floor((im.h - ch) / 2);
  const left = Math.floor((im.w - cw) / 2);
  const zoomed = zoomBilinear(crop(im, top, left, ch, cw), factor);
  return crop(zoomed, Math.floor((zoomed.h - im.h) / 2), Math.floor((zoomed.w - im.w) / 2), im.h, im.w);
}

export function crop(im: Img, top: number, left: number, h: number, w: number): Img {
  const out = image(h, w, im.c);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      for (let ch = 0; ch < im.c; ch++) out.data[idx(out, i, j, ch)] = im.data[idx(im, nearest(top + i, im.h), nearest(left + j, im.w), ch)];
    }
  }
  return out;
}

/** PIL Image.resize with the BOX filter along one axis: weights from PIL's precompute_coeffs. */
function boxWeights(inSize: number, outSize: number): { start: number; weights: number[] }[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 0.5 * filterScale;
  return Array.from({ length: outSize }, (_, i) => {
    const centre = (i + 0.5) * scale;
    const start = Math.max(Math.trunc(centre - support + 0.5), 0);
    const end = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const weights: number[] = [];
    for (let x = start; x < end; x++) {
      const t = (x - centre + 0.5) / filterScale;
      weights.push(t > -0.5 && t <= 0.5 ? 1 : 0);
    }
    const total = weights.reduce((a, b) => a + b, 0) || 1;
    return { start, weights: weights.map((v) => v / total) };
  });
}

export function resizeBox(im: Img, oh: number, ow: number): Img {
  const rows = boxWeights(im.h, oh);
  const cols = boxWeights(im.w, ow);
  const mid = image(im.h, ow, im.c);
  for (let i = 0; i < im.h; i++) {
    cols.forEach(({ start, weights }, j) => {
      for (let ch = 0; ch < im.c; ch++) {
        mid.data[idx(mid, i, j, ch)] = weights.reduce((acc, wt, t) => acc + wt * im.data[idx(im, i, start + t, ch)], 0);
      }
    });
  }
  const out = image(oh, ow, im.c);
  rows.forEach(({ start, weights }, i) => {
    for (let j = 0; j < ow; j++) {
      for (let ch = 0; ch < im.c; ch++) {
        out.data[idx(out, i, j, ch)] = weights.reduce((acc, wt, t) => acc + wt * mid.data[idx(mid, start + t, j, ch)], 0);
      }
    }
  });
  return out;
}

/**
 * ImageMagick MotionBlurImage: a one-sided blur along `angle` degrees with
 * width 2 ceil(radius) + 1 taps weighted exp(-i^2 / (2 sigma^2)), edge pixels
 * repeated beyond the border.
 */
export function motionBlur(im: Img, radius: number, sigma: number, angle: number): Img {
  const width = 2 * Math.ceil(radius) + 1;
  const raw = Array.from({ length: width }, (_, i) => Math.exp(-(i * i) / (2 * sigma * sigma)));
  const total = raw.reduce((a, b) => a + b, 0);
  const kernel = raw.map((v) => v / total);
  const px = width * Math.sin((angle * Math.PI) / 180);
  const py = width * Math.cos((angle * Math.PI) / 180);
  const len = Math.hypot(px, py);
  const offsets = kernel.map((_, i) => ({ dx: Math.ceil((i * py) / len - 0.5), dy: Math.ceil((i * px) / len - 0.5) }));
  const out = image(im.h, im.w, im.c);
  for (let i = 0; i < im.h; i++) {
    for (let j = 0; j < im.w; j++) {
      for (let ch = 0; ch < im.c; ch++) {
        let acc = 0;
        offsets.forEach(({ dx, dy }, t) => (acc += kernel[t] * im.data[idx(im, nearest(i + dy, im.h), nearest(j + dx, im.w), ch)]));
        out.data[idx(out, i, j, ch)] = acc;
      }
    }
  }
  return out;
}

/** cv2.getAffineTransform: the 2x3 matrix mapping three (x, y) points onto three others. */
export function affineFromPoints(src: number[][], dst: number[][]): number[] {
  // Solve [x y 1] * [a b; c d; e f] = [x' y'] by Cramer's rule on the 3x3 system.
  const det3 = (m: number[][]) =>
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const a = src.map(([x, y]) => [x, y, 1]);
  const d = det3(a);
  const solve = (rhs: number[]) => [0, 1, 2].map((col) => det3(a.map((row, r) => row.map((v, c) => (c === col ? rhs[r] : v)))) / d);
  const [m00, m01, m02] = solve(dst.map((p) => p[0]));
  const [m10, m11, m12] = solve(dst.map((p) => p[1]));
  return [m00, m01, m02, m10, m11, m12];
}

/** cv2.warpAffine(INTER_LINEAR, BORDER_REFLECT_101): dst(x, y) = src(M^-1 (x, y)). */
export function warpAffine(im: Img, m: number[]): Img {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  const inv = [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det];
  const out = image(im.h, im.w, im.c);
  for (let i = 0; i < im.h; i++) {
    for (let j = 0; j < im.w; j++) {
      const sx = inv[0] * j + inv[1] * i + inv[2];
      const sy = inv[3] * j + inv[4] * i + inv[5];
      for (let ch = 0; ch < im.c; ch++) out.data[idx(out, i, j, ch)] = bilinear(im, sy, sx, ch, reflect101);
    }
  }
  return out;
}

/** skimage.color.rgb2hsv for one pixel. */
export function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b);
  const delta = v - Math.min(r, g, b);
  const s = v === 0 ? 0 : delta / v;
  if (delta === 0) return [0, s, v];
  let h = r === v ? (g - b) / delta : g === v ? 2 + (b - r) / delta : 4 + (r - g) / delta;
  h = (h / 6) % 1;
  return [h < 0 ? h + 1 : h, s, v];
}

/** skimage.color.hsv2rgb for one pixel. */
export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const hi = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  return ([[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]] as const)[hi].slice() as [number, number, number];
}

/** ITU-R 601 luma, as cv2.COLOR_RGB2GRAY and PIL's 'L' mode compute it. */
export const luma = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;

/** A greyscale image as grey RGB (for colour corruptions), and back to one channel by luma. */
export function greyToRgb(im: Img): Img {
  const out = image(im.h, im.w, 3);
  im.data.forEach((v, k) => out.data.fill(v, 3 * k, 3 * k + 3));
  return out;
}
export function rgbToGrey(im: Img): Img {
  const out = image(im.h, im.w, 1);
  for (let k = 0; k < im.h * im.w; k++) out.data[k] = luma(im.data[3 * k], im.data[3 * k + 1], im.data[3 * k + 2]);
  return out;
}

/** cv2.distanceTransform(DIST_L2, exact): distance of each pixel to the nearest zero pixel. */
export function distanceToZeros(mask: Uint8Array, h: number, w: number): Float64Array {
  const zeros: [number, number][] = [];
  for (let k = 0; k < h * w; k++) if (mask[k] === 0) zeros.push([Math.floor(k / w), k % w]);
  return Float64Array.from({ length: h * w }, (_, k) => {
    if (mask[k] === 0) return 0;
    const [i, j] = [Math.floor(k / w), k % w];
    let best = Infinity;
    for (const [a, b] of zeros) best = Math.min(best, (a - i) ** 2 + (b - j) ** 2);
    return Math.sqrt(best);
  });
}

/** cv2.equalizeHist on uint8 values. */
export function equalizeHist(values: Uint8Array): Uint8Array {
  const hist = new Array<number>(256).fill(0);
  values.forEach((v) => hist[v]++);
  const cdf: number[] = [];
  hist.reduce((acc, n, i) => (cdf[i] = acc + n), 0);
  const first = cdf.find((v) => v > 0) ?? 0;
  const total = values.length;
  if (total === first) return values.slice();
  return values.map((v) => Math.round(((cdf[v] - first) * 255) / (total - first)));
}

/** The reference plasma_fractal (diamond-square heightmap) on a power-of-two square, scaled to [0, 1]. */
export function plasmaFractal(mapsize: number, wibbledecay: number, uniform: () => number): Float64Array {
  const map = new Float64Array(mapsize * mapsize);
  const at = (i: number, j: number) => (((i % mapsize) + mapsize) % mapsize) * mapsize + (((j % mapsize) + mapsize) % mapsize);
  let step = mapsize;
  let wibble = 100;
  const wibbled = (sum: number) => sum / 4 + wibble * (2 * wibble * uniform() - wibble);
  while (step >= 2) {
    const half = step / 2;
    // Squares: centre of each step-square from its four corners (wrapping).
    for (let i = 0; i < mapsize; i += step) {
      for (let j = 0; j < mapsize; j += step) {
        map[at(i + half, j + half)] = wibbled(map[at(i, j)] + map[at(i + step, j)] + map[at(i, j + step)] + map[at(i + step, j + step)]);
      }
    }
    // Diamonds: edge midpoints from the two adjacent corners and centres.
    for (let i = 0; i < mapsize; i += step) {
      for (let j = 0; j < mapsize; j += step) {
        map[at(i, j + half)] = wibbled(map[at(i + half, j + half)] + map[at(i - half, j + half)] + map[at(i, j)] + map[at(i, j + step)]);
      }
    }
    for (let i = 0; i < mapsize; i += step) {
      for (let j = 0; j < mapsize; j += step) {
        map[at(i + half, j)] = wibbled(map[at(i + half, j + half)] + map[at(i + half, j - half)] + map[at(i, j)] + map[at(i + step, j)]);
      }
    }
    step = half;
    wibble /= wibbledecay;
  }
  const min = Math.min(...map);
  const max = Math.max(...map) - min;
  return map.map((v) => (v - min) / (max || 1));
}
