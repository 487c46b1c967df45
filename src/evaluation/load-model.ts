/** Resolves `--model`: a zoo id, or a user's model file with its dataset and input range. */
import { UsageError } from '../core/errors.js';
import { parseInputRange } from '../core/parse.js';
import type { DatasetPlugin, LoadedModel } from '../core/plugin-api.js';
import type { Registry } from '../core/registry.js';
import { smoothedModel } from './smoothed-model.js';
import { loadUserModel, looksLikeModelPath } from './user-model.js';

export interface ModelSpec {
  model: string;
  dataset?: string;
  inputRange: string;
  /** Refuse model files at URLs: nothing may be downloaded. */
  offline?: boolean;
  /** Evaluate the model's smoothed classifier instead (`--smooth`, src/evaluation/smoothed-model.ts). */
  smooth?: { sigma: number; n: number; seed: number };
}

export async function loadModel(registry: Registry, spec: ModelSpec): Promise<{ model: LoadedModel; dataset: DatasetPlugin }> {
  const loaded = await loadBaseModel(registry, spec);
  return spec.smooth ? { ...loaded, model: smoothedModel(loaded.model, spec.smooth) } : loaded;
}

async function loadBaseModel(registry: Registry, spec: ModelSpec): Promise<{ model: LoadedModel; dataset: DatasetPlugin }> {
  if (looksLikeModelPath(spec.model)) {
    if (!spec.dataset) {
      throw new UsageError(`--dataset is required with a model file (${spec.model})`, 'name the data it classifies, e.g. --dataset mnist');
    }
    const dataset = registry.get('dataset', spec.dataset);
    const model = await loadUserModel(spec.model, dataset, parseInputRange(spec.inputRange), { offline: spec.offline });
    return { model: checkClassCount(model, dataset, 'name the dataset the model was trained on with --dataset'), dataset };
  }
  const plugin = registry.get('model', spec.model);
  const model = await plugin.load({ dataset: spec.dataset });
  const dataset = registry.get('dataset', model.dataset);
  if (model.inputShape.join('x') !== dataset.imageShape.join('x')) {
    model.dispose();
    throw new UsageError(
      `model ${model.id} takes [${model.inputShape}] images but ${dataset.id} has [${dataset.imageShape}]`,
      `choose one of the model's datasets: ${plugin.datasets.join(', ')}`,
    );
  }
  return { model: checkClassCount(model, dataset, `choose one of the model's datasets: ${plugin.datasets.join(', ')}`), dataset };
}

/** A logit per class of the data, or accuracy compares predictions with labels of another meaning. */
function checkClassCount(model: LoadedModel, dataset: DatasetPlugin, hint: string): LoadedModel {
  for (const warning of (model.info?.warnings as string[] | undefined) ?? []) console.error(`robench: warning: ${warning}`);
  if (model.numClasses === dataset.classNames.length) return model;
  model.dispose();
  throw new UsageError(`the model ${model.id} returns ${model.numClasses} logits but ${dataset.id} has ${dataset.classNames.length} classes`, hint);
}
