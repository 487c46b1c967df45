import test from 'ava';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import { pointInterval, wilsonInterval } from '../../src/report/charts.js';
import { readResults } from '../../src/cli/commands/check.js';
import type { RunResult, SampleOutcomes } from '../../src/core/plugin-api.js';
import { binomialTailHalf, compareRuns, dropPValue, mcnemarPValue } from '../../src/analysis/regression.js';
import { pointsFromOutcomes } from '../../src/core/samples.js';
import { robench } from '../helpers/cli.js';
import { runResult } from '../helpers/run-results.js';
import { galleryPath, writeGalleryFiles } from '../../src/report/gallery-images.js';
import { encodePng } from '../../src/report/png-image.js';
import type { ReportRun } from '../../src/report/html-report.js';

const opts = { tolerance: 0.01, alpha: 0.01, allowMismatch: false };

function run(accuracies: number[], total: number, over: Partial<RunResult> = {}): RunResult {
  return runResult(
    {
      model: { id: 'hebbian', dataset: 'fashion-mnist', weightsSha256: 'x' },
      dataset: { id: 'fashion-mnist', split: 'test', samples: total, source: { kind: 'bundled', path: '-', sha256: '-' } },
      attack: { id: 'pgd', params: { steps: 20 }, budget: 'linf', perturbation: 'eps' },
      cleanAccuracy: accuracies[0],
      points: accuracies.map((a, i) => ({ perturbation: i / 10, accuracy: Math.round(a * total) / total, correct: Math.round(a * total), total })),
    },
    over,
  );
}

test('an identical run passes', (t) => {
  const rows = compareRuns([run([0.9, 0.6, 0.3], 1000)], [run([0.9, 0.6, 0.3], 1000)], opts);
  t.is(rows.length, 3);
  t.true(rows.every((r) => r.verdict === 'ok'));
});

test('a 5-point drop on 1,000 samples fails, a 0.5-point drop passes', (t) => {
  // At 90% and 30% accuracy a 5-point drop is significant at alpha 0.01 (p = 0.0004 and 0.006);
  // near 50%, where the binomial variance peaks, 1,000 samples cannot tell it from noise (p = 0.012).
  const five = compareRuns([run([0.9, 0.6, 0.3], 1000)], [run([0.85, 0.6, 0.25], 1000)], opts);
  t.deepEqual(five.map((r) => r.verdict), ['regressed', 'ok', 'regressed']);
  const half = compareRuns([run([0.9, 0.6, 0.3], 1000)], [run([0.9, 0.595, 0.3], 1000)], opts);
  t.true(half.every((r) => r.verdict === 'ok'));
});

test('on 50 samples the statistics decide, not the raw difference', (t) => {
  const loose = { ...opts, allowMismatch: true };
  // 6 points is over the tolerance but 3 samples of 50 is noise.
  const noisy = compareRuns([run([0.9, 0.6], 1000)], [run([0.9, 0.54], 50)], loose);
  t.is(noisy[1].verdict, 'ok');
  t.true(noisy[1].drop > 0.05);
  // 40 points on 50 samples is not.
  const real = compareRuns([run([0.9, 0.6], 1000)], [run([0.9, 0.2], 50)], loose);
  t.is(real[1].verdict, 'regressed');
});

test('the p-value matches the pooled two-proportion z-test', (t) => {
  // p1 = 0.6, p2 = 0.55, n = 1000 each: z = 0.05 / sqrt(0.575 * 0.425 * 0.002) = 2.2608, p = 0.01188
  const p = dropPValue({ perturbation: 0, accuracy: 0.6, correct: 600, total: 1000 }, { perturbation: 0, accuracy: 0.55, correct: 550, total: 1000 });
  t.true(Math.abs(p - 0.01188) < 2e-4, String(p));
});

test('different settings are an error unless allowed', (t) => {
  t.throws(() => compareRuns([run([0.9], 100)], [run([0.9], 100, { seed: 1 })], opts), { instanceOf: UsageError, message: /seeds differ/ });
  const other = run([0.9], 100);
  other.attack = { ...other.attack, params: { steps: 40 } };
  t.throws(() => compareRuns([run([0.9], 100)], [other], opts), { instanceOf: UsageError, message: /attack settings differ/ });
  t.notThrows(() => compareRuns([run([0.9], 100)], [other], { ...opts, allowMismatch: true }));
});

test('robench check exits 1 on a regression, 0 otherwise, and --update rewrites the baseline', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-check-'));
  const base = join(dir, 'baseline.json');
  const now = join(dir, 'now.json');
  await writeFile(base, JSON.stringify(run([0.9, 0.6], 1000)));
  await writeFile(now, JSON.stringify(run([0.9, 0.5], 1000)));
  const check = (...args: string[]) => robench(['check', ...args]);
  const failing = await check('--baseline', base, now);
  t.is(failing.code, 1);
  t.regex(failing.stdout, /REGRESSED/);
  t.regex(failing.stdout, /z-test/);
  t.is((await check('--baseline', base, base)).code, 0);
  t.is((await check('--baseline', base, now, '--update')).code, 0);
  t.is(JSON.parse(await readFile(base, 'utf8')).runs[0].points[1].accuracy, 0.5);
  t.is((await check('--baseline', base, now)).code, 0);
});

