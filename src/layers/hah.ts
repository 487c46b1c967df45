/**
 * Custom tfjs layers of the Hebbian/anti-Hebbian (HaH) CNN of Cekic, Bakiskan &
 * Madhow (2022), and the HaH cost its training adds per layer. Importing this module
 * registers the layers with tf.serialization (src/layers/index.ts imports it, so a model
 * file naming them loads).
 */
import * as tf from '@tensorflow/tfjs';

type Shape = (number | null)[];

const one = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0] : inputs);
const oneShape = (s: Shape | Shape[]): Shape => (Array.isArray(s[0]) ? (s[0] as Shape) : (s as Shape));

interface MultiOutputOp {
  runKernelFunc(op: {
    inputs: tf.NamedTensorMap;
    forwardFunc: (backend: unknown, save: tf.GradSaveFunc) => tf.Tensor[];
    backwardsFunc: (dys: tf.Tensor[], saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  }): tf.Tensor[];
}

/**
 * conv2d(x, w) (stride 1) as two equal outputs: `output`, differentiable in x and w, and
 * `local`, differentiable in w only. The filter gradient takes both outputs' gradients
 * summed, the input gradient only `output`'s. tf.customGrad has a single output, so this
 * uses the engine's multi-output form of it (what customGrad itself calls).
 */
export function conv2dWithLocalCopy(x: tf.Tensor4D, w: tf.Tensor4D, padding: 'same' | 'valid'): [output: tf.Tensor4D, local: tf.Tensor4D] {
  const attrs = { strides: 1, pad: padding, dataFormat: 'NHWC', dilations: 1 } as unknown as tf.NamedAttrMap;
  const convGradient = tf.getGradient(tf.Conv2D).gradFunc;
  return (tf.engine() as unknown as MultiOutputOp).runKernelFunc({
    inputs: { x, filter: w },
    forwardFunc: (_backend, save) => {
      const z = tf.conv2d(x, w, 1, padding);
      save([x, w]);
      // A clone is a second tensor on the same data, so the tape keeps the two gradients apart.
      return [z, tf.clone(z)];
    },
    backwardsFunc: ([dOutput, dLocal], saved) => ({
      x: convGradient(dOutput!, saved, attrs)['x']!,
      filter: () => convGradient(tf.add(dOutput!, dLocal!), saved, attrs)['filter']!(),
    }),
  }) as [tf.Tensor4D, tf.Tensor4D];
}

/**
 * Convolution whose output is divided by each filter's l2 norm, i.e. the
 * correlation of each patch with a unit-norm filter. No bias (paper).
 */
export class NormalizedConv2D extends tf.layers.Layer {
  static className = 'RobenchNormalizedConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly padding: 'same' | 'valid';
  private kernel: tf.LayerVariable | null = null;

  constructor(args: { filters: number; kernelSize?: number; padding?: 'same' | 'valid'; name?: string }) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = args.kernelSize ?? 3;
    this.padding = args.padding ?? 'same';
  }

  override build(inputShape: Shape | Shape[]): void {
    const cin = oneShape(inputShape)[3];
    if (cin == null) throw new Error('NormalizedConv2D: the channel count of the input must be known');
    this.kernel = this.addWeight(
      'kernel',
      [this.kernelSize, this.kernelSize, cin, this.filters],
      'float32',
      tf.initializers.glorotUniform({}),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [n, h, w] = oneShape(inputShape);
    if (this.padding === 'same') return [n, h, w, this.filters];
    const k = this.kernelSize - 1;
    return [n, h == null ? null : h - k, w == null ? null : w - k, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      return tf.conv2d(one(inputs) as tf.Tensor4D, this.unitFilters(), 1, this.padding);
    });
  }

  /**
   * The layer's output twice, for HaH training: `output`, and `local`, equal in value, whose
   * gradient reaches the kernel but not the input, as the layer's HaH cost must. One
   * convolution serves both; applying the layer to a gradient-stopped copy of its input
   * would run the convolution and its filter gradient twice.
   */
  callWithLocal(x: tf.Tensor4D): [output: tf.Tensor4D, local: tf.Tensor4D] {
    return tf.tidy(() => conv2dWithLocalCopy(x, this.unitFilters(), this.padding));
  }

  /** The kernel with each filter divided by its l2 norm: dividing the filters rather than the output keeps the division (and its gradient) off the activations. */
  private unitFilters(): tf.Tensor4D {
    const w = this.kernel!.read() as tf.Tensor4D;
    return tf.div(w, tf.add(tf.sqrt(tf.sum(tf.square(w), [0, 1, 2])), 1e-6));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, padding: this.padding };
  }
}

/**
 * 1 where x >= t, else 0 (t broadcast), as 1 - step(t - x): wasm's broadcasting comparisons
 * (GreaterEqual, Equal) are ~50x slower than its broadcasting Sub.
 */
const atLeast = (x: tf.Tensor, t: tf.Tensor): tf.Tensor => tf.sub(1, tf.step(tf.sub(t, x)));

/**
 * max over H and W, keeping dims, with tf.max's gradient (dy to every position holding the
 * maximum) written with atLeast rather than the Equal that tf.max's gradient uses.
 */
const spatialMax = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const s = args[0] as tf.Tensor4D;
  const save = args[1] as tf.GradSaveFunc;
  const peak = tf.max(s, [1, 2], true);
  save([s, peak]);
  return {
    value: peak,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], [saved, max]: tf.Tensor[]) => tf.mul(dy as tf.Tensor, atLeast(saved!, max!)),
  };
}) as (s: tf.Tensor4D) => tf.Tensor4D;

