import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { budgetAt, innerAttack, type AdversarialSpec } from '../../src/training/adversarial.js';
import { train, type TrainOptions } from '../../src/training/train.js';
import { attack } from '../../src/evaluation/attack-api.js';
import { loadLayersModelFrom } from '../../src/runtime/model-io.js';
import { useBackend } from '../../src/runtime/backends.js';
import type { DatasetSplit } from '../../src/core/plugin-api.js';
import { robench } from '../helpers/cli.js';
import { lines, linesData, tempFolder, tinyTraining } from '../helpers/tiny-training.js';

test.before(async () => {
  await useBackend('wasm');
});

const fast: AdversarialSpec = { method: 'fast', eps: 0.3, warmupEpochs: 1, heldOut: 6 };
const trades: AdversarialSpec = { ...fast, method: 'trades', beta: 6 };

test('the inner attack: FGSM from a random start with step 1.25 eps, or PGD-k with step 2.5 eps / k; the budget ramps linearly over the warm-up', (t) => {
  t.like(innerAttack(fast, 0.2), { id: 'pgd', params: { steps: 1, 'step-size': 0.25, 'random-start': true, norm: 'linf', loss: 'ce' } });
  t.like(innerAttack({ ...fast, method: 'pgd', steps: 40 }, 0.3), { params: { steps: 40, 'step-size': 0.01875 } });
  const spec: AdversarialSpec = { ...fast, warmupEpochs: 2 };
  // 10 steps an epoch, 20 steps of warm-up: step s (0-based) of epoch e trains at eps * (10e + s + 1) / 20.
  t.is(budgetAt(spec, 0, 0, 10), 0.3 / 20);
  t.is(budgetAt(spec, 0, 9, 10), 0.15);
  t.is(budgetAt(spec, 1, 9, 10), 0.3);
  t.is(budgetAt(spec, 5, 3, 10), 0.3);
  t.is(budgetAt({ ...spec, warmupEpochs: 0 }, 0, 0, 10), 0.3);
});

const data = linesData(30, 12);
const base = (out: string): TrainOptions => tinyTraining(out, { microBatch: 4, seed: 3, data, adversarial: fast });

test.serial('adversarial training: resumable and thread-count independent, bit for bit; its examples change the weights; the manifest records the held-out curve and the epoch shipped', async (t) => {
  const root = await tempFolder(t, 'robench-at-');
  const before = tf.memory().numTensors;
  const straight = await train({ ...base(join(root, 'a')), workers: 1 });
  t.is(tf.memory().numTensors, before, 'adversarial training leaks no tensors');
  const manifest = JSON.parse(readFileSync(join(root, 'a', 'manifest.json'), 'utf8'));
  t.is(manifest.model, 'baseline-at');
  t.is(manifest.trainSamples, 24, 'the held-out images are not trained on');
  const curve: number[] = manifest.adversarial.heldOutRobustAccuracy;
  t.is(curve.length, 2);
  t.true(curve.every((a) => a >= 0 && a <= 1));
  t.is(manifest.adversarial.shippedEpoch, curve.lastIndexOf(Math.max(...curve)) + 1);
  t.like(manifest.adversarial, { method: 'fast', eps: 0.3, attack: 'pgd', params: { steps: 1, 'step-size': 0.375 } });
  t.false('steps' in manifest.adversarial, "fast-AT's record names no pgd steps: it takes one, as its params say");

  const threads = await train({ ...base(join(root, 'b')), workers: 2 });
  t.is(threads.weightsSha256, straight.weightsSha256, 'two threads train the same weights');

  const stop = new Error('interrupted');
  const cut = join(root, 'c');
  await t.throwsAsync(train({ ...base(cut), onEpoch: (r) => { if (r.epoch === 1) throw stop; } }), { is: stop });
  await t.throwsAsync(train({ ...base(cut), adversarial: { ...fast, eps: 0.2 }, resume: true }), { message: /different adversarial/ });
  // A checkpoint from before fast specs left their unused steps out recorded steps 10, after eps: it still resumes.
  const stateFile = join(cut, 'checkpoint', 'state.json');
  const state = JSON.parse(readFileSync(stateFile, 'utf8'));
  t.false('steps' in state.adversarial);
  const { method, eps, ...rest } = state.adversarial;
  writeFileSync(stateFile, JSON.stringify({ ...state, adversarial: { method, eps, steps: 10, ...rest } }, null, 2));
  const resumed = await train({ ...base(cut), resume: true });
  t.is(resumed.weightsSha256, straight.weightsSha256, 'a resumed run trains the same weights');
  t.deepEqual(JSON.parse(readFileSync(join(cut, 'manifest.json'), 'utf8')).adversarial.heldOutRobustAccuracy, curve);

  const plain = await train({ ...base(join(root, 'd')), adversarial: undefined });
  t.not(plain.weightsSha256, straight.weightsSha256, 'training on the examples changes the weights');
});

