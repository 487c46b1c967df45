/**
 * Hostile input, plugins other than attacks: models, datasets and reporters as the registry
 * hands them out go through the same guarded path as attacks (src/core/plugin-guard.ts):
 * errors naming the plugin and the call, a time limit, process.exit refused, and what they
 * return checked (src/core/plugin-results.ts).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateCurve } from '../../src/core/engine.js';
import { RobenchError } from '../../src/core/errors.js';
import { Registry } from '../../src/core/registry.js';
import type { DatasetPlugin, DatasetSplit, LoadedModel, ModelPlugin, ReporterPlugin, RunResult } from '../../src/core/plugin-api.js';
import '../helpers/backend.js';
import { linearFixture, randomSignAttack } from '../helpers/tiny-models.js';

const registered = <P extends ModelPlugin | DatasetPlugin | ReporterPlugin>(plugin: P): P => {
  const registry = new Registry();
  registry.add(plugin, 'test');
  return registry.get(plugin.kind, plugin.id) as P;
};

const modelPlugin = (id: string, load: () => unknown): ModelPlugin => registered({ kind: 'model', id, description: 'test', datasets: ['toy'], load: load as ModelPlugin['load'] });

/** Runs `fn` while a handle keeps the process alive, as a server that never answers would. */
async function whileAlive<T>(fn: () => Promise<T>): Promise<T> {
  const alive = setInterval(() => {}, 1000);
  try {
    return await fn();
  } finally {
    clearInterval(alive);
  }
}

test.serial('a model plugin whose load() hangs, throws, exits or returns the wrong thing is named', async (t) => {
  process.env.ROBENCH_PLUGIN_TIMEOUT_S = '0.2';
  try {
    await whileAlive(() => t.throwsAsync(modelPlugin('hangs', () => new Promise(() => {})).load({}), { instanceOf: RobenchError, message: /model 'hangs' did not finish load\(\) within 0\.2 s/ }));
  } finally {
    delete process.env.ROBENCH_PLUGIN_TIMEOUT_S;
  }
  await t.throwsAsync(modelPlugin('throws', async () => { throw new TypeError("Cannot read properties of undefined (reading 'shape')"); }).load({}), { instanceOf: RobenchError, message: /model 'throws' failed in load\(\): Cannot read properties/ });
  await t.throwsAsync(modelPlugin('exits', async () => process.exit(3)).load({}), { instanceOf: RobenchError, message: /model 'exits' called process\.exit\(3\) during load\(\)/ });
  await t.throwsAsync(modelPlugin('nothing', async () => undefined).load({}), { instanceOf: RobenchError, message: /model 'nothing' load\(\) returned undefined, not a loaded model/ });
  const { model } = linearFixture(4);
  await t.throwsAsync(modelPlugin('no-classes', async () => ({ ...model, numClasses: undefined })).load({}), { instanceOf: RobenchError, message: /model 'no-classes' load\(\) returned a model whose numClasses is undefined/ });
  await t.throwsAsync(modelPlugin('flat', async () => ({ ...model, inputShape: [16] })).load({}), { instanceOf: RobenchError, message: /model 'flat' load\(\) returned a model whose inputShape is \[16\]/ });
});

