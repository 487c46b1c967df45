import Table from 'cli-table3';
import { defineReporter } from '../src/plugin-api.js';
import type { RunResult } from '../src/plugin-api.js';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** Perturbations that are fractions of 255 read better as such (8/255 rather than 0.031). */
export function formatPerturbation(value: number, label: string): string {
  if (value === 0 || label === 'severity') return String(value);
  const grey = value * 255;
  if (Math.abs(grey - Math.round(grey)) < 1e-6 && value < 0.2) return `${Math.round(grey)}/255`;
  return Number(value.toPrecision(4)).toString();
}

export function accuracyTable(results: RunResult[]): string {
  const perturbations = [...new Set(results.flatMap((r) => r.points.map((p) => p.perturbation)))].sort((a, b) => a - b);
  const label = results[0]?.attack.perturbation ?? 'eps';
  const table = new Table({
    head: ['model', 'attack', ...perturbations.map((p) => `${label} ${formatPerturbation(p, label)}`)],
    style: { head: [], border: [] },
  });
  for (const r of results) {
    const byP = new Map(r.points.map((p) => [p.perturbation, p]));
    const attack = r.attack.budget ? `${r.attack.id} (${r.attack.budget})` : r.attack.id;
    table.push([`${r.model.id} [${r.model.dataset}]`, attack, ...perturbations.map((p) => (byP.has(p) ? pct(byP.get(p)!.accuracy) : ''))]);
  }
  return table.toString();
}

export default defineReporter({
  id: 'table',
  description: 'terminal table of accuracy at each perturbation size (cli-table3)',
  async write(results, ctx) {
    ctx.log(accuracyTable(results));
    return [];
  },
});
