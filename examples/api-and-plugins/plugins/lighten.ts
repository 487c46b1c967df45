/** An attack plugin in TypeScript: every pixel raised by eps, the simplest l-inf perturbation. */
import * as tf from '@tensorflow/tfjs';
import { defineAttack, projectLinf } from 'robench';

export default defineAttack<{ sign: number }>({
  id: 'lighten',
  description: 'adds sign * eps to every pixel (a fixed direction, no gradient)',
  params: { sign: { type: 'int', description: '+1 lightens, -1 darkens', default: 1, minimum: -1, maximum: 1 } },
  budget: () => 'linf',
  defaultGrid: () => [0, 0.1, 0.2],
  gradientFree: true,
  async run(ctx) {
    return tf.tidy(() => projectLinf(ctx.x, tf.clipByValue(tf.add(ctx.x, ctx.params.sign * ctx.eps), 0, 1) as tf.Tensor4D, ctx.eps));
  },
});
