/**
 * `benchmark()`: one model under one attack over a grid of budgets, from code. It returns the
 * object `robench run` writes to results.json, with the same checks, numbers and records.
 */
import * as tf from '@tensorflow/tfjs';
import { BACKEND_NAMES, useBackend, type BackendInfo, type BackendName } from '../runtime/backends.js';
import { nearest, shown, type Origin } from '../core/settings.js';
import { RUN_SETTINGS, smoothingOf, type RunSettingValues } from './run-settings.js';
import { smoothedModel } from './smoothed-model.js';
import type { Progress } from '../core/engine.js';
import { UsageError } from '../core/errors.js';
import { evaluateRun } from './evaluate-run.js';
import { loadModel } from './load-model.js';
import { sha256OfWeights } from '../runtime/model-io.js';
import { parseGrid, resolveParams, type InputRange } from '../core/parse.js';
import type { AttackPlugin, DatasetPlugin, ImageShape, LoadedModel, Plugin, RunResult } from '../core/plugin-api.js';
import { createRegistry, type Registry } from '../core/registry.js';
import type { ModelSource, RunHooks, RunPlan } from './run-plan.js';
import { wrapTfModel } from './user-model.js';

/** A differentiable function from a batch of images (NHWC, pixels in its `inputRange`) to logits, with what robench cannot read off a function. */
export interface LogitsModel {
  logits(x: tf.Tensor4D): tf.Tensor2D;
  inputShape: ImageShape;
  numClasses: number;
  /** The pixel range `logits` expects (default [0, 1]); robench attacks in [0, 1] and maps to it. */
  inputRange?: InputRange;
  /** Its name in the results (default 'logits-function'). */
  id?: string;
  /** Recorded as `model.weightsSha256`; empty when not given, since robench cannot see a function's weights. */
  weightsSha256?: string;
  /** As a LoadedModel's: a randomised function (gradient attacks need `--eot`), and its BPDA stand-in on the same pixel range. */
  stochastic?: boolean;
  gradientSurrogate?: LoadedModel['gradientSurrogate'];
  /** As a LoadedModel's: facts recorded with the results (a wrapper's, such as smoothedModel's smoothing record). */
  info?: Record<string, unknown>;
}

/**
 * The options `benchmark()` shares with `robench run` (samples, seed, batch, sweep, backend,
 * dataDir, offline, workers) take their types and checks from the run's declarations
 * (src/evaluation/run-settings.ts); `backend` unset means the one the caller made active, else
 * 'auto'; `workers` above 1 needs the model and attack by id or file, which every thread loads.
 * `saveAdversarial` (n, or true for all) writes each budget's examples of the first n samples as
 * .npy files into adversarial/ of the folder `out`, as `robench run --save-adversarial` does.
 * `smooth` (a noise sigma) with `smoothN` (draws, default 100) evaluates the model's smoothed
 * classifier instead, as `robench run --smooth --smooth-n` does (src/evaluation/smoothed-model.ts).
 */
export interface BenchmarkOptions extends Partial<Pick<RunSettingValues, 'samples' | 'seed' | 'batch' | 'sweep' | 'backend' | 'dataDir' | 'offline' | 'workers' | 'saveAdversarial' | 'out' | 'smooth' | 'smoothN'>> {
  /**
   * A zoo id (`'hebbian'`), a model.json path or URL, or a model in memory: a tf.LayersModel,
   * a tf.GraphModel or a LogitsModel. robench never disposes a model it was handed.
   */
  model: string | tf.LayersModel | tf.GraphModel | LogitsModel;
  /** A dataset id or plugin; default: a zoo model's own. Required for every other model. */
  dataset?: string | DatasetPlugin;
  /** An attack id (`'pgd'`) or plugin. */
  attack: string | AttackPlugin;
  /** Attack options, keyed as `robench list attacks --json` names them (`{ steps: 50, norm: 'l2' }`), checked like flags. */
  params?: Record<string, unknown>;
  /** Budgets in [0, 1] pixel units, or a grid as `--eps` takes it (`'0,2/255,4/255'`); default: the attack's grid. */
  eps?: readonly number[] | string;
  /** The pixel range of a model file, LayersModel or GraphModel (default [0, 1]). */
  inputRange?: InputRange;
  /** The name of a LayersModel or GraphModel in the results (default: the LayersModel's name, or 'graph-model'). */
  modelId?: string;
  /** Plugin files or packages (as `--plugin` takes them) or plugin objects, registered before the ids are looked up. */
  plugins?: (string | Plugin)[];
  onProgress?(p: Progress): void;
  /** Recorded as `command` (default: this process's arguments). */
  command?: string[];
}

