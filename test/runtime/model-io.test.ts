import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { architecture, buildModel, initializeWeights } from '../../src/nets/architectures.js';
import { shippedDatasets, wrapZooModel } from '../../src/zoo/zoo-plugin.js';
import { loadAnyModel, loadLayersModelFrom, saveLayersModelTo } from '../../src/runtime/model-io.js';
import { scalarRng } from '../../src/core/rng.js';
import { packageRoot } from '../../src/core/paths.js';
import { modelEntryIds } from '../helpers/model-entries.js';

// Every model entry: the checks below walk them all, so a new weight folder is held to its manifest
// without anyone listing it here, and each model's pass over its full test set is one test.
const ZOO_ENTRIES = modelEntryIds();

test.before(async () => {
  await tf.setBackend('cpu');
});

const tinyHebbian = () => {
  const arch = architecture('hebbian', 'compact', [12, 12, 1]);
  const model = buildModel(arch, [12, 12, 1], 4, { mean: [0.3], std: [0.3] });
  initializeWeights(model, scalarRng(1, 'io-test'));
  return model;
};
const batch = () => tf.tensor4d(Array.from({ length: 3 * 144 }, (_, i) => ((i * 7919) % 101) / 100), [3, 12, 12, 1]);

test.serial('a saved hebbian model loads back (custom layers via tf.serialization) with identical logits and sha256', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-io-'));
  const model = tinyHebbian();
  const x = batch();
  const before = (model.apply(x, { training: false }) as tf.Tensor).dataSync();
  const sha = await saveLayersModelTo(model, dir);
  t.is(sha, createHash('sha256').update(readFileSync(join(dir, 'weights.bin'))).digest('hex'));

  const loaded = await loadLayersModelFrom(join(dir, 'model.json'));
  t.deepEqual(loaded.layers.map((l) => l.getClassName()), model.layers.map((l) => l.getClassName()));
  t.true(loaded.layers.some((l) => l.getClassName() === 'RobenchFractionalThreshold'));
  t.deepEqual((loaded.apply(x, { training: false }) as tf.Tensor).dataSync(), before);

  const any = await loadAnyModel(dir);
  t.is(any.kind, 'layers');
  t.is(any.weightsSha256, sha);
  t.deepEqual(((any.model as tf.LayersModel).apply(x, { training: false }) as tf.Tensor).dataSync(), before);

  // The same files served over http load through tf.io.http.
  const server = createServer((req, res) => {
    try {
      res.end(readFileSync(join(dir, (req.url ?? '/').slice(1))));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const remote = await loadAnyModel(`http://127.0.0.1:${port}/model.json`);
  server.close();
  t.is(remote.kind, 'layers');
  t.is(remote.weightsSha256, sha);
  t.deepEqual(((remote.model as tf.LayersModel).apply(x, { training: false }) as tf.Tensor).dataSync(), before);

  const wrapped = wrapZooModel(loaded, 'hebbian', 'test', sha, {});
  t.deepEqual(wrapped.inputShape, [12, 12, 1]);
  t.is(wrapped.numClasses, 4);
  const acts = wrapped.activations!(x);
  t.deepEqual(acts.map((a) => a.name), ['block1', 'block2', 'block3', 'block4']);
  t.deepEqual(acts[0].values.shape, [3, 12, 12, 16]);
  // A loaded model's HaH blocks still give their ReLU output before the threshold.
  t.deepEqual(acts.map((a) => a.preThreshold?.shape), [[3, 12, 12, 16], [3, 6, 6, 32], undefined, undefined]);
  tf.dispose(acts.flatMap((a) => [a.values, a.preThreshold ?? []]));
  for (const m of [model, loaded, any.model as tf.LayersModel, remote.model as tf.LayersModel]) m.dispose();
  x.dispose();
  await rm(dir, { recursive: true });
});

test.serial('missing files give errors that name the path', async (t) => {
  await t.throwsAsync(loadAnyModel('/nonexistent/robench/model.json'), { message: /no model at \/nonexistent/ });
  const dir = await mkdtemp(join(tmpdir(), 'robench-io-'));
  const model = tinyHebbian();
  await saveLayersModelTo(model, dir);
  await rm(join(dir, 'weights.bin'));
  await t.throwsAsync(loadLayersModelFrom(dir), { message: /weights\.bin.*missing/ });
  model.dispose();
  await rm(dir, { recursive: true });
});

test.serial('shipped datasets are listed default first and only where a manifest exists', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'robench-zoo-'));
  const model = tinyHebbian();
  for (const [id, dataset] of [['hebbian', 'mnist'], ['hebbian', 'fashion-mnist'], ['hebbian', 'cifar10'], ['hebbian-vgg16', 'cifar10']]) {
    await saveLayersModelTo(model, join(root, `${id}-${dataset}`));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(root, `${id}-${dataset}`, 'manifest.json'), JSON.stringify({ model: id, dataset }));
  }
  await saveLayersModelTo(model, join(root, 'hebbian-svhn'));
  t.deepEqual(shippedDatasets('hebbian', root), ['cifar10', 'fashion-mnist', 'mnist']);
  t.deepEqual(shippedDatasets('hebbian-vgg16', root), ['cifar10']);
  model.dispose();
  await rm(root, { recursive: true });
});

