import test from 'ava';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../src/errors.js';
import type { RunResult } from '../src/plugin-api.js';
import { compareRuns, dropPValue } from '../src/regression.js';
import { robench } from './helpers/cli.js';

const opts = { tolerance: 0.01, alpha: 0.01, allowMismatch: false };

function run(accuracies: number[], total: number, over: Partial<RunResult> = {}): RunResult {
  return {
    robench: '0.1.0',
    model: { id: 'hebbian', dataset: 'fashion-mnist', weightsSha256: 'x' },
    dataset: { id: 'fashion-mnist', split: 'test', samples: total, source: { kind: 'bundled', path: '-', sha256: '-' } },
    attack: { id: 'pgd', params: { steps: 20 }, budget: 'linf', perturbation: 'eps' },
    backend: 'wasm',
    seed: 0,
    cleanAccuracy: accuracies[0],
    points: accuracies.map((a, i) => ({ perturbation: i / 10, accuracy: Math.round(a * total) / total, correct: Math.round(a * total), total })),
    gradientEvaluations: 0,
    forwardEvaluations: 0,
    durationMs: 1,
    startedAt: '',
    command: [],
    ...over,
  };
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
  t.is((await check('--baseline', base, base)).code, 0);
  t.is((await check('--baseline', base, now, '--update')).code, 0);
  t.is(JSON.parse(await readFile(base, 'utf8')).points[1].accuracy, 0.5);
  t.is((await check('--baseline', base, now)).code, 0);
});
