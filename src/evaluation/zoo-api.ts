/** The model zoo as the package exports it: which models ship, on which datasets, and loading one. */
import { UsageError } from '../core/errors.js';
import { loadModel } from './load-model.js';
import type { LoadedModel } from '../core/plugin-api.js';
import { createRegistry } from '../core/registry.js';
import { looksLikeModelPath } from './user-model.js';
import { shippedDatasets, shippedWeightsDir } from '../zoo/zoo-plugin.js';

export interface ZooEntry {
  id: string;
  description: string;
  /** Datasets with shipped weights, the default first; empty where none ship yet. */
  datasets: string[];
}

/**
 * Every model of the zoo.
 *
 * Example:
 *   import { zooModels } from 'robench';
 *   for (const m of await zooModels()) console.log(m.id, m.datasets.join(', '));
 */
export async function zooModels(): Promise<ZooEntry[]> {
  const registry = await createRegistry({ ignoreConfig: true });
  return registry.list('model').map(({ id, description, datasets }) => ({ id, description, datasets }));
}

/**
 * A zoo model with its shipped weights (checked against their manifest), as attacks see it:
 * [0, 1] images in, logits out, inference mode. Dispose it when done.
 *
 * Example:
 *   import { loadZooModel } from 'robench';
 *   const model = await loadZooModel('hebbian', 'mnist');
 *   const logits = model.logits(tf.zeros([1, 28, 28, 1]));
 *   model.dispose();
 */
export async function loadZooModel(id: string, dataset?: string): Promise<LoadedModel> {
  if (looksLikeModelPath(id)) throw new UsageError(`loadZooModel takes a zoo id, not the file ${id}`, 'pass a model file to benchmark({ model }) instead');
  const registry = await createRegistry({ ignoreConfig: true });
  return (await loadModel(registry, { model: id, dataset, inputRange: '0,1' })).model;
}

/**
 * The folder of a zoo model's shipped weights (model.json, weights.bin, manifest.json).
 *
 * Example:
 *   import * as tf from '@tensorflow/tfjs';
 *   import 'robench/layers';
 *   const net = await tf.loadLayersModel(`file://${zooWeightsDir('baseline', 'mnist')}/model.json`);
 */
export function zooWeightsDir(id: string, dataset: string): string {
  const dir = shippedWeightsDir(id, dataset);
  if (dir === undefined) {
    throw new UsageError(`no weights ship for the model '${id}' on '${dataset}'`, `weights ship for: ${shippedDatasets(id).join(', ') || 'none'}`);
  }
  return dir;
}
