/**
 * PGD's KL loss (TRADES' inner maximisation): the divergence itself against plain-JS arithmetic,
 * and the attack's handling of it (its clean target gathered to the rows still attacked, the
 * highest-KL iterate kept, the small normal start).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import pgd from '../../attacks/pgd.js';
import { klDivergence, klFromClean } from '../../src/core/losses.js';
import { maxPerturbation } from '../../src/core/norms.js';
import { contextFor, paramsOf, randomMlp, runAttack, selfLabelledBatch } from '../helpers/tiny-models.js';
import type { Params } from '../../src/core/plugin-api.js';

import '../helpers/backend.js';

const logSoftmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return z.map((v) => v - lse);
};
/** KL(softmax(c) || softmax(z)) and its gradients in c and z, in float64. */
function klReference(c: number[], z: number[]): { kl: number; dc: number[]; dz: number[] } {
  const logP = logSoftmax(c);
  const logQ = logSoftmax(z);
  const p = logP.map(Math.exp);
  const terms = p.map((pi, i) => logP[i]! - logQ[i]!);
  const kl = p.reduce((s, pi, i) => s + pi * terms[i]!, 0);
  // d/dc_j = p_j (log p_j - log q_j - KL); d/dz_j = q_j - p_j.
  return { kl, dc: p.map((pj, j) => pj * (terms[j]! - kl)), dz: logQ.map((lq, j) => Math.exp(lq) - p[j]!) };
}

const near = (a: number, b: number, tol = 1e-5): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('klDivergence matches the float64 sum p (log p - log q), confident rows included, and its gradients in both arguments are p (log p - log q - KL) and q - p', (t) => {
  const c = [[2, 0, -1], [0, 0, 0], [30, 0, 0], [0.5, -0.25, 4]];
  const z = [[0.5, 1.5, -0.5], [0, 0, 0], [0, 30, 0], [0.5, -0.25, 4]];
  const [ct, zt] = [tf.tensor2d(c), tf.tensor2d(z)];
  const kl = Array.from(klDivergence(ct, zt).dataSync());
  const [dc, dz] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(klDivergence(a as tf.Tensor2D, b as tf.Tensor2D)))([ct, zt]).map((g) => g!.arraySync() as number[][]);
  c.forEach((row, i) => {
    const ref = klReference(row, z[i]!);
    t.true(near(kl[i]!, ref.kl), `row ${i}: ${kl[i]} vs ${ref.kl}`);
    ref.dc.forEach((g, j) => t.true(near(dc![i]![j]!, g), `row ${i}, d/dc_${j}: ${dc![i]![j]} vs ${g}`));
    ref.dz.forEach((g, j) => t.true(near(dz![i]![j]!, g), `row ${i}, d/dz_${j}: ${dz![i]![j]} vs ${g}`));
  });
  t.is(kl[1], 0, 'equal logits give exactly 0');
  t.is(kl[3], 0);
  t.true(near(kl[2]!, 30, 1e-6), 'a confident prediction moved to another class diverges by the logit gap');
  const fromClean = Array.from(klFromClean(ct)(zt, tf.tensor1d([0, 0, 0, 0], 'int32')).dataSync());
  t.deepEqual(fromClean, kl, 'klFromClean is the divergence from the clean logits, whatever the labels');
  tf.dispose([ct, zt]);
});

const mlp = randomMlp(5, [8, 8, 1], 32, 10);
const batch = selfLabelledBatch(mlp, 40, 9);
const kl = (params: Params, earlyStop: boolean, eps = 0.1) => contextFor(mlp, batch.x, batch.y, eps, paramsOf(pgd, { loss: 'kl', ...params }), 1, earlyStop).ctx;

/** Each sample's KL from its clean prediction at `xadv`. */
const klAt = (xadv: tf.Tensor4D): number[] => tf.tidy(() => Array.from(klDivergence(mlp.logits(batch.x), mlp.logits(xadv)).dataSync()));

