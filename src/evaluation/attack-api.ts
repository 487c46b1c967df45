/**
 * `attack()`: a batch of the caller's own images and labels in, adversarial examples out, at one
 * budget or several (Foolbox's `attack(fmodel, images, labels, epsilons)`).
 *
 * There is one way to run an attack: this goes through the engine (evaluateCurve), which calls
 * the attack through its guarded path and checks every batch it returns (shape, [0, 1], within
 * the budget), and hands over the examples it scored (its onExamples hook). What attack()
 * returns per budget eps is therefore exactly what `robench run` scores there:
 * - a norm-ball attack with sweep (the default): sample i's example at eps_k is the first one
 *   that fooled the model at some eps_j <= eps_k (it lies in every larger ball), else the
 *   attack's example at eps_k;
 * - a minimization attack (FAB, FMN) runs once, at the largest budget, and its minimal example
 *   x* is sample i's example at eps iff ||x* - x|| <= eps (with the engine's float32 slack),
 *   else the clean image: the model misclassifies it at eps iff the run counts it broken there;
 * - a sample the model already misclassifies clean is not attacked: its example is the clean
 *   image (delta = 0 is inside every ball), its success true and its norm 0;
 * - eps = 0 gives the clean images.
 * success[i] = argmax f(x_adv_i) != y_i (Foolbox's is_adv), and norms[i] = ||x_adv_i - x_i||_p
 * in the attack's norm (l-inf for attacks without one: noise and corruptions).
 * Each sample draws from its own random stream keyed by (seed, attack, its position in x), so
 * the examples do not depend on the batch size.
 */
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../core/engine.js';
import { UsageError } from '../core/errors.js';
import { perturbationNorms } from '../core/norms.js';
import { parseGrid, resolveParams, type InputRange } from '../core/parse.js';
import { nearest, shown, type Origin } from '../core/settings.js';
import type { AttackPlugin, DatasetPlugin, DatasetSplit, LoadedModel, Norm, Params, Plugin } from '../core/plugin-api.js';
import type { Registry } from '../core/registry.js';
import type { BackendName } from '../runtime/backends.js';
import { activeBackend, fromLogits, isGraphModel, isLayersModel, registered, registryFor, weightsSha256, type LogitsModel } from './benchmark.js';
import { loadUserModel, looksLikeModelPath, wrapTfModel } from './user-model.js';
import { RUN_SETTINGS } from './run-settings.js';
import { ExampleCollector, type EngineExamples } from './example-collector.js';

/** The options of attack(); with a plugin object (`robench/attacks`) its params are typed by it. */
export interface AttackOptions<P extends Params = Params> {
  /** A zoo id (`'hebbian'`), a model.json path or URL, a tf.LayersModel, a tf.GraphModel or a LogitsModel. robench never disposes a model it was handed. */
  model: string | tf.LayersModel | tf.GraphModel | LogitsModel;
  /** The images, NHWC float32 in [0, 1] (robench maps them to the model's inputRange); not modified, not disposed. */
  x: tf.Tensor4D;
  /** Their labels: an int tensor or an array of class indices. */
  y: tf.Tensor1D | ArrayLike<number>;
  /** An attack id (`'pgd'`) or plugin (`import { pgd } from 'robench/attacks'`). */
  attack: string | AttackPlugin<P>;
  /** One budget, a list, or a grid as `--eps` takes it (`'0,2/255,4/255'`); default: the attack's grid for the model's dataset. */
  eps?: number | readonly number[] | string;
  /** Attack options, keyed as `robench list attacks --json` names them, checked like flags. */
  params?: Partial<P>;
  seed?: number;
  /** Samples per attack call (default 100); the examples do not depend on it. */
  batch?: number;
  /** Norm-ball attacks: attack at each budget only the samples every smaller one failed on (default true). */
  sweep?: boolean;
  backend?: BackendName;
  /** The pixel range a model file, LayersModel or GraphModel expects (default [0, 1]). */
  inputRange?: InputRange;
  /** The dataset a zoo model is loaded for (default: its own); otherwise only its id is passed to the attack. */
  dataset?: string;
  /** The name of an in-memory model in error messages. */
  modelId?: string;
  /** Plugin files or packages, or plugin objects, registered before the ids are looked up. */
  plugins?: (string | Plugin)[];
  offline?: boolean;
}

