/**
 * Per-sample worst case over every iterate an attack evaluates (all steps, all
 * restarts), as AutoAttack reports it: a sample's first misclassified point if
 * any iterate fooled the model, otherwise its highest-loss point. A sample then
 * counts as robust only if every step of every restart failed, rather than
 * depending on where the last iterate happened to land.
 *
 * Without early stopping the attack pushes on past the first fooling iterate, and the
 * tracker keeps each sample's strongest iterate instead: the one with the largest margin
 * max_{i != y} z_i - z_y. That point is misclassified whenever any iterate was, so the
 * robust/broken verdict is the same, but it is the most confidently misclassified one:
 * what a transfer attack needs, since examples just across the surrogate's boundary
 * rarely cross the target's. An objective that is not about the label (TRADES' KL from the
 * clean prediction) ranks by its own loss instead (`rankBy: 'loss'`): its strongest iterate is
 * the one that moved the prediction furthest, misclassified or not.
 */
import * as tf from '@tensorflow/tfjs';
import { marginLoss } from './losses.js';

/** Owns its tensors across the caller's tidy scopes (hence tf.keep) until result(). */
export class WorstCase {
  private best: tf.Tensor4D;
  private bestLoss: tf.Tensor1D;
  private fooled: tf.Tensor1D;

  /**
   * Starts from the clean batch, which any evaluated iterate replaces. With
   * `earlyStop`, Remaining drops each sample as soon as an iterate fools it;
   * without, every sample keeps its strongest iterate, by `rankBy` (see above).
   */
  constructor(
    x: tf.Tensor4D,
    private readonly y: tf.Tensor1D,
    readonly earlyStop = true,
    private readonly rankBy: 'margin' | 'loss' = 'margin',
  ) {
    this.best = tf.keep(x.clone());
    this.bestLoss = tf.keep(tf.fill([x.shape[0]], -Infinity) as tf.Tensor1D);
    this.fooled = tf.keep(tf.zeros([x.shape[0]], 'bool') as tf.Tensor1D);
  }

  /**
   * Offers an iterate with its per-sample loss (higher = stronger) and logits. With
   * `rows` the iterate holds only those rows of the batch (see Remaining).
   */
  update(xadv: tf.Tensor4D, loss: tf.Tensor1D, logits: tf.Tensor2D, rows?: tf.Tensor1D): void {
    const [best, bestLoss, fooled] = tf.tidy(() => {
      const sub = <T extends tf.Tensor>(t: T): T => (rows ? (tf.gather(t, rows) as T) : t);
      const wasFooled = sub(this.fooled);
      const fooledNow = tf.notEqual(tf.argMax(logits, 1), tf.cast(sub(this.y), 'int32'));
      const score = this.earlyStop || this.rankBy === 'loss' ? loss : marginLoss(logits, sub(this.y));
      const higher = tf.greater(score, sub(this.bestLoss));
      const firstFool = tf.logicalAnd(fooledNow, tf.logicalNot(wasFooled));
      const higherUnfooled = tf.logicalAnd(tf.logicalNot(tf.logicalOr(fooledNow, wasFooled)), higher);
      const take = this.earlyStop ? tf.logicalOr(firstFool, higherUnfooled) : higher;
      const updated: [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] = [
        tf.where(tf.reshape(take, [-1, 1, 1, 1]), xadv, sub(this.best)),
        tf.where(take, score, sub(this.bestLoss)),
        tf.logicalOr(wasFooled, fooledNow),
      ];
      if (!rows) return updated;
      // scatterND into fresh tensors: tfjs-backend-cpu's tensorScatterUpdate writes into its
      // input's buffer, which clones share.
      const at = tf.reshape(rows, [-1, 1]);
      const n = this.y.shape[0];
      const inRows = tf.greater(tf.scatterND(at, tf.onesLike(rows), [n]), 0);
      const scatter = <T extends tf.Tensor>(values: T, old: T): T =>
        tf.where(tf.reshape(inRows, [n, ...Array(old.rank - 1).fill(1)]), tf.scatterND(at, values, old.shape), old) as T;
      return [scatter(updated[0], this.best), scatter(updated[1], this.bestLoss), tf.cast(scatter(tf.cast(updated[2], 'int32'), tf.cast(this.fooled, 'int32')), 'bool')];
    });
    tf.dispose([this.best, this.bestLoss, this.fooled]);
    this.best = tf.keep(best);
    this.bestLoss = tf.keep(bestLoss);
    this.fooled = tf.keep(fooled);
  }

  /** The samples no iterate has fooled yet, starting from `start` (taken over: the caller must not dispose it). */
  async remaining(x: tf.Tensor4D, start: tf.Tensor4D): Promise<Remaining> {
    const fooled = await this.fooled.data();
    const rows = [...fooled.keys()].filter((i) => !this.earlyStop || !fooled[i]);
    return new Remaining(this, rows, x, this.y, start);
  }

  /** Which of `rows` some iterate has fooled. */
  async fooledAt(rows: tf.Tensor1D): Promise<boolean[]> {
    const picked = tf.gather(this.fooled, rows);
    const values = await picked.data();
    picked.dispose();
    return Array.from(values, (v) => v !== 0);
  }

  /** Hands over the worst-case batch and frees the rest; the tracker is spent. */
  result(): tf.Tensor4D {
    const out = this.best.clone();
    tf.dispose([this.best, this.bestLoss, this.fooled]);
    return out;
  }
}

/**
 * The part of a batch an iterative attack still works on: a sample leaves as soon
 * as an iterate fools it (its adversarial example is already kept by WorstCase), so
 * gradients are spent only on samples that are still classified correctly.
 */
export class Remaining {
  /** Positions of the remaining samples in the full batch (int32). */
  rows: tf.Tensor1D;
  /** Their clean images, labels and current iterate. */
  x: tf.Tensor4D;
  y: tf.Tensor1D;
  xadv: tf.Tensor4D;

  constructor(
    private readonly worst: WorstCase,
    rows: number[],
    x: tf.Tensor4D,
    y: tf.Tensor1D,
    start: tf.Tensor4D,
  ) {
    const all = rows.length === x.shape[0];
    this.rows = tf.tensor1d(rows, 'int32');
    this.x = all ? x.clone() : tf.gather(x, this.rows);
    this.y = all ? y.clone() : tf.gather(y, this.rows);
    this.xadv = all ? start : tf.gather(start, this.rows);
    if (!all) start.dispose();
  }

  get size(): number {
    return this.rows.shape[0];
  }

  /**
   * Moves to the next iterate (taken over), dropping the samples the last update found
   * fooled. Returns the positions (among the samples before the call) that remain when
   * some were dropped, so a caller with per-sample state of its own can drop them too.
   */
  async advance(next: tf.Tensor4D): Promise<number[] | undefined> {
    this.xadv.dispose();
    this.xadv = next;
    if (!this.worst.earlyStop) return undefined;
    const fooled = await this.worst.fooledAt(this.rows);
    if (!fooled.includes(true)) return undefined;
    const kept = [...fooled.keys()].filter((i) => !fooled[i]);
    const keep = tf.tensor1d(kept, 'int32');
    const old = [this.rows, this.x, this.y, this.xadv];
    [this.rows, this.x, this.y, this.xadv] = [tf.gather(this.rows, keep), tf.gather(this.x, keep), tf.gather(this.y, keep), tf.gather(this.xadv, keep)];
    tf.dispose([...old, keep]);
    return kept;
  }

  dispose(): void {
    tf.dispose([this.rows, this.x, this.y, this.xadv]);
  }
}
