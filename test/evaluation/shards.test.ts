import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readResults } from '../../src/cli/commands/check.js';
import { UsageError } from '../../src/core/errors.js';
import { mergeShards, parseShard, shardRange } from '../../src/evaluation/shards.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { pointsFromOutcomes } from '../../src/core/samples.js';
import { robench, robenchOk, saveCentroidModel } from '../helpers/cli.js';

test('shard ranges tile the samples', (t) => {
  const ranges = [0, 1, 2].map((index) => shardRange({ index, count: 3 }, 100));
  t.deepEqual(ranges, [
    [0, 33],
    [33, 66],
    [66, 100],
  ]);
  t.throws(() => parseShard('3/3'), { instanceOf: UsageError });
  t.throws(() => parseShard('a/b'), { instanceOf: UsageError });
});

test('per-sample outcomes round-trip through shard, merge, report and check', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-shards-'));
  const modelJson = await saveCentroidModel(join(dir, 'model'));
  const common = ['run', '--model', modelJson, '--dataset', 'mnist', '--attack', 'pgd,gaussian', '--steps', '3'];
  const rest = ['--eps', '0,0.08,0.3', '--samples', '45', '--batch', '8', '--backend', 'cpu', '--format', 'json', '--seed', '9'];
  await robenchOk([...common, ...rest, '--out', join(dir, 'full')]);
  for (const i of [0, 1, 2]) await robenchOk([...common, ...rest, '--shard', `${i}/3`, '--out', join(dir, `s${i}`)]);
  const full = readResults(join(dir, 'full'));
  const shards = [2, 0, 1].flatMap((i) => readResults(join(dir, `s${i}`)));
  t.true(shards.every((s) => s.shard !== undefined && s.dataset.samples === 15 && s.outcomes!.index.length === 15));
  const merged = mergeShards(shards);
  for (const [k, attack] of ['pgd', 'gaussian'].entries()) {
    const m = merged.find((r) => r.attack.id === attack)!;
    t.deepEqual(m.points, full[k].points, attack);
    t.deepEqual(m.outcomes, full[k].outcomes, attack);
    t.is(m.cleanAccuracy, full[k].cleanAccuracy);
    t.is(m.gradientEvaluations, full[k].gradientEvaluations);
    t.is(m.dataset.samples, 45);
    // Per-version counts of noise points sit beside the record, not in it.
    t.deepEqual(pointsFromOutcomes(m.outcomes!, m.points.map((p) => p.perturbation)), m.points.map(({ correctByVersion: _v, ...p }) => p));
  }
  // Measured 41, 33, 0 of 45 under PGD and 124 of 135 draws at sigma 0.08: records that differ from sample to sample.
  t.true(full[0].points[1].correct < full[0].points[0].correct && full[0].points[1].correct > 0);
  t.true(full[1].outcomes!.survivedDraws![1].some((v) => v > 0 && v < 3), 'an image that survives some draws only');
  t.throws(() => mergeShards(shards.slice(1)), { instanceOf: UsageError, message: /missing/ });
  // The merged report's results.json is checked against the single run sample by sample.
  await robenchOk(['report', join(dir, 's0'), join(dir, 's1'), join(dir, 's2'), '--out', join(dir, 'merged'), '--format', 'json']);
  const reported = readResults(join(dir, 'merged'));
  t.deepEqual(reported.map((r) => r.outcomes), full.map((r) => r.outcomes));
  const check = await robench(['check', '--baseline', join(dir, 'full'), join(dir, 'merged')]);
  t.is(check.code, 0, check.stderr);
  t.regex(check.stdout, /McNemar exact/);
  t.regex(check.stdout, /sign test, per image/);
  t.notRegex(check.stdout, /z-test/);
});

test('shard merges check every sample and every setting', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-shards-bad-'));
  const modelJson = await saveCentroidModel(join(dir, 'model'));
  const args = ['run', '--model', modelJson, '--dataset', 'mnist', '--attack', 'fgsm', '--eps', '0,0.05', '--samples', '20', '--backend', 'cpu', '--format', 'json'];
  for (const i of [0, 1]) await robenchOk([...args, '--shard', `${i}/2`, '--out', join(dir, `s${i}`)]);
  const [s0, s1] = [0, 1].flatMap((i) => readResults(join(dir, `s${i}`)));
  t.is(mergeShards([s0, s1])[0].outcomes!.index.length, 20);
  t.deepEqual([s0.shard, s1.shard], [{ index: 0, count: 2, start: 0, end: 10, samples: 20 }, { index: 1, count: 2, start: 10, end: 20, samples: 20 }]);
  // Shards written before the whole run's sample count was recorded merge as before.
  const older = [s0, s1].map(({ shard: { samples: _s, ...shard } = {} as NonNullable<RunResult['shard']>, ...r }) => ({ ...r, shard }));
  t.is(mergeShards(older)[0].outcomes!.index.length, 20);
  t.is(mergeShards([older[0]!, s1])[0].dataset.samples, 20);
  const edited = (over: (r: RunResult) => RunResult) => [s0, over(structuredClone(s1))];
  const withIndex = (index: number[]) => (r: RunResult): RunResult => ({ ...r, outcomes: { ...r.outcomes!, index } });
  const bad: [RunResult[], RegExp][] = [
    [edited(withIndex([9, ...s1.outcomes!.index.slice(1)])), /shard 1 records sample 9, outside its slice \[10, 20\)/],
    [edited(withIndex([10, 10, ...s1.outcomes!.index.slice(2)])), /records sample 10 twice/],
    [edited(withIndex(s1.outcomes!.index.slice(1))), /records 9 of the 10 samples of its slice \(missing 10\)/],
    [edited((r) => ({ ...r, backend: 'wasm' })), /differs from shard 0 in its backend/],
    [edited((r) => ({ ...r, sweep: false })), /in its sweep mode/],
    [edited((r) => ({ ...r, dataset: { ...r.dataset, source: { ...r.dataset.source, sha256: 'other' } } })), /in its data source/],
    [edited(({ outcomes: _o, ...r }) => r), /in its per-sample outcomes/],
    [edited((r) => ({ ...r, model: { ...r.model, id: 'other' } })), /other \[mnist\] \/ fgsm: shard 1 differs from shard 0 in its model/],
    // Shard 1 of a run of 21 samples would tile [10, 21): the sample count tells them apart.
    [edited((r) => ({ ...r, shard: { ...r.shard!, samples: 21 } })), /in its sample count \(21 vs 20\)/],
  ];
  for (const [parts, message] of bad) t.throws(() => mergeShards(parts), { instanceOf: UsageError, message });
  // Two complete sharded runs of one model and attack that differ in a setting stay two runs.
  const seed1 = [s0, s1].map((r) => ({ ...r, seed: 1 }));
  t.is(mergeShards([s0, s1, ...seed1]).length, 2);
});
