/**
 * `robench train --model similarity-matching`: the local learning rules of structured deep
 * similarity matching (Obeid, Ramambason & Pehlevan 2019), then a linear readout of the top
 * layer's fixed point. No backprop reaches the network's weights.
 *
 * The authors present one image at a time: at its fixed point r*,
 *   W_p += eta (r_p r_{p-1}^T - W_p)                      (on the connection mask),
 *   L_p += (eta / 2) (r_p r_p^T - L_p / (1 + gamma))      (hidden layers; the top omits 1 + gamma),
 * eta_t = max(5e-3 / (1 + 0.5 t), 1e-4), t counting chunks of 1,000 images drawn with
 * replacement, 120 chunks. Here a batch of images relaxes together and the update uses the
 * batch's mean correlations with the rate 1 - (1 - a)^b, the weight a batch of b one-image
 * steps of decay rate a gives the old weights, so chunks decay the weights as the authors' do.
 * The readout is a softmax regression (the authors fit a linear SVM), trained with Adam on
 * the fixed points of the training images. The chunks run on the one training loop (loop.ts), as
 * the other trainers' epochs do: checkpoints after each, resume, progress and the manifest's outcome.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  centreImages,
  gatherSites,
  imageRows,
  initSmParams,
  relax,
  rowsToImage,
  smArchitecture,
  smGeometry,
  weightMask,
  type SmArchitecture,
  type SmParams,
} from '../nets/similarity-matching.js';
import { SimilarityMatching } from '../layers/similarity-matching.js';
import { writeFileAtomic } from '../runtime/atomic.js';
import { batchTensors } from '../core/engine.js';
import { UsageError } from '../core/errors.js';
import type { DatasetPlugin, DatasetSplit } from '../core/plugin-api.js';
import { scalarRng } from '../core/rng.js';
import { learningRateAt } from './schedule.js';
import { permutation } from './batches.js';
import { evaluate } from './test-accuracy.js';
import { runOutcome, type TrainingManifest } from './manifest.js';
import { runTraining, START, type Finished, type Position, type RunResult, type Trainer } from './loop.js';
import type { StepReport } from './loop-progress.js';
import { loadTensors, saveTensors, type NamedTensor } from './tensor-checkpoint.js';
import { trainedBy, trainingOf, type Trainable } from './trainable.js';
import { loadTrainingData, type TrainingData } from './training-data.js';

export const SM_SCHEDULE = { lr: 5e-3, decay: 0.5, floor: 1e-4, chunks: 120, chunkSize: 1000 };
export const smLearningRate = (t: number): number => Math.max(SM_SCHEDULE.lr / (1 + SM_SCHEDULE.decay * t), SM_SCHEDULE.floor);

/** MNIST test error (%) of the poster's Table, by neurons per site (one layer, R 4, stride 2). */
export const POSTER_TEST_ERROR: Record<number, number> = { 4: 3.87, 8: 2.41, 16: 1.73, 32: 1.6, 64: 1.47, 100: 1.4 };

/** The poster's neurons per site: its model is the one a new width derives from. */
const AUTHORS_NEURONS = 4;

/**
 * The id `--model m --neurons-per-site n` trains: the similarity-matching model of n neurons per
 * site, else a new one, `<m>-<n>`, widening the authors' model m.
 */
export function smModelId(model: string, neuronsPerSite: number | undefined, trainable: Trainable): string {
  const models = trainedBy(trainable, 'similarity-matching');
  const declared = trainingOf(trainable, model, 'similarity-matching');
  if (declared === undefined) throw new UsageError(`'${model}' is not a similarity-matching model`, `use --model ${models.map(([id]) => id).join('|')}`);
  if (neuronsPerSite === undefined || neuronsPerSite === declared.neuronsPerSite) return model;
  const other = models.find(([, t]) => t.neuronsPerSite === neuronsPerSite);
  if (other !== undefined) return other[0];
  if (declared.neuronsPerSite !== AUTHORS_NEURONS) {
    const authors = models.filter(([, t]) => t.neuronsPerSite === AUTHORS_NEURONS).map(([id]) => id).join('|');
    throw new UsageError(`${model} has ${declared.neuronsPerSite} neurons per site, not ${neuronsPerSite}`, `use --model ${authors} --neurons-per-site ${neuronsPerSite}`);
  }
  return `${model}-${neuronsPerSite}`;
}