/**
 * Evaluates a model under an attack at every budget of a grid and returns the run's result,
 * exactly what `robench run` saves in results.json for the same settings.
 *
 * Examples:
 *   import { benchmark } from 'robench';
 *   const result = await benchmark({ model: 'hebbian', dataset: 'mnist', attack: 'pgd', eps: [0, 0.1, 0.2], samples: 100 });
 *   console.log(result.points.map((p) => `${p.perturbation}: ${p.accuracy}`));
 *
 *   // a model built in code, its logits on [0, 255] pixels
 *   const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })] });
 *   await benchmark({ model: net, inputRange: [0, 255], dataset: 'mnist', attack: 'fgsm', eps: '0,8/255' });
 *
 *   // any function of a batch
 *   await benchmark({ model: { logits: (x) => myNet(x), inputShape: [28, 28, 1], numClasses: 10 }, dataset: 'mnist', attack: 'gaussian' });
 */
export async function benchmark(options: BenchmarkOptions): Promise<RunResult> {
  const opts = checkOptions(options);
  const registry = await registryFor(opts.plugins ?? []);
  const attack = typeof opts.attack === 'string' ? registry.get('attack', opts.attack) : registered(registry, opts.attack, 'benchmark() attack');
  const params = resolveParams(attack, opts.params ?? {}, { origin: { source: 'option', api: 'benchmark() params' }, strict: true });
  const backend = await activeBackend(opts.backend);
  const plan: RunPlan = {
    models: [modelSource(registry, opts)],
    attacks: [{ attack, params }],
    grid: opts.eps === undefined ? undefined : parseGrid(opts.eps as string),
    gridName: 'eps',
    backend,
    batch: opts.batch,
    seed: opts.seed,
    sweep: opts.sweep,
    samples: opts.samples,
    dataDir: opts.dataDir,
    offline: opts.offline,
    workers: opts.workers ?? 1,
    // Each thread loads the attack, dataset and plugins itself, so only those given by name.
    threads:
      typeof opts.attack === 'string' && typeof opts.dataset !== 'object' && (opts.plugins ?? []).every((p) => typeof p === 'string')
        ? { plugins: (opts.plugins ?? []) as string[], cwd: process.cwd() }
        : undefined,
    gallery: false,
    ...(opts.saveAdversarial ? { saveAdversarial: opts.saveAdversarial, adversarialDir: opts.out } : {}),
    command: opts.command ?? process.argv.slice(1),
  };
  const onProgress = opts.onProgress;
  const hooks: RunHooks = onProgress ? { onProgress: ({ phase, perturbation, done, total }) => onProgress({ phase, perturbation, done, total }) } : {};
  const [result] = await evaluateRun(plan, hooks);
  return result!;
}

export async function registryFor(plugins: (string | Plugin)[]): Promise<Registry> {
  const registry = await createRegistry({ plugins: plugins.filter((p): p is string => typeof p === 'string') });
  for (const p of plugins) if (typeof p !== 'string') registered(registry, p, 'benchmark() plugins');
  return registry;
}

/** A plugin object given in code, registered as a file's would be (its params checked, `--eot` added). */
export function registered<P extends Plugin>(registry: Registry, plugin: P, origin: string): P {
  if (!registry.has(plugin.kind, plugin.id)) registry.add(plugin, origin);
  return registry.get(plugin.kind, plugin.id) as P;
}

const ORIGIN: Origin = { source: 'option', api: 'benchmark()' };

/** The settings `benchmark()` shares with `robench run`, checked by the same declarations. */
const SHARED = ['eps', 'samples', 'batch', 'seed', 'backend', 'dataDir', 'offline', 'workers', 'sweep', 'saveAdversarial', 'out', 'smooth', 'smoothN'] as const;
const OWN = ['model', 'dataset', 'attack', 'params', 'inputRange', 'modelId', 'plugins', 'onProgress', 'command'] as const satisfies readonly (keyof BenchmarkOptions)[];

