import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commonCorruptions } from '../../attacks/corruption.js';
import type { CurvePoint, Params, RunResult } from '../../src/core/plugin-api.js';
import { ROBUSTBENCH_CORRUPTIONS, epsText } from '../../src/analysis/robustbench.js';
import { robench, robenchOk } from '../helpers/cli.js';

const point = (perturbation: number, correct: number, total = 200, extra: Partial<CurvePoint> = {}): CurvePoint => ({ perturbation, correct, total, accuracy: correct / total, ...extra });

function run(model: string, attack: string, params: Params, budget: 'linf' | 'l2' | null, points: CurvePoint[]): RunResult {
  return {
    robench: '0',
    model: { id: model, dataset: 'cifar10', weightsSha256: '0', info: { architecture: 'compact CNN' } },
    dataset: { id: 'cifar10', split: 'test', samples: 200, source: { kind: 'bundled', path: '-', sha256: '-' } },
    attack: { id: attack, params, budget, perturbation: budget ? 'eps' : 'severity' },
    backend: 'wasm',
    seed: 0,
    sweep: budget !== null,
    cleanAccuracy: points[0]!.accuracy,
    points,
    gradientEvaluations: 0,
    forwardEvaluations: 0,
    durationMs: 1,
    startedAt: '2025-01-01T00:00:00.000Z',
    command: [],
  };
}

/** Correct predictions per corruption (robench's order) at severity s: 100 + 3 c + s of 200 images. */
const corruptCorrect = (c: number, s: number): number => 100 + 3 * c + s;
const corruption = run('baseline', 'corruption', { corruption: 'common' }, null, [
  point(0, 170),
  ...[1, 2, 3, 4, 5].map((s) => {
    const byVersion = commonCorruptions.map((_, c) => corruptCorrect(c, s));
    return point(s, byVersion.reduce((a, b) => a + b, 0), 200 * 15, { correctByVersion: byVersion });
  }),
]);

const runs = {
  hebbianAA: run('hebbian', 'autoattack', { norm: 'linf', 'aa-version': 'standard', attacks: '', individual: false }, 'linf', [point(0, 162), point(2 / 255, 43), point(8 / 255, 6)]),
  hebbianPgd: run('hebbian', 'pgd', { norm: 'linf', steps: 20 }, 'linf', [point(0, 162), point(2 / 255, 50), point(4 / 255, 20)]),
  baselineAA: run('baseline', 'autoattack', { norm: 'l2', 'aa-version': 'standard', attacks: '', individual: false }, 'l2', [point(0, 170), point(0.25, 28)]),
  custom: run('baseline', 'autoattack', { norm: 'linf', 'aa-version': 'custom', attacks: 'apgd-ce,apgd-t', individual: false }, 'linf', [point(0, 170), point(2 / 255, 21)]),
  corruption,
};

function saved(...list: RunResult[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'robench-export-'));
  writeFileSync(join(dir, 'results.json'), JSON.stringify(list));
  return dir;
}

test('eps is written as RobustBench writes it', (t) => {
  t.is(epsText(8 / 255), '8/255');
  t.is(epsText(0.5), '0.5');
  t.is(epsText(0.25), '0.25');
});

test('export --format robustbench writes model_info files with the runs\' numbers, in RobustBench\'s layout', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'robench-rb-'));
  await robenchOk(['export', '--format', 'robustbench', '--out', out, saved(runs.hebbianAA, runs.baselineAA, runs.corruption)]);
  const read = (...p: string[]) => JSON.parse(readFileSync(join(out, ...p), 'utf8'));
  t.like(read('cifar10', 'Linf', 'hebbian.json'), { name: 'hebbian', dataset: 'cifar10', eps: '8/255', clean_acc: '81.00', autoattack_acc: '3.00', n_examples: 200, number_forward_passes: 1, architecture: 'compact CNN', link: null, reported: null });
  t.like(read('cifar10', 'L2', 'baseline.json'), { eps: '0.25', clean_acc: '85.00', autoattack_acc: '14.00' });
  const allCorrect = commonCorruptions.flatMap((_, c) => [1, 2, 3, 4, 5].map((s) => corruptCorrect(c, s)));
  const mean = allCorrect.reduce((a, b) => a + b, 0) / allCorrect.length / 200;
  t.like(read('cifar10', 'corruptions', 'baseline.json'), { eps: null, clean_acc: '85.00', corruptions_acc: (100 * mean).toFixed(2) });

  const [names, severities, row, ...rest] = readFileSync(join(out, 'cifar10', 'corruptions', 'unaggregated_results.csv'), 'utf8').trim().split('\n');
  t.is(rest.length, 0);
  t.deepEqual(names!.split(',').slice(1), ROBUSTBENCH_CORRUPTIONS.flatMap((c) => Array(5).fill(c)));
  t.deepEqual(severities!.split(',').slice(1), ROBUSTBENCH_CORRUPTIONS.flatMap(() => ['1', '2', '3', '4', '5']));
  const cells = row!.split(',');
  t.is(cells[0], 'baseline');
  // Columns follow RobustBench's corruption order, values looked up by name in robench's.
  ROBUSTBENCH_CORRUPTIONS.forEach((name, k) => {
    const c = commonCorruptions.indexOf(name);
    t.true(c >= 0, name);
    for (let s = 1; s <= 5; s++) t.is(Number(cells[1 + 5 * k + s - 1]), corruptCorrect(c, s) / 200, `${name} severity ${s}`);
  });
});