export interface SmTrainOptions {
  model: string;
  dataset: string;
  neuronsPerSite?: number;
  layers?: number;
  gamma?: number;
  seed?: number;
  /** Images relaxing together. */
  batch?: number;
  /** Chunks of 1,000 images (the authors' 120). */
  chunks?: number;
  chunkSize?: number;
  readoutEpochs?: number;
  out?: string;
  resume?: boolean;
  dataDir?: string;
  /** Draw training images from the first `samples` only. */
  samples?: number;
  testSamples?: number;
  log?: (line: string) => void;
  /** Progress within a chunk on stderr (default true). */
  progress?: boolean;
  onStep?: (report: StepReport) => void | Promise<void>;
  /** Called after each chunk's checkpoint, with the chunks done. */
  onChunk?: (chunksDone: number) => void;
  command?: string;
  data?: { plugin: Pick<DatasetPlugin, 'id' | 'imageShape' | 'classNames'>; train: DatasetSplit; test: DatasetSplit };
}

export interface SmManifest extends TrainingManifest {
  rule: string;
  architecture: SmArchitecture;
  gradient: string;
  chunks: number;
  chunkSize: number;
  meanSteps: number;
  convergedFraction: number;
  readout: { kind: string; epochs: number; batch: number; learningRate: number; trainAccuracy: number };
  testError: number;
  posterTestError: number | null;
}

interface State {
  chunk: number;
  model: string;
  dataset: string;
  architecture: SmArchitecture;
  seed: number;
  batch: number;
  chunks: number;
  chunkSize: number;
  trainSamples: number;
  elapsedSeconds: number;
  steps: number;
  solved: number;
  converged: number;
}

