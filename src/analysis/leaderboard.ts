/**
 * Leaderboards from saved results, as RobustBench shows them, one table per dataset and
 * threat model (Linf, L2, corruptions, and each noise attack on its own axis), because a
 * budget means nothing outside its dataset and norm: 0.2 on MNIST and 8/255 on CIFAR-10 are
 * not columns of one table. A row is a model on one set of samples: runs of one model with
 * different sample counts (or different clean accuracies, so different samples) are separate
 * rows, so the clean accuracy a row shows comes from the very runs its robust figures come
 * from. Each cell is the lowest accuracy any of the row's runs reached at that budget (the
 * strongest attack's), with the attack and the number of images it was measured on.
 */
import { terminalText } from '../report/safe-text.js';
import Table from 'cli-table3';
import type { RunResult } from '../core/plugin-api.js';

export interface Cell {
  accuracy: number;
  attack: string;
  /** Images the accuracy was measured on (noise draws of one image count once). */
  samples: number;
}

export interface LeaderboardRow {
  model: string;
  clean: number;
  /** Images of the clean accuracy: the same runs, so the same images, as every cell of the row. */
  samples: number;
  cells: (Cell | undefined)[];
}

export interface LeaderboardTable {
  dataset: string;
  /** 'Linf', 'L2', 'corruptions', or a noise attack's id. */
  threatModel: string;
  /** What a column's number measures: 'eps', 'sigma', or 'corruption set'. */
  unit: string;
  /** Column headings, each budget written in the table's own units. */
  columns: string[];
  rows: LeaderboardRow[];
}

export interface Leaderboard {
  tables: LeaderboardTable[];
}

const NORM_NAMES: Record<string, string> = { linf: 'Linf', l2: 'L2' };

/** A table's threat model and the axis its columns measure, for one run. */
function threatOf(run: RunResult): { threatModel: string; unit: string } {
  if (run.attack.budget) return { threatModel: NORM_NAMES[run.attack.budget] ?? run.attack.budget, unit: 'eps' };
  if (run.attack.id === 'corruption') return { threatModel: 'corruptions', unit: 'corruption set' };
  return { threatModel: run.attack.id, unit: run.attack.perturbation || 'perturbation' };
}

/** The (column key, cell) pairs one run contributes; a numeric key is a budget. */
function cellsOf(run: RunResult): [number | string, Cell][] {
  const cell = (accuracy: number): Cell => ({ accuracy, attack: run.attack.id, samples: run.dataset.samples });
  if (run.attack.id === 'corruption') {
    const attacked = run.points.filter((p) => p.perturbation > 0);
    const correct = attacked.reduce((s, p) => s + p.correct, 0);
    const total = attacked.reduce((s, p) => s + p.total, 0);
    return total > 0 ? [[String(run.attack.params.corruption ?? 'common'), cell(correct / total)]] : [];
  }
  // Norm budgets and noise levels alike: one column per level above zero.
  return run.points.filter((p) => p.perturbation > 0).map((p) => [p.perturbation, cell(p.accuracy)]);
}

/** Whether x is written exactly (to 1e-9) with at most 4 significant digits, as 0.2 or 0.25 are and 8/255 is not. */
const shortDecimal = (x: number): boolean => Math.abs(Number(x.toPrecision(4)) - x) <= 1e-9 * Math.max(1, Math.abs(x));
const wholeLevels = (x: number): boolean => Math.abs(x * 255 - Math.round(x * 255)) < 1e-6 && Math.round(x * 255) > 0;

/**
 * Budgets in one table's own units: k/255 when every budget of the table is a whole number of
 * grey levels and some are not short decimals (CIFAR-10's 1/255, 8/255), else decimals (MNIST's
 * 0.1, 0.2, never 0.2 as 51/255; L2's 0.25). A budget that is neither gets 4 significant digits.
 */
export function budgetTexts(budgets: number[]): string[] {
  const levels = budgets.length > 0 && budgets.every(wholeLevels) && !budgets.every(shortDecimal);
  return budgets.map((b) => (levels ? `${Math.round(b * 255)}/255` : shortDecimal(b) ? String(Number(b.toPrecision(4))) : b.toPrecision(4)));
}

