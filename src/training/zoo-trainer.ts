/**
 * The zoo CNNs' (and the HaH models') trainer on the one loop (loop.ts): Adam with a step schedule
 * over seeded, augmented batches, each batch's gradient from micro-batches on worker threads
 * (train-parallel.ts), optionally on adversarial examples (adversarial.ts), checkpoints that
 * resume mid-epoch bit for bit (adam-checkpoint.ts), and batch-norm statistics recomputed from the
 * training data before the model is scored and shipped.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildModel, initializeWeights, type Architecture } from '../nets/architectures.js';
import type { DatasetPlugin, DatasetSplit } from '../core/plugin-api.js';
import { UsageError } from '../core/errors.js';
import { scalarRng } from '../core/rng.js';
import { loadLayersModelFrom, saveLayersModelTo } from '../runtime/model-io.js';
import { loadCheckpoint, saveCheckpoint } from './adam-checkpoint.js';
import { budgetAt, describeAdversarial, heldOutRobustness, innerAttack, perturbBatch, tradesBeta, withoutUnusedSteps, type AdversarialAttacks, type AdversarialSpec } from './adversarial.js';
import { recomputeMovingStatistics } from '../layers/batch-norm-training.js';
import { augmentedBatch, describeAugment, drawsPerImage, permutation, plainBatches, type Augment } from './batches.js';
import { stopIfDiverged } from './diverged.js';
import { START, type Finished, type Position, type Trainer } from './loop.js';
import { runOutcome } from './manifest.js';
import { describeSchedule, learningRateAt } from './schedule.js';
import { evaluate } from './test-accuracy.js';
import { microBatches } from './train-parallel.js';
import { setLearningRate, startStepper, type ZooStepper } from './zoo-steps.js';
import type { AdversarialManifest, EpochReport, TrainManifest, TrainOptions } from './train.js';
import type { TrainingData } from './training-data.js';

/** A zoo run's settings, its options resolved and checked. */
export interface ZooRun {
  /** The --model trained, and the id it ships as (its adversarial twin's when adversarial). */
  model: string;
  modelId: string;
  dataset: string;
  seed: number;
  adv?: AdversarialSpec;
  /** With `adv`: its attacks, looked up in the run's registry. */
  attacks?: AdversarialAttacks;
  heldOut: number;
  trainCount: number;
  testCount: number;
  epochs: number;
  batch: number;
  baseLr: number;
  drops: number[];
  microBatch: number;
  threads: number;
  steps: number;
  arch: Architecture;
  aug: Augment;
  ckptDir: string;
  command: string;
}

/** Sums over the steps of an epoch so far, for its report. */
export interface EpochSums {
  loss: number;
  crossEntropy: number;
  correct: number;
  hah: number[];
  seconds: number;
}

export interface ZooCheckpointState {
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

type ZooData = TrainingData<Pick<DatasetPlugin, 'id' | 'imageShape' | 'normalization' | 'classNames'>>;

/** Training images the saved batch-norm statistics are computed over, in batches of BN_STATISTICS_BATCH. */
const BN_STATISTICS_IMAGES = 4096;
const BN_STATISTICS_BATCH = 256;

/** Images [start, start + count) of a split, sharing its memory. */
function splitSlice(split: DatasetSplit, start: number, count: number): DatasetSplit {
  const per = split.shape[0] * split.shape[1] * split.shape[2];
  return { ...split, images: split.images.subarray(start * per, (start + count) * per), labels: split.labels.subarray(start, start + count), count };
}

const emptySums = (arch: Architecture): EpochSums => ({ loss: 0, crossEntropy: 0, correct: 0, hah: arch.hah.alphas.map(() => 0), seconds: 0 });

export class ZooTrainer implements Trainer<ZooCheckpointState, TrainManifest> {
  readonly unitName = 'epoch';
  readonly resumesMidUnit = true;
  readonly identity: { model: string; dataset: string; architecture: Architecture };
  readonly settings: Record<string, unknown>;
  readonly units: number;
  readonly steps: number;
  /** Share of this session's micro-batches the worker threads computed (0 with one thread). */
  workerShare = 0;
  private readonly model: tf.LayersModel;
  private readonly optimizer: tf.Optimizer;
  private stepper: ZooStepper | undefined;
  private scheduleEpochs: number;
  private carried: EpochSums | undefined;
  private heldOutCurve: number[] = [];
  /** The epoch under way: its rate, its order of the images, its augmentation stream and its sums. */
  private epoch: { lr: number; order: Int32Array; augRand: () => number; sums: EpochSums };
  private report: EpochReport | undefined;
  private microBatchesDone = 0;
  private microBatchesHere = 0;
  private shipped = false;
  private readonly statsOrder: Int32Array;
  private readonly bestDir: string;

