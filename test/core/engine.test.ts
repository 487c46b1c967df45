import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../../src/core/engine.js';
import { RobenchError } from '../../src/core/errors.js';
import pgd from '../../attacks/pgd.js';
import { defineAttack, type AttackPlugin } from '../../src/core/plugin-api.js';

import '../helpers/backend.js';
import { linearFixture as fixture, randomSignAttack as randomSign } from '../helpers/tiny-models.js';



/** Steepest l-inf ascent on the linear model's margin: breaks samples as eps grows. */
const fgsmLike = defineAttack({
  id: 'fgsm-like',
  description: 'test attack',
  params: {},
  budget: () => 'linf',
  defaultGrid: () => [0, 0.1],
  async run({ x, eps, inputGradient }) {
    return tf.tidy(() => {
      const { grad } = inputGradient(x);
      return tf.clipByValue(tf.add(x, tf.mul(tf.sign(grad), eps)), 0, 1) as tf.Tensor4D;
    });
  },
});

const base = { params: {}, seed: 3, batchSize: 16 };

test('eps 0 reports clean accuracy and accuracy falls with the budget', async (t) => {
  const { model, data } = fixture();
  const r = await evaluateCurve({ ...base, model, data, attack: fgsmLike, grid: [0.2, 0, 0.05, 0.1] });
  t.is(r.points[0].perturbation, 0);
  t.is(r.points[0].accuracy, r.cleanAccuracy);
  t.is(r.cleanAccuracy, 54 / 60);
  for (let i = 1; i < r.points.length; i++) t.true(r.points[i].accuracy <= r.points[i - 1].accuracy);
  t.true(r.points[3].accuracy < r.cleanAccuracy);
});

test('the sweep is never weaker than independent points and needs fewer gradients', async (t) => {
  const { model, data } = fixture(120);
  const grid = [0, 0.02, 0.05, 0.1, 0.2, 0.3];
  const sweep = await evaluateCurve({ ...base, model, data, attack: fgsmLike, grid, sweep: true });
  const full = await evaluateCurve({ ...base, model, data, attack: fgsmLike, grid, sweep: false });
  sweep.points.forEach((p, i) => t.true(p.accuracy <= full.points[i].accuracy));
  t.true(sweep.gradientEvaluations < full.gradientEvaluations);
});

test('a 9-point PGD sweep needs at most a third of the gradients of independent points and is never weaker', async (t) => {
  const { model, data } = fixture(200);
  const grid = [0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3];
  const params = { norm: 'linf', loss: 'ce', steps: 20, restarts: 1, 'random-start': true };
  const sweep = await evaluateCurve({ ...base, params, model, data, attack: pgd as AttackPlugin, grid, sweep: true });
  const full = await evaluateCurve({ ...base, params, model, data, attack: pgd as AttackPlugin, grid, sweep: false });
  sweep.points.forEach((p, i) => t.true(p.accuracy <= full.points[i].accuracy, `eps ${p.perturbation}`));
  t.true(sweep.points[4].accuracy < sweep.cleanAccuracy / 2, 'the attack breaks most samples by the middle of the grid');
  t.true(sweep.gradientEvaluations <= full.gradientEvaluations / 3, `${sweep.gradientEvaluations} vs ${full.gradientEvaluations}`);
  // --no-sweep is the naive loop: every step on every clean-correct sample at every point.
  t.is(full.gradientEvaluations, 20 * (grid.length - 1) * full.points[0].correct);
});

test('results depend on the seed, not on the batch size', async (t) => {
  const { model, data } = fixture();
  const grid = [0, 0.15, 0.3];
  const a = await evaluateCurve({ ...base, model, data, attack: randomSign, grid, batchSize: 7 });
  const b = await evaluateCurve({ ...base, model, data, attack: randomSign, grid, batchSize: 50 });
  t.deepEqual(a.points, b.points);
  t.true(a.points[2].correct < a.points[0].correct);
});

test('the engine stops an attack that breaks its contract, naming it', async (t) => {
  const { model, data } = fixture(20);
  const cheat = (name: string, f: (x: tf.Tensor4D, eps: number) => tf.Tensor4D): AttackPlugin =>
    defineAttack({ ...randomSign, id: name, run: async ({ x, eps }) => tf.tidy(() => f(x, eps)) });
  const cases: [AttackPlugin, RegExp][] = [
    [cheat('over-budget', (x, eps) => tf.clipByValue(tf.add(x, eps * 1.01), 0, 1) as tf.Tensor4D), /over-budget.*exceeds the budget/],
    [cheat('out-of-range', (x) => tf.add(x, 2) as tf.Tensor4D), /out-of-range.*outside \[0, 1\]/],
    [cheat('bad-shape', (x) => tf.slice(x, 0, 1) as tf.Tensor4D), /bad-shape.*shape/],
    [cheat('nan', (x) => tf.div(x, tf.zerosLike(x)).mul(0) as tf.Tensor4D), /nan.*NaN/],
  ];
  for (const [attack, message] of cases) {
    const err = await t.throwsAsync(evaluateCurve({ ...base, model, data, attack, grid: [0, 0.1] }), { instanceOf: RobenchError });
    t.regex(err!.message, message);
  }
});

test.serial('the tensor count is flat from batch to batch', async (t) => {
  const { model, data } = fixture(400);
  const counts: Record<string, number[]> = {};
  await evaluateCurve({
    ...base,
    params: { norm: 'linf', loss: 'ce', steps: 5, restarts: 2, 'random-start': true },
    model,
    data,
    attack: pgd as AttackPlugin,
    grid: [0, 0.05],
    batchSize: 10,
    onProgress: (p) => (counts[p.phase] ??= []).push(tf.memory().numTensors),
  });
  t.is(counts.clean.length, 40);
  t.is(new Set(counts.clean).size, 1, 'clean pass');
  t.true(counts.attack.length > 10);
  t.is(new Set(counts.attack).size, 1, 'attack pass');
});

test.serial('a run leaks no tensors', async (t) => {
  const { model, data } = fixture();
  await evaluateCurve({ ...base, model, data, attack: fgsmLike, grid: [0, 0.1] });
  const before = tf.memory().numTensors;
  await evaluateCurve({ ...base, model, data, attack: fgsmLike, grid: [0, 0.1, 0.2] });
  t.is(tf.memory().numTensors, before);
});
