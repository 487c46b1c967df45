import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import corruption, { commonCorruptions } from '../../attacks/corruption.js';
import { corruptionErrors, withCorruptionErrors } from '../../src/analysis/corruption-errors.js';
import { corruptionCsvRows, corruptionTables } from '../../src/report/corruption-report.js';
import { evaluateCurve } from '../../src/core/engine.js';
import type { DatasetSplit, LoadedModel } from '../../src/core/plugin-api.js';
import { combineCurves } from '../../src/runtime/worker-pool.js';

import '../helpers/backend.js';
import { corruptionRun, fifteen } from '../helpers/run-results.js';

const SHAPE: [number, number, number] = [12, 12, 1];

/** Bright-or-dark on textured 12x12 images near the decision line, so corruptions flip some and not others. */
function fixture(n = 16): { model: LoadedModel; data: DatasetSplit } {
  const size = 144;
  const model: LoadedModel = {
    id: 'brightness-threshold',
    dataset: 'toy',
    inputShape: SHAPE,
    numClasses: 2,
    weightsSha256: '0',
    logits: (x) => tf.tidy(() => {
      const m = tf.mean(tf.reshape(x, [x.shape[0], size]), 1, true);
      return tf.concat([tf.sub(0.5, m), tf.sub(m, 0.5)], 1);
    }),
    dispose: () => {},
  };
  const images = new Float32Array(n * size).map((_, k) => {
    const b = Math.floor(k / size);
    return Math.min(1, Math.max(0, 0.42 + 0.01 * b + 0.3 * Math.sin(k * 0.7)));
  });
  const labels = Int32Array.from({ length: n }, (_, b) => (images.subarray(b * size, (b + 1) * size).reduce((a, v) => a + v, 0) / size > 0.5 ? 1 : 0));
  return { model, data: { images, labels, count: n, shape: SHAPE, source: { kind: 'file', path: '-', sha256: '-' } } };
}

const curve = (corruptionName: string, batchSize: number) => {
  const { model, data } = fixture();
  return evaluateCurve({ model, attack: corruption, params: { corruption: corruptionName }, data, grid: [0, 3], batchSize, seed: 4 });
};

test('a common-corruption run counts each corruption apart: each count is that corruption run alone, whatever the batch size', async (t) => {
  const before = tf.memory().numTensors;
  const common = await curve('common', 16);
  const [clean, point] = common.points;
  t.is(clean.correctByVersion, undefined, 'the clean point has one version');
  t.is(point.correctByVersion!.length, 15);
  t.is(point.correctByVersion!.reduce((a, b) => a + b, 0), point.correct);
  t.deepEqual((await curve('common', 5)).points[1].correctByVersion, point.correctByVersion);
  for (const name of ['gaussian_noise', 'brightness', 'contrast', 'fog']) {
    const alone = await curve(name, 16);
    t.is(alone.points[1].correctByVersion, undefined);
    t.is(alone.points[1].correct, point.correctByVersion![commonCorruptions.indexOf(name)], name);
  }
  t.true(new Set(point.correctByVersion).size > 1, `the corruptions differ in effect: ${point.correctByVersion}`);
  t.is(tf.memory().numTensors, before);
});

test('worker chunks add up their per-corruption counts', async (t) => {
  const whole = await curve('common', 16);
  const { model, data } = fixture();
  const part = (indices: number[]) => evaluateCurve({ model, attack: corruption, params: { corruption: 'common' }, data, grid: [0, 3], batchSize: 16, seed: 4, indices });
  const joined = combineCurves([
    { curve: await part([0, 1, 2, 3, 4, 5]), samples: 6 },
    { curve: await part([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]), samples: 10 },
  ]);
  t.deepEqual(joined.points[1].correctByVersion, whole.points[1].correctByVersion);
});


test('CE divides the summed errors over severities by the baseline model\'s, mCE is their mean', (t) => {
  const base = corruptionRun('baseline', fifteen((c) => [0.2, 0.4]));
  const model = corruptionRun('hebbian', fifteen((c) => (c === 0 ? [0.1, 0.2] : [0.3, 0.3])));
  const table = corruptionErrors(model, [base, model])!;
  t.deepEqual(table.severities, [1, 2]);
  t.is(table.corruptions[0].name, 'gaussian_noise');
  [...table.corruptions[0].errors, table.corruptions[0].ce!].forEach((v, i) => t.true(Math.abs(v - [0.1, 0.2, 0.5][i]) < 1e-12));
  t.true(Math.abs(table.corruptions[1].ce! - 1) < 1e-12);
  t.true(Math.abs(table.mce! - (0.5 + 14) / 15) < 1e-12);
  // The plain mean error weighs severities, not CE's per-corruption normalisation: (0.15 + 14 * 0.3) / 15.
  t.true(Math.abs(table.meanError - (0.15 + 14 * 0.3) / 15) < 1e-12);
  t.is(table.baseline, 'baseline');
  t.true(Math.abs(corruptionErrors(base, [base, model])!.mce! - 1) < 1e-12, 'the baseline against itself is 100%');
});

