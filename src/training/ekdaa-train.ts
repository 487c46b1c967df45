/**
 * Training of the EKDAA zoo entries and their backprop twin: the same network,
 * optimiser (SGD lr 1e-3, momentum 0.85, batch 50, constant rate, no augmentation:
 * the release's) and epochs, differing only in the learning rule. So do the release's
 * own backprop baseline (ekdaa-release-bp, ekdaa-release-bp.ts) and the frozen-conv
 * controls (ekdaa-frozen, ekdaa-sign-frozen, ekdaa-backprop-frozen: the convs left at the
 * initialisation the unfrozen model's run draws from the same seed, the fc head trained).
 * A checkpoint after every epoch (resumable, bit-identical) and a test evaluation after every epoch, as the
 * release prints one: the manifest holds the whole curve, its best epoch and the last
 * epoch's accuracy, which is the one the shipped (last-epoch) weights score. The epochs, the
 * checkpoints and resume, progress and the manifest's outcome are the one training loop's (loop.ts).
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildLayersModel, convSpecs, ekdaaArchitecture, ekdaaLayout, forward, initParams, LAYOUT_NAMES, type LayoutName, type EkdaaArchitecture, type EkdaaParams } from '../nets/ekdaa.js';
import { EKDAA_HYPER, ekdaaUpdate, initErrorKernels, MomentumSGD, type ErrorKernels } from './ekdaa.js';
import { inputErrorShapes, releaseBpUpdate, withRows } from './ekdaa-release-bp.js';
import { UsageError } from '../core/errors.js';
import type { EkdaaTraining } from '../core/plugin-api.js';
import { scalarRng } from '../core/rng.js';
import type { TrainOptions } from './train.js';
import { builtinTrainable, trainedBy, trainingOf, type Trainable } from './trainable.js';
import { permutation } from './batches.js';
import { evaluate } from './test-accuracy.js';
import { runOutcome, type TrainingManifest } from './manifest.js';
import { runTraining, START, type Finished, type Position, type RunResult, type Trainer } from './loop.js';
import { loadTensors, saveTensors, type NamedTensor } from './tensor-checkpoint.js';
import { loadTrainingData, type TrainingData } from './training-data.js';

/** The zoo id that `--model m --activation a` trains: the EKDAA model of m's rule with activation a. */
export function ekdaaModelId(model: string, activation: string | undefined, trainable: Trainable): string {
  const kind = trainingOf(trainable, model, 'ekdaa');
  if (kind === undefined) {
    if (activation === undefined) return model;
    throw new UsageError(`--activation applies to the EKDAA models only, not '${model}'`, 'drop --activation, or use --model ekdaa');
  }
  if (activation === undefined || activation === kind.activation) return model;
  if (activation !== 'tanh' && activation !== 'sign') throw new UsageError(`--activation must be tanh or sign, got '${activation}'`, 'pass --activation tanh or --activation sign');
  if (kind.rule !== 'ekdaa') {
    const who = kind.rule === 'backprop' ? 'the backprop twin' : "the release's backprop baseline";
    throw new UsageError(`${who} trains with tanh only: sign has no derivative to backpropagate`, 'drop --activation, or train --model ekdaa --activation sign');
  }
  // The variant of the same rule, its convs frozen or not as the model's are.
  const frozen = kind.frozenConvsOf !== undefined;
  const twin = trainedBy(trainable, 'ekdaa').find(([, t]) => t.rule === kind.rule && t.activation === activation && (t.frozenConvsOf !== undefined) === frozen);
  if (twin === undefined) throw new UsageError(`no EKDAA model of the rule ${kind.rule} has the activation ${activation}`, 'drop --activation');
  return twin[0];
}

/**
 * The zoo id that `--model m --freeze-convs` trains: the control that declares itself m with its
 * convs frozen (m itself when m is one).
 */
