/**
 * Common corruptions (Hendrycks & Dietterich 2019, "Benchmarking Neural Network
 * Robustness to Common Corruptions and Perturbations"): the 15 benchmark
 * corruptions plus the 4 held-out extra ones, at severity 1-5 (the perturbation
 * axis; 0 is the clean image). Parameters are those of the published CIFAR-10-C
 * generator (make_cifar_c.py), and each step follows the library call it makes
 * there (src/image/image-ops.ts). Where a step used the image size 32 it uses the real
 * size, so 28x28 images get the same relative corruption.
 *
 * Where this differs from the reference, and why:
 * - frost blends a random crop of one of the reference's frost photographs, shipped
 *   shrunk as the generator shrinks them before cropping (src/image/frost-images.ts); a
 *   crop is the image's size, so 28x28 images get 28x28 crops.
 * - motion_blur and snow: ImageMagick's MotionBlurImage is reimplemented
 *   (src/image/image-ops.ts motionBlur: the same one-sided Gaussian tap weights and
 *   offsets) instead of calling ImageMagick; the PNG round trips are 8-bit
 *   quantisations, kept.
 * - spatter: the OpenCV pipeline (Canny edges, src/image/canny.ts, distance transform,
 *   truncation, box blurs, histogram equalisation, emboss filter) is reproduced.
 *   Canny cannot be replaced by the liquid region's boundary: it fires mostly on
 *   the zero side of the jump at severities 1-2, but mostly on the liquid side and
 *   sometimes inside at severity 3, whose liquid varies more (noise scale 0.3); the
 *   boundary gave 8.9 against the reference's 7.1 grey levels there.
 * - jpeg_compression computes PIL's libjpeg round trip (src/image/libjpeg-roundtrip.ts: 4:2:0
 *   chroma, libjpeg's integer DCTs and quality tables) instead of calling PIL; its bytes
 *   are PIL's.
 * - glass_blur: on colour images the reference's pixel "swap" copies the neighbour
 *   over the pixel (numpy views), on grey images it swaps; robench does the same.
 * - test/fixtures/corruptions-reference.json holds statistics of the reference
 *   generator itself on two CIFAR-10 images (scripts/reference-corruptions.py);
 *   the tests hold every corruption to them at every severity.
 * - Greyscale images: colour corruptions (brightness, saturate, spatter, frost,
 *   jpeg) run on the grey image as grey RGB and return its luma, like PIL's 'L'
 *   conversion; snow's greyscale step is the image itself.
 * - Random numbers come from each sample's seeded stream (ctx.rng forked per
 *   corruption, the same for every severity, so severities share their noise).
 * - Outputs stay in float; the published arrays are additionally truncated to uint8.
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget (eps: the severities):
 *   import { attack } from 'robench';
 *   import { corruption } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: corruption, eps: [1, 3, 5], params: { corruption: 'common' } });
 */
import * as tf from '@tensorflow/tfjs';
import {
  affineFromPoints, bilinear, boxBlur3, canny, clip01, clippedZoom, cvGaussianKernel, defineAttack, distanceToZeros,
  equalizeHist, filter2D, frostPhotos, gaussianFilter, greyToRgb, hsvToRgb, idx, image, type Img, libjpegRoundTrip, luma,
  mapPixels, motionBlur, plasmaFractal, reflect, reflect101, resizeBox, rgbToGrey, rgbToHsv, separable, UsageError, warpAffine,
} from '../src/sdk.js';

/** Seeded draws for one sample. */
export interface Random {
  uniform(lo?: number, hi?: number): number;
  normal(mean?: number, std?: number): number;
  /** numpy randint: integer in [lo, hi). */
  randint(lo: number, hi: number): number;
  poisson(lambda: number): number;
}

export function makeRandom(next: () => number): Random {
  const uniform = (lo = 0, hi = 1) => lo + (hi - lo) * next();
  const normal = (mean = 0, std = 1) => mean + std * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return {
    uniform,
    normal,
    randint: (lo, hi) => lo + Math.min(hi - lo - 1, Math.floor(next() * (hi - lo))),
    poisson: (lambda) => poisson(lambda, next),
  };
}

/** Poisson sample: Knuth's product method for small rates, Hörmann's PTRS rejection for large ones. */
function poisson(lambda: number, next: () => number): number {
  if (lambda <= 0) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0;
    for (let p = next(); p > limit; p *= next()) k++;
    return k;
  }
  const slam = Math.sqrt(lambda);
  const loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = next() - 0.5;
    const v = next();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logFactorial(k)) return k;
  }
}

