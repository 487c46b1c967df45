/**
 * `robench train` trains what the model plugins declare (issue 34): each plugin's `training` names
 * its trainer and settings, so a model is trainable where it is defined, a --plugin model too, and
 * an adversarial twin is whichever model declares itself one, whatever its name.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelTraining } from '../../src/core/plugin-api.js';
import { useBackend } from '../../src/runtime/backends.js';
import { train, type TrainOptions } from '../../src/training/train.js';
import { adversarialId, builtinTrainable, type Trainable } from '../../src/training/trainable.js';
import { robench } from '../helpers/cli.js';
import { syntheticLines } from '../helpers/synthetic-lines.js';

test.before(async () => {
  await useBackend('wasm');
});

test('the built-in trainable models are those whose plugins declare their training, with the settings the hand-kept lists held', async (t) => {
  const zoo = (family: 'baseline' | 'hebbian', size: 'compact' | 'vgg16' | 'deep', variant?: 'alpha0' | 'first'): ModelTraining => ({ trainer: 'zoo', family, size, ...(variant ? { variant } : {}) });
  t.deepEqual(Object.fromEntries(await builtinTrainable()), {
    baseline: zoo('baseline', 'compact'),
    hebbian: zoo('hebbian', 'compact'),
    'baseline-vgg16': zoo('baseline', 'vgg16'),
    'hebbian-vgg16': zoo('hebbian', 'vgg16'),
    'baseline-deep': zoo('baseline', 'deep'),
    'hebbian-deep': zoo('hebbian', 'deep'),
    'hebbian-deep-alpha0': zoo('hebbian', 'deep', 'alpha0'),
    'hebbian-deep-first': zoo('hebbian', 'deep', 'first'),
    'baseline-at': { trainer: 'adversarial', of: 'baseline', method: 'fast' },
    'hebbian-at': { trainer: 'adversarial', of: 'hebbian', method: 'fast' },
    ekdaa: { trainer: 'ekdaa', rule: 'ekdaa', activation: 'tanh', lr: 1e-3, releaseForward: true },
    'ekdaa-sign': { trainer: 'ekdaa', rule: 'ekdaa', activation: 'sign', lr: 1e-3, releaseForward: true },
    'ekdaa-backprop': { trainer: 'ekdaa', rule: 'backprop', activation: 'tanh', lr: 1e-3, releaseForward: false },
    'ekdaa-release-bp': { trainer: 'ekdaa', rule: 'release-bp', activation: 'tanh', lr: 1e-3, releaseForward: true },
    'ekdaa-frozen': { trainer: 'ekdaa', rule: 'ekdaa', activation: 'tanh', lr: 1e-3, releaseForward: true, frozenConvsOf: 'ekdaa' },
    'ekdaa-sign-frozen': { trainer: 'ekdaa', rule: 'ekdaa', activation: 'sign', lr: 1e-3, releaseForward: true, frozenConvsOf: 'ekdaa-sign' },
    'ekdaa-backprop-frozen': { trainer: 'ekdaa', rule: 'backprop', activation: 'tanh', lr: 1e-3, releaseForward: false, frozenConvsOf: 'ekdaa-backprop' },
    'similarity-matching': { trainer: 'similarity-matching', neuronsPerSite: 4 },
    'similarity-matching-8': { trainer: 'similarity-matching', neuronsPerSite: 8 },
  });
});

/** A zoo CNN and its adversarial twin declared under names no convention links. */
const declared: Trainable = new Map<string, ModelTraining>([
  ['tiny-cnn', { trainer: 'zoo', family: 'baseline', size: 'compact' }],
  ['tiny-cnn-robust', { trainer: 'adversarial', of: 'tiny-cnn', method: 'pgd' }],
]);

test('--adversarial trains the twin a plugin declares, else <model>-at', async (t) => {
  t.is(adversarialId(await builtinTrainable(), 'baseline'), 'baseline-at');
  t.is(adversarialId(declared, 'tiny-cnn'), 'tiny-cnn-robust');
  t.is(adversarialId(declared, 'hebbian-deep'), 'hebbian-deep-at');
});

test.serial('a declared zoo CNN trains under its own id, and adversarially as its declared twin', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'robench-trainable-'));
  const lines = (count: number, offset: number) => syntheticLines(count, offset, { classes: 3, on: 0.9, noise: 0.2 });
  const data = {
    plugin: { id: 'synthetic', imageShape: [8, 8, 1] as [number, number, number], normalization: { mean: [0.2], std: [0.3] }, classNames: ['row', 'column', 'diagonal'] },
    train: lines(16, 0),
    test: lines(8, 1),
  };
  const opts: TrainOptions = { model: 'tiny-cnn', dataset: 'synthetic', epochs: 1, batch: 8, seed: 1, data, trainable: declared, log: () => {} };
  const manifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  await train({ ...opts, out: join(root, 'plain') });
  t.like(manifest(join(root, 'plain')), { model: 'tiny-cnn', architecture: { family: 'baseline', size: 'compact' } });
  await train({ ...opts, out: join(root, 'at'), adversarial: { method: 'fast', eps: 0.1, warmupEpochs: 0, heldOut: 4 } });
  t.is(manifest(join(root, 'at')).model, 'tiny-cnn-robust');
  await t.throwsAsync(train({ ...opts, model: 'baseline' }), { message: /can only train the zoo models, not 'baseline'/ });
  await rm(root, { recursive: true });
});

test('the CLI trains what the registry declares: a --plugin model is listed in the help, a twin is refused naming how it trains, and an undeclared name is refused, on --dry-run too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-trainable-cli-'));
  const plugin = join(dir, 'tiny.mjs');
  await writeFile(
    plugin,
    "export default { kind: 'model', id: 'tiny-cnn', description: 'a tiny CNN', datasets: [], load: async () => { throw new Error('no weights'); }, training: { trainer: 'zoo', family: 'baseline', size: 'compact' } };\n",
  );
  const help = await robench(['--plugin', plugin, 'train', '--help']);
  t.is(help.code, 0, help.stderr);
  for (const id of ['baseline', 'ekdaa-backprop', 'similarity-matching-8', 'tiny-cnn']) t.regex(help.stdout, new RegExp(`\\b${id}\\b`), id);
  t.notRegex(help.stdout, /similarity-matching-<n>/);
  const twin = await robench(['train', '--model', 'baseline-at', '--dataset', 'mnist']);
  t.is(twin.code, 2);
  t.regex(twin.stderr, /baseline-at is baseline trained adversarially\n {2}fix: train it with --model baseline --adversarial fast/);
  // A registry check: --dry-run makes it too.
  const unknown = await robench(['--dry-run', 'train', '--model', 'similarity-matching-16', '--dataset', 'mnist']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /robench can only train the zoo models, not 'similarity-matching-16'\n {2}fix: use --model baseline\|/);
  await rm(dir, { recursive: true });
});