test('a model plugin whose logits have the wrong shape, are NaN on attacked images or throw is named', async (t) => {
  const { model, data } = linearFixture(20);
  const run = (m: LoadedModel) => evaluateCurve({ model: m, attack: randomSignAttack, params: {}, data, grid: [0, 0.1], batchSize: 10, seed: 1 });
  const wide = await modelPlugin('wide', async () => ({ ...model, logits: (x: tf.Tensor4D) => tf.concat([model.logits(x), model.logits(x)], 1) })).load({});
  await t.throwsAsync(run(wide), { instanceOf: RobenchError, message: /model 'wide' logits\(\) returned logits of shape \[10,6\] for 10 images and 3 classes/ });
  // Finite on the clean images, NaN on any perturbed one: the argmax of NaN (class 0) would count as a prediction.
  const nanOnAttack = await modelPlugin('nan-on-attack', async () => {
    const clean = new Set<string>();
    return {
      ...model,
      logits: (x: tf.Tensor4D) => {
        const key = String(x.dataSync().slice(0, 4));
        if (clean.size < 2) clean.add(key);
        return clean.has(key) ? model.logits(x) : tf.fill([x.shape[0], 3], NaN);
      },
    };
  }).load({});
  await t.throwsAsync(run(nanOnAttack), { instanceOf: RobenchError, message: /the model linear returned \d+ NaN or infinite logits on the examples of attack 'random-sign' at perturbation 0\.1/ });
  // A minimization attack's examples are scored on their own path: checked the same way.
  const nudge = { ...randomSignAttack, id: 'nudge', strategy: 'minimization' as const, run: async ({ x }: { x: tf.Tensor4D }) => tf.tidy(() => tf.clipByValue(tf.add(x, 0.01), 0, 1)) as tf.Tensor4D };
  await t.throwsAsync(evaluateCurve({ model: nanOnAttack, attack: nudge, params: {}, data, grid: [0, 0.1], batchSize: 10, seed: 1 }), { instanceOf: RobenchError, message: /the model linear returned \d+ NaN or infinite logits on the examples of attack 'nudge'/ });
  const throws = await modelPlugin('raw', async () => ({ ...model, logits: () => { throw new TypeError("Cannot read properties of undefined (reading 'dtype')"); } })).load({});
  await t.throwsAsync(run(throws), { instanceOf: RobenchError, message: /model 'raw' failed in logits\(\): Cannot read properties of undefined \(reading 'dtype'\)/ });
  const exits = await modelPlugin('exits-in-logits', async () => ({ ...model, logits: () => process.exit(0) })).load({});
  await t.throwsAsync(run(exits), { instanceOf: RobenchError, message: /model 'exits-in-logits' called process\.exit\(0\) during logits\(\)/ });
  const noActivations = await modelPlugin('no-activations', async () => ({ ...model, activations: () => { throw new Error('no blocks'); } })).load({});
  t.throws(() => noActivations.activations!(tf.zeros([1, 4, 4, 1])), { instanceOf: RobenchError, message: /model 'no-activations' failed in activations\(\): no blocks/ });
});

const datasetPlugin = (id: string, split: (asked: number) => Partial<DatasetSplit>): DatasetPlugin =>
  registered({ kind: 'dataset', id, description: 'test', imageShape: [2, 2, 1], classNames: ['a', 'b', 'c'], normalization: { mean: [0.5], std: [0.5] }, load: async (opts) => split(opts.samples ?? 3) as DatasetSplit });

const goodSplit = (n: number): DatasetSplit => ({
  images: new Float32Array(n * 4).fill(0.5),
  labels: Int32Array.from({ length: n }, (_, i) => i % 3),
  count: n,
  shape: [2, 2, 1],
  source: { kind: 'file', path: 'toy', sha256: '0' },
});

test('a dataset plugin returning images of the wrong length, pixels outside [0, 1], labels out of range or too few samples is named', async (t) => {
  const load = (id: string, edit: (s: DatasetSplit) => Partial<DatasetSplit>) => datasetPlugin(id, (n) => edit(goodSplit(n))).load({ split: 'test', samples: 3 });
  t.is((await load('good', (s) => s)).count, 3);
  const cases: [string, (s: DatasetSplit) => Partial<DatasetSplit>, RegExp][] = [
    ['short', (s) => ({ ...s, images: s.images.subarray(1) }), /returned 11 pixel values for 3 images of 4 \(12 expected\)/],
    ['bytes', (s) => ({ ...s, images: s.images.map(() => 255) }), /returned the pixel value 255 in image 0, outside \[0, 1\]/],
    ['nan', (s) => ({ ...s, images: s.images.map((v, i) => (i === 9 ? NaN : v)) }), /returned the pixel value NaN in image 2, outside \[0, 1\]/],
    ['labels', (s) => ({ ...s, labels: Int32Array.from([0, 3, 1]) }), /returned the label 3 for image 1, outside its 3 classes \(0 to 2\)/],
    ['negative', (s) => ({ ...s, labels: Int32Array.from([0, -1, 1]) }), /returned the label -1 for image 1/],
    ['fewer', (s) => ({ ...s, count: 2, images: s.images.subarray(0, 8), labels: s.labels.subarray(0, 2) }), /returned 2 samples where 3 were asked for/],
    ['shape', (s) => ({ ...s, shape: [4, 1, 1] }), /returned images of shape \[4,1,1\], but the dataset declares \[2,2,1\]/],
    ['float-labels', (s) => ({ ...s, labels: Float32Array.from([0, 1, 2]) as never }), /returned labels as Float32Array, not an Int32Array/],
    ['no-source', (s) => ({ ...s, source: undefined }), /returned no source/],
  ];
  for (const [id, edit, message] of cases) {
    await t.throwsAsync(load(id, edit), { instanceOf: RobenchError, message: new RegExp(`dataset '${id}' load\\(\\) ${message.source}`) }, id);
  }
  const raw = registered({ ...datasetPlugin('raw', goodSplit), load: async () => { throw new RangeError('Invalid typed array length: -4'); } } as DatasetPlugin);
  await t.throwsAsync(raw.load({ split: 'test' }), { instanceOf: RobenchError, message: /dataset 'raw' failed loading its test split: Invalid typed array length/ });
});

