/**
 * Hostile input, plugins: a promise that can never settle. When robench's event loop empties
 * while a plugin call is still pending, Node would end silently with exit code 13 and a run
 * half written; robench names the plugin call that never finished and exits 1.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robench } from '../helpers/cli.js';

const folder = (): string => mkdtempSync(join(tmpdir(), 'robench-hostile-unsettled-'));

/** A model plugin that never loads, and a working model with an attack that never returns. */
const PLUGIN = `import * as tf from '@tensorflow/tfjs';
import { isMainThread } from 'node:worker_threads';
export default [
  { kind: 'model', id: 'stall', description: 'never loads', datasets: ['mnist'], load: () => new Promise(() => {}) },
  {
    kind: 'model', id: 'flat', description: 'a linear model', datasets: ['mnist'],
    load: async () => {
      const w = tf.fill([784, 10], 0.01);
      return { id: 'flat', dataset: 'mnist', inputShape: [28, 28, 1], numClasses: 10, weightsSha256: '0', logits: (x) => tf.matMul(tf.reshape(x, [x.shape[0], 784]), w), dispose: () => w.dispose() };
    },
  },
  { kind: 'attack', id: 'stall', description: 'never returns', params: {}, budget: () => 'linf', defaultGrid: () => [0, 0.1], run: () => new Promise(() => {}) },
  {
    kind: 'attack', id: 'stall-in-worker', description: 'never returns in a worker thread', params: {}, budget: () => 'linf', defaultGrid: () => [0, 0.1],
    // Slow on the main thread, so that the worker claims a batch before the main thread has done them all.
    run: ({ x }) => new Promise((done) => isMainThread && setTimeout(() => done(x.clone()), 4000)),
  },
];
`;

test('a plugin promise that never settles is named at exit, with exit code 1', async (t) => {
  const dir = folder();
  const plugin = join(dir, 'stall.mjs');
  writeFileSync(plugin, PLUGIN);
  const load = await robench(['run', '--plugin', plugin, '--model', 'stall', '--attack', 'fgsm', '--samples', '10', '--out', join(dir, 'a')]);
  t.is(load.code, 1, load.stderr);
  t.regex(load.stderr, /robench: model 'stall' load\(\) never finished: its promise can no longer settle/);
  const run = await robench(['run', '--plugin', plugin, '--model', 'flat', '--attack', 'stall', '--samples', '10', '--eps', '0.1', '--out', join(dir, 'b')]);
  t.is(run.code, 1, run.stderr);
  t.regex(run.stderr, /robench: attack 'stall' run\(\) \(at perturbation 0\.1\) never finished/);
  // In evaluation worker threads too: each names its call to the main thread before it ends.
  const workers = await robench(['run', '--plugin', plugin, '--model', 'flat', '--attack', 'stall-in-worker', '--samples', '40', '--batch', '10', '--eps', '0.1', '--workers', '2', '--out', join(dir, 'c')]);
  t.is(workers.code, 1, workers.stderr);
  t.regex(workers.stderr, /robench: attack 'stall-in-worker' run\(\) \(at perturbation 0\.1\) never finished/);
});
