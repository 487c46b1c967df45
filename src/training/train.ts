/**
 * Training of the zoo models (the CNNs, the HaH models and their adversarially trained `-at`
 * twins): the options, their defaults and checks. The training itself is the zoo trainer
 * (zoo-trainer.ts) on the one training loop every trainer shares (loop.ts).
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { architecture, type Architecture, type Size } from '../nets/architectures.js';
import { UsageError } from '../core/errors.js';
import { createRegistry, type Registry } from '../core/registry.js';
import type { DatasetPlugin, DatasetSplit, ImageShape, ZooTraining } from '../core/plugin-api.js';
import { defaultThreads } from '../runtime/worker-pool.js';
import { adversarialSettings, attackFlag, type AdversarialAttacks, type AdversarialOptions, type AdversarialSpec } from './adversarial.js';
import { augmentationFor } from './batches.js';
import { runTraining, type RunResult } from './loop.js';
import type { StepReport } from './loop-progress.js';
import type { TrainingManifest } from './manifest.js';
import { STEP_AUTHORS, STEP_HALF } from './schedule.js';
import { adversarialId, builtinTrainable, trainedBy, trainingOf, type Trainable } from './trainable.js';
import { loadTrainingData } from './training-data.js';
import { ZooTrainer, type ZooRun } from './zoo-trainer.js';

export { learningRateAt } from './schedule.js';
export { stopIfDiverged, type DivergedAt } from './diverged.js';
export type { StepReport } from './loop-progress.js';

export interface EpochReport {
  epoch: number;
  epochs: number;
  loss: number;
  crossEntropy: number;
  /** Mean HaH cost of each HaH layer over the epoch. */
  hah: number[];
  trainAccuracy: number;
  learningRate: number;
  seconds: number;
  secondsLeft: number;
}

export interface TrainOptions {
  model: string;
  dataset: string;
  epochs?: number;
  batch?: number;
  seed?: number;
  /** Output directory: model.json, weights.bin, manifest.json, and checkpoint/ while training. */
  out?: string;
  resume?: boolean;
  dataDir?: string;
  lr?: number;
  /** Train on the first `samples` training images only. */
  samples?: number;
  /** Evaluate on the first `testSamples` test images only (default: the whole test split). */
  testSamples?: number;
  onEpoch?: (report: EpochReport) => void;
  onStep?: (report: StepReport) => void | Promise<void>;
  /** Threads computing each batch (default: one per core on wasm and cpu, else 1); the weights do not depend on it. */
  workers?: number;
  /** Images per micro-batch: each is normalised by its own batch-norm statistics and is one thread's share (default 16, at most the batch; the deep models default to the whole batch). */
  microBatch?: number;
  /** A checkpoint every this many steps as well as after every epoch (default: once 5 minutes have passed since the last). */
  checkpointEvery?: number;
  /** Progress within the epoch on stderr: a status line on a terminal, else a line a minute (default true). */
  progress?: boolean;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
  /** The command line to record in the manifest. */
  command?: string;
  /**
   * Adversarial training: the model trained is the model's adversarial twin (trainable.ts). The
   * settings left out take robench train's defaults, and are checked as its flags are
   * (adversarialSettings).
   */
  adversarial?: AdversarialOptions;
  /** The models `model` is looked up in (default: the built-in plugins'); the CLI's hold --plugin models too. */
  trainable?: Trainable;
  /** Where the adversarial inner attack is looked up (default: the built-in plugins); the CLI's holds --plugin and config attacks too. */
  registry?: Registry;
  /** Data already in memory (tests); default: the dataset plugin's files. */
  data?: { plugin: Pick<DatasetPlugin, 'id' | 'imageShape' | 'normalization' | 'classNames'>; train: DatasetSplit; test: DatasetSplit };
}

export interface TrainResult extends RunResult<TrainManifest> {
  /** Share of this session's micro-batches the worker threads computed (0 with one thread). */
  workerShare: number;
}

