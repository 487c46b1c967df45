import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import gaussian from '../../attacks/gaussian.js';
import pgd from '../../attacks/pgd.js';
import { evaluateCurve, type CurveResult } from '../../src/core/engine.js';
import { UsageError } from '../../src/core/errors.js';
import type { AttackPlugin, Params } from '../../src/core/plugin-api.js';
import { resultsJson } from '../../src/report/results-json.js';
import { checkOutcomes, pointsFromOutcomes, survivedFromRecord } from '../../src/core/samples.js';
import { combineCurves } from '../../src/runtime/worker-pool.js';

import '../helpers/backend.js';
import { linearFixture as fixture, randomSignAttack as randomSign } from '../helpers/tiny-models.js';


// The linear model's margins are small: these budgets take PGD from 90% to 0%.
const grid = [0, 0.001, 0.003, 0.01, 0.03];
const noiseGrid = [0, 0.05, 0.1, 0.2, 0.4];
const cases: [string, AttackPlugin<any>, Params, boolean, number[]][] = [
  ['pgd swept', pgd, { steps: 3, restarts: 1, norm: 'linf', loss: 'ce' }, true, grid],
  ['pgd --no-sweep', pgd, { steps: 3, restarts: 1, norm: 'linf', loss: 'ce' }, false, grid],
  ['gaussian', gaussian, { draws: 3 }, true, noiseGrid],
];

async function evaluate(attack: AttackPlugin<any>, params: Params, sweep: boolean, indices: number[], points = grid): Promise<CurveResult> {
  const { model, data } = fixture(50);
  try {
    return await evaluateCurve({ model, attack, params, data, grid: points, indices, batchSize: 8, seed: 5, sweep });
  } finally {
    model.dispose();
  }
}

const range = (start: number, end: number): number[] => Array.from({ length: end - start }, (_, i) => start + i);

for (const [name, attack, params, sweep, points] of cases) {
  test.serial(`${name}: every point of the curve is recomputed exactly from the per-sample record`, async (t) => {
    const before = tf.memory().numTensors;
    const curve = await evaluate(attack, params, sweep, range(0, 50), points);
    t.is(tf.memory().numTensors, before);
    const o = curve.outcomes;
    t.deepEqual(o.index, range(0, 50));
    t.deepEqual(o.clean.reduce((s, v) => s + v, 0), curve.points[0].correct);
    // Per-version counts (one per noise draw or corruption) are beside the record, not in it.
    const counts = curve.points.map(({ correctByVersion, ...p }) => {
      if (correctByVersion) t.is(correctByVersion.reduce((a, b) => a + b, 0), p.correct);
      return p;
    });
    t.deepEqual(pointsFromOutcomes(o, points), counts);
    // The curve must fall, or recomputing it would prove little.
    t.true(curve.points.at(-1)!.accuracy < curve.points[1].accuracy && curve.points[1].accuracy <= curve.points[0].accuracy);
    if (attack.budget(params) !== null) {
      // brokeAt is the first point where a sample was misclassified, whatever the sweep mode.
      const survived = survivedFromRecord(o, points.length);
      o.brokeAt!.forEach((b, i) => t.is(b, survived.findIndex((s) => s[i] === 0)));
      t.true(o.brokeAt!.some((b) => b > 0));
      t.true(o.clean.every((c, i) => c === 1 || o.brokeAt![i] === 0));
    } else {
      t.deepEqual(o.draws, [1, 3, 3, 3, 3]);
      t.true(o.survivedDraws!.slice(1).every((s) => s.every((v) => v >= 0 && v <= 3)));
      t.true(o.survivedDraws!.some((s) => s.some((v) => v === 1 || v === 2)), 'some image survives only some draws');
    }
  });

  test.serial(`${name}: records of two slices joined equal the record of one pass`, async (t) => {
    const whole = await evaluate(attack, params, sweep, range(0, 50), points);
    const parts = [range(0, 24), range(24, 50)];
    const halves = await Promise.all(parts.map((p) => evaluate(attack, params, sweep, p, points)));
    const joined = combineCurves(halves.map((curve, i) => ({ curve, samples: parts[i].length })));
    t.deepEqual(joined.outcomes, whole.outcomes);
    t.deepEqual(joined.points, whole.points);
  });
}


test.serial('--no-sweep records what a first-broken budget cannot: samples broken at one budget and robust at a larger one', async (t) => {
  const curve = await evaluate(randomSign, {}, false, range(0, 50));
  const o = curve.outcomes;
  const robustLater = o.index.filter((d, i) => o.brokeAt![i] > 0 && o.survivors!.slice(o.brokeAt![i] + 1).some((list) => list.includes(d)));
  t.true(robustLater.length > 0);
  t.deepEqual(pointsFromOutcomes(o, grid), curve.points);
});

test.serial('a record that does not reproduce its curve is refused', async (t) => {
  const curve = await evaluate(pgd, { steps: 3, restarts: 1, norm: 'linf', loss: 'ce' }, true, range(0, 50));
  t.notThrows(() => checkOutcomes(curve.outcomes, curve.points, 50, 'here'));
  // One sample robust at eps 0.02 recorded as broken there.
  const first = curve.outcomes.brokeAt!.findIndex((b) => b > 1);
  const flipped = { ...curve.outcomes, brokeAt: curve.outcomes.brokeAt!.map((b, i) => (i === first ? 1 : b)) };
  t.throws(() => checkOutcomes(flipped, curve.points, 50, 'here'), { instanceOf: UsageError, message: /do not reproduce/ });
  t.throws(() => checkOutcomes(curve.outcomes, curve.points, 49, 'here'), { instanceOf: UsageError });
});

test.serial('results.json keeps per-sample records compact and parses back to the same value', async (t) => {
  const curve = await evaluate(gaussian, { draws: 3 }, true, range(0, 50), noiseGrid);
  const nested = { a: [1, -2.5, 1e-7], b: [{ c: 'x [1, 2]', d: undefined }, [3, 4]], e: [], f: {} };
  for (const value of [curve, nested]) t.deepEqual(JSON.parse(resultsJson([value as never])).runs[0], JSON.parse(JSON.stringify(value)));
  t.regex(resultsJson([nested as never]), /"a": \[1,-2.5,1e-7\]/);
  // 10,000 swept samples: dataset index, clean hit and first broken budget in about 9 bytes a sample.
  const n = 10000;
  const index = range(0, n);
  const outcomes = { index, clean: index.map((i) => (i % 10 ? 1 : 0)), brokeAt: index.map((i) => (i % 10 ? (i % 9) - 1 : 0)) };
  t.true(resultsJson([{ outcomes } as never]).length < 100_000);
});
