/**
 * Per-sample worst case over every iterate an attack evaluates (all steps, all
 * restarts), as AutoAttack reports it: a sample's first misclassified point if
 * any iterate fooled the model, otherwise its highest-loss point. A sample then
 * counts as robust only if every step of every restart failed, rather than
 * depending on where the last iterate happened to land.
 */
import * as tf from '@tensorflow/tfjs';

/** Owns its tensors across the caller's tidy scopes (hence tf.keep) until result(). */
export class WorstCase {
  private best: tf.Tensor4D;
  private bestLoss: tf.Tensor1D;
  private fooled: tf.Tensor1D;

  /** Starts from the clean batch, which any evaluated iterate replaces. */
  constructor(
    x: tf.Tensor4D,
    private readonly y: tf.Tensor1D,
  ) {
    this.best = tf.keep(x.clone());
    this.bestLoss = tf.keep(tf.fill([x.shape[0]], -Infinity) as tf.Tensor1D);
    this.fooled = tf.keep(tf.zeros([x.shape[0]], 'bool') as tf.Tensor1D);
  }

  /** Offers an iterate with its per-sample loss (higher = stronger) and logits. */
  update(xadv: tf.Tensor4D, loss: tf.Tensor1D, logits: tf.Tensor2D): void {
    const [best, bestLoss, fooled] = tf.tidy(() => {
      const fooledNow = tf.notEqual(tf.argMax(logits, 1), tf.cast(this.y, 'int32'));
      const firstFool = tf.logicalAnd(fooledNow, tf.logicalNot(this.fooled));
      const higherLoss = tf.logicalAnd(tf.logicalNot(tf.logicalOr(fooledNow, this.fooled)), tf.greater(loss, this.bestLoss));
      const take = tf.logicalOr(firstFool, higherLoss);
      return [
        tf.where(tf.reshape(take, [-1, 1, 1, 1]), xadv, this.best) as tf.Tensor4D,
        tf.where(take, loss, this.bestLoss) as tf.Tensor1D,
        tf.logicalOr(this.fooled, fooledNow) as tf.Tensor1D,
      ];
    });
    tf.dispose([this.best, this.bestLoss, this.fooled]);
    this.best = tf.keep(best);
    this.bestLoss = tf.keep(bestLoss);
    this.fooled = tf.keep(fooled);
  }

  /** Hands over the worst-case batch and frees the rest; the tracker is spent. */
  result(): tf.Tensor4D {
    const out = this.best.clone();
    tf.dispose([this.best, this.bestLoss, this.fooled]);
    return out;
  }
}
