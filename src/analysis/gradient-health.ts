/**
 * What an attack's gradient looks like at the clean point of each correctly classified sample:
 * the symptoms AutoAttack's authors list for attacks that silently lose strength (Croce & Hein
 * 2020). A gradient that is exactly zero gives a sign attack nothing to follow; one whose largest
 * entry is below float32 epsilon is where thresholded sign kernels and norm floors bite; a
 * softmax that rounds to 1 means the cross-entropy has saturated and only a scale-invariant loss
 * still ranks iterates.
 */
import * as tf from '@tensorflow/tfjs';
import { batchTensors } from '../core/engine.js';
import { crossEntropy } from '../core/losses.js';
import type { DatasetSplit, LoadedModel } from '../core/plugin-api.js';

/** float32 machine epsilon, 2^-23 (about 1.19e-7). */
export const FLOAT32_EPSILON = 2 ** -23;
/** softmax(z)_y = 1 / (1 + s) rounds to exactly 1 in float32 once s = sum_{i!=y} exp(z_i - z_y) is below this. */
export const SATURATED_SOFTMAX = 2 ** -24;

export interface GradientHealth {
  /** Samples the model classifies correctly: the ones attacks work on, and the denominator below. */
  correct: number;
  /** Of those, how many have a cross-entropy input gradient that is exactly zero. */
  zeroGradient: number;
  /** Of those, how many have max |gradient| below float32 epsilon (the zero ones included). */
  underflowGradient: number;
  /** Of those, how many have a softmax probability of their label that rounds to 1. */
  saturatedSoftmax: number;
}

export async function gradientHealth(model: LoadedModel, data: DatasetSplit, batchSize: number): Promise<GradientHealth> {
  const health: GradientHealth = { correct: 0, zeroGradient: 0, underflowGradient: 0, saturatedSoftmax: 0 };
  for (let start = 0; start < data.count; start += batchSize) {
    const positions = Array.from({ length: Math.min(batchSize, data.count - start) }, (_, i) => start + i);
    const { x, y } = batchTensors(data, positions);
    const [hit, largest, others] = tf.tidy(() => {
      let logits: tf.Tensor2D | undefined;
      const { grad } = tf.valueAndGrad((input: tf.Tensor4D) => {
        logits = tf.keep(model.logits(input));
        return tf.sum(crossEntropy(logits, y)) as tf.Scalar;
      })(x);
      const z = logits!;
      const onehot = tf.oneHot(tf.cast(y, 'int32'), z.shape[1]);
      const zy = tf.sum(tf.mul(z, onehot), 1, true);
      // s itself, not 1 - softmax_y: the difference of numbers near 1 is what rounds away.
      const s = tf.sum(tf.mul(tf.exp(tf.sub(z, zy)), tf.sub(1, onehot)), 1);
      const out = [tf.equal(tf.argMax(z, 1), y), tf.max(tf.abs(tf.reshape(grad, [positions.length, -1])), 1), s];
      z.dispose();
      return out;
    });
    const [hits, maxAbs, s] = await Promise.all([hit.data(), largest.data(), others.data()]);
    tf.dispose([x, y, hit, largest, others]);
    hits.forEach((h, i) => {
      if (!h) return;
      health.correct++;
      if (maxAbs[i] === 0) health.zeroGradient++;
      if (maxAbs[i] < FLOAT32_EPSILON) health.underflowGradient++;
      if (s[i] < SATURATED_SOFTMAX) health.saturatedSoftmax++;
    });
  }
  return health;
}
