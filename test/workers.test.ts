import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readResults } from '../src/commands/check.js';
import { saveLayersModelTo } from '../src/model-io.js';

const root = resolve(import.meta.dirname, '..');

const robench = (args: string[]) =>
  new Promise<void>((done, fail) =>
    execFile(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli.ts'), ...args], (err, _out, stderr) => (err ? fail(new Error(stderr)) : done())),
  );

test('worker threads give exactly the single-thread result', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-workers-'));
  const model = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })],
  });
  await saveLayersModelTo(model, join(dir, 'model'));
  model.dispose();
  const args = ['run', '--model', join(dir, 'model', 'model.json'), '--dataset', 'fashion-mnist', '--attack', 'pgd', '--steps', '3'];
  const rest = ['--eps', '0,0.01,0.03', '--samples', '60', '--batch', '10', '--backend', 'wasm', '--format', 'json', '--seed', '4'];
  await robench([...args, ...rest, '--workers', '1', '--out', join(dir, 'one')]);
  await robench([...args, ...rest, '--workers', '2', '--out', join(dir, 'two')]);
  const [one] = readResults(join(dir, 'one'));
  const [two] = readResults(join(dir, 'two'));
  t.deepEqual(two.points, one.points);
  t.is(two.cleanAccuracy, one.cleanAccuracy);
  t.is(two.gradientEvaluations, one.gradientEvaluations);
  t.true(one.points[2].accuracy < one.points[0].accuracy);
});
