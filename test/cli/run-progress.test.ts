/** The status line's text over a whole run (issue 35): where it is, budgets in the table's units, a time left over every pair, a warning for long plans. */
import test from 'ava';
import { createRegistry } from '../../src/core/registry.js';
import { evaluationsPerSample, RunProgress } from '../../src/cli/run-progress.js';
import type { PairProgress, RunPlan } from '../../src/evaluation/run-plan.js';

const registry = await createRegistry();
const setting = (id: string, params: Record<string, unknown>) => {
  const attack = registry.get('attack', id);
  const defaults = Object.fromEntries(Object.entries(attack.params).map(([k, s]) => [k, s.default]));
  return { attack, params: { ...defaults, ...params } as never };
};
const models = [{ load: async () => { throw new Error('not loaded here'); } }, { load: async () => { throw new Error('not loaded here'); } }] as RunPlan['models'];
const at = (over: Partial<PairProgress>): PairProgress => ({ phase: 'attack', perturbation: 1 / 255, done: 150, total: 300, model: 'hebbian', attack: 'pgd', rate: 10, ...over });

test('evaluations per sample and budget follow the attack\'s own settings', (t) => {
  t.is(evaluationsPerSample(registry.get('attack', 'pgd'), setting('pgd', { steps: 50, restarts: 2 }).params), 100);
  t.is(evaluationsPerSample(registry.get('attack', 'square'), setting('square', { queries: 1000 }).params), 1000);
  // AutoAttack standard: APGD-CE 100 + APGD-T 9 x 100 + FAB-T 9 x 2 x 100 + Square 5,000.
  t.is(evaluationsPerSample(registry.get('attack', 'autoattack'), setting('autoattack', {}).params), 7800);
});

test('the text says which model and attack of how many, the budget as the table writes it, and the time left covers every pair', (t) => {
  const plan = { models, attacks: [setting('pgd', { steps: 20 }), setting('pgd', { steps: 40 })], grid: [0, 1 / 255, 2 / 255] };
  const progress = new RunProgress(plan, 0, () => t.fail('a short run is not warned about'));
  progress.loading('cifar10');
  progress.pairStart();
  const first = progress.update(at({}));
  t.regex(first.text, /^hebbian \(model 1 of 2, attack 1 of 2\): pgd at 1\/255 · 50% of this pair · estimating time left$/);
  t.notRegex(first.text, /0\.00392/);
  progress.pairDone(100, 10_000);
  progress.pairStart();
  const second = progress.update(at({ perturbation: 2 / 255, done: 150, total: 300, rate: 10 }));
  t.regex(second.text, /model 1 of 2, attack 2 of 2\): pgd at 2\/255/);
  // This pair: 150 left at 10/s = 15 s; then model 2's two pairs at the first pair's 10 s per 100 x (1 + 2 x 20) planned evaluations.
  const perEval = 10_000 / (100 * (1 + 2 * 20));
  const later = 100 * (1 + 2 * 20) * perEval + 100 * (1 + 2 * 40) * perEval;
  t.true(Math.abs((second.leftMs ?? NaN) - (15_000 + later)) < 1, `${second.leftMs} vs ${15_000 + later}`);
  progress.pairDone(100, 20_000);
  progress.pairStart();
  t.regex(progress.update(at({ model: 'baseline' })).text, /^baseline \(model 2 of 2, attack 1 of 2\)/);
});

/** A run of two models under AutoAttack at 8 budgets on 20 samples, on a clock the test sets. */
function longPlan(notes: string[]) {
  const clock = { ms: 0 };
  const plan = { models, attacks: [setting('autoattack', {})], grid: [0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => k / 255) };
  const progress = new RunProgress(plan, 0, (line) => notes.push(line), () => clock.ms);
  progress.loading('cifar10');
  progress.pairStart();
  // 20 samples x 9 points; the clean pass takes a second.
  clock.ms = 1_000;
  const cleanDone = progress.update(at({ phase: 'clean', perturbation: 0, done: 20, total: 180, attack: 'autoattack', rate: 20 }));
  const attack = (ms: number, done: number) => {
    clock.ms = ms;
    return progress.update(at({ phase: 'attack', done, total: 180, attack: 'autoattack', rate: (done / ms) * 1000 }));
  };
  return { attack, cleanDone, planned: 2 * 20 * (1 + 8 * 7800) };
}

test('until its attack has run a few seconds, a run gives no time left but says it is estimating (issue 35)', (t) => {
  const notes: string[] = [];
  const { attack, cleanDone } = longPlan(notes);
  // The planned evaluations at the clean pass's speed (3 forward passes per gradient) said about
  // 104 hours here: an upper count of every step of every sample, none stopping early.
  t.is(cleanDone.leftMs, undefined);
  t.regex(cleanDone.text, /: clean accuracy · 11% of this pair · estimating time left$/);
  const early = attack(3_000, 22);
  t.is(early.leftMs, undefined);
  t.regex(early.text, /estimating time left$/);
  const measured = attack(7_000, 25);
  t.true(measured.leftMs !== undefined && measured.leftMs > 0);
  t.notRegex(measured.text, /estimating/);
});

test('a run whose attack, early stops included, will run over a few minutes says so once, with its planned evaluations', (t) => {
  const notes: string[] = [];
  const { attack, planned } = longPlan(notes);
  attack(3_000, 22);
  t.deepEqual(notes, [], 'not before the attack has run a few seconds');
  // 5 sample-budgets in 6 s: 155 more here at that rate (43 s), then model 2's pair at 6 s per 5 x 7,800 planned evaluations.
  const { leftMs = NaN } = attack(7_000, 25);
  const expected = (155 / 25) * 7_000 + 20 * (1 + 8 * 7800) * (6_000 / (5 * 7800));
  t.true(Math.abs(leftMs - expected) < 1, `${leftMs} vs ${expected}`);
  t.is(notes.length, 1);
  t.regex(notes[0]!, new RegExp(`^this run needs about 3m5\\ds more at the speed its attack has run so far \\(early stops included\\), for up to ${planned.toLocaleString('en-US')} planned model evaluations, 2 models x \\(autoattack: 20 samples x 8 budgets x 7,800\\), as if no sample stopped early`));
  attack(9_000, 30);
  t.is(notes.length, 1, 'said once');
});

test('a run planned as long that its early stops make short is not announced as long (issue 35: check:zoo\'s deep PGD pair, "up to 2h30m", took minutes)', (t) => {
  const notes: string[] = [];
  const { attack } = longPlan(notes);
  // Most samples broken at once: 140 of 160 sample-budgets done in 6 s.
  const { leftMs = NaN } = attack(7_000, 160);
  t.true(leftMs < 60_000, `${leftMs}`);
  t.deepEqual(notes, []);
  attack(9_000, 170);
  t.deepEqual(notes, [], 'nor later');
});
