import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { trainingLoss } from '../../src/training/hah-objective.js';
import { learningRateAt, train, type EpochReport, type StepReport, type TrainOptions } from '../../src/training/train.js';
import { loadLayersModelFrom } from '../../src/runtime/model-io.js';
import { robench } from '../helpers/cli.js';
import { GradientPool } from '../../src/training/train-parallel.js';
import { architecture, buildModel } from '../../src/nets/architectures.js';
import type { DatasetSplit } from '../../src/core/plugin-api.js';
import { useBackend } from '../../src/runtime/backends.js';
import { lines, linesData, tempFolder, tinyTraining } from '../helpers/tiny-training.js';

test.before(async () => {
  // wasm (with robench's conv gradient kernels) trains these tiny nets ~6x faster than cpu.
  await useBackend('wasm');
});

const data = linesData(24, 12);
const base = (out: string): TrainOptions => tinyTraining(out, { model: 'hebbian', data });

test.serial('1 epoch + resume 1 epoch gives the same weights as 2 epochs straight', async (t) => {
  const root = await tempFolder(t, 'robench-train-');
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
});

test.serial('the baseline learns the synthetic task', async (t) => {
  const root = await tempFolder(t, 'robench-train-');
  const r = await train({ ...base(root), model: 'baseline', epochs: 6, lr: 3e-3, data: { ...data, train: lines(48, 0) } });
  t.true(r.testAccuracy > 0.6, `accuracy ${r.testAccuracy}`);
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
  const root = await tempFolder(t, 'robench-train-');
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
  // As a tf.Optimizer: Adam's own applyGradients type names a NamedVariableMap, not the NamedTensorMap of gradients variableGrads returns.
  const optimizer: tf.Optimizer = tf.train.adam(1e-3);
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
});

/**
 * Micro-batches of 3, 3 and 2 in batches of 8, so a second thread has some to take, and 26 images,
 * so each epoch ends with a batch of 2: uneven micro-batches, weighted by their size.
 */
const parallel = (out: string, workers: number): TrainOptions => ({ ...base(out), data: { ...data, train: lines(26, 0) }, microBatch: 3, workers });

test.serial('1 and 2 threads give bit-identical weights; a run interrupted mid-epoch and resumed on another thread count gives them too', async (t) => {
  const root = await tempFolder(t, 'robench-train-');
  const epochsOf = (into: EpochReport[]) => (r: EpochReport) => void into.push(r);
  const one: EpochReport[] = [];
  const single = await train({ ...parallel(join(root, 'one'), 1), onEpoch: epochsOf(one) });
  t.is(single.workerShare, 0);

  const before = tf.memory().numTensors;
  const during: number[] = [];
  const progress: StepReport[] = [];
  const two = await train({
    ...parallel(join(root, 'two'), 2),
    onStep: (r) => {
      during.push(tf.memory().numTensors);
      progress.push(r);
    },
  });
  t.is(tf.memory().numTensors, before, 'training on two threads leaks no tensors');
  t.true(during.every((n) => n === during[0]), `tensors after each step: ${during}`);
  t.true(two.workerShare > 0, 'the worker thread computed micro-batches');
  t.deepEqual(progress.map((r) => `${r.epoch}.${r.step}/${r.steps}`), ['1.1/4', '1.2/4', '1.3/4', '1.4/4', '2.1/4', '2.2/4', '2.3/4', '2.4/4']);
  t.true(progress.every((r) => r.imagesPerSecond > 0 && r.secondsLeft >= r.epochSecondsLeft));
  t.deepEqual([progress[3]!.epochSecondsLeft, progress[7]!.secondsLeft], [0, 0], 'nothing left at the end of an epoch and of the run');
  t.is(two.weightsSha256, single.weightsSha256);
  t.deepEqual(readFileSync(join(root, 'two', 'weights.bin')), readFileSync(join(root, 'one', 'weights.bin')));
  t.is(two.manifest.microBatch, 3);

  // Checkpoints after global steps 2 and 6 (mid-epoch) and after epoch 1 (step 4); stop after step 7.
  const stop = new Error('interrupted');
  const dir = join(root, 'cut');
  await t.throwsAsync(
    train({
      ...parallel(dir, 2),
      checkpointEvery: 2,
      onStep: (r) => {
        if (r.epoch === 2 && r.step === 3) throw stop;
      },
    }),
    { is: stop },
  );
  const state = JSON.parse(readFileSync(join(dir, 'checkpoint', 'state.json'), 'utf8'));
  t.like(state, { epoch: 1, step: 2, microBatch: 3 }, 'the last checkpoint is the mid-epoch one');
  await t.throwsAsync(train({ ...parallel(dir, 1), microBatch: 8, resume: true }), { message: /micro-batches of 3, not 8/ });
  const resumedEpochs: EpochReport[] = [];
  const resumed = await train({ ...parallel(dir, 1), resume: true, onEpoch: epochsOf(resumedEpochs) });
  t.is(resumed.weightsSha256, single.weightsSha256);
  t.deepEqual(
    resumedEpochs.map((r) => [r.epoch, r.loss, r.trainAccuracy, r.hah]),
    one.slice(1).map((r) => [r.epoch, r.loss, r.trainAccuracy, r.hah]),
    "epoch 2's report counts the steps before the interruption",
  );
});

