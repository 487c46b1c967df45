import test from 'ava';
import { join } from 'node:path';
import { readResults } from '../../src/cli/commands/check.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { runLabels } from '../../src/report/run-labels.js';

const [pgd] = readResults(join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models'));
const withParams = (r: RunResult, params: RunResult['attack']['params'], id = r.attack.id): RunResult => ({ ...r, attack: { ...r.attack, id, params: { ...r.attack.params, ...params } } });

test('a single run reads as before: attack id and norm, model id and dataset', (t) => {
  t.deepEqual(runLabels([pgd]), [{ attack: 'pgd (linf)', model: 'mlp [mnist]' }]);
});

test('runs of one attack name the settings that differ, and only those', (t) => {
  const ce = withParams(pgd, { loss: 'ce' }, 'apgd');
  const dlr = withParams(pgd, { loss: 'dlr' }, 'apgd');
  const l2 = { ...ce, attack: { ...ce.attack, params: { ...ce.attack.params, norm: 'l2' }, budget: 'l2' as const } };
  t.deepEqual(runLabels([ce, dlr, l2, pgd]).map((l) => l.attack), ['apgd (linf, loss=ce)', 'apgd (linf, loss=dlr)', 'apgd (l2, loss=ce)', 'pgd (linf)']);
  const corruption = (c: string): RunResult => ({ ...pgd, attack: { id: 'corruption', params: { corruption: c }, budget: null, perturbation: 'severity' } });
  t.deepEqual(runLabels([corruption('fog'), corruption('frost')]).map((l) => l.attack), ['corruption (corruption=fog)', 'corruption (corruption=frost)']);
});

test('runs of one model under one attack name what else differs; exact repeats are numbered', (t) => {
  const seed1 = { ...pgd, seed: 1 };
  const fewer = { ...pgd, dataset: { ...pgd.dataset, samples: 50 } };
  t.deepEqual(runLabels([pgd, seed1]).map((l) => l.model), ['mlp [mnist] (seed 7)', 'mlp [mnist] (seed 1)']);
  t.deepEqual(runLabels([pgd, seed1, fewer]).map((l) => l.model), ['mlp [mnist] (seed 7, 200 samples)', 'mlp [mnist] (seed 1, 200 samples)', 'mlp [mnist] (seed 7, 50 samples)']);
  t.deepEqual(runLabels([pgd, pgd]).map((l) => l.model), ['mlp [mnist]', 'mlp [mnist] #2']);
  // Under another attack setting the same model needs nothing more.
  t.deepEqual(runLabels([pgd, withParams(seed1, { steps: 40 })]).map((l) => l.model), ['mlp [mnist]', 'mlp [mnist]']);
  const labels = runLabels([pgd, seed1, fewer, pgd, withParams(pgd, { steps: 40 })]);
  t.is(new Set(labels.map((l) => `${l.attack} ${l.model}`)).size, labels.length, 'no two rows read the same');
});