test('export picks the budget asked for, and refuses what RobustBench does not report', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'robench-rb-'));
  await robenchOk(['export', '--format', 'robustbench', '--out', out, '--eps', String(2 / 255), saved(runs.hebbianAA)]);
  t.like(JSON.parse(readFileSync(join(out, 'cifar10', 'Linf', 'hebbian.json'), 'utf8')), { eps: '2/255', autoattack_acc: '21.50' });
  for (const [r, message] of [[runs.hebbianPgd, /not pgd/], [runs.custom, /not autoattack --aa-version custom/]] as const) {
    const res = await robench(['export', '--format', 'robustbench', '--out', out, saved(r)]);
    t.is(res.code, 2);
    t.regex(res.stderr, message);
  }
  const wrongEps = await robench(['export', '--format', 'robustbench', '--out', out, '--eps', '0.1', saved(runs.hebbianAA)]);
  t.is(wrongEps.code, 2);
  t.regex(wrongEps.stderr, /no point at eps 0.1/);
  const wrongFormat = await robench(['export', '--format', 'foolbox', '--out', out, saved(runs.hebbianAA)]);
  t.is(wrongFormat.code, 2);
});

test('export skips what RobustBench does not report with a note, exports the rest, and warns below its sample counts', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'robench-rb-'));
  const full = { ...runs.baselineAA, dataset: { ...runs.baselineAA.dataset, samples: 10000 }, points: [point(0, 8500, 10000), point(0.25, 1400, 10000)] };
  const res = await robench(['export', '--format', 'robustbench', '--out', out, saved(runs.hebbianAA, runs.hebbianPgd, full)]);
  t.is(res.code, 0, res.stderr);
  t.like(JSON.parse(readFileSync(join(out, 'cifar10', 'Linf', 'hebbian.json'), 'utf8')), { autoattack_acc: '3.00', n_examples: 200 });
  t.like(JSON.parse(readFileSync(join(out, 'cifar10', 'L2', 'baseline.json'), 'utf8')), { n_examples: 10000 });
  t.regex(res.stderr, /skipped hebbian \/ pgd: RobustBench reports AutoAttack \(standard version\) accuracy, not pgd/);
  t.regex(res.stderr, /warning: hebbian \/ autoattack: measured on 200 images, RobustBench evaluates 10,000 on cifar10/);
  // The 10,000-image run is what RobustBench measures: no warning for it.
  t.notRegex(res.stderr, /baseline \/ autoattack: measured/);
});

