/**
 * Tiny deterministic models and batches for tests: a linear model whose optimal
 * attacks are known in closed form, a small random ReLU network, batches the
 * models classify correctly by construction, and an attack context around them.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttackContext, AttackPlugin, DatasetSplit, ImageShape, LoadedModel, Params } from '../../src/core/plugin-api.js';
import { makeAttackContext, type EvaluationCounters } from '../../src/core/attack-context.js';
import { sampleRng, scalarRng } from '../../src/core/rng.js';

export interface TinyModel {
  inputShape: ImageShape;
  numClasses: number;
  logits(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

const size = (shape: ImageShape): number => shape[0] * shape[1] * shape[2];

function seededMatrix(seed: number, label: string, rows: number, cols: number, scale: number): tf.Tensor2D {
  const next = scalarRng(seed, label);
  return tf.tensor2d(Float32Array.from({ length: rows * cols }, () => scale * (2 * next() - 1)), [rows, cols]);
}

/** logits = flatten(x) W + b, with W of shape [pixels, classes]. */
export function linearModel(weights: tf.Tensor2D, bias: tf.Tensor1D, inputShape: ImageShape): TinyModel {
  if (weights.shape[0] !== size(inputShape)) throw new Error('linearModel: weights rows must equal the pixel count');
  return {
    inputShape,
    numClasses: weights.shape[1],
    logits: (x) => tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], -1]), weights), bias)),
    dispose: () => tf.dispose([weights, bias]),
  };
}

/** A linear model with seeded uniform weights in [-scale, scale] and zero bias. */
export function randomLinear(seed: number, inputShape: ImageShape, numClasses: number, scale = 1): TinyModel {
  return linearModel(seededMatrix(seed, 'w', size(inputShape), numClasses, scale), tf.zeros([numClasses]), inputShape);
}

/** Flatten, one hidden ReLU layer, logits; He-scaled seeded weights. */
export function randomMlp(seed: number, inputShape: ImageShape, hidden: number, numClasses: number): TinyModel {
  const d = size(inputShape);
  const w1 = seededMatrix(seed, 'w1', d, hidden, Math.sqrt(6 / d));
  const b1 = seededMatrix(seed, 'b1', 1, hidden, 0.5);
  const w2 = seededMatrix(seed, 'w2', hidden, numClasses, Math.sqrt(6 / hidden));
  return {
    inputShape,
    numClasses,
    logits: (x) =>
      tf.tidy(() => tf.matMul(tf.relu(tf.add(tf.matMul(tf.reshape(x, [x.shape[0], -1]), w1), b1)), w2)),
    dispose: () => tf.dispose([w1, b1, w2]),
  };
}

/**
 * A two-class linear model on 4x4 images, f(x) = k w.(x - 1/2), and images at 1/2 + 0.1 c sign(w)
 * (c in +-[0.5, 1]): every clean logit margin is between about 24 and 48, where softmax(z)_y
 * rounds to 1 in float32 and the cross-entropy gradient is 1e-11 to 1e-21. The optimal l-inf attack
 * lowers the margin by eps k ||w||_1 and the optimal l2 attack by eps k ||w||_2 (both inside [0, 1]
 * here), so the budgets at which each sample must break are known in closed form.
 */
export function confidentLinear() {
  const k = 40;
  const w = Array.from({ length: 16 }, (_, i) => Math.cos(3 * i + 2) - Math.sin(i + 1));
  const W = tf.tensor2d(w.flatMap((wi) => [0, k * wi]), [16, 2]);
  const b = tf.tensor1d([0, (-k * w.reduce((s, v) => s + v, 0)) / 2]);
  const model = linearModel(W, b, [4, 4, 1]);
  const c = Array.from({ length: 24 }, (_, i) => (i % 2 ? 1 : -1) * (0.5 + (0.5 * i) / 23));
  const x = tf.tensor4d(c.flatMap((ci) => w.map((wi) => 0.5 + 0.1 * ci * Math.sign(wi))), [24, 4, 4, 1]);
  const y = tf.tensor1d(c.map((ci) => (ci > 0 ? 1 : 0)), 'int32');
  const l1 = w.reduce((s, v) => s + Math.abs(v), 0);
  const l2 = Math.sqrt(w.reduce((s, v) => s + v * v, 0));
  const margins = c.map((ci) => k * 0.1 * Math.abs(ci) * l1);
  return { model, x, y, k, l1, l2, margins, c };
}

