/**
 * smoothedModel() against the closed form of a binary linear classifier f(x) = [0, w.x + b]:
 * under x + sigma e its score is Normal(w.x + b, (sigma ||w||)^2), so the smoothed classifier
 * predicts class 1 iff w.x + b > 0, with probability P = Phi((w.x + b) / (sigma ||w||)). Then the
 * noise's independence of the batch, tensor hygiene, an EOT attack through attack(), and the
 * usage errors of --smooth / --smooth-n.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { errorFunction } from 'simple-statistics';
import '../helpers/backend.js';
import { attack } from '../../src/evaluation/attack-api.js';
import { benchmark } from '../../src/evaluation/benchmark.js';
import { BUDGET_TOLERANCE } from '../../src/core/attack-checks.js';
import { UsageError } from '../../src/core/errors.js';
import type { LoadedModel } from '../../src/core/plugin-api.js';
import { createRegistry } from '../../src/core/registry.js';
import { loadModel } from '../../src/evaluation/load-model.js';
import { RUN_SETTINGS, smoothingOf } from '../../src/evaluation/run-settings.js';
import { pixelKeys, smoothedModel, type SmoothingOptions } from '../../src/evaluation/smoothed-model.js';
import { loadZooModel } from '../../src/evaluation/zoo-api.js';
import { linearModel } from '../helpers/tiny-models.js';
import { robench } from '../helpers/cli.js';

const Phi = (z: number): number => 0.5 * (1 + errorFunction(z / Math.SQRT2));
const w = [1, -1, 0.5, 2];
const b = -1.25;
const norm = Math.hypot(...w);
const sigma = 0.25;

/** f(x) = k [0, w.x + b] on 2x2 grey images; a large k makes softmax the hard vote, so the soft smoothed classifier is Phi too. */
function binaryLinear(k = 1000): LoadedModel {
  const weights = tf.tensor2d(w.flatMap((v) => [0, k * v]), [4, 2]);
  const m = linearModel(weights, tf.tensor1d([0, k * b]), [2, 2, 1]);
  return { ...m, id: 'linear', dataset: 'toy', weightsSha256: 'f00d' };
}

/** Images at known distances from the boundary: w.x + b = margin sigma ||w|| (margins in units of the noise). */
function imagesAt(margins: number[]): tf.Tensor4D {
  const centre = [0.5, 0.5, 0.5, 0.5];
  const offset = w.reduce((s, v, i) => s + v * centre[i]!, b);
  const rows = margins.map((m) => centre.map((c, i) => c + ((m * sigma * norm - offset) * w[i]!) / norm ** 2));
  return tf.tensor4d(rows.flat(), [margins.length, 2, 2, 1]);
}

const smoothed = (opts: Partial<SmoothingOptions> = {}, base = binaryLinear()) => smoothedModel(base, { sigma, n: 200, seed: 7, ...opts });
const rowsOf = (t: tf.Tensor2D): number[][] => t.arraySync();

test('the verdict is the closed form off the boundary, and the vote and soft frequencies approach Phi at large n', (t) => {
  const margins = [-2, -1.2, -0.5, 0.3, 1, 1.5, 2.5];
  const x = imagesAt(margins);
  const model = smoothed({ n: 4000, gradientDraws: 4000 });
  const votes = model.logits(x);
  const soft = model.gradientSurrogate!.logits(x);
  rowsOf(votes).forEach((row, i) => {
    const p = Phi(margins[i]!);
    if (Math.abs(margins[i]!) >= 1) t.is(row[1]! > row[0]! ? 1 : 0, margins[i]! > 0 ? 1 : 0, `margin ${margins[i]}`);
    // The votes are Binomial(4000, p): a standard deviation of 0.008 at most.
    t.true(Math.abs(Math.exp(row[1]!) - p) < 0.03, `vote frequency ${Math.exp(row[1]!)} against Phi = ${p} at margin ${margins[i]}`);
  });
  rowsOf(soft).forEach((row, i) => t.true(Math.abs(Math.exp(row[1]!) - Phi(margins[i]!)) < 0.03, `soft ${Math.exp(row[1]!)} at margin ${margins[i]}`));
  // The log-frequencies are a distribution (softmax of the verdict is the vote), finite even for a class no copy got.
  const far = model.logits(imagesAt([6]));
  t.true(Math.abs(Math.exp(far.arraySync()[0]![0]!) - 0.5 / 4001) < 1e-7 && Number.isFinite(far.arraySync()[0]![0]!));
  tf.dispose([x, votes, soft, far]);
  model.dispose();
});