test('no mCE without a comparable baseline run, nor when the baseline never errs on a corruption', (t) => {
  const model = corruptionRun('hebbian', fifteen(() => [0.3, 0.3]));
  t.is(corruptionErrors(model, [model])!.mce, undefined);
  const otherData = corruptionRun('baseline', fifteen(() => [0.2, 0.4]), { dataset: { id: 'svhn', split: 'test', samples: 100, source: { kind: 'bundled', path: '-', sha256: '-' } } });
  t.is(corruptionErrors(model, [otherData, model])!.mce, undefined);
  const otherSeverities = corruptionRun('baseline', fifteen(() => [0.2, 0.4, 0.5]));
  t.is(corruptionErrors(model, [otherSeverities, model])!.mce, undefined);
  const perfect = corruptionRun('baseline', fifteen((c) => (c === 3 ? [0, 0] : [0.2, 0.4])));
  const table = corruptionErrors(model, [perfect, model])!;
  t.is(table.mce, undefined);
  t.is(table.corruptions[3].ce, undefined);
  t.true(Math.abs(table.corruptions[0].ce! - 1) < 1e-12);
  const pgd = { ...model, attack: { ...model.attack, id: 'pgd' } };
  t.is(corruptionErrors(pgd, [pgd]), undefined);
  const old = { ...model, points: model.points.map(({ correctByVersion, ...p }) => p) };
  t.is(corruptionErrors(old, [old]), undefined, 'results written before the breakdown have no table');
});

test('a single corruption run has its table from the plain counts', (t) => {
  const single = corruptionRun('hebbian', [[0.25, 0.5]], {}, 'glass_blur');
  single.points = single.points.map(({ correctByVersion, ...p }) => p);
  const table = corruptionErrors(single, [single])!;
  t.is(table.images, 100);
  t.deepEqual(table.corruptions.map(({ name, errors }) => ({ name, errors })), [{ name: 'glass_blur', errors: [0.25, 0.5] }]);
  // Wilson's 95% interval of 25 and 50 errors in 100: (17.5, 34.3) and (40.4, 59.6) per cent.
  table.corruptions[0].intervals.forEach(({ lo, hi }, s) => {
    t.true(Math.abs(lo - [0.1755, 0.4038][s]) < 5e-4 && Math.abs(hi - [0.343, 0.5962][s]) < 5e-4, `${lo} ${hi}`);
  });
});

test('results.json, the terminal table and corruptions.csv carry the errors, CE and mCE', (t) => {
  const base = corruptionRun('baseline', fifteen(() => [0.2, 0.4]));
  const model = corruptionRun('hebbian', fifteen((c) => (c === 0 ? [0.1, 0.2] : [0.3, 0.3])));
  const json = withCorruptionErrors([base, model]);
  t.true(Math.abs(json[1].corruptionErrors!.mce! - (0.5 + 14) / 15) < 1e-12);
  const [, text] = corruptionTables([base, model]);
  t.regex(text, /hebbian \[cifar10\] error/);
  // Each error with Wilson's 95% interval over the 100 images: 10 errors (5.5-17.4%), 20 errors (13.3-28.9%).
  t.regex(text, /gaussian_noise\s*│\s*10\.0% \(5\.5–17\.4\)\s*│\s*20\.0% \(13\.3–28\.9\)\s*│\s*50\.0%/);
  t.regex(text, /mean \(mCE vs baseline\)\s*│\s*28\.7%\s*│\s*29\.3%\s*│\s*96\.7%/);
  const rows = corruptionCsvRows([base, model]);
  t.is(rows.length, 2 * 15 * 2);
  t.like(rows[30], { model: 'hebbian', corruption: 'gaussian_noise', severity: 1 });
  t.true(Math.abs((rows[30].error as number) - 0.1) < 1e-12 && Math.abs((rows[30].ce as number) - 0.5) < 1e-12);
  t.true(Math.abs((rows[30].mce as number) - (0.5 + 14) / 15) < 1e-12);
  t.like(rows[30], { images: 100 });
  t.true(Math.abs((rows[30].error_lo as number) - 0.0552) < 5e-4 && Math.abs((rows[30].error_hi as number) - 0.1744) < 5e-4);
});

test('when CE and mCE are omitted, the table says why: no baseline run, or corruptions the baseline never got wrong', (t) => {
  const model = corruptionRun('hebbian', fifteen(() => [0.3, 0.3]));
  t.regex(corruptionErrors(model, [model])!.ceOmitted!, /no baseline run on these .* images is among these results \(add --model baseline/);
  const perfect = corruptionRun('baseline', fifteen((c) => (c === 3 || c === 5 ? [0, 0] : [0.2, 0.4])));
  const table = corruptionErrors(model, [perfect, model])!;
  t.regex(table.ceOmitted!, new RegExp(`made no error on ${commonCorruptions[3]}, ${commonCorruptions[5]} at any severity .* CE .* is undefined`));
  // The terminal table carries the sentence under the table; with every CE defined there is none.
  t.true(corruptionTables([perfect, model])[1]!.endsWith(table.ceOmitted!));
  const errs = corruptionRun('baseline', fifteen(() => [0.2, 0.4]));
  t.is(corruptionErrors(model, [errs, model])!.ceOmitted, undefined);
});
