/**
 * The class counts randomized smoothing decides on: how often the base classifier labels each
 * class among noisy copies x + s z of one image, z ~ N(0, I) (src/evaluation/smoothing.ts says what
 * is done with them).
 *
 * The noise is added to images in [0, 1] and not clipped, as in Cohen et al.: the certificate is
 * for the Gaussian smoothing of f, and clipping would make it the smoothing of another function.
 * z comes from the image's own seeded stream (src/core/rng.ts, keyed by seed, purpose and dataset
 * index) and is read in order, so the counts do not depend on how many copies go through one
 * forward pass, nor on which shard or worker certifies the image. The copies are batched, so the
 * cost is forward passes at the backend's full rate.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageShape } from '../core/plugin-api.js';
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

/** Per class, how many of `draws.count` noisy copies of the image (dataset index `index`) the model labels with it. */
export async function countsUnderNoise(model: BaseClassifier, image: Float32Array, shape: ImageShape, index: number, draws: NoiseDraws): Promise<Int32Array> {
  const counts = new Int32Array(model.numClasses);
  const rng = sampleRng(draws.seed, [index], draws.label);
  const x = tf.tensor4d(image, [1, ...shape]);
  try {
    for (let done = 0; done < draws.count; done += draws.batch) {
      const copies = Math.min(draws.batch, draws.count - done);
      const labels = tf.tidy(() => {
        const z = tf.reshape(rng.normal([1, copies, ...shape]), [copies, ...shape]);
        return tf.argMax(model.logits(tf.add(x, tf.mul(z, draws.sigma)) as tf.Tensor4D), 1);
      });
      const predicted = await labels.data();
      labels.dispose();
      for (const c of predicted) counts[c]!++;
    }
  } finally {
    x.dispose();
  }
  return counts;
}
