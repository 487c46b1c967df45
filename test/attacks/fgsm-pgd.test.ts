import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import fgsm from '../../attacks/fgsm.js';
import pgd from '../../attacks/pgd.js';
import { maxPerturbation } from '../../src/core/norms.js';
import { accuracy, contextFor, linearModel, paramsOf, randomMlp, runAttack, selfLabelledBatch } from '../helpers/tiny-models.js';
import type { AttackPlugin, Norm, Params } from '../../src/core/plugin-api.js';

import '../helpers/backend.js';

const mlp = randomMlp(3, [8, 8, 1], 32, 10);

async function attack(plugin: AttackPlugin<any>, eps: number, overrides: Params = {}, seed = 1, model = mlp, batch = selfLabelledBatch(mlp, 48, 7)) {
  const { ctx, counters } = contextFor(model, batch.x, batch.y, eps, paramsOf(plugin, overrides), seed);
  const [xadv] = await runAttack(plugin, ctx);
  return { xadv, counters, batch };
}

function inBudget(x: tf.Tensor4D, xadv: tf.Tensor4D, norm: Norm, eps: number): boolean {
  const range = tf.tidy(() => [tf.min(xadv).dataSync()[0], tf.max(xadv).dataSync()[0]]);
  return range[0] >= 0 && range[1] <= 1 && Math.max(...maxPerturbation(x, xadv, norm)) <= eps + 1e-6 && xadv.shape.join() === x.shape.join();
}

/** Two-class linear model on 4x4 images: the logit difference is w . x with w = W[:,1] - W[:,0]. */
function linearBinary() {
  const w = tf.tensor2d([...Array(16)].flatMap((_, i) => [Math.sin(i + 1), Math.cos(3 * i + 2)]), [16, 2]);
  const model = linearModel(w, tf.zeros([2]), [4, 4, 1]);
  const diff = Array.from(tf.tidy(() => tf.sub(tf.slice(w, [0, 1], [-1, 1]), tf.slice(w, [0, 0], [-1, 1]))).dataSync());
  // Pixels in [0.35, 0.65] and eps 0.05 keep the optimum clear of the [0, 1] box.
  const batch = selfLabelledBatch(model, 32, 11, 0.35, 0.65);
  return { model, batch, l1: diff.reduce((s, v) => s + Math.abs(v), 0) };
}

function margins(model: ReturnType<typeof linearBinary>['model'], x: tf.Tensor4D, y: tf.Tensor1D): number[] {
  return tf.tidy(() => {
    const z = model.logits(x);
    const signed = tf.sub(tf.mul(tf.cast(y, 'float32'), 2), 1);
    return Array.from(tf.mul(tf.sub(tf.slice(z, [0, 1], [-1, 1]), tf.slice(z, [0, 0], [-1, 1])).reshape([-1]), signed).dataSync());
  });
}

test('FGSM reaches the analytic l-inf optimum of a linear model: margin - eps * ||w||_1', async (t) => {
  const { model, batch, l1 } = linearBinary();
  const eps = 0.05;
  const { xadv } = await attack(fgsm, eps, {}, 1, model, batch);
  const before = margins(model, batch.x, batch.y);
  const after = margins(model, xadv, batch.y);
  before.forEach((m, i) => t.true(Math.abs(after[i] - (m - eps * l1)) < 1e-4, `sample ${i}: ${after[i]} vs ${m - eps * l1}`));
  t.true(inBudget(batch.x, xadv, 'linf', eps));
  tf.dispose([xadv, batch.x, batch.y]);
  model.dispose();
});

test('PGD l-inf reaches the same analytic optimum, or fools the sample where the optimum is negative', async (t) => {
  const { model, batch, l1 } = linearBinary();
  const eps = 0.05;
  const { xadv } = await attack(pgd, eps, {}, 1, model, batch);
  const before = margins(model, batch.x, batch.y);
  const after = margins(model, xadv, batch.y);
  let robust = 0;
  before.forEach((m, i) => {
    const optimum = m - eps * l1;
    if (optimum < 0) t.true(after[i] < 0, `sample ${i} should be fooled`);
    else {
      robust++;
      t.true(Math.abs(after[i] - optimum) < 1e-4, `sample ${i}: ${after[i]} vs ${optimum}`);
    }
  });
  t.true(robust > 0 && robust < before.length, 'the batch mixes robust and non-robust samples');
  tf.dispose([xadv, batch.x, batch.y]);
  model.dispose();
});

