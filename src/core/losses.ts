/**
 * Per-sample losses on logits, all differentiable with respect to the logits.
 * Every function takes raw logits: softmax is never applied before a loss here,
 * because log(softmax) loses precision exactly where attacks operate (confident
 * predictions), while log-sum-exp on logits stays exact.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttackContext, PerSampleLoss } from './plugin-api.js';
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

/**
 * log(1 + s) for s >= 0, accurate to float32 rounding for every s. tfjs has no accurate
 * log1p everywhere (tfjs-backend-wasm's Log1p returns 0 for s = 1e-10), so this uses
 * Goldberg's identity log1p(s) = log(u) * s / (u - 1) with u = fl(1 + s), where u - 1 is exact.
 */
function log1p(s: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const u = tf.add(1, s);
    const shifted = tf.sub(u, 1);
    return tf.where(tf.equal(shifted, 0), s, tf.mul(tf.log(u), tf.divNoNan(s, shifted)));
  });
}

/**
 * Cross-entropy -log softmax(z)_y, with its value and gradient exact on confident samples.
 * The textbook logsumexp(z) - z_y is exactly 0 in float32 once z_y leads by about 17, and so
 * is its gradient's label entry p_y - 1: attacks then have no loss to rank iterates by and a
 * gradient that has lost its main term. Where y leads, CE = log1p(s) with
 * s = sum_{i != y} exp(z_i - z_y), and the gradient p - onehot(y) has label entry
 * -sum_{i != y} p_i: both are computed directly, never as a difference of numbers near 1.
 */
export const crossEntropy: PerSampleLoss = (logits, labels) =>
  tf.tidy(() => {
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]);
    const ce = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const z = args[0] as tf.Tensor2D;
      const save = args[1] as tf.GradSaveFunc;
      const zy = tf.sum(tf.mul(z, onehot), 1, true);
      const others = tf.mul(tf.exp(tf.sub(z, zy)), tf.sub(1, onehot));
      const leads = tf.equal(tf.argMax(z, 1), tf.cast(labels, 'int32'));
      const value = tf.where(leads, log1p(tf.sum(others, 1)), tf.sub(tf.logSumExp(z, 1), tf.squeeze(zy, [1])));
      // Saved, not captured: the tidy around this loss frees onehot before any backward pass.
      save([z, onehot]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, [zs, label]: tf.Tensor[]) => {
          const e = tf.exp(tf.sub(zs!, tf.max(zs!, 1, true)));
          const p = tf.div(e, tf.sum(e, 1, true));
          const pOthers = tf.mul(p, tf.sub(1, label!));
          const g = tf.sub(pOthers, tf.mul(label!, tf.sum(pOthers, 1, true)));
          return tf.mul(g, tf.reshape(dy, [-1, 1]));
        },
      };
    });
    return ce(logits) as tf.Tensor1D;
  });

/**
 * Margin z_y - max_{i != y} z_i: positive while the sample is classified
 * correctly, negative once it is misclassified. Score-based attacks minimise it.
 */
export const margin: PerSampleLoss = (logits, labels) =>
  tf.tidy(() => tf.sub(labelLogit(logits, labels), maxOtherLogit(logits, labels)));

/**
 * max_{i != y} z_i - z_y, to be maximised (Carlini & Wagner's f_6 without its clamp): the
 * margin as an ascent loss. Unlike cross-entropy it does not saturate on confident samples,
 * so it is the audit's check that cross-entropy's gradients did not vanish.
 */
export const marginLoss: PerSampleLoss = (logits, labels) => tf.tidy(() => tf.neg(margin(logits, labels)));

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

/**
 * KL(softmax(c) || softmax(z)) = sum_i p_i (log p_i - log q_i) of each row, p = softmax(c) and
 * q = softmax(z): TRADES' robustness term (Zhang et al. 2019), how far the prediction on z moved
 * from the one on c. Both log-probabilities are log-softmax of logits, never logs of
 * probabilities, so confident rows keep their precision; identical rows give exactly 0, and the
 * gradient in z is q - p. Differentiable in both arguments (TRADES' outer loss needs c's gradient).
 */
export const klDivergence = (c: tf.Tensor2D, z: tf.Tensor2D): tf.Tensor1D =>
  tf.tidy(() => {
    const logP = tf.logSoftmax(c);
    return tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, tf.logSoftmax(z))), 1);
  });

/**
 * KL(softmax(clean) || softmax(z)), to be maximised: TRADES' inner objective, moving the
 * prediction away from the clean one with `clean` held fixed (attacks take no gradient in it).
 * It uses no label; `clean` holds the rows of the batch the loss is called on.
 */
export const klFromClean =
  (clean: tf.Tensor2D): PerSampleLoss =>
  (logits) =>
    klDivergence(clean, logits);

/** The classes ranked 2nd, 3rd, ... by the clean logits: the targets of APGD-T and FAB-T, most likely first. */
export function rankedTargets(ctx: AttackContext<any>, count: number): tf.Tensor1D[] {
  return tf.tidy(() => {
    const { indices } = tf.topk(ctx.model(ctx.x), count + 1);
    return Array.from({ length: count }, (_, t) => tf.squeeze(tf.slice(indices, [0, t + 1], [-1, 1]), [1]) as tf.Tensor1D);
  });
}

function requireClasses(logits: tf.Tensor2D, needed: number, name: string): void {
  if (logits.shape[1] < needed) {
    throw new UsageError(`the ${name} loss needs at least ${needed} classes but the model has ${logits.shape[1]}`, 'use the cross-entropy loss (--loss ce) instead');
  }
}