function logFactorial(k: number): number {
  if (k < 2) return 0;
  if (k < 20) {
    let s = 0;
    for (let i = 2; i <= k; i++) s += Math.log(i);
    return s;
  }
  // Stirling series; its error at k >= 20 is below 1e-12.
  return (k + 0.5) * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * k) - 1 / (360 * k ** 3);
}

type Corruption = (x: Img, severity: number, r: Random) => Img;
const pick = <T>(levels: T[], severity: number): T => levels[severity - 1];
const quantise = (v: number): number => Math.trunc(clip01(v) * 255) / 255;

/** Runs a colour corruption on grey images as grey RGB, returning the luma. */
const colour = (f: Corruption): Corruption => (x, s, r) => (x.c === 1 ? rgbToGrey(f(greyToRgb(x), s, r)) : f(x, s, r));

function perPixelRgb(x: Img, f: (rgb: [number, number, number]) => [number, number, number]): Img {
  const out = image(x.h, x.w, x.c);
  for (let k = 0; k < x.h * x.w; k++) out.data.set(f([x.data[3 * k], x.data[3 * k + 1], x.data[3 * k + 2]]), 3 * k);
  return out;
}

const gaussian_noise: Corruption = (x, s, r) => {
  const c = pick([0.04, 0.06, 0.08, 0.09, 0.1], s);
  return mapPixels(x, (v) => clip01(v + r.normal(0, c)));
};

const shot_noise: Corruption = (x, s, r) => {
  const c = pick([500, 250, 100, 75, 50], s);
  return mapPixels(x, (v) => clip01(r.poisson(v * c) / c));
};

const impulse_noise: Corruption = (x, s, r) => {
  const amount = pick([0.01, 0.02, 0.03, 0.05, 0.07], s);
  // skimage random_noise 's&p': each value flips with probability `amount`, to salt or pepper equally.
  return mapPixels(x, (v) => {
    const flipped = r.uniform() <= amount;
    const salted = r.uniform() <= 0.5;
    return flipped ? (salted ? 1 : 0) : v;
  });
};

const speckle_noise: Corruption = (x, s, r) => {
  const c = pick([0.06, 0.1, 0.12, 0.16, 0.2], s);
  return mapPixels(x, (v) => clip01(v + v * r.normal(0, c)));
};

const gaussian_blur: Corruption = (x, s) => mapPixels(gaussianFilter(x, pick([0.4, 0.6, 0.7, 0.8, 1], s)), clip01);

const glass_blur: Corruption = (x, s, r) => {
  const [sigma, delta, iterations] = pick([[0.05, 1, 1], [0.25, 1, 1], [0.4, 1, 1], [0.25, 1, 2], [0.4, 1, 2]], s);
  const im = mapPixels(gaussianFilter(x, sigma), quantise);
  // Locally shuffle pixels, bottom-right to top-left, as the reference loops do. Its "swap"
  // `x[h, w], x[h', w'] = x[h', w'], x[h, w]` assigns numpy views on an HxWx3 array, so the
  // neighbour's pixel is copied over (h, w) and the second assignment writes that same pixel back:
  // colour pixels move at most one step. On a 2-D grey array the elements are scalars and it truly
  // swaps (as in the MNIST-C generator), so grey pixels can travel with the sweep.
  const swap = im.c === 1;
  for (let it = 0; it < iterations; it++) {
    for (let h = im.h - delta; h > delta; h--) {
      for (let w = im.w - delta; w > delta; w--) {
        const dx = r.randint(-delta, delta);
        const dy = r.randint(-delta, delta);
        for (let ch = 0; ch < im.c; ch++) {
          const [p, q] = [idx(im, h, w, ch), idx(im, h + dy, w + dx, ch)];
          if (swap) [im.data[p], im.data[q]] = [im.data[q], im.data[p]];
          else im.data[p] = im.data[q];
        }
      }
    }
  }
  return mapPixels(gaussianFilter(im, sigma), clip01);
};

const defocus_blur: Corruption = (x, s) => {
  const [radius, aliasBlur] = pick([[0.3, 0.4], [0.4, 0.5], [0.5, 0.6], [1, 0.2], [1.5, 0.1]], s);
  // The reference disk(): an aliased disk on a 17x17 grid, anti-aliased by a 3x3 Gaussian.
  const side = 17;
  const disk = image(side, side, 1);
  for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) disk.data[i * side + j] = (i - 8) ** 2 + (j - 8) ** 2 <= radius ** 2 ? 1 : 0;
  const total = disk.data.reduce((a, b) => a + b, 0);
  const kernel = separable(mapPixels(disk, (v) => v / total), cvGaussianKernel(3, aliasBlur), reflect101);
  return mapPixels(filter2D(x, Array.from(kernel.data), side), clip01);
};