test('the surrogate is differentiable: its gradient for class 1 points along w', (t) => {
  const x = imagesAt([0.2, -0.4]);
  const model = smoothed({ gradientDraws: 64 }, binaryLinear(3));
  const g = tf.grad((xi) => tf.sum(tf.slice(model.gradientSurrogate!.logits(xi as tf.Tensor4D), [0, 1], [-1, 1])))(x);
  for (const row of tf.reshape(g, [2, 4]).arraySync() as number[][]) {
    const cos = row.reduce((s, v, i) => s + v * w[i]!, 0) / (Math.hypot(...row) * norm);
    t.true(cos > 0.95, `cosine ${cos}`);
  }
  tf.dispose([x, g]);
  model.dispose();
});

test("an image's logits do not depend on its batch, the batch size or the copies per pass", (t) => {
  const margins = [-0.3, 0.1, 0.4, -0.05, 0.2];
  const x = imagesAt(margins);
  const first = (opts: Partial<SmoothingOptions>, images: tf.Tensor4D) => {
    const model = smoothed(opts);
    const out = { votes: rowsOf(model.logits(images)), soft: rowsOf(model.gradientSurrogate!.logits(images)) };
    model.dispose();
    return out;
  };
  const whole = first({}, x);
  t.true(new Set(whole.votes.map((r) => r[1])).size > 2, 'the rows are not all decided alike');
  const chunked = first({ batch: 7 }, x);
  t.deepEqual(chunked.votes, whole.votes);
  margins.forEach((_, i) => {
    const alone = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
    // The same image among others: a reversed batch with a duplicate of another row.
    const mixed = tf.concat([tf.reverse(x, 0), tf.slice(x, [(i + 1) % margins.length, 0, 0, 0], [1, -1, -1, -1])]);
    const one = first({ batch: 3 }, alone);
    const other = first({}, mixed);
    t.deepEqual(one.votes[0], whole.votes[i]);
    t.deepEqual(one.soft[0], whole.soft[i]);
    t.deepEqual(other.votes[margins.length - 1 - i], whole.votes[i]);
    t.deepEqual(other.soft[margins.length - 1 - i], whole.soft[i]);
    tf.dispose([alone, mixed]);
  });
  const reseeded = smoothed({ seed: 8 });
  t.notDeepEqual(rowsOf(reseeded.logits(x)), whole.votes, 'another seed, other draws');
  reseeded.dispose();
  x.dispose();
});

test('repeated calls: the verdict repeats, the surrogate draws anew (what --eot averages), and no tensor is left behind', (t) => {
  const x = imagesAt([0.1, -0.2, 0.3]);
  const model = smoothed({ gradientDraws: 4 });
  const calls = () => {
    const votes = model.logits(x);
    const soft = model.gradientSurrogate!.logits(x);
    const g = tf.grad((xi) => tf.sum(model.gradientSurrogate!.logits(xi as tf.Tensor4D)))(x);
    const out = { votes: rowsOf(votes), soft: rowsOf(soft) };
    tf.dispose([votes, soft, g]);
    return out;
  };
  const a = calls();
  const before = tf.memory().numTensors;
  const again = Array.from({ length: 4 }, calls);
  t.is(tf.memory().numTensors, before);
  for (const c of again) t.deepEqual(c.votes, a.votes);
  t.notDeepEqual(again[0]!.soft, a.soft);
  t.is(model.id, 'linear+smooth(0.25,n=200)');
  t.true(model.stochastic);
  t.is(model.weightsSha256, 'f00d');
  t.deepEqual(model.info?.smoothing, { base: 'linear', sigma, n: 200, seed: 7, gradientDraws: 4 });
  model.dispose();
  x.dispose();
});

