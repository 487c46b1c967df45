import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../../src/core/engine.js';
import { UsageError } from '../../src/core/errors.js';
import { createRegistry } from '../../src/core/registry.js';
import { concatOutcomes } from '../../src/core/samples.js';
import { resolveMember, versionMembers } from '../../src/core/ensemble.js';
import type { AttackPlugin, DatasetSplit, LoadedModel, Params, SampleOutcomes } from '../../src/core/plugin-api.js';
import { randomMlp, paramsOf } from '../helpers/tiny-models.js';

import '../helpers/backend.js';

const registry = await createRegistry();
const autoattack = registry.get('attack', 'autoattack');
const SHAPE: [number, number, number] = [6, 6, 1];

/** A small ReLU network and 40 images, labelled by the network except every 8th (misclassified clean). */
function fixture(n = 40): { model: LoadedModel; data: DatasetSplit } {
  const mlp = randomMlp(5, SHAPE, 24, 10);
  const model: LoadedModel = { id: 'mlp', dataset: 'toy', inputShape: SHAPE, numClasses: 10, weightsSha256: '0', logits: (x) => mlp.logits(x), dispose: () => mlp.dispose() };
  const images = new Float32Array(n * 36).map((_, i) => 0.5 + 0.45 * Math.sin(i * 12.9898 + 0.3));
  const predicted = tf.tidy(() => tf.argMax(model.logits(tf.tensor4d(images, [n, ...SHAPE])), 1).dataSync());
  const labels = Int32Array.from(predicted, (l, i) => (i % 8 === 3 ? (l + 1) % 10 : l));
  return { model, data: { images, labels, count: n, shape: SHAPE, source: { kind: 'file', path: '-', sha256: '-' } } };
}

const { model, data } = fixture();
const grid = [0, 0.01, 0.03, 0.06];
// A short APGD-CE leaves samples for Square to break: both members matter.
const cascade = 'apgd-ce:steps=3,square:queries=60';
const ensembleParams = (overrides: Params = {}): Params => ({ ...paramsOf(autoattack), 'aa-version': 'custom', attacks: cascade, ...overrides });

const run = (attack: AttackPlugin, params: Params, extra: { batchSize?: number; indices?: number[]; sweep?: boolean } = {}) =>
  evaluateCurve({ model, data, attack, params, grid, seed: 4, batchSize: extra.batchSize ?? 16, indices: extra.indices, sweep: extra.sweep });

const members = (params: Params) => autoattack.individually!(params);

test('autoattack breaks each sample at the smallest budget any member alone breaks it, and names the first such member', async (t) => {
  const before = tf.memory().numTensors;
  const params = ensembleParams();
  const ensemble = await run(autoattack, params);
  const alone: SampleOutcomes[] = [];
  for (const m of await members(params)) alone.push((await run(m.attack, m.params)).outcomes);
  const o = ensemble.outcomes;
  t.deepEqual(o.members, ['apgd-ce:steps=3', 'square:queries=60']);
  const firstBreak = (b: number[], i: number): number => (b[i] === -1 ? Infinity : b[i]!);
  const byEach = [0, 0];
  o.index.forEach((_, i) => {
    const best = Math.min(...alone.map((a) => firstBreak(a.brokeAt!, i)));
    t.is(firstBreak(o.brokeAt!, i), best, `sample ${i}: never weaker than a member, never stronger than the best`);
    // Misclassified clean (broken at the clean point) is no member's doing.
    const credited = best === Infinity || best === 0 ? -1 : alone.findIndex((a) => firstBreak(a.brokeAt!, i) === best);
    t.is(o.brokenBy![i], credited, `sample ${i} credited to the first member that breaks it there`);
    if (credited >= 0) byEach[credited]!++;
  });
  t.true(byEach[0]! > 0 && byEach[1]! > 0, `each member breaks something the other leaves (${byEach})`);
  t.true(ensemble.points[grid.length - 1]!.correct < ensemble.points[0]!.correct);
  t.is(tf.memory().numTensors, before, 'no tensor leaked');
});

test('--individual records each member alone, exactly as a run of that member', async (t) => {
  const params = ensembleParams({ individual: true });
  const ensemble = await run(autoattack, params);
  const plain = await run(autoattack, ensembleParams());
  const list = await members(params);
  t.deepEqual(ensemble.outcomes.individual!.map((m) => m.member), list.map((m) => m.name));
  for (const [k, m] of list.entries()) t.deepEqual(ensemble.outcomes.individual![k]!.brokeAt, (await run(m.attack, m.params)).outcomes.brokeAt);
  t.deepEqual(ensemble.points, plain.points, 'the ensemble itself is unchanged');
  t.true(ensemble.gradientEvaluations > plain.gradientEvaluations, 'the individual runs are counted');
});

