/**
 * Builds the AttackContext an attack runs against: the model wrapped so every
 * forward and gradient evaluation is counted (per sample, so budgets in queries
 * compare across batch sizes), and the input gradient of a per-sample loss.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttackContext, LoadedModel, Params, PerSampleLoss, Rng } from './plugin-api.js';
import { crossEntropy } from './losses.js';
import { UsageError } from './errors.js';

export interface EvaluationCounters {
  forward: number;
  gradient: number;
}

export interface AttackContextOptions {
  logits: (x: tf.Tensor4D) => tf.Tensor2D;
  /** The model's BPDA stand-in: input gradients are taken through it (LoadedModel.gradientSurrogate). */
  gradientLogits?: (x: tf.Tensor4D) => tf.Tensor2D;
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
  /** Default 1; see AttackContext.eot. */
  eot?: number;
}

/** What an attack context needs of a loaded model: its logits, and its BPDA stand-in if it has one. */
export const modelFunctions = (model: LoadedModel): Pick<AttackContextOptions, 'logits' | 'gradientLogits'> => ({
  logits: (t) => model.logits(t),
  ...(model.gradientSurrogate ? { gradientLogits: (t: tf.Tensor4D) => model.gradientSurrogate!.logits(t) } : {}),
});

export function makeAttackContext(opts: AttackContextOptions): AttackContext {
  const { logits, gradientLogits, y, counters } = opts;
  const eot = opts.eot ?? 1;
  if (!Number.isInteger(eot) || eot < 1) throw new UsageError(`--eot must be a positive integer, got ${eot}`, 'pass --eot 20 for a randomised model, 1 (the default) otherwise');

  const model = (x: tf.Tensor4D): tf.Tensor2D => {
    counters.forward += x.shape[0];
    return logits(x);
  };

  const inputGradient = (x: tf.Tensor4D, loss: PerSampleLoss = crossEntropy, labels: tf.Tensor1D = y) => {
    if (x.shape[0] !== labels.shape[0]) {
      throw new Error(`inputGradient: batch of ${x.shape[0]} images but ${labels.shape[0]} labels; pass the whole batch, or the labels of the part you pass`);
    }
    if (eot === 1) return gradientOnce(x, loss, labels);
    // EOT (Athalye et al. 2018): each draw of the model's randomness is one gradient
    // evaluation; the attack sees the mean gradient, loss and logits over the draws.
    const draws = Array.from({ length: eot }, () => gradientOnce(x, loss, labels));
    return tf.tidy(() => {
      const mean = <T extends tf.Tensor>(pick: (d: (typeof draws)[number]) => T): T => tf.div(tf.addN(draws.map(pick)), eot) as T;
      const out = { grad: mean((d) => d.grad), loss: mean((d) => d.loss), logits: mean((d) => d.logits) };
      tf.dispose(draws.flatMap((d) => [d.grad, d.loss, d.logits]));
      return out;
    });
  };

  const gradientOnce = (x: tf.Tensor4D, loss: PerSampleLoss, labels: tf.Tensor1D) => {
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
    if (gradientLogits) return throughStandIn(x, loss, labels, gradientLogits);
    const { value, grad } = tf.valueAndGrad(f)(x);
    value.dispose();
    // Clones share the data but are ordinary tensors again, so a caller's
    // tf.tidy disposes them; kept tensors would escape every scope.
    const out = { grad: grad as tf.Tensor4D, loss: keptLoss!.clone(), logits: keptLogits!.clone() };
    keptLoss!.dispose();
    keptLogits!.dispose();
    return out;
  };

  /**
   * BPDA: the loss and its gradient in the logits at the model's own logits, carried back to the
   * input through the stand-in's Jacobian (two gradients in turn: tfjs cannot take one inside a
   * custom gradient's backward pass).
   */
  const throughStandIn = (x: tf.Tensor4D, loss: PerSampleLoss, labels: tf.Tensor1D, standIn: (x: tf.Tensor4D) => tf.Tensor2D) => {
    const z = logits(x);
    let keptLoss: tf.Tensor1D | undefined;
    const { value, grad: dz } = tf.valueAndGrad((zi: tf.Tensor2D): tf.Scalar => {
      const perSample = loss(zi, labels);
      keptLoss = tf.keep(perSample);
      return tf.sum(perSample);
    })(z);
    const grad = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(standIn(xi as tf.Tensor4D), dz)))(x);
    const out = { grad: grad as tf.Tensor4D, loss: keptLoss!.clone(), logits: z };
    tf.dispose([value, dz, keptLoss!]);
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
    eot,
    // A member's EOT is its own `--eot` (a param of every gradient attack), as the engine reads it.
    derive: (sub) => makeAttackContext({ ...opts, ...sub, eps: sub.eps ?? opts.eps, eot: typeof sub.params.eot === 'number' ? sub.params.eot : 1 }),
  };
}
