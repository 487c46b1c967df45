import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readResults } from '../src/commands/check.js';
import { robenchOk, saveDenseModel } from './helpers/cli.js';

test('worker threads give exactly the single-thread result', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-workers-'));
  const modelJson = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { seed: 3 });
  const args = ['run', '--model', modelJson, '--dataset', 'fashion-mnist', '--attack', 'pgd', '--steps', '3'];
  const rest = ['--eps', '0,0.01,0.03', '--samples', '60', '--batch', '10', '--backend', 'wasm', '--format', 'json', '--seed', '4'];
  await robenchOk([...args, ...rest, '--workers', '1', '--out', join(dir, 'one')]);
  await robenchOk([...args, ...rest, '--workers', '2', '--out', join(dir, 'two')]);
  const [one] = readResults(join(dir, 'one'));
  const [two] = readResults(join(dir, 'two'));
  t.deepEqual(two.points, one.points);
  t.is(two.cleanAccuracy, one.cleanAccuracy);
  t.is(two.gradientEvaluations, one.gradientEvaluations);
  t.true(one.points[2].accuracy < one.points[0].accuracy);
});