test.serial('shipped zoo weights load, match their manifest and classify bundled test images', async (t) => {
  const { useBackend } = await import('../../src/runtime/backends.js');
  await useBackend('wasm');
  // Every entry, hebbian first (the assertions after the loop are about it).
  const ids = ['hebbian', ...ZOO_ENTRIES.filter((id) => id !== 'hebbian')];
  const plugins = await Promise.all(ids.map(async (id) => (await import(`../../models/${id}.js`)).default));
  t.true(plugins[0].datasets.includes('fashion-mnist'), 'hebbian ships Fashion-MNIST weights');
  for (const plugin of plugins) {
    for (const dataset of plugin.datasets) {
      const before = tf.memory().numTensors;
      const model = await plugin.load({ dataset });
      const manifest = (model.info as { manifest: { weightsSha256: string; testAccuracy: number } }).manifest;
      t.is(model.weightsSha256, manifest.weightsSha256);
      const ds = (await import(`../../datasets/${dataset}.js`)).default;
      const split = await ds.load({ split: 'test', samples: 200, offline: true });
      const correct = tf.tidy(() => {
        const x = tf.tensor4d(split.images, [split.count, ...split.shape] as [number, number, number, number]);
        const pred = tf.argMax(model.logits(x), 1);
        return tf.sum(tf.cast(tf.equal(pred, tf.tensor1d(split.labels, 'int32')), 'int32')).dataSync()[0];
      });
      t.true(correct / split.count > manifest.testAccuracy - 0.06, `${plugin.id} on ${dataset}: ${correct}/${split.count}`);
      model.dispose();
      t.is(tf.memory().numTensors, before, `${plugin.id} on ${dataset} leaks no tensors`);
    }
  }
  await t.throwsAsync(plugins[0].load({ dataset: 'svhn' }), { message: /no weights ship for the model 'hebbian' on the dataset 'svhn'; weights ship for: .*fashion-mnist/ });
});

test('the zoo entries the full-test-set check walks are found', (t) => {
  t.true(ZOO_ENTRIES.includes('hebbian') && ZOO_ENTRIES.includes('ekdaa') && ZOO_ENTRIES.length >= 15, ZOO_ENTRIES.join(', '));
});

for (const entry of ZOO_ENTRIES) {
  test.serial(`shipped ${entry} weights reproduce their manifest accuracy on the full test set`, async (t) => {
    // Similarity matching solves its dynamics for each of 10,000 images: minutes, past ava's global
    // timeout when this is the last file running; a test's own longer timeout holds that one off.
    t.timeout(15 * 60_000, `${entry} over its full test set`);
    const { useBackend } = await import('../../src/runtime/backends.js');
    const { batchTensors } = await import('../../src/core/engine.js');
    const shared = join(packageRoot, '..', 'shared', 'data');
    if (!existsSync(shared)) {
      // CI and developer machines have ../shared beside the checkout; elsewhere there is nothing to compare with.
      if (/^(1|true)$/i.test(process.env.CI ?? '')) t.fail(`${shared} is missing`);
      else t.log(`${shared} is absent: skipped`);
      t.pass();
      return;
    }
    await useBackend('wasm');
    const plugin = (await import(`../../models/${entry}.js`)).default;
    for (const dataset of plugin.datasets) {
      const model = await plugin.load({ dataset });
      const manifest = (model.info as { manifest: { testAccuracy: number; testSamples: number } }).manifest;
      const ds = (await import(`../../datasets/${dataset}.js`)).default;
      const split = await ds.load({ split: 'test', samples: manifest.testSamples, dataDir: shared, offline: true });
      let correct = 0;
      for (let start = 0; start < split.count; start += 500) {
        const { x, y } = batchTensors(split, Array.from({ length: Math.min(500, split.count - start) }, (_, i) => start + i));
        const hits = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(model.logits(x), 1), y), 'int32')));
        correct += (await hits.data())[0];
        tf.dispose([x, y, hits]);
      }
      model.dispose();
      // The manifest was measured on the same backend; allow a couple of near-ties to flip.
      t.true(Math.abs(correct / split.count - manifest.testAccuracy) <= 0.0003, `${entry} on ${dataset}: ${correct}/${split.count} vs ${manifest.testAccuracy}`);
    }
    t.pass(plugin.datasets.length === 0 ? `${entry} ships no weights` : undefined);
  });
}
