/** The engine refuses what attacks and models return when it would make the numbers meaningless. */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../../src/core/engine.js';
import { RobenchError, UsageError } from '../../src/core/errors.js';
import { defineAttack, type AttackPlugin, type DatasetSplit, type LoadedModel } from '../../src/core/plugin-api.js';

await tf.setBackend('cpu');

const SHAPE: [number, number, number] = [2, 2, 1];

/** A linear 3-class model on 2x2 images; `transform` lets a test break its logits. */
function fixture(n = 12, transform: (logits: tf.Tensor2D) => tf.Tensor2D = (l) => l): { model: LoadedModel; data: DatasetSplit } {
  const w = tf.tensor2d([1, -1, 0.5, -0.5, 1, 0.2, 0.3, -0.7, 1, 0.1, 0.4, -1], [4, 3]);
  const model: LoadedModel = {
    id: 'linear',
    dataset: 'toy',
    inputShape: SHAPE,
    numClasses: 3,
    weightsSha256: '0',
    logits: (x) => tf.tidy(() => transform(tf.matMul(tf.reshape(x, [x.shape[0], 4]), w))),
    dispose: () => w.dispose(),
  };
  const images = new Float32Array(n * 4).map((_, i) => 0.5 + 0.4 * Math.sin(i * 7.3));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  return { model, data: { images, labels, count: n, shape: SHAPE, source: { kind: 'file', path: '-', sha256: '-' } } };
}

const identity = (id: string, run: AttackPlugin['run'], budget: 'linf' | null = 'linf'): AttackPlugin =>
  defineAttack({ id, description: 'test attack', params: {}, budget: () => budget, defaultGrid: () => [0, 0.1], run });

const base = { params: {}, seed: 1, batchSize: 4, grid: [0, 0.1] };

test('an attack returning an empty array is an error naming it', async (t) => {
  const { model, data } = fixture();
  for (const budget of ['linf', null] as const) {
    const attack = identity('nothing', async () => [], budget);
    const err = await t.throwsAsync(evaluateCurve({ ...base, model, data, attack }), { instanceOf: RobenchError });
    t.regex(err!.message, /attack 'nothing' returned no batch/);
  }
});

test.serial('an attack returning a different number of versions from one call to the next is an error naming it', async (t) => {
  const { model, data } = fixture();
  let calls = 0;
  const attack = identity('wobbly', async ({ x }) => Array.from({ length: 1 + (calls++ % 2) }, () => x.clone()), null);
  const before = tf.memory().numTensors;
  const err = await t.throwsAsync(evaluateCurve({ ...base, model, data, attack }), { instanceOf: RobenchError });
  t.regex(err!.message, /attack 'wobbly' returned 2 versions of a batch after returning 1/);
  t.is(tf.memory().numTensors, before, 'the rejected versions and the batch are freed');
});

test.serial('an attack that throws is named in the error and its tensors are freed', async (t) => {
  const { model, data } = fixture();
  const attack = identity('crashy', async ({ x }) => {
    // Tensors made outside tf.tidy, then a failure: only the engine can free them.
    const noise = tf.randomUniform(x.shape);
    tf.add(x, noise);
    await noise.data();
    throw new Error('out of ideas');
  });
  await t.throwsAsync(evaluateCurve({ ...base, model, data, attack }));
  const before = tf.memory().numTensors;
  const err = await t.throwsAsync(evaluateCurve({ ...base, model, data, attack }), { instanceOf: RobenchError });
  t.regex(err!.message, /attack 'crashy' failed at perturbation 0\.1: out of ideas/);
  t.is(tf.memory().numTensors, before);
  // A usage error inside an attack stays one (exit 2), still naming the attack.
  const picky = identity('picky', async () => {
    throw new UsageError('bad severity', 'pass 1 to 5');
  });
  const usage = await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: picky }), { instanceOf: UsageError });
  t.regex(usage!.message, /attack 'picky' failed.*bad severity/);
  t.is(usage!.hint, 'pass 1 to 5');
});

test.serial('tensors an attack caches across successful calls survive', async (t) => {
  const { model, data } = fixture();
  let cache: tf.Tensor | undefined;
  const attack = identity('caching', async ({ x }) => {
    cache ??= tf.zeros([1]);
    return tf.tidy(() => tf.add(x, tf.mul(cache!, 0)) as tf.Tensor4D);
  });
  await evaluateCurve({ ...base, model, data, attack });
  t.false(cache!.isDisposed);
  cache!.dispose();
});

test.serial('a model whose logits are NaN, infinite or of the wrong class count is refused before any attack runs', async (t) => {
  let attacked = false;
  const attack = identity('spy', async ({ x }) => {
    attacked = true;
    return x.clone();
  });
  const cases: [(l: tf.Tensor2D) => tf.Tensor2D, RegExp][] = [
    [(l) => tf.div(l, tf.zerosLike(l)), /returned \d+ NaN or infinite logits on clean data/],
    [(l) => tf.concat([l, tf.zerosLike(l)], 1), /returned logits of shape \[4,6\] for 4 images and 3 classes/],
  ];
  for (const [transform, message] of cases) {
    const { model, data } = fixture(12, transform);
    const before = tf.memory().numTensors;
    const err = await t.throwsAsync(evaluateCurve({ ...base, model, data, attack }), { instanceOf: RobenchError });
    t.regex(err!.message, message);
    t.is(tf.memory().numTensors, before);
  }
  t.false(attacked);
});

test('an empty selection, or labels beyond the model\'s classes, are usage errors', async (t) => {
  const { model, data } = fixture();
  const attack = identity('id', async ({ x }) => x.clone());
  const empty = await t.throwsAsync(evaluateCurve({ ...base, model, data, attack, indices: [] }), { instanceOf: UsageError });
  t.regex(empty!.message, /no samples to evaluate/);
  const labels = Int32Array.from(data.labels);
  labels[5] = 7;
  const wrong = await t.throwsAsync(evaluateCurve({ ...base, model, data: { ...data, labels }, attack }), { instanceOf: UsageError });
  t.regex(wrong!.message, /label 7, but the model linear has 3 classes/);
});
