/**
 * BatchNormalization whose training-mode pass is one op with a closed-form gradient.
 *
 * tfjs-layers builds training-mode batch norm from tf.moments and tf.batchNorm, and the
 * tape differentiates through both: a dozen passes over the activation and per-channel
 * reductions that tfjs-backend-wasm runs as transposes plus sums, a quarter of a training
 * step of the compact zoo CNN. Here, with x viewed as an [M, C] matrix (M = N*H*W):
 *
 *   mean = 1ᵀx / M,  var = 1ᵀ(x - mean)² / M,  x̂ = (x - mean) / sqrt(var + eps),  y = γ x̂ + β
 *   dβ = 1ᵀdy,  dγ = 1ᵀ(dy ⊙ x̂),  dx = γ / sqrt(var + eps) ⊙ (dy - (dβ + x̂ ⊙ dγ) / M)
 *
 * with each 1ᵀ(·) a column sum (on wasm, robench's one-pass Sum kernel). Inference,
 * moving averages (same momentum, biased batch variance, as tfjs-layers) and the saved format
 * are those of the stock layer; it registers under its class name, as LazyGradConv2D does.
 */
import * as tf from '@tensorflow/tfjs';

interface BatchNormState {
  axis: number;
  epsilon: number;
  momentum: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

interface LayerClass {
  new (args: tf.serialization.ConfigDict): tf.layers.Layer;
  fromConfig: tf.serialization.SerializableConstructor<tf.layers.Layer>['fromConfig'];
}
const BuiltinBatchNormalization = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization[0] as unknown as LayerClass;

/** Constructor arguments: those of `tf.layers.batchNormalization`. */
export type BatchNormArgs = Parameters<typeof tf.layers.batchNormalization>[0];

const columnSums = (m: tf.Tensor): tf.Tensor2D => tf.sum(m, 0, true);

export class TrainingBatchNormalization extends BuiltinBatchNormalization {
  static className = 'BatchNormalization';

  constructor(args?: BatchNormArgs) {
    super((args ?? {}) as unknown as tf.serialization.ConfigDict);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict): tf.Tensor | tf.Tensor[] {
    const s = this as unknown as BatchNormState;
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor;
    const channelsLast = s.axis === -1 || s.axis === x.rank - 1;
    if (kwargs.training !== true || !channelsLast || !s.center || !s.scale) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const channels = x.shape[x.rank - 1]!;
      const rows = x.size / channels;
      let batchMean: tf.Tensor2D | undefined;
      let batchVariance: tf.Tensor2D | undefined;
      const normalize = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const [x2, gamma, beta] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const save = args[3] as tf.GradSaveFunc;
        batchMean = tf.keep(tf.div(columnSums(x2), rows));
        const centred = tf.sub(x2, batchMean);
        batchVariance = tf.keep(tf.div(columnSums(tf.square(centred)), rows));
        const invStd = tf.rsqrt(tf.add(batchVariance, s.epsilon));
        const xHat = tf.mul(centred, invStd);
        save([xHat, invStd, gamma]);
        return {
          value: tf.add(tf.mul(xHat, gamma), beta),
          gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
            const [xh, inv, g] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
            const dBeta = columnSums(dy as tf.Tensor2D);
            const dGamma = columnSums(tf.mul(dy as tf.Tensor2D, xh));
            const dx = tf.mul(tf.mul(g, inv), tf.sub(dy as tf.Tensor, tf.div(tf.add(dBeta, tf.mul(xh, dGamma)), rows)));
            return [dx, dGamma, dBeta];
          },
        };
      });
      const y = normalize(
        tf.reshape(x, [rows, channels]),
        tf.reshape(s.gamma.read(), [1, channels]),
        tf.reshape(s.beta.read(), [1, channels]),
      );
      for (const [variable, value] of [[s.movingMean, batchMean!], [s.movingVariance, batchVariance!]] as const) {
        const old = variable.read();
        variable.write(tf.sub(old, tf.mul(tf.sub(old, tf.reshape(value, [channels])), 1 - s.momentum)));
      }
      tf.dispose([batchMean!, batchVariance!]);
      return tf.reshape(y, x.shape);
    });
  }
}

tf.serialization.SerializationMap.register(TrainingBatchNormalization);
