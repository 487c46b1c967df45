/**
 * The input normalisation every zoo model carries as its first layer, so that a model takes
 * [0, 1] pixels and attacks work in pixel space. Importing this module registers the layer
 * with tf.serialization.
 */
import * as tf from '@tensorflow/tfjs';

/** (x - mean) / std per channel. */
export class Normalize extends tf.layers.Layer {
  static className = 'RobenchNormalize';
  readonly mean: number[];
  readonly std: number[];

  constructor(args: { mean: number[]; std: number[]; name?: string }) {
    super(args);
    if (args.mean.length !== args.std.length || args.std.some((s) => !(s > 0))) {
      throw new Error(`Normalize: mean and std need one entry per channel and a positive std, got mean ${args.mean} std ${args.std}`);
    }
    this.mean = [...args.mean];
    this.std = [...args.std];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.div(tf.sub(Array.isArray(inputs) ? inputs[0] : inputs, tf.tensor1d(this.mean)), tf.tensor1d(this.std)));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mean: this.mean, std: this.std };
  }
}

tf.serialization.registerClass(Normalize);
