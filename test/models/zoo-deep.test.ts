import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { architecture, buildModel, initializeWeights, PAPER_ALPHAS } from '../../src/nets/architectures.js';
import { NormalizedConv2D } from '../../src/layers/hah.js';
import { shippedDatasets, shippedWeightsDir, wrapZooModel } from '../../src/zoo/zoo-plugin.js';
import { measureSparsity } from '../../src/analysis/activation-stats.js';
import { useBackend } from '../../src/runtime/backends.js';
import type { DatasetSplit, ModelPlugin } from '../../src/core/plugin-api.js';
import { scalarRng } from '../../src/core/rng.js';
import { forwardTrain, trainingLoss } from '../../src/training/hah-objective.js';
import { learningRateAt, train } from '../../src/training/train.js';
import { builtinTrainable, trainingOf, type Trainable } from '../../src/training/trainable.js';

let trainable: Trainable;

test.before(async () => {
  await useBackend('wasm');
  trainable = await builtinTrainable();
});

const DEEP = ['baseline-deep', 'hebbian-deep', 'hebbian-deep-alpha0', 'hebbian-deep-first'];
const SHAPE: [number, number, number] = [32, 32, 3];
const NORMALIZATION = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

const archOf = (id: string) => {
  const k = trainingOf(trainable, id, 'zoo')!;
  return architecture(k.family, k.size, SHAPE, k.variant);
};
const modelOf = (id: string) => {
  const arch = archOf(id);
  const model = buildModel(arch, SHAPE, 10, NORMALIZATION);
  initializeWeights(model, scalarRng(4, `init/${id}`));
  return { arch, model };
};
const images = (count: number): Float32Array => Float32Array.from({ length: count * 32 * 32 * 3 }, (_, i) => ((i * 2654435761) % 997) / 997);
const batch = (count: number) => tf.tensor4d(images(count), [count, ...SHAPE]);

test('the deep layouts: the paper\'s six HaH convs, two at each of 32x32, 16x16 and 8x8, then a standard block', (t) => {
  const hah = (id: string) => archOf(id).blocks.map((b) => b.hah);
  t.deepEqual(hah('hebbian-deep'), [true, true, true, true, true, true, false]);
  t.deepEqual(hah('hebbian-deep-alpha0'), hah('hebbian-deep'));
  t.deepEqual(hah('hebbian-deep-first'), [true, true, false, false, false, false, false]);
  t.deepEqual(hah('baseline-deep'), [false, false, false, false, false, false, false]);
  t.deepEqual(archOf('hebbian-deep').hah.alphas, PAPER_ALPHAS);
  t.deepEqual(archOf('hebbian-deep').hah.alphas, [0.0045, 0.0025, 0.0013, 0.001, 0.0008, 0.0005]);
  t.deepEqual(archOf('hebbian-deep-alpha0').hah.alphas, [0, 0, 0, 0, 0, 0]);
  t.deepEqual(archOf('hebbian-deep-first').hah.alphas, [0.0045, 0.0025]);
  t.is(archOf('hebbian-deep').hah.lambda, 1);
  t.throws(() => architecture('baseline', 'deep', SHAPE, 'alpha0'), { message: /'alpha0' ablation is of the deep hebbian model, not of baseline-deep/ });
  t.throws(() => architecture('hebbian', 'compact', SHAPE, 'first'), { message: /not of hebbian-compact/ });

  const kernels: Record<string, number[][]> = {};
  for (const id of DEEP) {
    const { model } = modelOf(id);
    // Each conv's resolution: the HaH pairs at 32, 16 and 8, each pair then pooled.
    const sides = [1, 2, 3, 4, 5, 6, 7].map((b) => model.getLayer(`block${b}_conv`).outputShape[1]);
    t.deepEqual(sides, [32, 32, 16, 16, 8, 8, 4], id);
    t.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].filter((b) => model.layers.some((l) => l.name === `block${b}_pool`)),
      [2, 4, 6, 7],
      id,
    );
    const convs = model.layers.filter((l) => l.name.endsWith('_conv'));
    // The authors' code: no conv has a bias, and the HaH network's convs are all normalised.
    t.true(convs.every((l) => l.weights.length === 1), `${id}: convs without bias`);
    t.true(convs.every((l) => (l instanceof NormalizedConv2D) === id.startsWith('hebbian')), `${id}: normalised convs in the hebbian models only`);
    const standard = archOf(id).blocks.flatMap((b, i) => (b.hah ? [] : [i + 1]));
    t.deepEqual(
      standard.filter((b) => model.layers.some((l) => l.name === `block${b}_bn`)),
      standard,
      `${id}: every standard block ends in batch norm`,
    );
    kernels[id] = model.trainableWeights.filter((w) => w.originalName.endsWith('/kernel')).map((w) => w.shape as number[]);
    model.dispose();
  }
  t.deepEqual(kernels['baseline-deep'], kernels['hebbian-deep'], 'the twins have the same kernels');
  t.deepEqual(kernels['hebbian-deep-first'], kernels['hebbian-deep']);
});

