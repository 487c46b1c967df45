import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { makeAttackContext } from '../../src/core/attack-context.js';
import { evaluateCurve } from '../../src/core/engine.js';
import { UsageError } from '../../src/core/errors.js';
import { resolveParams } from '../../src/core/parse.js';
import { createRegistry } from '../../src/core/registry.js';
import { sampleRng, scalarRng } from '../../src/core/rng.js';
import type { DatasetSplit, LoadedModel } from '../../src/core/plugin-api.js';
import { randomLinear, selfLabelledBatch } from '../helpers/tiny-models.js';

import '../helpers/backend.js';

const linear = randomLinear(2, [3, 3, 1], 4);
const { x, y } = selfLabelledBatch(linear, 6, 3);
const FLIP = 0.3;

/** A randomised defence: each call negates a sample's logits with probability FLIP. */
function signFlips(seed: number): (input: tf.Tensor4D) => tf.Tensor2D {
  const next = scalarRng(seed, 'flips');
  return (input) => tf.tidy(() => tf.mul(linear.logits(input), tf.tensor2d(Array.from({ length: input.shape[0] }, () => (next() < FLIP ? -1 : 1)), [input.shape[0], 1])));
}

const context = (logits: (t: tf.Tensor4D) => tf.Tensor2D, eot?: number) => {
  const counters = { forward: 0, gradient: 0 };
  const ctx = makeAttackContext({ logits, x, y, eps: 0.1, params: {}, rng: sampleRng(1, [0, 1, 2, 3, 4, 5]), numClasses: 4, dataset: 'toy', counters, eot });
  return { ctx, counters };
};

test('EOT averages the gradient over the draws: it converges to the expected gradient', (t) => {
  const before = tf.memory().numTensors;
  // The expectation, exactly: (1 - FLIP) grad at the model + FLIP grad at the negated model.
  const expected = tf.tidy(() => {
    const plus = context((i) => linear.logits(i)).ctx.inputGradient(x).grad;
    const minus = context((i) => tf.neg(linear.logits(i))).ctx.inputGradient(x).grad;
    return tf.add(tf.mul(1 - FLIP, plus), tf.mul(FLIP, minus));
  });
  const errorOf = (eot: number): number =>
    tf.tidy(() => {
      const { grad } = context(signFlips(eot), eot).ctx.inputGradient(x);
      return tf.div(tf.norm(tf.sub(grad, expected)), tf.norm(expected)).dataSync()[0]!;
    });
  const [one, many] = [errorOf(1), errorOf(2000)];
  t.true(many < 0.06, `relative error with 2000 draws: ${many}`);
  t.true(many < one / 3, `2000 draws (${many}) much closer than one (${one})`);
  expected.dispose();
  t.is(tf.memory().numTensors, before);
});

test('each EOT draw counts as a gradient evaluation; EOT 1 is the plain gradient, bit for bit', (t) => {
  const plain = context((i) => linear.logits(i));
  const once = context((i) => linear.logits(i), 1);
  const five = context((i) => linear.logits(i), 5);
  tf.tidy(() => {
    const [a, b, c] = [plain, once, five].map(({ ctx }) => ctx.inputGradient(x));
    t.deepEqual(b!.grad.dataSync(), a!.grad.dataSync());
    t.deepEqual(b!.loss.dataSync(), a!.loss.dataSync());
    // A deterministic model: the mean of five equal gradients is the gradient, to rounding.
    const gap = tf.max(tf.abs(tf.sub(c!.grad, a!.grad))).dataSync()[0]!;
    t.true(gap <= 1e-6 * tf.max(tf.abs(a!.grad)).dataSync()[0]!, `gap ${gap}`);
  });
  t.is(plain.counters.gradient, 6);
  t.is(five.counters.gradient, 30);
});

test('--eot is an option of every gradient attack (not of black-box or noise ones), bounded, absent from params unless given', async (t) => {
  const registry = await createRegistry();
  for (const id of ['pgd', 'apgd', 'fgsm', 'fab', 'autoattack']) t.true('eot' in registry.get('attack', id).params, id);
  for (const id of ['square', 'gaussian', 'transfer']) t.false('eot' in registry.get('attack', id).params, id);
  const pgd = registry.get('attack', 'pgd');
  t.false('eot' in JSON.parse(JSON.stringify(resolveParams(pgd, {}))), 'results of runs without --eot keep their params');
  t.throws(() => resolveParams(pgd, { eot: 0 }), { instanceOf: UsageError, message: /--eot/ });
  t.throws(() => makeAttackContext({ ...context((i) => linear.logits(i)).ctx, logits: (i) => linear.logits(i), counters: { forward: 0, gradient: 0 }, eot: 1.5 }), { instanceOf: UsageError });

  // Through the engine: PGD with --eot 3 spends three gradients per step (a deterministic model keeps the attacked samples equal).
  const model: LoadedModel = { id: 'linear', dataset: 'toy', inputShape: [3, 3, 1], numClasses: 4, weightsSha256: '0', logits: (i) => linear.logits(i), dispose: () => {} };
  const data: DatasetSplit = { images: x.dataSync() as Float32Array, labels: y.dataSync() as Int32Array, count: 6, shape: [3, 3, 1], source: { kind: 'file', path: '-', sha256: '-' } };
  const run = (eot: number | undefined) =>
    evaluateCurve({ model, data, attack: pgd, params: resolveParams(pgd, { steps: 4, ...(eot ? { eot } : {}) }), grid: [0, 0.05], seed: 1, batchSize: 6, sweep: false });
  const [plain, three] = [await run(undefined), await run(3)];
  t.true(plain.gradientEvaluations > 0);
  t.is(three.gradientEvaluations, 3 * plain.gradientEvaluations);
});
