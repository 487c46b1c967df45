/**
 * Tiny deterministic models and batches for tests: a linear model whose optimal
 * attacks are known in closed form, a small random ReLU network, batches the
 * models classify correctly by construction, and an attack context around them.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttackContext, AttackPlugin, ImageShape, Params } from '../../src/plugin-api.js';
import { makeAttackContext, type EvaluationCounters } from '../../src/attack-context.js';
import { sampleRng, scalarRng } from '../../src/rng.js';

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
