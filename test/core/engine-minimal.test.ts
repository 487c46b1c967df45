import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../../src/core/engine.js';
import { RobenchError, UsageError } from '../../src/core/errors.js';
import { margin } from '../../src/core/losses.js';
import { NOT_FOUND } from '../../src/core/minimal-curve.js';
import { checkOutcomes } from '../../src/core/samples.js';
import { defineAttack, type AttackContext, type DatasetSplit, type LoadedModel } from '../../src/core/plugin-api.js';
import { confidentLinear } from '../helpers/tiny-models.js';

import '../helpers/backend.js';

/** confidentLinear as an engine model and dataset; every fifth label is wrong, so those samples are misclassified clean. */
function fixture(): { model: LoadedModel; data: DatasetSplit } {
  const { model: tiny, x, y } = confidentLinear();
  const images = x.dataSync() as Float32Array;
  const labels = Int32Array.from(y.dataSync(), (l, i) => (i % 5 === 0 ? 1 - l : l));
  tf.dispose([x, y]);
  const model: LoadedModel = { id: 'linear', dataset: 'toy', inputShape: [4, 4, 1], numClasses: 2, weightsSha256: '0', logits: tiny.logits, dispose: tiny.dispose };
  return { model, data: { images, labels, count: labels.length, shape: [4, 4, 1], source: { kind: 'file', path: '-', sha256: '-' } } };
}

/**
 * The exact minimal l2 example of a linear model, overshot by 1%: x - 1.01 m g / ||g||^2 with m the
 * margin and g its gradient. Samples with odd margin rank are left clean (the attack "found none").
 */
function exampleOf(ctx: AttackContext): { adv: tf.Tensor4D; norms: tf.Tensor1D; found: tf.Tensor4D } {
  return tf.tidy(() => {
    const { grad, loss } = ctx.inputGradient(ctx.x, margin);
    const sq = tf.sum(tf.square(grad), [1, 2, 3]);
    const delta = tf.mul(grad, tf.reshape(tf.div(tf.mul(-1.01, loss), sq), [-1, 1, 1, 1]));
    const found = tf.reshape(tf.equal(tf.mod(tf.floor(tf.mul(loss, 0.5)), 2), 0), [-1, 1, 1, 1]);
    return { adv: tf.add(ctx.x, delta) as tf.Tensor4D, norms: tf.sqrt(tf.sum(tf.square(delta), [1, 2, 3])) as tf.Tensor1D, found: found as tf.Tensor4D };
  });
}

const minimal = defineAttack({
  id: 'exact-minimal',
  description: 'test attack: the closed-form minimal l2 example, for some samples',
  strategy: 'minimization',
  params: {},
  budget: () => 'l2',
  defaultGrid: () => [0, 1],
  async run(ctx) {
    const { adv, norms, found } = exampleOf(ctx);
    const out = tf.tidy(() => tf.where(tf.broadcastTo(found, ctx.x.shape), adv, ctx.x) as tf.Tensor4D);
    tf.dispose([adv, norms, found]);
    return out;
  },
});

/** The same examples as a fixed-budget attack: each returned only where it fits in the budget. */
const perBudget = defineAttack({
  id: 'exact-per-budget',
  description: 'test attack: the closed-form minimal l2 example where it fits in eps',
  params: {},
  budget: () => 'l2',
  defaultGrid: () => [0, 1],
  async run(ctx) {
    const { adv, norms, found } = exampleOf(ctx);
    const out = tf.tidy(() => {
      const fits = tf.logicalAnd(tf.cast(found, 'bool'), tf.reshape(tf.lessEqual(norms, ctx.eps), [-1, 1, 1, 1]));
      return tf.where(tf.broadcastTo(fits, ctx.x.shape), adv, ctx.x) as tf.Tensor4D;
    });
    tf.dispose([adv, norms, found]);
    return out;
  },
});

const grid = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1];
const base = { params: {}, seed: 1, grid };