test('check --update copies the gallery pictures the results name into the baseline folder', async (t) => {
  const [from, to] = [await mkdtemp(join(tmpdir(), 'robench-check-')), await mkdtemp(join(tmpdir(), 'robench-check-'))];
  const picture = (v: number) => encodePng(new Float32Array(16).fill(v), 4, 4, 1);
  const files = new Map([0.1, 0.2, 0.5].map((v) => [galleryPath(picture(v)), picture(v)] as const));
  const [clean, adversarial, difference] = [...files.keys()];
  await writeGalleryFiles(from, files);
  const gallery = [{ sample: 3, perturbation: 0.1, trueLabel: '1', cleanPrediction: '1', advPrediction: '2', images: { clean, adversarial, difference }, amplification: 2 }];
  await writeFile(join(from, 'results.json'), JSON.stringify([{ ...run([0.9, 0.6], 100), gallery }]));
  const updated = await robench(['check', '--baseline', to, from, '--update']);
  t.is(updated.code, 0, updated.stderr);
  t.deepEqual((await readdir(join(to, 'gallery'))).sort(), [...files.keys()].map((p) => p.slice('gallery/'.length)).sort());
  for (const [path, png] of files) t.deepEqual(new Uint8Array(await readFile(join(to, path))), png);
  t.deepEqual((readResults(to) as ReportRun[])[0].gallery, gallery);
  t.is((await robench(['report', to, '--out', join(to, 'report')])).code, 0, 'the baseline folder reports');
});

/** A swept norm-ball run whose curve is what its per-sample record says: brokeAt[i] per sample, -1 never. */
function pairedRun(brokeAt: number[], perturbations: number[], index = brokeAt.map((_, i) => i)): RunResult {
  const outcomes: SampleOutcomes = { index, clean: brokeAt.map((b) => (b === 0 ? 0 : 1)), brokeAt };
  const points = pointsFromOutcomes(outcomes, perturbations);
  return run([points[0].accuracy], brokeAt.length, { points, cleanAccuracy: points[0].accuracy, outcomes, sweep: true });
}

/** n samples: `robust` never broken, the rest broken at point 1. */
const robustFirst = (n: number, robust: number): number[] => Array.from({ length: n }, (_, i) => (i < robust ? -1 : 1));

test('the exact binomial tail and McNemar p-value, by hand', (t) => {
  // P(X >= 5 | n = 6, 1/2) = (C(6,5) + C(6,6)) / 2^6 = 7/64
  t.true(Math.abs(mcnemarPValue(5, 1) - 7 / 64) < 1e-12);
  t.true(Math.abs(mcnemarPValue(8, 0) - 1 / 256) < 1e-12);
  // (C(11,8) + C(11,9) + C(11,10) + C(11,11)) / 2^11 = 232 / 2048
  t.true(Math.abs(mcnemarPValue(8, 3) - 232 / 2048) < 1e-12);
  t.is(mcnemarPValue(0, 0), 1);
  t.is(mcnemarPValue(0, 5), 1);
  // Symmetric about n/2: P(X >= 5000 | 10,000) = 1/2 + P(X = 5000)/2, and P(X = 5000) = 0.0079786 (Stirling, 1/sqrt(5000 pi)).
  t.true(Math.abs(binomialTailHalf(5000, 10000) - (0.5 + 0.0079786 / 2)) < 1e-6);
});

test('runs on the same samples are paired: 8 of 100 samples newly broken is a regression McNemar finds and the z-test does not', (t) => {
  const grid = [0, 0.1];
  const base = pairedRun(robustFirst(100, 60), grid);
  const now = pairedRun(robustFirst(100, 52), grid);
  const [, paired] = compareRuns([base], [now], opts);
  t.is(paired.test, 'McNemar exact');
  t.true(Math.abs(paired.pValue - 1 / 256) < 1e-12);
  t.is(paired.verdict, 'regressed');
  // The same counts without per-sample records: 60% vs 52% on 100 samples each, z-test p = 0.127.
  const { outcomes: _a, ...baseCounts } = base;
  const { outcomes: _b, ...nowCounts } = now;
  const [, unpaired] = compareRuns([baseCounts], [nowCounts], opts);
  t.is(unpaired.test, 'z-test');
  t.true(Math.abs(unpaired.pValue - 0.1272) < 1e-3, String(unpaired.pValue));
  t.is(unpaired.verdict, 'ok');
});

test('the paired test counts changes both ways', (t) => {
  const grid = [0, 0.1];
  // 8 robust samples broken now, 3 broken ones robust now: P(X >= 8 | n = 11) = 232/2048.
  const was = robustFirst(100, 60);
  const is = was.map((b, i) => (i >= 52 && i < 60 ? 1 : i >= 60 && i < 63 ? -1 : b));
  const [, row] = compareRuns([pairedRun(was, grid)], [pairedRun(is, grid)], opts);
  t.is(row.test, 'McNemar exact');
  t.true(Math.abs(row.pValue - 232 / 2048) < 1e-12);
  t.is(row.verdict, 'ok');
  // An unchanged run has no discordant pair: p = 1, at every point.
  t.true(compareRuns([pairedRun(was, grid)], [pairedRun(was, grid)], opts).every((r) => r.pValue === 1 && r.test === 'McNemar exact'));
});