test('PGD with --eot through attack() completes against the wrapper, inside the budget, its successes the verdict\'s', async (t) => {
  const margins = [0.4, -0.6, 0.9, -0.3, 1.5, -1.2];
  const x = imagesAt(margins);
  const y = margins.map((m) => (m > 0 ? 1 : 0));
  const model = smoothed({ n: 100, gradientDraws: 8 });
  const eps = [0, 0.1, 0.4];
  const result = await attack({ model, x, y, attack: 'pgd', eps, params: { norm: 'l2', steps: 5, eot: 2 }, seed: 3, batch: 4 });
  const judge = smoothed({ n: 100 });
  for (const [k, point] of result.budgets.entries()) {
    t.is(point.eps, eps[k]);
    t.true([...point.norms].every((v) => v <= eps[k]! + BUDGET_TOLERANCE), `norms ${[...point.norms]} at ${eps[k]}`);
    const verdict = tf.tidy(() => tf.argMax(judge.logits(point.x), 1).arraySync() as number[]);
    t.deepEqual([...point.success], verdict.map((c, i) => (c !== y[i] ? 1 : 0)), `eps ${eps[k]}`);
  }
  const broken = (k: number) => result.budgets[k]!.success.reduce((s, v) => s + v, 0);
  t.true(broken(2) > broken(0), `more broken at 0.4 (${broken(2)}) than clean (${broken(0)})`);
  t.true(result.evaluations.gradient >= 2 * 5, 'EOT draws counted');
  result.dispose();
  judge.dispose();
  model.dispose();
  x.dispose();
});

test('images that differ only in their pixels\' exponent bits get their own noise keys: the hash mixes every byte', (t) => {
  // 961 images of two powers of two: a word-wise FNV hash folded their differences into 9 bits (510 keys).
  const keys = new Set<number>();
  for (let i = 0; i < 31; i++) {
    for (let j = 0; j < 31; j++) {
      const x = tf.tensor4d([2 ** -i, 2 ** -j], [1, 1, 2, 1]);
      keys.add(pixelKeys(x)[0]!);
      x.dispose();
    }
  }
  t.is(keys.size, 31 * 31);
});

test('two images whose 32-bit pixel hashes collide keep their own verdicts and noise: the cache and the repeat count are kept per image, not per hash', (t) => {
  // Two images whose hashes collide, found by a birthday search (2^17 images of small pixels against larger ones).
  const a = tf.tensor4d([0.04513274133205414, 0.29747274518013], [1, 1, 2, 1]);
  const b = tf.tensor4d([0.7010216116905212, 0.75608229637146], [1, 1, 2, 1]);
  t.deepEqual(pixelKeys(a), pixelKeys(b), 'the hashes collide');
  // Class 1 iff x0 + x1 > 0.75: a is class 0 and b class 1 under any noise of sigma 0.01.
  const base = (): LoadedModel => ({ ...linearModel(tf.tensor2d([0, 1, 0, 1], [2, 2]), tf.tensor1d([0, -0.75]), [1, 2, 1]), id: 'sum', dataset: 'toy', weightsSha256: '' });
  const model = smoothedModel(base(), { sigma: 0.01, n: 20 });
  const verdict = (x: tf.Tensor4D): number[] => tf.tidy(() => Array.from(tf.argMax(model.logits(x), 1).dataSync()));
  t.deepEqual(verdict(a), [0]);
  t.deepEqual(verdict(b), [1], "b is not handed the verdict a left in the cache");
  const both = tf.concat([a, b]) as tf.Tensor4D;
  t.deepEqual(verdict(both), [0, 1], 'nor within one call');
  // The surrogate's first call on b draws b's first noise, whatever the call before held.
  const soft = (m: LoadedModel, x: tf.Tensor4D): number[] => tf.tidy(() => Array.from(m.gradientSurrogate!.logits(x).dataSync()));
  soft(model, a);
  const fresh = smoothedModel(base(), { sigma: 0.01, n: 20 });
  t.deepEqual(soft(model, b), soft(fresh, b), 'b after a draws what b draws first');
  tf.dispose([a, b, both]);
  model.dispose();
  fresh.dispose();
});

