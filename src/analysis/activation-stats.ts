/** Per-layer activation sparsity of a model over clean samples, batch by batch. */
import * as tf from '@tensorflow/tfjs';
import { batchTensors } from '../core/engine.js';
import type { DatasetSplit, LoadedModel, SparsityLayer } from '../core/plugin-api.js';
import { SparsityAccumulator } from './sparsity.js';

/** Undefined for models that do not expose their block activations. */
export async function measureSparsity(model: LoadedModel, data: DatasetSplit, indices: number[], batchSize: number): Promise<SparsityLayer[] | undefined> {
  if (!model.activations) return undefined;
  const acc = new SparsityAccumulator();
  for (let i = 0; i < indices.length; i += batchSize) {
    const { x, y } = batchTensors(data, indices.slice(i, i + batchSize));
    const acts = model.activations(x);
    try {
      await acc.add(acts);
    } finally {
      tf.dispose([x, y, ...acts.flatMap((a) => [a.values, a.preThreshold ?? []])]);
    }
  }
  return acc.result();
}
