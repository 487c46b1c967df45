/**
 * Randomized smoothing against known values: Clopper-Pearson bounds (k = n in closed form, R's
 * binom.test, the binomial tail the bound is defined by), the binomial test, abstention, the
 * radius at pA_lower = 1 - alpha, and a linear classifier, whose smoothed top-class probability
 * is Phi(|w.x + b| / (sigma ||w||)) in closed form, so the certified radius must approach its
 * distance |w.x + b| / ||w|| to the decision boundary from below.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { errorFunction } from 'simple-statistics';
import '../helpers/backend.js';
import { ABSTAIN, binomialTestP, certifiedRadius, certify, clopperPearsonLower, predict } from '../../src/evaluation/smoothing.js';
import { countsUnderNoise } from '../../src/evaluation/smoothing-counts.js';
import { certifySamples, defaultRadii, largestRadius } from '../../src/evaluation/certify.js';
import { certifiedCounts, smoothedCorrect } from '../../src/evaluation/smoothing-record.js';
import type { DatasetSplit } from '../../src/core/plugin-api.js';
import { linearModel } from '../helpers/tiny-models.js';

const Phi = (z: number): number => 0.5 * (1 + errorFunction(z / Math.SQRT2));

/** P(X >= k), X ~ Binomial(n, p), summed in log space: the tail a Clopper-Pearson lower bound sets to alpha. */
function upperTail(k: number, n: number, p: number): number {
  const logFactorial = (m: number): number => Array.from({ length: m }, (_, i) => Math.log(i + 1)).reduce((a, b) => a + b, 0);
  let sum = 0;
  for (let i = k; i <= n; i++) sum += Math.exp(logFactorial(n) - logFactorial(i) - logFactorial(n - i) + i * Math.log(p) + (n - i) * Math.log1p(-p));
  return sum;
}

test('Clopper-Pearson lower bound: k = n in closed form, a published value, the tail it is defined by, below k/n', (t) => {
  for (const n of [1, 10, 1000, 100_000]) t.true(Math.abs(clopperPearsonLower(n, n, 0.001) - 0.001 ** (1 / n)) < 1e-12, `n = ${n}`);
  t.is(clopperPearsonLower(0, 50, 0.001), 0);
  // R: binom.test(7, 20)$conf.int is 0.1539092 to 0.5921885 (two-sided 95%, so one-sided 97.5%).
  t.true(Math.abs(clopperPearsonLower(7, 20, 0.025) - 0.1539092) < 1e-7);
  for (const [k, n] of [[1, 1000], [500, 1000], [990, 1000], [60, 100], [9990, 10000]] as const) {
    const bound = clopperPearsonLower(k, n, 0.001);
    t.true(bound < k / n, `${k}/${n}: ${bound}`);
    t.true(Math.abs(upperTail(k, n, bound) / 0.001 - 1) < 1e-6, `${k}/${n}: tail ${upperTail(k, n, bound)}`);
  }
  t.throws(() => clopperPearsonLower(11, 10, 0.001), { instanceOf: RangeError });
});

test('the radius is sigma PhiInverse(pA_lower): at 1 - alpha, at 1/2, and for any sigma', (t) => {
  // PhiInverse(0.999) = 3.090232306167813.
  t.true(Math.abs(certifiedRadius(1 - 0.001, 0.25) - 0.25 * 3.090232306167813) < 1e-9);
  t.true(Math.abs(certifiedRadius(0.5, 0.5)) < 1e-12);
  for (const p of [0.6, 0.9, 0.999]) t.true(Math.abs(certifiedRadius(p, 0.12) / certifiedRadius(p, 0.5) - 0.24) < 1e-12);
});

test('CERTIFY abstains below pA_lower 1/2, bounds the class the selection draws chose, and certifies the radius of its bound', (t) => {
  // 530 of 1000: the lower bound is 0.4812 at alpha 0.001, below 1/2.
  const low = certify([90, 10], [530, 470], 0.25, 0.001);
  t.is(low.prediction, ABSTAIN);
  t.is(low.radius, -1);
  t.true(low.pLower < 0.5 && low.pLower > 0.47, String(low.pLower));
  // 560 of 1000: 0.5108, a small radius.
  const high = certify([90, 10], [560, 440], 0.25, 0.001);
  t.is(high.prediction, 0);
  t.true(Math.abs(high.radius - certifiedRadius(clopperPearsonLower(560, 1000, 0.001), 0.25)) < 1e-12 && high.radius > 0 && high.radius < 0.01, String(high.radius));
  // The estimation draws' own majority does not matter: the selection draws chose class 2, which won 300 of them.
  const chosen = certify([1, 0, 9], [700, 0, 300], 0.5, 0.001);
  t.is(chosen.prediction, ABSTAIN);
  t.true(Math.abs(chosen.pLower - clopperPearsonLower(300, 1000, 0.001)) < 1e-15);
  // Every draw the same class: the largest radius n draws can certify.
  const all = certify([100, 0], [1000, 0], 0.25, 0.001);
  t.true(Math.abs(all.radius - certifiedRadius(0.001 ** (1 / 1000), 0.25)) < 1e-9, String(all.radius));
});

test('PREDICT: the two-sided binomial test between the top two classes, at published p-values', (t) => {
  // R: binom.test(60, 100)$p.value = 0.05688793; binom.test(62, 100)$p.value = 0.02097874.
  t.true(Math.abs(binomialTestP(60, 40) - 0.05688793) < 1e-7);
  t.true(Math.abs(binomialTestP(62, 38) - 0.02097874) < 1e-7);
  t.is(binomialTestP(50, 50), 1);
  t.is(predict([5, 60, 40], 0.05), ABSTAIN);
  t.is(predict([5, 62, 38], 0.05), 1);
  t.is(predict([5, 62, 38], 0.01), ABSTAIN);
  t.is(predict([0, 0, 12], 0.001), 2);
});

