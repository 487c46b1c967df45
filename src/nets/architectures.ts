/**
 * The zoo's network layouts. Every model is a single chain of layers (so training
 * can walk it layer by layer) that starts with the dataset's mean/std normalisation
 * and ends in logits. A block is either standard (conv -> ReLU -> batch norm) or
 * HaH (normalised conv -> ReLU -> divisive normalisation -> fractional threshold),
 * optionally followed by a 2x2 max-pool.
 */
import * as tf from '@tensorflow/tfjs';
import { DivisiveNormalization, FractionalThreshold, NormalizedConv2D } from '../layers/hah.js';
import { Normalize } from '../layers/normalize.js';
import { TrainingBatchNormalization } from '../layers/batch-norm-training.js';
import { LazyGradConv2D } from '../layers/lazy-conv2d.js';
import type { ImageShape } from '../core/plugin-api.js';

export type Family = 'baseline' | 'hebbian';
export type Size = 'compact' | 'vgg16' | 'deep';
/**
 * Ablations of the deep hebbian model: 'alpha0' keeps every HaH block but trains with all
 * alphas 0 (is the HaH cost doing anything?); 'first' keeps HaH blocks at the first
 * resolution only (does the depth of HaH matter?).
 */
export type Variant = 'alpha0' | 'first';

export interface BlockSpec {
  filters: number;
  hah: boolean;
  pool: boolean;
}

export interface Architecture {
  family: Family;
  size: Size;
  blocks: BlockSpec[];
  /**
   * The conv of the standard blocks. Absent: a conv with bias (the compact entries, whose
   * manifests predate the field). The deep and VGG16 entries follow the authors' code, where every
   * conv has no bias and, in the HaH network, is implicitly l2-normalised ('normalized').
   */
  standardConv?: 'unbiased' | 'normalized';
  /** HaH hyper-parameters; alphas has one entry per HaH block. */
  hah: { alphas: number[]; lambda: number; ratio: number; sigma: number; thresholdRatio: number };
}

/** The paper's per-layer HaH weights for its six HaH layers; shallower nets use the first ones. */
export const PAPER_ALPHAS = [0.0045, 0.0025, 0.0013, 0.001, 0.0008, 0.0005];
/** The paper's code uses lambda = 1 (its follow-up library 0.1). */
export const HAH_LAMBDA = 1.0;

type Layout = (number | 'M')[];

const LAYOUTS: Record<Size | 'compact-gray', Layout> = {
  // 28x28 greyscale: sized so an epoch of 60k images takes minutes on 2 CPU cores; the
  // full-resolution first block is kept narrow because HaH's per-pixel work is costliest there.
  'compact-gray': [16, 'M', 32, 'M', 96, 96, 'M'],
  // 32x32 colour: a small VGG with one conv at full resolution (where wasm convs are slowest
  // per FLOP) and width where the maps are small; ~500 s (baseline) and ~700 s (hebbian) per
  // CIFAR-10 epoch on one core. The 16-16-M-32-32-M-64-64-M net it replaces was 40% cheaper but
  // too narrow (82k parameters) to clear 80% in the epochs a session allows.
  compact: [32, 'M', 64, 'M', 128, 128, 'M', 256, 'M'],
  // The paper's VGG16 for CIFAR-10 / SVHN.
  vgg16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  // The paper's placement of its six HaH convs (two at each of 32x32, 16x16 and 8x8, each pair
  // pooled), then a standard conv and the classifier. Narrow so 30 CIFAR-10 epochs fit in about
  // 2 hours on one wasm thread: a training step of 128 took 0.47 s (hebbian) and 0.30 s (baseline)
  // with the other core busy, 0.65 and 0.40 s on a machine loaded 2.5x, i.e. 1.5-2.1 h and 1-1.3 h
  // for 30 epochs. 16-16-M-32-32-M-64-64-M-128-M took 1.39 s (4.5 h): the HaH blocks' per-pixel
  // work (divisive normalisation's max-pool gradient, the thresholds' top-k) dominates at 32x32.
  deep: [8, 8, 'M', 16, 16, 'M', 32, 32, 'M', 128, 'M'],
};

/** HaH convs of the deep hebbian model: its first six, as the paper's VGG16; 'first' keeps the 32x32 pair. */
const DEEP_HAH_CONVS = { all: 6, first: 2 };

/**
 * The block list for a family and size on images of `shape`: HaH on about the first half of the
 * convs (compact, VGG16) or on the paper's six (deep), or as a deep ablation `variant` asks.
 */
