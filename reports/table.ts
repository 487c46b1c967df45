import {
  attackGroups,
  compareModels,
  corruptionTables,
  defineReporter,
  fitsWrapped,
  fitTable,
  formatAccuracy,
  formatDifference,
  formatPerturbation,
  memberBreakdownLines,
  type RunResult,
  terminalColumns,
} from '../src/sdk.js';

/**
 * One table per attack setting, a row per model: columns are that attack's perturbation sizes,
 * each accuracy with its Wilson 95% interval; then a row per model after the first with its
 * difference from the first and that difference's interval (paired where both saw the same
 * images). Where that many columns cannot fit `width` even wrapped, the table is transposed:
 * a row per perturbation size, a column per model and one for its difference.
 */
export function accuracyTable(results: RunResult[], width: number | undefined = terminalColumns()): string {
  return attackGroups(results)
    .map(({ runs, names, title, perturbation: label, budget }) => {
      const rows = compareModels(runs);
      const budgets = rows.map((r) => (r.perturbation === 'clean' ? 'clean' : `${label} ${formatPerturbation(r.perturbation, label, budget)}`));
      const accuracies = runs.map((_, i) => rows.map((r) => (r.accuracies[i] ? formatAccuracy(r.accuracies[i].accuracy, r.accuracies[i]) : '')));
      const differences = runs.slice(1).map((_, j) => rows.map((r) => (r.differences[j] ? formatDifference(r.differences[j]) : '')));
      const pairedness = (j: number): string => (rows.every((r) => r.differences[j]?.paired !== false) ? 'paired' : 'unpaired');
      const head = ['model', 'attack', ...budgets];
      const body = [...names.map((n, i) => [n, title, ...accuracies[i]]), ...differences.map((d, j) => [`${names[j + 1]} − ${names[0]} (${pairedness(j)})`, title, ...d])];
      if (fitsWrapped(head, body, width)) return fitTable(head, body, width);
      // Each difference column right of its model's, so its head need not repeat the model's name.
      const columns = [
        { head: names[0], cells: accuracies[0] },
        ...differences.flatMap((d, j) => [
          { head: names[j + 1], cells: accuracies[j + 1] },
          { head: `Δ vs ${names[0]} (${pairedness(j)})`, cells: d },
        ]),
      ];
      return fitTable(
        [title, ...columns.map((c) => c.head)],
        budgets.map((b, k) => [b, ...columns.map((c) => c.cells[k])]),
        width,
      );
    })
    .join('\n');
}

export default defineReporter({
  id: 'table',
  description: 'terminal table of accuracy at each perturbation size with Wilson 95% intervals, and each model against the first (cli-table3)',
  async write(results, ctx) {
    ctx.log(accuracyTable(results));
    // Composite attacks (AutoAttack): the robust accuracy after each member, as AutoAttack's own log gives it.
    for (const line of results.flatMap(memberBreakdownLines)) ctx.log(line);
    for (const table of corruptionTables(results)) ctx.log(table);
    return [];
  },
});
