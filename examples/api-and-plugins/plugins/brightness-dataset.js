/**
 * A dataset plugin: 8x8 greyscale images of one flat brightness, class 0 dark (below 0.5) and
 * class 1 bright, generated from a seed. A linear model separates them with a margin known per
 * image, so its robust accuracy at every l-inf budget is known in closed form.
 */
import { createHash } from 'node:crypto';
import { defineDataset } from 'robench';

const SIZE = 8 * 8;

/** Brightness of image i: spread over [0.05, 0.45] and [0.55, 0.95], so |b - 0.5| runs from 0.05 to 0.45. */
export const brightness = (i) => (i % 2 === 0 ? 0.45 - 0.4 * ((i * 0.618034) % 1) : 0.55 + 0.4 * ((i * 0.618034) % 1));

export default defineDataset({
  id: 'brightness',
  description: 'flat 8x8 images, dark (class 0) or bright (class 1)',
  imageShape: [8, 8, 1],
  classNames: ['dark', 'bright'],
  normalization: { mean: [0.5], std: [0.29] },
  async load({ split, samples }) {
    const count = samples ?? 200;
    const offset = split === 'test' ? 1_000_000 : 0;
    const images = new Float32Array(count * SIZE);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const b = brightness(offset + i);
      images.fill(b, i * SIZE, (i + 1) * SIZE);
      labels[i] = b > 0.5 ? 1 : 0;
    }
    const sha256 = createHash('sha256').update(new Uint8Array(images.buffer)).update(new Uint8Array(labels.buffer)).digest('hex');
    return { images, labels, count, shape: [8, 8, 1], source: { kind: 'bundled', path: `generated:${split}`, sha256 } };
  },
});
