/**
 * Training of the EKDAA zoo entries and their backprop twin: the same network,
 * optimiser (SGD lr 1e-3, momentum 0.85, batch 50, constant rate, no augmentation:
 * the release's) and epochs, differing only in the learning rule. A checkpoint after
 * every epoch (resumable, bit-identical) and a test evaluation after every epoch, as the
 * release prints one: the manifest holds the whole curve, its best epoch and the last
 * epoch's accuracy, which is the one the shipped (last-epoch) weights score.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildLayersModel, convSpecs, ekdaaArchitecture, ekdaaLayout, forward, initParams, LAYOUT_NAMES, type Activation, type LayoutName, type EkdaaArchitecture, type EkdaaParams } from '../../models/ekdaa-net.js';
import { writeFileAtomic } from '../runtime/atomic.js';
import { findCheckpoint, readCheckpointState, removeCheckpoint, writeCheckpoint } from './checkpoint.js';
import { EKDAA_HYPER, ekdaaUpdate, initErrorKernels, MomentumSGD, type ErrorKernels } from './ekdaa.js';
import { UsageError } from '../core/errors.js';
import { saveLayersModelTo } from '../runtime/model-io.js';
import { createRegistry } from '../core/registry.js';
import type { ImageShape } from '../core/plugin-api.js';
import { scalarRng } from '../core/rng.js';
import type { TrainOptions } from './train.js';
import { permutation } from './batches.js';
import { evaluate } from './test-accuracy.js';
import { runOutcome, writeManifest, type TrainingManifest } from './manifest.js';
import { lockOutDir, prepareOutDir, type OutDirLock } from '../runtime/out-dir.js';

/**
 * lr: the release's 1e-3 for all three. The EKDAA pair run the release's forward
 * (releaseForward: conv pre-activations carried forward, f first applied at fc1), so
 * the sign net's only sign in the forward pass is fc1's, as in the release. robench's
 * earlier sign-after-every-layer variant diverged at 1e-3 (it shipped trained at 3e-5)
 * and is dropped: it was not the release's network. The twin keeps tanh after every
 * conv, true backprop through the network as the paper describes it.
 */
export const EKDAA_MODELS: Record<string, { rule: 'ekdaa' | 'backprop'; activation: Activation; lr: number; releaseForward: boolean }> = {
  ekdaa: { rule: 'ekdaa', activation: 'tanh', lr: 1e-3, releaseForward: true },
  'ekdaa-sign': { rule: 'ekdaa', activation: 'sign', lr: 1e-3, releaseForward: true },
  'ekdaa-backprop': { rule: 'backprop', activation: 'tanh', lr: 1e-3, releaseForward: false },
};

/** The zoo id that `--model m --activation a` trains. */
export function ekdaaModelId(model: string, activation: string | undefined): string {
  const kind = EKDAA_MODELS[model];
  if (kind === undefined) {
    if (activation === undefined) return model;
    throw new UsageError(`--activation applies to the EKDAA models only, not '${model}'`, 'drop --activation, or use --model ekdaa');
  }
  if (activation === undefined || activation === kind.activation) return model;
  if (activation !== 'tanh' && activation !== 'sign') throw new UsageError(`--activation must be tanh or sign, got '${activation}'`, 'pass --activation tanh or --activation sign');
  if (kind.rule === 'backprop') {
    throw new UsageError('the backprop twin trains with tanh only: sign has no derivative to backpropagate', 'drop --activation, or train --model ekdaa --activation sign');
  }
  return activation === 'sign' ? 'ekdaa-sign' : 'ekdaa';
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
  rule: 'ekdaa' | 'backprop';
  architecture: EkdaaArchitecture & { convs: ReturnType<typeof convSpecs>; input: string };
  ekdaa: { beta: number; gamma: number } | null;
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
function stateTensors(p: EkdaaParams, e: ErrorKernels | null, opt: MomentumSGD): { name: string; tensor: tf.Variable }[] {
  return [
    ...p.convs.map((t, i) => ({ name: `conv${i}`, tensor: t })),
    ...p.fcs.map((t, i) => ({ name: `fc${i}`, tensor: t })),
    ...(e ? [...e.convs.map((t, i) => ({ name: `Econv${i}`, tensor: t })), ...e.fcs.map((t, i) => ({ name: `Efc${i}`, tensor: t }))] : []),
    ...opt.velocities.map((t, i) => ({ name: `velocity${i}`, tensor: t })),
  ];
}

async function saveCheckpoint(dir: string, named: { name: string; tensor: tf.Variable }[], state: State): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(named);
  await writeCheckpoint(dir, state, async (folder) => {
    await writeFileAtomic(join(folder, 'state.bin'), new Uint8Array(data as ArrayBuffer));
    await writeFileAtomic(join(folder, 'state-weights.json'), JSON.stringify(specs));
  });
}

