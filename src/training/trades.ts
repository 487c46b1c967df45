/**
 * TRADES' outer loss (Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness
 * and Accuracy", eq. 5 with the authors' trades.py):
 *   L = (1/B) sum_i [ CE(f(x_i), y_i) + beta KL(softmax(f(x_i)) || softmax(f(x'_i))) ]
 * where x'_i is the inner attack's example (adversarial.ts). The first term fits the clean
 * images; the second, the paper's surrogate of the boundary error, pulls the prediction on x'
 * towards the one on x, so beta trades clean accuracy for robustness. The gradient flows through
 * both sides of the KL, the clean one too, as in the authors' code (their target softmax(f(x)) is
 * not detached); only the inner attack holds the clean prediction fixed.
 */
import * as tf from '@tensorflow/tfjs';
import { klDivergence } from '../core/losses.js';

/** TRADES' loss from the clean and the adversarial logits of a batch, and its cross-entropy term. */
export function tradesLoss(clean: tf.Tensor2D, adversarial: tf.Tensor2D, y: tf.Tensor1D, beta: number): { loss: tf.Scalar; crossEntropy: tf.Scalar } {
  return tf.tidy(() => {
    const crossEntropy = tf.losses.softmaxCrossEntropy(tf.oneHot(y, clean.shape[1]), clean) as tf.Scalar;
    return { crossEntropy, loss: tf.add(crossEntropy, tf.mul(beta, tf.mean(klDivergence(clean, adversarial)))) as tf.Scalar };
  });
}
