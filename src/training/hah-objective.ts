/**
 * The zoo CNNs' training objective and its gradient on a micro-batch: cross-entropy (TRADES'
 * loss, trades.ts, when adversarial training with it) minus the HaH models' alpha-weighted HaH costs.
 */
import * as tf from '@tensorflow/tfjs';
import { blockConvName, type Architecture } from '../nets/architectures.js';
import { hahCost, NormalizedConv2D } from '../layers/hah.js';
import type { ImageShape } from '../core/plugin-api.js';
import type { MicroBatchGradient } from './train-parallel.js';
import { tradesLoss } from './trades.js';

/**
 * Training-mode forward pass that walks the layer chain and also returns the HaH
 * cost of each HaH layer. Each HaH cost is computed on the layer's local copy of its
 * output, whose gradient stops at the layer input, so it only reaches that layer's weights.
 * With `costs` false, the pass alone: no HaH cost is computed and `hah` is empty.
 */
export function forwardTrain(model: tf.LayersModel, arch: Architecture, x: tf.Tensor4D, costs = true): { logits: tf.Tensor2D; hah: tf.Scalar[] } {
  let t: tf.Tensor = x;
  const hah: tf.Scalar[] = [];
  // The deep hebbian models' standard blocks have normalised convs too, without a HaH cost.
  const hahConvs = new Set(costs ? arch.blocks.flatMap((b, i) => (b.hah ? [blockConvName(i)] : [])) : []);
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    if (layer instanceof NormalizedConv2D && hahConvs.has(layer.name)) {
      const [output, local] = layer.callWithLocal(t as tf.Tensor4D);
      hah.push(hahCost(tf.relu(local), { ratio: arch.hah.ratio, lambda: arch.hah.lambda }));
      t = output;
      continue;
    }
    // Training recomputes the moving statistics at the end (recomputeMovingStatistics), so its steps need not average them.
    t = layer.apply(t, { training: true, updateMovingAverages: false }) as tf.Tensor;
  }
  return { logits: t as tf.Tensor2D, hah };
}

/**
 * Training objective: cross-entropy, or with `trades` TRADES' loss on x and its examples
 * trades.x, minus the alpha-weighted HaH costs (of the pass on x). Each pass is normalised by
 * its own batch statistics, as the authors' two calls of the model in training mode are.
 */
export function trainingLoss(
  model: tf.LayersModel,
  arch: Architecture,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  trades?: { x: tf.Tensor4D; beta: number },
): { loss: tf.Scalar; crossEntropy: tf.Scalar; hah: tf.Scalar[]; correct: tf.Scalar } {
  const { logits, hah } = forwardTrain(model, arch, x);
  // The examples' pass: its HaH costs are not part of the loss.
  const fit = trades ? tradesLoss(logits, forwardTrain(model, arch, trades.x, false).logits, y, trades.beta) : undefined;
  const crossEntropy = fit?.crossEntropy ?? (tf.losses.softmaxCrossEntropy(tf.oneHot(y, logits.shape[1]), logits) as tf.Scalar);
  let loss: tf.Scalar = fit?.loss ?? crossEntropy;
  hah.forEach((h, i) => (loss = tf.sub(loss, tf.mul(h, arch.hah.alphas[i]))));
  const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')) as tf.Scalar;
  return { loss, crossEntropy, hah, correct };
}

export const trainableVariables = (model: tf.LayersModel): tf.Variable[] => model.trainableWeights.map((w) => w.read() as tf.Variable);

/**
 * A micro-batch's gradient and loss terms [loss, cross-entropy, correct, ...HaH costs], computed
 * with `model` (src/training/train-parallel.ts); with `tradesBeta`, TRADES' loss on the
 * micro-batch and its examples.
 */
export function microBatchGradient(model: tf.LayersModel, arch: Architecture, shape: ImageShape, tradesBeta?: number): MicroBatchGradient {
  const vars = trainableVariables(model);
  return async (images, labels, count, weight, gradient, stats, examples) => {
    const out = tf.tidy(() => {
      const x = tf.tensor4d(images, [count, ...shape]);
      const y = tf.tensor1d(labels, 'int32');
      const trades = tradesBeta === undefined ? undefined : { x: tf.tensor4d(examples!, [count, ...shape]), beta: tradesBeta };
      let kept: tf.Scalar[] = [];
      const { grads } = tf.variableGrads(() => {
        const r = trainingLoss(model, arch, x, y, trades);
        kept = [r.loss, r.crossEntropy, r.correct, ...r.hah].map((t) => tf.keep(t));
        return tf.mul(r.loss, weight) as tf.Scalar;
      }, vars);
      const stacked = tf.stack(kept);
      tf.dispose(kept);
      return [stacked, ...vars.map((v) => grads[v.name]!)];
    });
    try {
      // Asynchronous reads are the only ones the webgpu backend supports.
      stats.set(await out[0]!.data());
      let offset = 0;
      for (const [i, v] of vars.entries()) {
        gradient.set((await out[i + 1]!.data()) as Float32Array, offset);
        offset += v.size;
      }
    } finally {
      tf.dispose(out);
    }
  };
}
