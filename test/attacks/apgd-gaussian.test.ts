import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import apgd, { checkpoints } from '../../attacks/apgd.js';
import pgd from '../../attacks/pgd.js';
import gaussian from '../../attacks/gaussian.js';
import { maxPerturbation } from '../../src/core/norms.js';
import { accuracy, contextFor, paramsOf, randomMlp, runAttack, selfLabelledBatch } from '../helpers/tiny-models.js';
import type { AttackPlugin, Params } from '../../src/core/plugin-api.js';

import '../helpers/backend.js';
import { marginLoss } from '../../src/core/losses.js';

const mlp = randomMlp(3, [8, 8, 1], 32, 10);
const batch = selfLabelledBatch(mlp, 48, 7);

async function attack(plugin: AttackPlugin<any>, eps: number, overrides: Params = {}, seed = 1, earlyStop = true) {
  const { ctx, counters } = contextFor(mlp, batch.x, batch.y, eps, paramsOf(plugin, overrides), seed, earlyStop);
  return { out: await runAttack(plugin, ctx), counters };
}

const range = (t: tf.Tensor): [number, number] => tf.tidy(() => [tf.min(t).dataSync()[0], tf.max(t).dataSync()[0]]);

test('APGD checkpoints follow p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)', (t) => {
  t.deepEqual(checkpoints(100), [0, 22, 41, 57, 70, 80, 87, 93, 99]);
  t.deepEqual(checkpoints(10), [0, 3, 5, 6, 7, 8, 9]);
});

test.serial('APGD and Gaussian noise leak no tensors', async (t) => {
  const small = { x: tf.slice(batch.x, 0, 6), y: tf.slice(batch.y, 0, 6) };
  for (const [plugin, over] of [[apgd, { steps: 6, restarts: 2 }], [apgd, { steps: 5, loss: 'dlr-targeted', targets: 2, norm: 'l2' }], [gaussian, {}]] as const) {
    const { ctx } = contextFor(mlp, small.x, small.y, 0.1, paramsOf(plugin, over));
    const before = tf.memory().numTensors;
    const out = await runAttack(plugin, ctx);
    t.is(tf.memory().numTensors, before + out.length, `${plugin.id} ${JSON.stringify(over)}`);
    tf.dispose(out);
  }
  tf.dispose([small.x, small.y]);
});

for (const norm of ['linf', 'l2'] as const) {
  for (const loss of ['ce', 'dlr', 'dlr-targeted'] as const) {
    test(`APGD ${norm} ${loss}: inside the eps-ball and [0, 1], eps 0 changes nothing, lowers accuracy`, async (t) => {
      const eps = norm === 'linf' ? 0.05 : 0.5;
      const over = { norm, loss, steps: 20, targets: 3 };
      const [xadv] = (await attack(apgd, eps, over)).out;
      const [lo, hi] = range(xadv);
      t.true(lo >= 0 && hi <= 1);
      t.true(Math.max(...maxPerturbation(batch.x, xadv, norm)) <= eps + 1e-6);
      t.true(accuracy(mlp, xadv, batch.y) < 1);
      const [clean] = (await attack(apgd, 0, over)).out;
      t.is(Math.max(...maxPerturbation(batch.x, clean, norm)), 0);
      t.is(accuracy(mlp, clean, batch.y), 1);
      tf.dispose([xadv, clean]);
    });
  }
}

test('APGD is at least as strong as PGD on the same batch', async (t) => {
  for (const [norm, eps] of [['linf', 0.02], ['linf', 0.04], ['l2', 0.3]] as const) {
    const [fromPgd] = (await attack(pgd, eps, { norm })).out;
    const [fromApgd] = (await attack(apgd, eps, { norm, steps: 50 })).out;
    const [a, b] = [accuracy(mlp, fromPgd, batch.y), accuracy(mlp, fromApgd, batch.y)];
    t.true(b <= a, `${norm} eps ${eps}: APGD ${b} vs PGD ${a}`);
    t.true(b < 1, 'the budget is large enough to matter');
    tf.dispose([fromPgd, fromApgd]);
  }
});

test('APGD counts one gradient per iterate except the last, and one ranking pass for targets', async (t) => {
  const { out, counters } = await attack(apgd, 0.03, { steps: 10, restarts: 2, loss: 'dlr-targeted', targets: 3 }, 1, false);
  t.is(counters.gradient, 3 * 2 * 10 * 48);
  t.is(counters.forward, 48 + 3 * 2 * 48);
  tf.dispose(out);
});

