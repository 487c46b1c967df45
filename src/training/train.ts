/**
 * Training of the zoo models: Adam with a step schedule over seeded, augmented batches
 * (batches.ts), the HaH objective (hah-objective.ts), data-parallel steps on worker threads
 * (train-parallel.ts), checkpoints every few minutes and after every epoch (adam-checkpoint.ts;
 * resumable, and a finished run can be given more epochs), batch-norm statistics recomputed from
 * the training data, and a final evaluation on the test split.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { architecture, buildModel, initializeWeights, type Architecture, type Family, type Size, type Variant } from '../../models/architectures.js';
import type { BackendName } from '../runtime/backends.js';
import { recomputeMovingStatistics } from './batch-norm-training.js';
import { findCheckpoint, readCheckpointState } from './checkpoint.js';
import { RobenchError, UsageError } from '../core/errors.js';
import { lockOutDir, prepareOutDir, type OutDirLock } from '../runtime/out-dir.js';
import { saveLayersModelTo } from '../runtime/model-io.js';
import { createRegistry } from '../core/registry.js';
import type { DatasetPlugin, DatasetSplit, ImageShape } from '../core/plugin-api.js';
import { scalarRng } from '../core/rng.js';
import { formatDuration, interactiveStderr, statusLine } from '../report/status-line.js';
import { GradientPool, microBatches } from './train-parallel.js';
import { augmentationFor, augmentedBatch, describeAugment, drawsPerImage, permutation, plainBatches } from './batches.js';
import { microBatchGradient, trainableVariables } from './hah-objective.js';
import { evaluate } from './test-accuracy.js';
import { loadCheckpoint, saveCheckpoint } from './adam-checkpoint.js';
import { defaultThreads } from '../runtime/worker-pool.js';
import { runOutcome, writeManifest, type TrainingManifest } from './manifest.js';
import { budgetAt, describeAdversarial, heldOutRobustness, innerAttack, perturbBatch, type AdversarialSpec } from './adversarial.js';
import { loadLayersModelFrom } from '../runtime/model-io.js';
import { rm } from 'node:fs/promises';

export const TRAINABLE_MODELS: Record<string, { family: Family; size: Size; variant?: Variant }> = {
  baseline: { family: 'baseline', size: 'compact' },
  hebbian: { family: 'hebbian', size: 'compact' },
  'baseline-vgg16': { family: 'baseline', size: 'vgg16' },
  'hebbian-vgg16': { family: 'hebbian', size: 'vgg16' },
  'baseline-deep': { family: 'baseline', size: 'deep' },
  'hebbian-deep': { family: 'hebbian', size: 'deep' },
  'hebbian-deep-alpha0': { family: 'hebbian', size: 'deep', variant: 'alpha0' },
  'hebbian-deep-first': { family: 'hebbian', size: 'deep', variant: 'first' },
};

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

/** Where a run is after a training step. */
export interface StepReport {
  epoch: number;
  epochs: number;
  /** Steps done in this epoch, of `steps`. */
  step: number;
  steps: number;
  /** Training images per second since this run (or resume) started. */
  imagesPerSecond: number;
  epochSecondsLeft: number;
  secondsLeft: number;
  /** A checkpoint was written after this step. */
  checkpointed: boolean;
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
  /** Adversarial training: the model trained is `<model>-at`. */
  adversarial?: AdversarialSpec;
  /** Data already in memory (tests); default: the dataset plugin's files. */
  data?: { plugin: Pick<DatasetPlugin, 'id' | 'imageShape' | 'normalization' | 'classNames'>; train: DatasetSplit; test: DatasetSplit };
}