/** PGD-20 accuracy at eps of a trained model on the test images. */
async function robustAccuracy(dir: string, test: DatasetSplit, eps: number): Promise<number> {
  const model = await loadLayersModelFrom(join(dir, 'model.json'));
  const x = tf.tensor4d(test.images, [test.count, ...test.shape]);
  const result = await attack({ model, x, y: test.labels, attack: 'pgd', eps, params: { steps: 20 }, seed: 1 });
  const fooled = result.budgets[0]!.success.reduce((s, v) => s + v, 0);
  result.dispose();
  x.dispose();
  model.dispose();
  return 1 - fooled / test.count;
}

test.serial('adversarial training, fast and TRADES, makes the model robust where standard training does not', async (t) => {
  const root = await tempFolder(t, 'robench-at-');
  const task = { ...data, train: lines(150, 0), test: lines(60, 2) };
  const opts = (out: string, adversarial?: AdversarialSpec): TrainOptions => ({ ...base(out), data: task, epochs: 10, lr: 3e-3, adversarial });
  await train(opts(join(root, 'plain')));
  const plain = await robustAccuracy(join(root, 'plain'), task.test, 0.1);
  for (const spec of [{ ...fast, eps: 0.1, heldOut: 30 }, { ...trades, eps: 0.1, heldOut: 30 }]) {
    await train(opts(join(root, spec.method), spec));
    const at = await robustAccuracy(join(root, spec.method), task.test, 0.1);
    t.log(`PGD-20 accuracy at eps 0.1: ${spec.method} ${at}, standard ${plain}`);
    t.true(at >= 0.9 && at >= plain + 0.15, `${spec.method} ${at}, standard ${plain}`);
  }
});

test.serial('TRADES trains the same weights on 1 and 2 threads, other than fast-AT\'s; the manifest records the method, beta and the KL attack', async (t) => {
  const root = await tempFolder(t, 'robench-trades-');
  const before = tf.memory().numTensors;
  const one = await train({ ...base(join(root, 'a')), adversarial: trades, workers: 1 });
  t.is(tf.memory().numTensors, before, 'TRADES training leaks no tensors');
  const two = await train({ ...base(join(root, 'b')), adversarial: trades, workers: 2 });
  t.is(two.weightsSha256, one.weightsSha256, 'two threads train the same weights');
  const manifest = JSON.parse(readFileSync(join(root, 'a', 'manifest.json'), 'utf8'));
  t.like(manifest.adversarial, { method: 'trades', beta: 6, attack: 'pgd', params: { loss: 'kl', 'start-sigma': 0.001, steps: 10 } });
  t.regex(manifest.adversarial.description, /^TRADES, beta 6 \(Zhang et al\. 2019\)/);
  t.regex(manifest.command, /--adversarial trades --train-eps 0\.3 --trades-beta 6$/);
  const other = await train({ ...base(join(root, 'c')), adversarial: { ...trades, beta: 1 } });
  t.not(other.weightsSha256, one.weightsSha256, 'beta weighs the KL term');
  const fastAt = await train({ ...base(join(root, 'd')) });
  t.not(fastAt.weightsSha256, one.weightsSha256);
});

test('the CLI refuses adversarial settings without --adversarial, on models that cannot train so, --adversarial-steps with fast, and --trades-beta without trades or not above 0', async (t) => {
  const stray = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', '--train-eps', '0.3']);
  t.is(stray.code, 2);
  t.regex(stray.stderr, /--train-eps applies to adversarial training only/);
  const ekdaa = await robench(['train', '--model', 'ekdaa', '--dataset', 'fashion-mnist', '--adversarial', 'fast']);
  t.is(ekdaa.code, 2);
  t.regex(ekdaa.stderr, /--adversarial trains the zoo CNNs .*, not 'ekdaa'/);
  const steps = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', '--adversarial', 'fast', '--adversarial-steps', '5']);
  t.is(steps.code, 2);
  t.regex(steps.stderr, /--adversarial-steps applies to --adversarial pgd/);
  const eps = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', '--adversarial', 'pgd', '--train-eps', '2']);
  t.is(eps.code, 2);
  t.regex(eps.stderr, /--train-eps/);
  for (const mode of [[], ['--adversarial', 'pgd']]) {
    const beta = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', ...mode, '--trades-beta', '3']);
    t.is(beta.code, 2);
    t.regex(beta.stderr, /--trades-beta applies to --adversarial trades only/);
  }
  for (const bad of ['0', '-1', 'six']) {
    const beta = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', '--adversarial', 'trades', '--trades-beta', bad]);
    t.is(beta.code, 2, bad);
    t.regex(beta.stderr, /--trades-beta '\S+' must be a number greater than 0/);
  }
});