export function frozenConvsId(model: string, trainable: Trainable): string {
  const kind = trainingOf(trainable, model, 'ekdaa');
  if (kind === undefined) throw new UsageError(`--freeze-convs applies to the EKDAA models only, not '${model}'`, 'drop --freeze-convs, or use --model ekdaa --freeze-convs');
  if (kind.frozenConvsOf !== undefined) return model;
  const control = trainedBy(trainable, 'ekdaa').find(([, t]) => t.frozenConvsOf === model);
  if (control === undefined) {
    const frozen = trainedBy(trainable, 'ekdaa').flatMap(([, t]) => (t.frozenConvsOf !== undefined ? [t.frozenConvsOf] : []));
    throw new UsageError(`no EKDAA model is '${model}' with frozen convs`, `drop --freeze-convs, or use --model ${frozen.join('|')} --freeze-convs`);
  }
  return control[0];
}

/** `--layout`'s value, checked before any data or backend. */
export function checkLayoutName(name: string | undefined): asserts name is LayoutName | undefined {
  if (name !== undefined && !(LAYOUT_NAMES as readonly string[]).includes(name)) {
    const names = `${LAYOUT_NAMES.slice(0, -1).join(', ')} or ${LAYOUT_NAMES[LAYOUT_NAMES.length - 1]}`;
    throw new UsageError(`--layout must be ${names}, got '${name}'`, "pass --layout wide (64-M-128-M), --layout release (the release's CIFAR-10 net), or drop --layout");
  }
}

export interface EkdaaTrainOptions extends Omit<TrainOptions, 'onEpoch'> {
  /**
   * The release's forward (conv pre-activations carried forward); see EkdaaArchitecture.
   * The EKDAA pair always run it; true here gives it to the backprop twin too.
   */
  releaseForward?: boolean;
  /** The named conv layout (`--layout`): compact, wide (the greyscale default) or the release's CIFAR-10 net. */
  layoutName?: LayoutName;
  /** Conv layout override (tests); wins over layoutName. */
  layout?: (number | 'M')[];
  momentum?: number;
  onEpoch?: (report: EpochRecord & { epochs: number; loss: number }) => void;
}

/** One epoch of a run: train loss and accuracy over the epoch's steps, test accuracy of the weights after it. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testAccuracy: number;
  /** Training time of the epoch, without its test evaluation. */
  seconds: number;
}

export interface EkdaaManifest extends TrainingManifest {
  rule: EkdaaTraining['rule'];
  architecture: EkdaaArchitecture & { convs: ReturnType<typeof convSpecs>; input: string };
  ekdaa: { beta: number; gamma: number } | null;
  /**
   * A control's: the model whose seeded initialisation the convs kept (the same seed gives that
   * model's run the same initial convs), only the fc head trained; absent when every layer trained
   * (as in the manifests written before the controls).
   */
  frozenConvs?: { of: string };
  epochs: number;
  learningRate: number;
  momentum: number;
  augmentation: string;
  /** Test accuracy (on testSamples images) after every epoch, with the epoch's train loss and accuracy. */
  epochCurve: EpochRecord[];
  /** The epoch whose weights scored best on the test images, and that score: reported, not shipped. */
  bestEpoch: { epoch: number; testAccuracy: number };
  /** The epoch whose weights ship (always the last: no selection on the test set); testAccuracy is its score. */
  shippedEpoch: number;
}

interface State {
  epoch: number;
  model: string;
  dataset: string;
  architecture: EkdaaArchitecture;
  seed: number;
  epochs: number;
  batch: number;
  lr: number;
  trainSamples: number;
  releaseForward: boolean;
  elapsedSeconds: number;
  /** The curve so far, so a resumed run's manifest holds every epoch. */
  curve: EpochRecord[];
}

/** The shipped weights' epochs: on 2 cores the three CIFAR-10 runs side by side took about an hour each. */
const DEFAULT_EPOCHS = 8;