/** The examples at one budget; `x` is yours to dispose (or call the result's dispose()). */
export interface AdversarialBatch {
  eps: number;
  x: tf.Tensor4D;
  /** 1 where the model misclassifies the sample's example. */
  success: Uint8Array;
  /** Each sample's perturbation size ||x_adv - x|| in `norm`. */
  norms: Float32Array;
  /** Model evaluations spent attacking at this budget (a minimization attack's one run is reported under `minimal`). */
  evaluations: { forward: number; gradient: number };
}

export interface AttackResult {
  attack: string;
  /** The norm of the budgets and of `norms`. */
  norm: Norm;
  /** The attack's own norm: null for attacks without one (noise, corruptions), whose `norm` is l-inf. */
  budget: Norm | null;
  /** One per budget, in increasing order (duplicates merged). */
  budgets: AdversarialBatch[];
  /** 1 where the model classifies the clean image correctly. */
  cleanCorrect: Uint8Array;
  /** Minimization attacks: each sample's minimal example (the clean image where none was found) and its norm (Infinity where none was found, 0 where misclassified clean). */
  minimal?: { x: tf.Tensor4D; norms: Float32Array; evaluations: { forward: number; gradient: number } };
  /** Every model evaluation, the clean pass included. */
  evaluations: { forward: number; gradient: number };
  /** Frees every tensor of the result. */
  dispose(): void;
}

const API = 'attack()';
const ORIGIN: Origin = { source: 'option', api: API };
const SHARED = ['seed', 'batch', 'sweep', 'backend', 'offline'] as const;
const OWN = ['model', 'x', 'y', 'attack', 'eps', 'params', 'inputRange', 'dataset', 'modelId', 'plugins'] as const;

function checkOptions(opts: AttackOptions): AttackOptions {
  if (typeof opts !== 'object' || opts === null) throw new UsageError(`attack() takes an options object, not ${shown(opts)}`, "e.g. attack({ model: 'hebbian', x, y, attack: 'pgd', eps: 0.1 })");
  const names: readonly string[] = [...SHARED, ...OWN];
  const checked: Record<string, unknown> = {};
  for (const key of Object.keys(opts)) {
    const value = (opts as unknown as Record<string, unknown>)[key];
    if (!names.includes(key)) throw new UsageError(`attack() has no option "${key}"; did you mean "${nearest(key, names)}"?`, `its options: ${[...names].sort().join(', ')}`);
    checked[key] = value !== undefined && (SHARED as readonly string[]).includes(key) ? RUN_SETTINGS[key as (typeof SHARED)[number]].parse(value, ORIGIN) : value;
  }
  for (const need of ['model', 'x', 'y', 'attack'] as const) {
    if (opts[need] === undefined) throw new UsageError(`attack() needs the option "${need}"`, "e.g. attack({ model: 'hebbian', x, y, attack: 'pgd', eps: 0.1 })");
  }
  if (opts.params !== undefined && (typeof opts.params !== 'object' || opts.params === null || Array.isArray(opts.params))) {
    throw new UsageError(`attack() option "params" must be an object, not ${shown(opts.params)}`, "e.g. params: { steps: 50, norm: 'l2' }");
  }
  if (opts.inputRange !== undefined) RUN_SETTINGS.inputRange.parse(Array.isArray(opts.inputRange) ? opts.inputRange.join(',') : opts.inputRange, ORIGIN);
  if (opts.dataset !== undefined) RUN_SETTINGS.dataset.parse(opts.dataset, ORIGIN);
  return checked as unknown as AttackOptions;
}

/** The budgets: a number, a list or a grid text, through the run's eps declaration. */
function budgetsOf(eps: AttackOptions['eps']): number[] | undefined {
  if (eps === undefined) return undefined;
  return parseGrid(RUN_SETTINGS.eps.parse(typeof eps === 'number' ? [eps] : eps, ORIGIN));
}

