/**
 * Fast Minimum-Norm attack (Pintor et al. 2021, "Fast Minimum-norm Adversarial Attacks through
 * Adaptive Norm Constraints", Algorithm 1), a minimization attack: one run gives each sample's
 * smallest adversarial example and so the whole curve. With delta_0 = 0, eps_0 = +inf,
 * m(x) = z_y - max_{j != y} z_j and, at step k of K,
 *   alpha_k = alpha_min + (alpha_0 - alpha_min)(1 + cos(pi k / K)) / 2     (alpha_min = alpha_0 / 100)
 *   gamma_k = 0.001 + (gamma_0 - 0.001)(1 + cos(pi k / K)) / 2
 * each step keeps delta_k as the best if x + delta_k is misclassified and no larger than the
 * best so far, then adapts the norm constraint
 *   eps_{k+1} = min(eps_k (1 - gamma_k), ||delta_best||)    if x + delta_k is adversarial
 *             = eps_k (1 + gamma_k)                         else, once any iterate was
 *             = ||delta_k|| + |m| / ||grad m||_q            else (the linearised distance to the boundary)
 * capped at the largest perturbation the box allows, and steps
 *   delta_{k+1} = clip(x + proj_{||.|| <= eps_{k+1}}(delta_k - alpha_k grad m / ||grad m||_2), 0, 1) - x.
 * As in the reference (Foolbox's FMNAttackLp), the gradient is l2-normalised for every norm.
 *
 * Example:
 *   robench run --model hebbian --dataset fashion-mnist --attack fmn --norm l2 --samples 100
 *   robench run --model baseline --attack fmn --norm linf --steps 100 --gamma 0.05
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget:
 *   import { attack } from 'robench';
 *   import { fmn } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: fmn, eps: [0.05, 0.1], params: { norm: 'l2', steps: 100 } });
 */
import * as tf from '@tensorflow/tfjs';
import { defaultEpsGrid, defineAttack, marginLoss, type Norm, norms, projectToRadius, unitL2 } from '../src/sdk.js';

type FmnParams = { norm: Norm; steps: number; 'step-size': number; 'min-step-size'?: number; gamma: number };

const normOf = (norm: Norm | 'l1', t: tf.Tensor): tf.Tensor1D =>
  norm === 'l1' ? (tf.sum(tf.abs(tf.reshape(t, [t.shape[0], -1])), 1) as tf.Tensor1D) : norms(t, norm);

/** The cosine schedule from `start` at step 0 down towards `end` at step K. */
export const cosine = (start: number, end: number, k: number, steps: number): number => end + ((start - end) * (1 + Math.cos((Math.PI * k) / steps))) / 2;

export default defineAttack<FmnParams>({
  id: 'fmn',
  description: 'Fast Minimum-Norm attack (Pintor et al. 2021): minimal l-inf or l2 perturbation with an adaptive norm constraint; one run scores every budget',
  strategy: 'minimization',
  params: {
    norm: { type: 'string', description: 'the norm minimised', default: 'linf', choices: ['linf', 'l2'] },
    steps: { type: 'int', description: 'iterations K', default: 100, minimum: 1 },
    'step-size': { type: 'number', description: 'initial step size alpha_0, annealed by a cosine', default: 1, exclusiveMinimum: 0 },
    'min-step-size': { type: 'number', description: 'final step size (default alpha_0 / 100)', exclusiveMinimum: 0 },
    gamma: { type: 'number', description: 'initial rate gamma_0 of the norm constraint\'s change, annealed by a cosine to 0.001', default: 0.05, exclusiveMinimum: 0, maximum: 1 },
  },
  budget: (p) => p.norm,
  perturbationLabel: () => 'eps',
  defaultGrid: (dataset, p) => defaultEpsGrid(dataset, p.norm),
  async run(ctx) {
    const { x, y, params: p } = ctx;
    const n = x.shape[0];
    const dual = p.norm === 'linf' ? 'l1' : 'l2';
    const minStep = p['min-step-size'] ?? p['step-size'] / 100;
    const worstNorm = tf.tidy(() => normOf(p.norm, tf.maximum(x, tf.sub(1, x))));
    let delta: tf.Tensor4D = tf.zerosLike(x);
    let epsilon: tf.Tensor1D = tf.fill([n], Infinity);
    let bestNorm: tf.Tensor1D = worstNorm.clone();
    let bestDelta: tf.Tensor4D = tf.zerosLike(x);
    let advFound: tf.Tensor1D = tf.zeros([n], 'bool');
    for (let k = 0; k < p.steps; k++) {
      const alpha = cosine(p['step-size'], minStep, k, p.steps);
      const gamma = cosine(p.gamma, 0.001, k, p.steps);
      const next = tf.tidy(() => {
        const { grad, loss, logits } = ctx.inputGradient(tf.add(x, delta) as tf.Tensor4D, marginLoss);
        const isAdv = tf.notEqual(tf.argMax(logits, 1), y);
        const size = normOf(p.norm, delta);
        const improves = tf.logicalAnd(isAdv, tf.lessEqual(size, bestNorm));
        const norms = tf.where(improves, size, bestNorm) as tf.Tensor1D;
        const best = tf.where(tf.reshape(improves, [n, 1, 1, 1]), delta, bestDelta) as tf.Tensor4D;
        const found = tf.logicalOr(advFound, isAdv) as tf.Tensor1D;
        const gradSize = normOf(dual, grad);
        // A zero gradient says nothing about the boundary's distance: no bound until the box's.
        const toBoundary = tf.where(tf.greater(gradSize, 0), tf.div(tf.abs(loss), gradSize), tf.fill([n], Infinity));
        const adapted = tf.where(isAdv, tf.minimum(tf.mul(epsilon, 1 - gamma), norms), tf.where(found, tf.mul(epsilon, 1 + gamma), tf.add(size, toBoundary)));
        const eps = tf.minimum(adapted, worstNorm) as tf.Tensor1D;
        // grad is that of the ascent loss -m: stepping along it lowers the margin.
        const stepped = projectToRadius(p.norm, tf.add(delta, tf.mul(alpha, unitL2(grad))) as tf.Tensor4D, eps);
        const moved = tf.sub(tf.clipByValue(tf.add(x, stepped), 0, 1), x) as tf.Tensor4D;
        return { moved, eps, norms, best, found };
      });
      tf.dispose([delta, epsilon, bestNorm, bestDelta, advFound]);
      [delta, epsilon, bestNorm, bestDelta, advFound] = [next.moved, next.eps, next.norms, next.best, next.found];
    }
    const result = tf.add(x, bestDelta) as tf.Tensor4D;
    tf.dispose([delta, epsilon, bestNorm, bestDelta, advFound, worstNorm]);
    return result;
  },
});
