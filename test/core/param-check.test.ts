/**
 * AttackPlugin.check: params valid one by one but not together are refused where they are
 * resolved, before anything loads or runs, by benchmark(), attack() and an ensemble's members,
 * with the params spelled as the caller gave them; a check that fails as a bug would is reported
 * naming the attack. (The command line's dry runs: test/cli/param-check.test.ts.)
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { benchmark } from '../../src/evaluation/benchmark.js';
import { attack } from '../../src/evaluation/attack-api.js';
import { RobenchError, UsageError } from '../../src/core/errors.js';
import { resolveParams } from '../../src/core/parse.js';
import { createRegistry } from '../../src/core/registry.js';
import { defineAttack } from '../../src/core/plugin-api.js';
import pgd from '../../attacks/pgd.js';
import paired, { calls } from '../fixtures/param-check/paired-attack.js';

import '../helpers/backend.js';

/** A model that counts its forward passes: 0 after a call means nothing was computed. */
function countingModel() {
  const counter = { logits: 0 };
  const model = {
    id: 'counting',
    inputShape: [28, 28, 1] as [number, number, number],
    numClasses: 10,
    logits: (x: tf.Tensor4D) => {
      counter.logits++;
      return tf.zeros([x.shape[0], 10]) as tf.Tensor2D;
    },
  };
  return { model, counter };
}

const x = (): tf.Tensor4D => tf.fill([2, 28, 28, 1], 0.5) as tf.Tensor4D;

test.serial("benchmark(): a plugin's check refuses its params before the dataset loads or the attack runs, naming the attack and the params as options", async (t) => {
  const { model, counter } = countingModel();
  const before = { ...calls };
  const err = await t.throwsAsync(benchmark({ model, dataset: 'mnist', attack: paired, params: { lo: 2, hi: 1 }, samples: 2, backend: 'cpu' }), { instanceOf: UsageError });
  t.is(err!.message, `attack 'paired' refuses its params: benchmark() params option "lo" 2 is above benchmark() params option "hi" 1`);
  t.is(err!.hint, 'lower benchmark() params option "lo" or raise benchmark() params option "hi"');
  t.is(calls.check, before.check + 1, 'check ran once');
  t.is(calls.run, before.run, 'run never did');
  t.is(counter.logits, 0, 'the model computed nothing');
});

test.serial("attack(): pgd's start-sigma without its random start, and its kl loss without one, are refused before the model computes anything", async (t) => {
  const { model, counter } = countingModel();
  const images = x();
  const bad = [
    [{ 'start-sigma': 0.001, 'random-start': false }, /^attack 'pgd' refuses its params: attack\(\) params option "start-sigma" 0\.001 sets the random start, which attack\(\) params option "random-start" false turns off$/],
    [{ loss: 'kl', 'random-start': false }, /^attack 'pgd' refuses its params: attack\(\) params option "loss" 'kl' has a zero gradient at the clean image/],
  ] as const;
  for (const [params, message] of bad) {
    await t.throwsAsync(attack({ model, x: images, y: [0, 1], attack: pgd, eps: 0.1, params }), { instanceOf: UsageError, message });
  }
  t.is(counter.logits, 0);
  images.dispose();
});

test.serial("attack(): an autoattack member's params are checked by its own attack, and --attacks without --aa-version custom is refused, before any compute", async (t) => {
  const { model, counter } = countingModel();
  const images = x();
  await t.throwsAsync(attack({ model, x: images, y: [0, 1], attack: 'autoattack', eps: 0.1, params: { 'aa-version': 'custom', attacks: 'pgd:loss=kl:random-start=false' } }), {
    instanceOf: UsageError,
    message: /^attack 'autoattack' refuses its params: attack 'pgd \(autoattack member .*\)' refuses its params: .*loss.* has a zero gradient/,
  });
  await t.throwsAsync(attack({ model, x: images, y: [0, 1], attack: 'autoattack', eps: 0.1, params: { attacks: 'apgd-ce' } }), { instanceOf: UsageError, message: /^attack 'autoattack' refuses its params: attack\(\) params option "attacks" is for attack\(\) params option "aa-version" 'custom', not standard$/ });
  t.is(counter.logits, 0);
  images.dispose();
});

test.serial("a check that fails as a bug would (not a UsageError) is the plugin's failure, named, not a usage error", async (t) => {
  const { model } = countingModel();
  const images = x();
  const err = await t.throwsAsync(attack({ model, x: images, y: [0, 1], attack: paired, eps: 0.1, params: { crash: true } }), { instanceOf: RobenchError });
  t.false(err instanceof UsageError);
  t.is(err!.message, "attack 'paired' failed in check(): cannot read properties of undefined");
  images.dispose();
});

test('resolveParams runs the check of the attack it is given, spelling flags; an attack spread from another has its own check', async (t) => {
  const registry = await createRegistry();
  const registered = registry.get('attack', 'pgd');
  t.throws(() => resolveParams(registered, { 'random-start': false, 'start-sigma': 0.01 }), { instanceOf: UsageError, message: "attack 'pgd' refuses its params: --start-sigma 0.01 sets the random start, which --no-random-start turns off" });
  t.notThrows(() => resolveParams(registered, { 'random-start': false }));
  // A copy of paired with a check that lets anything through.
  const lax = defineAttack({ ...paired, id: 'lax', check: () => undefined });
  registry.add(paired, 'test');
  registry.add(lax, 'test');
  t.throws(() => resolveParams(registry.get('attack', 'paired'), { lo: 2, hi: 1 }), { message: /--lo 2 is above --hi 1/ });
  t.notThrows(() => resolveParams(registry.get('attack', 'lax'), { lo: 2, hi: 1 }));
  t.throws(() => registry.add(defineAttack({ ...paired, id: 'broken', check: 'yes' as never }), 'test'), { instanceOf: UsageError, message: /'broken' has a check that is not a function/ });
  // An asynchronous check could not refuse before anything loads: named, never silently passed.
  registry.add(defineAttack({ ...paired, id: 'later', check: (async () => undefined) as never }), 'test');
  t.throws(() => resolveParams(registry.get('attack', 'later'), {}), { instanceOf: RobenchError, message: /^attack 'later' failed in check\(\): returned a promise: check\(\) must be synchronous/ });
});

test("pgd's run() still refuses the pair when called without resolution (its own check, the params spelled as flags)", async (t) => {
  const ctx = { params: { norm: 'linf', loss: 'ce', steps: 1, restarts: 1, 'random-start': false, 'start-sigma': 0.001 } } as never;
  await t.throwsAsync(async () => pgd.run(ctx), { instanceOf: UsageError, message: '--start-sigma 0.001 sets the random start, which --no-random-start turns off' });
});