/** The images and labels as the engine's data split, checked: NHWC float32 in [0, 1], one integer label per image. */
async function splitOf(x: unknown, y: unknown): Promise<DatasetSplit> {
  if (!(x instanceof tf.Tensor) || x.isDisposed || x.rank !== 4 || x.dtype !== 'float32') {
    throw new UsageError(`attack() option "x" must be a live float32 tf.Tensor4D of images (NHWC), not ${x instanceof tf.Tensor ? `a ${x.isDisposed ? 'disposed ' : ''}${x.dtype} tensor of shape [${x.shape}]` : shown(x)}`, 'e.g. x: tf.tensor4d(pixels, [n, 28, 28, 1]) with pixels in [0, 1]');
  }
  const images = Float32Array.from(await x.data());
  const n = x.shape[0];
  let bad = images.findIndex((v) => !(v >= 0 && v <= 1));
  if (bad >= 0) throw new UsageError(`attack() option "x" holds ${images[bad]} at flat position ${bad}: pixels must be in [0, 1]`, 'scale the images to [0, 1]; give the model\'s own range as inputRange');
  const labelValues = y instanceof tf.Tensor ? (y.isDisposed ? undefined : Array.from(await y.data())) : typeof y === 'object' && y !== null && typeof (y as ArrayLike<number>).length === 'number' ? Array.from(y as ArrayLike<number>) : undefined;
  if (labelValues === undefined || (y instanceof tf.Tensor && y.rank !== 1)) throw new UsageError(`attack() option "y" must be a tf.Tensor1D or an array of class indices, not ${y instanceof tf.Tensor ? `a tensor of shape [${y.shape}]` : shown(y)}`, 'e.g. y: tf.tensor1d([3, 1, 4], \'int32\')');
  if (labelValues.length !== n) throw new UsageError(`attack() got ${n} images but ${labelValues.length} labels`, 'give one label per image');
  bad = labelValues.findIndex((v) => !Number.isInteger(v) || v < 0);
  if (bad >= 0) throw new UsageError(`attack() option "y" holds ${labelValues[bad]} at position ${bad}: labels are class indices 0, 1, ...`, 'give each image its class index');
  if (n === 0) throw new UsageError('attack() got an empty batch', 'give at least one image');
  const [, h, w, c] = x.shape;
  return { images, labels: Int32Array.from(labelValues), count: n, shape: [h, w, c], source: { kind: 'file', path: '(attack() tensors)', sha256: '' } };
}

/** A dataset standing for the caller's tensors: a model in memory or a file is checked against their image shape. */
function tensorsDataset(data: DatasetSplit, id: string): DatasetPlugin {
  return {
    kind: 'dataset',
    id,
    description: 'the images given to attack()',
    imageShape: data.shape,
    classNames: [],
    normalization: { mean: [], std: [] },
    load: () => Promise.reject(new UsageError('the images given to attack() cannot be reloaded', 'pass them again')),
  };
}

/** The model as benchmark() takes it; `owned`: loaded here, so disposed here. */
async function loadFor(registry: Registry, opts: AttackOptions, data: DatasetSplit): Promise<{ model: LoadedModel; owned: boolean }> {
  const held = opts.model;
  const range = opts.inputRange ?? [0, 1];
  const pseudo = tensorsDataset(data, opts.dataset ?? 'tensors');
  let model: LoadedModel;
  let owned = false;
  if (typeof held === 'string' && looksLikeModelPath(held)) {
    model = await loadUserModel(held, pseudo, range, { offline: opts.offline });
    owned = true;
  } else if (typeof held === 'string') {
    model = await registry.get('model', held).load({ dataset: opts.dataset });
    owned = true;
  } else if (isLayersModel(held) || isGraphModel(held)) {
    const id = opts.modelId ?? (isLayersModel(held) ? held.name : 'graph-model');
    model = wrapTfModel(held, { id, dataset: pseudo, range, weightsSha256: await weightsSha256(held), format: isLayersModel(held) ? 'layers' : 'graph' });
  } else if (typeof held === 'object' && held !== null && typeof (held as LogitsModel).logits === 'function') {
    model = fromLogits({ ...(held as LogitsModel), ...(opts.modelId ? { id: opts.modelId } : {}) }, pseudo);
  } else {
    throw new UsageError(`attack() option "model" ${shown(held)} is not a model`, 'give a zoo id, a model.json path, a tf.LayersModel, a tf.GraphModel or a LogitsModel');
  }
  if (model.inputShape.join('x') !== data.shape.join('x')) {
    if (owned) model.dispose();
    throw new UsageError(`the model ${model.id} takes [${model.inputShape}] images but attack() got x of shape [${[data.count, ...data.shape]}]`, `give images of shape [n, ${model.inputShape}]`);
  }
  const label = data.labels.findIndex((l) => l >= model.numClasses);
  if (label >= 0) {
    if (owned) model.dispose();
    throw new UsageError(`attack() option "y" holds the label ${data.labels[label]} at position ${label}, but the model ${model.id} has ${model.numClasses} classes`, `labels are class indices 0 to ${model.numClasses - 1}`);
  }
  return { model, owned };
}

