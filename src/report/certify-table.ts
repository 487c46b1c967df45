/**
 * `robench certify`'s terminal table: a row per noise level, with its abstentions, the smoothed
 * classifier's clean accuracy (PREDICT) and the certified accuracy at each radius, radius 0
 * included (a sample certified with the true class at any radius), each with its Wilson 95%
 * interval over images, as robench run's table shows accuracies.
 */
import { wilsonInterval } from '../core/intervals.js';
import { abstentions, smoothedCorrect } from '../evaluation/smoothing-record.js';
import type { CertifyRun } from './certify-results.js';
import { fitTable } from './terminal-table.js';

const percent = (correct: number, total: number): string => {
  const { lo, hi } = wilsonInterval(correct, total);
  return `${((100 * correct) / total).toFixed(1)}% (${(100 * lo).toFixed(1)}–${(100 * hi).toFixed(1)})`;
};

export function certifyTable(runs: readonly CertifyRun[], width?: number): string {
  const radii = [...new Set(runs.flatMap((r) => r.points.map((p) => p.perturbation)))].sort((a, b) => a - b);
  const head = ['model', 'sigma', 'images', 'abstained', 'smoothed clean', ...radii.map((r) => `radius ${r}`)];
  const rows = runs.map((run) => {
    const record = run.smoothing;
    const images = record.index.length;
    return [
      `${run.model.id} [${run.dataset.id}]`,
      String(record.sigma),
      String(images),
      String(abstentions(record)),
      percent(smoothedCorrect(record), images),
      ...radii.map((r) => {
        const point = run.points.find((p) => p.perturbation === r);
        return point ? percent(point.correct, point.total) : '';
      }),
    ];
  });
  return fitTable(head, rows, width);
}