test('runs on different samples fall back to the unpaired test', (t) => {
  const grid = [0, 0.1];
  const other = pairedRun(robustFirst(100, 52), grid, Array.from({ length: 100 }, (_, i) => 100 + i));
  const [, row] = compareRuns([pairedRun(robustFirst(100, 60), grid)], [other], opts);
  t.is(row.test, 'z-test');
  t.true(Math.abs(row.pValue - dropPValue(row.baseline, row.current)) < 1e-12);
});

/** A noise run: `images` images, `draws` draws each, point 1 with `survived` surviving draws in all. */
function noiseRun(images: number, draws: number, survived: number, survivedDraws?: number[]): RunResult {
  const points = [
    { perturbation: 0, accuracy: 1, correct: images, total: images },
    { perturbation: 0.1, accuracy: survived / (images * draws), correct: survived, total: images * draws },
  ];
  const outcomes: SampleOutcomes | undefined = survivedDraws && {
    index: Array.from({ length: images }, (_, i) => i),
    clean: Array(images).fill(1),
    draws: [1, draws],
    survivedDraws: [Array(images).fill(1), survivedDraws],
  };
  return run([1], images, { attack: { id: 'gaussian', params: { draws }, budget: null, perturbation: 'sigma' }, sweep: false, points, ...(outcomes ? { outcomes } : {}) });
}

test('noise draws of one image count as one unit: 3 draws of 64 images are n = 64, not 192', (t) => {
  // 62.5% vs 50% per image, n = 64 each: z = 0.125 / sqrt(0.5625 * 0.4375 * 2/64) = 1.4254, p = 0.0770.
  const [, row] = compareRuns([noiseRun(64, 3, 120)], [noiseRun(64, 3, 96)], opts);
  t.is(row.test, 'z-test, per image');
  t.deepEqual(row.n, { baseline: 64, current: 64 });
  t.true(Math.abs(row.pValue - 0.0770) < 1e-3, String(row.pValue));
  t.is(row.verdict, 'ok');
  // Counting the 192 draws as independent would have called it significant (p = 0.0068).
  t.true(dropPValue(row.baseline, row.current) < 0.01);
  // The interval is an image count's too: Wilson on 40 of 64, wider than on 120 of 192.
  t.deepEqual(pointInterval(row.baseline, 64), wilsonInterval(40, 64));
  t.true(pointInterval(row.baseline, 64).hi - pointInterval(row.baseline, 64).lo > wilsonInterval(120, 192).hi - wilsonInterval(120, 192).lo);
});

test('noise runs on the same images are paired by the sign test on each image\'s survived draws', (t) => {
  // 6 of 10 images lose a draw, none gains: P(X >= 6 | n = 6) = 1/64.
  const was = Array(10).fill(3);
  const is = was.map((v, i) => (i < 6 ? 2 : v));
  const [, row] = compareRuns([noiseRun(10, 3, 30, was)], [noiseRun(10, 3, 24, is)], opts);
  t.is(row.test, 'sign test, per image');
  t.true(Math.abs(row.pValue - 1 / 64) < 1e-12);
});

test('a change of sweep mode, backend or data source is a mismatch unless allowed', (t) => {
  const base = run([0.9, 0.5], 100);
  const changed: [Partial<RunResult>, RegExp][] = [
    [{ sweep: false }, /sweep modes differ/],
    [{ backend: 'cpu' }, /backends differ/],
    [{ dataset: { ...base.dataset, source: { kind: 'file', path: '-', sha256: '-' } } }, /data sources differ/],
    [{ dataset: { ...base.dataset, source: { kind: 'bundled', path: '-', sha256: 'other' } } }, /data sources differ/],
  ];
  for (const [over, message] of changed) {
    t.throws(() => compareRuns([base], [run([0.9, 0.5], 100, over)], opts), { instanceOf: UsageError, message });
    t.notThrows(() => compareRuns([base], [run([0.9, 0.5], 100, over)], { ...opts, allowMismatch: true }));
  }
});

test('a result with no samples is refused', (t) => {
  const empty = run([0], 0, { points: [{ perturbation: 0, accuracy: NaN, correct: 0, total: 0 }] });
  t.throws(() => compareRuns([run([0.9], 100)], [empty], opts), { instanceOf: UsageError, message: /no evaluated samples/ });
  t.throws(() => compareRuns([empty], [run([0.9], 100)], opts), { instanceOf: UsageError, message: /baseline.*no evaluated samples/ });
});

test('results written before per-sample records still load and check, unpaired', (t) => {
  const old = readResults(join(import.meta.dirname, '..', 'fixtures/results/two-models'));
  t.true(old.every((r) => r.outcomes === undefined));
  const rows = compareRuns(old, old, opts);
  t.true(rows.length > 0 && rows.every((r) => r.verdict === 'ok' && r.test.startsWith('z-test')));
});
