/**
 * The accuracy-versus-budget chart of one attack setting: a line per model through its points
 * and a band of each point's Wilson 95% interval, on a budget axis with a tick at every point
 * of the grid, labelled as the tables label budgets (8/255, 0.5), and log-spaced where the grid
 * is (the default l-inf grid doubles: 1, 2, 4, 8, 16 /255), so that no budget is squeezed.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { AttackGroup } from './attack-groups.js';
import { pointInterval } from '../core/intervals.js';
import type { Norm } from '../core/plugin-api.js';
import { formatPerturbation } from './report-format.js';
import { baseConfig, colorEncoding } from './chart-style.js';

export interface CurveDatum {
  series: string;
  perturbation: number;
  accuracy: number;
  correct: number;
  total: number;
  lo: number;
  hi: number;
}

/** The rows a curve chart plots: every point of every run with its Wilson interval. */
export function curveData(group: AttackGroup): CurveDatum[] {
  return group.runs.flatMap((r, i) =>
    r.points.map((p) => ({ series: group.names[i], perturbation: p.perturbation, accuracy: p.accuracy, correct: p.correct, total: p.total, ...pointInterval(p, r.dataset.samples) })),
  );
}

export type BudgetScale = { type: 'linear' } | { type: 'symlog'; constant: number };

/** The smallest gap between neighbouring points as a fraction of the axis, under `position`. */
function smallestGap(grid: number[], position: (v: number) => number): number {
  const at = grid.map(position);
  const span = at[at.length - 1] - at[0];
  return Math.min(...at.slice(1).map((x, i) => (x - at[i]) / span));
}

/**
 * Linear, or symmetric-log (linear below the smallest nonzero budget, logarithmic above it),
 * whichever leaves the closest two points of the grid further apart.
 */
export function budgetScale(grid: number[]): BudgetScale {
  const sorted = [...new Set(grid)].sort((a, b) => a - b);
  const smallest = sorted.find((v) => v > 0);
  if (sorted.length < 3 || smallest === undefined || sorted[0] < 0) return { type: 'linear' };
  const linear = smallestGap(sorted, (v) => v);
  const symlog = smallestGap(sorted, (v) => Math.log1p(v / smallest));
  return symlog > linear ? { type: 'symlog', constant: smallest } : { type: 'linear' };
}

/** The x encoding of a grid: a tick and a label at every budget, on `budgetScale`'s scale. */
export function budgetAxis(grid: number[], label: string, norm: Norm | null) {
  const values = [...new Set(grid)].sort((a, b) => a - b);
  const labels = values.map((v) => formatPerturbation(v, label, norm));
  const scale = budgetScale(values);
  return {
    field: 'perturbation',
    type: 'quantitative' as const,
    title: `${label}${norm ? ` (${norm})` : ''}${scale.type === 'symlog' ? ', log-spaced' : ''}`,
    scale: { ...scale, domain: [values[0], values[values.length - 1]], nice: false },
    // Labels looked up by value: the values are the grid's own numbers, so they match exactly.
    axis: { values, labelExpr: `${JSON.stringify(labels)}[indexof(${JSON.stringify(values)}, datum.value)]`, labelOverlap: 'greedy' as const, grid: true },
  };
}

/** `domain`: every series name of the report, in colour order. */
export function curveSpec(group: AttackGroup, domain?: string[]): TopLevelSpec {
  const rows = curveData(group);
  const x = budgetAxis(rows.map((d) => d.perturbation), group.perturbation, group.budget);
  const color = colorEncoding(domain);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `accuracy under ${group.title}`, subtitle: group.params || undefined, anchor: 'start' },
    width: 440,
    height: 280,
    config: baseConfig,
    datasets: { curve: rows as unknown as Record<string, number | string>[] },
    data: { name: 'curve' },
    layer: [
      {
        name: 'band',
        mark: { type: 'area', opacity: 0.18 },
        encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color },
      },
      {
        name: 'curve',
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 36 } },
        encoding: {
          x,
          y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (band: Wilson 95%)', scale: { domain: [0, 1] }, axis: { format: '%' } },
          color,
        },
      },
    ],
  };
}
