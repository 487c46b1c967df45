/** The per-corruption, per-severity error table and mCE of corruption runs, as text and csv rows. */
import { csvRow, terminalText } from './safe-text.js';
import Table from 'cli-table3';
import { corruptionErrors } from '../analysis/corruption-errors.js';
import type { RunResult } from '../core/plugin-api.js';
import { formatAccuracy, pct } from './report-format.js';

/** One table per corruption run: a row per corruption (error at each severity with its 95% interval, CE), then the means. */
export function corruptionTables(results: RunResult[]): string[] {
  return results.flatMap((r) => {
    const table = corruptionErrors(r, results);
    if (!table) return [];
    const ce = table.mce !== undefined;
    const out = new Table({
      head: [terminalText(`${r.model.id} [${r.model.dataset}] error`), ...table.severities.map((s) => `severity ${s}`), ...(ce ? ['CE'] : [])],
      style: { head: [], border: [] },
    });
    for (const c of table.corruptions) out.push([terminalText(c.name), ...c.errors.map((e, s) => formatAccuracy(e, c.intervals[s])), ...(ce ? [pct(c.ce!)] : [])]);
    out.push([ce ? `mean (mCE vs ${table.baseline})` : 'mean', ...table.severities.map((_, s) => pct(table.corruptions.reduce((a, c) => a + c.errors[s], 0) / table.corruptions.length)), ...(ce ? [pct(table.mce!)] : [])]);
    return [table.ceOmitted ? `${out.toString()}\n${table.ceOmitted}` : out.toString()];
  });
}

/** results.csv rows for the table: one per model, corruption and severity, with CE and mCE repeated on each. */
export function corruptionCsvRows(results: RunResult[]): Record<string, string | number>[] {
  return results.flatMap((r) => {
    const table = corruptionErrors(r, results);
    if (!table) return [];
    return table.corruptions.flatMap((c) =>
      c.errors.map((error, s) => csvRow({ model: r.model.id, dataset: r.dataset.id, corruption: c.name, severity: table.severities[s], error, error_lo: c.intervals[s].lo, error_hi: c.intervals[s].hi, images: table.images, ce: c.ce ?? '', mce: table.mce ?? '' })),
    );
  });
}
