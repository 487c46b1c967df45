import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { crossEntropy, dlr, dlrTargeted, margin } from '../../src/core/losses.js';
import { maxPerturbation, projectL2, projectLinf, steepestDirection } from '../../src/core/norms.js';
import { contextFor, linearModel, paramsOf, selfLabelledBatch } from '../helpers/tiny-models.js';
import fgsm from '../../attacks/fgsm.js';

import '../helpers/backend.js';

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

function close(t: { true(v: boolean, m?: string): void }, a: number[], b: number[], tol: number): void {
  t.true(a.length === b.length, 'same length');
  a.forEach((v, i) => t.true(Math.abs(v - b[i]) <= tol, `index ${i}: ${v} vs ${b[i]}`));
}

test('cross-entropy matches -log softmax and stays finite for extreme logits', (t) => {
  const rows = [[1, 2, 3], [0.5, -1, 4], [1000, -1000, 0]];
  const got = tf.tidy(() => values(crossEntropy(tf.tensor2d(rows), tf.tensor1d([2, 0, 1], 'int32'))));
  const expected = rows.map((r, i) => {
    const label = [2, 0, 1][i];
    const m = Math.max(...r);
    return m + Math.log(r.reduce((s, v) => s + Math.exp(v - m), 0)) - r[label];
  });
  close(t, got, expected, 1e-3);
  t.true(Math.abs(got[2] - 2000) < 1e-2);
});

test('margin, DLR and targeted DLR agree with their definitions', (t) => {
  const rows = [[3, 1, 0.5, -2], [0, 4, 1, 2]];
  const y = [0, 0];
  const sorted = rows.map((r) => [...r].sort((a, b) => b - a));
  const m = rows.map((r, i) => r[y[i]] - Math.max(...r.filter((_, j) => j !== y[i])));
  const [gotM, gotD, gotT, shifted] = tf.tidy(() => {
    const z = tf.tensor2d(rows);
    const labels = tf.tensor1d(y, 'int32');
    return [
      values(margin(z, labels)),
      values(dlr(z, labels)),
      values(dlrTargeted(tf.tensor1d([3, 2], 'int32'))(z, labels)),
      values(dlr(tf.add(tf.mul(z, 3), 7), labels)),
    ];
  });
  close(t, gotM, [2, -4], 1e-5);
  close(t, gotM, m, 1e-5);
  close(t, gotD, m.map((v, i) => -v / (sorted[i][0] - sorted[i][2])), 1e-5);
  close(t, shifted, gotD, 1e-5);
  const target = [3, 2];
  close(t, gotT, rows.map((r, i) => -(r[y[i]] - r[target[i]]) / (sorted[i][0] - (sorted[i][2] + sorted[i][3]) / 2)), 1e-5);
  t.throws(() => tf.tidy(() => dlr(tf.tensor2d([[1, 2]]), tf.tensor1d([0], 'int32'))), { message: /at least 3 classes/ });
});

test('inputGradient returns the analytic cross-entropy gradient and counts per sample', (t) => {
  const w = tf.tensor2d([...Array(12)].map((_, i) => Math.sin(i)), [4, 3]);
  const model = linearModel(w, tf.zeros([3]), [2, 2, 1]);
  const { x, y } = selfLabelledBatch(model, 5, 3);
  const { ctx, counters } = contextFor(model, x, y, 0.1, {});
  const before = tf.memory().numTensors;
  const [grad, expected, loss, logits] = tf.tidy(() => {
    const out = ctx.inputGradient(x);
    const z = model.logits(x);
    const analytic = tf.matMul(tf.sub(tf.softmax(z), tf.oneHot(y, 3)), w, false, true).reshape(x.shape);
    return [values(out.grad), values(analytic), values(out.loss), values(out.logits)];
  });
  t.is(tf.memory().numTensors, before, 'tidy frees the gradient, loss and logits');
  close(t, grad, expected, 1e-5);
  t.is(loss.length, 5);
  t.is(logits.length, 15);
  t.deepEqual(counters, { forward: 0, gradient: 5 });
  tf.tidy(() => ctx.model(x));
  t.deepEqual(counters, { forward: 5, gradient: 5 });
  const other = tf.tidy(() => values(ctx.inputGradient(x, (z, labels) => tf.neg(margin(z, labels))).grad));
  t.notDeepEqual(other, grad, 'a custom loss changes the gradient');
  tf.dispose([x, y]);
  model.dispose();
});

test('projections land in the ball and in [0, 1]; l-inf projection is idempotent', (t) => {
  const x = tf.tensor4d([0, 0.5, 1, 0.2, 0.9, 0.4, 0.3, 0.7], [2, 2, 2, 1]);
  const far = tf.tensor4d([-3, 2, 0.1, 0.2, 5, -1, 0.3, 2], [2, 2, 2, 1]);
  const pLinf = projectLinf(x, far, 0.1);
  const pL2 = projectL2(x, far, 0.5);
  t.true(Math.max(...maxPerturbation(x, pLinf, 'linf')) <= 0.1 + 1e-7);
  t.true(Math.max(...maxPerturbation(x, pL2, 'l2')) <= 0.5 + 1e-6);
  for (const p of [pLinf, pL2]) t.true(values(p).every((v) => v >= 0 && v <= 1));
  close(t, values(pLinf), [0, 0.6, 0.9, 0.2, 1, 0.3, 0.3, 0.8], 1e-6);
  const again = projectLinf(x, pLinf, 0.1);
  t.deepEqual(values(again), values(pLinf));
  const inside = projectL2(x, tf.add(x, 0.01), 0.5);
  close(t, values(inside), values(x).map((v) => Math.min(1, v + 0.01)), 1e-6);
  close(t, maxPerturbation(x, far, 'linf'), [3, 4.1], 1e-5);
  const dir = steepestDirection('l2', tf.tensor4d([3, 4, 0, 0, 0, 0, 0, 1], [2, 2, 2, 1]));
  close(t, values(dir), [0.6, 0.8, 0, 0, 0, 0, 0, 1], 1e-6);
  t.throws(() => maxPerturbation(x, tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, 'l2'), { message: /shape/ });
  tf.dispose([x, far, pLinf, pL2, again, inside, dir]);
});

test('a context serves the attack its own eps, params and labels', async (t) => {
  const model = linearModel(tf.ones([4, 2]) as tf.Tensor2D, tf.tensor1d([0, 0.1]), [2, 2, 1]);
  const { x, y } = selfLabelledBatch(model, 3, 1);
  const { ctx, counters } = contextFor(model, x, y, 0.2, paramsOf(fgsm));
  t.is(ctx.eps, 0.2);
  t.is(ctx.numClasses, 2);
  const out = (await fgsm.run(ctx)) as tf.Tensor4D;
  t.deepEqual(counters, { forward: 0, gradient: 3 });
  out.dispose();
  t.throws(() => ctx.inputGradient(tf.zeros([2, 2, 2, 1]) as tf.Tensor4D), { message: /2 images but 3 labels/ });
  tf.dispose([x, y]);
  model.dispose();
});