/** A standard normal stream (Box-Muller) over a seeded uniform one. */
function normalStream(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Input rows [pixels, b, c] of the centred images at `positions`. */
const centredRows = (split: DatasetSplit, positions: ArrayLike<number>): tf.Tensor3D =>
  tf.tidy(() => imageRows(centreImages(batchTensors(split, Array.from(positions)).x)));

/** One batch's mean of a^T b per site: [sites, n, m] from [sites, b, n] and [sites, b, m]. */
const meanOuter = (a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D => tf.div(tf.matMul(a, b, true, false), a.shape[1]);

/** The batched local rules at the fixed point r of input rows x0; returns the new params. */
export function hebbianUpdate(arch: SmArchitecture, p: SmParams, x0: tf.Tensor3D, r: tf.Tensor3D[], eta: number): SmParams {
  const geo = smGeometry(arch);
  const b = x0.shape[1];
  const rate = (a: number): number => 1 - (1 - a) ** b;
  return tf.tidy(() => {
    const W = geo.map((g, i) => {
      const input = i === 0 ? x0 : r[i - 1];
      const target = tf.mul(meanOuter(gatherSites(input, g), r[i]), weightMask(g));
      return tf.keep(tf.add(p.W[i], tf.mul(rate(eta), tf.sub(target, p.W[i]))) as tf.Tensor3D);
    });
    const L = geo.map((_, i) => {
      const top = i === geo.length - 1;
      const c = meanOuter(r[i], r[i]);
      // Equal in exact arithmetic; averaging the two halves keeps L exactly symmetric in float32.
      const sym = tf.div(tf.add(c, tf.transpose(c, [0, 2, 1])), 2);
      const a = top ? eta / 2 : eta / (2 * (1 + arch.gamma));
      const target = top ? sym : tf.mul(sym, 1 + arch.gamma);
      return tf.keep(tf.add(p.L[i], tf.mul(rate(a), tf.sub(target, p.L[i]))) as tf.Tensor3D);
    });
    return { W, L };
  });
}

/** Images per saved block of fixed points: a crash while they are computed loses one block. */
const FEATURE_BLOCK = 5000;

/**
 * Top-layer fixed points [count, features] of a split's first `count` images, in batches. Each
 * block of FEATURE_BLOCK images is saved under `cacheDir` as it finishes, and a saved block is
 * read back instead of solved again: the cache belongs to the final weights' checkpoint.
 */
async function fixedPoints(arch: SmArchitecture, p: SmParams, split: DatasetSplit, count: number, batch: number, cacheDir: string, log: (l: string) => void): Promise<Float32Array> {
  const top = smGeometry(arch).at(-1)!;
  const features = top.sites * top.nps;
  const out = new Float32Array(count * features);
  const t0 = Date.now();
  let lastLog = t0;
  let solved = 0;
  for (let block = 0; block * FEATURE_BLOCK < count; block++) {
    const first = block * FEATURE_BLOCK;
    const end = Math.min(first + FEATURE_BLOCK, count);
    const file = join(cacheDir, `fixed-points-${block}.f32`);
    const saved = existsSync(file) ? await readFile(file) : null;
    if (saved !== null && saved.byteLength === (end - first) * features * 4) {
      out.set(new Float32Array(saved.buffer.slice(saved.byteOffset, saved.byteOffset + saved.byteLength)), first * features);
      continue;
    }
    for (let start = first; start < end; start += batch) {
      const n = Math.min(batch, end - start);
      const idx = Array.from({ length: n }, (_, i) => start + i);
      const x0 = centredRows(split, idx);
      const fp = relax(arch, p, x0);
      const flat = tf.tidy(() => tf.reshape(rowsToImage(fp.r.at(-1)!, top.outSide), [n, features]));
      out.set(await flat.data(), start * features);
      tf.dispose([x0, flat, ...fp.r]);
      solved += n;
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        const rate = solved / ((lastLog - t0) / 1000);
        log(`  fixed points of the training images ${start + n}/${count}  ${rate.toFixed(1)} images/s`);
      }
    }
    await mkdir(cacheDir, { recursive: true });
    await writeFileAtomic(file, new Uint8Array(out.buffer, first * features * 4, (end - first) * features * 4));
  }
  return out;
}

/** The shipped model: the dynamics, then a linear readout of the top layer's fixed point. */
export function buildSmModel(arch: SmArchitecture, params: SmParams, readout: { kernel: tf.Tensor2D; bias: tf.Tensor1D }, name: string): tf.LayersModel {
  const input = tf.input({ shape: [arch.inputSide, arch.inputSide, arch.channels] });
  const sm = new SimilarityMatching({ arch, name: 'block1_out' });
  const features = sm.apply(input) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: readout.kernel.shape[1], name: 'readout' });
  const logits = dense.apply(tf.layers.flatten().apply(features)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits, name });
  sm.setWeights(params.W.flatMap((w, i) => [w, params.L[i]]));
  dense.setWeights([readout.kernel, readout.bias]);
  return model;
}

const READOUT_LR = 1e-2;