/**
 * Divisive normalisation: the suppression field s is a 3x3 stride-1 max-pool of
 * |x| averaged over channels; the output is x / (sigma * max_hw s + (1 - sigma) * s + 1e-7).
 */
export class DivisiveNormalization extends tf.layers.Layer {
  static className = 'RobenchDivisiveNormalization';
  readonly sigma: number;

  constructor(args: { sigma?: number; name?: string } = {}) {
    super(args);
    this.sigma = args.sigma ?? 0.1;
    if (!(this.sigma >= 0 && this.sigma <= 1)) throw new Error(`DivisiveNormalization: sigma must lie in [0, 1], got ${this.sigma}`);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs) as tf.Tensor4D;
      const s = tf.mean(tf.maxPool(tf.abs(x), 3, 1, 'same'), 3, true) as tf.Tensor4D;
      const peak = spatialMax(s);
      const denom = tf.add(tf.add(tf.mul(peak, this.sigma), tf.mul(s, 1 - this.sigma)), 1e-7);
      return tf.div(x, denom);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), sigma: this.sigma };
  }
}

/**
 * Per sample and channel, the k-th smallest of the H*W values (k = floor((1 - r) * H * W),
 * 1-based), shaped [N, 1, 1, C]; -Infinity when k = 0.
 */
export function spatialThreshold(x: tf.Tensor4D, ratio: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const k = Math.floor((1 - ratio) * h * w);
    if (k <= 0) return tf.fill([n, 1, 1, c], -Infinity) as tf.Tensor4D;
    // The k-th smallest of m values is the (m - k + 1)-th largest, the least of the top
    // m - k + 1: few when the kept ratio is small, and they need no sorting.
    const largest = h * w - k + 1;
    const flat = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, c, h * w]);
    return tf.reshape(tf.min(tf.topk(flat, largest, false).values, 2), [n, 1, 1, c]) as tf.Tensor4D;
  });
}

/**
 * x times the mask of its values above their per-channel spatial threshold. The threshold
 * carries no gradient, so the gradient is dy times the same mask: written out, it spares the
 * tape a (zero) gradient for the mask and a product nobody reads.
 */
const applyThreshold = (x: tf.Tensor4D, ratio: number): tf.Tensor4D =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    // step(x - t) is x > t, for the reason atLeast gives.
    const mask = tf.step(tf.sub(input, spatialThreshold(input, ratio)));
    save([mask]);
    return { value: tf.mul(input, mask), gradFunc: (dy: tf.Tensor | tf.Tensor[], [kept]: tf.Tensor[]) => tf.mul(dy as tf.Tensor, kept!) };
  })(x) as tf.Tensor4D;

/** Keeps, per sample and channel, the values above the k-th smallest spatial value; zeroes the rest. */
export class FractionalThreshold extends tf.layers.Layer {
  static className = 'RobenchFractionalThreshold';
  readonly ratio: number;

  constructor(args: { ratio?: number; name?: string } = {}) {
    super(args);
    this.ratio = args.ratio ?? 0.2;
    if (!(this.ratio > 0 && this.ratio <= 1)) throw new Error(`FractionalThreshold: ratio must lie in (0, 1], got ${this.ratio}`);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs) as tf.Tensor4D;
      return applyThreshold(x, this.ratio);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ratio: this.ratio };
  }
}

/**
 * HaH cost of one layer's (ReLU) output: at every sample and position, the mean of
 * the K = ceil(ratio * C) largest channels minus lambda times the mean of the rest,
 * averaged over samples and positions. The top-K mask is a constant (the K-th largest
 * value carries no gradient), so the cost is linear in the values at a fixed mask and its
 * gradient is written out: (mask / K - lambda * (1 - mask) / (C - K)) / positions.
 */
export function hahCost(a: tf.Tensor4D, opts: { ratio?: number; lambda?: number } = {}): tf.Scalar {
  const ratio = opts.ratio ?? 0.1;
  const lambda = opts.lambda ?? 1.0;
  const c = a.shape[3];
  const k = Math.ceil(ratio * c);
  if (k >= c) throw new Error(`hahCost: K = ceil(${ratio} * ${c}) leaves no channels for the rest; use a smaller ratio`);
  const positions = a.size / c;
  const topWeight = 1 / k;
  const restWeight = lambda / (c - k);
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const values = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    // min rather than a slice of the last column: wasm slices the innermost axis slowly.
    const kth = tf.min(tf.topk(values, k, false).values, 3, true);
    // Ties with the K-th value only occur at 0 after ReLU, where they add nothing to the sums.
    const topMask = atLeast(values, kth);
    save([topMask]);
    const top = tf.sum(tf.mul(values, topMask));
    const rest = tf.sub(tf.sum(values), top);
    const cost = tf.div(tf.sub(tf.mul(top, topWeight), tf.mul(rest, restWeight)), positions) as tf.Scalar;
    return {
      value: cost,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], [mask]: tf.Tensor[]) => {
        const scale = tf.div(dy as tf.Tensor, positions);
        return tf.sub(tf.mul(mask!, tf.mul(scale, topWeight + restWeight)), tf.mul(scale, restWeight));
      },
    };
  })(a) as tf.Scalar;
}

tf.serialization.registerClass(NormalizedConv2D);
tf.serialization.registerClass(DivisiveNormalization);
tf.serialization.registerClass(FractionalThreshold);