/** Every tensor of the training state under a fixed name, in a fixed order. */
function stateTensors(p: EkdaaParams, e: ErrorKernels | null, opt: MomentumSGD, inputErrors: tf.Variable[] | null): { name: string; tensor: tf.Variable }[] {
  return [
    ...p.convs.map((t, i) => ({ name: `conv${i}`, tensor: t })),
    ...p.fcs.map((t, i) => ({ name: `fc${i}`, tensor: t })),
    ...(e ? [...e.convs.map((t, i) => ({ name: `Econv${i}`, tensor: t })), ...e.fcs.map((t, i) => ({ name: `Efc${i}`, tensor: t }))] : []),
    ...opt.velocities.map((t, i) => ({ name: `velocity${i}`, tensor: t })),
    ...(inputErrors ?? []).map((t, i) => ({ name: `inputError${i}`, tensor: t })),
  ];
}

/** The settings of a run, its options resolved. */
interface EkdaaRun {
  model: string;
  dataset: string;
  kind: EkdaaTraining;
  releaseForward: boolean;
  seed: number;
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  trainCount: number;
  testCount: number;
  command: string;
}

/** A rule's state beside the weights: EKDAA's error kernels, the release baseline's input-side errors; frozen: the convs do not train. */
interface RuleState {
  kernels: ErrorKernels | null;
  inputErrors: tf.Variable[] | null;
  frozen: boolean;
}

/**
 * One learning rule's step on a batch: the EKDAA update, the release's backprop baseline, or
 * backprop's gradient of the summed cross-entropy through the same optimiser; the fc head's
 * updates only when the convs are frozen. The loss and hits of the logits the step started from.
 */
function ruleStep(arch: EkdaaArchitecture, params: EkdaaParams, { kernels, inputErrors, frozen }: RuleState, opt: MomentumSGD, x: tf.Tensor4D, y: tf.Tensor1D, classes: number): tf.Tensor {
  const summary = (logits: tf.Tensor2D): tf.Tensor =>
    tf.stack([tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), logits), tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'))]);
  if (kernels) {
    const u = ekdaaUpdate(arch, params, kernels, x, y, EKDAA_HYPER, { headOnly: frozen });
    opt.apply([...u.dConvs, ...u.dFcs, ...u.dEConvs, ...u.dEFcs]);
    return summary(u.logits);
  }
  if (inputErrors) {
    const u = releaseBpUpdate(arch, params, inputErrors as tf.Tensor[] as tf.Tensor4D[], x, y);
    opt.apply(frozen ? u.dFcs : [...u.dConvs, ...u.dFcs]);
    // The batch-sized buffers the next step reads: a partial batch's rows, zero past them.
    u.inputErrors.forEach((e, l) => inputErrors[l].assign(withRows(e, inputErrors[l].shape[0])));
    return summary(u.logits);
  }
  const weights = frozen ? [...params.fcs] : [...params.convs, ...params.fcs];
  let kept: tf.Tensor | null = null;
  // Summed over the batch, as the release's fc updates (z^T e) and EKDAA's are: the same lr means the same step.
  const { grads } = tf.variableGrads(() => {
    const logits = forward(arch, params, x).logits;
    kept = tf.keep(summary(logits));
    return tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), logits, undefined, undefined, tf.Reduction.SUM) as tf.Scalar;
  }, weights);
  opt.apply(weights.map((w) => grads[w.name]));
  return kept as unknown as tf.Tensor;
}

/** EKDAA's or backprop's epochs of SGD with momentum over the shuffled images, on the one loop (loop.ts). */
class EkdaaTrainer implements Trainer<State, EkdaaManifest> {
  readonly unitName = 'epoch';
  readonly resumesMidUnit = false;
  readonly identity: { model: string; dataset: string; architecture: EkdaaArchitecture };
  readonly settings: Record<string, unknown>;
  readonly units: number;
  readonly steps: number;
  private readonly params: EkdaaParams;
  private readonly kernels: ErrorKernels | null;
  private readonly inputErrors: tf.Variable[] | null;
  private readonly opt: MomentumSGD;
  private readonly named: NamedTensor[];
  private curve: EpochRecord[] = [];
  private order: ReturnType<typeof permutation> = new Int32Array(0);
  private sums = { loss: 0, correct: 0 };

