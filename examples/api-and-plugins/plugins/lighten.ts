/** An attack plugin in TypeScript: every pixel raised by eps, the simplest l-inf perturbation. */
import * as tf from '@tensorflow/tfjs';
import { defineAttack, projectLinf } from 'robench';

export default defineAttack<{ sign: number }>({
  id: 'lighten',
  description: 'adds sign * eps to every pixel (a fixed direction, no gradient)',
  // Each param becomes a flag (--sign); robench checks type and bounds before anything runs.
  params: { sign: { type: 'int', description: '+1 lightens, -1 darkens', default: 1, minimum: -1, maximum: 1 } },
  // The norm ball the engine holds every returned batch to (to 1e-6).
  budget: () => 'linf',
  // The budgets without --eps; the first is 0, the clean point.
  defaultGrid: () => [0, 0.1, 0.2],
  gradientFree: true,
  async run(ctx) {
    // ctx.x belongs to the engine (do not dispose it); the returned tensor becomes the engine's.
    return tf.tidy(() => projectLinf(ctx.x, tf.clipByValue(tf.add(ctx.x, ctx.params.sign * ctx.eps), 0, 1) as tf.Tensor4D, ctx.eps));
  },
});
