/**
 * Hostile input, model files: a model.json and its weights as a hostile user or server
 * would hand them over. Each is refused with an error naming the file or the model
 * before any tensor is computed.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RobenchError, UsageError } from '../../src/core/errors.js';
import type { DatasetPlugin } from '../../src/core/plugin-api.js';
import { checkModelInputs, firstForward, loadAnyModel } from '../../src/runtime/model-io.js';
import { loadUserModel } from '../../src/evaluation/user-model.js';
import { saveDenseModel } from '../helpers/cli.js';
import { serveLocal } from '../fixtures/local-http.js';
import '../helpers/backend.js';

const mnist = { id: 'mnist', imageShape: [28, 28, 1] } as unknown as DatasetPlugin;
const folder = (): string => mkdtempSync(join(tmpdir(), 'robench-hostile-model-'));

test('a manifest naming a weight twice is refused: a zero-byte entry cannot silently replace a kernel', async (t) => {
  const file = await saveDenseModel(folder(), [28, 28, 1]);
  const json = JSON.parse(readFileSync(file, 'utf8'));
  const kernel = json.weightsManifest[0].weights[0];
  // Same total bytes (a zero-element tensor adds none), so every size check passes.
  json.weightsManifest[0].weights.push({ name: kernel.name, shape: [0], dtype: 'float32' });
  writeFileSync(file, JSON.stringify(json));
  await t.throwsAsync(loadAnyModel(file), { instanceOf: RobenchError, message: new RegExp(`model\\.json lists the weight "${kernel.name}" twice`) });
});

test('a weights.bin that is a symlink to a file outside the model folder is refused', async (t) => {
  const dir = folder();
  const file = await saveDenseModel(dir, [28, 28, 1]);
  const outside = join(folder(), 'secret.bin');
  renameSync(join(dir, 'weights.bin'), outside);
  symlinkSync(outside, join(dir, 'weights.bin'));
  await t.throwsAsync(loadAnyModel(file), { instanceOf: RobenchError, message: /weights\.bin named by .*model\.json is a link to .*secret\.bin, outside the model's folder/ });
  // A link that stays inside the folder is fine.
  const inside = folder();
  const json = await saveDenseModel(inside, [28, 28, 1]);
  mkdirSync(join(inside, 'store'));
  renameSync(join(inside, 'weights.bin'), join(inside, 'store', 'w.bin'));
  symlinkSync(join(inside, 'store', 'w.bin'), join(inside, 'weights.bin'));
  const loaded = await loadAnyModel(json);
  t.is(loaded.kind, 'layers');
  loaded.model.dispose();
});

test('an HTTP redirect to another origin is refused; one within the origin is followed', async (t) => {
  const dir = folder();
  await saveDenseModel(dir, [28, 28, 1]);
  const weights = readFileSync(join(dir, 'weights.bin'));
  const json = readFileSync(join(dir, 'model.json'));
  const other = await serveLocal((_req, res) => res.end(weights));
  const own = await serveLocal((req, res) => {
    if (req.url === '/model.json') return void res.end(json);
    if (req.url?.startsWith('/weights.bin')) return void res.writeHead(302, { location: `${other.url}/weights.bin` }).end();
    res.writeHead(404).end();
  });
  try {
    await t.throwsAsync(loadAnyModel(`${own.url}/model.json`), { instanceOf: RobenchError, message: new RegExp(`weights file ${own.url}/weights\\.bin redirects to another server \\(${other.url.replace(/[.]/g, '\\.')}\\)`) });
  } finally {
    await Promise.all([own.close(), other.close()]);
  }
  const same = await serveLocal((req, res) => {
    if (req.url === '/model.json') return void res.end(json);
    if (req.url?.startsWith('/weights.bin')) return void res.writeHead(307, { location: '/store/weights.bin' }).end();
    if (req.url === '/store/weights.bin') return void res.end(weights);
    res.writeHead(404).end();
  });
  try {
    const loaded = await loadAnyModel(`${same.url}/model.json`);
    loaded.model.dispose();
    t.pass();
  } finally {
    await same.close();
  }
});

test('a two-input model, a dense model on flat vectors, and an oversized graph are refused before the first forward pass, naming the model', async (t) => {
  const a = tf.input({ shape: [28, 28, 1] });
  const b = tf.input({ shape: [28, 28, 1] });
  const two = tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 10 }).apply(tf.layers.flatten().apply(tf.layers.add().apply([a, b]) as tf.SymbolicTensor)) as tf.SymbolicTensor });
  t.throws(() => checkModelInputs(two, 'two.json', [28, 28, 1], 'mnist'), { instanceOf: UsageError, message: /the model two\.json takes 2 inputs .* robench feeds one/ });
  const flat = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 10 })] });
  t.throws(() => checkModelInputs(flat, 'flat.json', [28, 28, 1], 'mnist'), { instanceOf: UsageError, message: /the model flat\.json takes inputs of shape \[\?,784\] \(rank 2\), but robench feeds mnist images as \[batch, 28, 28, 1\]/ });
  const deep = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), ...Array.from({ length: 30 }, () => tf.layers.activation({ activation: 'linear' }))] });
  t.throws(() => checkModelInputs(deep, 'deep.json', [28, 28, 1], 'mnist', 20), { instanceOf: UsageError, message: /the model deep\.json has 31 layers, more than the 20 robench runs/ });
  t.notThrows(() => checkModelInputs(deep, 'deep.json', [28, 28, 1], 'mnist'));
  tf.dispose([two, flat, deep].flatMap((m) => m.weights.map((w) => w.read())));
});

test('a model file whose first forward pass fails names the model, not only the raw tfjs error', async (t) => {
  // The same refusal through loadUserModel: the model on disk, wrong for the dataset in rank.
  const dir = folder();
  const flat = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 10 })] });
  const { saveLayersModelTo } = await import('../../src/runtime/model-io.js');
  await saveLayersModelTo(flat, dir);
  await t.throwsAsync(loadUserModel(join(dir, 'model.json'), mnist, [0, 1]), { instanceOf: UsageError, message: /model\.json takes inputs of shape \[\?,784\] \(rank 2\)/ });
  // Any failure of the first pass (an unknown op, a stack overflow, a shape the layers reject) names the model.
  const err = t.throws(() => firstForward('odd.json', [28, 28, 1], () => { throw new Error('Unknown op \'FancyOp\'. File an issue'); }), { instanceOf: UsageError });
  t.regex(err!.message, /the model odd\.json fails on its first batch \(one image of shape \[28, 28, 1\]\): Unknown op 'FancyOp'/);
  t.regex(err!.hint ?? '', /op tfjs cannot run/);
  t.throws(() => firstForward('deep.json', [28, 28, 1], () => { throw new RangeError('Maximum call stack size exceeded'); }), { instanceOf: UsageError, message: /the model deep\.json fails on its first batch.*Maximum call stack/ });
  t.is(firstForward('ok.json', [1], () => 7), 7);
});

test('a model.json describing more layers than robench runs is refused from its JSON, before tfjs builds it', async (t) => {
  const dir = folder();
  const layers = Array.from({ length: 25_000 }, (_, i) => ({ class_name: 'Activation', config: { name: `a${i}`, activation: 'linear' } }));
  const json = { format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { name: 'deep', layers } }, weightsManifest: [] };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  const started = Date.now();
  await t.throwsAsync(loadAnyModel(join(dir, 'model.json')), { instanceOf: RobenchError, message: /model\.json describes 25000 layers or graph nodes, more than the 20000 robench runs/ });
  t.true(Date.now() - started < 5000, 'refused at once');
  // Layers of nested models count too; a graph's nodes and its functions' nodes likewise.
  const { topologySize } = await import('../../src/runtime/model-io.js');
  t.is(topologySize({ class_name: 'Model', config: { layers: [{ class_name: 'Sequential', config: { layers: [{}, {}] } }, {}] } }), 4);
  t.is(topologySize({ node: [{}, {}, {}], library: { function: [{ nodeDef: [{}, {}] }] } }), 5);
});
