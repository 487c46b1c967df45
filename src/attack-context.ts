/**
 * Builds the AttackContext an attack runs against: the model wrapped so every
 * forward and gradient evaluation is counted (per sample, so budgets in queries
 * compare across batch sizes), and the input gradient of a per-sample loss.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttackContext, Params, PerSampleLoss, Rng } from './plugin-api.js';
import { crossEntropy } from './losses.js';

export interface EvaluationCounters {
  forward: number;
  gradient: number;
}

export interface AttackContextOptions {
  logits: (x: tf.Tensor4D) => tf.Tensor2D;
  x: tf.Tensor4D;
  y: tf.Tensor1D;
  eps: number;
  params: Params;
  rng: Rng;
  numClasses: number;
  dataset: string;
  counters: EvaluationCounters;
  /** Default true; see AttackContext.earlyStop. */
  earlyStop?: boolean;
}

export function makeAttackContext(opts: AttackContextOptions): AttackContext {
  const { logits, y, counters } = opts;

  const model = (x: tf.Tensor4D): tf.Tensor2D => {
    counters.forward += x.shape[0];
    return logits(x);
  };

  const inputGradient = (x: tf.Tensor4D, loss: PerSampleLoss = crossEntropy, labels: tf.Tensor1D = y) => {
    if (x.shape[0] !== labels.shape[0]) {
      throw new Error(`inputGradient: batch of ${x.shape[0]} images but ${labels.shape[0]} labels; pass the whole batch, or the labels of the part you pass`);
    }
    counters.gradient += x.shape[0];
    // The gradient tape disposes everything f creates except its result, so the
    // logits and per-sample loss are kept out of it and re-owned below.
    let keptLogits: tf.Tensor2D | undefined;
    let keptLoss: tf.Tensor1D | undefined;
    const f = (input: tf.Tensor4D): tf.Scalar => {
      const z = logits(input);
      const perSampleLoss = loss(z, labels);
      keptLogits = tf.keep(z);
      keptLoss = tf.keep(perSampleLoss);
      return tf.sum(perSampleLoss);
    };
    const { value, grad } = tf.valueAndGrad(f)(x);
    value.dispose();
    // Clones share the data but are ordinary tensors again, so a caller's
    // tf.tidy disposes them; kept tensors would escape every scope.
    const out = { grad: grad as tf.Tensor4D, loss: keptLoss!.clone(), logits: keptLogits!.clone() };
    keptLoss!.dispose();
    keptLogits!.dispose();
    return out;
  };

  return {
    model,
    inputGradient,
    x: opts.x,
    y: opts.y,
    eps: opts.eps,
    params: opts.params,
    rng: opts.rng,
    numClasses: opts.numClasses,
    dataset: opts.dataset,
    earlyStop: opts.earlyStop ?? true,
  };
}