test.serial("a finished run keeps its checkpoint and trains further with a larger --epochs, at its schedule's final learning rate", async (t) => {
  const root = await tempFolder(t, 'robench-train-');
  const first = await train(base(root));
  t.true(existsSync(join(root, 'checkpoint', 'state.json')));

  const again: EpochReport[] = [];
  const same = await train({ ...base(root), resume: true, onEpoch: (r) => again.push(r) });
  t.is(again.length, 0, 'nothing left to train');
  t.is(same.weightsSha256, first.weightsSha256);
  await t.throwsAsync(train({ ...base(root), resume: true, epochs: 1 }), { message: /already trained 2 epochs, more than --epochs 1/ });

  const more: EpochReport[] = [];
  const longer = await train({ ...base(root), resume: true, epochs: 3, onEpoch: (r) => more.push(r) });
  t.deepEqual(more.map((r) => r.epoch), [3]);
  // Past the 2-epoch schedule, both its steps apply: x0.01 (its own second epoch was at x0.1).
  t.true(Math.abs(more[0]!.learningRate - 1e-5) < 1e-12, `lr ${more[0]!.learningRate}`);
  t.not(longer.weightsSha256, first.weightsSha256);
  t.regex(longer.manifest.schedule, /over the first 2; epochs 3-3 \(added to the finished run\) at its final rate/);
  t.is(longer.manifest.epochs, 3);
});

test.serial("the saved batch-norm statistics are the training images' population statistics, even after a few steps", async (t) => {
  const root = await tempFolder(t, 'robench-train-');
  // 3 steps: momentum-0.99 moving averages would still be 97% their initial 0 and 1.
  await train({ ...base(root), model: 'baseline', epochs: 1, lr: 3e-3 });
  const model = await loadLayersModelFrom(root);
  const split = data.train;
  const norms = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
  t.is(norms.length, 4);
  // Inference-mode inputs of each batch-norm layer, through the saved statistics of the layers before it.
  let x: tf.Tensor = tf.tensor4d(split.images, [split.count, ...split.shape]);
  for (const layer of model.layers.slice(1)) {
    if (layer.getClassName() === 'BatchNormalization') {
      const channels = x.shape[x.rank - 1]!;
      const rows = Array.from(x.dataSync());
      const n = rows.length / channels;
      const [movingMean, movingVariance] = layer.getWeights().slice(2).map((w) => Array.from(w.dataSync()));
      for (let c = 0; c < channels; c++) {
        let mean = 0;
        for (let r = 0; r < n; r++) mean += rows[r * channels + c]! / n;
        let variance = 0;
        for (let r = 0; r < n; r++) variance += (rows[r * channels + c]! - mean) ** 2 / n;
        const scale = Math.sqrt(variance) + 1e-3;
        t.true(Math.abs(movingMean![c]! - mean) < 1e-3 * scale, `${layer.name} mean[${c}]: saved ${movingMean![c]}, data ${mean}`);
        t.true(Math.abs(movingVariance![c]! - variance) < 1e-3 * scale * scale, `${layer.name} variance[${c}]: saved ${movingVariance![c]}, data ${variance}`);
      }
    }
    const next = layer.apply(x, { training: false }) as tf.Tensor;
    x.dispose();
    x = next;
  }
  x.dispose();
  model.dispose();
});

test('bad parallel and checkpoint options are usage errors that name the fix, before any training', async (t) => {
  await t.throwsAsync(train({ ...base('unused'), workers: 0 }), { message: /--workers must be a whole number of at least 1, got 0/ });
  await t.throwsAsync(train({ ...base('unused'), checkpointEvery: 0 }), { message: /--checkpoint-every must be a whole number of at least 1, got 0/ });
  await t.throwsAsync(train({ ...base('unused'), microBatch: 2.5 }), { message: /--micro-batch must be a whole number/ });
  await t.throwsAsync(train({ ...base('unused'), microBatch: 16 }), { message: /--micro-batch 16 is larger than the batch \(8\)/ });
});

test('the CLI refuses --workers 0, --checkpoint-every 0 and zoo-only flags on other models, naming the fix', async (t) => {
  const zero = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', '--checkpoint-every', '0']);
  t.is(zero.code, 2);
  t.regex(zero.stderr, /--checkpoint-every '0' must be a whole number at least 1/);
  const workers = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', '--workers', '0']);
  t.is(workers.code, 2);
  t.regex(workers.stderr, /--workers '0' must be a whole number at least 1 and at most 32/);
  const ekdaa = await robench(['train', '--model', 'ekdaa', '--dataset', 'fashion-mnist', '--workers', '2', '--micro-batch', '8']);
  t.is(ekdaa.code, 2);
  t.regex(ekdaa.stderr, /--workers, --micro-batch only apply to the zoo CNNs \(baseline, .*\), not 'ekdaa'\n {2}fix: drop --workers, --micro-batch/);
});

test.serial('a training worker that cannot build the same model fails the start with its reason, and stops', async (t) => {
  const arch = architecture('baseline', 'compact', [8, 8, 1]);
  const task = { backend: 'wasm' as const, architecture: arch, numClasses: 3, normalization: data.plugin.normalization, statsSize: 3, imageShape: [8, 8, 1] as [number, number, number], microBatch: 4 };
  const never = async () => t.fail('no step runs');
  await t.throwsAsync(GradientPool.start({ ...task, params: 7 }, 2, 8, never), { message: /a training worker built a model with \d+ parameters, the main thread 7/ });
});
