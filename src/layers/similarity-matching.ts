/**
 * The similarity-matching network's dynamics (src/nets/similarity-matching.ts) as a tfjs layer,
 * the layer the shipped similarity-matching models carry. Importing this module registers it
 * with tf.serialization.
 */
import * as tf from '@tensorflow/tfjs';
import { centreImages, fixedPointImage, smGeometry, type SmArchitecture, type SmGradient, type SmParams } from '../nets/similarity-matching.js';

type Shape = (number | null)[];

/**
 * The dynamics as a tfjs layer: centred [0, 1] images in, the top layer's fixed point
 * [b, side, side, nps] out. Its weights are not trainable by backprop: `robench train` sets them
 * by the Hebbian and anti-Hebbian rules.
 */
export class SimilarityMatching extends tf.layers.Layer {
  static className = 'RobenchSimilarityMatching';
  readonly arch: SmArchitecture;
  readonly gradient: SmGradient;
  private W: tf.LayerVariable[] = [];
  private L: tf.LayerVariable[] = [];

  constructor(args: { arch: SmArchitecture; gradient?: SmGradient; name?: string }) {
    super({ ...args, trainable: false });
    this.arch = args.arch;
    this.gradient = args.gradient ?? 'implicit';
  }

  override build(): void {
    smGeometry(this.arch).forEach((g, i) => {
      this.W.push(this.addWeight(`W${i + 1}`, [g.sites, g.slots * g.cin, g.nps], 'float32', tf.initializers.zeros(), undefined, false));
      this.L.push(this.addWeight(`L${i + 1}`, [g.sites, g.nps, g.nps], 'float32', tf.initializers.zeros(), undefined, false));
    });
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const n = (Array.isArray(inputShape[0]) ? (inputShape[0] as Shape) : (inputShape as Shape))[0];
    const top = smGeometry(this.arch).at(-1)!;
    return [n, top.outSide, top.outSide, top.nps];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    return tf.tidy(() => {
      const params: SmParams = { W: this.W.map((w) => w.read() as tf.Tensor3D), L: this.L.map((l) => l.read() as tf.Tensor3D) };
      return fixedPointImage(this.arch, params, centreImages(x), this.gradient);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), arch: this.arch as unknown as tf.serialization.ConfigDict, gradient: this.gradient };
  }
}
tf.serialization.registerClass(SimilarityMatching);
