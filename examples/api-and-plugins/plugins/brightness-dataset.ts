/**
 * A dataset plugin: 8x8 greyscale images of one flat brightness, class 0 dark (below 0.5) and
 * class 1 bright, generated from a seed. Image i's distance to the class boundary is known, so
 * the robust accuracy of a linear model at every l-inf budget is known in closed form.
 */
import { createHash } from 'node:crypto';
import { defineDataset } from 'robench';

const SHAPE: [number, number, number] = [8, 8, 1];
const SIZE = SHAPE[0] * SHAPE[1] * SHAPE[2];
/** Test images are numbered from here, so no test image is a training image. */
export const TEST_OFFSET = 1_000_000;

/** Brightness of image i: spread over [0.05, 0.45] and [0.55, 0.95]. */
export const brightness = (i: number): number => (i % 2 === 0 ? 0.45 - 0.4 * ((i * 0.618034) % 1) : 0.55 + 0.4 * ((i * 0.618034) % 1));

/** How far image i is from the class boundary: the l-inf budget it takes to flip a model that thresholds the mean pixel at 0.5. */
export const margin = (i: number): number => Math.abs(brightness(i) - 0.5);

export default defineDataset({
  id: 'brightness',
  description: 'flat 8x8 images, dark (class 0) or bright (class 1)',
  imageShape: SHAPE,
  classNames: ['dark', 'bright'],
  // Per-channel mean and std of the pixels: a model that normalises its input uses these.
  normalization: { mean: [0.5], std: [0.29] },
  async load({ split, samples }) {
    const count = samples ?? 200;
    const offset = split === 'test' ? TEST_OFFSET : 0;
    const images = new Float32Array(count * SIZE);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const b = brightness(offset + i);
      images.fill(b, i * SIZE, (i + 1) * SIZE);
      labels[i] = b > 0.5 ? 1 : 0;
    }
    // Recorded in results.json; worker threads compare it with the main thread's.
    const sha256 = createHash('sha256').update(new Uint8Array(images.buffer)).update(new Uint8Array(labels.buffer)).digest('hex');
    return { images, labels, count, shape: SHAPE, source: { kind: 'bundled', path: `generated:${split}`, sha256 } };
  },
});
