import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../../src/core/engine.js';
import { resultHeader } from '../../src/evaluation/result-header.js';
import { createRegistry } from '../../src/core/registry.js';
import type { LoadedModel } from '../../src/core/plugin-api.js';
import { linearFixture, paramsOf } from '../helpers/tiny-models.js';

import '../helpers/backend.js';

const { model: linear, data: fixture } = linearFixture(60);
/** The fixture's classifier on pixels quantised to quarters: its gradient is zero almost everywhere. */
const quantised: LoadedModel = { ...linear, id: 'quantised', logits: (x) => tf.tidy(() => linear.logits(tf.div(tf.round(tf.mul(x, 4)), 4) as tf.Tensor4D)) };
/** The fixture's images labelled by the quantised model: every sample starts correct. */
const data = {
  ...fixture,
  labels: Int32Array.from(tf.tidy(() => tf.argMax(quantised.logits(tf.tensor4d(fixture.images, [fixture.count, ...fixture.shape])), 1).dataSync())),
};
/**
 * BPDA's stand-in: the unquantised classifier, plus a constant on class 0 that moves no gradient
 * but would win every verdict, so a verdict taken from the stand-in would show.
 */
const withSurrogate: LoadedModel = {
  ...quantised,
  gradientSurrogate: { description: 'identity for the quantiser (straight-through)', logits: (x) => tf.tidy(() => tf.add(linear.logits(x), tf.tensor1d([1e3, 0, 0]))) },
};

const curve = async (model: LoadedModel, attackId: string, grid: number[]) => {
  const registry = await createRegistry();
  const attack = registry.get('attack', attackId);
  const r = await evaluateCurve({ model, attack, params: paramsOf(attack, { norm: 'linf' }), data, grid, batchSize: 20, seed: 0 });
  return r.points.map((p) => p.accuracy);
};

test('BPDA: gradient attacks follow the stand-in, verdicts stay the model\'s own', async (t) => {
  const grid = [0, 0.25, 0.5];
  const plain = await curve(linear, 'fgsm', grid);
  const masked = await curve(quantised, 'fgsm', grid);
  const bpda = await curve(withSurrogate, 'fgsm', grid);
  // The quantiser's zero gradient leaves FGSM nowhere to go: accuracy stays at its clean level.
  t.true(masked[2] >= masked[0] - 0.05, `without BPDA: ${masked}`);
  // Through the stand-in FGSM breaks what it breaks on the unquantised model, near enough.
  t.true(plain[2] < 0.2, `unquantised: ${plain}`);
  t.true(bpda[2] <= plain[2] + 0.1, `with BPDA: ${bpda}, unquantised ${plain}`);
  // The clean verdicts are the quantised model's, not the stand-in's (which says class 0 to every image).
  t.is(masked[0], 1);
  t.is(bpda[0], 1);
});

test('BPDA carries through PGD and APGD, and leaves no tensor behind', async (t) => {
  const before = tf.memory().numTensors;
  for (const id of ['pgd', 'apgd']) {
    const masked = await curve(quantised, id, [0, 0.5]);
    const bpda = await curve(withSurrogate, id, [0, 0.5]);
    t.true(bpda[1] < masked[1] - 0.3, `${id}: with BPDA ${bpda}, without ${masked}`);
  }
  t.is(tf.memory().numTensors, before);
});

test('the results name the gradient the attacks followed', async (t) => {
  const attack = (await createRegistry()).get('attack', 'pgd');
  const header = (model: LoadedModel) => resultHeader({ model, attack, params: paramsOf(attack), backend: { name: 'cpu', requested: 'cpu' }, seed: 0, sweep: true }).model;
  t.is(header(withSurrogate).gradient, 'BPDA: identity for the quantiser (straight-through)');
  t.is(header(quantised).gradient, undefined);
});
