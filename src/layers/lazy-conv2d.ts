/**
 * A Conv2D layer whose backward pass computes only the gradients asked for.
 *
 * tfjs-layers runs every 2-D conv through `tf.fused.conv2d`, whose custom gradient
 * computes the input, filter and bias gradients together. An attack asks only for the
 * input gradient, yet paid for the filter gradient as well: on the compact zoo CNN that
 * was 40% of an input gradient's time. Under a gradient tape this class runs the plain
 * ops instead (conv2d, bias add, activation), whose gradients are evaluated lazily, per
 * input the tape needs; outside a tape it keeps the fused kernel. The maths and the
 * saved format are those of Conv2D: it registers under that class name, so every
 * LayersModel loaded after this module (zoo or user model) gets it.
 */
import * as tf from '@tensorflow/tfjs';

/** The built-in Conv2D fields this layer reads (public at runtime, not in the typings). */
interface ConvState {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  strides: [number, number];
  padding: 'same' | 'valid';
  dataFormat: 'channelsFirst' | 'channelsLast';
  dilationRate: [number, number];
  activation: { apply(x: tf.Tensor): tf.Tensor; getClassName(): string };
}

interface LayerClass {
  new (args: tf.serialization.ConfigDict): tf.layers.Layer;
  fromConfig: tf.serialization.SerializableConstructor<tf.layers.Layer>['fromConfig'];
}
const BuiltinConv2D = tf.serialization.SerializationMap.getMap().classNameMap.Conv2D[0] as unknown as LayerClass;

/** Constructor arguments: those of `tf.layers.conv2d`. */
export type Conv2DArgs = Parameters<typeof tf.layers.conv2d>[0];

export class LazyGradConv2D extends BuiltinConv2D {
  static className = 'Conv2D';

  constructor(args: Conv2DArgs) {
    super(args as unknown as tf.serialization.ConfigDict);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict): tf.Tensor | tf.Tensor[] {
    const s = this as unknown as ConvState;
    if (tf.engine().state.gradientDepth === 0 || s.dataFormat === 'channelsFirst') return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      let y: tf.Tensor = tf.conv2d(x, s.kernel.read() as tf.Tensor4D, s.strides, s.padding, 'NHWC', s.dilationRate);
      if (s.bias) y = tf.add(y, s.bias.read());
      return s.activation.getClassName() === 'linear' ? y : s.activation.apply(y);
    });
  }
}

tf.serialization.SerializationMap.register(LazyGradConv2D);