  constructor(
    private readonly run: EkdaaRun,
    private readonly arch: EkdaaArchitecture,
    private readonly data: TrainingData,
    private readonly onEpoch: EkdaaTrainOptions['onEpoch'],
  ) {
    const { plugin } = data;
    this.identity = { model: run.model, dataset: run.dataset, architecture: arch };
    // Not epochs: the rate is constant, so a run may be resumed to stop sooner or go on longer.
    this.settings = { seed: run.seed, batch: run.batch, trainSamples: run.trainCount, lr: run.lr };
    this.units = run.epochs;
    this.steps = Math.ceil(run.trainCount / run.batch);
    // A frozen-conv control draws the initialisation of the model it freezes: the same seed, the same convs.
    this.params = initParams(arch, plugin.imageShape, plugin.classNames.length, scalarRng(run.seed, `init/${run.kind.frozenConvsOf ?? run.model}`));
    this.kernels = run.kind.rule === 'ekdaa' ? initErrorKernels(this.params) : null;
    // The release's passback buffers start at zero.
    this.inputErrors = run.kind.rule === 'release-bp' ? inputErrorShapes(arch, plugin.imageShape, run.batch).map((s) => tf.tidy(() => tf.variable(tf.zeros(s), false))) : null;
    const frozen = run.kind.frozenConvsOf !== undefined;
    const { convs, fcs } = this.params;
    // What trains, in the order the updates come: weights, then error kernels.
    const trained = frozen ? [...fcs, ...(this.kernels?.fcs ?? [])] : [...convs, ...fcs, ...(this.kernels ? [...this.kernels.convs, ...this.kernels.fcs] : [])];
    this.opt = new MomentumSGD(trained, run.lr, run.momentum);
    this.named = stateTensors(this.params, this.kernels, this.opt, this.inputErrors);
  }

  resume(state: State, folder: string): { at: Position; line: string } {
    if (state.epoch > this.units) throw new UsageError(`the checkpoint in ${folder} is after epoch ${state.epoch}, past --epochs ${this.units}`, `resume with --epochs ${state.epoch} or more, or drop --resume to start afresh`);
    this.curve = state.curve ?? [];
    return { at: { ...START, unit: state.epoch, elapsedSeconds: state.elapsedSeconds }, line: `resuming ${this.run.model} on ${this.data.plugin.id} after epoch ${state.epoch}/${this.units}` };
  }

  async load(folder: string): Promise<void> {
    const saved = await loadTensors(folder, this.named);
    this.named.forEach(({ tensor }, i) => (tensor as tf.Variable).assign(saved[i]!));
    tf.dispose(saved);
  }

  save(dir: string, at: Position): Promise<void> {
    const { model, dataset, seed, epochs, batch, lr, trainCount, releaseForward } = this.run;
    return saveTensors(dir, this.named, { epoch: at.unit, model, dataset, architecture: this.arch, seed, epochs, batch, lr, trainSamples: trainCount, releaseForward, elapsedSeconds: at.elapsedSeconds, curve: this.curve });
  }

  async beginUnit(epoch: number): Promise<void> {
    this.order = permutation(this.run.trainCount, scalarRng(this.run.seed, `shuffle/${epoch}`));
    this.sums = { loss: 0, correct: 0 };
  }

