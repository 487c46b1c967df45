/**
 * A user's own TensorFlow.js model (LayersModel or GraphModel, from disk or a URL)
 * wrapped as a LoadedModel: robench attacks in [0, 1] and maps to the range the
 * model expects, and refuses softmax outputs where logits belong.
 */
import * as tf from '@tensorflow/tfjs';
import { RobenchError, UsageError } from '../core/errors.js';
import { checkModelInputs, firstForward, loadAnyModel, type LoadOptions } from '../runtime/model-io.js';
import { checkGraphOps } from '../runtime/graph-ops.js';
import type { InputRange } from '../core/parse.js';
import type { DatasetPlugin, ImageShape, LoadedModel } from '../core/plugin-api.js';

export const looksLikeModelPath = (id: string): boolean => /\.json$|^https?:\/\/|[\\/]/.test(id);

function declaredInputShape(model: tf.LayersModel | tf.GraphModel): (number | null)[] | undefined {
  if (model instanceof tf.LayersModel) return model.inputs[0].shape;
  const shape = model.inputs[0]?.shape;
  return shape ? shape.map((d) => (d === -1 ? null : d)) : undefined;
}

/**
 * A final softmax makes gradients vanish as confidence saturates, which masks
 * gradients and overstates robustness. For a LayersModel the activation is
 * switched to linear so that the model returns true logits.
 */
function stripSoftmax(model: tf.LayersModel): boolean {
  const last = model.layers[model.layers.length - 1] as unknown as { activation?: { getClassName(): string } };
  if (last.activation?.getClassName().toLowerCase() !== 'softmax') return false;
  // tfjs does not export its activation classes; the serialization registry holds them by name.
  const [Linear] = tf.serialization.SerializationMap.getMap().classNameMap.linear as [new () => { getClassName(): string }, unknown];
  last.activation = new Linear();
  return true;
}

type LayerLike = { name: string; layers?: LayerLike[]; activation?: { getClassName(): string }; getClassName(): string };

/** Layers that apply softmax (a Softmax layer, or a softmax activation), nested submodels included. */
function softmaxLayers(layers: LayerLike[], prefix = ''): string[] {
  return layers.flatMap((layer) => {
    const path = `${prefix}${layer.name}`;
    if (layer.layers) return softmaxLayers(layer.layers, `${path}/`);
    const applies = layer.getClassName() === 'Softmax' || layer.activation?.getClassName().toLowerCase() === 'softmax';
    return applies ? [path] : [];
  });
}

/**
 * Softmax anywhere but at the very end (which is stripped) saturates and can mask
 * gradients all the same; it may be intended (attention), so it is flagged, not refused.
 */
function softmaxWarning(source: string, where: string[]): string[] {
  if (where.length === 0) return [];
  return [
    `the model ${source} applies softmax before its output (${where.join(', ')}): softmax saturates and can mask gradients, overstating robustness; export the model to return logits if that softmax turns logits into probabilities`,
  ];
}

export async function loadUserModel(source: string, dataset: DatasetPlugin, range: InputRange, opts: LoadOptions = {}): Promise<LoadedModel> {
  let loaded: Awaited<ReturnType<typeof loadAnyModel>>;
  try {
    loaded = await loadAnyModel(source, opts);
  } catch (err) {
    throw new UsageError(
      `cannot load the model ${source}: ${(err as Error).message}`,
      (err instanceof RobenchError ? err.hint : undefined) ?? 'give the path or URL of a TensorFlow.js model.json (LayersModel or GraphModel)',
    );
  }
  try {
    return wrapTfModel(loaded.model, { id: source, dataset, range, weightsSha256: loaded.weightsSha256, format: loaded.kind, softmaxNodes: loaded.kind === 'graph' ? loaded.softmaxNodes : undefined });
  } catch (err) {
    loaded.model.dispose();
    throw err;
  }
}

/** How a tfjs model in memory or from a file is to be evaluated. */
export interface TfModelSpec {
  /** The model's name in results (the file it came from, or one the caller chose). */
  id: string;
  dataset: DatasetPlugin;
  /** The pixel range the model expects; robench attacks in [0, 1] and maps to it. */
  range: InputRange;
  weightsSha256: string;
  format: 'layers' | 'graph';
  /** A graph model's Softmax ops (a LayersModel's softmax layers are found in it). */
  softmaxNodes?: string[];
}

/**
 * A LayersModel or GraphModel as a LoadedModel: checked against the dataset's image shape,
 * its final softmax switched to linear (a LayersModel's; this changes the model object),
 * softmax elsewhere recorded in `info.warnings`, inputs mapped from [0, 1] to `range`.
 */
export function wrapTfModel(model: tf.LayersModel | tf.GraphModel, spec: TfModelSpec): LoadedModel {
  const { id: source, dataset, range } = spec;
  const expected: ImageShape = dataset.imageShape;
  checkModelInputs(model, source, expected, dataset.id);
  // Before the first forward pass, which would only reach the first op tfjs lacks, if any.
  const opWarnings = model instanceof tf.GraphModel ? checkGraphOps(model, source) : [];
  const declared = declaredInputShape(model);
  if (declared && declared.length === 4) {
    const mismatch = declared.slice(1).some((d, i) => d !== null && d !== expected[i]);
    if (mismatch) {
      throw new UsageError(
        `the model ${source} takes inputs of shape [${declared.slice(1).map((d) => d ?? '?')}] but ${dataset.id} images are [${expected}]`,
        'name the dataset the model was trained on with --dataset',
      );
    }
  }
  const softmaxStripped = model instanceof tf.LayersModel && stripSoftmax(model);
  const warnings = [...softmaxWarning(source, model instanceof tf.LayersModel ? softmaxLayers(model.layers as unknown as LayerLike[]) : (spec.softmaxNodes ?? [])), ...opWarnings];
  const [lo, hi] = range;
  const forward = (x: tf.Tensor4D): tf.Tensor2D => {
    const scaled = lo === 0 && hi === 1 ? x : tf.add(tf.mul(x, hi - lo), lo);
    const out = model instanceof tf.LayersModel ? model.apply(scaled, { training: false }) : model.predict(scaled);
    return (Array.isArray(out) ? out[0] : out) as tf.Tensor2D;
  };
  const probe = firstForward(source, expected, () => tf.tidy(() => forward(tf.zeros([1, ...expected]) as tf.Tensor4D)));
  const numClasses = probe.shape[1];
  probe.dispose();
  return {
    id: source,
    dataset: dataset.id,
    inputShape: expected,
    numClasses,
    weightsSha256: spec.weightsSha256,
    logits: forward,
    info: { source, format: spec.format, inputRange: range, softmaxStripped, ...(warnings.length > 0 ? { warnings } : {}) },
    dispose: () => model.dispose(),
  };
}

/**
 * A model file fed pixels in the wrong range usually still runs, at chance
 * accuracy; below twice chance the range is the likeliest cause.
 */
export function inputRangeHint(model: LoadedModel, cleanAccuracy: number): string | undefined {
  const range = model.info?.inputRange as InputRange | undefined;
  if (range === undefined || cleanAccuracy >= 2 / model.numClasses) return undefined;
  const others = ['0,1', '0,255', '-1,1'].filter((r) => r !== range.join(','));
  return `clean accuracy ${(100 * cleanAccuracy).toFixed(1)}% is near chance (${(100 / model.numClasses).toFixed(1)}%) with --input-range ${range.join(',')}: the model probably expects another range; try --input-range ${others.join(' or ')}`;
}