export function leaderboard(runs: RunResult[]): Leaderboard {
  interface Building {
    dataset: string;
    threatModel: string;
    unit: string;
    rows: Map<string, { model: string; clean: number; samples: number; cells: Map<number | string, Cell> }>;
  }
  const tables = new Map<string, Building>();
  for (const run of runs) {
    const cells = cellsOf(run);
    // A run with nothing above zero (a clean-only run) has no robust figure to show.
    if (cells.length === 0) continue;
    const { threatModel, unit } = threatOf(run);
    const tableKey = `${run.dataset.id}\u0000${threatModel}`;
    const table = tables.get(tableKey) ?? { dataset: run.dataset.id, threatModel, unit, rows: new Map() };
    tables.set(tableKey, table);
    // Same model, same number of images, same clean accuracy: the same samples, one row.
    const rowKey = `${run.model.id}\u0000${run.dataset.samples}\u0000${run.cleanAccuracy}`;
    const row = table.rows.get(rowKey) ?? { model: run.model.id, clean: run.cleanAccuracy, samples: run.dataset.samples, cells: new Map() };
    table.rows.set(rowKey, row);
    for (const [column, cell] of cells) {
      const held = row.cells.get(column);
      if (!held || cell.accuracy < held.accuracy) row.cells.set(column, cell);
    }
  }
  const order = (t: Building): number => (t.threatModel === 'Linf' ? 0 : t.threatModel === 'L2' ? 1 : t.threatModel === 'corruptions' ? 2 : 3);
  const built = [...tables.values()].sort((a, b) => a.dataset.localeCompare(b.dataset) || order(a) - order(b) || a.threatModel.localeCompare(b.threatModel));
  return {
    tables: built.map((t) => {
      const keys = [...new Set([...t.rows.values()].flatMap((r) => [...r.cells.keys()]))];
      const budgets = keys.filter((k): k is number => typeof k === 'number').sort((a, b) => a - b);
      const names = keys.filter((k): k is string => typeof k === 'string').sort();
      const columns = [...budgetTexts(budgets), ...names];
      const ordered: (number | string)[] = [...budgets, ...names];
      // Largest samples first within a model: the better-measured row leads.
      const rows = [...t.rows.values()].sort((a, b) => a.model.localeCompare(b.model) || b.samples - a.samples);
      return { dataset: t.dataset, threatModel: t.threatModel, unit: t.unit, columns, rows: rows.map((r) => ({ model: r.model, clean: r.clean, samples: r.samples, cells: ordered.map((k) => r.cells.get(k)) })) };
    }),
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const cellText = (c: Cell | undefined): string => (c ? `${pct(c.accuracy)} (${c.attack}, n=${c.samples})` : '-');

/** A table's title: dataset, threat model and what its columns measure. */
export function tableTitle(t: LeaderboardTable): string {
  if (t.threatModel === 'corruptions') return `${t.dataset} · corruptions (mean accuracy over every corruption and severity)`;
  if (t.threatModel === 'Linf' || t.threatModel === 'L2') return `${t.dataset} · ${t.threatModel} (${t.unit} in [0,1] pixel units)`;
  return `${t.dataset} · ${t.threatModel} noise (${t.unit})`;
}

function grid(t: LeaderboardTable): string[][] {
  const heading = (c: string): string => (t.unit === 'corruption set' ? c : `${t.unit} ${c}`);
  return [['model', 'clean', ...t.columns.map(heading)], ...t.rows.map((r) => [r.model, `${pct(r.clean)} (n=${r.samples})`, ...r.cells.map(cellText)])];
}

const NOTE = 'Each cell: the lowest accuracy any saved run of that model on those images reached at that budget, the attack that reached it, and n, the number of images. A model measured on different samples has a row per sample set.';

export function leaderboardText(board: Leaderboard): string {
  if (board.tables.length === 0) return 'no attacked points in these results: nothing to rank';
  return board.tables
    .map((t) => {
      const [head, ...body] = grid(t);
      // Model ids are user text: control characters shown escaped, never sent to the terminal raw.
      const table = new Table({ head: head!.map((c) => terminalText(c)), style: { head: [], border: [] } });
      for (const row of body) table.push(row.map((c) => terminalText(c)));
      return `${terminalText(tableTitle(t))}\n${table.toString()}`;
    })
    .join('\n\n');
}

export function leaderboardMarkdown(board: Leaderboard): string {
  // A newline or control character in an id would end the row or reach a terminal that cats the file.
  const line = (cells: string[]): string => `| ${cells.map((c) => terminalText(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  // Each table names its dataset and threat model in its first heading, so a table pasted alone still says what it ranks.
  const tables = board.tables.map((t) => {
    const [head, ...body] = grid(t);
    const first = [`model (${t.dataset} · ${t.threatModel})`, ...head!.slice(1)];
    return [line(first), line(head!.map(() => '---')), ...body.map(line)].join('\n');
  });
  return tables.join('\n\n') + '\n';
}

const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function leaderboardHtml(board: Leaderboard): string {
  const row = (cells: string[], tag: string): string => `<tr>${cells.map((c) => `<${tag}>${escape(c)}</${tag}>`).join('')}</tr>`;
  const tables = board.tables.map((t) => {
    const [head, ...body] = grid(t);
    // Wide tables scroll inside their own box rather than being cut at the page's width.
    return `<h2>${escape(tableTitle(t))}</h2>\n<div class="scroll"><table><thead>${row(head!, 'th')}</thead><tbody>${body.map((r) => row(r, 'td')).join('')}</tbody></table></div>`;
  });
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>robench leaderboard</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}.scroll{overflow-x:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}td:first-child,th:first-child{text-align:left}</style>
</head><body><h1>Robust accuracy</h1>
${tables.join('\n') || '<p>No attacked points in these results: nothing to rank.</p>'}
<p>${escape(NOTE)}</p>
</body></html>
`;
}
