/**
 * Additive Gaussian noise: x' = clip_[0,1](x + sigma * n), n ~ N(0, I), with the
 * perturbation axis being sigma. Noise is random rather than adversarial, so the
 * attack returns `draws` independent noisy copies and the engine averages
 * accuracy over them (an expected accuracy, not a worst case).
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget (eps: the noise's sigma):
 *   import { attack } from 'robench';
 *   import { gaussian } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: gaussian, eps: [0.1, 0.3], params: { draws: 10 } });
 */
import * as tf from '@tensorflow/tfjs';
import { defineAttack, UsageError } from '../src/sdk.js';

type GaussianParams = { draws: number };

export default defineAttack<GaussianParams>({
  id: 'gaussian',
  description: 'Additive Gaussian noise N(0, sigma^2) clipped to [0, 1], accuracy averaged over independent draws',
  params: {
    draws: { type: 'int', description: 'independent noise draws per image; accuracy is averaged over them', default: 3, minimum: 1 },
  },
  budget: () => null,
  perturbationLabel: () => 'sigma',
  defaultGrid: () => [0, 0.05, 0.1, 0.15, 0.2, 0.3],
  async run(ctx) {
    const { draws } = ctx.params;
    if (!Number.isInteger(draws) || draws < 1) {
      throw new UsageError(`gaussian: draws must be a positive integer, got ${draws}`, 'pass --draws 1 or more');
    }
    return Array.from({ length: draws }, (_, i) =>
      tf.tidy(() => tf.clipByValue(tf.add(ctx.x, ctx.rng.fork(`draw-${i}`).normal(ctx.x.shape, 0, ctx.eps)), 0, 1) as tf.Tensor4D),
    );
  },
});