test('autoattack gives the same per-sample outcomes for any batch size and slicing (shards, workers)', async (t) => {
  const params = ensembleParams();
  const whole = await run(autoattack, params, { batchSize: 16 });
  const small = await run(autoattack, params, { batchSize: 5 });
  t.deepEqual(small.outcomes, whole.outcomes);
  const halves = await Promise.all([Array.from({ length: 17 }, (_, i) => i), Array.from({ length: 23 }, (_, i) => 17 + i)].map((indices) => run(autoattack, params, { batchSize: 7, indices })));
  t.deepEqual(concatOutcomes(halves.map((h) => h.outcomes)), whole.outcomes);
});

test('the cascade attacks only what earlier members left; --no-sweep runs every member on every sample', async (t) => {
  const params = ensembleParams();
  const cascadeRun = await run(autoattack, params);
  let aloneForward = 0;
  let aloneGradient = 0;
  for (const m of await members(params)) {
    const r = await run(m.attack, m.params);
    aloneForward += r.forwardEvaluations;
    aloneGradient += r.gradientEvaluations;
  }
  t.true(cascadeRun.forwardEvaluations < aloneForward, `${cascadeRun.forwardEvaluations} vs ${aloneForward} forward`);
  t.is(cascadeRun.gradientEvaluations, aloneGradient, 'APGD-CE is first: it sees what it sees alone');
  const naive = await run(autoattack, params, { sweep: false });
  t.true(naive.forwardEvaluations > cascadeRun.forwardEvaluations && naive.gradientEvaluations > cascadeRun.gradientEvaluations);
  naive.points.forEach((p, k) => t.true(cascadeRun.points[k]!.correct <= p.correct));
});

test('a third-party attack joins the cascade with its own params', async (t) => {
  const params = ensembleParams({ attacks: 'pgd:steps=5:loss=margin,square:queries=60' });
  const list = await members(params);
  t.is(list[0]!.attack.id, 'pgd');
  t.is(list[0]!.params.steps, 5);
  t.is(list[0]!.params.loss, 'margin');
  const r = await run(autoattack, params);
  t.deepEqual(r.outcomes.members, ['pgd:steps=5:loss=margin', 'square:queries=60']);
});

test('the versions are AutoAttack\'s: standard, plus and rand resolve to its members and settings', (t) => {
  const find = (id: string) => registry.get('attack', id);
  const resolved = (v: 'standard' | 'plus' | 'rand') => versionMembers(v).map((s) => resolveMember(s, 'l2', undefined, find));
  const standard = resolved('standard');
  t.deepEqual(standard.map((m) => m.name), ['apgd-ce', 'apgd-t', 'fab-t', 'square']);
  t.like(standard[1]!.params, { loss: 'dlr-targeted', targets: 9, restarts: 1, steps: 100, norm: 'l2' });
  t.like(standard[2]!.params, { targeted: true, targets: 9, restarts: 1, norm: 'l2' });
  t.like(standard[3]!.params, { queries: 5000, norm: 'l2' });
  const plus = resolved('plus');
  t.deepEqual(plus.map((m) => m.name), ['apgd-ce', 'apgd-dlr', 'fab', 'square', 'apgd-t', 'fab-t']);
  t.like(plus[1]!.params, { loss: 'dlr', restarts: 5 });
  t.like(plus[2]!.params, { targeted: false, restarts: 5 });
  const rand = resolved('rand');
  t.deepEqual(rand.map((m) => [m.name, m.params.eot]), [['apgd-ce', 20], ['apgd-dlr', 20]]);
});

test('bad cascades are usage errors before any compute', async (t) => {
  const bad: [Params, RegExp][] = [
    [{ attacks: '' }, /--aa-version custom needs --attacks/],
    [{ 'aa-version': 'standard', attacks: 'apgd-ce' }, /--attacks is for --aa-version custom/],
    [{ attacks: 'apgd-ce,nope' }, /needs the attack 'nope'/],
    [{ attacks: 'apgd-ce:stpes=5' }, /has no param 'stpes'/],
    [{ attacks: 'apgd-ce:steps=0' }, /steps/],
    [{ attacks: 'apgd-ce,gaussian' }, /attacks in no norm/],
    [{ attacks: 'apgd-ce,,square' }, /names no attack/],
    [{ attacks: 'square,square' }, /twice/],
    [{ attacks: 'autoattack' }, /itself an ensemble/],
  ];
  let forward = 0;
  const counted: LoadedModel = { ...model, logits: (x) => (forward++, model.logits(x)) };
  for (const [overrides, message] of bad) {
    const attempt = evaluateCurve({ model: counted, data, attack: autoattack, params: ensembleParams(overrides), grid, seed: 4, batchSize: 16 });
    const err = await t.throwsAsync(attempt, { instanceOf: UsageError }, JSON.stringify(overrides));
    t.regex(err!.message, message);
  }
  t.is(forward, 0, 'not even the clean pass ran');
});