test('--smooth and --smooth-n are checked as flags and as options, before anything loads', async (t) => {
  const flag = { source: 'flag' } as const;
  for (const bad of ['0', '-1', 'x', 'Infinity']) t.throws(() => RUN_SETTINGS.smooth.parse(bad, flag), { instanceOf: UsageError, message: new RegExp(`^--smooth '${bad}' must be a number greater than 0`) });
  t.throws(() => RUN_SETTINGS.smoothN.parse('0', flag), { message: /^--smooth-n '0' must be a whole number at least 1/ });
  t.throws(() => smoothingOf({ smoothN: 50 }, flag), { instanceOf: UsageError, message: /^--smooth-n needs --smooth/ });
  t.deepEqual(smoothingOf({ smooth: 0.5 }, flag), { sigma: 0.5, n: 100 });
  t.deepEqual(smoothingOf({}, flag), undefined);
  await t.throwsAsync(benchmark({ model: 'baseline', attack: 'pgd', smoothN: 50 }), { instanceOf: UsageError, message: /^benchmark\(\) option "smoothN" needs benchmark\(\) option "smooth"/ });
  t.throws(() => smoothedModel(binaryLinear(), { sigma: 0 }), { instanceOf: UsageError, message: /option "sigma" 0 must be a number greater than 0/ });
  const cli = await Promise.all([
    robench(['run', '--model', 'baseline', '--attack', 'pgd', '--smooth', '-1', '--dry-run']),
    robench(['run', '--model', 'baseline', '--attack', 'pgd', '--smooth-n', '50', '--dry-run']),
  ]);
  t.is(cli[0]!.code, 2);
  t.regex(cli[0]!.stderr, /--smooth '-1' must be a number greater than 0/);
  t.is(cli[1]!.code, 2);
  t.regex(cli[1]!.stderr, /--smooth-n needs --smooth: .*\n.*--smooth 0.25 --smooth-n 50/);
});

test('a model loaded with smoothing is the wrapper: the id records sigma and n, the weights hash is the base model\'s', async (t) => {
  const registry = await createRegistry({ ignoreConfig: true });
  const { model } = await loadModel(registry, { model: 'baseline', dataset: 'mnist', inputRange: '0,1', smooth: { sigma: 0.25, n: 10, seed: 0 } });
  const { model: base } = await loadModel(registry, { model: 'baseline', dataset: 'mnist', inputRange: '0,1' });
  t.is(model.id, 'baseline+smooth(0.25,n=10)');
  t.is(model.weightsSha256, base.weightsSha256);
  t.true(model.stochastic);
  t.regex(model.gradientSurrogate!.description, /soft smoothed classifier/);
  model.dispose();
  base.dispose();
});

test('benchmark() smooths a model given by id as it does the wrapper handed in: the same record and points', async (t) => {
  const common = { dataset: 'mnist', attack: 'fgsm', eps: [0, 0.2], samples: 4, seed: 2, workers: 1 } as const;
  const byId = await benchmark({ ...common, model: 'baseline', smooth: 0.25, smoothN: 10 });
  const wrapper = smoothedModel(await loadZooModel('baseline', 'mnist'), { sigma: 0.25, n: 10, seed: 2 });
  const held = await benchmark({ ...common, model: wrapper });
  t.is(byId.model.id, 'baseline+smooth(0.25,n=10)');
  t.is(held.model.id, byId.model.id);
  t.deepEqual(held.points, byId.points);
  t.like(byId.model.info, { smoothing: { base: 'baseline', sigma: 0.25, n: 10, seed: 2 } });
  t.deepEqual(held.model.info?.smoothing, byId.model.info?.smoothing, "the wrapper's smoothing record is written as --smooth writes it");
  wrapper.dispose();
});
