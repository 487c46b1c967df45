/**
 * One table of models x threat models from saved results, as RobustBench's leaderboard shows
 * them: per model (and dataset) its clean accuracy and, per threat model and budget, the
 * lowest robust accuracy any of its runs reached there (the strongest attack's), naming the
 * attack; corruptions as the mean accuracy over every corruption and severity.
 */
import { terminalText } from '../report/safe-text.js';
import Table from 'cli-table3';
import { epsText } from './robustbench.js';
import type { RunResult } from '../core/plugin-api.js';

export interface Cell {
  accuracy: number;
  attack: string;
  samples: number;
}

export interface Leaderboard {
  columns: string[];
  rows: { model: string; dataset: string; clean: number; cells: (Cell | undefined)[] }[];
}

const NORM_NAMES: Record<string, string> = { linf: 'Linf', l2: 'L2' };

/** The (column, cell) pairs one run contributes. */
function cellsOf(run: RunResult): [string, Cell][] {
  const cell = (accuracy: number): Cell => ({ accuracy, attack: run.attack.id, samples: run.dataset.samples });
  if (run.attack.budget) {
    return run.points.filter((p) => p.perturbation > 0).map((p) => [`${NORM_NAMES[run.attack.budget!]} ${epsText(p.perturbation)}`, cell(p.accuracy)]);
  }
  if (run.attack.id === 'corruption') {
    const attacked = run.points.filter((p) => p.perturbation > 0);
    const correct = attacked.reduce((s, p) => s + p.correct, 0);
    const total = attacked.reduce((s, p) => s + p.total, 0);
    return total > 0 ? [[`corruptions (${run.attack.params.corruption})`, cell(correct / total)]] : [];
  }
  return [];
}

const budgetOf = (column: string): number => {
  const [, eps] = column.split(' ');
  const [a, b] = (eps ?? '').split('/');
  return b ? Number(a) / Number(b) : Number(a);
};

export function leaderboard(runs: RunResult[]): Leaderboard {
  const byModel = new Map<string, { model: string; dataset: string; clean: number; cells: Map<string, Cell> }>();
  for (const run of runs) {
    const key = `${run.model.id}\u0000${run.dataset.id}`;
    const row = byModel.get(key) ?? { model: run.model.id, dataset: run.dataset.id, clean: run.cleanAccuracy, cells: new Map() };
    byModel.set(key, row);
    for (const [column, cell] of cellsOf(run)) {
      const held = row.cells.get(column);
      if (!held || cell.accuracy < held.accuracy) row.cells.set(column, cell);
    }
  }
  const names = new Set([...byModel.values()].flatMap((r) => [...r.cells.keys()]));
  // Threat models in a fixed order (Linf, L2, corruptions), budgets increasing within each.
  const rank = (c: string): number => (c.startsWith('Linf') ? 0 : c.startsWith('L2') ? 1 : 2);
  const columns = [...names].sort((a, b) => rank(a) - rank(b) || budgetOf(a) - budgetOf(b) || a.localeCompare(b));
  return { columns, rows: [...byModel.values()].map((r) => ({ model: r.model, dataset: r.dataset, clean: r.clean, cells: columns.map((c) => r.cells.get(c)) })) };
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const cellText = (c: Cell | undefined): string => (c ? `${pct(c.accuracy)} (${c.attack})` : '-');

function grid(board: Leaderboard): string[][] {
  return [['model', 'dataset', 'clean', ...board.columns], ...board.rows.map((r) => [r.model, r.dataset, pct(r.clean), ...r.cells.map(cellText)])];
}

export function leaderboardText(board: Leaderboard): string {
  const [head, ...body] = grid(board);
  // Model ids are user text: control characters shown escaped, never sent to the terminal raw.
  const table = new Table({ head: head!.map((c) => terminalText(c)), style: { head: [], border: [] } });
  for (const row of body) table.push(row.map((c) => terminalText(c)));
  return table.toString();
}

export function leaderboardMarkdown(board: Leaderboard): string {
  const [head, ...body] = grid(board);
  // A newline or control character in an id would end the row or reach a terminal that cats the file.
  const line = (cells: string[]): string => `| ${cells.map((c) => terminalText(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head!), line(head!.map(() => '---')), ...body.map(line)].join('\n') + '\n';
}

const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function leaderboardHtml(board: Leaderboard): string {
  const [head, ...body] = grid(board);
  const row = (cells: string[], tag: string): string => `<tr>${cells.map((c) => `<${tag}>${escape(c)}</${tag}>`).join('')}</tr>`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>robench leaderboard</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child,th:first-child{text-align:left}</style>
</head><body><h1>Robust accuracy</h1>
<table><thead>${row(head!, 'th')}</thead><tbody>${body.map((r) => row(r, 'td')).join('')}</tbody></table>
<p>Each cell: the lowest accuracy any saved run reached at that threat model and budget, and the attack that reached it.</p>
</body></html>
`;
}
