/**
 * Training of the zoo models: Adam with a step schedule, seeded shuffling and
 * augmentation, the HaH local losses, a checkpoint after every epoch (resumable)
 * and a final evaluation on the test split.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { architecture, blockConvName, buildModel, initializeWeights, type Architecture, type Family, type Size, type Variant } from '../models/architectures.js';
import { hahCost, NormalizedConv2D } from '../models/hah-layers.js';
import { writeFileAtomic } from './atomic.js';
import { findCheckpoint, readCheckpointState, removeCheckpoint, writeCheckpoint } from './checkpoint.js';
import { UsageError } from './errors.js';
import { loadLayersModelFrom, saveLayersModelTo } from './model-io.js';
import { createRegistry } from './registry.js';
import type { DatasetPlugin, DatasetSplit, ImageShape } from './plugin-api.js';
import { scalarRng } from './rng.js';

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
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
  /** The command line to record in the manifest. */
  command?: string;
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
}

export interface TrainManifest {
  model: string;
  dataset: string;
  architecture: Architecture;
  command: string;
  seed: number;
  epochs: number;
  batch: number;
  learningRate: number;
  schedule: string;
  augmentation: string;
  trainSamples: number;
  backend: string;
  tfjsVersion: string;
  wallSeconds: number;
  testAccuracy: number;
  testSamples: number;
  hahLambda: number | null;
  hahAlphas: number[];
  weightsSha256: string;
  trainedAt: string;
}

interface Hyper {
  epochs: number;
  batch: number;
  lr: number;
  /** Fractions of the run after each of which the learning rate drops tenfold. */
  drops: number[];
}

const STEP_HALF = [0.5, 0.75];
// The authors' MultiStepLR milestones, 3/5 and 4/5 of the epochs.
const STEP_AUTHORS = [0.6, 0.8];
const defaults = (size: Size, shape: ImageShape): Hyper =>
  size === 'deep'
    ? { epochs: 30, batch: 128, lr: 1e-3, drops: STEP_AUTHORS }
    : size === 'vgg16'
      ? { epochs: 100, batch: 64, lr: 1e-3, drops: STEP_HALF }
      : shape[2] === 3
        ? { epochs: 30, batch: 64, lr: 1e-3, drops: STEP_HALF }
        : { epochs: 10, batch: 64, lr: 1e-3, drops: STEP_HALF };

/** Learning rate of an epoch: drops tenfold after each fraction of the run in `drops` (default half and three quarters). */
export const learningRateAt = (base: number, epoch: number, epochs: number, drops = STEP_HALF): number =>
  base * 10 ** -drops.filter((f) => epoch >= f * epochs).length;
const describeSchedule = (drops: number[]): string =>
  `step: ${drops.map((f, i) => `x${10 ** -(i + 1)} at ${100 * f}%`).join(' and ')} of the epochs`;

interface Augment {
  shift: number;
  flip: boolean;
}
/** Colour photos get pad-and-crop plus mirror images; digits and clothes only small shifts (a mirrored digit is another glyph). */
const augmentationFor = (shape: number[]): Augment => (shape[2] === 3 ? { shift: 4, flip: true } : { shift: 2, flip: false });
const describeAugment = (a: Augment): string => `random shift up to ${a.shift}px (zero fill)${a.flip ? ' + horizontal flip' : ''}`;

/** Fisher-Yates with a seeded stream. */
export function permutation(n: number, rand: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Copies the samples at `idx` into one batch, each shifted (and maybe mirrored) by draws from `rand`. */
function augmentedBatch(split: DatasetSplit, idx: ArrayLike<number>, aug: Augment, rand: () => number): Float32Array {
  const [h, w, c] = split.shape;
  const per = h * w * c;
  const out = new Float32Array(idx.length * per);
  for (let b = 0; b < idx.length; b++) {
    const dy = Math.floor(rand() * (2 * aug.shift + 1)) - aug.shift;
    const dx = Math.floor(rand() * (2 * aug.shift + 1)) - aug.shift;
    const flip = aug.flip && rand() < 0.5;
    const src = idx[b] * per;
    const dst = b * per;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= h) continue;
      for (let x = 0; x < w; x++) {
        const sx0 = x + dx;
        if (sx0 < 0 || sx0 >= w) continue;
        const sx = flip ? w - 1 - sx0 : sx0;
        for (let ch = 0; ch < c; ch++) out[dst + (y * w + x) * c + ch] = split.images[src + (sy * w + sx) * c + ch];
      }
    }
  }
  return out;
}