/** The options checked, with the run settings' declared defaults where `robench run` has them too. */
type CheckedOptions = BenchmarkOptions & Required<Pick<BenchmarkOptions, (typeof DEFAULTED)[number]>>;
const DEFAULTED = ['seed', 'batch', 'sweep'] as const satisfies readonly (typeof SHARED)[number][];

/**
 * Every option checked before anything loads, as `robench run` checks its flags: an unknown
 * key (a typo, `stepz`) is an error suggesting the nearest, never silently dropped.
 */
function checkOptions(opts: BenchmarkOptions): CheckedOptions {
  if (typeof opts !== 'object' || opts === null) throw new UsageError(`benchmark() takes an options object, not ${shown(opts)}`, "e.g. benchmark({ model: 'hebbian', attack: 'pgd' })");
  const names: readonly string[] = [...SHARED, ...OWN];
  const checked: Record<string, unknown> = {};
  for (const key of Object.keys(opts)) {
    const value = (opts as unknown as Record<string, unknown>)[key];
    if (!names.includes(key)) {
      throw new UsageError(`benchmark() has no option "${key}"; did you mean "${nearest(key, names)}"?`, `its options: ${[...names].sort().join(', ')}`);
    }
    checked[key] = value !== undefined && (SHARED as readonly string[]).includes(key) ? RUN_SETTINGS[key as (typeof SHARED)[number]].parse(value, ORIGIN) : value;
  }
  if (opts.model === undefined) throw new UsageError('benchmark() needs a model', "e.g. model: 'hebbian', a model.json path, a tf.LayersModel or a LogitsModel");
  if (opts.attack === undefined) throw new UsageError('benchmark() needs an attack', "e.g. attack: 'pgd'");
  if (opts.params !== undefined && (typeof opts.params !== 'object' || opts.params === null || Array.isArray(opts.params))) {
    throw new UsageError(`benchmark() option "params" must be an object, not ${shown(opts.params)}`, "e.g. params: { steps: 50, norm: 'l2' }");
  }
  if (opts.inputRange !== undefined) RUN_SETTINGS.inputRange.parse(Array.isArray(opts.inputRange) ? opts.inputRange.join(',') : opts.inputRange, ORIGIN);
  smoothingOf(checked, ORIGIN);
  // benchmark() saves no run: `out` is only where saveAdversarial's .npy files go.
  if (checked.saveAdversarial !== undefined && checked.out === undefined) {
    throw new UsageError('benchmark() option "saveAdversarial" needs "out": the folder its adversarial/ .npy files go into', "e.g. benchmark({ ..., saveAdversarial: 100, out: 'adv-run' })");
  }
  if (checked.out !== undefined && checked.saveAdversarial === undefined) {
    throw new UsageError('benchmark() option "out" is only where saveAdversarial writes; benchmark() returns its result instead of saving it', 'drop "out", or give saveAdversarial too (robench run saves a whole run)');
  }
  for (const key of DEFAULTED) checked[key] ??= RUN_SETTINGS[key].default;
  return checked as unknown as CheckedOptions;
}

/**
 * The backend to run on, started by robench (its wasm kernels registered, its detail recorded)
 * even when the caller already chose it with tf.setBackend: a backend robench did not start
 * computed other numbers (2.0% where robench's start gives 4.0%) and recorded no detail.
 * tfjs names no backend until one is set or used, and a registered wasm backend is not ready
 * until awaited, so "none active" is read from the engine's name only.
 */
export async function activeBackend(requested: BackendName | undefined): Promise<BackendInfo> {
  if (requested !== undefined) return useBackend(requested);
  const active = tf.engine().backendName as string | null | undefined;
  if (!active) return useBackend('auto');
  if ((BACKEND_NAMES as readonly string[]).includes(active)) return { ...(await useBackend(active as BackendName)), requested: 'auto' };
  return { name: active, requested: 'auto', detail: `${active}, set by the caller (tf.setBackend) before benchmark()` };
}

export const isLayersModel = (m: object): m is tf.LayersModel => m instanceof tf.LayersModel;
export const isGraphModel = (m: object): m is tf.GraphModel => m instanceof tf.GraphModel;

