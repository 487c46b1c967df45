import test from 'ava';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import csvReporter, { resultRows } from '../../reports/csv.js';
import { readResults } from '../../src/cli/commands/check.js';
import { pointInterval } from '../../src/core/intervals.js';
import type { RunResult } from '../../src/core/plugin-api.js';

const fixture = (): RunResult[] => readResults(join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models'));

test('results.csv: a row per point with its Wilson interval over images and every attack setting', async (t) => {
  const runs = fixture();
  const dir = await mkdtemp(join(tmpdir(), 'robench-csv-'));
  const [file] = await csvReporter.write(runs, { outDir: dir, log: () => {} });
  const [head, ...lines] = (await readFile(file, 'utf8')).trim().split('\n');
  t.is(lines.length, runs.reduce((n, r) => n + r.points.length, 0));
  t.is(head, 'model,dataset,attack,setting,modelLabel,norm,perturbationLabel,perturbation,accuracy,wilson95Low,wilson95High,correct,total,images,backend,seed,sweep,weightsSha256,param_steps,param_restarts,param_norm,param_draws');
  t.true(lines.every((l) => /,(true|false),/.test(l)), 'sweep as true or false');
  const rows = resultRows(runs);
  const row = rows.find((r) => r.model === 'hah-cnn' && r.attack === 'pgd' && r.perturbation === 16 / 255)!;
  const { lo, hi } = pointInterval({ perturbation: 16 / 255, accuracy: 0.3, correct: 60, total: 200 }, 200);
  t.like(row, { setting: 'pgd (linf)', modelLabel: 'hah-cnn [mnist]', norm: 'linf', correct: 60, total: 200, images: 200, wilson95Low: lo, wilson95High: hi, param_steps: 20, param_restarts: 1, param_norm: 'linf', param_draws: '' });
  t.like(rows.find((r) => r.attack === 'gaussian')!, { setting: 'gaussian', param_draws: 4, param_steps: '' });
  // Noise draws: the interval is over images, as `images` says.
  const [mlpNoise] = runs.filter((r) => r.attack.id === 'gaussian');
  const draws = resultRows([{ ...mlpNoise, points: mlpNoise.points.map((p) => ({ ...p, correct: p.correct * 4, total: p.total * 4 })) }]);
  t.true(draws.every((r) => r.images === 200 && r.total === 800));
});

test('no two rows of a merged report read the same: the setting names what tells runs apart', (t) => {
  const [pgd] = fixture();
  const apgd = (loss: string): RunResult => ({ ...pgd, attack: { ...pgd.attack, id: 'apgd', params: { ...pgd.attack.params, loss } } });
  const corruption = (c: string): RunResult => ({ ...pgd, attack: { id: 'corruption', params: { corruption: c }, budget: null, perturbation: 'severity' } });
  const rows = resultRows([apgd('ce'), apgd('dlr'), corruption('fog'), corruption('frost'), pgd, { ...pgd, seed: 1 }]);
  const readAs = (r: Record<string, unknown>): string => `${r.modelLabel} | ${r.setting} | ${r.perturbation}`;
  t.is(new Set(rows.map(readAs)).size, rows.length);
  t.deepEqual([...new Set(rows.map((r) => r.setting))], ['apgd (linf, loss=ce)', 'apgd (linf, loss=dlr)', 'corruption (corruption=fog)', 'corruption (corruption=frost)', 'pgd (linf)']);
  t.deepEqual([...new Set(rows.filter((r) => r.setting === 'pgd (linf)').map((r) => r.modelLabel))], ['mlp [mnist] (seed 7)', 'mlp [mnist] (seed 1)']);
});