test.serial('PGD with the KL loss and no early stopping keeps each sample its highest-KL iterate: more steps from the same start never lower it', async (t) => {
  const before = tf.memory().numTensors;
  const [short] = await runAttack(pgd, kl({ steps: 2, 'step-size': 0.03, 'start-sigma': 0.001 }, false));
  const [long] = await runAttack(pgd, kl({ steps: 6, 'step-size': 0.03, 'start-sigma': 0.001 }, false));
  const [a, b] = [klAt(short!), klAt(long!)];
  a.forEach((v, i) => t.true(b[i]! >= v, `sample ${i}: ${b[i]} after 6 steps < ${v} after 2`));
  t.true(b.every((v) => v > 0.01), 'every sample moved away from its clean prediction');
  t.true(Math.max(...maxPerturbation(batch.x, long!, 'linf')) <= 0.1 + 1e-6);
  tf.dispose([short!, long!]);
  t.is(tf.memory().numTensors, before, 'the clean target and every iterate are freed');
});

test("PGD's KL loss with early stopping follows the rows still attacked: a sample never fooled ends where it does without early stopping", async (t) => {
  const params = { steps: 8, 'step-size': 0.02, 'start-sigma': 0.001 };
  const [stopped] = await runAttack(pgd, kl(params, true));
  const [full] = await runAttack(pgd, kl(params, false));
  const fooled = tf.tidy(() => Array.from(tf.notEqual(tf.argMax(mlp.logits(stopped!), 1), batch.y).dataSync()));
  const robust = [...fooled.keys()].filter((i) => !fooled[i]);
  t.true(robust.length > 0 && robust.length < fooled.length, `${robust.length} of ${fooled.length} samples robust: the batch must shrink mid-attack`);
  const [s, f] = [stopped!.dataSync(), full!.dataSync()];
  const per = 8 * 8;
  for (const i of robust) {
    const gap = Math.max(...Array.from({ length: per }, (_, k) => Math.abs(s[i * per + k]! - f[i * per + k]!)));
    t.true(gap < 1e-5, `sample ${i}: the two runs differ by ${gap}`);
  }
  tf.dispose([stopped!, full!]);
});

test('the normal start is x + sigma N(0, 1) inside the ball, from the per-sample streams; start-sigma without random-start is a usage error', async (t) => {
  const [once] = await runAttack(pgd, kl({ steps: 1, 'step-size': 1e-9, 'start-sigma': 0.001 }, false, 0.01));
  const moved = tf.tidy(() => tf.sub(once!, batch.x).abs().max().dataSync()[0]!);
  t.true(moved > 0.001 && moved < 0.006, `largest start offset ${moved}: a few sigma of 0.001`);
  const [tight] = await runAttack(pgd, kl({ steps: 1, 'step-size': 1e-9, 'start-sigma': 0.001 }, false, 0.0005));
  t.true(Math.max(...maxPerturbation(batch.x, tight!, 'linf')) <= 0.0005 + 1e-7, 'the start is projected into a smaller ball');
  await t.throwsAsync(runAttack(pgd, kl({ 'random-start': false, 'start-sigma': 0.001 }, false)), { message: /--start-sigma 0\.001 sets the random start, which --no-random-start turns off/ });
  tf.dispose([once!, tight!]);
});

test('the KL loss without a random start is a usage error: its gradient at the clean image is exactly 0, so pgd from x would return x unchanged', async (t) => {
  const grad = tf.tidy(() => tf.grad((x) => tf.sum(klFromClean(mlp.logits(batch.x))(mlp.logits(x as tf.Tensor4D), batch.y)))(batch.x).abs().max().dataSync()[0]!);
  t.is(grad, 0, 'no direction to step in from x');
  await t.throwsAsync(runAttack(pgd, kl({ 'random-start': false }, false)), { message: /--loss kl has a zero gradient .* without a random start/ });
});