const motion_blur: Corruption = (x, s, r) => {
  const [radius, sigma] = pick([[6, 1], [6, 1.5], [6, 2], [8, 2], [9, 2.5]], s);
  const blurred = motionBlur(mapPixels(x, (v) => Math.round(clip01(v) * 255) / 255), radius, sigma, r.uniform(-45, 45));
  return mapPixels(blurred, (v) => Math.round(clip01(v) * 255) / 255);
};

const zoom_blur: Corruption = (x, s) => {
  // numpy's arange(1, 1 + 0.05 s + 0.01, 0.01) yields these counts of factors 1.00, 1.01, ...
  const count = pick([7, 12, 16, 21, 26], s);
  const out = x.data.slice();
  for (let t = 0; t < count; t++) clippedZoom(x, 1 + 0.01 * t).data.forEach((v, k) => (out[k] += v));
  return mapPixels(image(x.h, x.w, x.c, out), (v) => clip01(v / (count + 1)));
};

const snow: Corruption = (x, s, r) => {
  const [loc, scale, zoom, threshold, radius, sigma, keep] = pick(
    [[0.1, 0.2, 1, 0.6, 8, 3, 0.95], [0.1, 0.2, 1, 0.5, 10, 4, 0.9], [0.15, 0.3, 1.75, 0.55, 10, 4, 0.9], [0.25, 0.3, 2.25, 0.6, 12, 6, 0.85], [0.3, 0.3, 1.25, 0.65, 14, 12, 0.8]],
    s,
  );
  const layer = image(x.h, x.w, 1);
  layer.data.forEach((_, k) => (layer.data[k] = r.normal(loc, scale)));
  const zoomed = mapPixels(clippedZoom(layer, zoom), (v) => (v < threshold ? 0 : Math.trunc(clip01(v) * 255) / 255));
  const flakes = mapPixels(motionBlur(zoomed, radius, sigma, r.uniform(-135, -45)), (v) => Math.round(clip01(v) * 255) / 255);
  const out = image(x.h, x.w, x.c);
  for (let i = 0; i < x.h; i++) {
    for (let j = 0; j < x.w; j++) {
      const k = idx(x, i, j, 0);
      const grey = x.c === 3 ? luma(x.data[k], x.data[k + 1], x.data[k + 2]) : x.data[k];
      const flake = flakes.data[i * x.w + j] + flakes.data[(x.h - 1 - i) * x.w + (x.w - 1 - j)];
      for (let ch = 0; ch < x.c; ch++) {
        const v = x.data[k + ch];
        out.data[k + ch] = clip01(keep * v + (1 - keep) * Math.max(v, grey * 1.5 + 0.5) + flake);
      }
    }
  }
  return out;
};

const frost: Corruption = colour((x, s, r) => {
  const [keep, weight] = pick([[1, 0.2], [1, 0.3], [0.9, 0.4], [0.85, 0.4], [0.75, 0.45]], s);
  // As the reference draws: np.random.randint(5) for the photo, then the crop's top and left.
  const photo = frostPhotos()[r.randint(0, 5)];
  const [top, left] = [r.randint(0, photo.h - x.h), r.randint(0, photo.w - x.w)];
  return mapPixels(x, (v, k) => {
    const p = Math.floor(k / 3);
    return clip01(keep * v + weight * photo.data[idx(photo, top + Math.floor(p / x.w), left + (p % x.w), k % 3)]);
  });
});

const fog: Corruption = (x, s, r) => {
  const [amount, decay] = pick([[0.2, 3], [0.5, 3], [0.75, 2.5], [1, 2], [1.5, 1.75]], s);
  const size = 2 ** Math.ceil(Math.log2(Math.max(x.h, x.w)));
  const plasma = plasmaFractal(size, decay, () => r.uniform());
  const maxVal = Math.max(...x.data);
  return mapPixels(x, (v, k) => {
    const p = Math.floor(k / x.c);
    const fogged = v + amount * plasma[Math.floor(p / x.w) * size + (p % x.w)];
    return clip01((fogged * maxVal) / (maxVal + amount));
  });
};

const brightness: Corruption = colour((x, s) => {
  const c = pick([0.05, 0.1, 0.15, 0.2, 0.3], s);
  return perPixelRgb(x, ([red, g, b]) => {
    const [h, sat, v] = rgbToHsv(red, g, b);
    return hsvToRgb(h, sat, clip01(v + c)).map(clip01) as [number, number, number];
  });
});

