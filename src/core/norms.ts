/**
 * Perturbation budgets: projections onto the feasible set {x' : ||x' - x|| <= eps,
 * x' in [0, 1]}, per-sample norms, and the measurement the engine uses to check
 * that an attack stayed inside its budget.
 */
import * as tf from '@tensorflow/tfjs';
import type { Norm } from './plugin-api.js';

/** Per-sample l2 norm of a batch, shape [batch]. */
export function l2Norms(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(tf.reshape(t, [t.shape[0], -1])), 1)) as tf.Tensor1D);
}

/** Per-sample l-inf norm of a batch, shape [batch]. */
export function linfNorms(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.max(tf.abs(tf.reshape(t, [t.shape[0], -1])), 1) as tf.Tensor1D);
}

/** Per-sample norm of a batch in `norm`, shape [batch]. */
export const norms = (t: tf.Tensor, norm: Norm): tf.Tensor1D => (norm === 'linf' ? linfNorms(t) : l2Norms(t));

/** Per-sample perturbation size ||xadv - x|| in the given norm. */
export function perturbationNorms(x: tf.Tensor4D, xadv: tf.Tensor4D, norm: Norm): tf.Tensor1D {
  return tf.tidy(() => norms(tf.sub(xadv, x), norm));
}

/** One value clipped to the pixel range [0, 1]. */
export const clip01 = (v: number): number => Math.min(1, Math.max(0, v));

/** Reshapes a per-sample [batch] tensor so it broadcasts against an NHWC batch. */
export function perSample(v: tf.Tensor1D): tf.Tensor4D {
  return tf.reshape(v, [v.shape[0], 1, 1, 1]);
}

/**
 * Exact Euclidean projection onto the l-inf ball around x intersected with
 * [0, 1]: both sets are boxes, so clipping coordinate-wise is the projection.
 */
export function projectLinf(x: tf.Tensor4D, xadv: tf.Tensor4D, eps: number): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.minimum(tf.maximum(xadv, tf.sub(x, eps)), tf.add(x, eps)), 0, 1));
}

/**
 * Rescales the perturbation into the l2 ball, then clips to [0, 1]. Because x is
 * in [0, 1], clipping only moves coordinates towards x, so the result stays in
 * the ball: a feasible point, and the exact projection whenever no clipping is
 * needed (as in the reference APGD and PGD implementations).
 */
export function projectL2(x: tf.Tensor4D, xadv: tf.Tensor4D, eps: number): tf.Tensor4D {
  return tf.tidy(() => {
    const delta = tf.sub(xadv, x);
    const norms = l2Norms(delta);
    const factor = tf.minimum(1, tf.div(eps, tf.maximum(norms, 1e-12)));
    return tf.clipByValue(tf.add(x, tf.mul(delta, perSample(factor as tf.Tensor1D))), 0, 1);
  });
}

export function project(norm: Norm, x: tf.Tensor4D, xadv: tf.Tensor4D, eps: number): tf.Tensor4D {
  return norm === 'linf' ? projectLinf(x, xadv, eps) : projectL2(x, xadv, eps);
}

/**
 * Exact sign of every element: -1, 0 or 1. tf.sign is not: tfjs-backend-wasm's Sign kernel
 * returns 0 for |x| below float32 epsilon (1.19e-7), and the input gradients of confidently
 * classified samples are often that small, so an l-inf step built on it freezes those pixels.
 * Comparisons with zero are exact on every backend, subnormals included.
 */
export function exactSign(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.cast(tf.greater(t, 0), 'float32'), tf.cast(tf.less(t, 0), 'float32')));
}

/**
 * g / ||g||_2 per sample, exact whatever the gradient's scale. Each sample is first divided by
 * its largest |g_i| (an exact positive rescaling that leaves the direction unchanged), so the
 * squares summed for the norm neither underflow (a gradient of norm 1e-20 would otherwise give
 * a zero norm) nor need a floor that shortens the step. A zero gradient gives a zero direction.
 */
export function unitL2(g: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const scaled = tf.divNoNan(g, perSample(linfNorms(g)));
    return tf.divNoNan(scaled, perSample(l2Norms(scaled))) as tf.Tensor4D;
  });
}

/**
 * The steepest-ascent direction of unit norm for a gradient: sign(g) for l-inf
 * (the maximiser of <g, d> over ||d||_inf <= 1), g / ||g||_2 for l2. Both depend
 * only on the gradient's direction, so they are computed exactly at any scale.
 */
export function steepestDirection(norm: Norm, grad: tf.Tensor4D): tf.Tensor4D {
  return norm === 'linf' ? (exactSign(grad) as tf.Tensor4D) : unitL2(grad);
}

/** Size of each sample's perturbation in the given norm, as plain numbers. */
export function maxPerturbation(x: tf.Tensor4D, xadv: tf.Tensor4D, norm: Norm): number[] {
  if (x.shape.join() !== xadv.shape.join()) {
    throw new Error(`perturbed batch has shape [${xadv.shape}] but the clean batch has shape [${x.shape}]`);
  }
  const norms = tf.tidy(() => {
    const delta = tf.sub(xadv, x);
    return norm === 'linf' ? linfNorms(delta) : l2Norms(delta);
  });
  const values = Array.from(norms.dataSync());
  norms.dispose();
  return values;
}

/** Datasets of 28x28 greyscale digits and clothes, whose usual budgets are larger. */
function isGreyscaleDigits(dataset: string): boolean {
  return /mnist/i.test(dataset);
}

/**
 * Literature-scale budget grids: l-inf up to 0.3 on MNIST-like data (Madry et al.)
 * and up to 16/255 on colour data; l2 up to 4 on MNIST-like data and up to 1.5
 * on 32x32 colour data (the usual 0.5 sits in the middle).
 */
export function defaultEpsGrid(dataset: string, norm: Norm): number[] {
  if (norm === 'linf') {
    return isGreyscaleDigits(dataset)
      ? [0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3]
      : [0, 1, 2, 4, 8, 16].map((v) => v / 255);
  }
  return isGreyscaleDigits(dataset) ? [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4] : [0, 0.1, 0.25, 0.5, 0.75, 1, 1.5];
}

/**
 * Projects each perturbation onto the ball of its own radius (FMN's adaptive norm constraint):
 * l-inf clips every coordinate to [-r_i, r_i], l2 rescales a perturbation longer than r_i to
 * length r_i. Exact at every scale: a perturbation already inside is returned unchanged.
 */
export function projectToRadius(norm: Norm, delta: tf.Tensor4D, radius: tf.Tensor1D): tf.Tensor4D {
  return tf.tidy(() => {
    const r = perSample(radius);
    if (norm === 'linf') return tf.minimum(tf.maximum(delta, tf.neg(r)), r) as tf.Tensor4D;
    const length = l2Norms(delta);
    return tf.mul(delta, perSample(tf.where(tf.greater(length, radius), tf.div(radius, length), tf.onesLike(length)) as tf.Tensor1D)) as tf.Tensor4D;
  });
}