export interface TrainManifest extends TrainingManifest {
  architecture: Architecture;
  epochs: number;
  microBatch: number;
  /** Threads of the last session; the weights do not depend on it. */
  workers: number;
  learningRate: number;
  batchNormStatistics: string;
  augmentation: string;
  hahLambda: number | null;
  hahAlphas: number[];
  adversarial?: AdversarialManifest;
}

export interface AdversarialManifest extends Omit<AdversarialSpec, 'attack'> {
  /** The inner attack's id and params, and a plugin attack's file or package. */
  attack: string;
  params: Record<string, unknown>;
  source?: string;
  description: string;
  /** PGD-10 accuracy at eps on the held-out training images after each epoch. */
  heldOutRobustAccuracy: number[];
  /** The epoch whose weights ship (1-based): the best of heldOutRobustAccuracy. */
  shippedEpoch: number;
}

interface Hyper {
  epochs: number;
  batch: number;
  lr: number;
  /** Fractions of the run after each of which the learning rate drops tenfold. */
  drops: number[];
  /** Images per micro-batch, or the whole batch. */
  microBatch: number | 'batch';
}

const defaults = (size: Size, shape: ImageShape): Hyper =>
  size === 'deep'
    ? // Batch norm over each whole batch of 128, as in the authors' training, rather than ghost batches.
      { epochs: 30, batch: 128, lr: 1e-3, drops: STEP_AUTHORS, microBatch: 'batch' }
    : size === 'vgg16'
      ? { epochs: 100, batch: 64, lr: 1e-3, drops: STEP_HALF, microBatch: DEFAULT_MICRO_BATCH }
      : shape[2] === 3
        ? { epochs: 30, batch: 64, lr: 1e-3, drops: STEP_HALF, microBatch: DEFAULT_MICRO_BATCH }
        : { epochs: 10, batch: 64, lr: 1e-3, drops: STEP_HALF, microBatch: DEFAULT_MICRO_BATCH };


export const DEFAULT_MICRO_BATCH = 16;