/** Seeded images with pixels uniform in [lo, hi], labelled with the model's own prediction (clean accuracy 1). */
export function selfLabelledBatch(model: TinyModel, n: number, seed: number, lo = 0, hi = 1): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const next = scalarRng(seed, 'images');
  const x = tf.tensor4d(Float32Array.from({ length: n * size(model.inputShape) }, () => lo + (hi - lo) * next()), [n, ...model.inputShape]);
  const y = tf.tidy(() => tf.argMax(model.logits(x), 1) as tf.Tensor1D);
  return { x, y };
}

export function accuracy(model: TinyModel, x: tf.Tensor4D, y: tf.Tensor1D): number {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(model.logits(x), 1), y), 'float32')).dataSync()[0]);
}

/** The attack's declared defaults, overridden by `overrides` (what the engine does with CLI flags). */
export function paramsOf(attack: AttackPlugin<any>, overrides: Params = {}): Params {
  const params: Params = {};
  for (const [name, spec] of Object.entries(attack.params)) params[name] = spec.default;
  return { ...params, ...overrides };
}

export function contextFor(
  model: TinyModel,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  eps: number,
  params: Params,
  seed = 1,
  earlyStop = true,
): { ctx: AttackContext; counters: EvaluationCounters } {
  const counters = { forward: 0, gradient: 0 };
  const indices = Array.from({ length: x.shape[0] }, (_, i) => i);
  const ctx = makeAttackContext({
    logits: (input) => model.logits(input),
    x,
    y,
    eps,
    params,
    rng: sampleRng(seed, indices),
    numClasses: model.numClasses,
    dataset: 'toy',
    counters,
    earlyStop,
  });
  return { ctx, counters };
}

/** Runs an attack and returns its versions of the batch as a list. */
export async function runAttack(attack: AttackPlugin<any>, ctx: AttackContext): Promise<tf.Tensor4D[]> {
  const out = await attack.run(ctx);
  return Array.isArray(out) ? out : [out];
}

/**
 * A fixed linear 3-class classifier on 4x4 images as a LoadedModel, and a dataset for it on
 * which every tenth label is wrong (so some samples fail clean): an engine-level fixture.
 */
export function linearFixture(n = 60): { model: LoadedModel; data: DatasetSplit } {
  const shape: ImageShape = [4, 4, 1];
  const w = tf.tensor2d(Array.from({ length: 16 * 3 }, (_, i) => Math.sin(i * 1.7)), [16, 3]);
  const model: LoadedModel = {
    id: 'linear',
    dataset: 'toy',
    inputShape: shape,
    numClasses: 3,
    weightsSha256: '0',
    logits: (x) => tf.matMul(tf.reshape(x, [x.shape[0], 16]), w),
    dispose: () => w.dispose(),
  };
  const images = new Float32Array(n * 16).map((_, i) => 0.5 + 0.3 * Math.sin(i * 12.9898));
  const labels = tf.tidy(() => tf.argMax(model.logits(tf.tensor4d(images, [n, ...shape])), 1).dataSync());
  const y = Int32Array.from(labels, (l, i) => (i % 10 === 0 ? (l + 1) % 3 : l));
  return { model, data: { images, labels: y, count: n, shape, source: { kind: 'file', path: '-', sha256: '-' } } };
}

/** Random signs of size eps from each budget's own streams: a weak but seeded attack, independent per sample, whose broken samples are not monotone in eps. */
export const randomSignAttack: AttackPlugin = {
  kind: 'attack',
  id: 'random-sign',
  description: 'test attack',
  params: {},
  budget: () => 'linf',
  defaultGrid: () => [0, 0.1],
  async run({ x, eps, rng }) {
    return tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(tf.sign(tf.sub(rng.uniform(x.shape, 0, 1), 0.5)), eps)), 0, 1)) as tf.Tensor4D;
  },
};