test.serial('HaH costs come from the HaH blocks only; without alphas the loss is the cross-entropy', (t) => {
  const x = batch(2);
  const y = tf.tensor1d([3, 7], 'int32');
  const before = tf.memory().numTensors;
  const norm = (g: tf.Tensor | undefined) => (g === undefined ? 0 : tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]));
  for (const [id, terms] of [['hebbian-deep', 6], ['hebbian-deep-alpha0', 6], ['hebbian-deep-first', 2], ['baseline-deep', 0]] as const) {
    const { arch, model } = modelOf(id);
    t.is(tf.tidy(() => forwardTrain(model, arch, x).hah.length), terms, id);
    const kernel = (b: number) => model.getLayer(`block${b}_conv`).trainableWeights[0].read() as tf.Variable;
    if (terms > 0) {
      // The normalised conv right after the last HaH block gets no HaH gradient; that block does.
      const last = kernel(terms);
      const next = kernel(terms + 1);
      const grads = tf.tidy(() => tf.variableGrads(() => tf.addN(forwardTrain(model, arch, x).hah) as tf.Scalar, [last, next]).grads);
      t.true(norm(grads[last.name]) > 0, `${id}: the last HaH term reaches its block`);
      t.is(norm(grads[next.name]), 0, `${id}: no HaH term reaches the standard block after it`);
      tf.dispose(grads);
    }
    const [loss, ce] = tf.tidy(() => {
      const r = trainingLoss(model, arch, x, y);
      return [r.loss.dataSync()[0], r.crossEntropy.dataSync()[0]];
    });
    if (id === 'hebbian-deep-alpha0' || id === 'baseline-deep') t.is(loss, ce, `${id}: loss is the cross-entropy`);
    else t.true(loss < ce, `${id}: the HaH costs (positive after ReLU) lower the loss`);
    model.dispose();
  }
  t.is(tf.memory().numTensors, before);
  tf.dispose([x, y]);
});

test('the deep models drop the learning rate tenfold at 60% and 80% of the run; the others keep 50% and 75%', (t) => {
  t.deepEqual([0, 17, 18, 23, 24, 29].map((e) => learningRateAt(1, e, 30, [0.6, 0.8])), [1, 1, 0.1, 0.1, 0.01, 0.01]);
  t.deepEqual([0, 14, 15, 22, 23].map((e) => learningRateAt(1, e, 30)), [1, 1, 0.1, 0.1, 0.01]);
});

