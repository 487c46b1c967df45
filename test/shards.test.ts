import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readResults } from '../src/commands/check.js';
import { UsageError } from '../src/errors.js';
import { saveLayersModelTo } from '../src/model-io.js';
import { mergeShards, parseShard, shardRange } from '../src/shards.js';

const root = resolve(import.meta.dirname, '..');

const robench = (args: string[]) =>
  new Promise<void>((done, fail) =>
    execFile(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli.ts'), ...args], (err, _out, stderr) => (err ? fail(new Error(stderr)) : done())),
  );

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
  const model = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })],
  });
  await saveLayersModelTo(model, join(dir, 'model'));
  model.dispose();
  const common = ['run', '--model', join(dir, 'model', 'model.json'), '--dataset', 'mnist', '--attack', 'pgd', '--steps', '3'];
  const rest = ['--eps', '0,0.02,0.05', '--samples', '45', '--batch', '8', '--backend', 'cpu', '--format', 'json', '--seed', '9'];
  await robench([...common, ...rest, '--out', join(dir, 'full')]);
  for (const i of [0, 1, 2]) await robench([...common, ...rest, '--shard', `${i}/3`, '--out', join(dir, `s${i}`)]);
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