export function architecture(family: Family, size: Size, shape: ImageShape, variant?: Variant): Architecture {
  if (variant !== undefined && !(family === 'hebbian' && size === 'deep')) {
    throw new Error(`architecture: the '${variant}' ablation is of the deep hebbian model, not of ${family}-${size}`);
  }
  const layout = size === 'compact' && shape[2] === 1 ? LAYOUTS['compact-gray'] : LAYOUTS[size];
  const blocks: BlockSpec[] = [];
  for (const item of layout) {
    if (item === 'M') blocks[blocks.length - 1].pool = true;
    else blocks.push({ filters: item, hah: false, pool: false });
  }
  // The paper makes 6 of VGG16's 13 convs HaH; the compact nets keep the same share.
  const hahCount =
    family !== 'hebbian' ? 0 : size === 'deep' ? DEEP_HAH_CONVS[variant === 'first' ? 'first' : 'all'] : Math.floor(blocks.length / 2);
  blocks.forEach((b, i) => (b.hah = i < hahCount));
  const alphas = PAPER_ALPHAS.slice(0, hahCount).map((a) => (variant === 'alpha0' ? 0 : a));
  return {
    family,
    size,
    blocks,
    // The authors' code (SparseStrongActivations) gives every conv of its VGG16 no bias and, in the HaH network, implicit normalisation.
    ...(size === 'deep' || size === 'vgg16' ? { standardConv: family === 'hebbian' ? 'normalized' : 'unbiased' } : {}),
    hah: { alphas, lambda: HAH_LAMBDA, ratio: 0.1, sigma: 0.1, thresholdRatio: 0.2 },
  };
}

/** Name of the layer whose output is block i's post-activation output (for sparsity). */
export const blockOutputName = (i: number): string => `block${i + 1}_out`;
/** Name of block i's conv layer. */
export const blockConvName = (i: number): string => `block${i + 1}_conv`;
/** Name of a HaH block's ReLU layer: its output is the block's activation before the threshold. */
const blockReluName = (i: number): string => `block${i + 1}_relu`;

/** Builds the (untrained) LayersModel of an architecture. */
export function buildModel(
  arch: Architecture,
  shape: ImageShape,
  numClasses: number,
  normalization: { mean: number[]; std: number[] },
): tf.LayersModel {
  const input = tf.input({ shape, name: 'image' });
  let x = new Normalize({ ...normalization, name: 'normalize' }).apply(input) as tf.SymbolicTensor;
  arch.blocks.forEach((b, i) => {
    const p = `block${i + 1}`;
    if (b.hah) {
      x = new NormalizedConv2D({ filters: b.filters, name: blockConvName(i) }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.reLU({ name: blockReluName(i) }).apply(x) as tf.SymbolicTensor;
      x = new DivisiveNormalization({ sigma: arch.hah.sigma, name: `${p}_divnorm` }).apply(x) as tf.SymbolicTensor;
      x = new FractionalThreshold({ ratio: arch.hah.thresholdRatio, name: blockOutputName(i) }).apply(x) as tf.SymbolicTensor;
    } else {
      const conv =
        arch.standardConv === 'normalized'
          ? new NormalizedConv2D({ filters: b.filters, name: blockConvName(i) })
          : new LazyGradConv2D({ filters: b.filters, kernelSize: 3, padding: 'same', useBias: arch.standardConv !== 'unbiased', name: blockConvName(i) });
      x = conv.apply(x) as tf.SymbolicTensor;
      x = tf.layers.reLU({ name: blockOutputName(i) }).apply(x) as tf.SymbolicTensor;
      x = new TrainingBatchNormalization({ name: `${p}_bn` }).apply(x) as tf.SymbolicTensor;
    }
    if (b.pool) x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${p}_pool` }).apply(x) as tf.SymbolicTensor;
  });
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: numClasses, name: 'logits' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: `${arch.family}-${arch.size}` });
}

/**
 * Re-draws every kernel from a seeded stream (Glorot uniform), so the same seed
 * gives the same initial weights on every backend. Biases, batch-norm scales and
 * moving statistics keep their constant initial values.
 */
export function initializeWeights(model: tf.LayersModel, rand: () => number): void {
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      // originalName: a second model in the same process gets 'kernel_1'-style names.
      if (!w.originalName.endsWith('/kernel')) continue;
      const shape = w.shape as number[];
      const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
      const fanIn = receptive * shape[shape.length - 2];
      const fanOut = receptive * shape[shape.length - 1];
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < values.length; i++) values[i] = (2 * rand() - 1) * limit;
      const t = tf.tensor(values, shape);
      w.write(t);
      t.dispose();
    }
  }
}