for (const plugin of [fgsm, pgd]) {
  for (const norm of plugin === pgd ? (['linf', 'l2'] as const) : (['linf'] as const)) {
    test(`${plugin.id} ${norm}: stays in the eps-ball and [0, 1], and eps 0 changes nothing`, async (t) => {
      const eps = norm === 'linf' ? 0.1 : 1;
      const { xadv, batch } = await attack(plugin, eps, plugin === pgd ? { norm } : {});
      t.true(inBudget(batch.x, xadv, norm, eps));
      t.true(accuracy(mlp, xadv, batch.y) < accuracy(mlp, batch.x, batch.y), 'the attack lowers accuracy');
      const zero = await attack(plugin, 0, plugin === pgd ? { norm } : {}, 1, mlp, batch);
      t.is(Math.max(...maxPerturbation(batch.x, zero.xadv, norm)), 0);
      t.is(accuracy(mlp, zero.xadv, batch.y), 1);
      tf.dispose([xadv, zero.xadv, batch.x, batch.y]);
    });
  }
}

test('PGD is never weaker than FGSM on the same batch', async (t) => {
  for (const eps of [0.02, 0.05, 0.1]) {
    const one = await attack(fgsm, eps);
    const many = await attack(pgd, eps, {}, 1, mlp, one.batch);
    const [a1, a2] = [accuracy(mlp, one.xadv, one.batch.y), accuracy(mlp, many.xadv, one.batch.y)];
    t.true(a2 <= a1, `eps ${eps}: PGD ${a2} vs FGSM ${a1}`);
    tf.dispose([one.xadv, many.xadv, one.batch.x, one.batch.y]);
  }
});

test('PGD keeps the worst case over restarts: more restarts never help the model', async (t) => {
  const batch = selfLabelledBatch(mlp, 48, 7);
  const one = await attack(pgd, 0.03, { steps: 5 }, 1, mlp, batch);
  const three = await attack(pgd, 0.03, { steps: 5, restarts: 3 }, 1, mlp, batch);
  const fooledOne = tf.tidy(() => Array.from(tf.notEqual(tf.argMax(mlp.logits(one.xadv), 1), batch.y).dataSync()));
  const fooledThree = tf.tidy(() => Array.from(tf.notEqual(tf.argMax(mlp.logits(three.xadv), 1), batch.y).dataSync()));
  fooledOne.forEach((f, i) => t.true(!f || fooledThree[i] === 1, `sample ${i} fooled by restart 0 must stay fooled`));
  // Restarts after the first attack only samples no earlier iterate fooled, and each only until it is fooled.
  const unfooled = fooledOne.filter((f) => !f).length;
  t.true(unfooled > 0 && unfooled < 48);
  t.true(three.counters.gradient <= 5 * 48 + 2 * 5 * unfooled);
  t.true(three.counters.gradient >= 5 * unfooled + 2 * 5 * fooledThree.filter((f) => !f).length);
  tf.dispose([one.xadv, three.xadv, batch.x, batch.y]);
});

test('PGD is deterministic for a seed and depends on it', async (t) => {
  const batch = selfLabelledBatch(mlp, 16, 7);
  const a = await attack(pgd, 0.05, { steps: 3 }, 5, mlp, batch);
  const b = await attack(pgd, 0.05, { steps: 3 }, 5, mlp, batch);
  const c = await attack(pgd, 0.05, { steps: 3 }, 6, mlp, batch);
  t.deepEqual(Array.from(a.xadv.dataSync()), Array.from(b.xadv.dataSync()));
  t.notDeepEqual(Array.from(a.xadv.dataSync()), Array.from(c.xadv.dataSync()));
  tf.dispose([a.xadv, b.xadv, c.xadv, batch.x, batch.y]);
});

test.serial('FGSM and PGD leak no tensors', async (t) => {
  const batch = selfLabelledBatch(mlp, 8, 7);
  for (const [plugin, over] of [[fgsm, {}], [pgd, { steps: 3, restarts: 2 }], [pgd, { norm: 'l2', steps: 3 }]] as const) {
    const before = tf.memory().numTensors;
    const { xadv } = await attack(plugin, 0.1, over, 1, mlp, batch);
    t.is(tf.memory().numTensors, before + 1, plugin.id);
    xadv.dispose();
  }
  tf.dispose([batch.x, batch.y]);
});

test('PGD l2 random start is inside the ball and the default grids start at 0', (t) => {
  for (const plugin of [fgsm, pgd]) {
    for (const ds of ['mnist', 'cifar10']) {
      const grid = plugin.defaultGrid(ds, paramsOf(plugin) as never);
      t.is(grid[0], 0);
      t.true(grid.every((v, i) => i === 0 || v > grid[i - 1]));
    }
  }
  t.is(pgd.budget(paramsOf(pgd, { norm: 'l2' }) as never), 'l2');
  t.is(fgsm.budget({}), 'linf');
});
