/** The training data as batches: seeded shuffles, augmentation by shifts (and mirror images), and plain batches. */
import * as tf from '@tensorflow/tfjs';
import type { DatasetSplit } from '../core/plugin-api.js';

export interface Augment {
  shift: number;
  flip: boolean;
}
/** Colour photos get pad-and-crop plus mirror images; digits and clothes only small shifts (a mirrored digit is another glyph). */
export const augmentationFor = (shape: number[]): Augment => (shape[2] === 3 ? { shift: 4, flip: true } : { shift: 2, flip: false });
export const describeAugment = (a: Augment): string => `random shift up to ${a.shift}px (zero fill)${a.flip ? ' + horizontal flip' : ''}`;

/** Fisher-Yates with a seeded stream. */
export function permutation(n: number, rand: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Draws augmentedBatch takes from its stream per image (the flip draw only where images are flipped). */
export const drawsPerImage = (a: Augment): number => (a.flip ? 3 : 2);

/** Copies the samples at `idx` into one batch, each shifted (and maybe mirrored) by draws from `rand`. */
export function augmentedBatch(split: DatasetSplit, idx: ArrayLike<number>, aug: Augment, rand: () => number): Float32Array {
  const [h, w, c] = split.shape;
  const per = h * w * c;
  const out = new Float32Array(idx.length * per);
  for (let b = 0; b < idx.length; b++) {
    const dy = Math.floor(rand() * (2 * aug.shift + 1)) - aug.shift;
    const dx = Math.floor(rand() * (2 * aug.shift + 1)) - aug.shift;
    const flip = aug.flip && rand() < 0.5;
    const src = idx[b] * per;
    const dst = b * per;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= h) continue;
      for (let x = 0; x < w; x++) {
        const sx0 = x + dx;
        if (sx0 < 0 || sx0 >= w) continue;
        const sx = flip ? w - 1 - sx0 : sx0;
        for (let ch = 0; ch < c; ch++) out[dst + (y * w + x) * c + ch] = split.images[src + (sy * w + sx) * c + ch];
      }
    }
  }
  return out;
}

/** The training images at `indices`, as it is (no augmentation: the test images have none), in batches. */
export function* plainBatches(split: DatasetSplit, indices: Int32Array, size: number): Generator<tf.Tensor4D> {
  const per = split.shape[0] * split.shape[1] * split.shape[2];
  for (let start = 0; start < indices.length; start += size) {
    const idx = indices.subarray(start, Math.min(start + size, indices.length));
    const x = new Float32Array(idx.length * per);
    idx.forEach((i, b) => x.set(split.images.subarray(i * per, (i + 1) * per), b * per));
    const t = tf.tensor4d(x, [idx.length, ...split.shape]);
    try {
      yield t;
    } finally {
      t.dispose();
    }
  }
}
