/**
 * The gallery shows the engine's examples. The case from issue 32: FAB (a minimization attack)
 * run by the old gallery at a small budget returned minimal examples larger than that budget,
 * which the model misclassifies, under "eps small" for samples the run counted robust there.
 * Built here on a linear model, then checked that no picture lies outside its budget and that
 * each picture's prediction is the run's verdict for that sample at that budget. The predictions
 * are the engine's own, so they hold that even for a model whose logits change at every call.
 */
import test from 'ava';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../../src/core/engine.js';
import { budgetLimit } from '../../src/core/attack-checks.js';
import { makeAttackContext, modelFunctions } from '../../src/core/attack-context.js';
import { resolveParams } from '../../src/core/parse.js';
import { createRegistry } from '../../src/core/registry.js';
import { sampleRng } from '../../src/core/rng.js';
import { engineExamples } from '../../src/evaluation/attack-api.js';
import { ExampleCollector } from '../../src/evaluation/example-collector.js';
import { buildGallery, galleryExamples } from '../../src/evaluation/gallery.js';
import { linearFixture, randomSignAttack } from '../helpers/tiny-models.js';
import type { LoadedModel } from '../../src/core/plugin-api.js';

import '../helpers/backend.js';

const linf = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('fab: every gallery picture lies within its budget and is misclassified exactly where the run counts the sample broken', async (t) => {
  const { model, data } = linearFixture(30);
  const fab = (await createRegistry({ plugins: [] })).get('attack', 'fab');
  const params = resolveParams(fab, { steps: 20 });
  const positions = [0, 1, 2, 3, 4, 5, 6, 7];
  const large = 0.5;
  // The minimal norms the run finds decide the small budget: half the gallery's samples need more.
  const probe = await evaluateCurve({ model, attack: fab, params, data, grid: [0, large], indices: positions, batchSize: 8, seed: 2 });
  const norms = probe.outcomes.minimalNorm!.filter((v) => v > 0).sort((a, b) => a - b);
  t.true(norms.length >= 4, `fab finds examples for most samples: ${probe.outcomes.minimalNorm}`);
  const small = norms[Math.floor(norms.length / 2) - 1]!;
  const grid = [0, small, large];
  // The gallery draws the examples this run scored, kept as it evaluated them.
  const kept = new ExampleCollector(data, positions);
  const run = await evaluateCurve({ model, attack: fab, params, data, grid, indices: positions, batchSize: 3, seed: 2, onExamples: kept.onExamples });
  const found = kept.examples({ attack: fab, params, grid, sweep: true }, run.outcomes);

  // The old gallery: attack.run at "eps small" outside the engine; FAB returns minimal examples of any size.
  const x = tf.tensor4d(positions.flatMap((p) => Array.from(data.images.subarray(p * 16, (p + 1) * 16))), [positions.length, 4, 4, 1]);
  const y = tf.tensor1d(positions.map((p) => data.labels[p]!), 'int32');
  const ctx = makeAttackContext({ ...modelFunctions(model), x, y, eps: small, params, rng: sampleRng(2, positions, `fab@${small}`), numClasses: 3, dataset: 'toy', counters: { forward: 0, gradient: 0 } });
  const old = (await fab.run(ctx)) as tf.Tensor4D;
  const oldPixels = (await old.data()) as Float32Array;
  const oldPred = (await tf.tidy(() => tf.argMax(model.logits(old), 1)).data()) as Int32Array;
  const drawnBeyond = positions.filter((p, i) => run.outcomes.brokeAt![i] !== 1 && run.outcomes.clean[i] === 1 && oldPred[i] !== data.labels[p] && linf(oldPixels.slice(i * 16, (i + 1) * 16), data.images.slice(p * 16, (p + 1) * 16)) > budgetLimit(small));
  t.true(drawnBeyond.length > 0, 'the old gallery drew, under eps small, a misclassified example beyond the budget for a sample the run counted robust there');
  tf.dispose([x, y, old]);

  const examples = await galleryExamples({ attack: fab, params, data, positions, found, budgets: [small, large] });
  // What a resumed run evaluates again for samples an earlier process finished: the same examples, in other batches.
  const again = await engineExamples({ model, attack: fab, params, data, indices: positions, grid, batchSize: 5, seed: 2, sweep: true });
  t.deepEqual(again.budgets.map((b) => b.pixels), found.budgets.map((b) => b.pixels));
  t.is(examples.length, 2 * positions.length);
  for (const e of examples) {
    const i = positions.indexOf(e.sample);
    const k = grid.indexOf(e.perturbation);
    const brokeAt = run.outcomes.brokeAt![i]!;
    const broken = run.outcomes.clean[i] === 0 || (brokeAt !== -1 && brokeAt <= k);
    t.true(linf(e.adversarial, e.clean) <= budgetLimit(e.perturbation), `sample ${e.sample} at ${e.perturbation}`);
    t.is(e.advPrediction !== e.label, broken, `sample ${e.sample} at ${e.perturbation}: the run's verdict`);
  }
  for (const p of drawnBeyond) {
    const e = examples.find((g) => g.sample === p && g.perturbation === small)!;
    t.deepEqual(e.adversarial, e.clean, `sample ${p} is robust at ${small}: its picture is the clean image`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'robench-gallery-'));
  const items = await buildGallery({ attack: fab, params, data, positions, found, budgets: [small, large], classNames: ['a', 'b', 'c'], dir });
  t.deepEqual(items.map((g) => [g.sample, g.perturbation, g.advPrediction]), examples.map((e) => [e.sample, e.perturbation, ['a', 'b', 'c'][e.advPrediction]]));
  t.true(items.every((g) => Object.values(g.images).every((path) => existsSync(join(dir, path)))));
  model.dispose();
});

