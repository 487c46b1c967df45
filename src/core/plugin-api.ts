/**
 * The robench plugin API. A plugin is a module whose default export is one of
 * `ModelPlugin`, `AttackPlugin`, `DatasetPlugin` or `ReporterPlugin`
 * (use `defineAttack` etc. for type inference). Built-ins live in the
 * top-level folders `models/`, `attacks/`, `datasets/`, `reports/`; third-party
 * plugins are named with `--plugin <file or package>` or in `robench.config.json`.
 *
 * Conventions every plugin can rely on:
 * - Images are float32 NHWC tensors with pixels in [0, 1]. A model maps from
 *   [0, 1] to whatever range it was trained on itself.
 * - Perturbation sizes are in [0, 1] pixel units (eps = 8/255 means 8 grey levels).
 * - Models return logits (never softmax) and are always in inference mode
 *   (batch norm uses its moving statistics).
 */
import type * as tf from '@tensorflow/tfjs';
import type { AccuracyIntervals } from './intervals.js';

export type PluginKind = 'model' | 'attack' | 'dataset' | 'reporter';

/** [height, width, channels] */
export type ImageShape = [number, number, number];

/**
 * Seeded randomness for one batch. Every sample of a batch has its own stream,
 * derived from the run seed and the sample's index in the dataset, so results do
 * not depend on batch size, shard or worker.
 */
export interface Rng {
  /** The run seed this stream derives from. */
  readonly seed: number;
  /** Uniform tensor in [min, max) of shape [batch, ...rest]; row i from sample i's stream. */
  uniform(shape: number[], min: number, max: number): tf.Tensor;
  /** Normal tensor with the given mean and standard deviation, one stream per sample row. */
  normal(shape: number[], mean?: number, std?: number): tf.Tensor;
  /** Plain uniform numbers in [0, 1) for sample `row` of the batch. */
  next(row: number): number;
  /** An independent generator for a named purpose (e.g. one per restart). */
  fork(label: string | number): Rng;
  /**
   * The streams named `label` (a root label, not forked from this one) of some rows of the
   * batch: an ensemble member on the samples left draws exactly what the engine gives it alone.
   */
  rows(rows: readonly number[], label: string): Rng;
}

