/**
 * Shared loading code of the zoo model plugins (the entries in models/): the weights ship in
 * models/weights/<model>-<dataset>/ (model.json, weights.bin, manifest.json).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FractionalThreshold } from '../layers/hah.js';
import { RobenchError } from '../core/errors.js';
import { loadLayersModelFrom, sha256OfModelDir } from '../runtime/model-io.js';
import { assetPath } from '../core/paths.js';
import { defineModel, type ImageShape, type LoadedModel, type ModelPlugin, type ModelTraining } from '../core/plugin-api.js';

export const weightsRoot = (): string => assetPath('models', 'weights');

/** Preferred defaults: the paper's dataset first, then the fast greyscale one. */
const DEFAULT_ORDER = ['cifar10', 'fashion-mnist', 'mnist', 'svhn'];

/** A folder of shipped weights, with the model and dataset its manifest names. */
interface WeightsFolder {
  dir: string;
  model: string;
  dataset: string;
}

/** The manifest's model and dataset, if it names both. */
function manifestIds(file: string): { model: string; dataset: string } | undefined {
  try {
    const { model, dataset } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return typeof model === 'string' && typeof dataset === 'string' ? { model, dataset } : undefined;
  } catch {
    // A manifest that is not JSON names no model: the folder is not a zoo entry (check:zoo guards the shipped ones).
    return undefined;
  }
}

/**
 * The folders under `root` with a model and a manifest naming its model and dataset. The manifest,
 * not the folder's name, says whose weights they are: 'baseline-at-mnist' would otherwise be
 * baseline's on a dataset 'at-mnist', and 'hebbian-deep-alpha0-cifar10' hebbian-deep's.
 */
function weightsFolders(root: string): WeightsFolder[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((name) => {
    const dir = join(root, name);
    const ids = existsSync(join(dir, 'model.json')) ? manifestIds(join(dir, 'manifest.json')) : undefined;
    return ids ? [{ dir, ...ids }] : [];
  });
}

/** Datasets with shipped weights for `modelId`, default first. */
export function shippedDatasets(modelId: string, root = weightsRoot()): string[] {
  const found = weightsFolders(root)
    .filter((f) => f.model === modelId)
    .map((f) => f.dataset);
  const rank = (ds: string) => (DEFAULT_ORDER.includes(ds) ? DEFAULT_ORDER.indexOf(ds) : DEFAULT_ORDER.length);
  return found.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The folder of the shipped weights of `modelId` on `dataset`, if they ship. */
export function shippedWeightsDir(modelId: string, dataset: string, root = weightsRoot()): string | undefined {
  return weightsFolders(root).find((f) => f.model === modelId && f.dataset === dataset)?.dir;
}

/** Names of the layers whose outputs are the post-activation outputs of the conv blocks. */
const blockOutputs = (model: tf.LayersModel): tf.layers.Layer[] => model.layers.filter((l) => /^block\d+_out$/.test(l.name));

/** The ReLU layer before a HaH block's threshold (its output layer); undefined for blocks without one. */
const preThresholdLayer = (model: tf.LayersModel, out: tf.layers.Layer): tf.layers.Layer | undefined =>
  out instanceof FractionalThreshold ? model.layers.find((l) => l.name === out.name.replace(/_out$/, '_relu')) : undefined;

/** Wraps a loaded zoo LayersModel in the LoadedModel interface. */
export function wrapZooModel(model: tf.LayersModel, id: string, dataset: string, weightsSha256: string, info: Record<string, unknown>): LoadedModel {
  const inputShape = model.inputs[0].shape.slice(1) as ImageShape;
  const numClasses = model.outputs[0].shape[1] as number;
  const layers = blockOutputs(model);
  const pre = layers.map((l) => preThresholdLayer(model, l));
  let probe: tf.LayersModel | null = null;
  const blockActivations = (x: tf.Tensor4D) => {
    // One pass gives the block outputs, then the pre-threshold activations of the blocks that have them.
    const outputs = [...layers, ...pre.filter((l) => l !== undefined)].map((l) => l.output as tf.SymbolicTensor);
    probe ??= tf.model({ inputs: model.inputs, outputs });
    const outs = probe.apply(x, { training: false }) as tf.Tensor4D | tf.Tensor4D[];
    const list = Array.isArray(outs) ? outs : [outs];
    let next = layers.length;
    return layers.map((l, i) => ({
      name: l.name.replace(/_out$/, ''),
      values: list[i]!,
      ...(pre[i] ? { preThreshold: list[next++]! } : {}),
    }));
  };
  return {
    id,
    dataset,
    inputShape,
    numClasses,
    weightsSha256,
    info,
    logits: (x) => model.apply(x, { training: false }) as tf.Tensor2D,
    // A net without conv blocks of its own (EKDAA's release forward carries pre-activations
    // through its convs) has no block activations to measure: a probe of no outputs cannot run.
    ...(layers.length > 0 ? { activations: blockActivations } : {}),
    dispose: () => model.dispose(),
  };
}

/** Loads the shipped weights of `modelId` on `dataset`. */
export async function loadZooModel(modelId: string, dataset: string, root = weightsRoot()): Promise<LoadedModel> {
  const dir = shippedWeightsDir(modelId, dataset, root);
  if (dir === undefined) throw new RobenchError(`no weights ship for the model '${modelId}' on the dataset '${dataset}'`, `weights ship for: ${shippedDatasets(modelId, root).join(', ') || 'none'}`);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const sha = await sha256OfModelDir(dir);
  if (typeof manifest.weightsSha256 === 'string' && manifest.weightsSha256 !== sha) {
    throw new RobenchError(
      `the weights in ${dir} do not match their manifest (sha256 ${sha}, manifest ${manifest.weightsSha256})`,
      'reinstall robench, or retrain with `robench train`',
    );
  }
  const model = await loadLayersModelFrom(dir);
  return wrapZooModel(model, modelId, dataset, sha, { weightsDir: dir, manifest });
}

/** The `robench train` arguments that train a model declaring `training`. */
const trainArgs = (id: string, training: ModelTraining): string =>
  training.trainer === 'adversarial' ? `--model ${training.of} --adversarial ${training.method}` : `--model ${id}`;

/**
 * A model plugin for one zoo architecture, trained as `training` declares; `trainOn` is the dataset
 * the no-weights hint trains on (default Fashion-MNIST, the fastest).
 */
export function zooModelPlugin(id: string, description: string, opts: { training: ModelTraining; trainOn?: string }): ModelPlugin {
  const datasets = shippedDatasets(id);
  const trainAs = trainArgs(id, opts.training);
  return defineModel({
    id,
    description,
    datasets,
    training: opts.training,
    async load({ dataset }) {
      const ds = dataset ?? datasets[0];
      const train = `robench train ${trainAs} --dataset ${dataset ?? opts.trainOn ?? 'fashion-mnist'}`;
      if (ds === undefined) {
        throw new RobenchError(`no weights ship for the model '${id}' yet`, `train them with \`${train}\` and pass the result with --model <dir>/model.json`);
      }
      if (!datasets.includes(ds)) {
        throw new RobenchError(
          `no weights ship for the model '${id}' on the dataset '${ds}'; weights ship for: ${datasets.join(', ') || 'none'}`,
          `pick one of those with --dataset, or train with \`robench train ${trainAs} --dataset ${ds}\` and pass --model <dir>/model.json`,
        );
      }
      return loadZooModel(id, ds);
    },
  });
}
