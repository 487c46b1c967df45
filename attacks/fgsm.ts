/**
 * Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy 2015, "Explaining and
 * Harnessing Adversarial Examples"): one step of size eps along the sign of the
 * cross-entropy gradient, x' = clip_[0,1](x + eps * sign(grad_x CE(f(x), y))).
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget:
 *   import { attack } from 'robench';
 *   import { fgsm } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: fgsm, eps: [0.05, 0.1, 0.2] });
 */
import * as tf from '@tensorflow/tfjs';
import { defaultEpsGrid, defineAttack, steepestDirection } from '../src/sdk.js';

export default defineAttack({
  id: 'fgsm',
  description: 'Fast Gradient Sign Method (Goodfellow et al. 2015): one signed-gradient step of size eps (l-inf)',
  params: {},
  budget: () => 'linf',
  perturbationLabel: () => 'eps',
  defaultGrid: (dataset) => defaultEpsGrid(dataset, 'linf'),
  async run(ctx) {
    return tf.tidy(() => {
      const { grad } = ctx.inputGradient(ctx.x);
      return tf.clipByValue(tf.add(ctx.x, tf.mul(ctx.eps, steepestDirection('linf', grad))), 0, 1) as tf.Tensor4D;
    });
  },
});
