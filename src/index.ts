/**
 * The robench library: `benchmark()`, the plugin API, the attack maths plugins build on, and the zoo.
 *
 * Example:
 *   import { benchmark } from 'robench';
 *   const result = await benchmark({ model: 'hebbian', dataset: 'mnist', attack: 'pgd', eps: [0, 0.1], samples: 50 });
 *   console.log(result.cleanAccuracy, result.points.at(-1)!.accuracy);
 */
export { benchmark, type BenchmarkOptions, type LogitsModel } from './evaluation/benchmark.js';
export { attack, type AdversarialBatch, type AttackOptions, type AttackResult } from './evaluation/attack-api.js';
export { smoothedModel, type SmoothingOptions } from './evaluation/smoothed-model.js';
export { robenchVersion } from './core/paths.js';
export type { EvaluatedBatch, Progress } from './core/engine.js';
export type { BackendName } from './runtime/backends.js';
export type { InputRange } from './core/parse.js';
export { RobenchError, UsageError } from './core/errors.js';

export {
  defineAttack,
  defineDataset,
  defineModel,
  defineReporter,
  type AttackContext,
  type AttackPlugin,
  type CurvePoint,
  type DatasetLoadOptions,
  type DatasetPlugin,
  type DatasetSource,
  type DatasetSplit,
  type ImageShape,
  type LoadedModel,
  type ModelPlugin,
  type Norm,
  type ParamSpec,
  type ParamSpecs,
  type Params,
  type PerSampleLoss,
  type Plugin,
  type PluginKind,
  type ReporterContext,
  type ReporterPlugin,
  type Rng,
  type RunResult,
  type SampleOutcomes,
  type SparsityLayer,
  type SparsityMeasures,
  type Split,
} from './core/plugin-api.js';

export { defaultEpsGrid, exactSign, l2Norms, linfNorms, perSample, project, projectL2, projectLinf, steepestDirection, unitL2 } from './core/norms.js';
export { crossEntropy, dlr, dlrTargeted, margin, marginLoss } from './core/losses.js';
export { Remaining, WorstCase } from './core/worst-case.js';

export { loadZooModel, zooModels, zooWeightsDir, type ZooEntry } from './evaluation/zoo-api.js';
