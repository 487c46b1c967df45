/** A user's model file is checked for what would make its numbers meaningless: softmax before the output, a wrong class count. */
import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../src/core/errors.js';
import { loadModel } from '../../src/evaluation/load-model.js';
import { graphSoftmaxNodes, saveLayersModelTo } from '../../src/runtime/model-io.js';
import { createRegistry } from '../../src/core/registry.js';
import { shardRange } from '../../src/evaluation/shards.js';
import { inputRangeHint, loadUserModel } from '../../src/evaluation/user-model.js';
import type { LoadedModel } from '../../src/core/plugin-api.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

const registryPromise = createRegistry({ cwd: tmpdir() });

async function saved(layers: tf.layers.Layer[], name: string): Promise<string> {
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), ...layers] });
  const dir = await mkdtemp(join(tmpdir(), `robench-${name}-`));
  await saveLayersModelTo(model, dir);
  model.dispose();
  return join(dir, 'model.json');
}

const warningsOf = async (file: string): Promise<string[]> => {
  const model = await loadUserModel(file, (await registryPromise).get('dataset', 'mnist'), [0, 1]);
  model.dispose();
  return (model.info?.warnings as string[] | undefined) ?? [];
};

test('softmax before the output is flagged: a softmax activation, a Softmax layer, a nested submodel', async (t) => {
  const dense = (units: number, activation?: 'softmax') => tf.layers.dense({ units, activation, kernelInitializer: 'ones' });
  const inner = tf.sequential({ layers: [tf.layers.dense({ units: 8, activation: 'softmax', inputShape: [784] })], name: 'inner' });
  const cases: [tf.layers.Layer[], RegExp][] = [
    [[dense(8, 'softmax'), dense(10)], /applies softmax before its output \(dense_\w+\)/],
    [[dense(8), tf.layers.softmax({ name: 'probs' }), dense(10)], /\(probs\)/],
    [[inner as unknown as tf.layers.Layer, dense(10)], /\(inner\/dense_\w+\)/],
    // A separate Softmax layer at the very end is not a stripped activation: it is flagged too.
    [[dense(10), tf.layers.softmax({ name: 'last' })], /\(last\)/],
  ];
  for (const [layers, message] of cases) {
    const warnings = await warningsOf(await saved(layers, 'softmax'));
    t.is(warnings.length, 1);
    t.regex(warnings[0], message);
  }
  // The final activation is stripped to linear, so it leaves nothing to flag.
  t.deepEqual(await warningsOf(await saved([dense(10, 'softmax')], 'final')), []);
  t.deepEqual(await warningsOf(await saved([dense(10)], 'plain')), []);
});

test('a graph model\'s Softmax nodes are found in its graph and its function library', (t) => {
  const topology = {
    node: [
      { name: 'x', op: 'Placeholder' },
      { name: 'model/attention/Softmax', op: 'Softmax' },
      { name: 'model/dense/MatMul', op: 'MatMul' },
    ],
    library: { function: [{ nodeDef: [{ name: 'while/body/Softmax', op: 'Softmax' }, { name: 'while/body/Add', op: 'AddV2' }] }] },
  };
  t.deepEqual(graphSoftmaxNodes(topology), ['model/attention/Softmax', 'while/body/Softmax']);
  t.deepEqual(graphSoftmaxNodes({ node: [{ name: 'out', op: 'LogSoftmax' }] }), []);
});

test.serial('a model whose class count differs from the dataset\'s is a usage error', async (t) => {
  const file = await saved([tf.layers.dense({ units: 12 })], 'classes');
  const before = tf.memory().numTensors;
  const err = await t.throwsAsync(loadModel(await registryPromise, { model: file, dataset: 'mnist', inputRange: '0,1' }), { instanceOf: UsageError });
  t.regex(err!.message, /returns 12 logits but mnist has 10 classes/);
  t.is(tf.memory().numTensors, before, 'the refused model is disposed');
});

test('a shard with no sample is a usage error', (t) => {
  t.deepEqual(shardRange({ index: 1, count: 2 }, 2), [1, 2]);
  t.throws(() => shardRange({ index: 0, count: 4 }, 3), { instanceOf: UsageError, message: /--shard 0\/4 of 3 samples holds no sample/ });
});

test('a clean accuracy below twice chance on a model file hints that --input-range is wrong', (t) => {
  const model = (info?: Record<string, unknown>) => ({ id: 'm', numClasses: 10, info }) as unknown as LoadedModel;
  t.regex(inputRangeHint(model({ inputRange: [0, 255] }), 0.11)!, /11\.0% is near chance \(10\.0%\) with --input-range 0,255.*try --input-range 0,1 or -1,1/);
  t.is(inputRangeHint(model({ inputRange: [0, 255] }), 0.9), undefined);
  // Zoo models normalise inside themselves and take no range: nothing to hint.
  t.is(inputRangeHint(model(), 0.05), undefined);
});