/** The model to benchmark: by id or file as `robench run --model` takes it, or one held in memory. */
function modelSource(registry: Registry, opts: CheckedOptions): ModelSource {
  const range = opts.inputRange ?? [0, 1];
  const held = opts.model;
  const smoothing = smoothingOf(opts, ORIGIN);
  const smooth = smoothing && { ...smoothing, seed: opts.seed };
  if (typeof held === 'string') {
    // Registered so that loading finds the dataset by its id.
    if (typeof opts.dataset === 'object') registered(registry, opts.dataset, 'benchmark() dataset');
    const spec = { model: held, dataset: typeof opts.dataset === 'object' ? opts.dataset.id : opts.dataset, inputRange: range.join(','), offline: opts.offline, ...(smooth ? { smooth } : {}) };
    return { spec, load: async () => ({ ...(await loadModel(registry, spec)), owned: true }) };
  }
  const load = async () => {
    const { model, dataset } = await heldModel(registry, opts, held, range);
    // The wrapper is the run's, the model under it the caller's: the run does not dispose either.
    return { model: smooth ? smoothedModel(model, smooth) : model, dataset, owned: false };
  };
  return { load };
}

/** A model handed in as an object, wrapped as a LoadedModel and checked against its dataset. */
async function heldModel(registry: Registry, opts: CheckedOptions, held: Exclude<BenchmarkOptions['model'], string>, range: InputRange) {
  if (opts.dataset === undefined) throw new UsageError('benchmark() needs a dataset for a model held in memory', "name the data it classifies, e.g. dataset: 'mnist'");
  const dataset = typeof opts.dataset === 'string' ? registry.get('dataset', opts.dataset) : registered(registry, opts.dataset, 'benchmark() dataset');
  let model: LoadedModel;
  if (isLayersModel(held) || isGraphModel(held)) {
    const id = opts.modelId ?? (isLayersModel(held) ? held.name : 'graph-model');
    const wrapped = wrapTfModel(held, { id, dataset, range, weightsSha256: await weightsSha256(held), format: isLayersModel(held) ? 'layers' : 'graph' });
    model = { ...wrapped, info: { ...wrapped.info, source: 'memory' } };
  } else {
    model = fromLogits(held, dataset);
  }
  return { model: checkModelFits(model, dataset), dataset };
}

/** The sha256 the model's weights would have saved to a model.json folder, so a file and its model in memory record the same. */
export async function weightsSha256(model: tf.LayersModel | tf.GraphModel): Promise<string> {
  let sha = '';
  await model.save({
    save: async (artifacts) => {
      sha = sha256OfWeights(artifacts.weightData ?? new Uint8Array(0));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  return sha;
}

export function fromLogits(m: LogitsModel, dataset: DatasetPlugin): LoadedModel {
  const [lo, hi] = m.inputRange ?? [0, 1];
  const mapped = (x: tf.Tensor4D): tf.Tensor4D => (lo === 0 && hi === 1 ? x : tf.add(tf.mul(x, hi - lo), lo));
  const surrogate = m.gradientSurrogate;
  return {
    id: m.id ?? 'logits-function',
    dataset: dataset.id,
    inputShape: m.inputShape,
    numClasses: m.numClasses,
    weightsSha256: m.weightsSha256 ?? '',
    logits: (x) => m.logits(mapped(x)),
    ...(m.stochastic ? { stochastic: true } : {}),
    ...(surrogate ? { gradientSurrogate: { description: surrogate.description, logits: (x: tf.Tensor4D) => surrogate.logits(mapped(x)) } } : {}),
    // A wrapper's record (smoothedModel's smoothing) is kept, as loading the model with it records it.
    info: { source: 'memory', format: 'function', inputRange: [lo, hi], ...m.info },
    dispose: () => undefined,
  };
}

/** What loadModel checks of a zoo model, for a model in memory: its images and classes are the dataset's. */
function checkModelFits(model: LoadedModel, dataset: DatasetPlugin): LoadedModel {
  if (model.inputShape.join('x') !== dataset.imageShape.join('x')) {
    throw new UsageError(`the model ${model.id} takes [${model.inputShape}] images but ${dataset.id} has [${dataset.imageShape}]`, 'benchmark it on the dataset it was trained on');
  }
  if (model.numClasses !== dataset.classNames.length) {
    throw new UsageError(`the model ${model.id} returns ${model.numClasses} logits but ${dataset.id} has ${dataset.classNames.length} classes`, 'benchmark it on the dataset it was trained on');
  }
  for (const warning of (model.info?.warnings as string[] | undefined) ?? []) console.error(`robench: warning: ${warning}`);
  return model;
}
