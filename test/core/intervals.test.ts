import test from 'ava';
import { accuracyIntervals, independentDifference, pairedDifference, wilsonInterval } from '../../src/core/intervals.js';

const near = (actual: number, expected: number, digits = 4): boolean => Math.abs(actual - expected) < 0.5 * 10 ** -digits;

/** Outcomes of n samples from a paired 2x2 table: both right, only the first, only the second, neither. */
function table(both: number, firstOnly: number, secondOnly: number, neither: number): [number[], number[]] {
  const rows = [...Array(both).fill([1, 1]), ...Array(firstOnly).fill([1, 0]), ...Array(secondOnly).fill([0, 1]), ...Array(neither).fill([0, 0])] as [number, number][];
  return [rows.map((r) => r[0]), rows.map((r) => r[1])];
}

test('independent difference: Newcombe hybrid score interval at published values', (t) => {
  // Newcombe (1998), Stat Med 17:873, table II, method 10: 56/70 - 48/80 gives 0.0524 to 0.3339.
  const a = independentDifference(48, 80, 56, 70);
  t.true(near(a.estimate, 0.2) && near(a.lo, 0.0524) && near(a.hi, 0.3339), JSON.stringify(a));
  // Fagerland, Lydersen & Laake (2017), 7/34 - 1/34: 0.0189 to 0.3404.
  const b = independentDifference(1, 34, 7, 34);
  t.true(near(b.lo, 0.0189) && near(b.hi, 0.3404), JSON.stringify(b));
  t.false(b.paired);
  t.deepEqual(b.n, [34, 34]);
});

test('paired difference: Newcombe square-and-add interval at a published value, narrower than unpaired', (t) => {
  // Cavo et al. (2012) in Fagerland, Lydersen & Laake (2017), table [[59, 6], [16, 80]]: -0.0621, -0.1186 to -0.0046.
  const [before, after] = table(59, 6, 16, 80);
  const d = pairedDifference(after, before);
  t.true(near(d.estimate, -0.0621) && near(d.lo, -0.1186) && near(d.hi, -0.0046), JSON.stringify(d));
  t.true(d.paired);
  // The same margins as independent samples: the correlation of the pairs is what narrows it.
  const u = independentDifference(75, 161, 65, 161);
  t.true(near(u.estimate, d.estimate, 12));
  t.true(u.hi - u.lo > 1.5 * (d.hi - d.lo), `${u.lo}..${u.hi} against ${d.lo}..${d.hi}`);
});

test('paired difference of identical outcomes is zero with a narrow interval; of fractions it uses the soft table', (t) => {
  const [a] = table(80, 0, 0, 20);
  const same = pairedDifference(a, a);
  t.is(same.estimate, 0);
  const apart = independentDifference(80, 100, 80, 100);
  t.true(same.lo < 0 && same.hi > 0 && same.hi - same.lo < (apart.hi - apart.lo) / 3, `${JSON.stringify(same)} against ${JSON.stringify(apart)}`);
  // Fractions of noise draws: a quarter more of every image's draws survived.
  const x = Array.from({ length: 40 }, (_, i) => (i % 2) * 0.5);
  const y = x.map((v) => v + 0.25);
  const d = pairedDifference(x, y);
  t.true(near(d.estimate, 0.25, 12));
  // The soft table understates the correlation of fractions, so the interval errs wide, yet no wider than unpaired.
  const apartFractions = independentDifference(10, 40, 20, 40);
  t.true(d.lo > 0 && d.hi - d.lo < apartFractions.hi - apartFractions.lo, `${JSON.stringify(d)} against ${JSON.stringify(apartFractions)}`);
  t.throws(() => pairedDifference([1], [1, 0]), { message: /1 outcomes against 2/ });
  t.throws(() => pairedDifference([], []), { message: /no samples/ });
});

test('every interval lies in its range and holds its estimate', (t) => {
  for (const [c, n] of [[0, 5], [5, 5], [3, 7], [1000, 1000]]) {
    const w = wilsonInterval(c, n);
    t.true(w.lo >= 0 && w.hi <= 1 && w.lo <= c / n && c / n <= w.hi);
  }
  for (const [a, b] of [[0, 50], [50, 0], [50, 50], [10, 40]]) {
    const d = independentDifference(a, 50, b, 50);
    t.true(d.lo >= -1 && d.hi <= 1 && d.lo <= d.estimate && d.estimate <= d.hi, JSON.stringify(d));
  }
});

test('accuracyIntervals: Wilson per image for clean accuracy and every point, noise draws counted per image', (t) => {
  const run = {
    cleanAccuracy: 0.9,
    dataset: { samples: 100 },
    points: [
      { perturbation: 0, accuracy: 0.9, correct: 90, total: 100 },
      { perturbation: 0.1, accuracy: 0.5, correct: 200, total: 400 },
    ],
  } as never;
  const got = accuracyIntervals(run);
  t.like(got, { method: 'wilson', confidence: 0.95, unit: 'image' });
  const w = wilsonInterval(90, 100);
  t.deepEqual(got.clean, [Number(w.lo.toFixed(6)), Number(w.hi.toFixed(6))]);
  t.deepEqual(got.points[0], got.clean);
  // 200 of 400 draws on 100 images: the interval of 50 of 100, not of 200 of 400.
  const perImage = wilsonInterval(50, 100);
  t.deepEqual(got.points[1], [Number(perImage.lo.toFixed(6)), Number(perImage.hi.toFixed(6))]);
});