test.serial('robench train gives the deep models 30 epochs, whole batches of 128 and their schedule by default, and a manifest of their own', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'robench-deep-'));
  const split = (count: number): DatasetSplit => ({
    images: images(count),
    labels: Int32Array.from({ length: count }, (_, i) => i % 10),
    count,
    shape: SHAPE,
    source: { kind: 'bundled', path: 'synthetic', sha256: '' },
  });
  const data = {
    plugin: { id: 'synthetic-colour', imageShape: SHAPE, normalization: NORMALIZATION, classNames: Array.from({ length: 10 }, (_, i) => `c${i}`) },
    train: split(2),
    test: split(2),
  };
  const before = tf.memory().numTensors;
  const rates: number[] = [];
  const hah: number[][] = [];
  const r = await train({
    model: 'hebbian-deep-alpha0',
    dataset: 'synthetic-colour',
    out: root,
    data,
    log: () => {},
    onEpoch: (e) => {
      rates.push(e.learningRate);
      hah.push(e.hah);
    },
  });
  t.is(tf.memory().numTensors, before, 'training leaks no tensors');
  t.deepEqual(rates, [...Array(18).fill(1e-3), ...Array(6).fill(1e-4), ...Array(6).fill(1e-5)]);
  t.true(hah.every((h) => h.length === 6 && h.every(Number.isFinite)), 'the HaH costs are still measured, at alpha 0');
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
  t.is(manifest.model, 'hebbian-deep-alpha0');
  t.is(manifest.epochs, 30);
  t.is(manifest.batch, 128);
  t.is(manifest.microBatch, 128, 'batch norm over the whole batch, as the authors train');
  t.is(manifest.seed, 0);
  t.is(manifest.schedule, 'step: x0.1 at 60% and x0.01 at 80% of the epochs');
  t.deepEqual(manifest.hahAlphas, [0, 0, 0, 0, 0, 0]);
  t.is(manifest.architecture.standardConv, 'normalized');
  t.is(r.epochs, 30);
  await rm(root, { recursive: true });
});

test('the deep plugins list the CIFAR-10 weights that ship, and without weights say how to train them', async (t) => {
  for (const id of DEEP) {
    const plugin = (await import(`../../models/${id}.js`)).default as ModelPlugin;
    t.is(plugin.id, id);
    if (shippedDatasets(id).length > 0) {
      // Their accuracy against the manifest is checked with the rest of the zoo (test/runtime/model-io.test.ts).
      t.deepEqual(plugin.datasets, ['cifar10'], id);
      continue;
    }
    t.deepEqual(plugin.datasets, []);
    const err = await t.throwsAsync(plugin.load({}), { message: new RegExp(`no weights ship for the model '${id}' yet`) });
    t.regex((err as Error & { hint: string }).hint, new RegExp(`train them with \`robench train --model ${id} --dataset cifar10\``));
    await t.throwsAsync(plugin.load({ dataset: 'svhn' }), { message: /on the dataset 'svhn'; weights ship for: none/ });
  }
});

test("the VGG16 entries' convs are the authors': no bias anywhere, every conv of hebbian-vgg16 normalised (its standard blocks' too)", (t) => {
  for (const id of ['baseline-vgg16', 'hebbian-vgg16']) {
    const { model } = modelOf(id);
    const convs = model.layers.filter((l) => l.name.endsWith('_conv'));
    t.is(convs.length, 13, id);
    t.true(convs.every((l) => l.weights.length === 1), `${id}: convs without bias`);
    t.true(convs.every((l) => (l instanceof NormalizedConv2D) === id.startsWith('hebbian')), `${id}: normalised convs in the hebbian model only`);
    t.is(archOf(id).blocks.filter((b) => b.hah).length, id.startsWith('hebbian') ? 6 : 0, `${id}: 6 of 13 convs HaH, as the paper`);
    model.dispose();
  }
});

/** Weights folders under a fresh root, each a model.json and a manifest naming [model, dataset]; the folder is named `name` or `<model>-<dataset>`. */
async function weightsRootWith(entries: [model: string, dataset: string, name?: string][]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'robench-zoo-deep-'));
  for (const [model, dataset, name] of entries) {
    const dir = join(root, name ?? `${model}-${dataset}`);
    await mkdir(dir);
    await writeFile(join(dir, 'model.json'), '{}');
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ model, dataset }));
  }
  return root;
}

