import { defineReporter } from '../src/plugin-api.js';
import type { RunResult } from '../src/plugin-api.js';
import { corruptionTables } from '../src/corruption-report.js';
import { fitsWrapped, fitTable, terminalColumns } from '../src/terminal-table.js';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** Perturbations that are fractions of 255 read better as such (8/255 rather than 0.031). */
export function formatPerturbation(value: number, label: string): string {
  if (value === 0 || label === 'severity') return String(value);
  const grey = value * 255;
  if (Math.abs(grey - Math.round(grey)) < 1e-6 && value < 0.2) return `${Math.round(grey)}/255`;
  return Number(value.toPrecision(4)).toString();
}

/**
 * One table per attack setting, a row per model: columns are that attack's perturbation sizes.
 * Where that many columns cannot fit `width` even wrapped, the table is transposed: a row per
 * perturbation size, a column per model.
 */
export function accuracyTable(results: RunResult[], width: number | undefined = terminalColumns()): string {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const key = JSON.stringify([r.attack.id, r.attack.params]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()]
    .map((runs) => {
      const { attack } = runs[0];
      const label = attack.perturbation;
      const name = attack.budget ? `${attack.id} (${attack.budget})` : attack.id;
      const perturbations = [...new Set(runs.flatMap((r) => r.points.map((p) => p.perturbation)))].sort((a, b) => a - b);
      const accuracies = runs.map((r) => {
        const byP = new Map(r.points.map((p) => [p.perturbation, p.accuracy]));
        return perturbations.map((p) => (byP.has(p) ? pct(byP.get(p)!) : ''));
      });
      const models = runs.map((r) => `${r.model.id} [${r.model.dataset}]`);
      const head = ['model', 'attack', ...perturbations.map((p) => `${label} ${formatPerturbation(p, label)}`)];
      const rows = runs.map((_, i) => [models[i], name, ...accuracies[i]]);
      if (fitsWrapped(head, rows, width)) return fitTable(head, rows, width);
      return fitTable(
        [`${name}: ${label}`, ...models],
        perturbations.map((p, j) => [formatPerturbation(p, label), ...accuracies.map((a) => a[j])]),
        width,
      );
    })
    .join('\n');
}

export default defineReporter({
  id: 'table',
  description: 'terminal table of accuracy at each perturbation size (cli-table3)',
  async write(results, ctx) {
    ctx.log(accuracyTable(results));
    for (const table of corruptionTables(results)) ctx.log(table);
    return [];
  },
});
