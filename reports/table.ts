import Table from 'cli-table3';
import { defineReporter } from '../src/plugin-api.js';
import type { RunResult } from '../src/plugin-api.js';
import { corruptionTables } from '../src/corruption-report.js';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** Perturbations that are fractions of 255 read better as such (8/255 rather than 0.031). */
export function formatPerturbation(value: number, label: string): string {
  if (value === 0 || label === 'severity') return String(value);
  const grey = value * 255;
  if (Math.abs(grey - Math.round(grey)) < 1e-6 && value < 0.2) return `${Math.round(grey)}/255`;
  return Number(value.toPrecision(4)).toString();
}

/** One table per attack setting, a row per model: columns are that attack's perturbation sizes. */
export function accuracyTable(results: RunResult[]): string {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const key = JSON.stringify([r.attack.id, r.attack.params]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()]
    .map((runs) => {
      const { attack } = runs[0];
      const label = attack.perturbation;
      const perturbations = [...new Set(runs.flatMap((r) => r.points.map((p) => p.perturbation)))].sort((a, b) => a - b);
      const table = new Table({
        head: ['model', 'attack', ...perturbations.map((p) => `${label} ${formatPerturbation(p, label)}`)],
        style: { head: [], border: [] },
      });
      for (const r of runs) {
        const byP = new Map(r.points.map((p) => [p.perturbation, p]));
        const name = attack.budget ? `${attack.id} (${attack.budget})` : attack.id;
        table.push([`${r.model.id} [${r.model.dataset}]`, name, ...perturbations.map((p) => (byP.has(p) ? pct(byP.get(p)!.accuracy) : ''))]);
      }
      return table.toString();
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