const reporterPlugin = (id: string, write: ReporterPlugin['write']): ReporterPlugin => registered({ kind: 'reporter', id, description: 'test', write });
const outDir = (): string => mkdtempSync(join(tmpdir(), 'robench-hostile-reporter-'));
const results = [{ model: { id: 'm' }, points: [{ perturbation: 0, accuracy: 0.5, correct: 1, total: 2 }] }] as unknown as RunResult[];

test('a reporter writing outside --out, returning what it did not write, throwing or editing the results is named, and cannot change what the next one sees', async (t) => {
  const out = outDir();
  const ctx = { outDir: out, log: () => {} };
  const outside = join(outDir(), 'escaped.txt');
  const escapes = reporterPlugin('escapes', async () => {
    writeFileSync(outside, 'x');
    return [outside];
  });
  await t.throwsAsync(escapes.write(results, ctx), { instanceOf: RobenchError, message: new RegExp(`reporter 'escapes' write\\(\\) wrote ${outside.replace(/[.]/g, '\\.')}, outside the output folder`) });
  const traverses = reporterPlugin('traverses', async ({}, c) => [join(c.outDir, '..', 'up.txt')]);
  await t.throwsAsync(traverses.write(results, ctx), { instanceOf: RobenchError, message: /reporter 'traverses' write\(\) wrote .*up\.txt, outside the output folder/ });
  const claims = reporterPlugin('claims', async (_r, c) => [join(c.outDir, 'never.txt')]);
  await t.throwsAsync(claims.write(results, ctx), { instanceOf: RobenchError, message: /reporter 'claims' write\(\) returned .*never\.txt, which it did not write/ });
  const nothing = reporterPlugin('nothing', async () => undefined as never);
  await t.throwsAsync(nothing.write(results, ctx), { instanceOf: RobenchError, message: /reporter 'nothing' write\(\) returned undefined, not an array of file paths/ });
  const raw = reporterPlugin('raw', async () => { throw new TypeError("Cannot read properties of undefined (reading 'samples')"); });
  await t.throwsAsync(raw.write(results, ctx), { instanceOf: RobenchError, message: /reporter 'raw' failed in write\(\): Cannot read properties/ });
  const exits = reporterPlugin('exits', async () => process.exit(1));
  await t.throwsAsync(exits.write(results, ctx), { instanceOf: RobenchError, message: /reporter 'exits' called process\.exit\(1\) during write\(\)/ });
  // A reporter that edits what it is given changes neither the caller's results nor what the next reporter writes.
  const editor = reporterPlugin('editor', async (rs) => {
    rs[0]!.points[0]!.accuracy = 0.99;
    return [];
  });
  const honest = reporterPlugin('honest', async (rs, c) => {
    const file = join(c.outDir, 'accuracy.txt');
    writeFileSync(file, String(rs[0]!.points[0]!.accuracy));
    return [file];
  });
  await editor.write(results, ctx);
  t.deepEqual(await honest.write(results, ctx), [join(out, 'accuracy.txt')]);
  t.is(readFileSync(join(out, 'accuracy.txt'), 'utf8'), '0.5');
  t.is(results[0]!.points[0]!.accuracy, 0.5);
  t.true(existsSync(outside), 'the escape is reported, though it cannot be undone');
});
