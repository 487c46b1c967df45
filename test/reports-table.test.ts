import test from 'ava';
import { accuracyTable, formatPerturbation } from '../reports/table.js';
import type { RunResult } from '../src/plugin-api.js';

const run = (model: string, attack: string, label: string, points: [number, number][]): RunResult =>
  ({
    model: { id: model, dataset: 'mnist', weightsSha256: '-' },
    attack: { id: attack, params: {}, budget: label === 'eps' ? 'linf' : null, perturbation: label },
    points: points.map(([perturbation, accuracy]) => ({ perturbation, accuracy, correct: accuracy * 100, total: 100 })),
  }) as RunResult;

test('each attack gets its own columns, labelled with its perturbation axis', (t) => {
  const out = accuracyTable([run('a', 'pgd', 'eps', [[0, 0.9], [8 / 255, 0.4]]), run('b', 'pgd', 'eps', [[0, 0.8], [8 / 255, 0.5]]), run('a', 'gaussian', 'sigma', [[0, 0.9], [0.1, 0.7]])]);
  t.regex(out, /eps 8\/255/);
  t.regex(out, /sigma 0\.1/);
  t.notRegex(out, /eps 0\.1/);
  t.regex(out, /40\.0%/);
  t.regex(out, /70\.0%/);
});

test('perturbations print as grey levels when they are', (t) => {
  t.is(formatPerturbation(8 / 255, 'eps'), '8/255');
  t.is(formatPerturbation(0.3, 'eps'), '0.3');
  t.is(formatPerturbation(3, 'severity'), '3');
});
