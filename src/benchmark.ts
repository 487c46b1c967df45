/**
 * `benchmark()`: one model under one attack over a grid of budgets, from code. It returns the
 * object `robench run` writes to results.json, with the same checks, numbers and records.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend, type BackendInfo, type BackendName } from './backends.js';
import { evaluateCurve, type Progress } from './engine.js';
import { UsageError } from './errors.js';
import { loadModel } from './load-model.js';
import { sha256OfWeights } from './model-io.js';
import { checkBudgets, parseGrid, resolveParams, type InputRange } from './parse.js';
import { robenchVersion } from './paths.js';
import { measureSparsity } from './activation-stats.js';
import type { AttackPlugin, DatasetPlugin, ImageShape, LoadedModel, Plugin, RunResult } from './plugin-api.js';
import { createRegistry, type Registry } from './registry.js';
import { inputRangeHint, wrapTfModel } from './user-model.js';
import { evaluateInWorkers } from './worker-pool.js';

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
}

export interface BenchmarkOptions {
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
  eps?: number[] | string;
  /** Test samples, from the start (default: every bundled one). */
  samples?: number;
  seed?: number;
  batch?: number;
  /** Attack every budget independently when false (`--no-sweep`). */
  sweep?: boolean;
  /** The pixel range of a model file, LayersModel or GraphModel (default [0, 1]). */
  inputRange?: InputRange;
  /** The name of a LayersModel or GraphModel in the results (default: the LayersModel's name, or 'graph-model'). */
  modelId?: string;
  /**
   * The tfjs backend to switch to. Default: the one already active, else 'auto' (the fastest
   * that starts), as the CLI does.
   */
  backend?: BackendName;
  /** Threads (`--workers`); more than 1 needs the model and attack by id or file, which every thread loads itself. */
  workers?: number;
  /** Plugin files or packages (as `--plugin` takes them) or plugin objects, registered before the ids are looked up. */
  plugins?: (string | Plugin)[];
  dataDir?: string;
  offline?: boolean;
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
export async function benchmark(opts: BenchmarkOptions): Promise<RunResult> {
  const startedAt = Date.now();
  const registry = await registryFor(opts.plugins ?? []);
  const attack = typeof opts.attack === 'string' ? registry.get('attack', opts.attack) : registered(registry, opts.attack, 'benchmark() attack');
  const params = resolveParams(attack.id, attack.params, opts.params ?? {});
  const backend = await activeBackend(opts.backend);
  const { model, dataset, owned } = await modelAndData(registry, opts);
  try {
    const grid = opts.eps === undefined ? attack.defaultGrid(dataset.id, params) : typeof opts.eps === 'string' ? parseGrid(opts.eps) : [...opts.eps];
    checkBudgets(grid, attack.budget(params), dataset.imageShape, opts.eps === undefined ? `the default grid of ${attack.id}` : 'eps');
    const data = await dataset.load({ split: 'test', samples: opts.samples, dataDir: opts.dataDir, offline: opts.offline });
    const indices = Array.from({ length: data.count }, (_, i) => i);
    const batchSize = opts.batch ?? 100;
    const seed = opts.seed ?? 0;
    const sweep = opts.sweep ?? true;
    const workers = Math.min(opts.workers ?? 1, Math.ceil(indices.length / batchSize));
    const evaluateHere = (chunk: number[], onProgress?: (p: Progress) => void) =>
      evaluateCurve({ model, attack, params, data, grid, indices: chunk, batchSize, seed, sweep, onProgress });
    let curve;
    if (workers > 1) {
      if (typeof opts.model !== 'string' || typeof opts.attack !== 'string' || typeof opts.dataset === 'object' || opts.plugins?.some((p) => typeof p !== 'string')) {
        throw new UsageError('workers > 1 needs the model, attack, dataset and plugins by id, file or package: each thread loads them itself', 'pass ids and file names, or evaluate with workers: 1');
      }
      curve = await evaluateInWorkers(
        {
          model: opts.model,
          dataset: dataset.id,
          inputRange: (opts.inputRange ?? [0, 1]).join(','),
          offline: opts.offline,
          plugins: (opts.plugins ?? []) as string[],
          cwd: process.cwd(),
          backend: backend.name as BackendName,
          attack: attack.id,
          params,
          grid,
          indices,
          batchSize,
          seed,
          sweep,
          samples: opts.samples,
          dataDir: opts.dataDir,
          expect: { weightsSha256: model.weightsSha256, dataSha256: data.source.sha256 },
        },
        workers,
        opts.onProgress,
        evaluateHere,
      );
    } else {
      curve = await evaluateHere(indices, opts.onProgress);
    }
    const hint = inputRangeHint(model, curve.cleanAccuracy);
    if (hint) console.error(`robench: hint: ${hint}`);
    const sparsity = await measureSparsity(model, data, indices, batchSize);
    return {
      ...resultHeader({ model, attack, params, backend, seed, sweep }),
      dataset: { id: dataset.id, split: 'test', samples: indices.length, source: data.source },
      ...curve,
      ...(sparsity ? { sparsity } : {}),
      durationMs: Date.now() - startedAt,
      startedAt: new Date(startedAt).toISOString(),
      command: opts.command ?? process.argv.slice(1),
    };
  } finally {
    if (owned) model.dispose();
  }
}