/**
 * Training-mode forward pass that walks the layer chain and also returns the HaH
 * cost of each HaH layer. Each HaH cost is computed on the layer's local copy of its
 * output, whose gradient stops at the layer input, so it only reaches that layer's weights.
 */
export function forwardTrain(model: tf.LayersModel, arch: Architecture, x: tf.Tensor4D): { logits: tf.Tensor2D; hah: tf.Scalar[] } {
  let t: tf.Tensor = x;
  const hah: tf.Scalar[] = [];
  // The deep hebbian models' standard blocks have normalised convs too, without a HaH cost.
  const hahConvs = new Set(arch.blocks.flatMap((b, i) => (b.hah ? [blockConvName(i)] : [])));
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    if (layer instanceof NormalizedConv2D && hahConvs.has(layer.name)) {
      const [output, local] = layer.callWithLocal(t as tf.Tensor4D);
      hah.push(hahCost(tf.relu(local), { ratio: arch.hah.ratio, lambda: arch.hah.lambda }));
      t = output;
      continue;
    }
    t = layer.apply(t, { training: true }) as tf.Tensor;
  }
  return { logits: t as tf.Tensor2D, hah };
}

/** Training objective: cross-entropy minus the alpha-weighted HaH costs. */
export function trainingLoss(
  model: tf.LayersModel,
  arch: Architecture,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
): { loss: tf.Scalar; crossEntropy: tf.Scalar; hah: tf.Scalar[]; correct: tf.Scalar } {
  const { logits, hah } = forwardTrain(model, arch, x);
  const numClasses = logits.shape[1];
  const crossEntropy = tf.losses.softmaxCrossEntropy(tf.oneHot(y, numClasses), logits) as tf.Scalar;
  let loss: tf.Scalar = crossEntropy;
  hah.forEach((h, i) => (loss = tf.sub(loss, tf.mul(h, arch.hah.alphas[i]))));
  const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')) as tf.Scalar;
  return { loss, crossEntropy, hah, correct };
}

const trainableVariables = (model: tf.LayersModel): tf.Variable[] => model.trainableWeights.map((w) => w.read() as tf.Variable);

/** Test-set accuracy in inference mode (batch norm with moving statistics). */
export async function evaluate(model: tf.LayersModel, split: DatasetSplit, count = split.count, batch = 256): Promise<number> {
  const per = split.shape.reduce((a, b) => a * b, 1);
  let correct = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const hits = tf.tidy(() => {
      const x = tf.tensor4d(split.images.subarray(start * per, (start + n) * per), [n, ...split.shape]);
      const y = tf.tensor1d(split.labels.subarray(start, start + n), 'int32');
      const pred = tf.argMax(model.apply(x, { training: false }) as tf.Tensor2D, 1);
      return tf.sum(tf.cast(tf.equal(pred, y), 'int32'));
    });
    // Asynchronous reads are the only ones the webgpu backend supports.
    correct += (await hits.data())[0];
    hits.dispose();
  }
  return correct / count;
}

interface CheckpointState {
  epoch: number;
  model: string;
  dataset: string;
  architecture: Architecture;
  seed: number;
  epochs: number;
  batch: number;
  lr: number;
  trainSamples: number;
  /** Shuffling and augmentation draw from streams keyed by (seed, epoch), so the epoch is the RNG position. */
  rng: string;
  elapsedSeconds: number;
}

/**
 * Adam's running beta powers. setWeights recomputes them with pow(), which differs in
 * the last bits from the step-by-step products, so a checkpoint stores them to make a
 * resumed run bit-identical to an uninterrupted one.
 */
const adamPowers = (optimizer: tf.Optimizer): tf.Variable[] => {
  const o = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  return [o.accBeta1, o.accBeta2];
};

async function saveCheckpoint(dir: string, model: tf.LayersModel, optimizer: tf.Optimizer, state: CheckpointState): Promise<void> {
  const named = [...(await optimizer.getWeights()), ...adamPowers(optimizer).map((v, i) => ({ name: `robench/accBeta${i + 1}`, tensor: v }))];
  const { data, specs } = await tf.io.encodeWeights(named);
  // getWeights makes a fresh scalar for the iteration count; the moments are the live variables.
  tf.dispose(named.filter((w) => w.name === 'iter').map((w) => w.tensor));
  await writeCheckpoint(dir, state, async (folder) => {
    await saveLayersModelTo(model, join(folder, 'model'));
    await writeFileAtomic(join(folder, 'optimizer.bin'), new Uint8Array(data as ArrayBuffer));
    await writeFileAtomic(join(folder, 'optimizer.json'), JSON.stringify(specs));
  });
}

