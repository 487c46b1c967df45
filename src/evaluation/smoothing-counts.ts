/**
 * The class counts randomized smoothing decides on: how often the base classifier labels each
 * class among noisy copies x + s z of an image, z ~ N(0, I) (src/evaluation/smoothing.ts says what
 * CERTIFY does with them; src/evaluation/smoothed-model.ts votes with the same copies).
 *
 * The noise is added to images in [0, 1] and not clipped, as in Cohen et al.: the certificate is
 * for the Gaussian smoothing of f, and clipping would make it the smoothing of another function.
 * z comes from the image's own seeded stream (src/core/rng.ts, keyed by seed, purpose and dataset
 * index) and is read in order, so the counts do not depend on how many copies go through one
 * forward pass, nor on which shard or worker certifies the image. The copies are batched, so the
 * cost is forward passes at the backend's full rate.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageShape, Rng } from '../core/plugin-api.js';
import { sampleRng } from '../core/rng.js';

/** The base classifier: logits of a batch of [0, 1] images. */
export interface BaseClassifier {
  numClasses: number;
  logits(x: tf.Tensor4D): tf.Tensor2D;
}

export interface NoiseDraws {
  /** The run seed and the purpose of the draws: the streams of CERTIFY's selection and estimation are apart. */
  seed: number;
  label: string;
  sigma: number;
  /** How many noisy copies to classify. */
  count: number;
  /** Noisy copies per forward pass. */
  batch: number;
}

/**
 * `draws` noisy copies x + sigma z of every row of x, copy-major ([draw 0: all rows, draw 1: ...]),
 * each row's z read in order from its stream of `rng`: how the draws are split into calls does
 * not change them. The one way robench makes noisy copies (CERTIFY here, src/evaluation/smoothed-model.ts).
 */
export function noisyCopies(x: tf.Tensor4D, rng: Rng, draws: number, sigma: number): tf.Tensor4D {
  return tf.tidy(() => {
    const noise = tf.concat(Array.from({ length: draws }, () => rng.normal([...x.shape])), 0);
    return tf.add(tf.tile(x, [draws, 1, 1, 1]), tf.mul(noise, sigma)) as tf.Tensor4D;
  });
}

/** One forward pass's votes: per row of x and class, how many of its `draws` noisy copies the model labels with it, [rows, K]. */
export function votesUnderNoise(model: BaseClassifier, x: tf.Tensor4D, rng: Rng, draws: number, sigma: number): tf.Tensor2D {
  return tf.tidy(() => {
    const labels = tf.argMax(model.logits(noisyCopies(x, rng, draws, sigma)), 1);
    return tf.sum(tf.reshape(tf.oneHot(labels, model.numClasses), [draws, x.shape[0], model.numClasses]), 0) as tf.Tensor2D;
  });
}

/** Per class, how many of `draws.count` noisy copies of the image (dataset index `index`) the model labels with it. */
export async function countsUnderNoise(model: BaseClassifier, image: Float32Array, shape: ImageShape, index: number, draws: NoiseDraws): Promise<Int32Array> {
  const counts = new Int32Array(model.numClasses);
  const rng = sampleRng(draws.seed, [index], draws.label);
  const x = tf.tensor4d(image, [1, ...shape]);
  try {
    for (let done = 0; done < draws.count; done += draws.batch) {
      const votes = votesUnderNoise(model, x, rng, Math.min(draws.batch, draws.count - done), draws.sigma);
      const v = await votes.data();
      votes.dispose();
      v.forEach((n, c) => (counts[c]! += n));
    }
  } finally {
    x.dispose();
  }
  return counts;
}
