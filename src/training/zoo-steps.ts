/**
 * The zoo trainer's gradient step across threads: the worker pool computing a batch's
 * micro-batches (train-parallel.ts), the weights it is handed before each step, and the summed
 * gradient applied by Adam on the main thread, which alone holds the optimiser state.
 */
import * as tf from '@tensorflow/tfjs';
import type { Architecture } from '../nets/architectures.js';
import type { DatasetPlugin } from '../core/plugin-api.js';
import type { BackendName } from '../runtime/backends.js';
import { microBatchGradient, trainableVariables } from './hah-objective.js';
import { GradientPool } from './train-parallel.js';

export interface ZooStepper {
  pool: GradientPool;
  /** The current weights, flat, for the workers. */
  shareWeights(into: Float32Array): Promise<void>;
  applyGradient(gradient: Float32Array): void;
}

export async function startStepper(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  arch: Architecture,
  plugin: Pick<DatasetPlugin, 'imageShape' | 'normalization' | 'classNames'>,
  sizes: { microBatch: number; threads: number; batch: number; tradesBeta?: number },
): Promise<ZooStepper> {
  const vars = trainableVariables(model);
  const pool = await GradientPool.start(
    {
      backend: tf.getBackend() as BackendName,
      architecture: arch,
      numClasses: plugin.classNames.length,
      normalization: plugin.normalization,
      params: vars.reduce((n, v) => n + v.size, 0),
      statsSize: 3 + arch.hah.alphas.length,
      imageShape: plugin.imageShape,
      microBatch: sizes.microBatch,
      tradesBeta: sizes.tradesBeta,
    },
    sizes.threads,
    sizes.batch,
    microBatchGradient(model, arch, plugin.imageShape, sizes.tradesBeta),
  );
  const shareWeights = async (into: Float32Array): Promise<void> => {
    let offset = 0;
    for (const v of vars) {
      into.set((await v.data()) as Float32Array, offset);
      offset += v.size;
    }
  };
  const applyGradient = (gradient: Float32Array): void => {
    let offset = 0;
    const named = vars.map((v) => {
      const tensor = tf.tensor(gradient.slice(offset, offset + v.size), v.shape);
      offset += v.size;
      return { name: v.name, tensor };
    });
    optimizer.applyGradients(named);
    tf.dispose(named.map((g) => g.tensor));
  };
  return { pool, shareWeights, applyGradient };
}

/** tfjs keeps Adam's learning rate in a plain field that each step reads. */
export const setLearningRate = (optimizer: tf.Optimizer, lr: number): void => {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
};
