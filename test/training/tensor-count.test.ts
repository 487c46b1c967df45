/**
 * "Every tensor is disposed; long runs keep a flat tensor count": a tiny run of each trainer, twice,
 * leaves tf.memory().numTensors where it found it, so that neither a step, a unit nor a run's end
 * (the similarity-matching readout, the held-out check, the final save) keeps one.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { DatasetSplit, ImageShape } from '../../src/core/plugin-api.js';
import type { AdversarialSpec } from '../../src/training/adversarial.js';
import { trainEkdaa } from '../../src/training/ekdaa-train.js';
import { trainSimilarityMatching } from '../../src/training/similarity-matching-train.js';
import { train } from '../../src/training/train.js';
import { noiseTask } from '../helpers/noise-task.js';
import { syntheticLines } from '../helpers/synthetic-lines.js';

import '../helpers/backend.js';

/** Runs `run` twice, each into a fresh folder: neither run leaves a tensor behind. */
async function flat(t: ExecutionContext, run: (out: string) => Promise<unknown>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'robench-tensors-'));
  try {
    const before = tf.memory().numTensors;
    await run(join(root, 'a'));
    const afterOne = tf.memory().numTensors;
    await run(join(root, 'b'));
    const afterTwo = tf.memory().numTensors;
    t.log(`tensors: before ${before}, after one run ${afterOne}, after two ${afterTwo}`);
    t.is(afterOne, before, 'a run leaves no tensor behind');
    t.is(afterTwo, afterOne, 'and a second run adds none');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const lines = (classes: 3 | 4) => (count: number, offset: number): DatasetSplit => syntheticLines(count, offset, { classes, on: 0.9, noise: 0.2 });
const zooData = {
  plugin: { id: 'synthetic', imageShape: [8, 8, 1] as ImageShape, normalization: { mean: [0.2], std: [0.3] }, classNames: ['row', 'column', 'diagonal'] },
  train: lines(3)(16, 0),
  test: lines(3)(8, 1),
};

test.serial('the similarity-matching trainer leaves no tensor behind', async (t) => {
  const data = noiseTask(20, 10);
  await flat(t, (out) =>
    trainSimilarityMatching({ model: 'similarity-matching', dataset: 'tiny', data, neuronsPerSite: 2, batch: 10, chunks: 2, chunkSize: 20, readoutEpochs: 1, seed: 2, out, log: () => {}, progress: false }),
  );
});

const ekdaaData = {
  plugin: { id: 'synthetic', imageShape: [8, 8, 1] as ImageShape, normalization: { mean: [0.5], std: [1] }, classNames: ['row', 'column', 'diagonal', 'anti'] },
  train: lines(4)(20, 0),
  test: lines(4)(8, 3),
};

for (const model of ['ekdaa', 'ekdaa-backprop', 'ekdaa-release-bp']) {
  test.serial(`the EKDAA trainer (${model}) leaves no tensor behind`, async (t) => {
    await flat(t, (out) =>
      trainEkdaa({ model, dataset: 'synthetic', epochs: 2, batch: 10, lr: 2e-3, seed: 3, out, data: ekdaaData, layout: [8, 'M', 8, 'M'], log: () => {}, progress: false }),
    );
  });
}

const fast: AdversarialSpec = { method: 'fast', eps: 0.3, warmupEpochs: 1, heldOut: 4 };
for (const adversarial of [undefined, fast, { ...fast, method: 'pgd' as const, steps: 2 }, { ...fast, method: 'trades' as const, steps: 2, beta: 6 }]) {
  test.serial(`the zoo trainer (${adversarial?.method ?? 'standard'}) leaves no tensor behind`, async (t) => {
    await flat(t, (out) =>
      train({ model: 'baseline', dataset: 'synthetic', epochs: 1, batch: 8, microBatch: 4, workers: 1, seed: 5, out, data: zooData, adversarial, log: () => {}, progress: false }),
    );
  });
}
