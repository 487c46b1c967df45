/**
 * What the engine enforces on every batch an attack returns, so that a buggy
 * attack can never report robustness numbers for perturbations it was not allowed.
 */
import * as tf from '@tensorflow/tfjs';
import { RobenchError } from './errors.js';
import type { Norm } from './plugin-api.js';

/** Absolute slack for float32 round-off in projections and clipping. */
export const BUDGET_TOLERANCE = 1e-6;

/** Per-sample perturbation size ||xadv - x|| in the given norm. */
export function perturbationNorms(x: tf.Tensor4D, xadv: tf.Tensor4D, norm: Norm): tf.Tensor1D {
  return tf.tidy(() => {
    const d = tf.sub(xadv, x);
    return norm === 'linf' ? tf.max(tf.abs(d), [1, 2, 3]) : tf.sqrt(tf.sum(tf.square(d), [1, 2, 3]));
  });
}

export async function checkAttackOutput(
  attackId: string,
  x: tf.Tensor4D,
  xadv: tf.Tensor,
  eps: number,
  norm: Norm | null,
): Promise<void> {
  const fail = (what: string): never => {
    throw new RobenchError(
      `attack '${attackId}' violated its contract at perturbation ${eps}: ${what}`,
      'fix the attack so that it returns a batch of the input shape, finite, in [0, 1] and inside its budget',
    );
  };
  if (xadv.shape.join('x') !== x.shape.join('x')) fail(`returned shape [${xadv.shape}] for an input of shape [${x.shape}]`);
  if (xadv.dtype !== 'float32') fail(`returned dtype ${xadv.dtype}, expected float32`);
  const stats = tf.tidy(() => tf.stack([tf.min(xadv), tf.max(xadv), tf.sum(tf.cast(tf.isNaN(xadv), 'float32'))]));
  const [lo, hi, nans] = await stats.data();
  stats.dispose();
  if (nans > 0) fail(`returned ${nans} NaN values`);
  if (lo < -BUDGET_TOLERANCE || hi > 1 + BUDGET_TOLERANCE) fail(`pixels outside [0, 1] (min ${lo}, max ${hi})`);
  if (norm === null) return;
  const sizes = perturbationNorms(x, xadv as tf.Tensor4D, norm);
  const data = await sizes.data();
  sizes.dispose();
  const limit = eps * (1 + BUDGET_TOLERANCE) + BUDGET_TOLERANCE;
  const worst = Math.max(0, ...data);
  if (worst > limit) fail(`a perturbation of ${norm} size ${worst} exceeds the budget ${eps}`);
}
