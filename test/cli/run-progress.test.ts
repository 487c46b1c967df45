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
  t.regex(first.text, /^hebbian \(model 1 of 2, attack 1 of 2\): pgd at 1\/255 · 50% of this pair$/);
  t.notRegex(first.text, /0\.00392/);
  progress.pairDone(100, 10_000);
  progress.pairStart();
  const second = progress.update(at({ perturbation: 2 / 255, done: 150, total: 300, rate: 10 }));
  t.regex(second.text, /model 1 of 2, attack 2 of 2\): pgd at 2\/255/);
  // This pair: 150 left at 10/s = 15 s; then model 2's two pairs at the first pair's 10 s per 100 x (1 + 2 x 20) planned evaluations.
  const perEval = 10_000 / (100 * (1 + 2 * 20));
  const later = 100 * (1 + 2 * 20) * perEval + 100 * (1 + 2 * 40) * perEval;
  t.true(Math.abs(second.leftMs - (15_000 + later)) < 1, `${second.leftMs} vs ${15_000 + later}`);
  progress.pairDone(100, 20_000);
  progress.pairStart();
  t.regex(progress.update(at({ model: 'baseline' })).text, /^baseline \(model 2 of 2, attack 1 of 2\)/);
});

test('a run planned over a few minutes says so once the clean pass has measured the speed, with its model evaluations', async (t) => {
  const notes: string[] = [];
  const plan = { models, attacks: [setting('autoattack', {})], grid: [0, 1 / 255, 2 / 255, 4 / 255, 8 / 255] };
  const progress = new RunProgress(plan, 0, (line) => notes.push(line));
  progress.loading('cifar10');
  progress.pairStart();
  progress.update(at({ phase: 'clean', perturbation: 0, done: 10, total: 100, attack: 'autoattack' }));
  t.is(notes.length, 0, 'not before the clean pass is done');
  await new Promise((r) => setTimeout(r, 50));
  // 20 samples: clean pass done (20 of 20 x 5 points).
  progress.update(at({ phase: 'clean', perturbation: 0, done: 20, total: 100, attack: 'autoattack' }));
  t.is(notes.length, 1);
  const planned = 2 * 20 * (1 + 4 * 7800);
  t.regex(notes[0]!, new RegExp(`^this run plans up to ${planned.toLocaleString('en-US')} model evaluations, 2 models x \\(autoattack: 20 samples x 4 budgets x 7,800\\): up to about `));
  progress.update(at({ phase: 'attack', done: 40, total: 100, attack: 'autoattack' }));
  t.is(notes.length, 1, 'said once');
});
