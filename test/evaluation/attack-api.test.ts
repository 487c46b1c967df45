/**
 * attack(): tensors in, the examples the engine evaluated out. Checked against the engine's own
 * curve for the same data (every success is a sample the run counts broken at that budget), the
 * budget and range of every example, batch-size independence, minimization attacks and errors.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { attack, type AttackResult } from '../../src/evaluation/attack-api.js';
import { evaluateCurve } from '../../src/core/engine.js';
import { UsageError } from '../../src/core/errors.js';
import { BUDGET_TOLERANCE } from '../../src/core/attack-checks.js';
import { defineAttack } from '../../src/core/plugin-api.js';
import { createRegistry } from '../../src/core/registry.js';
import { resolveParams } from '../../src/core/parse.js';
import { linearFixture, randomSignAttack } from '../helpers/tiny-models.js';
import mnist from '../../datasets/mnist.js';

import '../helpers/backend.js';

const fixture = linearFixture(30);
const model = { logits: fixture.model.logits, inputShape: fixture.model.inputShape, numClasses: fixture.model.numClasses, id: 'linear' };
const images = (): tf.Tensor4D => tf.tensor4d(fixture.data.images, [fixture.data.count, ...fixture.data.shape]);
const labels = Array.from(fixture.data.labels);
const grid = [0, 0.02, 0.05, 0.1, 0.2];

/** Per sample, ||a_i - b_i|| in the norm, and whether the model misclassifies a_i. */
function measured(x: tf.Tensor4D, adv: tf.Tensor4D, norm: 'linf' | 'l2'): { norms: number[]; fooled: number[] } {
  return tf.tidy(() => {
    const d = tf.reshape(tf.sub(adv, x), [x.shape[0], -1]);
    const norms = norm === 'linf' ? tf.max(tf.abs(d), 1) : tf.sqrt(tf.sum(tf.square(d), 1));
    const pred = tf.argMax(fixture.model.logits(adv), 1);
    return { norms: Array.from(norms.dataSync()), fooled: Array.from(pred.dataSync(), (p, i) => (p !== labels[i] ? 1 : 0)) };
  });
}

async function withX<T>(f: (x: tf.Tensor4D) => Promise<T>): Promise<T> {
  const x = images();
  try {
    return await f(x);
  } finally {
    x.dispose();
  }
}

test.serial('pgd: each budget holds in-range examples within eps, whose successes are exactly what the engine counts broken there', async (t) => {
  await withX(async (x) => {
    const result = await attack({ model, x, y: labels, attack: 'pgd', eps: grid, params: { steps: 10 }, seed: 5, batch: 7 });
    const pgd = (await createRegistry({ plugins: [] })).get('attack', 'pgd');
    const curve = await evaluateCurve({ model: fixture.model, attack: pgd, params: resolveParams(pgd, { steps: 10 }), data: fixture.data, grid, batchSize: 30, seed: 5 });
    t.deepEqual(result.budgets.map((b) => b.eps), grid);
    t.is(result.norm, 'linf');
    t.deepEqual(Array.from(result.cleanCorrect), curve.outcomes.clean);
    for (const [k, b] of result.budgets.entries()) {
      const { norms, fooled } = measured(x, b.x, 'linf');
      t.deepEqual(Array.from(b.success), fooled, `success at ${b.eps} is the model's verdict on the returned examples`);
      t.true(norms.every((v) => v <= b.eps * (1 + BUDGET_TOLERANCE) + BUDGET_TOLERANCE), `within ${b.eps}: ${Math.max(...norms)}`);
      norms.forEach((v, i) => t.true(Math.abs(v - b.norms[i]!) < 1e-6));
      const [lo, hi] = [tf.min(b.x), tf.max(b.x)];
      t.true(lo.dataSync()[0]! >= 0 && hi.dataSync()[0]! <= 1);
      tf.dispose([lo, hi]);
      t.is(x.shape[0] - b.success.reduce((s, v) => s + v, 0), curve.points[k]!.correct, `the run's robust count at ${b.eps}`);
    }
    t.true(result.budgets[4]!.success.reduce((s, v) => s + v, 0) > result.budgets[0]!.success.reduce((s, v) => s + v, 0), 'pgd at 0.2 breaks samples');
    t.true(result.budgets[1]!.evaluations.gradient > 0 && result.evaluations.gradient === curve.gradientEvaluations);
    result.dispose();
  });
});

test.serial('the same seed gives bit-equal examples whatever the batch size; another seed other examples', async (t) => {
  await withX(async (x) => {
    const run = (batch: number, seed: number) => attack({ model, x, y: labels, attack: 'pgd', eps: [0.05, 0.1], seed, batch });
    const [a, b, c] = [await run(30, 1), await run(4, 1), await run(30, 2)];
    for (const k of [0, 1]) {
      t.deepEqual(a.budgets[k]!.x.dataSync(), b.budgets[k]!.x.dataSync());
      t.deepEqual(a.budgets[k]!.success, b.budgets[k]!.success);
    }
    t.notDeepEqual(a.budgets[0]!.x.dataSync(), c.budgets[0]!.x.dataSync());
    [a, b, c].forEach((r) => r.dispose());
  });
});