/** Loads the weights and optimiser state of the (checked) checkpoint set in `folder`. */
async function loadCheckpoint(folder: string, model: tf.LayersModel, optimizer: tf.Optimizer): Promise<void> {
  const saved = await loadLayersModelFrom(join(folder, 'model'));
  model.setWeights(saved.getWeights());
  saved.dispose();
  const specs = JSON.parse(await readFile(join(folder, 'optimizer.json'), 'utf8')) as tf.io.WeightsManifestEntry[];
  const bin = await readFile(join(folder, 'optimizer.bin'));
  const tensors = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, specs);
  const powers = specs.filter((s) => s.name.startsWith('robench/accBeta'));
  await optimizer.setWeights(specs.filter((s) => !powers.includes(s)).map((s) => ({ name: s.name, tensor: tensors[s.name] })));
  adamPowers(optimizer).forEach((v, i) => v.assign(tensors[powers[i].name]));
  // setWeights copies the moments into fresh variables.
  tf.dispose(Object.values(tensors));
}

const fmtTime = (s: number): string => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.round(s / 60)}m` : `${Math.round(s)}s`);

/** Trains a zoo model on a dataset and writes model.json, weights.bin and manifest.json to the output directory. */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const kind = TRAINABLE_MODELS[opts.model];
  if (kind === undefined) {
    throw new UsageError(`robench can only train the zoo models, not '${opts.model}'`, `use --model ${Object.keys(TRAINABLE_MODELS).join('|')}`);
  }
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const seed = opts.seed ?? 0;
  const out = opts.out ?? join('robench-train', `${opts.model}-${opts.dataset}`);
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
  const trainCount = Math.min(opts.samples ?? data.train.count, data.train.count);
  const testCount = Math.min(opts.testSamples ?? data.test.count, data.test.count);
  const hyper = defaults(kind.size, plugin.imageShape);
  const epochs = opts.epochs ?? hyper.epochs;
  const batch = opts.batch ?? hyper.batch;
  const baseLr = opts.lr ?? hyper.lr;
  for (const [name, v] of [['epochs', epochs], ['batch', batch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${name} must be a positive integer, got ${v}`, `pass e.g. --${name} 10`);
  }
  if (!(baseLr > 0)) throw new UsageError(`the learning rate must be positive, got ${baseLr}`, 'pass e.g. --lr 0.001');

  const arch = architecture(kind.family, kind.size, plugin.imageShape, kind.variant);
  const model = buildModel(arch, plugin.imageShape, plugin.classNames.length, plugin.normalization);
  initializeWeights(model, scalarRng(seed, `init/${opts.model}`));
  const optimizer = tf.train.adam(baseLr);
  const aug = augmentationFor(plugin.imageShape);

  let startEpoch = 0;
  let elapsed = 0;
  const found = findCheckpoint(ckptDir);
  if (opts.resume && found !== null) {
    // The learning-rate schedule depends on epochs and lr, so they must match too.
    const settings = { seed, batch, trainSamples: trainCount, epochs, lr: baseLr };
    const state = await readCheckpointState<CheckpointState>(found, { model: opts.model, dataset: opts.dataset, architecture: arch }, settings);
    await loadCheckpoint(found, model, optimizer);
    startEpoch = state.epoch;
    elapsed = state.elapsedSeconds;
    log(`resuming ${opts.model} on ${plugin.id} after epoch ${startEpoch}/${epochs}`);
  } else if (opts.resume) {
    log(`no checkpoint in ${ckptDir}; starting from scratch`);
  } else if (found !== null) {
    log(`starting afresh over the checkpoint in ${ckptDir} (pass --resume to continue it)`);
  }

  const setLr = (lr: number): void => {
    // tfjs keeps Adam's learning rate in a plain field that each step reads.
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
  };
  const vars = trainableVariables(model);
  const steps = Math.ceil(trainCount / batch);

  const runStart = Date.now();
  for (let epoch = startEpoch; epoch < epochs; epoch++) {
    const t0 = Date.now();
    const lr = learningRateAt(baseLr, epoch, epochs, hyper.drops);
    setLr(lr);
    const order = permutation(trainCount, scalarRng(seed, `shuffle/${epoch}`));
    const augRand = scalarRng(seed, `augment/${epoch}`);
    let lossSum = 0;
    let ceSum = 0;
    let correct = 0;
    const hahSum = arch.hah.alphas.map(() => 0);
    for (let s = 0; s < steps; s++) {
      const idx = order.subarray(s * batch, Math.min((s + 1) * batch, trainCount));
      const xs = augmentedBatch(data.train, idx, aug, augRand);
      const ys = Int32Array.from(idx, (i) => data.train.labels[i]);
      const statsTensor = tf.tidy(() => {
        const x = tf.tensor4d(xs, [idx.length, ...plugin.imageShape]);
        const y = tf.tensor1d(ys, 'int32');
        let kept: tf.Scalar[] = [];
        const { value, grads } = tf.variableGrads(() => {
          const r = trainingLoss(model, arch, x, y);
          kept = [r.crossEntropy, r.correct, ...r.hah].map((t) => tf.keep(t));
          return r.loss;
        }, vars);
        optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
        const stacked = tf.stack([value, ...kept]);
        tf.dispose(kept);
        return stacked;
      });
      const stats = await statsTensor.data();
      statsTensor.dispose();
      lossSum += stats[0] * idx.length;
      ceSum += stats[1] * idx.length;
      correct += stats[2];
      Array.from(stats.subarray(3)).forEach((h, i) => (hahSum[i] += h * idx.length));
    }
    const seconds = (Date.now() - t0) / 1000;
    elapsed += seconds;
    const report: EpochReport = {
      epoch: epoch + 1,
      epochs,
      loss: lossSum / trainCount,
      crossEntropy: ceSum / trainCount,
      hah: hahSum.map((h) => h / trainCount),
      trainAccuracy: correct / trainCount,
      learningRate: lr,
      seconds,
      secondsLeft: ((Date.now() - runStart) / 1000 / (epoch + 1 - startEpoch)) * (epochs - epoch - 1),
    };
    await saveCheckpoint(ckptDir, model, optimizer, {
      epoch: epoch + 1,
      model: opts.model,
      dataset: opts.dataset,
      architecture: arch,
      seed,
      epochs,
      batch,
      lr: baseLr,
      trainSamples: trainCount,
      rng: 'scalarRng(seed, shuffle/<epoch>) and scalarRng(seed, augment/<epoch>)',
      elapsedSeconds: elapsed,
    });
    log(
      `epoch ${epoch + 1}/${epochs}  loss ${report.loss.toFixed(4)}  ce ${report.crossEntropy.toFixed(4)}` +
        (report.hah.length > 0 ? `  hah ${report.hah.map((h) => h.toFixed(3)).join(',')}` : '') +
        `  train acc ${(100 * report.trainAccuracy).toFixed(2)}%  lr ${lr.toExponential(0)}  ${seconds.toFixed(0)}s/epoch  ~${fmtTime(report.secondsLeft)} left`,
    );
    opts.onEpoch?.(report);
  }

  const testAccuracy = await evaluate(model, data.test, testCount);
  log(`test accuracy ${(100 * testAccuracy).toFixed(2)}% on ${testCount} ${plugin.id} test images`);
  const weightsSha256 = await saveLayersModelTo(model, out);
  const manifest: TrainManifest = {
    model: opts.model,
    dataset: plugin.id,
    architecture: arch,
    command: opts.command ?? `robench train --model ${opts.model} --dataset ${opts.dataset} --epochs ${epochs} --batch ${batch} --seed ${seed}`,
    seed,
    epochs,
    batch,
    learningRate: baseLr,
    schedule: describeSchedule(hyper.drops),
    augmentation: describeAugment(aug),
    trainSamples: trainCount,
    backend: tf.getBackend(),
    tfjsVersion: tf.version.tfjs,
    wallSeconds: Math.round(elapsed),
    testAccuracy,
    testSamples: testCount,
    hahLambda: arch.hah.alphas.length > 0 ? arch.hah.lambda : null,
    hahAlphas: arch.hah.alphas,
    weightsSha256,
    trainedAt: new Date().toISOString(),
  };
  await writeFileAtomic(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await removeCheckpoint(ckptDir);
  optimizer.dispose();
  model.dispose();
  return { testAccuracy, testSamples: testCount, dir: out, epochs, wallSeconds: elapsed, weightsSha256, manifest };
}
