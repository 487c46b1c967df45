/**
 * A model plugin: a network built in code for the brightness dataset. Its one block splits
 * every pixel into how far it lies below and above 0.5 (two ReLU channels); the logits are
 * the means of the two channels, so logit_bright - logit_dark = mean pixel - 0.5 and an l-inf
 * attack of size eps flips exactly the images within eps of the boundary.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { defineModel, UsageError, type LoadedModel } from 'robench';

const THRESHOLD = 0.5;

/** The block's post-activation output, [batch, 8, 8, 2]: channel 0 darkness, channel 1 brightness. */
const block = (x: tf.Tensor4D): tf.Tensor4D => tf.tidy(() => tf.relu(tf.concat([tf.sub(THRESHOLD, x), tf.sub(x, THRESHOLD)], 3)));

export default defineModel({
  id: 'brightness-split',
  description: 'two ReLU channels (below and above 0.5) averaged into the logits of dark and bright',
  // The datasets it can classify; the first is the default when --dataset is not given.
  datasets: ['brightness'],
  async load({ dataset }): Promise<LoadedModel> {
    if (dataset !== undefined && dataset !== 'brightness') {
      throw new UsageError(`brightness-split classifies the brightness dataset, not ${dataset}`, 'leave out --dataset, or pass --dataset brightness');
    }
    return {
      id: 'brightness-split',
      // The dataset robench loads, and checks inputShape and numClasses against.
      dataset: 'brightness',
      inputShape: [8, 8, 1],
      numClasses: 2,
      // sha256 of the weights (here the one parameter): recorded in results.json, and checked by
      // every worker thread, which loads the model itself.
      weightsSha256: createHash('sha256').update(new Uint8Array(new Float32Array([THRESHOLD]).buffer)).digest('hex'),
      // Logits (never softmax) of [0, 1] images, differentiable: gradient attacks differentiate it.
      logits: (x) => tf.tidy(() => tf.mean(block(x), [1, 2]) as tf.Tensor2D),
      // What the sparsity figures and chart measure: each block's output, NHWC. robench disposes these tensors.
      activations: (x) => [{ name: 'block1', values: block(x) }],
      info: { architecture: 'relu split, mean', threshold: THRESHOLD },
      // Nothing to free here; a model with weights disposes them.
      dispose: () => undefined,
    };
  },
});