/** A two-class linear model on 4x4 images, logit_1 - logit_0 = w.x + b, and images at known distances to its boundary. */
function linearCase(distances: number[]) {
  const w = Array.from({ length: 16 }, (_, i) => Math.cos(3 * i + 2) - Math.sin(i + 1));
  const norm = Math.hypot(...w);
  const b = -w.reduce((s, v) => s + v, 0) / 2;
  const model = linearModel(tf.tensor2d(w.flatMap((wi) => [0, wi]), [16, 2]), tf.tensor1d([0, b]), [4, 4, 1]);
  // x = 1/2 + d w / ||w||: w.x + b = d ||w||, so x is d from the boundary, on class 1's side when d > 0.
  const images = Float32Array.from(distances.flatMap((d) => w.map((wi) => 0.5 + (d * wi) / norm)));
  const data: DatasetSplit = { images, labels: Int32Array.from(distances.map((d) => (d > 0 ? 1 : 0))), count: distances.length, shape: [4, 4, 1], source: { kind: 'bundled', path: '', sha256: '' } };
  return { model, data, indices: distances.map((_, i) => i) };
}

test.serial('a linear classifier: the noise gives pA = Phi(d / sigma), and the certified radius approaches d from below', async (t) => {
  const sigma = 0.25;
  // pA = 0.9 and 0.97 (d = sigma PhiInverse(pA)), on both sides of the boundary.
  const distances = [0.25 * 1.2815516, -0.25 * 1.8807936];
  const { model, data, indices } = linearCase(distances);
  const n = 20_000;
  const record = await certifySamples(model, data, indices, { sigma, n0: 100, n, alpha: 0.001, seed: 3, batch: 5000 });
  distances.forEach((d, i) => {
    const pA = Phi(Math.abs(d) / sigma);
    // The count of the true class is binomial(n, pA): within 4.5 standard deviations.
    t.true(Math.abs(record.topCount[i]! / n - pA) < 4.5 * Math.sqrt((pA * (1 - pA)) / n), `sample ${i}: ${record.topCount[i]} of ${n} against pA ${pA}`);
    t.true(record.pLower[i]! < pA, `sample ${i}: bound ${record.pLower[i]} against pA ${pA}`);
    t.is(record.certified[i], data.labels[i]);
    // At n = 20,000 the bound is about 3.1 standard deviations (0.007 and 0.004) below pA: the radius lies within 7% of d.
    t.true(record.radius[i]! < Math.abs(d) && record.radius[i]! > 0.93 * Math.abs(d), `sample ${i}: radius ${record.radius[i]} against ${Math.abs(d)}`);
  });
  t.deepEqual(certifiedCounts(record, [0, 0.3, 0.45, 0.5]), [2, 2, 1, 0]);
  t.is(smoothedCorrect(record), 2);
  model.dispose();
});

test.serial('the noise draws do not depend on the batch size or on which samples are certified together, and no tensor is left', async (t) => {
  const { model, data, indices } = linearCase([0.05, -0.1, 0.02]);
  const draws = { seed: 7, label: 'certify/estimate', sigma: 0.5, count: 999 };
  const before = tf.memory().numTensors;
  const one = await countsUnderNoise(model, data.images.subarray(16, 32), [4, 4, 1], 1, { ...draws, batch: 1000 });
  const small = await countsUnderNoise(model, data.images.subarray(16, 32), [4, 4, 1], 1, { ...draws, batch: 7 });
  t.deepEqual(Array.from(small), Array.from(one));
  t.is(one[0]! + one[1]!, 999);
  const settings = { sigma: 0.5, n0: 50, n: 300, alpha: 0.001, seed: 7 };
  const together = await certifySamples(model, data, indices, { ...settings, batch: 64 });
  const alone = await certifySamples(model, { ...data, images: data.images.subarray(16, 32), labels: data.labels.subarray(1, 2), count: 1 }, [1], { ...settings, batch: 5 });
  t.deepEqual(alone.topCount, [together.topCount[1]]);
  t.deepEqual(alone.radius, [together.radius[1]]);
  t.is(tf.memory().numTensors, before);
  // Another seed draws other noise.
  const other = await countsUnderNoise(model, data.images.subarray(16, 32), [4, 4, 1], 1, { ...draws, seed: 8, batch: 1000 });
  t.notDeepEqual(Array.from(other), Array.from(one));
  model.dispose();
});

test('the default radii: round steps from 0 to the largest radius n draws can certify at the largest sigma', (t) => {
  // Every draw the chosen class: pA_lower = alpha^(1/n), PhiInverse of which is 2.4633 at n = 1,000 and 3.8115 at n = 100,000.
  t.true(Math.abs(largestRadius(0.5, 1000, 0.001) - 0.5 * 2.4632626) < 1e-6);
  t.true(Math.abs(largestRadius(0.25, 100_000, 0.001) - 0.25 * 3.8114566) < 1e-6);
  t.deepEqual(defaultRadii([0.12, 0.25, 0.5], 1000, 0.001), [0, 0.2, 0.4, 0.6, 0.8, 1, 1.2]);
  t.deepEqual(defaultRadii([0.25], 1000, 0.001), [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
  t.deepEqual(defaultRadii([0.25], 100_000, 0.001), [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
  // One draw at alpha 0.4 bounds pA by 0.4 at best, never 1/2: only radius 0 is reported.
  t.deepEqual(defaultRadii([0.5], 1, 0.4), [0]);
});