/** The model and the parallel and checkpoint flags, checked before any data loads. */
function checkOptions(opts: TrainOptions, trainable: Trainable): ZooTraining {
  const kind = trainingOf(trainable, opts.model, 'zoo');
  if (kind === undefined) {
    throw new UsageError(`robench can only train the zoo models, not '${opts.model}'`, `use --model ${trainedBy(trainable, 'zoo').map(([id]) => id).join('|')}`);
  }
  for (const [flag, v] of [['--workers', opts.workers], ['--micro-batch', opts.microBatch], ['--checkpoint-every', opts.checkpointEvery]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new UsageError(`${flag} must be a whole number of at least 1, got ${v}`, `pass e.g. ${flag} ${flag === '--checkpoint-every' ? 500 : 2}, or leave it out for the default`);
  }
  return kind;
}

/** Epochs, batch, rate and micro-batch: the options or the model's defaults, checked. */
function sizes(opts: TrainOptions, hyper: Hyper): { epochs: number; batch: number; baseLr: number; microBatch: number } {
  const epochs = opts.epochs ?? hyper.epochs;
  const batch = opts.batch ?? hyper.batch;
  const baseLr = opts.lr ?? hyper.lr;
  for (const [name, v] of [['epochs', epochs], ['batch', batch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${name} must be a positive integer, got ${v}`, `pass e.g. --${name} 10`);
  }
  if (!(baseLr > 0)) throw new UsageError(`the learning rate must be positive, got ${baseLr}`, 'pass e.g. --lr 0.001');
  const microBatch = opts.microBatch ?? (hyper.microBatch === 'batch' ? batch : Math.min(hyper.microBatch, batch));
  if (microBatch > batch) {
    throw new UsageError(`--micro-batch ${microBatch} is larger than the batch (${batch})`, `pass --micro-batch ${batch} or less: each batch is cut into micro-batches of that many images`);
  }
  return { epochs, batch, baseLr, microBatch };
}

/** The run's settings from its options and data. */
function zooRun(opts: TrainOptions, kind: ZooTraining, adversarial: { spec: AdversarialSpec; attacks: AdversarialAttacks } | undefined, modelId: string, data: { plugin: Pick<DatasetPlugin, 'imageShape'>; train: DatasetSplit; test: DatasetSplit }, out: string, log: (line: string) => void): ZooRun {
  const seed = opts.seed ?? 0;
  const adv = adversarial?.spec;
  const heldOut = adv?.heldOut ?? 0;
  const available = Math.min(opts.samples ?? data.train.count, data.train.count);
  if (heldOut >= available) throw new UsageError(`adversarial training holds out ${heldOut} training images for its per-epoch check, but only ${available} are given`, 'train on more images (--samples)');
  // The held-out images are the last of the training images taken, never trained on.
  const trainCount = available - heldOut;
  const shape = data.plugin.imageShape;
  const hyper = defaults(kind.size, shape);
  const { epochs, batch, baseLr, microBatch } = sizes(opts, hyper);
  const perBatch = Math.ceil(batch / microBatch);
  const threads = Math.min(opts.workers ?? defaultThreads(tf.getBackend()), perBatch);
  if (opts.workers !== undefined && opts.workers > perBatch) {
    log(`--workers ${opts.workers}: a batch of ${batch} is ${perBatch} micro-batch${perBatch > 1 ? 'es' : ''} of ${microBatch}, so ${threads} thread${threads > 1 ? 's' : ''} train (a smaller --micro-batch allows more)`);
  }
  const advFlags = adv ? ` --adversarial ${adv.method} --train-eps ${adv.eps}${adv.method === 'trades' ? ` --trades-beta ${adv.beta}` : ''}${adv.attack ? ` --adversarial-attack ${attackFlag(adv.attack)}` : ''}` : '';
  const command = opts.command ?? `robench train --model ${opts.model} --dataset ${opts.dataset} --epochs ${epochs} --batch ${batch} --seed ${seed}${advFlags}`;
  return {
    model: opts.model,
    modelId,
    dataset: opts.dataset,
    seed,
    ...(adversarial ? { adv: adversarial.spec, attacks: adversarial.attacks } : {}),
    heldOut,
    trainCount,
    testCount: Math.min(opts.testSamples ?? data.test.count, data.test.count),
    epochs,
    batch,
    baseLr,
    drops: hyper.drops,
    microBatch,
    threads,
    steps: Math.ceil(trainCount / batch),
    arch: architecture(kind.family, kind.size, shape, kind.variant),
    aug: augmentationFor(shape),
    ckptDir: join(out, 'checkpoint'),
    command,
  };
}

/** Trains a zoo model on a dataset and writes model.json, weights.bin and manifest.json to the output directory. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const trainable = opts.trainable ?? (await builtinTrainable());
  const kind = checkOptions(opts, trainable);
  const modelId = opts.adversarial ? adversarialId(trainable, opts.model) : opts.model;
  // Its defaults and checks are robench train's: checked before any data loads.
  const adversarial = opts.adversarial && adversarialSettings(opts.adversarial, opts.dataset, opts.registry ?? (await createRegistry({ ignoreConfig: true })));
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const data = opts.data ?? (await loadTrainingData(opts));
  const out = opts.out ?? join('robench-train', `${modelId}-${opts.dataset}`);
  const trainer = new ZooTrainer(zooRun(opts, kind, adversarial, modelId, data, out, log), data, opts, log, out);
  const { model, dataset, resume, progress, checkpointEvery, onStep } = opts;
  const result = await runTraining(trainer, { model, dataset, out, resume, log, progress, checkpointEvery, onStep });
  return { ...result, workerShare: trainer.workerShare };
}