test('weights folders of the deep ids and their ablations are not taken for each other', async (t) => {
  const root = await weightsRootWith([
    ['hebbian', 'cifar10'],
    ['hebbian-deep', 'cifar10'],
    ['hebbian-deep-alpha0', 'cifar10'],
    ['hebbian-deep-alpha0', 'fashion-mnist'],
    ['hebbian-deep-first', 'svhn'],
    ['baseline-deep', 'mnist'],
    ['baseline-at', 'mnist'],
    ['hebbian-at', 'cifar10'],
  ]);
  t.deepEqual(shippedDatasets('hebbian', root), ['cifar10']);
  t.deepEqual(shippedDatasets('hebbian-deep', root), ['cifar10'], "not 'alpha0-cifar10' nor 'first-svhn'");
  t.deepEqual(shippedDatasets('hebbian-deep-alpha0', root), ['cifar10', 'fashion-mnist']);
  t.deepEqual(shippedDatasets('hebbian-deep-first', root), ['svhn']);
  t.deepEqual(shippedDatasets('baseline-deep', root), ['mnist']);
  t.deepEqual(shippedDatasets('baseline', root), [], "not 'deep-mnist' nor 'at-mnist'");
  t.deepEqual(shippedDatasets('baseline-at', root), ['mnist']);
  t.deepEqual(shippedDatasets('hebbian', root), ['cifar10'], "not 'at-cifar10'");
  await rm(root, { recursive: true });
});

test("a weights folder is the model's and dataset's its manifest names, whatever the folder's name", async (t) => {
  const root = await weightsRootWith([
    ['hebbian', 'svhn', 'baseline-svhn'],
    ['baseline', 'mnist', 'retrained'],
  ]);
  const bare = join(root, 'hebbian-cifar10');
  await mkdir(bare);
  await writeFile(join(bare, 'model.json'), '{}');
  await writeFile(join(bare, 'manifest.json'), '{}');
  t.deepEqual(shippedDatasets('baseline', root), ['mnist'], "'retrained' by its manifest, not 'baseline-svhn' by its name");
  t.deepEqual(shippedDatasets('hebbian', root), ['svhn'], 'a manifest naming no model is no entry');
  t.is(shippedWeightsDir('hebbian', 'svhn', root), join(root, 'baseline-svhn'));
  t.is(shippedWeightsDir('baseline', 'svhn', root), undefined);
  await rm(root, { recursive: true });
});

test.serial("a zoo HaH block gives its ReLU output before the threshold beside its thresholded output", async (t) => {
  const { model } = modelOf('hebbian-deep');
  const wrapped = wrapZooModel(model, 'hebbian-deep', 'synthetic', '', {});
  const x = batch(3);
  const before = tf.memory().numTensors;
  const acts = wrapped.activations!(x);
  t.deepEqual(acts.map((a) => a.name), ['block1', 'block2', 'block3', 'block4', 'block5', 'block6', 'block7']);
  t.deepEqual(acts.map((a) => a.preThreshold !== undefined), [true, true, true, true, true, true, false]);
  for (const [i, a] of acts.slice(0, 6).entries()) {
    // The pre-threshold tensor is what the block's divisive normalisation and threshold act on.
    const gap = tf.tidy(() => {
      const rebuilt = model.getLayer(`block${i + 1}_out`).apply(model.getLayer(`block${i + 1}_divnorm`).apply(a.preThreshold!)) as tf.Tensor;
      return tf.max(tf.abs(tf.sub(rebuilt, a.values))).dataSync()[0];
    });
    t.true(gap < 1e-5, `block${i + 1}: threshold(divnorm(preThreshold)) = output, off by ${gap}`);
    t.true(tf.tidy(() => tf.min(a.preThreshold!).dataSync()[0]) >= 0, 'a ReLU output');
  }
  tf.dispose(acts.flatMap((a) => [a.values, a.preThreshold ?? []]));
  t.is(tf.memory().numTensors, before, 'the activations are all the caller disposes');

  const split: DatasetSplit = { images: images(4), labels: new Int32Array(4), count: 4, shape: SHAPE, source: { kind: 'bundled', path: 'synthetic', sha256: '' } };
  const layers = (await measureSparsity(wrapped, split, [0, 1, 2, 3], 3))!;
  t.is(tf.memory().numTensors, before, 'measuring sparsity leaks no tensors');
  for (const l of layers.slice(0, 6)) {
    // floor(0.8 H W) of each channel's H W values are at most the threshold: 80% of them, less a rounding.
    t.true(l.zeroFraction >= 0.79, `${l.name}: the threshold forces 80% zeros (${l.zeroFraction})`);
    t.true(l.preThreshold!.zeroFraction < l.zeroFraction, `${l.name}: fewer zeros before the threshold`);
  }
  t.is(layers[6].preThreshold, undefined);
  x.dispose();
  wrapped.dispose();
});
