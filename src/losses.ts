/**
 * Per-sample losses on logits, all differentiable with respect to the logits.
 * Every function takes raw logits: softmax is never applied before a loss here,
 * because log(softmax) loses precision exactly where attacks operate (confident
 * predictions), while log-sum-exp on logits stays exact.
 */
import * as tf from '@tensorflow/tfjs';
import type { PerSampleLoss } from './plugin-api.js';
import { UsageError } from './errors.js';

/** Logit of each sample's own label, shape [batch]. */
function labelLogit(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  const mask = tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]);
  return tf.sum(tf.mul(logits, mask), 1);
}

/** Largest logit among the classes other than `labels`, shape [batch]. */
function maxOtherLogit(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  const isLabel = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]), 'bool');
  return tf.max(tf.where(isLabel, tf.fill(logits.shape, -Infinity), logits), 1);
}

/**
 * The k-th largest logit (k = 0 is the maximum) of each sample, counting ties.
 * The k largest are masked out one argmax at a time rather than with tf.topk,
 * which has no gradient and would break the tape.
 */
function sortedLogit(logits: tf.Tensor2D, k: number): tf.Tensor1D {
  let rest = logits;
  for (let i = 0; i < k; i++) {
    const top = tf.cast(tf.oneHot(tf.argMax(rest, 1), logits.shape[1]), 'bool');
    rest = tf.where(top, tf.fill(logits.shape, -Infinity), rest);
  }
  return tf.max(rest, 1);
}

/** Cross-entropy -log softmax(z)_y = logsumexp(z) - z_y. */
export const crossEntropy: PerSampleLoss = (logits, labels) =>
  tf.tidy(() => tf.sub(tf.logSumExp(logits, 1), labelLogit(logits, labels)));

/**
 * Margin z_y - max_{i != y} z_i: positive while the sample is classified
 * correctly, negative once it is misclassified. Score-based attacks minimise it.
 */
export const margin: PerSampleLoss = (logits, labels) =>
  tf.tidy(() => tf.sub(labelLogit(logits, labels), maxOtherLogit(logits, labels)));

/**
 * Difference of Logits Ratio (Croce & Hein 2020, eq. 6), to be maximised:
 * -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), where pi sorts logits in
 * decreasing order. Invariant to shifting and rescaling the logits. Needs 3 classes.
 */
export const dlr: PerSampleLoss = (logits, labels) => {
  requireClasses(logits, 3, 'DLR');
  return tf.tidy(() => {
    const scale = tf.add(tf.sub(sortedLogit(logits, 0), sortedLogit(logits, 2)), 1e-12);
    return tf.div(tf.neg(margin(logits, labels)), scale);
  });
};

/**
 * Targeted DLR (Croce & Hein 2020, eq. 7), to be maximised towards class t:
 * -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2). Needs 4 classes.
 */
export function dlrTargeted(targets: tf.Tensor1D): PerSampleLoss {
  return (logits, labels) => {
    requireClasses(logits, 4, 'targeted DLR');
    return tf.tidy(() => {
      const gap = tf.sub(labelLogit(logits, labels), labelLogit(logits, targets));
      const lower = tf.mul(tf.add(sortedLogit(logits, 2), sortedLogit(logits, 3)), 0.5);
      const scale = tf.add(tf.sub(sortedLogit(logits, 0), lower), 1e-12);
      return tf.div(tf.neg(gap), scale);
    });
  };
}

function requireClasses(logits: tf.Tensor2D, needed: number, name: string): void {
  if (logits.shape[1] < needed) {
    throw new UsageError(`the ${name} loss needs at least ${needed} classes but the model has ${logits.shape[1]}`, 'use the cross-entropy loss (--loss ce) instead');
  }
}
