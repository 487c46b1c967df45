import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import square, { pSchedule } from '../../attacks/square.js';
import { maxPerturbation } from '../../src/core/norms.js';
import { accuracy, contextFor, paramsOf, randomMlp, runAttack, selfLabelledBatch } from '../helpers/tiny-models.js';
import type { Params } from '../../src/core/plugin-api.js';

import '../helpers/backend.js';

const mlp = randomMlp(3, [8, 8, 1], 32, 10);
const colour = randomMlp(4, [6, 6, 3], 32, 10);
const batch = selfLabelledBatch(mlp, 32, 7);

async function attack(eps: number, overrides: Params, seed = 1, model = mlp, b = batch) {
  const { ctx, counters } = contextFor(model, b.x, b.y, eps, paramsOf(square, overrides), seed);
  const [xadv] = await runAttack(square, ctx);
  return { xadv, counters };
}

test('the window fraction halves on the paper schedule', (t) => {
  t.is(pSchedule(0.8, 0, 10000), 0.8);
  t.is(pSchedule(0.8, 10, 10000), 0.8);
  t.is(pSchedule(0.8, 11, 10000), 0.4);
  t.is(pSchedule(0.8, 300, 10000), 0.1);
  t.is(pSchedule(0.8, 9999, 10000), 0.8 / 512);
  t.is(pSchedule(0.8, 10, 100), 0.8 / 16, 'iterations are rescaled to 10000');
});

for (const [norm, eps] of [['linf', 0.1], ['l2', 1]] as const) {
  test(`square ${norm}: lowers accuracy without gradients, inside the budget and [0, 1]`, async (t) => {
    for (const [model, b] of [[mlp, batch], [colour, selfLabelledBatch(colour, 16, 9)]] as const) {
      const { xadv, counters } = await attack(eps, { norm, queries: 150 }, 1, model, b);
      t.is(counters.gradient, 0);
      t.true(counters.forward > b.x.shape[0] && counters.forward <= 150 * b.x.shape[0]);
      t.true(accuracy(model, xadv, b.y) < 0.7, `accuracy ${accuracy(model, xadv, b.y)}`);
      t.true(Math.max(...maxPerturbation(b.x, xadv, norm)) <= eps + 1e-6);
      const values = xadv.dataSync();
      t.true(values.every((v) => v >= 0 && v <= 1));
      t.deepEqual(xadv.shape, b.x.shape);
      xadv.dispose();
    }
  });
}

test('square stops querying a sample once it is misclassified', async (t) => {
  const { xadv, counters } = await attack(0.3, { queries: 500 });
  t.is(accuracy(mlp, xadv, batch.y), 0);
  t.true(counters.forward < 0.5 * 500 * 32, `${counters.forward} queries`);
  xadv.dispose();
});

test('square: eps 0 returns the clean batch without queries', async (t) => {
  const { xadv, counters } = await attack(0, { queries: 50 });
  t.deepEqual(xadv.dataSync(), batch.x.dataSync());
  t.is(counters.forward, 0);
  xadv.dispose();
});

test('square is deterministic, depends on the seed, and a sample does not depend on its batch', async (t) => {
  for (const norm of ['linf', 'l2'] as const) {
    const eps = norm === 'linf' ? 0.05 : 0.5;
    const a = await attack(eps, { norm, queries: 40 }, 3);
    const b = await attack(eps, { norm, queries: 40 }, 3);
    const c = await attack(eps, { norm, queries: 40 }, 4);
    t.deepEqual(a.xadv.dataSync(), b.xadv.dataSync());
    t.notDeepEqual(a.xadv.dataSync(), c.xadv.dataSync());
    const half = { x: tf.slice(batch.x, 0, 16), y: tf.slice(batch.y, 0, 16) };
    const alone = await attack(eps, { norm, queries: 40 }, 3, mlp, half);
    t.deepEqual(alone.xadv.dataSync(), a.xadv.dataSync().slice(0, 16 * 64));
    tf.dispose([a.xadv, b.xadv, c.xadv, alone.xadv, half.x, half.y]);
  }
});

test.serial('square leaks no tensors and rejects bad parameters', async (t) => {
  const before = tf.memory().numTensors;
  const { xadv } = await attack(0.05, { queries: 20, norm: 'l2' });
  t.is(tf.memory().numTensors, before + 1);
  xadv.dispose();
  await t.throwsAsync(attack(0.05, { queries: 0 }), { message: /queries must be a positive integer/ });
  await t.throwsAsync(attack(0.05, { 'p-init': 1.5 }), { message: /p-init must be in/ });
  t.true(square.gradientFree);
});