  constructor(
    private readonly run: ZooRun,
    private readonly data: ZooData,
    private readonly opts: Pick<TrainOptions, 'onEpoch'>,
    private readonly log: (line: string) => void,
    out: string,
  ) {
    const { plugin } = data;
    this.identity = { model: run.modelId, dataset: run.dataset, architecture: run.arch };
    // The learning-rate schedule depends on lr (and on epochs, checked in resume).
    this.settings = { seed: run.seed, batch: run.batch, trainSamples: run.trainCount, lr: run.baseLr, ...(run.adv ? { adversarial: run.adv } : {}) };
    this.units = run.epochs;
    this.steps = run.steps;
    this.scheduleEpochs = run.epochs;
    this.model = buildModel(run.arch, plugin.imageShape, plugin.classNames.length, plugin.normalization);
    initializeWeights(this.model, scalarRng(run.seed, `init/${run.model}`));
    this.optimizer = tf.train.adam(run.baseLr);
    const statsImages = Math.min(run.trainCount, BN_STATISTICS_IMAGES);
    this.statsOrder = permutation(run.trainCount, scalarRng(run.seed, 'batch-norm-statistics')).subarray(0, statsImages);
    this.bestDir = join(out, 'checkpoint-best');
    this.epoch = { lr: run.baseLr, order: new Int32Array(0), augRand: () => 0, sums: emptySums(run.arch) };
  }

  /** Checkpoints written before recorded steps 10 for fast-AT and a chosen inner attack, which take none: compared without them. */
  current(state: ZooCheckpointState): ZooCheckpointState {
    return state.adversarial ? { ...state, adversarial: withoutUnusedSteps(state.adversarial) } : state;
  }

  resume(state: ZooCheckpointState, found: string): { at: Position; line: string } {
    const { epochs, microBatch } = this.run;
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
    this.carried = state.partial;
    this.scheduleEpochs = state.scheduleEpochs ?? state.epochs;
    this.heldOutCurve = [...(state.heldOutCurve ?? [])];
    const at = { ...START, unit: state.epoch, step: state.step ?? 0, elapsedSeconds: state.elapsedSeconds, unitSeconds: state.partial?.seconds ?? 0 };
    return { at, line: this.resumeLine(state.epochs, finished, at) };
  }

  private resumeLine(savedEpochs: number, finished: boolean, at: Position): string {
    const { model, epochs, drops } = this.run;
    const id = this.data.plugin.id;
    if (finished && epochs > savedEpochs) {
      const last = learningRateAt(1, this.scheduleEpochs, this.scheduleEpochs, drops);
      return (
        `continuing the finished ${savedEpochs}-epoch run of ${model} on ${id} to ${epochs} epochs: the learning-rate steps stay ` +
        `where the ${this.scheduleEpochs}-epoch schedule put them, so the new epochs train at its final rate, ${last} x --lr (not as a ${epochs}-epoch run would)`
      );
    }
    if (finished) return `${model} on ${id} has already trained ${epochs} epochs: saving it again (pass --epochs ${epochs + 1} or more to train it further)`;
    return `resuming ${model} on ${id} after epoch ${at.unit}/${epochs}${at.step > 0 ? ` and step ${at.step}/${this.steps} of the next` : ''}`;
  }

  load(folder: string): Promise<void> {
    return loadCheckpoint(folder, this.model, this.optimizer);
  }

  save(dir: string, at: Position): Promise<void> {
    const r = this.run;
    const state: ZooCheckpointState = {
      epoch: at.unit,
      ...(at.step > 0 ? { step: at.step, partial: { ...this.epoch.sums, seconds: at.unitSeconds } } : {}),
      model: r.modelId,
      dataset: r.dataset,
      architecture: r.arch,
      seed: r.seed,
      epochs: r.epochs,
      scheduleEpochs: this.scheduleEpochs,
      batch: r.batch,
      microBatch: r.microBatch,
      lr: r.baseLr,
      trainSamples: r.trainCount,
      rng: 'scalarRng(seed, shuffle/<epoch>) and scalarRng(seed, augment/<epoch>), the latter past the draws of the steps done',
      elapsedSeconds: at.elapsedSeconds,
      ...(r.adv ? { adversarial: r.adv, heldOutCurve: this.heldOutCurve } : {}),
    };
    return saveCheckpoint(dir, this.model, this.optimizer, state);
  }