export interface TrainResult {
  testAccuracy: number;
  testSamples: number;
  dir: string;
  epochs: number;
  wallSeconds: number;
  weightsSha256: string;
  manifest: TrainManifest;
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

export interface AdversarialManifest extends AdversarialSpec {
  attack: string;
  params: Record<string, unknown>;
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

const STEP_HALF = [0.5, 0.75];
// The authors' MultiStepLR milestones, 3/5 and 4/5 of the epochs.
const STEP_AUTHORS = [0.6, 0.8];
const defaults = (size: Size, shape: ImageShape): Hyper =>
  size === 'deep'
    ? // Batch norm over each whole batch of 128, as in the authors' training, rather than ghost batches.
      { epochs: 30, batch: 128, lr: 1e-3, drops: STEP_AUTHORS, microBatch: 'batch' }
    : size === 'vgg16'
      ? { epochs: 100, batch: 64, lr: 1e-3, drops: STEP_HALF, microBatch: DEFAULT_MICRO_BATCH }
      : shape[2] === 3
        ? { epochs: 30, batch: 64, lr: 1e-3, drops: STEP_HALF, microBatch: DEFAULT_MICRO_BATCH }
        : { epochs: 10, batch: 64, lr: 1e-3, drops: STEP_HALF, microBatch: DEFAULT_MICRO_BATCH };

/** Learning rate of an epoch: drops tenfold after each fraction of the run in `drops` (default half and three quarters). */
export const learningRateAt = (base: number, epoch: number, epochs: number, drops = STEP_HALF): number =>
  base * 10 ** -drops.filter((f) => epoch >= f * epochs).length;
const describeSchedule = (drops: number[]): string =>
  `step: ${drops.map((f, i) => `x${10 ** -(i + 1)} at ${100 * f}%`).join(' and ')} of the epochs`;

/** Sums over the steps of an epoch so far, for its report. */
interface EpochSums {
  loss: number;
  crossEntropy: number;
  correct: number;
  hah: number[];
  seconds: number;
}

interface CheckpointState {
  /** Epochs done, and steps done of the next (absent in checkpoints written only after epochs). */
  epoch: number;
  step?: number;
  partial?: EpochSums;
  model: string;
  dataset: string;
  architecture: Architecture;
  seed: number;
  epochs: number;
  /** The epochs the learning-rate steps are placed in: `epochs` unless a finished run was given more (absent before that was possible). */
  scheduleEpochs?: number;
  batch: number;
  /** Absent in checkpoints from before micro-batches, which normalised whole batches. */
  microBatch?: number;
  lr: number;
  trainSamples: number;
  /** Shuffling and augmentation draw from streams keyed by (seed, epoch), so the epoch and step are the RNG position. */
  rng: string;
  elapsedSeconds: number;
  adversarial?: AdversarialSpec;
  /** Adversarial training: the held-out check after each epoch done. */
  heldOutCurve?: number[];
}

export const DEFAULT_MICRO_BATCH = 16;
/** Without --checkpoint-every, a checkpoint once this long has passed since the last. */
const CHECKPOINT_SECONDS = 300;
/** Where stderr is not a terminal (a log file), a progress line this often. */
const PROGRESS_LINE_SECONDS = 60;
/** Training images the saved batch-norm statistics are computed over, in batches of BN_STATISTICS_BATCH. */
const BN_STATISTICS_IMAGES = 4096;
const BN_STATISTICS_BATCH = 256;

/** Where a training step diverged, for the error that stops it. */
export interface DivergedAt {
  epoch: number;
  step: number;
  steps: number;
  /** The learning rate of the epoch, and the --lr it came from. */
  lr: number;
  baseLr: number;
  checkpoint: string;
  model: string;
}

/**
 * Stops training at the first step whose loss (per micro-batch: total loss and cross-entropy) or
 * gradient is not finite, with the step, the rate and the fix. Past that point every weight is NaN:
 * a run that went on would save, and `robench train` would ship, a model of NaN weights.
 */
export function stopIfDiverged(stats: Float32Array[], gradient: Float32Array, at: DivergedAt): void {
  const badLoss = stats.findIndex((st) => !Number.isFinite(st[0]!) || !Number.isFinite(st[1]!));
  let badGradient = -1;
  if (badLoss === -1) {
    for (let i = 0; i < gradient.length; i++) {
      if (!Number.isFinite(gradient[i]!)) {
        badGradient = i;
        break;
      }
    }
  }
  if (badLoss === -1 && badGradient === -1) return;
  const what = badLoss !== -1 ? `the loss is ${stats[badLoss]![0]} (cross-entropy ${stats[badLoss]![1]})` : `the gradient holds ${gradient[badGradient]} (entry ${badGradient})`;
  throw new RobenchError(
    `training ${at.model} diverged at epoch ${at.epoch}, step ${at.step}/${at.steps}: ${what} at learning rate ${at.lr}; stopped before the step was applied, so the last checkpoint in ${at.checkpoint} holds finite weights`,
    `lower the learning rate: train again with --lr ${at.baseLr / 10} instead of ${at.baseLr} (a checkpoint resumes only at the rate it was made with, so start afresh)`,
  );
}

/** Images [start, start + count) of a split, sharing its memory. */
function splitSlice(split: DatasetSplit, start: number, count: number): DatasetSplit {
  const per = split.shape[0] * split.shape[1] * split.shape[2];
  return { ...split, images: split.images.subarray(start * per, (start + count) * per), labels: split.labels.subarray(start, start + count), count };
}

/** Trains a zoo model on a dataset and writes model.json, weights.bin and manifest.json to the output directory. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const kind = TRAINABLE_MODELS[opts.model];
  if (kind === undefined) {
    throw new UsageError(`robench can only train the zoo models, not '${opts.model}'`, `use --model ${Object.keys(TRAINABLE_MODELS).join('|')}`);
  }
  for (const [flag, v] of [['--workers', opts.workers], ['--micro-batch', opts.microBatch], ['--checkpoint-every', opts.checkpointEvery]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new UsageError(`${flag} must be a whole number of at least 1, got ${v}`, `pass e.g. ${flag} ${flag === '--checkpoint-every' ? 500 : 2}, or leave it out for the default`);
  }
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const seed = opts.seed ?? 0;
  const adv = opts.adversarial;
  const modelId = adv ? `${opts.model}-at` : opts.model;
  const out = opts.out ?? join('robench-train', `${modelId}-${opts.dataset}`);
  const ckptDir = join(out, 'checkpoint');

  const data =
    opts.data ??
    (await (async () => {
      const plugin = (await createRegistry()).get('dataset', opts.dataset);
      const trainSplit = await plugin.load({ split: 'train', samples: opts.samples, dataDir: opts.dataDir });
      const testSplit = await plugin.load({ split: 'test', dataDir: opts.dataDir });
      return { plugin, train: trainSplit, test: testSplit };
    })());
  const { plugin } = data;
  const heldOut = adv?.heldOut ?? 0;
  const available = Math.min(opts.samples ?? data.train.count, data.train.count);
  if (heldOut >= available) throw new UsageError(`adversarial training holds out ${heldOut} training images for its per-epoch check, but only ${available} are given`, 'train on more images (--samples)');
  // The held-out images are the last of the training images taken, never trained on.
  const trainCount = available - heldOut;
  const heldOutSplit = adv ? splitSlice(data.train, trainCount, heldOut) : undefined;
  const testCount = Math.min(opts.testSamples ?? data.test.count, data.test.count);
  const hyper = defaults(kind.size, plugin.imageShape);
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
  const perBatch = Math.ceil(batch / microBatch);
  const threads = Math.min(opts.workers ?? defaultThreads(tf.getBackend()), perBatch);
  const steps = Math.ceil(trainCount / batch);

  const arch = architecture(kind.family, kind.size, plugin.imageShape, kind.variant);
  const aug = augmentationFor(plugin.imageShape);

  let startEpoch = 0;
  let startStep = 0;
  let carried: EpochSums | undefined;
  let scheduleEpochs = epochs;
  let elapsed = 0;
  const found = opts.resume ? findCheckpoint(ckptDir) : null;
  let state: CheckpointState | undefined;
  if (found !== null) {
    // The learning-rate schedule depends on lr (and on epochs, checked below).
    const settings = { seed, batch, trainSamples: trainCount, lr: baseLr, ...(adv ? { adversarial: adv } : {}) };
    state = await readCheckpointState<CheckpointState>(found, { model: modelId, dataset: opts.dataset, architecture: arch }, settings);
    const savedMicroBatch = state.microBatch ?? state.batch;
    if (savedMicroBatch !== microBatch) {
      throw new UsageError(
        `the checkpoint in ${found} was made with micro-batches of ${savedMicroBatch}, not ${microBatch} (each is normalised by its own batch-norm statistics)`,
        `resume with --micro-batch ${savedMicroBatch}, or drop --resume to start afresh`,
      );
    }
    const finished = state.epoch === state.epochs;
    if (finished && epochs < state.epochs) {
      throw new UsageError(`the run in ${found} has already trained ${state.epochs} epochs, more than --epochs ${epochs}`, `pass --epochs ${state.epochs + 1} or more to train it further`);
    }
    if (!finished && epochs !== state.epochs) {
      throw new UsageError(
        `the checkpoint in ${found} was made with a different epochs (${state.epochs} there, ${epochs} now); it stopped in epoch ${state.epoch + 1}, and only a finished run can be given more`,
        `resume with --epochs ${state.epochs}, then raise --epochs once it has finished`,
      );
    }
    startEpoch = state.epoch;
    startStep = state.step ?? 0;
    carried = state.partial;
    scheduleEpochs = state.scheduleEpochs ?? state.epochs;
    elapsed = state.elapsedSeconds;
    if (finished && epochs > state.epochs) {
      const last = learningRateAt(1, scheduleEpochs, scheduleEpochs, hyper.drops);
      log(
        `continuing the finished ${state.epochs}-epoch run of ${opts.model} on ${plugin.id} to ${epochs} epochs: the learning-rate steps stay ` +
          `where the ${scheduleEpochs}-epoch schedule put them, so the new epochs train at its final rate, ${last} x --lr (not as a ${epochs}-epoch run would)`,
      );
    } else if (finished) {
      log(`${opts.model} on ${plugin.id} has already trained ${epochs} epochs: saving it again (pass --epochs ${epochs + 1} or more to train it further)`);
    } else {
      log(`resuming ${opts.model} on ${plugin.id} after epoch ${startEpoch}/${epochs}${startStep > 0 ? ` and step ${startStep}/${steps} of the next` : ''}`);
    }
  } else if (opts.resume) {
    log(`no checkpoint in ${ckptDir}; starting from scratch`);
  } else if (findCheckpoint(ckptDir) !== null) {
    log(`starting afresh over the checkpoint in ${ckptDir} (pass --resume to continue it)`);
  }
  if (opts.workers !== undefined && opts.workers > perBatch) {
    log(`--workers ${opts.workers}: a batch of ${batch} is ${perBatch} micro-batch${perBatch > 1 ? 'es' : ''} of ${microBatch}, so ${threads} thread${threads > 1 ? 's' : ''} train (a smaller --micro-batch allows more)`);
  }

  const model = buildModel(arch, plugin.imageShape, plugin.classNames.length, plugin.normalization);
  initializeWeights(model, scalarRng(seed, `init/${opts.model}`));
  const optimizer = tf.train.adam(baseLr);
  const progress = opts.progress ?? true;
  const live = progress && interactiveStderr();
  const status = statusLine(live);
  const say = (line: string): void => {
    status.stop();
    log(line);
  };
  let pool: GradientPool | undefined;
  // Every setting is checked by now and nothing written yet. Two trainings writing one folder would
  // replace each other's checkpoints (or fail midway with ENOTEMPTY): it is locked for this one.
  let lock: OutDirLock;
  try {
    await prepareOutDir(out);
    lock = lockOutDir(out, { command: `train --model ${opts.model} --dataset ${opts.dataset} --out ${out}` });
  } catch (err) {
    optimizer.dispose();
    model.dispose();
    throw err;
  }
  try {
    if (found !== null) await loadCheckpoint(found, model, optimizer);
    const setLr = (lr: number): void => {
      // tfjs keeps Adam's learning rate in a plain field that each step reads.
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
    };
    const vars = trainableVariables(model);
    const statsSize = 3 + arch.hah.alphas.length;
    pool = await GradientPool.start(
      {
        backend: tf.getBackend() as BackendName,
        architecture: arch,
        numClasses: plugin.classNames.length,
        normalization: plugin.normalization,
        params: vars.reduce((n, v) => n + v.size, 0),
        statsSize,
        imageShape: plugin.imageShape,
        microBatch,
      },
      threads,
      batch,
      microBatchGradient(model, arch, plugin.imageShape),
    );
    if (startEpoch < epochs) log(`training on ${threads} thread${threads > 1 ? 's' : ''}, ${steps} steps an epoch, micro-batches of ${microBatch}`);
    const shareWeights = async (into: Float32Array): Promise<void> => {
      let offset = 0;
      for (const v of vars) {
        into.set((await v.data()) as Float32Array, offset);
        offset += v.size;
      }
    };
    const applyGradient = (gradient: Float32Array): void => {
      let offset = 0;
      const named = vars.map((v) => {
        const tensor = tf.tensor(gradient.slice(offset, offset + v.size), v.shape);
        offset += v.size;
        return { name: v.name, tensor };
      });
      optimizer.applyGradients(named);
      tf.dispose(named.map((g) => g.tensor));
    };
    const statsImages = Math.min(trainCount, BN_STATISTICS_IMAGES);
    const statsOrder = permutation(trainCount, scalarRng(seed, 'batch-norm-statistics')).subarray(0, statsImages);
    const recomputeStatistics = (): Promise<void> => recomputeMovingStatistics(model, plainBatches(data.train, statsOrder, BN_STATISTICS_BATCH));
    const heldOutCurve: number[] = [...(state?.heldOutCurve ?? [])];
    const bestDir = join(out, 'checkpoint-best');
    const innerPlugin = adv ? (await createRegistry()).get('attack', innerAttack(adv, adv.eps).id) : undefined;
    const sessionStart = Date.now();
    const elapsedNow = (): number => elapsed + (Date.now() - sessionStart) / 1000;
    const checkpoint = (epoch: number, step: number, partial?: EpochSums): Promise<void> =>
      saveCheckpoint(ckptDir, model, optimizer, {
        epoch,
        ...(step > 0 ? { step, partial } : {}),
        model: modelId,
        dataset: opts.dataset,
        architecture: arch,
        seed,
        epochs,
        scheduleEpochs,
        batch,
        microBatch,
        lr: baseLr,
        trainSamples: trainCount,
        rng: 'scalarRng(seed, shuffle/<epoch>) and scalarRng(seed, augment/<epoch>), the latter past the draws of the steps done',
        elapsedSeconds: elapsedNow(),
        ...(adv ? { adversarial: adv, heldOutCurve } : {}),
      });

    const sessionSteps = (epochs - startEpoch) * steps - startStep;
    let stepsDone = 0;
    let imagesDone = 0;
    let microBatchesDone = 0;
    let microBatchesHere = 0;
    let lastCheckpoint = Date.now();
    let lastLine = Date.now();
    for (let epoch = startEpoch; epoch < epochs; epoch++) {
      const first = epoch === startEpoch ? startStep : 0;
      const t0 = Date.now();
      const lr = learningRateAt(baseLr, epoch, scheduleEpochs, hyper.drops);
      setLr(lr);
      const order = permutation(trainCount, scalarRng(seed, `shuffle/${epoch}`));
      const augRand = scalarRng(seed, `augment/${epoch}`);
      // The stream's position is the RNG state a mid-epoch checkpoint resumes from: skip the draws of the steps done.
      for (let i = 0; i < first * batch * drawsPerImage(aug); i++) augRand();
      const sums: EpochSums = epoch === startEpoch && carried ? { ...carried, hah: [...carried.hah] } : { loss: 0, crossEntropy: 0, correct: 0, hah: arch.hah.alphas.map(() => 0), seconds: 0 };
      const epochSeconds = (): number => sums.seconds + (Date.now() - t0) / 1000;
      for (let s = first; s < steps; s++) {
        const idx = order.subarray(s * batch, Math.min((s + 1) * batch, trainCount));
        pool.views.images.set(augmentedBatch(data.train, idx, aug, augRand));
        idx.forEach((i, b) => (pool!.views.labels[b] = data.train.labels[i]));
        if (adv) {
          const at = { spec: adv, eps: budgetAt(adv, epoch, s, steps), seed, epoch, numClasses: plugin.classNames.length, dataset: plugin.id };
          await perturbBatch(innerPlugin!, model, arch, { ...pool.views, positions: idx, count: idx.length, shape: plugin.imageShape }, at);
        }
        const { gradient, stats, local } = await pool.step(idx.length, shareWeights);
        // Checked before the step is applied: a NaN or infinite loss or gradient would turn every
        // weight into NaN, and the next checkpoint would save them. The last checkpoint stays good.
        stopIfDiverged(stats, gradient, { epoch: epoch + 1, step: s + 1, steps, lr, baseLr, checkpoint: ckptDir, model: opts.model });
        applyGradient(gradient);
        microBatchesDone += stats.length;
        microBatchesHere += local;
        microBatches(idx.length, microBatch).forEach(({ size }, m) => {
          const st = stats[m]!;
          sums.loss += st[0]! * size;
          sums.crossEntropy += st[1]! * size;
          sums.correct += st[2]!;
          st.subarray(3).forEach((h, i) => (sums.hah[i] += h * size));
        });
        stepsDone++;
        imagesDone += idx.length;
        const mid = s + 1 < steps;
        const due = opts.checkpointEvery !== undefined ? (epoch * steps + s + 1) % opts.checkpointEvery === 0 : Date.now() - lastCheckpoint >= CHECKPOINT_SECONDS * 1000;
        if (mid && due) {
          await checkpoint(epoch, s + 1, { ...sums, seconds: epochSeconds() });
          lastCheckpoint = Date.now();
        }
        const perStep = (Date.now() - sessionStart) / 1000 / stepsDone;
        const report: StepReport = {
          epoch: epoch + 1,
          epochs,
          step: s + 1,
          steps,
          imagesPerSecond: imagesDone / ((Date.now() - sessionStart) / 1000),
          epochSecondsLeft: perStep * (steps - s - 1),
          secondsLeft: perStep * (sessionSteps - stepsDone),
          checkpointed: mid && due,
        };
        const text = `epoch ${report.epoch}/${epochs} · step ${report.step}/${steps} · ${report.imagesPerSecond.toFixed(0)} img/s · ${formatDuration(1000 * report.epochSecondsLeft)} left in the epoch, ${formatDuration(1000 * report.secondsLeft)} in all`;
        if (live) status.update(text);
        else if (progress && Date.now() - lastLine >= PROGRESS_LINE_SECONDS * 1000) {
          log(text);
          lastLine = Date.now();
        }
        await opts.onStep?.(report);
      }
      const seconds = epochSeconds();
      const report: EpochReport = {
        epoch: epoch + 1,
        epochs,
        loss: sums.loss / trainCount,
        crossEntropy: sums.crossEntropy / trainCount,
        hah: sums.hah.map((h) => h / trainCount),
        trainAccuracy: sums.correct / trainCount,
        learningRate: lr,
        seconds,
        secondsLeft: ((Date.now() - sessionStart) / 1000 / Math.max(stepsDone, 1)) * (sessionSteps - stepsDone),
      };
      if (adv) {
        await recomputeStatistics();
        heldOutCurve.push(await heldOutRobustness(model, heldOutSplit!, heldOut, adv.eps, seed));
        if (heldOutCurve.at(-1)! >= Math.max(...heldOutCurve)) await saveLayersModelTo(model, bestDir);
        say(`epoch ${epoch + 1}: PGD-10 accuracy at eps ${adv.eps} on ${heldOut} held-out training images ${(100 * heldOutCurve.at(-1)!).toFixed(2)}%`);
      }
      await checkpoint(epoch + 1, 0);
      lastCheckpoint = Date.now();
      say(
        `epoch ${epoch + 1}/${epochs}  loss ${report.loss.toFixed(4)}  ce ${report.crossEntropy.toFixed(4)}` +
          (report.hah.length > 0 ? `  hah ${report.hah.map((h) => h.toFixed(3)).join(',')}` : '') +
          `  train acc ${(100 * report.trainAccuracy).toFixed(2)}%  lr ${lr.toExponential(0)}  ${seconds.toFixed(0)}s/epoch  ~${formatDuration(1000 * report.secondsLeft)} left`,
      );
      opts.onEpoch?.(report);
    }
    status.stop();
    elapsed = elapsedNow();
    const workerShare = microBatchesDone > 0 ? (microBatchesDone - microBatchesHere) / microBatchesDone : 0;
    if (threads > 1 && microBatchesDone > 0) log(`the ${threads - 1} worker thread${threads > 2 ? 's' : ''} computed ${(100 * workerShare).toFixed(0)}% of the micro-batches`);

    const shippedEpoch = adv ? heldOutCurve.lastIndexOf(Math.max(...heldOutCurve)) + 1 : epochs;
    if (shippedEpoch < epochs) {
      log(`shipping epoch ${shippedEpoch}, whose held-out robust accuracy was the best (${(100 * heldOutCurve[shippedEpoch - 1]!).toFixed(2)}%)`);
      const best = await loadLayersModelFrom(join(bestDir, 'model.json'));
      model.setWeights(best.getWeights());
      best.dispose();
    }
    await recomputeStatistics();
    const testAccuracy = await evaluate(model, data.test, testCount);
    await rm(bestDir, { recursive: true, force: true });
    log(`test accuracy ${(100 * testAccuracy).toFixed(2)}% on ${testCount} ${plugin.id} test images`);
    const weightsSha256 = await saveLayersModelTo(model, out);
    const extended = scheduleEpochs < epochs ? `, over the first ${scheduleEpochs}; epochs ${scheduleEpochs + 1}-${epochs} (added to the finished run) at its final rate` : '';
    const manifest: TrainManifest = {
      model: modelId,
      dataset: plugin.id,
      architecture: arch,
      command: opts.command ?? `robench train --model ${opts.model} --dataset ${opts.dataset} --epochs ${epochs} --batch ${batch} --seed ${seed}${adv ? ` --adversarial ${adv.method} --train-eps ${adv.eps}` : ''}`,
      seed,
      epochs,
      batch,
      microBatch,
      workers: threads,
      learningRate: baseLr,
      schedule: describeSchedule(hyper.drops) + extended,
      batchNormStatistics: `moving mean and variance recomputed after training over ${statsImages} training images (no augmentation), in training-mode passes of ${BN_STATISTICS_BATCH}`,
      augmentation: describeAugment(aug),
      trainSamples: trainCount,
      hahLambda: arch.hah.alphas.length > 0 ? arch.hah.lambda : null,
      hahAlphas: arch.hah.alphas,
      ...(adv ? { adversarial: { ...adv, attack: innerAttack(adv, adv.eps).id, params: innerAttack(adv, adv.eps).params, description: describeAdversarial(adv), heldOutRobustAccuracy: heldOutCurve, shippedEpoch } } : {}),
      ...runOutcome({ wallSeconds: elapsed, testAccuracy, testSamples: testCount, weightsSha256 }),
    };
    await writeManifest(out, manifest);
    return { testAccuracy, testSamples: testCount, dir: out, epochs, wallSeconds: elapsed, weightsSha256, manifest, workerShare };
  } finally {
    status.stop();
    await pool?.close();
    optimizer.dispose();
    model.dispose();
    lock.release();
  }
}
