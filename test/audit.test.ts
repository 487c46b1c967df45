import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { runAudit } from '../src/audit.js';
import type { DatasetSplit, LoadedModel } from '../src/plugin-api.js';
import { createRegistry } from '../src/registry.js';

await tf.setBackend('cpu');
const registry = await createRegistry();
const mnist = await registry.get('dataset', 'mnist').load({ split: 'test', samples: 1000 });

/** A softmax regression fitted on the bundled images: accurate enough and easy to attack. */
function fitLinear(data: DatasetSplit): { w: tf.Variable; b: tf.Variable } {
  const x = tf.tensor2d(data.images, [data.count, 784]);
  const y = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 10);
  const w = tf.variable(tf.zeros([784, 10]));
  const b = tf.variable(tf.zeros([10]));
  const opt = tf.train.adam(0.05);
  for (let i = 0; i < 60; i++) opt.minimize(() => tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(x, w), b)));
  tf.dispose([x, y]);
  opt.dispose();
  return { w, b };
}

const { w, b } = fitLinear(mnist);
const linear = (x: tf.Tensor4D) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], 784]), w), b) as tf.Tensor2D;
/** The same classifier behind a zero gradient: the textbook case of gradient masking. */
const masked = tf.customGrad((x: tf.Tensor) => ({ value: linear(x as tf.Tensor4D), gradFunc: (dy: tf.Tensor) => tf.zerosLike(x) }));

const model = (id: string, logits: (x: tf.Tensor4D) => tf.Tensor2D): LoadedModel => ({
  id,
  dataset: 'mnist',
  inputShape: [28, 28, 1],
  numClasses: 10,
  weightsSha256: '-',
  logits,
  dispose: () => undefined,
});

const sample = { ...mnist, count: 60, images: mnist.images.subarray(0, 60 * 784), labels: mnist.labels.subarray(0, 60) };
const options = { data: sample, norm: 'linf' as const, eps: 0.1, seed: 0, batchSize: 60, squareQueries: 100 };
const verdict = (r: Awaited<ReturnType<typeof runAudit>>, name: string) => r.checks.find((c) => c.name === name)?.verdict;

test('an honest linear model passes the audit', async (t) => {
  const r = await runAudit(registry, { ...options, model: model('linear', linear) });
  t.is(verdict(r, 'falls to chance at a large budget'), 'pass');
  t.is(verdict(r, 'iterative at least as strong as FGSM'), 'pass');
  t.is(verdict(r, 'black box no stronger than white box'), 'pass');
  t.is(verdict(r, 'accuracy non-increasing in the budget'), 'pass');
  t.true(r.accuracies['pgd-20 @ 0.1'] < r.accuracies['pgd-20 no sweep @ 0']);
});

test('masked gradients are caught', async (t) => {
  const r = await runAudit(registry, { ...options, model: model('masked', (x) => masked(x) as tf.Tensor2D) });
  t.is(verdict(r, 'falls to chance at a large budget'), 'warn');
  t.is(verdict(r, 'black box no stronger than white box'), 'warn');
});
