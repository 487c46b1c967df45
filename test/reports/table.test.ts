import test from 'ava';
import { accuracyTable } from '../../reports/table.js';
import { independentDifference, wilsonInterval } from '../../src/core/intervals.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { formatAccuracy, formatDifference, formatPerturbation } from '../../src/report/report-format.js';

const run = (model: string, attack: string, label: string, points: [number, number][], params = {}): RunResult =>
  ({
    model: { id: model, dataset: 'mnist', weightsSha256: '-' },
    dataset: { id: 'mnist', split: 'test', samples: 100, source: { kind: 'bundled', path: '-', sha256: '-' } },
    attack: { id: attack, params, budget: label === 'eps' ? 'linf' : null, perturbation: label },
    seed: 0,
    cleanAccuracy: points[0][1],
    points: points.map(([perturbation, accuracy]) => ({ perturbation, accuracy, correct: accuracy * 100, total: 100 })),
  }) as RunResult;

test('each attack gets its own columns, labelled with its perturbation axis', (t) => {
  const out = accuracyTable([run('a', 'pgd', 'eps', [[0, 0.9], [8 / 255, 0.4]]), run('b', 'pgd', 'eps', [[0, 0.8], [8 / 255, 0.5]]), run('a', 'gaussian', 'sigma', [[0, 0.9], [0.1, 0.7]])], 300);
  t.regex(out, /eps 8\/255/);
  t.regex(out, /sigma 0\.1/);
  t.notRegex(out, /eps 0\.1/);
  t.regex(out, /40\.0%/);
  t.regex(out, /70\.0%/);
});

test('every accuracy carries its Wilson interval, and each model after the first its difference from the first', (t) => {
  const out = accuracyTable([run('a', 'pgd', 'eps', [[0, 0.9], [8 / 255, 0.4]]), run('b', 'pgd', 'eps', [[0, 0.8], [8 / 255, 0.5]])], 300);
  t.true(out.includes(formatAccuracy(0.4, wilsonInterval(40, 100))), out);
  t.true(out.includes('40.0% (30.9–49.8)'), out);
  // Without per-sample outcomes the runs cannot be paired: Newcombe's interval of two independent samples.
  t.regex(out, /│ b \[mnist\] − a \[mnist\] \(unpaired\) │ pgd \(linf\) │/);
  t.true(out.includes(formatDifference(independentDifference(40, 100, 50, 100))), out);
  t.true(out.includes('+10.0 pt (−3.7 to +23.2)'), out);
  t.true(out.includes('clean'));
});

test('rows name what tells runs apart: two APGD losses read differently', (t) => {
  const out = accuracyTable([run('a', 'apgd', 'eps', [[0, 0.9], [8 / 255, 0.4]], { loss: 'ce' }), run('a', 'apgd', 'eps', [[0, 0.9], [8 / 255, 0.3]], { loss: 'dlr' })], 300);
  t.regex(out, /apgd \(linf, loss=ce\)/);
  t.regex(out, /apgd \(linf, loss=dlr\)/);
});

test('perturbations print as grey levels when they are; l2 budgets and severities as decimals', (t) => {
  t.is(formatPerturbation(8 / 255, 'eps'), '8/255');
  t.is(formatPerturbation(8 / 255, 'eps', 'linf'), '8/255');
  t.is(formatPerturbation(0.3, 'eps'), '0.3');
  t.is(formatPerturbation(3, 'severity'), '3');
  t.is(formatPerturbation(51 / 255, 'eps', 'l2'), '0.2');
  t.is(formatPerturbation(0.5, 'eps', 'l2'), '0.5');
});