/** Softmax regression on the fixed points: the readout's kernel and bias. */
async function trainReadout(
  features: Float32Array,
  labels: Int32Array,
  dims: number,
  classes: number,
  opts: { epochs: number; batch: number; lr: number; seed: number },
): Promise<{ kernel: tf.Tensor2D; bias: tf.Tensor1D; trainAccuracy: number }> {
  const count = labels.length;
  // In a tidy: tf.variable shares its initial value's data, and the zeros tensor would outlive the run.
  const kernel = tf.tidy(() => tf.variable(tf.zeros([dims, classes])));
  const bias = tf.tidy(() => tf.variable(tf.zeros([classes])));
  const optimizer = tf.train.adam(opts.lr);
  let correct = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    // A convex problem: a large rate then tenfold drops at 50% and 75% reach its optimum, as the authors' converged SVM does.
    (optimizer as unknown as { learningRate: number }).learningRate = learningRateAt(opts.lr, epoch, opts.epochs);
    const order = permutation(count, scalarRng(opts.seed, `readout/${epoch}`));
    correct = 0;
    for (let s = 0; s < count; s += opts.batch) {
      const idx = order.subarray(s, Math.min(s + opts.batch, count));
      const xs = new Float32Array(idx.length * dims);
      idx.forEach((i, b) => xs.set(features.subarray(i * dims, (i + 1) * dims), b * dims));
      const hits = tf.tidy(() => {
        const x = tf.tensor2d(xs, [idx.length, dims]);
        const y = tf.tensor1d(Int32Array.from(idx, (i) => labels[i]), 'int32');
        let kept: tf.Tensor | null = null;
        optimizer.minimize(() => {
          const logits = tf.add(tf.matMul(x, kernel), bias) as tf.Tensor2D;
          kept = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32')));
          return tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), logits) as tf.Scalar;
        });
        return kept as unknown as tf.Tensor;
      });
      correct += (await hits.data())[0];
      hits.dispose();
    }
  }
  optimizer.dispose();
  const result = { kernel: tf.clone(kernel) as tf.Tensor2D, bias: tf.clone(bias) as tf.Tensor1D, trainAccuracy: correct / count };
  tf.dispose([kernel, bias]);
  return result;
}

const named = (p: SmParams): NamedTensor[] => [...p.W.map((t, i) => ({ name: `W${i + 1}`, tensor: t })), ...p.L.map((t, i) => ({ name: `L${i + 1}`, tensor: t }))];

/** The settings of a run, its options resolved. */
interface SmRun {
  model: string;
  seed: number;
  batch: number;
  chunks: number;
  chunkSize: number;
  readoutEpochs: number;
  trainCount: number;
  testCount: number;
  command?: string;
}

/** Chunks of images drawn with replacement, each relaxing batch by batch to its fixed point and updating by the local rules, then the readout. */
class SmTrainer implements Trainer<State, SmManifest> {
  readonly unitName = 'chunk';
  readonly resumesMidUnit = false;
  readonly identity: { model: string; dataset: string; architecture: SmArchitecture };
  readonly settings: Record<string, unknown>;
  readonly units: number;
  readonly steps: number;
  private params: SmParams;
  /** Fixed-point solver counts over the run, for the manifest. */
  private counts = { steps: 0, solved: 0, converged: 0 };
  private chunk = { eta: 0, drawn: new Int32Array(0), steps: 0, converged: 0 };

  constructor(
    private readonly run: SmRun,
    private readonly arch: SmArchitecture,
    private readonly data: TrainingData,
    private readonly ckptDir: string,
    private readonly log: (line: string) => void,
    private readonly onChunk: SmTrainOptions['onChunk'],
  ) {
    this.identity = { model: run.model, dataset: data.plugin.id, architecture: arch };
    this.settings = { seed: run.seed, batch: run.batch, chunks: run.chunks, chunkSize: run.chunkSize, trainSamples: run.trainCount };
    this.units = run.chunks;
    this.steps = Math.ceil(run.chunkSize / run.batch);
    this.params = initSmParams(arch, normalStream(scalarRng(run.seed, `init/${run.model}`)));
  }

  resume(state: State): { at: Position; line: string } {
    this.counts = { steps: state.steps, solved: state.solved, converged: state.converged };
    return { at: { ...START, unit: state.chunk, elapsedSeconds: state.elapsedSeconds }, line: `resuming ${this.run.model} on ${this.data.plugin.id} after chunk ${state.chunk}/${this.units}` };
  }

