/**
 * The package entry point as a user's project imports it: `import { benchmark } from 'robench'`
 * resolves through package.json's exports to the built dist/ (npm test builds it first).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { benchmark, loadZooModel, zooModels, zooWeightsDir, type RunResult } from 'robench';
import 'robench/layers';
import { robenchOk } from '../helpers/cli.js';

const settings = { dataset: 'mnist', attack: 'fgsm', eps: [0, 0.05, 0.1], samples: 24, batch: 8, seed: 3, backend: 'cpu' } as const;

/** What must agree between two evaluations of the same weights on the same samples. */
const numbers = (r: RunResult) => ({ sha: r.model.weightsSha256, clean: r.cleanAccuracy, points: r.points, outcomes: r.outcomes, gradients: r.gradientEvaluations, forwards: r.forwardEvaluations });

let zoo: RunResult;
test.before(async () => {
  zoo = await benchmark({ model: 'baseline', ...settings });
});

test('benchmark() of a zoo id returns what robench run writes to results.json', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'robench-benchmark-'));
  await robenchOk(['run', '--model', 'baseline', '--dataset', 'mnist', '--attack', 'fgsm', '--eps', '0,0.05,0.1', '--samples', '24', '--batch', '8', '--seed', '3', '--backend', 'cpu', '--workers', '1', '--format', 'json', '--out', out, '--no-progress']);
  const [saved] = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { runs: RunResult[] }).runs;
  t.deepEqual(numbers(zoo), numbers(saved));
  t.deepEqual(Object.keys(zoo).sort(), Object.keys(saved).filter((k) => k !== 'gallery').sort());
  t.deepEqual(JSON.parse(JSON.stringify(zoo.attack)), saved.attack);
  t.is(zoo.points.length, 3);
  t.true(zoo.points[2]!.accuracy < zoo.points[0]!.accuracy, 'FGSM at 0.1 breaks some MNIST samples');
});

test('a LayersModel loaded with tf.loadLayersModel(file://) after robench/layers benchmarks to the zoo numbers', async (t) => {
  const net = await tf.loadLayersModel(`file://${zooWeightsDir('baseline', 'mnist')}/model.json`);
  const held = await benchmark({ model: net, modelId: 'baseline-in-memory', ...settings });
  t.deepEqual(numbers(held), numbers(zoo));
  t.is(held.model.id, 'baseline-in-memory');
  t.is(held.model.info?.format, 'layers');
  // benchmark() leaves a model it was handed to its owner, undisposed.
  t.notThrows(() => tf.dispose(net.predict(tf.zeros([1, 28, 28, 1]))));
  net.dispose();
});

test('a logits function with its input range benchmarks to the same numbers', async (t) => {
  const zooModel = await loadZooModel('baseline', 'mnist');
  // The function expects 0..255 pixels: robench must map its [0, 1] images there.
  const logits = (x: tf.Tensor4D) => zooModel.logits(tf.div(x, 255) as tf.Tensor4D);
  const held = await benchmark({ model: { logits, inputShape: [28, 28, 1], numClasses: 10, inputRange: [0, 255], weightsSha256: zooModel.weightsSha256 }, ...settings });
  t.deepEqual(numbers(held), numbers(zoo));
  t.is(held.model.info?.format, 'function');
  zooModel.dispose();
});

test('a model in memory needs a dataset, and one of the dataset\'s shape', async (t) => {
  const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [32, 32, 3] }), tf.layers.dense({ units: 10 })] });
  await t.throwsAsync(benchmark({ model: net, attack: 'fgsm' }), { message: /needs a dataset/ });
  await t.throwsAsync(benchmark({ model: net, dataset: 'mnist', attack: 'fgsm', backend: 'cpu' }), { message: /\[32,32,3\].*\[28,28,1\]/ });
  net.dispose();
});

test('a TypeScript plugin in a folder without node_modules imports tfjs and robench', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-plugin-'));
  // A CommonJS folder: the .ts plugin must still load as a module.
  writeFileSync(join(dir, 'package.json'), '{"type": "commonjs"}');
  writeFileSync(
    join(dir, 'brighten.ts'),
    `import * as tf from '@tensorflow/tfjs';
import { defineAttack, projectLinf } from 'robench';
const lift: number = 1;
export default defineAttack({
  id: 'brighten', description: 'adds eps to every pixel', params: {}, budget: () => 'linf', defaultGrid: () => [0, 0.5],
  async run(ctx) { return tf.tidy(() => projectLinf(ctx.x, tf.clipByValue(tf.add(ctx.x, lift), 0, 1) as tf.Tensor4D, ctx.eps)); },
});
`,
  );
  const result = await benchmark({ model: 'baseline', dataset: 'mnist', attack: 'brighten', plugins: [join(dir, 'brighten.ts')], eps: [0, 1], samples: 8, backend: 'cpu' });
  // eps 1 turns every image white: the model cannot tell the classes apart.
  t.true(result.points[1]!.correct <= 2, `an all-white image is one class at most (got ${result.points[1]!.correct} of 8)`);
});

test('zooModels lists the shipped models with their datasets', async (t) => {
  const baseline = (await zooModels()).find((m) => m.id === 'baseline');
  t.deepEqual(baseline?.datasets.slice().sort(), ['cifar10', 'fashion-mnist', 'mnist']);
});