  /** The worker pool, started only once there is an epoch to train. */
  private async start(): Promise<ZooStepper> {
    const r = this.run;
    this.stepper = await startStepper(this.model, this.optimizer, r.arch, this.data.plugin, { ...r, tradesBeta: tradesBeta(r.adv) });
    this.log(`training on ${r.threads} thread${r.threads > 1 ? 's' : ''}, ${r.steps} steps an epoch, micro-batches of ${r.microBatch}`);
    return this.stepper;
  }

  async beginUnit(epoch: number, first: number): Promise<void> {
    const r = this.run;
    if (this.stepper === undefined) await this.start();
    const lr = learningRateAt(r.baseLr, epoch, this.scheduleEpochs, r.drops);
    setLearningRate(this.optimizer, lr);
    const order = permutation(r.trainCount, scalarRng(r.seed, `shuffle/${epoch}`));
    const augRand = scalarRng(r.seed, `augment/${epoch}`);
    // The stream's position is the RNG state a mid-epoch checkpoint resumes from: skip the draws of the steps done.
    for (let i = 0; i < first * r.batch * drawsPerImage(r.aug); i++) augRand();
    const sums = this.carried ? { ...this.carried, hah: [...this.carried.hah] } : emptySums(r.arch);
    this.carried = undefined;
    this.epoch = { lr, order, augRand, sums };
  }

  async step(epoch: number, s: number): Promise<number> {
    const r = this.run;
    const { pool, shareWeights, applyGradient } = this.stepper!;
    const { train, plugin } = this.data;
    const idx = this.epoch.order.subarray(s * r.batch, Math.min((s + 1) * r.batch, r.trainCount));
    pool.views.images.set(augmentedBatch(train, idx, r.aug, this.epoch.augRand));
    idx.forEach((i, b) => (pool.views.labels[b] = train.labels[i]!));
    if (r.adv) {
      const at = { spec: r.adv, eps: budgetAt(r.adv, epoch, s, r.steps), seed: r.seed, epoch, numClasses: plugin.classNames.length, dataset: plugin.id };
      const into = pool.views.examples ?? pool.views.images;
      await perturbBatch(r.attacks!.inner, this.model, r.arch, { ...pool.views, into, positions: idx, count: idx.length, shape: plugin.imageShape }, at);
    }
    const { gradient, stats, local } = await pool.step(idx.length, shareWeights);
    // Checked before the step is applied: a NaN or infinite loss or gradient would turn every
    // weight into NaN, and the next checkpoint would save them. The last checkpoint stays good.
    stopIfDiverged(stats, gradient, { epoch: epoch + 1, step: s + 1, steps: r.steps, lr: this.epoch.lr, baseLr: r.baseLr, checkpoint: r.ckptDir, model: r.model });
    applyGradient(gradient);
    this.microBatchesDone += stats.length;
    this.microBatchesHere += local;
    const sums = this.epoch.sums;
    microBatches(idx.length, r.microBatch).forEach(({ size }, m) => {
      const st = stats[m]!;
      sums.loss += st[0]! * size;
      sums.crossEntropy += st[1]! * size;
      sums.correct += st[2]!;
      st.subarray(3).forEach((h, i) => (sums.hah[i] += h * size));
    });
    return idx.length;
  }

  async endUnit(epoch: number, { seconds, secondsLeft }: { seconds: number; secondsLeft: number }): Promise<string> {
    const n = this.run.trainCount;
    const { sums, lr } = this.epoch;
    const report: EpochReport = { epoch: epoch + 1, epochs: this.units, loss: sums.loss / n, crossEntropy: sums.crossEntropy / n, hah: sums.hah.map((h) => h / n), trainAccuracy: sums.correct / n, learningRate: lr, seconds, secondsLeft };
    this.report = report;
    if (this.run.adv) await this.checkHeldOut(epoch, this.run.adv, this.run.attacks!);
    return (
      `loss ${report.loss.toFixed(4)}  ce ${report.crossEntropy.toFixed(4)}` +
      (report.hah.length > 0 ? `  hah ${report.hah.map((h) => h.toFixed(3)).join(',')}` : '') +
      `  train acc ${(100 * report.trainAccuracy).toFixed(2)}%  lr ${lr.toExponential(0)}`
    );
  }