test('leaderboard: a table per dataset and threat model, the strongest attack per cell with its n, in Markdown, HTML and the terminal', async (t) => {
  const a = saved(runs.hebbianAA, runs.hebbianPgd);
  const b = saved(runs.baselineAA, runs.corruption);
  const md = await robenchOk(['leaderboard', '--format', 'md', a, b]);
  const mean = ((100 * runs.corruption.points.slice(1).reduce((s, p) => s + p.correct, 0)) / (5 * 3000)).toFixed(2);
  t.is(
    md.trim(),
    [
      '| model (cifar10 · Linf) | clean | eps 2/255 | eps 4/255 | eps 8/255 |',
      '| --- | --- | --- | --- | --- |',
      '| hebbian | 81.00% (n=200) | 21.50% (autoattack, n=200) | 10.00% (pgd, n=200) | 3.00% (autoattack, n=200) |',
      '',
      '| model (cifar10 · L2) | clean | eps 0.25 |',
      '| --- | --- | --- |',
      '| baseline | 85.00% (n=200) | 14.00% (autoattack, n=200) |',
      '',
      '| model (cifar10 · corruptions) | clean | common |',
      '| --- | --- | --- |',
      `| baseline | 85.00% (n=200) | ${mean}% (corruption, n=200) |`,
    ].join('\n'),
  );
  const html = await robenchOk(['leaderboard', '--format', 'html', a, b]);
  t.regex(html, /<th>eps 2\/255<\/th>/);
  t.regex(html, /<td>21\.50% \(autoattack, n=200\)<\/td>/);
  // Nothing sets a width that would cut a wide table; each table scrolls in its own box instead.
  t.notRegex(html, /width\s*:/);
  t.regex(html, /\.scroll\{overflow-x:auto\}/);
  t.is(html.match(/<div class="scroll"><table>/g)?.length, 3);
  const table = await robenchOk(['leaderboard', a, b]);
  t.regex(table, /cifar10 · Linf/);
  t.regex(table, /hebbian.*21\.50% \(autoattack, n=200\).*10\.00% \(pgd, n=200\)/);
  const file = join(mkdtempSync(join(tmpdir(), 'robench-lb-')), 'board.md');
  mkdirSync(join(file, '..'), { recursive: true });
  await robenchOk(['leaderboard', '--format', 'md', '--out', file, a, b]);
  t.is(readFileSync(file, 'utf8'), md.slice(0, -1));
  const bad = await robench(['leaderboard', '--format', 'pdf', a]);
  t.is(bad.code, 2);
});

/** A run of `model` on `dataset` over `samples` images, its clean accuracy and one point per budget. */
function sized(model: string, dataset: string, samples: number, clean: number, attack: string, budget: 'linf' | 'l2' | null, pts: [number, number][]): RunResult {
  const r = run(model, attack, budget ? { norm: budget } : {}, budget, [point(0, clean * samples, samples), ...pts.map(([e, acc]) => point(e, acc * samples, samples))]);
  return { ...r, model: { ...r.model, dataset }, dataset: { ...r.dataset, id: dataset, samples }, attack: { ...r.attack, perturbation: budget ? 'eps' : 'sigma' } };
}

test('leaderboard: MNIST and CIFAR-10 never share a header, clean comes from the runs behind the row, noise runs get their own table', async (t) => {
  const { leaderboard, budgetTexts } = await import('../../src/analysis/leaderboard.js');
  const board = leaderboard([
    sized('hebbian', 'cifar10', 40, 0.9, 'pgd', 'linf', [[1 / 255, 0.5]]),
    sized('hebbian', 'cifar10', 1000, 0.817, 'pgd', 'linf', [[1 / 255, 0.6], [8 / 255, 0.1]]),
    sized('hebbian', 'mnist', 1000, 0.99, 'pgd', 'linf', [[0.1, 0.9], [0.2, 0.7]]),
    sized('hebbian', 'mnist', 1000, 0.99, 'gaussian', null, [[0.1, 0.95], [0.3, 0.6]]),
  ]);
  t.deepEqual(board.tables.map((x) => `${x.dataset} ${x.threatModel}: ${x.columns.join(' ')}`), ['cifar10 Linf: 1/255 8/255', 'mnist Linf: 0.1 0.2', 'mnist gaussian: 0.1 0.3']);
  const cifar = board.tables[0]!;
  // The 40-image run is a row of its own: its 90% clean is not the 1,000-image run's.
  t.deepEqual(cifar.rows.map((r) => [r.samples, r.clean, r.cells.map((c) => c?.accuracy)]), [[1000, 0.817, [0.6, 0.1]], [40, 0.9, [0.5, undefined]]]);
  // Noise runs are a table with numbers, not a row of '-'.
  t.deepEqual(board.tables[2]!.rows[0]!.cells.map((c) => c?.accuracy), [0.95, 0.6]);
  t.deepEqual(budgetTexts([0.2]), ['0.2']);
  t.deepEqual(budgetTexts([1 / 255, 0.2]), ['1/255', '51/255']);
  t.deepEqual(budgetTexts([0.25, 0.5]), ['0.25', '0.5']);
});