/** Loss on logits and integer labels, reduced per sample to shape [batch]. */
export type PerSampleLoss = (logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Tensor1D;

/** Declares an option a plugin accepts; the CLI turns each into `--<name>`. */
export interface ParamSpec {
  type: 'number' | 'int' | 'string' | 'boolean';
  description: string;
  /** Omitted means "derived by the plugin" (e.g. PGD's step size from eps). */
  default?: number | string | boolean;
  choices?: readonly string[];
  /** Bounds on a 'number' or 'int' value, enforced before any compute: a value outside them is a usage error. */
  minimum?: number;
  maximum?: number;
  /** The value must be strictly greater (e.g. a step size > 0). */
  exclusiveMinimum?: number;
}
export type ParamSpecs = Record<string, ParamSpec>;
export type Params = Record<string, number | string | boolean | undefined>;

/** What an attack sees. Tensors are owned by the engine: do not dispose them. */
export interface AttackContext<P extends Params = Params> {
  /** The model as a differentiable function from [0,1] images to logits. Counts forward evaluations. */
  model: (x: tf.Tensor4D) => tf.Tensor2D;
  /**
   * Gradient of `loss(model(x), y)` summed over the batch with respect to x,
   * together with the per-sample loss and logits. Counts gradient evaluations;
   * prefer it over calling tf.grad on `model` yourself. `labels` (default `y`) are
   * the labels of `x` when it holds only some of the batch's samples.
   */
  inputGradient(x: tf.Tensor4D, loss?: PerSampleLoss, labels?: tf.Tensor1D): { grad: tf.Tensor4D; loss: tf.Tensor1D; logits: tf.Tensor2D };
  /** Clean images in [0, 1]. */
  x: tf.Tensor4D;
  /** True labels (int32). */
  y: tf.Tensor1D;
  /**
   * The perturbation size of this point on the curve. A minimization attack runs once for
   * the whole grid and gets its largest budget, a scale it may use (FAB's restart radius).
   */
  eps: number;
  params: P;
  rng: Rng;
  /** Class count of the model. */
  numClasses: number;
  /** Id of the dataset the samples come from (e.g. to load a surrogate model for it). */
  dataset: string;
  /**
   * Whether an iterative attack may stop working on a sample once an iterate fools it
   * (keeping that example): off for `--no-sweep`, which measures the naive cost.
   */
  earlyStop: boolean;
  /** Draws of the model's randomness each input gradient averages (Expectation over Transformation); 1 for a deterministic model. */
  eot: number;
  /**
   * The same model and counters on other inputs and params (EOT as their `eot` says): how a composite attack
   * (autoattack) runs a member attack on the samples no earlier member broke.
   */
  derive(opts: { x: tf.Tensor4D; y: tf.Tensor1D; params: Params; rng: Rng; eps?: number }): AttackContext;
}

export type Norm = 'linf' | 'l2';

/**
 * The names of P's params: `keyof P & string`, spelled through a mapped type on purpose. With
 * `keyof P` itself TypeScript takes AttackPlugin to be contravariant in P (keyof reverses), which
 * is false for `Params`' index signature (every name is a key of it), and then refuses a typed
 * plugin, `AttackPlugin<{ steps: number }>`, where an `AttackPlugin` is taken (benchmark(), the
 * registry); through the mapped type it compares the two plugins member by member, and they fit.
 */
type ParamName<P> = keyof { [K in keyof P as K & string]: unknown } & string;

/** A param, and optionally its value, as the user gave it (AttackPlugin.check): `--no-random-start`, `benchmark() params option "loss" 'kl'`. */
export type ParamNamer<P extends Params = Params> = (param: ParamName<P>, value?: number | string | boolean) => string;

export interface AttackPlugin<P extends Params = Params> {
  kind: 'attack';
  id: string;
  description: string;
  params: ParamSpecs;
  /** The norm ball the engine enforces, or null when the perturbation size is not a norm bound (noise, corruptions). */
  budget(params: P): Norm | null;
  /** What the perturbation axis means, for reports: 'eps', 'sigma', 'severity'. */
  perturbationLabel?(params: P): string;
  /** The default grid, given the model's dataset id and the params. Must include 0. */
  defaultGrid(dataset: string, params: P): number[];
  /** True when the attack never asks for gradients (black box). */
  gradientFree?: boolean;
  /**
   * Composite attacks (autoattack): the names of the batches `run` returns, one per member
   * in cascade order. The engine then records, per sample, which member broke it
   * (SampleOutcomes.brokenBy) and, where the attack offers them, each member run alone.
   */
  members?(params: P): string[];
  /**
   * Attacks without a budget that return several batches (one per corruption): the name of each,
   * in order, so that the report can say which one each gallery picture shows.
   */
  versions?(params: P): string[];
  /** With `members`: each member as an attack of its own, for `--individual` (AutoAttack's run_standard_evaluation_individual). */
  individually?(params: P): Promise<{ name: string; attack: AttackPlugin; params: Params }[]>;
  /**
   * Refuses params that are valid one by one but not together (PGD's `start-sigma` without its
   * random start): throw a `UsageError` saying what is wrong and the fix. robench calls it wherever
   * it resolves the params (`robench run`, `attack`, `train --adversarial-attack`, `benchmark()`,
   * `attack()`, an ensemble's members, `--dry-run`), before anything loads. `named(param, value?)`
   * spells a param as the user gave it: `--start-sigma 0.001` and `--no-random-start` on the command
   * line, `benchmark() params option "start-sigma" 0.001` in code.
   */
  check?(params: P, named: ParamNamer<P>): void;
  /** Called once registered, with the registry's lookup: how a composite attack finds its members, third-party ones included. */
  registered?(find: (id: string) => AttackPlugin): void;
  /**
   * Foolbox's two kinds. 'fixed-epsilon' (the default): `run` is called at every budget and
   * returns a batch inside it. 'minimization' (FAB, FMN, DeepFool, C&W): `run` is called once
   * per batch and returns, per sample, the smallest adversarial example it found (or the clean
   * image where it found none); the engine measures each perturbation in `budget`'s norm and
   * scores every budget of the grid from that one run, so `--no-sweep` changes nothing.
   */
  strategy?: 'fixed-epsilon' | 'minimization';
  /**
   * Returns the perturbed batch, same shape as ctx.x, in [0, 1], inside the budget.
   * An array means several versions of the batch, each checked. With a norm budget
   * a sample counts as robust only if it survives every version (the worst case);
   * without one (noise draws, corruptions) accuracy is averaged over the versions.
   * Read tensor values with `await t.data()`, never `dataSync()`: the WebGPU backend
   * cannot read synchronously. It may be `async` or return the batch at once: the engine awaits it.
   */
  run(ctx: AttackContext<P>): tf.Tensor4D | tf.Tensor4D[] | Promise<tf.Tensor4D | tf.Tensor4D[]>;
}

/** A model ready to evaluate. */
export interface LoadedModel {
  id: string;
  /** Dataset id whose images the model classifies. */
  dataset: string;
  inputShape: ImageShape;
  numClasses: number;
  /** sha256 of the weights file(s), hex. */
  weightsSha256: string;
  /** Logits of a batch of [0, 1] images, inference mode; differentiable. */
  logits(x: tf.Tensor4D): tf.Tensor2D;
  /**
   * The logits are random (a randomised defence): gradient attacks need `--eot N` to average
   * over the randomness, and their numbers are reproducible only as far as its source is seeded.
   */
  stochastic?: boolean;
  /**
   * The forward pass is an iterative solver (the fixed point of neural dynamics, an inner
   * optimisation). Attacks follow the gradient named here, which a solver can make misleading,
   * so the audit also attacks it without gradients and by transfer from a conventional model.
   */
  iterative?: { solver: string; gradient: string };
  /**
   * BPDA (Athalye et al. 2018): a differentiable stand-in for a model with parts that have no
   * useful gradient (sign, quantisation, a non-differentiable solver). Gradient attacks take
   * input gradients through `logits` here, while every logit they see and every verdict is the
   * model's own. `description` is recorded with the results.
   */
  gradientSurrogate?: { description: string; logits(x: tf.Tensor4D): tf.Tensor2D };
  /**
   * Post-activation outputs of each conv block, for sparsity analysis. A block that thresholds
   * its output (a HaH block keeps about the top 20% of each channel) also gives `preThreshold`,
   * its ReLU output before the threshold, whose sparsity the threshold does not force. The
   * caller disposes every tensor returned.
   */
  activations?(x: tf.Tensor4D): { name: string; values: tf.Tensor4D; preThreshold?: tf.Tensor4D }[];
  /** Extra facts to record (architecture, training manifest). */
  info?: Record<string, unknown>;
  dispose(): void;
}

/**
 * A zoo CNN (src/training/train.ts, src/nets/architectures.ts): standard or HaH blocks, the layout
 * of its size and, for an ablation of the deep HaH model, its variant.
 */
export interface ZooTraining {
  trainer: 'zoo';
  family: 'baseline' | 'hebbian';
  size: 'compact' | 'vgg16' | 'deep';
  /** 'alpha0': every HaH alpha 0 (does the HaH cost do anything?); 'first': HaH blocks at the first resolution only. */
  variant?: 'alpha0' | 'first';
}

/** An EKDAA network (src/training/ekdaa-train.ts): its learning rule, activation and rate. */
export interface EkdaaTraining {
  trainer: 'ekdaa';
  /**
   * EKDAA's error kernels, backprop through the same network (the twin that isolates the rule), or
   * the release's backprop baseline as its BP_model.py computes it (src/training/ekdaa-release-bp.ts).
   */
  rule: 'ekdaa' | 'backprop' | 'release-bp';
  activation: 'tanh' | 'sign';
  /** The default learning rate (`--lr` overrides it). */
  lr: number;
  /** The release's forward: conv pre-activations carried forward, the activation first applied at fc1. */
  releaseForward: boolean;
  /**
   * A control: the EKDAA model whose convs this one keeps at their seeded random initialisation
   * (a run with the same seed draws the same convs as that model's), only the fc head trained.
   */
  frozenConvsOf?: string;
}

/** Structured similarity matching (src/training/similarity-matching-train.ts) of this many neurons per site. */
export interface SimilarityMatchingTraining {
  trainer: 'similarity-matching';
  neuronsPerSite: number;
}

/**
 * The adversarially trained twin of the zoo CNN `of`: `robench train --model <of> --adversarial
 * <method>` trains it (the method its shipped weights were trained with).
 */
export interface AdversarialTwin {
  trainer: 'adversarial';
  of: string;
  method: 'pgd' | 'fast' | 'trades';
}

/** How `robench train` trains a model: the trainer, and the settings that make the model this one. */
export type ModelTraining = ZooTraining | EkdaaTraining | SimilarityMatchingTraining | AdversarialTwin;

export interface ModelPlugin {
  kind: 'model';
  id: string;
  description: string;
  /** Datasets this model has weights for; the first is the default. */
  datasets: string[];
  load(opts: { dataset?: string }): Promise<LoadedModel>;
  /** How `robench train --model <id>` trains it; absent: robench cannot train it. */
  training?: ModelTraining;
}

export type Split = 'train' | 'test';

export interface DatasetSource {
  /** 'bundled' for the evaluation subset shipped in the package, 'file' for original files. */
  kind: 'bundled' | 'file';
  path: string;
  sha256: string;
}

/** A split in memory: NHWC float32 pixels in [0, 1] and int32 labels 0..numClasses-1. */
export interface DatasetSplit {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  shape: ImageShape;
  source: DatasetSource;
}

export interface DatasetLoadOptions {
  split: Split;
  /** How many samples (from the start); more than available is an error. */
  samples?: number;
  /** Where the original files are (ROBENCH_DATA, --data-dir, or the cache dir). */
  dataDir?: string;
  /** Never touch the network. */
  offline?: boolean;
}

export interface DatasetPlugin {
  kind: 'dataset';
  id: string;
  description: string;
  imageShape: ImageShape;
  classNames: string[];
  /** Per-channel mean and std of the training set, in [0, 1] units; models normalise inside. */
  normalization: { mean: number[]; std: number[] };
  load(opts: DatasetLoadOptions): Promise<DatasetSplit>;
}

/** One point of an accuracy-versus-perturbation curve. */
export interface CurvePoint {
  perturbation: number;
  accuracy: number;
  correct: number;
  total: number;
  /** Attacks without a budget that return several batches (each corruption of `common`): correct predictions in each, in order. */
  correctByVersion?: number[];
}

/**
 * What happened to each evaluated sample, as parallel arrays in evaluation order
 * (compact: 10,000 samples take a few hundred kilobytes). Every point of the curve
 * can be recomputed from it exactly.
 */
export interface SampleOutcomes {
  /** Dataset index of each sample. */
  index: number[];
  /** 1 where the clean prediction was right, else 0. */
  clean: number[];
  /** Norm-ball attacks: position in `points` of the smallest budget at which the sample was misclassified, -1 if none. */
  brokeAt?: number[];
  /** Norm-ball attacks with `--no-sweep`, whose budgets are independent: per point, the dataset indices of the samples robust there. */
  survivors?: number[][];
  /** Noise and corruptions: per point, the draws made of each image (1 at perturbation 0). */
  draws?: number[];
  /** Noise and corruptions: per point, how many of its draws each sample survived (parallel to `index`). */
  survivedDraws?: number[][];
  /** Minimization attacks: each sample's smallest adversarial perturbation found, in the budget's norm (0 when misclassified clean, -1 where none was found). */
  minimalNorm?: number[];
  /** Composite attacks: the members in cascade order (AttackPlugin.members). */
  members?: string[];
  /** With `members`: per sample, the position in `members` of the first member whose example fooled the model at the sample's `brokeAt` budget, -1 where none did (misclassified clean included). */
  brokenBy?: number[];
  /** With `--individual`: each member run alone on the same samples, its own `brokeAt` per sample. */
  individual?: { member: string; brokeAt: number[] }[];
}

/** Sparsity of one set of activations, over the channels at each position. */
export interface SparsityMeasures {
  zeroFraction: number;
  /** Mean over positions of the Hoyer sparsity of the channel vector, (sqrt(n) - l1/l2) / (sqrt(n) - 1). */
  hoyer: number;
  /** Mean over positions of the mean of the top K = ceil(0.1 C) channels; topKMean / restMean is the top-K disparity. */
  topKMean: number;
  /** Mean over positions of the mean of the other C - K channels. */
  restMean: number;
}

export interface SparsityLayer extends SparsityMeasures {
  name: string;
  histogram: { edges: number[]; counts: number[] };
  /** The same measures of the block's ReLU output before its threshold, for blocks that threshold. */
  preThreshold?: SparsityMeasures;
}

/** The content of results.json. */
export interface RunResult {
  robench: string;
  model: {
    id: string;
    dataset: string;
    weightsSha256: string;
    info?: Record<string, unknown>;
    /** The gradient attacks followed when it is not the model's own: its BPDA stand-in, or its solver's. */
    gradient?: string;
  };
  dataset: { id: string; split: Split; samples: number; source: DatasetSource };
  attack: { id: string; params: Params; budget: Norm | null; perturbation: string };
  backend: string;
  /** What the backend ran on: the WebGPU adapter (vendor, architecture, software or hardware), the native library, or wasm's SIMD and threads. */
  backendDetail?: string;
  seed: number;
  /** Whether norm-ball budgets were swept (only survivors of smaller budgets attacked). */
  sweep: boolean;
  /**
   * Present when this run evaluated one slice of the samples (`--shard i/n`): the slice, its sample
   * positions [start, end), and the samples of the whole run it slices (absent in results written
   * before robench recorded it); `robench report` merges slices.
   */
  shard?: { index: number; count: number; start: number; end: number; samples?: number };
  cleanAccuracy: number;
  points: CurvePoint[];
  /** 95% intervals of the clean accuracy and of each point (src/core/intervals.ts); absent in results written before robench recorded them. */
  intervals?: AccuracyIntervals;
  /** Per-sample outcomes; absent in results written before robench recorded them. */
  outcomes?: SampleOutcomes;
  gradientEvaluations: number;
  forwardEvaluations: number;
  sparsity?: SparsityLayer[];
  durationMs: number;
  startedAt: string;
  command: string[];
  /**
   * false in every result a run writes before it has finished (see src/evaluation/run-state.ts): report and
   * check refuse such results, `robench run --resume` continues them. Absent once complete.
   */
  complete?: false;
  /** Of an interrupted pair: the samples still to evaluate (this result holds the others). */
  pending?: { samples: number };
}

export interface ReporterContext {
  outDir: string;
  /** Prints a line for the user (stdout). */
  log(line: string): void;
}

export interface ReporterPlugin {
  kind: 'reporter';
  id: string;
  description: string;
  /** Writes (or prints) a report of one or more runs; returns the files written. */
  write(results: RunResult[], ctx: ReporterContext): Promise<string[]>;
}

export type Plugin = ModelPlugin | AttackPlugin<any> | DatasetPlugin | ReporterPlugin;

/**
 * The value a param's declaration gives: a number, a boolean, one of its choices, or a string.
 * Distributed over the declared type, so that a declaration typed only as `ParamSpec` (an attack's
 * `params` spread from a plain `AttackPlugin`) gives any of them, not a string.
 */
export type ParamValue<S extends ParamSpec> = ValueOfType<S['type'], S>;
type ValueOfType<T extends ParamSpec['type'], S extends ParamSpec> = T extends 'number' | 'int'
  ? number
  : T extends 'boolean'
    ? boolean
    : S extends { choices: readonly (infer C extends string)[] }
      ? C
      : string;

/** The params an attack's declarations give it: one with a default is always set, one without may be undefined (the attack derives it). */
export type ParamsOf<S extends ParamSpecs> = {
  -readonly [K in keyof S]: S[K] extends { default: number | string | boolean } ? ParamValue<S[K]> : ParamValue<S[K]> | undefined;
};

type SpecFor<T> = [NonNullable<T>] extends [number] ? ParamSpec & { type: 'number' | 'int' } : [NonNullable<T>] extends [boolean] ? ParamSpec & { type: 'boolean' } : ParamSpec & { type: 'string' };

/** The declarations a params type needs: every key declared, none more, each of a type that gives its value. */
export type ParamSpecsFor<P> = { [K in keyof P]-?: SpecFor<P[K]> };

/**
 * An attack plugin, its params' TypeScript type inferred from their declarations
 * (`defineAttack({ params: { steps: { type: 'int', ... } }, run(ctx) { ctx.params.steps } })`), or
 * given (`defineAttack<{ steps: number }>(...)`) and then checked against them: a declared
 * `stepz`, a missing `steps` or a `steps` of type 'string' is a compile error. Inferred from
 * `params` alone (NoInfer), so that an attack spread from another, `{ ...pgd, id, check }`, whose
 * methods are typed by the other's params, is typed by the declarations it spreads.
 */
export function defineAttack<const S extends ParamSpecs>(p: Omit<AttackPlugin<ParamsOf<NoInfer<S>>>, 'kind' | 'params'> & { params: S }): AttackPlugin<ParamsOf<S>>;
export function defineAttack<P extends Params>(p: Omit<AttackPlugin<P>, 'kind' | 'params'> & { params: ParamSpecsFor<P> }): AttackPlugin<P>;
export function defineAttack(p: Omit<AttackPlugin, 'kind'>): AttackPlugin {
  return { kind: 'attack', ...p };
}
export const defineModel = (p: Omit<ModelPlugin, 'kind'>): ModelPlugin => ({ kind: 'model', ...p });
export const defineDataset = (p: Omit<DatasetPlugin, 'kind'>): DatasetPlugin => ({ kind: 'dataset', ...p });
export const defineReporter = (p: Omit<ReporterPlugin, 'kind'>): ReporterPlugin => ({ kind: 'reporter', ...p });