const saturate: Corruption = colour((x, s) => {
  const [mul, add] = pick([[0.3, 0], [0.1, 0], [1.5, 0], [2, 0.1], [2.5, 0.2]], s);
  return perPixelRgb(x, ([red, g, b]) => {
    const [h, sat, v] = rgbToHsv(red, g, b);
    return hsvToRgb(h, clip01(sat * mul + add), v).map(clip01) as [number, number, number];
  });
});

const contrast: Corruption = (x, s) => {
  const c = pick([0.75, 0.5, 0.4, 0.3, 0.15], s);
  const means = Array.from({ length: x.c }, (_, ch) => x.data.filter((_, k) => k % x.c === ch).reduce((a, b) => a + b, 0) / (x.h * x.w));
  return mapPixels(x, (v, k) => clip01((v - means[k % x.c]) * c + means[k % x.c]));
};

const elastic_transform: Corruption = (x, s, r) => {
  const size = Math.min(x.h, x.w);
  const [alpha, sigma, affine] = pick([[0, 0, 0.08], [0.05, 0.2, 0.07], [0.08, 0.06, 0.06], [0.1, 0.04, 0.05], [0.1, 0.03, 0.03]], s).map((v) => v * size);
  // The reference's random affine on three points around the centre (given to OpenCV as (x, y)).
  const centre = [Math.floor(x.h / 2), Math.floor(x.w / 2)];
  const sq = Math.floor(size / 3);
  const pts1 = [[centre[0] + sq, centre[1] + sq], [centre[0] + sq, centre[1] - sq], [centre[0] - sq, centre[1] - sq]];
  const pts2 = pts1.map((p) => p.map((v) => v + r.uniform(-affine, affine)));
  const warped = warpAffine(x, affineFromPoints(pts1, pts2));
  const field = () => {
    const noise = image(x.h, x.w, 1);
    noise.data.forEach((_, k) => (noise.data[k] = r.uniform(-1, 1)));
    return mapPixels(gaussianFilter(noise, sigma, reflect, 3), (v) => v * alpha);
  };
  const dx = field();
  const dy = field();
  const out = image(x.h, x.w, x.c);
  for (let i = 0; i < x.h; i++) {
    for (let j = 0; j < x.w; j++) {
      const [yy, xx] = [i + dy.data[i * x.w + j], j + dx.data[i * x.w + j]];
      for (let ch = 0; ch < x.c; ch++) out.data[idx(out, i, j, ch)] = clip01(bilinear(warped, yy, xx, ch, reflect));
    }
  }
  return out;
};

const pixelate: Corruption = (x, s) => {
  const c = pick([0.95, 0.9, 0.85, 0.75, 0.65], s);
  return mapPixels(resizeBox(resizeBox(x, Math.trunc(x.h * c), Math.trunc(x.w * c)), x.h, x.w), clip01);
};

const jpeg_compression: Corruption = colour((x, s) => {
  const quality = pick([80, 65, 58, 50, 40], s);
  const bytes = Uint8Array.from(x.data, (v) => Math.round(clip01(v) * 255));
  return image(x.h, x.w, 3, Float64Array.from(libjpegRoundTrip(bytes, x.h, x.w, quality), (v) => v / 255));
});

const spatter: Corruption = colour((x, s, r) => {
  const [loc, scale, sigma, threshold, intensity, mud] = pick(
    [[0.62, 0.1, 0.7, 0.7, 0.5, 0], [0.65, 0.1, 0.8, 0.7, 0.5, 0], [0.65, 0.3, 1, 0.69, 0.5, 0], [0.65, 0.1, 0.7, 0.69, 0.6, 1], [0.65, 0.1, 0.5, 0.68, 0.6, 1]],
    s,
  );
  const n = x.h * x.w;
  const noise = image(x.h, x.w, 1);
  noise.data.forEach((_, k) => (noise.data[k] = r.normal(loc, scale)));
  const liquid = mapPixels(gaussianFilter(noise, sigma), (v) => (v < threshold ? 0 : v));
  const out = image(x.h, x.w, 3);
  if (mud === 0) {
    const layer = Uint8Array.from(liquid.data, (v) => Math.max(0, Math.min(255, Math.trunc(v * 255))));
    const notEdge = canny(layer, x.h, x.w, 50, 150).map((v) => 255 - v);
    const dist = image(x.h, x.w, 1, distanceToZeros(notEdge, x.h, x.w).map((v) => Math.min(v, 20)));
    const blurred = Uint8Array.from(boxBlur3(dist).data, (v) => Math.trunc(v));
    const equalised = image(x.h, x.w, 1, Float64Array.from(equalizeHist(blurred)));
    const embossed = mapPixels(filter2D(equalised, [-2, -1, 0, -1, 1, 1, 0, 1, 2], 3), (v) => Math.max(0, Math.min(255, Math.round(v))));
    const shade = boxBlur3(embossed).data.map((v, k) => liquid.data[k] * v);
    const max = Math.max(...shade) || 1;
    const water = [175 / 255, 238 / 255, 238 / 255];
    for (let k = 0; k < n; k++) {
      const m = (shade[k] / max) * intensity;
      for (let ch = 0; ch < 3; ch++) out.data[3 * k + ch] = clip01(x.data[3 * k + ch] + m * water[ch]);
    }
    return out;
  }
  const mask = gaussianFilter(mapPixels(liquid, (v) => (v > threshold ? 1 : 0)), intensity);
  const brown = [63 / 255, 42 / 255, 20 / 255];
  for (let k = 0; k < n; k++) {
    const m = mask.data[k] < 0.8 ? 0 : mask.data[k];
    for (let ch = 0; ch < 3; ch++) out.data[3 * k + ch] = clip01(x.data[3 * k + ch] * (1 - m) + brown[ch] * m);
  }
  return out;
});