  async step(epoch: number, s: number): Promise<number> {
    const { batch, trainCount } = this.run;
    const { train, plugin } = this.data;
    const shape = plugin.imageShape;
    const per = shape[0] * shape[1] * shape[2];
    const idx = this.order.subarray(s * batch, Math.min((s + 1) * batch, trainCount));
    const xs = new Float32Array(idx.length * per);
    idx.forEach((i, b) => xs.set(train.images.subarray(i * per, (i + 1) * per), b * per));
    const ys = Int32Array.from(idx, (i) => train.labels[i]!);
    const rule = { kernels: this.kernels, inputErrors: this.inputErrors, frozen: this.run.kind.frozenConvsOf !== undefined };
    const stats = tf.tidy(() => ruleStep(this.arch, this.params, rule, this.opt, tf.tensor4d(xs, [idx.length, ...shape]), tf.tensor1d(ys, 'int32'), plugin.classNames.length));
    const v = await stats.data();
    stats.dispose();
    if (!Number.isFinite(v[0])) throw new Error(`${this.run.model}: the loss became ${v[0]} at epoch ${epoch + 1}, step ${s + 1}`);
    this.sums.loss += v[0]! * idx.length;
    this.sums.correct += v[1]!;
    return idx.length;
  }

  /** Test accuracy of the current weights through the shippable model, the path robench evaluates. */
  private async testNow(): Promise<number> {
    const m = this.shippable();
    try {
      return await evaluate(m, this.data.test, this.run.testCount);
    } finally {
      m.dispose();
    }
  }

  private shippable(): ReturnType<typeof buildLayersModel> {
    return buildLayersModel(this.arch, this.data.plugin.imageShape, this.data.plugin.classNames.length, this.params, this.run.model);
  }

  async endUnit(epoch: number, { seconds }: { seconds: number }): Promise<string> {
    const { trainCount } = this.run;
    const record: EpochRecord = { epoch: epoch + 1, trainLoss: this.sums.loss / trainCount, trainAccuracy: this.sums.correct / trainCount, testAccuracy: await this.testNow(), seconds };
    this.curve.push(record);
    return `loss ${record.trainLoss.toFixed(4)}  train acc ${(100 * record.trainAccuracy).toFixed(2)}%  test acc ${(100 * record.testAccuracy).toFixed(2)}%`;
  }

  afterUnit(): void {
    const record = this.curve.at(-1)!;
    this.onEpoch?.({ ...record, epochs: this.units, loss: record.trainLoss });
  }

  async finish(): Promise<Finished<EkdaaManifest>> {
    const { epochs, testCount } = this.run;
    const model = this.shippable();
    // The last epoch's evaluation when it ran in this process or a resumed one; evaluated afresh otherwise (resumed at the end).
    const testAccuracy = this.curve.find((r) => r.epoch === epochs)?.testAccuracy ?? (await evaluate(model, this.data.test, testCount));
    const best = this.curve.reduce<EpochRecord | undefined>((b, r) => (b === undefined || r.testAccuracy > b.testAccuracy ? r : b), undefined) ?? { epoch: epochs, testAccuracy };
    return { model, testAccuracy, testSamples: testCount, dataset: this.data.plugin.id, keepCheckpoint: false, manifest: (outcome) => this.manifest(outcome, best) };
  }

  private manifest(outcome: Parameters<Finished<EkdaaManifest>['manifest']>[0], best: { epoch: number; testAccuracy: number }): EkdaaManifest {
    const { model, kind, seed, epochs, batch, lr, momentum, trainCount, command } = this.run;
    return {
      model,
      dataset: this.data.plugin.id,
      rule: kind.rule,
      architecture: { ...this.arch, convs: convSpecs(this.arch, this.data.plugin.imageShape), input: 'x - 0.5 on [0,1] pixels (the release), inside the model' },
      ekdaa: this.kernels ? { ...EKDAA_HYPER } : null,
      ...(kind.frozenConvsOf !== undefined ? { frozenConvs: { of: kind.frozenConvsOf } } : {}),
      command,
      seed,
      epochs,
      batch,
      learningRate: lr,
      momentum,
      schedule: 'constant',
      augmentation: 'none',
      trainSamples: trainCount,
      ...runOutcome(outcome),
      epochCurve: this.curve,
      bestEpoch: { epoch: best.epoch, testAccuracy: best.testAccuracy },
      shippedEpoch: epochs,
    };
  }