test.serial('fab (a minimization attack) returns its minimal examples, and at each budget the minimal example where it fits, else the clean image', async (t) => {
  await withX(async (x) => {
    const result = await attack({ model, x, y: labels, attack: 'fab', eps: [0.01, 0.05, 0.3], params: { steps: 20 }, seed: 1, batch: 8 });
    const minimal = result.minimal!;
    t.truthy(minimal);
    const found = measured(x, minimal.x, 'linf');
    for (let i = 0; i < labels.length; i++) {
      if (!result.cleanCorrect[i]) t.is(minimal.norms[i], 0);
      else if (Number.isFinite(minimal.norms[i])) {
        t.is(found.fooled[i], 1);
        t.true(Math.abs(found.norms[i]! - minimal.norms[i]!) < 1e-6);
      }
    }
    for (const b of result.budgets) {
      const { norms, fooled } = measured(x, b.x, 'linf');
      t.deepEqual(Array.from(b.success), fooled);
      for (let i = 0; i < labels.length; i++) {
        const fits = result.cleanCorrect[i] === 1 && minimal.norms[i]! <= b.eps * (1 + BUDGET_TOLERANCE) + BUDGET_TOLERANCE;
        t.is(b.success[i], result.cleanCorrect[i] ? (fits ? 1 : 0) : 1, `sample ${i} at ${b.eps}`);
        t.true(norms[i]! <= b.eps * (1 + BUDGET_TOLERANCE) + BUDGET_TOLERANCE, `sample ${i} at ${b.eps}: ${norms[i]}`);
      }
    }
    const broken = result.budgets.map((b) => b.success.reduce((s, v) => s + v, 0));
    t.true(broken[0]! < broken[2]!, `fab breaks more at 0.3 than at 0.01: ${broken}`);
    result.dispose();
  });
});

test.serial('a plugin object, a noise attack and a tf.LayersModel run through the same path; no tensor is left behind', async (t) => {
  await withX(async (x) => {
    const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, kernelInitializer: 'ones' })] });
    const before = tf.memory().numTensors;
    for (let round = 0; round < 2; round++) {
      const r1 = await attack({ model, x, y: labels, attack: randomSignAttack, eps: 0.1, seed: 3 });
      t.deepEqual(r1.budgets.map((b) => b.eps), [0.1]);
      r1.dispose();
      const r2: AttackResult = await attack({ model: net, x, y: tf.tensor1d(labels, 'int32'), attack: 'gaussian', eps: 0.1 });
      t.is(r2.budgets.length, 1);
      r2.dispose();
      const r3 = await attack({ model, x, y: labels, attack: 'fab', eps: 0.05, params: { steps: 3 } });
      r3.dispose();
      if (round === 0) continue;
      // Only the label tensors built inline above (the caller's, one per round) remain.
      t.is(tf.memory().numTensors, before + 2 * 1);
    }
    net.dispose();
  });
});

test.serial('options are checked like benchmark()\'s, with errors naming attack()', async (t) => {
  await withX(async (x) => {
    const bad = async (opts: Record<string, unknown>, pattern: RegExp) => {
      const err = await t.throwsAsync(attack({ model, x, y: labels, attack: 'pgd', eps: 0.1, ...opts } as never), { instanceOf: UsageError });
      t.regex(err!.message, pattern);
    };
    await bad({ params: { stepz: 3 } }, /'stepz' is not a param of the attack 'pgd'; did you mean 'steps'/);
    await bad({ params: { steps: 0 } }, /attack\(\) params option "steps"/);
    await bad({ sed: 1 }, /no option "sed"; did you mean "seed"/);
    await bad({ batch: 0 }, /attack\(\) option "batch"/);
    await bad({ eps: -1 }, /attack\(\) option "eps"/);
    await bad({ y: labels.slice(1) }, /30 images but 29 labels/);
    await bad({ x: tf.fill([2, 4, 4, 1], 2) }, /pixels must be in \[0, 1\]/);
    await bad({ x: tf.zeros([2, 5, 5, 1]), y: [0, 1] }, /takes \[4,4,1\] images/);
    await bad({ y: labels.map((l, i) => (i === 4 ? 3 : l)) }, /"y" holds the label 3 at position 4, but the model linear has 3 classes/);
    await bad({ attack: defineAttack({ id: 'no-such', description: 'x', params: {}, budget: () => 'linf', defaultGrid: () => [0], run: (c) => c.x.clone() }), params: { steps: 1 } }, /'steps' is not a param of the attack 'no-such'/);
  });
});

test.serial('a zoo model by id is loaded for the call and disposed after it', async (t) => {
  const data = await mnist.load({ split: 'test', samples: 3, offline: true });
  const x = tf.tensor4d(data.images, [3, 28, 28, 1]);
  const before = tf.memory().numTensors;
  const result = await attack({ model: 'baseline', dataset: 'mnist', x, y: data.labels, attack: 'fgsm', eps: [0, 0.2] });
  t.deepEqual(result.budgets.map((b) => b.eps), [0, 0.2]);
  t.true(result.budgets[1]!.norms.every((v) => v <= 0.2 + 1e-6));
  t.deepEqual(Array.from(result.budgets[0]!.success), Array.from(result.cleanCorrect, (c) => 1 - c));
  result.dispose();
  t.is(tf.memory().numTensors, before, 'the model loaded from the zoo is disposed');
  x.dispose();
});
