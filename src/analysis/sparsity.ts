/**
 * Sparsity of conv-block activations: fraction of exact zeros, Hoyer sparsity of
 * each position's channel vector, the mean of the top-K channels against the mean
 * of the rest, and a histogram. Kept as sums so batches (and workers) can be merged.
 *
 * A HaH block's fractional threshold zeroes about 80% of each channel's map, so its
 * output's zeros and Hoyer sparsity are largely forced. The same measures of the block's
 * ReLU output before the threshold (`preThreshold`) say how sparse and strong the features
 * the HaH cost trained are on their own.
 */
import * as tf from '@tensorflow/tfjs';
import type { SparsityLayer, SparsityMeasures } from '../core/plugin-api.js';
import { FineHistogram } from './histogram-bins.js';

export interface SparsityOptions {
  /** K = ceil(ratio * channels) for the top-K disparity (default 0.1, as the HaH cost). */
  ratio?: number;
  /** About this many histogram bins over the range the data takes (default 20), and one for the largest values (src/analysis/histogram-bins.ts). */
  bins?: number;
}

/** One block's activations; `preThreshold` as LoadedModel.activations gives it. */
export interface BlockActivations {
  name: string;
  values: tf.Tensor4D;
  preThreshold?: tf.Tensor4D;
}

/** Sums over positions of the per-position measures of one set of activations. */
interface Sums {
  values: number;
  zeros: number;
  positions: number;
  hoyer: number;
  top: number;
  rest: number;
}

interface LayerSums {
  name: string;
  channels: number;
  output: Sums;
  /** Absent for blocks without a threshold; fixed by the first batch of the layer. */
  preThreshold?: Sums;
  histogram: FineHistogram;
}

const emptySums = (): Sums => ({ values: 0, zeros: 0, positions: 0, hoyer: 0, top: 0, rest: 0 });

function addSums(into: Sums, from: Sums): void {
  into.values += from.values;
  into.zeros += from.zeros;
  into.positions += from.positions;
  into.hoyer += from.hoyer;
  into.top += from.top;
  into.rest += from.rest;
}

const measures = (s: Sums): SparsityMeasures => ({
  zeroFraction: s.zeros / s.values,
  hoyer: s.hoyer / s.positions,
  topKMean: s.top / s.positions,
  restMean: s.rest / s.positions,
});

/**
 * The sums of a [N, H, W, C] batch over its N*H*W positions, read asynchronously (the only
 * reads the webgpu backend supports). Positions whose channel vector is all zero count as
 * Hoyer sparsity 1 (the sparsest possible vector).
 */
async function sumsOf(values: tf.Tensor4D, k: number): Promise<Sums> {
  const c = values.shape[3];
  const statsTensor = tf.tidy(() => {
    const l1 = tf.sum(tf.abs(values), 3);
    const l2 = tf.sqrt(tf.sum(tf.square(values), 3));
    const sqrtN = Math.sqrt(c);
    const h = tf.where(tf.greater(l2, 0), tf.div(tf.sub(sqrtN, tf.div(l1, tf.maximum(l2, 1e-30))), sqrtN - 1), tf.onesLike(l2));
    const topSum = tf.sum(tf.topk(values, k, true).values, 3);
    const restSum = tf.sub(tf.sum(values, 3), topSum);
    return tf.stack([tf.sum(tf.cast(tf.equal(values, 0), 'float32')), tf.sum(h), tf.sum(tf.div(topSum, k)), tf.sum(tf.div(restSum, c - k))]);
  });
  const [zeros, hoyer, top, rest] = await statsTensor.data();
  statsTensor.dispose();
  return { values: values.size, zeros, positions: values.size / c, hoyer, top, rest };
}

/** Accumulates sparsity sums batch by batch. */
export class SparsityAccumulator {
  private readonly ratio: number;
  private readonly bins: number;
  private readonly layers = new Map<string, LayerSums>();

  constructor(opts: SparsityOptions = {}) {
    this.ratio = opts.ratio ?? 0.1;
    this.bins = opts.bins ?? 20;
    if (!(this.ratio > 0 && this.ratio < 1)) throw new Error(`sparsity: ratio must lie in (0, 1), got ${this.ratio}`);
    if (!Number.isInteger(this.bins) || this.bins < 1) throw new Error(`sparsity: bins must be a positive integer, got ${this.bins}`);
  }

  /** Adds one batch of activations. The tensors stay owned by the caller. */
  async add(acts: BlockActivations[]): Promise<void> {
    for (const { name, values, preThreshold } of acts) {
      const c = values.shape[3];
      if (c < 2) throw new Error(`sparsity: layer ${name} has ${c} channel; Hoyer sparsity needs at least 2`);
      const k = Math.ceil(this.ratio * c);
      if (k >= c) throw new Error(`sparsity: K = ceil(${this.ratio} * ${c}) leaves no channels for the rest; use a smaller ratio`);
      if (preThreshold !== undefined && preThreshold.shape.join() !== values.shape.join()) {
        throw new Error(`sparsity: layer ${name}'s pre-threshold activations are [${preThreshold.shape}], its output [${values.shape}]; they must match`);
      }
      const sums = this.sumsFor(name, c, preThreshold !== undefined);
      addSums(sums.output, await sumsOf(values, k));
      if (preThreshold !== undefined) addSums(sums.preThreshold!, await sumsOf(preThreshold, k));
      sums.histogram.add(await values.data(), `sparsity: layer ${name}`);
    }
  }

  /** Adds another accumulator's sums (same options) into this one. */
  merge(other: SparsityAccumulator): void {
    if (other.ratio !== this.ratio || other.bins !== this.bins) {
      throw new Error('sparsity: cannot merge accumulators made with different ratio or histogram bins');
    }
    for (const o of other.layers.values()) {
      const s = this.sumsFor(o.name, o.channels, o.preThreshold !== undefined);
      addSums(s.output, o.output);
      if (o.preThreshold) addSums(s.preThreshold!, o.preThreshold);
      s.histogram.merge(o.histogram);
    }
  }

  /** Per-layer statistics, in the order the layers were first added. */
  result(): SparsityLayer[] {
    return [...this.layers.values()].map((s) => ({
      name: s.name,
      ...measures(s.output),
      histogram: s.histogram.histogram(this.bins),
      ...(s.preThreshold ? { preThreshold: measures(s.preThreshold) } : {}),
    }));
  }

  private sumsFor(name: string, channels: number, thresholded: boolean): LayerSums {
    let s = this.layers.get(name);
    if (s === undefined) {
      s = { name, channels, output: emptySums(), ...(thresholded ? { preThreshold: emptySums() } : {}), histogram: new FineHistogram() };
      this.layers.set(name, s);
    } else if (s.channels !== channels) {
      throw new Error(`sparsity: layer ${name} had ${s.channels} channels before and ${channels} now`);
    } else if ((s.preThreshold !== undefined) !== thresholded) {
      // Averaging pre-threshold sums over only some batches would misstate them.
      throw new Error(`sparsity: layer ${name} came ${thresholded ? 'without' : 'with'} pre-threshold activations before and ${thresholded ? 'with' : 'without'} them now`);
    }
    return s;
  }
}

/** Sparsity statistics of one set of activations (one entry per conv block). */
export async function sparsityStats(acts: BlockActivations[], opts: SparsityOptions = {}): Promise<SparsityLayer[]> {
  const acc = new SparsityAccumulator(opts);
  await acc.add(acts);
  return acc.result();
}