/** The 15 benchmark corruptions in the paper's order, then the 4 extra ones. */
export const corruptions: Record<string, Corruption> = {
  gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur, motion_blur, zoom_blur, snow, frost, fog,
  brightness, contrast, elastic_transform, pixelate, jpeg_compression, speckle_noise, gaussian_blur, spatter, saturate,
};
export const commonCorruptions = Object.keys(corruptions).slice(0, 15);
export const allCorruptions = Object.keys(corruptions);

/** The corruptions a `--corruption` value stands for, in the order the attack returns their batches. */
export const corruptionNames = (choice: string): string[] => (choice === 'common' ? commonCorruptions : choice === 'all' ? allCorruptions : [choice]);

/**
 * Corrupts one batch (NHWC in [0, 1]) with one corruption at one severity, per-sample streams
 * from `next`. The pixels are read with await data(), the only read the webgpu backend supports.
 */
export async function corruptBatch(x: tf.Tensor4D, name: string, severity: number, next: (row: number) => number): Promise<tf.Tensor4D> {
  const [n, h, w, c] = x.shape;
  if (c !== 1 && c !== 3) throw new UsageError(`corruption: images have ${c} channels, but corruptions are defined for 1 (grey) or 3 (RGB)`, 'use a greyscale or RGB dataset');
  const pixels = (await x.data()) as Float32Array;
  const out = new Float32Array(pixels.length);
  const size = h * w * c;
  for (let row = 0; row < n; row++) {
    const clean = image(h, w, c, Float64Array.from(pixels.subarray(row * size, (row + 1) * size)));
    out.set(corruptions[name](clean, severity, makeRandom(() => next(row))).data, row * size);
  }
  return tf.tensor4d(out, [n, h, w, c]);
}

type CorruptionParams = { corruption: string };

export default defineAttack<CorruptionParams>({
  id: 'corruption',
  description: 'Common corruptions (Hendrycks & Dietterich 2019) at severity 1-5, CIFAR-10-C parameters; common = mean over the 15 benchmark ones',
  params: {
    corruption: {
      type: 'string',
      description: 'one corruption, "common" (the 15 benchmark corruptions, accuracy averaged) or "all" (the 19 including the extra ones)',
      default: 'common',
      choices: [...allCorruptions, 'common', 'all'],
    },
  },
  budget: () => null,
  perturbationLabel: () => 'severity',
  versions: (params) => corruptionNames(params.corruption),
  defaultGrid: () => [0, 1, 2, 3, 4, 5],
  async run(ctx) {
    const severity = ctx.eps;
    if (!Number.isInteger(severity) || severity < 0 || severity > 5) {
      throw new UsageError(`corruption: severity must be an integer from 0 to 5, got ${severity}`, 'pass --eps 0,1,2,3,4,5 or a subset');
    }
    const choice = ctx.params.corruption;
    const names = corruptionNames(choice);
    const unknown = names.find((name) => !(name in corruptions));
    if (unknown) throw new UsageError(`corruption: unknown corruption "${unknown}"`, `choose one of ${allCorruptions.join(', ')}, common or all`);
    const out: tf.Tensor4D[] = [];
    for (const name of names) {
      const rng = ctx.rng.fork(name);
      out.push(severity === 0 ? ctx.x.clone() : await corruptBatch(ctx.x, name, severity, (row) => rng.next(row)));
    }
    return out;
  },
});
