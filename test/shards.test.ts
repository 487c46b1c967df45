import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readResults } from '../src/commands/check.js';
import { UsageError } from '../src/errors.js';
import { mergeShards, parseShard, shardRange } from '../src/shards.js';
import { robenchOk, saveDenseModel } from './helpers/cli.js';

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

test('merged shards give exactly the single-run result', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-shards-'));
  const modelJson = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { seed: 2 });
  const common = ['run', '--model', modelJson, '--dataset', 'mnist', '--attack', 'pgd', '--steps', '3'];
  const rest = ['--eps', '0,0.02,0.05', '--samples', '45', '--batch', '8', '--backend', 'cpu', '--format', 'json', '--seed', '9'];
  await robenchOk([...common, ...rest, '--out', join(dir, 'full')]);
  for (const i of [0, 1, 2]) await robenchOk([...common, ...rest, '--shard', `${i}/3`, '--out', join(dir, `s${i}`)]);
  const [full] = readResults(join(dir, 'full'));
  const shards = [2, 0, 1].flatMap((i) => readResults(join(dir, `s${i}`)));
  t.true(shards.every((s) => s.shard !== undefined && s.dataset.samples === 15));
  const [merged] = mergeShards(shards);
  t.deepEqual(merged.points, full.points);
  t.is(merged.cleanAccuracy, full.cleanAccuracy);
  t.is(merged.gradientEvaluations, full.gradientEvaluations);
  t.is(merged.dataset.samples, 45);
  t.throws(() => mergeShards(shards.slice(1)), { instanceOf: UsageError, message: /missing/ });
});