test('APGD stops attacking a sample once fooled, across iterates, restarts and targets, with the same result', async (t) => {
  const over = { steps: 10, restarts: 2, loss: 'dlr-targeted', targets: 3 };
  const stopping = await attack(apgd, 0.03, over, 1, true);
  const full = await attack(apgd, 0.03, over, 1, false);
  // Samples are independent in APGD: dropping the fooled ones changes no one else's iterates, so
  // the same samples are fooled. Pushing on, the full run keeps each one's strongest iterate, which
  // is misclassified at least as confidently as the first fooling point the stopping run keeps.
  const verdicts = (out: tf.Tensor4D) => tf.tidy(() => Array.from(tf.equal(tf.argMax(mlp.logits(out), 1), batch.y).dataSync()));
  t.deepEqual(verdicts(stopping.out[0]!), verdicts(full.out[0]!));
  const strength = (out: tf.Tensor4D) => tf.tidy(() => Array.from(marginLoss(mlp.logits(out), batch.y).dataSync()));
  const [first, strongest] = [strength(stopping.out[0]!), strength(full.out[0]!)];
  first.forEach((m, i) => t.true(m <= 0 || strongest[i]! >= m - 1e-5, `sample ${i}: ${strongest[i]} vs ${m}`));
  const robust = accuracy(mlp, full.out[0]!, batch.y);
  t.true(robust > 0 && robust < 1, 'some samples are fooled and some are not');
  t.true(stopping.counters.gradient < full.counters.gradient, `${stopping.counters.gradient} vs ${full.counters.gradient} gradients`);
  // Every run still attacks each sample that is robust at the end for all its iterates.
  t.true(stopping.counters.gradient >= 3 * 2 * 10 * Math.round(robust * 48));
  tf.dispose([...stopping.out, ...full.out]);
});

test('APGD is deterministic for a seed and depends on it', async (t) => {
  const a = (await attack(apgd, 0.05, { steps: 5 }, 4)).out[0];
  const b = (await attack(apgd, 0.05, { steps: 5 }, 4)).out[0];
  const c = (await attack(apgd, 0.05, { steps: 5 }, 5)).out[0];
  t.deepEqual(a.dataSync(), b.dataSync());
  t.notDeepEqual(a.dataSync(), c.dataSync());
  tf.dispose([a, b, c]);
});

test('Gaussian noise: draws are independent, have standard deviation sigma, and stay in [0, 1]', async (t) => {
  const grey = tf.fill([48, 8, 8, 1], 0.5) as tf.Tensor4D;
  const { ctx } = contextFor(mlp, grey, batch.y, 0.1, paramsOf(gaussian));
  const draws = await runAttack(gaussian, ctx);
  t.is(draws.length, 3);
  for (const d of draws) {
    const [lo, hi] = range(d);
    t.true(lo >= 0 && hi <= 1);
    const std = tf.tidy(() => Math.sqrt(tf.mean(tf.square(tf.sub(d, 0.5))).dataSync()[0]));
    t.true(Math.abs(std - 0.1) < 0.005, `std ${std}`);
  }
  t.notDeepEqual(draws[0].dataSync(), draws[1].dataSync());
  const again = await runAttack(gaussian, contextFor(mlp, grey, batch.y, 0.1, paramsOf(gaussian)).ctx);
  t.deepEqual(again[2].dataSync(), draws[2].dataSync());
  const none = await runAttack(gaussian, contextFor(mlp, batch.x, batch.y, 0, paramsOf(gaussian, { draws: 2 })).ctx);
  t.is(none.length, 2);
  for (const d of none) t.deepEqual(d.dataSync(), batch.x.dataSync());
  const heavy = await runAttack(gaussian, contextFor(mlp, batch.x, batch.y, 0.3, paramsOf(gaussian)).ctx);
  t.true(heavy.every((d) => accuracy(mlp, d, batch.y) < 1));
  t.is(gaussian.budget({ draws: 3 }), null);
  t.is(gaussian.defaultGrid('mnist', { draws: 3 })[0], 0);
  // Called as the engine calls any plugin: an AttackPlugin given a context with untyped params.
  const plugin: AttackPlugin = gaussian;
  await t.throwsAsync(plugin.run(contextFor(mlp, batch.x, batch.y, 0.1, { draws: 0 }).ctx) as Promise<unknown>, { message: /draws must be a positive integer/ });
  tf.dispose([grey, ...draws, ...again, ...none, ...heavy]);
});