test('corruptions: each gallery picture names the corruption it shows, the one that fooled the model first (issue 35)', async (t) => {
  const { model, data } = linearFixture(12);
  const corruption = (await createRegistry({ plugins: [] })).get('attack', 'corruption');
  const positions = [0, 1, 2, 3, 4, 5];
  const examples = async (choice: string, at: number[]) => {
    const setting = { model, attack: corruption, params: { corruption: choice }, data, grid: [0, 5], batchSize: 6, seed: 4, sweep: false };
    return galleryExamples({ ...setting, positions: at, found: await engineExamples({ ...setting, indices: at }), budgets: [5] });
  };
  const common = await examples('common', positions);
  t.true(common.every((e) => e.version !== undefined), 'every picture is named');
  t.true(new Set(common.map((e) => e.version)).size > 1, `several corruptions shown: ${common.map((e) => e.version)}`);
  // Each sample draws its corruption from its own stream, so the named corruption alone gives the same picture.
  for (const e of common) {
    const [alone] = await examples(e.version!, [e.sample]);
    t.deepEqual(alone.adversarial, e.adversarial, `sample ${e.sample}: ${e.version}`);
    t.is(alone.version, e.version, 'a run of one corruption names it too');
  }
});

test('a stochastic model: each gallery prediction is the verdict the run scored, not a new draw of the logits', async (t) => {
  const { model: linear, data } = linearFixture(24);
  // Logits redrawn at every call (seeded by a call counter): calling the model again on a picture gives another class.
  let calls = 0;
  const model: LoadedModel = {
    ...linear,
    id: 'noisy',
    stochastic: true,
    logits: (x) => tf.tidy(() => tf.add(linear.logits(x), tf.randomUniform([x.shape[0], 3], -2, 2, 'float32', ++calls))) as tf.Tensor2D,
  };
  const before = tf.memory().numTensors;
  const grid = [0, 0.05, 0.1];
  const setting = { model, attack: randomSignAttack, params: {}, data, grid, batchSize: 5, seed: 3, sweep: true };
  const positions = Array.from({ length: 24 }, (_, i) => i);
  // Half the samples evaluated "here", the rest in a "worker" whose examples are posted back and merged.
  const kept = new ExampleCollector(data, positions);
  const part = new ExampleCollector(data, positions.slice(12));
  const here = await evaluateCurve({ ...setting, indices: positions.slice(0, 12), onExamples: kept.onExamples });
  const there = await evaluateCurve({ ...setting, indices: positions.slice(12), onExamples: part.onExamples });
  kept.merge(structuredClone(part.export().collected));
  const outcomes = { ...here.outcomes, index: [...here.outcomes.index, ...there.outcomes.index], clean: [...here.outcomes.clean, ...there.outcomes.clean], brokeAt: [...here.outcomes.brokeAt!, ...there.outcomes.brokeAt!] };
  const found = kept.examples(setting, outcomes);
  const examples = await galleryExamples({ attack: randomSignAttack, params: {}, data, positions, found, budgets: [0.05, 0.1] });
  t.is(examples.length, 2 * positions.length);
  const verdicts = new Set<boolean>();
  for (const e of examples) {
    const i = positions.indexOf(e.sample);
    const brokeAt = outcomes.brokeAt[i]!;
    const broken = outcomes.clean[i] === 0 || (brokeAt !== -1 && brokeAt <= grid.indexOf(e.perturbation));
    verdicts.add(broken);
    t.is(e.advPrediction !== e.label, broken, `sample ${e.sample} at ${e.perturbation}: the run's verdict`);
    t.is(e.cleanPrediction !== e.label, outcomes.clean[i] === 0, `sample ${e.sample}: the clean verdict`);
  }
  t.deepEqual([...verdicts].sort(), [false, true], 'the run counted some pictures fooled and some not');
  t.is(tf.memory().numTensors, before, 'no tensor leaked');
  linear.dispose();
});