  /** Wong et al.'s guard against catastrophic overfitting: PGD-10 on the held-out images, the best epoch's weights kept aside. */
  private async checkHeldOut(epoch: number, adv: AdversarialSpec, { pgd, norm }: AdversarialAttacks): Promise<void> {
    const { trainCount, heldOut, seed } = this.run;
    const { train, plugin } = this.data;
    await this.recomputeStatistics();
    const split = splitSlice(train, trainCount, heldOut);
    this.heldOutCurve.push(await heldOutRobustness(this.model, pgd, { split, numClasses: plugin.classNames.length, dataset: plugin.id }, norm, adv.eps, seed));
    if (this.heldOutCurve.at(-1)! >= Math.max(...this.heldOutCurve)) await saveLayersModelTo(this.model, this.bestDir);
    this.log(`epoch ${epoch + 1}: ${norm === 'linf' ? '' : `${norm} `}PGD-10 accuracy at eps ${adv.eps} on ${heldOut} held-out training images ${(100 * this.heldOutCurve.at(-1)!).toFixed(2)}%`);
  }

  afterUnit(): void {
    this.opts.onEpoch?.(this.report!);
  }

  private recomputeStatistics(): Promise<void> {
    return recomputeMovingStatistics(this.model, plainBatches(this.data.train, this.statsOrder, BN_STATISTICS_BATCH));
  }

  async finish(): Promise<Finished<TrainManifest>> {
    const r = this.run;
    const done = this.microBatchesDone;
    this.workerShare = done > 0 ? (done - this.microBatchesHere) / done : 0;
    if (r.threads > 1 && done > 0) this.log(`the ${r.threads - 1} worker thread${r.threads > 2 ? 's' : ''} computed ${(100 * this.workerShare).toFixed(0)}% of the micro-batches`);
    const shippedEpoch = r.adv ? this.heldOutCurve.lastIndexOf(Math.max(...this.heldOutCurve)) + 1 : r.epochs;
    if (shippedEpoch < r.epochs) {
      this.log(`shipping epoch ${shippedEpoch}, whose held-out robust accuracy was the best (${(100 * this.heldOutCurve[shippedEpoch - 1]!).toFixed(2)}%)`);
      const best = await loadLayersModelFrom(join(this.bestDir, 'model.json'));
      this.model.setWeights(best.getWeights());
      best.dispose();
    }
    await this.recomputeStatistics();
    const testAccuracy = await evaluate(this.model, this.data.test, r.testCount);
    await rm(this.bestDir, { recursive: true, force: true });
    this.shipped = true;
    // The checkpoint stays: a finished run can be given more epochs.
    return { model: this.model, testAccuracy, testSamples: r.testCount, dataset: this.data.plugin.id, keepCheckpoint: true, manifest: (outcome) => this.manifest(outcome, shippedEpoch) };
  }

  private manifest(outcome: Parameters<typeof runOutcome>[0], shippedEpoch: number): TrainManifest {
    const r = this.run;
    const scheduled = this.scheduleEpochs;
    const extended = scheduled < r.epochs ? `, over the first ${scheduled}; epochs ${scheduled + 1}-${r.epochs} (added to the finished run) at its final rate` : '';
    return {
      model: r.modelId,
      dataset: this.data.plugin.id,
      architecture: r.arch,
      command: r.command,
      seed: r.seed,
      epochs: r.epochs,
      batch: r.batch,
      microBatch: r.microBatch,
      workers: r.threads,
      learningRate: r.baseLr,
      schedule: describeSchedule(r.drops) + extended,
      batchNormStatistics: `moving mean and variance recomputed after training over ${this.statsOrder.length} training images (no augmentation), in training-mode passes of ${BN_STATISTICS_BATCH}`,
      augmentation: describeAugment(r.aug),
      trainSamples: r.trainCount,
      hahLambda: r.arch.hah.alphas.length > 0 ? r.arch.hah.lambda : null,
      hahAlphas: r.arch.hah.alphas,
      ...(r.adv ? { adversarial: this.adversarialManifest(r.adv, r.attacks!, shippedEpoch) } : {}),
      ...runOutcome(outcome),
    };
  }

  /** The spec with its inner attack's id and params (a plugin attack's source too), its description and the held-out curve. */
  private adversarialManifest(adv: AdversarialSpec, attacks: AdversarialAttacks, shippedEpoch: number): AdversarialManifest {
    // The chosen attack goes in as the inner attack's id and params, as pgd's does.
    const { attack: _chosen, ...spec } = adv;
    const { id, params } = innerAttack(adv, adv.eps);
    const source = attacks.source ? { source: attacks.source } : {};
    return { ...spec, attack: id, params, ...source, description: describeAdversarial(adv, attacks.norm), heldOutRobustAccuracy: this.heldOutCurve, shippedEpoch };
  }

  async dispose(): Promise<void> {
    await this.stepper?.pool.close();
    this.optimizer.dispose();
    // Once finish has handed it over, the model is the loop's to dispose.
    if (!this.shipped) this.model.dispose();
  }
}