/** Loads the tensors of the (checked) checkpoint set in `dir`. */
async function loadCheckpoint(dir: string, named: { name: string; tensor: tf.Variable }[]): Promise<void> {
  const specs = JSON.parse(await readFile(join(dir, 'state-weights.json'), 'utf8')) as tf.io.WeightsManifestEntry[];
  const bin = await readFile(join(dir, 'state.bin'));
  const tensors = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, specs);
  for (const { name, tensor } of named) {
    const saved = tensors[name];
    if (saved === undefined || saved.shape.join() !== tensor.shape.join()) {
      throw new UsageError(`the checkpoint in ${dir} does not fit this network (${name})`, 'drop --resume to start afresh');
    }
    tensor.assign(saved);
  }
  tf.dispose(Object.values(tensors));
}

/** Trains ekdaa, ekdaa-sign or ekdaa-backprop and writes model.json, weights.bin and manifest.json. */
export async function trainEkdaa(opts: EkdaaTrainOptions): Promise<{ testAccuracy: number; testSamples: number; dir: string; epochs: number; wallSeconds: number; weightsSha256: string; manifest: EkdaaManifest }> {
  const kind = EKDAA_MODELS[opts.model];
  if (kind === undefined) throw new UsageError(`'${opts.model}' is not an EKDAA model`, `use --model ${Object.keys(EKDAA_MODELS).join('|')}`);
  const releaseForward = kind.releaseForward || opts.releaseForward === true;
  const seed = opts.seed ?? 0;
  const batch = opts.batch ?? 50;
  const lr = opts.lr ?? kind.lr;
  const momentum = opts.momentum ?? 0.85;
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch must be a positive integer, got ${batch}`, 'pass e.g. --batch 50');
  if (!(lr > 0)) throw new UsageError(`the learning rate must be positive, got ${lr}`, 'pass e.g. --lr 0.001');
  if (opts.epochs !== undefined && (!Number.isInteger(opts.epochs) || opts.epochs < 1)) throw new UsageError(`--epochs must be a positive integer, got ${opts.epochs}`, 'pass e.g. --epochs 6');
  checkLayoutName(opts.layoutName);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const suffix = `${releaseForward && !kind.releaseForward ? '-release' : ''}${opts.layoutName !== undefined && opts.layoutName !== 'compact' ? `-${opts.layoutName}-net` : ''}`;
  const out = opts.out ?? join('robench-train', `${opts.model}${suffix}-${opts.dataset}`);
  const ckptDir = join(out, 'checkpoint');

  const data =
    opts.data ??
    (await (async () => {
      const plugin = (await createRegistry()).get('dataset', opts.dataset);
      return { plugin, train: await plugin.load({ split: 'train', samples: opts.samples, dataDir: opts.dataDir }), test: await plugin.load({ split: 'test', dataDir: opts.dataDir }) };
    })());
  const { plugin } = data;
  const shape = plugin.imageShape;
  const classes = plugin.classNames.length;
  const trainCount = Math.min(opts.samples ?? data.train.count, data.train.count);
  const testCount = Math.min(opts.testSamples ?? data.test.count, data.test.count);
  const epochs = opts.epochs ?? DEFAULT_EPOCHS;

  const arch = ekdaaArchitecture(shape, kind.activation, releaseForward, opts.layout ?? ekdaaLayout(shape, opts.layoutName));
  const params = initParams(arch, shape, classes, scalarRng(seed, `init/${opts.model}`));
  const kernels = kind.rule === 'ekdaa' ? initErrorKernels(params) : null;
  const weights = [...params.convs, ...params.fcs];
  const opt = new MomentumSGD(kernels ? [...weights, ...kernels.convs, ...kernels.fcs] : weights, lr, momentum);
  const named = stateTensors(params, kernels, opt);
  const disposeAll = (): void => {
    tf.dispose([...weights, ...(kernels ? [...kernels.convs, ...kernels.fcs] : [])]);
    opt.dispose();
  };

  let startEpoch = 0;
  let elapsed = 0;
  let curve: EpochRecord[] = [];
  /** Test accuracy of the current weights through the shippable model, the path robench evaluates. */
  const testNow = async (): Promise<number> => {
    const m = buildLayersModel(arch, shape, classes, params, opts.model);
    try {
      return await evaluate(m, data.test, testCount);
    } finally {
      m.dispose();
    }
  };
  // One training per folder: a second one would overwrite this one's checkpoints and weights.
  let lock: OutDirLock;
  try {
    await prepareOutDir(out);
    lock = lockOutDir(out, { command: `train --model ${opts.model} --dataset ${opts.dataset} --out ${out}` });
  } catch (err) {
    disposeAll();
    throw err;
  }
  try {
    const found = findCheckpoint(ckptDir);
    if (opts.resume && found !== null) {
      // Not epochs: the rate is constant, so a run may be resumed to stop sooner or go on longer.
      const settings = { seed, batch, trainSamples: trainCount, lr };
      const state = await readCheckpointState<State>(found, { model: opts.model, dataset: opts.dataset, architecture: arch }, settings);
      if (state.epoch > epochs) throw new UsageError(`the checkpoint in ${found} is after epoch ${state.epoch}, past --epochs ${epochs}`, `resume with --epochs ${state.epoch} or more, or drop --resume to start afresh`);
      await loadCheckpoint(found, named);
      startEpoch = state.epoch;
      elapsed = state.elapsedSeconds;
      curve = state.curve ?? [];
      log(`resuming ${opts.model} on ${plugin.id} after epoch ${startEpoch}/${epochs}`);
    } else if (opts.resume) {
      log(`no checkpoint in ${ckptDir}; starting from scratch`);
    }

    const per = shape[0] * shape[1] * shape[2];
    const steps = Math.ceil(trainCount / batch);
    const runStart = Date.now();
    for (let epoch = startEpoch; epoch < epochs; epoch++) {
      const t0 = Date.now();
      const order = permutation(trainCount, scalarRng(seed, `shuffle/${epoch}`));
      let lossSum = 0;
      let correct = 0;
      for (let s = 0; s < steps; s++) {
        const idx = order.subarray(s * batch, Math.min((s + 1) * batch, trainCount));
        const xs = new Float32Array(idx.length * per);
        idx.forEach((i, b) => xs.set(data.train.images.subarray(i * per, (i + 1) * per), b * per));
        const ys = Int32Array.from(idx, (i) => data.train.labels[i]);
        const stats = tf.tidy(() => {
          const x = tf.tensor4d(xs, [idx.length, ...shape]);
          const y = tf.tensor1d(ys, 'int32');
          // Loss and hits of the logits the step started from.
          const summary = (logits: tf.Tensor2D): tf.Tensor =>
            tf.stack([tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), logits), tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'))]);
          if (kernels) {
            const u = ekdaaUpdate(arch, params, kernels, x, y, EKDAA_HYPER);
            opt.apply([...u.dConvs, ...u.dFcs, ...u.dEConvs, ...u.dEFcs]);
            return summary(u.logits);
          }
          let kept: tf.Tensor | null = null;
          // Summed over the batch, as the release's fc updates (z^T e) and EKDAA's are: the same lr means the same step.
          const { grads } = tf.variableGrads(() => {
            const logits = forward(arch, params, x).logits;
            kept = tf.keep(summary(logits));
            return tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), logits, undefined, undefined, tf.Reduction.SUM) as tf.Scalar;
          }, weights);
          opt.apply(weights.map((w) => grads[w.name]));
          return kept as unknown as tf.Tensor;
        });
        const v = await stats.data();
        stats.dispose();
        if (!Number.isFinite(v[0])) throw new Error(`${opts.model}: the loss became ${v[0]} at epoch ${epoch + 1}, step ${s + 1}`);
        lossSum += v[0] * idx.length;
        correct += v[1];
      }
      const seconds = (Date.now() - t0) / 1000;
      elapsed += seconds;
      const record: EpochRecord = { epoch: epoch + 1, trainLoss: lossSum / trainCount, trainAccuracy: correct / trainCount, testAccuracy: await testNow(), seconds };
      curve.push(record);
      await saveCheckpoint(ckptDir, named, { epoch: epoch + 1, model: opts.model, dataset: opts.dataset, architecture: arch, seed, epochs, batch, lr, trainSamples: trainCount, releaseForward, elapsedSeconds: elapsed, curve });
      const left = ((Date.now() - runStart) / 1000 / (epoch + 1 - startEpoch)) * (epochs - epoch - 1);
      log(
        `epoch ${epoch + 1}/${epochs}  loss ${record.trainLoss.toFixed(4)}  train acc ${(100 * record.trainAccuracy).toFixed(2)}%  ` +
          `test acc ${(100 * record.testAccuracy).toFixed(2)}%  ${seconds.toFixed(0)}s/epoch  ~${Math.round(left)}s left`,
      );
      opts.onEpoch?.({ ...record, epochs, loss: record.trainLoss });
    }

    const model = buildLayersModel(arch, shape, classes, params, opts.model);
    try {
      // The last epoch's evaluation when it ran in this process or a resumed one; evaluated afresh otherwise (resumed at the end).
      const last = curve.find((r) => r.epoch === epochs);
      const testAccuracy = last?.testAccuracy ?? (await evaluate(model, data.test, testCount));
      const best = curve.reduce<EpochRecord | undefined>((b, r) => (b === undefined || r.testAccuracy > b.testAccuracy ? r : b), undefined) ?? { epoch: epochs, testAccuracy };
      log(`test accuracy ${(100 * testAccuracy).toFixed(2)}% on ${testCount} ${plugin.id} test images`);
      const weightsSha256 = await saveLayersModelTo(model, out);
      const manifest: EkdaaManifest = {
        model: opts.model,
        dataset: plugin.id,
        rule: kind.rule,
        architecture: { ...arch, convs: convSpecs(arch, shape), input: 'x - 0.5 on [0,1] pixels (the release), inside the model' },
        ekdaa: kernels ? { ...EKDAA_HYPER } : null,
        command: opts.command ?? `robench train --model ${opts.model} --dataset ${opts.dataset} --epochs ${epochs} --batch ${batch} --seed ${seed}${releaseForward && !kind.releaseForward ? ' --release-forward' : ''}${opts.layoutName !== undefined ? ` --layout ${opts.layoutName}` : ''}`,
        seed,
        epochs,
        batch,
        learningRate: lr,
        momentum,
        schedule: 'constant',
        augmentation: 'none',
        trainSamples: trainCount,
        ...runOutcome({ wallSeconds: elapsed, testAccuracy, testSamples: testCount, weightsSha256 }),
        epochCurve: curve,
        bestEpoch: { epoch: best.epoch, testAccuracy: best.testAccuracy },
        shippedEpoch: epochs,
      };
      await writeManifest(out, manifest);
      await removeCheckpoint(ckptDir);
      return { testAccuracy, testSamples: testCount, dir: out, epochs, wallSeconds: elapsed, weightsSha256, manifest };
    } finally {
      model.dispose();
    }
  } finally {
    disposeAll();
    lock.release();
  }
}
