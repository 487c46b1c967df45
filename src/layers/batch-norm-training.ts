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
 * `robench train` passes `updateMovingAverages: false` (honoured by this one-op pass, which every
 * zoo layer takes: channels last, with centre and scale) and sets the moving statistics afterwards
 * with recomputeMovingStatistics: with momentum 0.99 the averages lag the weights, and a
 * few hundred steps do not even forget their initial values (the baseline after 47 MNIST steps
 * scored 62.3% with them, 93.2% with recomputed statistics).
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
      if (kwargs.updateMovingAverages !== false) {
        for (const [variable, value] of [[s.movingMean, batchMean!], [s.movingVariance, batchVariance!]] as const) {
          const old = variable.read();
          variable.write(tf.sub(old, tf.mul(tf.sub(old, tf.reshape(value, [channels])), 1 - s.momentum)));
        }
      }
      tf.dispose([batchMean!, batchVariance!]);
      return tf.reshape(y, x.shape);
    });
  }
}

tf.serialization.SerializationMap.register(TrainingBatchNormalization);

/**
 * Sets the moving mean and variance of every batch-norm layer of `model`, a single chain of
 * layers (as the zoo's are), to the mean and (biased) variance of that layer's input over all
 * the images `batches` yields. The network runs in training mode, each layer normalised by its
 * batch's statistics as in training, so one pass serves every layer; over batches of a few
 * hundred images those are close to the population statistics inference will use. Batch
 * statistics are combined in float64 (Chan et al.'s pairwise update), so no precision is lost
 * to the number of images.
 */
export async function recomputeMovingStatistics(model: tf.LayersModel, batches: Iterable<tf.Tensor4D>): Promise<void> {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const norms = layers.filter((l) => l instanceof BuiltinBatchNormalization);
  for (const l of norms) {
    const axis = (l as unknown as BatchNormState).axis;
    if (axis !== -1 && axis !== (l.input as tf.SymbolicTensor).shape.length - 1) throw new Error(`recomputeMovingStatistics: ${l.name} normalises axis ${axis}, not the channels-last axis`);
  }
  const totals = norms.map((l) => {
    const channels = (l as unknown as BatchNormState).movingMean.shape[0]!;
    return { count: 0, mean: new Float64Array(channels), m2: new Float64Array(channels) };
  });
  for (const x of batches) {
    const rows: number[] = [];
    const moments = tf.tidy(() => {
      let t: tf.Tensor = x;
      const out: tf.Tensor[] = [];
      for (const layer of layers) {
        if (layer instanceof BuiltinBatchNormalization) {
          const flat = tf.reshape(t, [-1, t.shape[t.rank - 1]!]);
          const mean = tf.mean(flat, 0);
          out.push(mean, tf.sum(tf.square(tf.sub(flat, mean)), 0));
          rows.push(flat.shape[0]!);
        }
        t = layer.apply(t, { training: true, updateMovingAverages: false }) as tf.Tensor;
      }
      return out;
    });
    for (const [j, total] of totals.entries()) {
      const batchMean = await moments[2 * j]!.data();
      const batchM2 = await moments[2 * j + 1]!.data();
      const positions = rows[j]!;
      const combined = total.count + positions;
      for (let c = 0; c < total.mean.length; c++) {
        const delta = batchMean[c]! - total.mean[c]!;
        total.mean[c] += (delta * positions) / combined;
        total.m2[c] += batchM2[c]! + (delta * delta * total.count * positions) / combined;
      }
      total.count = combined;
    }
    tf.dispose(moments);
  }
  norms.forEach((layer, j) => {
    const s = layer as unknown as BatchNormState;
    const { count, mean, m2 } = totals[j]!;
    const values = [tf.tensor1d(Float32Array.from(mean)), tf.tensor1d(Float32Array.from(m2, (v) => v / count))];
    s.movingMean.write(values[0]!);
    s.movingVariance.write(values[1]!);
    tf.dispose(values);
  });
}
