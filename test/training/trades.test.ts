/**
 * TRADES' outer loss against float64 arithmetic in plain JS, and its inner attack's settings.
 * (Training with it: test/training/adversarial.test.ts.)
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { innerAttack, type AdversarialSpec } from '../../src/training/adversarial.js';
import { tradesLoss } from '../../src/training/trades.js';

import '../helpers/backend.js';

const logSoftmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return z.map((v) => v - lse);
};

/**
 * The loss (1/B) sum_i [-log p_i,y_i + beta KL(p_i || q_i)], p = softmax(clean), q = softmax(adversarial),
 * and its gradients: in the adversarial logits (beta / B)(q - p); in the clean logits
 * (1/B)(p - onehot(y)) + (beta / B) p (log p - log q - KL).
 */
function reference(clean: number[][], adversarial: number[][], y: number[], beta: number) {
  const b = clean.length;
  let loss = 0;
  let ce = 0;
  const dClean: number[][] = [];
  const dAdv: number[][] = [];
  clean.forEach((c, i) => {
    const logP = logSoftmax(c);
    const logQ = logSoftmax(adversarial[i]!);
    const p = logP.map(Math.exp);
    const kl = p.reduce((s, pj, j) => s + pj * (logP[j]! - logQ[j]!), 0);
    ce += -logP[y[i]!]! / b;
    loss += (-logP[y[i]!]! + beta * kl) / b;
    dClean.push(p.map((pj, j) => (pj - (j === y[i] ? 1 : 0)) / b + (beta / b) * pj * (logP[j]! - logQ[j]! - kl)));
    dAdv.push(logQ.map((lq, j) => (beta / b) * (Math.exp(lq) - p[j]!)));
  });
  return { loss, ce, dClean, dAdv };
}

const near = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));

test("TRADES' loss is the mean of CE(f(x), y) + beta KL(f(x) || f(x')), its gradient through both passes", (t) => {
  const clean = [[2, 0, -1], [0.5, 1.5, -0.5], [12, -3, 0]];
  const adversarial = [[1, 1, 0], [0.5, 1.5, -0.5], [0, 4, 1]];
  const y = [0, 2, 0];
  const beta = 6;
  const ref = reference(clean, adversarial, y, beta);
  const [c, a, labels] = [tf.tensor2d(clean), tf.tensor2d(adversarial), tf.tensor1d(y, 'int32')];
  const before = tf.memory().numTensors;
  const { loss, crossEntropy } = tradesLoss(c, a, labels, beta);
  t.true(near(loss.dataSync()[0]!, ref.loss), `loss ${loss.dataSync()[0]} vs ${ref.loss}`);
  t.true(near(crossEntropy.dataSync()[0]!, ref.ce), `cross-entropy ${crossEntropy.dataSync()[0]} vs ${ref.ce}`);
  tf.dispose([loss, crossEntropy]);
  t.is(tf.memory().numTensors, before, 'the loss keeps no intermediate tensor');
  const grads = tf.grads((ci: tf.Tensor, ai: tf.Tensor) => tradesLoss(ci as tf.Tensor2D, ai as tf.Tensor2D, labels, beta).loss)([c, a]);
  const [dc, da] = grads.map((g) => g.arraySync() as number[][]);
  ref.dClean.forEach((row, i) => row.forEach((g, j) => t.true(near(dc![i]![j]!, g), `d/dclean[${i}][${j}] ${dc![i]![j]} vs ${g}`)));
  ref.dAdv.forEach((row, i) => row.forEach((g, j) => t.true(near(da![i]![j]!, g), `d/dadversarial[${i}][${j}] ${da![i]![j]} vs ${g}`)));
  // A row whose example did not move adds nothing to the KL term.
  t.deepEqual(da![1], [0, 0, 0]);
  tf.dispose([c, a, labels, ...grads]);
});

test("TRADES' examples: pgd ascending the KL from the clean prediction, from x + 0.001 N(0, 1), k steps of 2.5 eps / k", (t) => {
  const spec: AdversarialSpec = { method: 'trades', eps: 0.3, steps: 10, warmupEpochs: 1, heldOut: 6, beta: 6 };
  t.deepEqual(innerAttack(spec, 0.2), { id: 'pgd', params: { norm: 'linf', loss: 'kl', steps: 10, 'step-size': 0.05, restarts: 1, 'random-start': true, 'start-sigma': 0.001 } });
  t.like(innerAttack({ ...spec, steps: 40 }, 0.3), { params: { steps: 40, 'step-size': 0.01875 } });
});