test('a minimization attack runs once and scores every budget exactly as the same examples would score budget by budget', async (t) => {
  const { model, data } = fixture();
  const once = await evaluateCurve({ ...base, model, data, attack: minimal, batchSize: 7 });
  const each = await evaluateCurve({ ...base, model, data, attack: perBudget, batchSize: 7, sweep: false });
  t.deepEqual(once.points, each.points);
  t.deepEqual(once.outcomes.brokeAt, each.outcomes.brokeAt);
  const correct = once.points.map((p) => p.correct);
  t.true(correct.every((c, k) => k === 0 || c <= correct[k - 1]!), `monotone: ${correct}`);
  t.true(correct[0]! > correct[correct.length - 1]! && correct[correct.length - 1]! > 0, `some samples break, some are never found: ${correct}`);
  // One attack call per batch: one gradient per clean-correct sample, where per budget needs one per budget.
  const cleanCorrect = once.points[0]!.correct;
  t.is(once.gradientEvaluations, cleanCorrect);
  t.is(each.gradientEvaluations, cleanCorrect * (grid.length - 1));
  t.is(once.forwardEvaluations, data.count + cleanCorrect);
  checkOutcomes(once.outcomes, once.points, data.count, 'test');
  model.dispose();
});

test('the record holds each sample\'s minimal norm: 0 misclassified clean, -1 not found, else the norm, consistent with brokeAt', async (t) => {
  const { model, data } = fixture();
  const r = await evaluateCurve({ ...base, model, data, attack: minimal, batchSize: 5 });
  const norms = r.outcomes.minimalNorm!;
  t.is(norms.length, data.count);
  norms.forEach((m, i) => {
    const broke = r.outcomes.brokeAt![i]!;
    if (r.outcomes.clean[i] === 0) {
      t.is(m, 0);
      t.is(broke, 0);
    } else if (m === NOT_FOUND) t.is(broke, -1);
    else {
      t.true(m > 0);
      // brokeAt is the first budget at least the norm (the grid's points are far from every norm here).
      t.is(broke, grid.findIndex((e) => e > 0 && e >= m), `sample ${i}: norm ${m}, broke at ${broke}`);
    }
  });
  t.true(norms.some((m) => m === NOT_FOUND) && norms.some((m) => m > 0));
  model.dispose();
});

test.serial('batch size, --no-sweep and the sample slice change nothing; tensor counts stay flat', async (t) => {
  const { model, data } = fixture();
  const first = await evaluateCurve({ ...base, model, data, attack: minimal, batchSize: 24 });
  const before = tf.memory().numTensors;
  const small = await evaluateCurve({ ...base, model, data, attack: minimal, batchSize: 3, sweep: false });
  t.is(tf.memory().numTensors, before);
  t.deepEqual(small.points, first.points);
  t.deepEqual(small.outcomes, first.outcomes);
  const part = await evaluateCurve({ ...base, model, data, attack: minimal, batchSize: 4, indices: [3, 4, 5, 6, 7, 8] });
  t.deepEqual(part.outcomes.minimalNorm, first.outcomes.minimalNorm!.slice(3, 9));
  model.dispose();
});

test.serial('a minimization attack that returns a perturbed example the model still classifies correctly is stopped', async (t) => {
  const { model, data } = fixture();
  const cheat = defineAttack({
    ...minimal,
    id: 'cheat',
    async run(ctx) {
      return tf.tidy(() => tf.clipByValue(tf.add(ctx.x, 0.001), 0, 1)) as tf.Tensor4D;
    },
  });
  const before = tf.memory().numTensors;
  const err = await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: cheat, batchSize: 8 }), { instanceOf: RobenchError });
  t.regex(err!.message, /cheat.*perturbed example.*classifies correctly/);
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test('a minimization attack must return one batch and name a norm', async (t) => {
  const { model, data } = fixture();
  const twice = defineAttack({ ...minimal, id: 'twice', run: async (ctx) => [ctx.x.clone(), ctx.x.clone()] });
  await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: twice, batchSize: 8 }), { instanceOf: RobenchError, message: /returned 2 batches/ });
  const normless = defineAttack({ ...minimal, id: 'normless', budget: () => null });
  await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: normless, batchSize: 8 }), { instanceOf: UsageError, message: /without a norm/ });
  model.dispose();
});