  async dispose(): Promise<void> {
    tf.dispose([...this.params.convs, ...this.params.fcs, ...(this.kernels ? [...this.kernels.convs, ...this.kernels.fcs] : []), ...(this.inputErrors ?? [])]);
    this.opt.dispose();
  }
}

/** The run's settings from its options, checked before any data or backend. */
function ekdaaRun(opts: EkdaaTrainOptions, trainable: Trainable): Omit<EkdaaRun, 'trainCount' | 'testCount'> & { out: string } {
  const kind = trainingOf(trainable, opts.model, 'ekdaa');
  if (kind === undefined) throw new UsageError(`'${opts.model}' is not an EKDAA model`, `use --model ${trainedBy(trainable, 'ekdaa').map(([id]) => id).join('|')}`);
  const releaseForward = kind.releaseForward || opts.releaseForward === true;
  const seed = opts.seed ?? 0;
  const batch = opts.batch ?? 50;
  const lr = opts.lr ?? kind.lr;
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch must be a positive integer, got ${batch}`, 'pass e.g. --batch 50');
  if (!(lr > 0)) throw new UsageError(`the learning rate must be positive, got ${lr}`, 'pass e.g. --lr 0.001');
  if (opts.epochs !== undefined && (!Number.isInteger(opts.epochs) || opts.epochs < 1)) throw new UsageError(`--epochs must be a positive integer, got ${opts.epochs}`, 'pass e.g. --epochs 6');
  checkLayoutName(opts.layoutName);
  const epochs = opts.epochs ?? DEFAULT_EPOCHS;
  const suffix = `${releaseForward && !kind.releaseForward ? '-release' : ''}${opts.layoutName !== undefined && opts.layoutName !== 'compact' ? `-${opts.layoutName}-net` : ''}`;
  const command =
    opts.command ??
    `robench train --model ${opts.model} --dataset ${opts.dataset} --epochs ${epochs} --batch ${batch} --seed ${seed}${releaseForward && !kind.releaseForward ? ' --release-forward' : ''}${opts.layoutName !== undefined ? ` --layout ${opts.layoutName}` : ''}`;
  const out = opts.out ?? join('robench-train', `${opts.model}${suffix}-${opts.dataset}`);
  return { model: opts.model, dataset: opts.dataset, kind, releaseForward, seed, epochs, batch, lr, momentum: opts.momentum ?? 0.85, command, out };
}

/** Trains an EKDAA model (ekdaa, ekdaa-sign, ekdaa-backprop, ekdaa-release-bp, a frozen-conv control) and writes model.json, weights.bin and manifest.json. */
export async function trainEkdaa(opts: EkdaaTrainOptions): Promise<RunResult<EkdaaManifest>> {
  const { out, ...settings } = ekdaaRun(opts, opts.trainable ?? (await builtinTrainable()));
  const data = opts.data ?? (await loadTrainingData(opts));
  const shape = data.plugin.imageShape;
  const run = { ...settings, trainCount: Math.min(opts.samples ?? data.train.count, data.train.count), testCount: Math.min(opts.testSamples ?? data.test.count, data.test.count) };
  const arch = ekdaaArchitecture(shape, run.kind.activation, run.releaseForward, opts.layout ?? ekdaaLayout(shape, opts.layoutName));
  const trainer = new EkdaaTrainer(run, arch, data, opts.onEpoch);
  return runTraining(trainer, { model: opts.model, dataset: opts.dataset, out, resume: opts.resume, log: opts.log ?? ((line) => process.stderr.write(`${line}\n`)), progress: opts.progress, onStep: opts.onStep });
}