  async load(folder: string): Promise<void> {
    const saved = (await loadTensors(folder, named(this.params))) as tf.Tensor3D[];
    tf.dispose([...this.params.W, ...this.params.L]);
    const layers = this.params.W.length;
    this.params = { W: saved.slice(0, layers), L: saved.slice(layers) };
  }

  save(dir: string, at: Position): Promise<void> {
    const { model, seed, batch, chunks, chunkSize, trainCount } = this.run;
    const state: State = { chunk: at.unit, model, dataset: this.data.plugin.id, architecture: this.arch, seed, batch, chunks, chunkSize, trainSamples: trainCount, elapsedSeconds: at.elapsedSeconds, ...this.counts };
    return saveTensors(dir, named(this.params), state);
  }

  async beginUnit(t: number): Promise<void> {
    const rand = scalarRng(this.run.seed, `chunk/${t}`);
    const drawn = Int32Array.from({ length: this.run.chunkSize }, () => Math.floor(rand() * this.run.trainCount));
    this.chunk = { eta: smLearningRate(t), drawn, steps: 0, converged: 0 };
  }

  async step(_t: number, s: number): Promise<number> {
    const { batch, chunkSize } = this.run;
    const idx = this.chunk.drawn.subarray(s * batch, Math.min((s + 1) * batch, chunkSize));
    const x0 = centredRows(this.data.train, idx);
    const fp = relax(this.arch, this.params, x0);
    const next = hebbianUpdate(this.arch, this.params, x0, fp.r, this.chunk.eta);
    tf.dispose([x0, ...fp.r, ...this.params.W, ...this.params.L]);
    this.params = next;
    this.chunk.steps += fp.steps.reduce((a, v) => a + v, 0);
    this.chunk.converged += fp.converged.reduce((a, v) => a + v, 0);
    return idx.length;
  }

  async endUnit(): Promise<string> {
    const { chunkSize } = this.run;
    const { eta, steps, converged } = this.chunk;
    this.counts = { steps: this.counts.steps + steps, solved: this.counts.solved + chunkSize, converged: this.counts.converged + converged };
    return `eta ${eta.toExponential(2)}  mean steps ${(steps / chunkSize).toFixed(0)}  settled ${((100 * converged) / chunkSize).toFixed(1)}%`;
  }

  afterUnit(t: number): void {
    this.onChunk?.(t + 1);
  }

