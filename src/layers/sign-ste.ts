/**
 * The straight-through sign of the EKDAA sign models, as a function (what the network's
 * forward pass and training run) and as the layer the shipped model carries. Importing this
 * module registers the layer with tf.serialization.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * sign(x) forward; backward the identity (BPDA with g(x) = x, Athalye et al. 2018).
 * sign's true gradient is zero almost everywhere, so white-box attacks need a
 * surrogate to see anything. Not the clipped identity of STE training: sign is
 * blind to scale, so a trained net's pre-activations sit far outside [-1, 1] (the
 * shipped Fashion-MNIST sign model's fc layer: mean |h| 7.1, none within 1), where a
 * clipped identity passes no gradient at all.
 */
export const signSTE = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.sign(x),
  gradFunc: (dy: tf.Tensor) => dy,
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

export const SIGN_SURROGATE = 'straight-through (BPDA): sign forward, identity backward';

/** signSTE as a layer: the activation of the shipped sign models. */
export class SignSTE extends tf.layers.Layer {
  static className = 'RobenchSignSTE';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => signSTE(Array.isArray(inputs) ? inputs[0] : inputs));
  }
}
tf.serialization.registerClass(SignSTE);
