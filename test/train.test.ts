import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { learningRateAt, train, trainingLoss, type TrainOptions } from '../src/train.js';
import { architecture, buildModel } from '../models/architectures.js';
import type { DatasetSplit } from '../src/plugin-api.js';
import { useBackend } from '../src/backends.js';

test.before(async () => {
  // wasm (with robench's conv gradient kernels) trains these tiny nets ~6x faster than cpu.
  await useBackend('wasm');
});

/** Three classes of 8x8 images: a bright row, column or diagonal, plus noise. */
function synthetic(count: number, offset: number): DatasetSplit {
  const images = new Float32Array(count * 64);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = (i + offset) % 3;
    labels[i] = label;
    const at = (i * 5 + offset) % 8;
    for (let p = 0; p < 64; p++) {
      const y = Math.floor(p / 8);
      const x = p % 8;
      const on = label === 0 ? y === at : label === 1 ? x === at : x === y;
      images[i * 64 + p] = on ? 0.9 : (((i * 31 + p * 17) % 13) / 13) * 0.2;
    }
  }
  return { images, labels, count, shape: [8, 8, 1], source: { kind: 'bundled', path: 'synthetic', sha256: '' } };
}

const data = {
  plugin: { id: 'synthetic', imageShape: [8, 8, 1] as [number, number, number], normalization: { mean: [0.2], std: [0.3] }, classNames: ['row', 'column', 'diagonal'] },
  train: synthetic(24, 0),
  test: synthetic(12, 1),
};
const base = (out: string): TrainOptions => ({ model: 'hebbian', dataset: 'synthetic', epochs: 2, batch: 8, seed: 5, out, data, log: () => {} });

test.serial('1 epoch + resume 1 epoch gives the same weights as 2 epochs straight', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'robench-train-'));
  const before = tf.memory().numTensors;
  const reports: number[] = [];
  const straight = await train({ ...base(join(root, 'a')), onEpoch: (r) => reports.push(r.hah.length) });
  t.deepEqual(reports, [2, 2], 'two epochs, each reporting two HaH terms');
  t.is(tf.memory().numTensors, before, 'training leaks no tensors');

  const stop = new Error('interrupted');
  await t.throwsAsync(
    train({
      ...base(join(root, 'b')),
      onEpoch: (r) => {
        if (r.epoch === 1) throw stop;
      },
    }),
    { is: stop },
  );
  await t.throwsAsync(train({ ...base(join(root, 'b')), resume: true, epochs: 3 }), { message: /different epochs/ });
  const resumed = await train({ ...base(join(root, 'b')), resume: true });
  t.is(resumed.weightsSha256, straight.weightsSha256);
  t.deepEqual(readFileSync(join(root, 'b', 'weights.bin')), readFileSync(join(root, 'a', 'weights.bin')));
  t.is(resumed.testAccuracy, straight.testAccuracy);

  const manifest = JSON.parse(readFileSync(join(root, 'a', 'manifest.json'), 'utf8'));
  t.is(manifest.weightsSha256, straight.weightsSha256);
  t.deepEqual(manifest.hahAlphas, [0.0045, 0.0025]);
  t.is(manifest.hahLambda, 1);
  t.is(manifest.testSamples, 12);

  const otherSeed = await train({ ...base(join(root, 'c')), seed: 6 });
  t.not(otherSeed.weightsSha256, straight.weightsSha256);
  await rm(root, { recursive: true });
});

test.serial('the baseline learns the synthetic task', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'robench-train-'));
  const r = await train({ ...base(root), model: 'baseline', epochs: 6, lr: 3e-3, data: { ...data, train: synthetic(48, 0) } });
  t.true(r.testAccuracy > 0.6, `accuracy ${r.testAccuracy}`);
  await rm(root, { recursive: true });
});

test('bad options are usage errors that name the fix', async (t) => {
  await t.throwsAsync(train({ ...base('unused'), model: 'resnet' }), { message: /can only train the zoo models/ });
  await t.throwsAsync(train({ ...base('unused'), batch: 0 }), { message: /--batch must be a positive integer/ });
});

test('the learning rate drops tenfold at half and three quarters of the run', (t) => {
  t.deepEqual([0, 4, 5, 7, 8, 9].map((e) => learningRateAt(1, e, 10)), [1, 1, 0.1, 0.1, 0.01, 0.01]);
  t.is(learningRateAt(1, 0, 1), 1);
});

test.serial('the VGG16 entries build and train a couple of steps', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'robench-train-'));
  const colour = (count: number): DatasetSplit => ({
    images: Float32Array.from({ length: count * 32 * 32 * 3 }, (_, i) => ((i * 2654435761) % 997) / 997),
    labels: Int32Array.from({ length: count }, (_, i) => i % 10),
    count,
    shape: [32, 32, 3],
    source: { kind: 'bundled', path: 'synthetic', sha256: '' },
  });
  const cifarLike = {
    plugin: { id: 'synthetic-colour', imageShape: [32, 32, 3] as [number, number, number], normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, classNames: Array.from({ length: 10 }, (_, i) => `c${i}`) },
    train: colour(4),
    test: colour(2),
  };
  // Full training (with its 180 MB of checkpoints) for the HaH variant only.
  const hah: number[][] = [];
  const r = await train({ model: 'hebbian-vgg16', dataset: 'synthetic-colour', epochs: 1, batch: 2, out: root, data: cifarLike, log: () => {}, onEpoch: (e) => hah.push(e.hah) });
  t.is(r.manifest.architecture.blocks.length, 13);
  t.is(hah[0].length, 6);
  t.true(hah[0].every(Number.isFinite));
  t.deepEqual(r.manifest.hahAlphas, [0.0045, 0.0025, 0.0013, 0.001, 0.0008, 0.0005]);

  // The baseline: one optimiser step through the same training objective.
  const arch = architecture('baseline', 'vgg16', [32, 32, 3]);
  const model = buildModel(arch, [32, 32, 3], 10, cifarLike.plugin.normalization);
  t.is(model.layers.filter((l) => l.getClassName() === 'Conv2D').length, 13);
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.tensor4d(cifarLike.train.images.subarray(0, 2 * 3072), [2, 32, 32, 3]);
  const y = tf.tensor1d([0, 1], 'int32');
  const lossAt = () => tf.tidy(() => trainingLoss(model, arch, x, y).loss.dataSync()[0]);
  const first = lossAt();
  for (let i = 0; i < 2; i++) {
    tf.tidy(() => optimizer.applyGradients(tf.variableGrads(() => trainingLoss(model, arch, x, y).loss, vars).grads));
  }
  t.true(lossAt() < first, 'two steps on one batch lower its loss');
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  await rm(root, { recursive: true });
});