/**
 * Attacks the batch at every budget and returns the examples the engine evaluated there.
 *
 * Example:
 *   import { attack } from 'robench';
 *   const result = await attack({ model: 'hebbian', x, y, attack: 'pgd', eps: [0.05, 0.1], params: { steps: 20 } });
 *   for (const b of result.budgets) console.log(b.eps, b.success.reduce((s, v) => s + v, 0), 'fooled');
 *   result.dispose();
 */
export async function attack<P extends Params = Params>(options: AttackOptions<P>): Promise<AttackResult> {
  const opts = checkOptions(options as unknown as AttackOptions);
  const grid = budgetsOf(opts.eps);
  const registry = await registryFor(opts.plugins ?? []);
  const plugin = typeof opts.attack === 'string' ? registry.get('attack', opts.attack) : registered(registry, opts.attack, 'attack() attack');
  const params = resolveParams(plugin, (opts.params ?? {}) as Record<string, unknown>, { origin: { source: 'option', api: 'attack() params' }, strict: true });
  await activeBackend(opts.backend);
  const data = await splitOf(opts.x, opts.y);
  const { model, owned } = await loadFor(registry, opts, data);
  try {
    return await run(model, plugin, params, data, grid ?? plugin.defaultGrid(model.dataset, params), opts);
  } finally {
    if (owned) model.dispose();
  }
}

/** What engineExamples evaluates: the engine's options, with the dataset positions to attack. */
export interface ExamplesOptions {
  model: LoadedModel;
  attack: AttackPlugin;
  params: Params;
  data: DatasetSplit;
  /** Dataset positions of the samples (default: all); each draws from its own random stream. */
  indices?: number[];
  grid: number[];
  batchSize: number;
  seed: number;
  sweep: boolean;
}

/**
 * Runs the engine on the samples and keeps the examples it hands over (onExamples) in an
 * ExampleCollector: the one path attack(), the report's gallery and --save-adversarial take.
 */
export async function engineExamples(opts: ExamplesOptions): Promise<EngineExamples & { evaluations: { forward: number; gradient: number } }> {
  const indices = opts.indices ?? Array.from({ length: opts.data.count }, (_, i) => i);
  const collector = new ExampleCollector(opts.data, indices);
  const curve = await evaluateCurve({ model: opts.model, attack: opts.attack, params: opts.params, data: opts.data, indices, grid: opts.grid, batchSize: opts.batchSize, seed: opts.seed, sweep: opts.sweep, onExamples: collector.onExamples });
  return { ...collector.examples(opts, curve.outcomes), evaluations: { forward: curve.forwardEvaluations, gradient: curve.gradientEvaluations } };
}

async function run(model: LoadedModel, plugin: AttackPlugin, params: Params, data: DatasetSplit, grid: number[], opts: AttackOptions): Promise<AttackResult> {
  const n = data.count;
  const shape: [number, number, number, number] = [n, ...data.shape];
  const found = await engineExamples({ model, attack: plugin, params, data, grid, batchSize: opts.batch ?? 100, seed: opts.seed ?? 0, sweep: opts.sweep ?? true });
  const clean = tf.tensor4d(data.images, shape);
  const budgets: AdversarialBatch[] = [];
  try {
    for (const b of found.budgets) {
      const x = tf.tensor4d(b.pixels, shape);
      budgets.push({ eps: b.eps, x, success: b.success, norms: Float32Array.from(await sizes(clean, x, found.norm)), evaluations: b.evaluations });
    }
  } finally {
    clean.dispose();
  }
  const minimal = found.minimal ? { x: tf.tensor4d(found.minimal.pixels, shape), norms: found.minimal.norms, evaluations: found.minimal.evaluations } : undefined;
  return {
    attack: plugin.id,
    norm: found.norm,
    budget: found.budget,
    budgets,
    cleanCorrect: found.cleanCorrect,
    ...(minimal ? { minimal } : {}),
    evaluations: found.evaluations,
    dispose: () => tf.dispose([...budgets.map((b) => b.x), ...(minimal ? [minimal.x] : [])]),
  };
}

async function sizes(clean: tf.Tensor4D, x: tf.Tensor4D, norm: Norm): Promise<Float32Array> {
  const t = perturbationNorms(clean, x, norm);
  const values = await t.data();
  t.dispose();
  return Float32Array.from(values);
}