/** The settings part of a result: what was evaluated, how, and with which robench. */
export function resultHeader(run: { model: LoadedModel; attack: AttackPlugin; params: RunResult['attack']['params']; backend: BackendInfo; seed: number; sweep: boolean }) {
  const { model, attack, params, backend } = run;
  const budget = attack.budget(params);
  return {
    robench: robenchVersion,
    model: { id: model.id, dataset: model.dataset, weightsSha256: model.weightsSha256, info: model.info },
    attack: { id: attack.id, params, budget, perturbation: attack.perturbationLabel?.(params) ?? 'eps' },
    backend: backend.name,
    ...(backend.detail ? { backendDetail: backend.detail } : {}),
    seed: run.seed,
    // A minimization attack's curve is the same either way (one run scores every budget).
    sweep: run.sweep && budget !== null && attack.strategy !== 'minimization',
  };
}

async function registryFor(plugins: (string | Plugin)[]): Promise<Registry> {
  const registry = await createRegistry({ plugins: plugins.filter((p): p is string => typeof p === 'string') });
  for (const p of plugins) if (typeof p !== 'string') registered(registry, p, 'benchmark() plugins');
  return registry;
}

/** A plugin object given in code, registered as a file's would be (its params checked, `--eot` added). */
function registered<P extends Plugin>(registry: Registry, plugin: P, origin: string): P {
  if (!registry.has(plugin.kind, plugin.id)) registry.add(plugin, origin);
  return registry.get(plugin.kind, plugin.id) as P;
}

async function activeBackend(requested: BackendName | undefined): Promise<BackendInfo> {
  // tf.engine().backendName stays null until someone picks or uses a backend.
  if (requested === undefined && tf.engine().backendName !== null) return { name: tf.getBackend(), requested: tf.getBackend() as BackendName };
  return useBackend(requested ?? 'auto');
}

const isLayersModel = (m: object): m is tf.LayersModel => m instanceof tf.LayersModel;
const isGraphModel = (m: object): m is tf.GraphModel => m instanceof tf.GraphModel;

async function modelAndData(registry: Registry, opts: BenchmarkOptions): Promise<{ model: LoadedModel; dataset: DatasetPlugin; owned: boolean }> {
  const datasetOf = (): DatasetPlugin => {
    if (opts.dataset === undefined) throw new UsageError('benchmark() needs a dataset for a model held in memory', "name the data it classifies, e.g. dataset: 'mnist'");
    return typeof opts.dataset === 'string' ? registry.get('dataset', opts.dataset) : registered(registry, opts.dataset, 'benchmark() dataset');
  };
  const range = opts.inputRange ?? [0, 1];
  if (typeof opts.model === 'string') {
    if (typeof opts.dataset === 'object') registered(registry, opts.dataset, 'benchmark() dataset');
    const dataset = typeof opts.dataset === 'object' ? opts.dataset.id : opts.dataset;
    const loaded = await loadModel(registry, { model: opts.model, dataset, inputRange: range.join(','), offline: opts.offline });
    return { ...loaded, owned: true };
  }
  const dataset = datasetOf();
  const held = opts.model;
  let model: LoadedModel;
  if (isLayersModel(held) || isGraphModel(held)) {
    const id = opts.modelId ?? (isLayersModel(held) ? held.name : 'graph-model');
    const wrapped = wrapTfModel(held, { id, dataset, range, weightsSha256: await weightsSha256(held), format: isLayersModel(held) ? 'layers' : 'graph' });
    model = { ...wrapped, info: { ...wrapped.info, source: 'memory' } };
  } else {
    model = fromLogits(held, dataset);
  }
  return { model: checkModelFits(model, dataset), dataset, owned: false };
}

/** The sha256 the model's weights would have saved to a model.json folder, so a file and its model in memory record the same. */
async function weightsSha256(model: tf.LayersModel | tf.GraphModel): Promise<string> {
  let sha = '';
  await model.save({
    save: async (artifacts) => {
      sha = sha256OfWeights(artifacts.weightData ?? new Uint8Array(0));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  return sha;
}

function fromLogits(m: LogitsModel, dataset: DatasetPlugin): LoadedModel {
  const [lo, hi] = m.inputRange ?? [0, 1];
  return {
    id: m.id ?? 'logits-function',
    dataset: dataset.id,
    inputShape: m.inputShape,
    numClasses: m.numClasses,
    weightsSha256: m.weightsSha256 ?? '',
    logits: (x) => m.logits(lo === 0 && hi === 1 ? x : tf.add(tf.mul(x, hi - lo), lo)),
    info: { source: 'memory', format: 'function', inputRange: [lo, hi] },
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