  async finish(): Promise<Finished<SmManifest>> {
    const { arch, params, data, run } = this;
    const top = smGeometry(arch).at(-1)!;
    const trainFeatures = await fixedPoints(arch, params, data.train, run.trainCount, run.batch, join(this.ckptDir, 'fixed-points'), this.log);
    const readoutOpts = { epochs: run.readoutEpochs, batch: 256, lr: READOUT_LR, seed: run.seed };
    const readout = await trainReadout(trainFeatures, data.train.labels.subarray(0, run.trainCount), top.sites * top.nps, data.plugin.classNames.length, readoutOpts);
    this.log(`readout: train accuracy ${(100 * readout.trainAccuracy).toFixed(2)}% after ${run.readoutEpochs} epochs`);
    const model = buildSmModel(arch, params, readout, run.model);
    tf.dispose([readout.kernel, readout.bias]);
    try {
      // The shipped model itself, not the features: what robench evaluates is what is scored.
      const testAccuracy = await evaluate(model, data.test, run.testCount, run.batch);
      return { model, testAccuracy, testSamples: run.testCount, dataset: data.plugin.id, keepCheckpoint: false, manifest: (outcome) => this.manifest(outcome, readout.trainAccuracy) };
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  private manifest(outcome: Parameters<Finished<SmManifest>['manifest']>[0], readoutAccuracy: number): SmManifest {
    const { arch, run, counts } = this;
    const id = this.data.plugin.id;
    const nps = arch.layers.map((l) => l.neuronsPerSite);
    return {
      model: run.model,
      dataset: id,
      rule: 'Hebbian feedforward, anti-Hebbian lateral (structured deep similarity matching), batched as the module comment says',
      architecture: arch,
      gradient: 'implicit: the adjoint of the dynamics at the fixed point',
      command: run.command ?? `robench train --model ${run.model} --dataset ${id} --neurons-per-site ${nps[0]} --layers ${nps.length} --seed ${run.seed}`,
      seed: run.seed,
      batch: run.batch,
      chunks: run.chunks,
      chunkSize: run.chunkSize,
      schedule: `eta_t = max(${SM_SCHEDULE.lr} / (1 + ${SM_SCHEDULE.decay} t), ${SM_SCHEDULE.floor}), t the chunk; chunks drawn with replacement`,
      meanSteps: counts.steps / Math.max(counts.solved, 1),
      convergedFraction: counts.converged / Math.max(counts.solved, 1),
      readout: { kind: 'softmax regression (Adam, x0.1 at 50% and 75% of the epochs) on the top layer fixed points', epochs: run.readoutEpochs, batch: 256, learningRate: READOUT_LR, trainAccuracy: readoutAccuracy },
      trainSamples: run.trainCount,
      testError: 100 * (1 - outcome.testAccuracy),
      posterTestError: arch.layers.length === 1 && id === 'mnist' ? (POSTER_TEST_ERROR[nps[0]!] ?? null) : null,
      ...runOutcome(outcome),
    };
  }

  async dispose(): Promise<void> {
    tf.dispose([...this.params.W, ...this.params.L]);
  }
}

/** The run's settings from its options, checked before any data loads. */
function smRun(opts: SmTrainOptions): Omit<SmRun, 'trainCount' | 'testCount'> {
  const run = { model: opts.model, seed: opts.seed ?? 0, batch: opts.batch ?? 100, chunks: opts.chunks ?? SM_SCHEDULE.chunks, chunkSize: opts.chunkSize ?? SM_SCHEDULE.chunkSize, readoutEpochs: opts.readoutEpochs ?? 40, command: opts.command };
  for (const [flag, v] of [['--batch', run.batch], ['--chunks', run.chunks], ['--chunk-size', run.chunkSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`${flag} must be a positive integer, got ${v}`, `pass e.g. ${flag} 100`);
  }
  if (opts.gamma !== undefined && !(opts.gamma >= 0 && Number.isFinite(opts.gamma))) throw new UsageError(`--gamma must be a feedback strength of 0 or more, got ${opts.gamma}`, 'pass e.g. --gamma 0.5, or leave it out for 0');
  return run;
}

export async function trainSimilarityMatching(opts: SmTrainOptions): Promise<RunResult<SmManifest>> {
  const settings = smRun(opts);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const data = opts.data ?? (await loadTrainingData(opts));
  const shape = data.plugin.imageShape;
  if (shape[0] !== shape[1]) throw new UsageError(`similarity matching needs square images; ${data.plugin.id} has ${shape[0]}x${shape[1]}`, 'use mnist or fashion-mnist');
  const arch = smArchitecture(shape[0], shape[2], { neuronsPerSite: opts.neuronsPerSite, layers: opts.layers, gamma: opts.gamma });
  const run = { ...settings, trainCount: Math.min(opts.samples ?? data.train.count, data.train.count), testCount: Math.min(opts.testSamples ?? data.test.count, data.test.count) };
  const out = opts.out ?? join('robench-train', `${opts.model}-${data.plugin.id}`);
  const trainer = new SmTrainer(run, arch, data, join(out, 'checkpoint'), log, opts.onChunk);
  return runTraining(trainer, { model: opts.model, dataset: opts.dataset, out, resume: opts.resume, log, progress: opts.progress, onStep: opts.onStep });
}
