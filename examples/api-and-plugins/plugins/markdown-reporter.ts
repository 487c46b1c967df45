/** A reporter plugin: results.md, one table row per model and attack. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineReporter, type RunResult } from 'robench';

const percent = (r: RunResult, eps: number): string => {
  const point = r.points.find((p) => p.perturbation === eps);
  return point ? `${(100 * point.accuracy).toFixed(1)}%` : '';
};

export default defineReporter({
  id: 'markdown',
  description: 'results.md: accuracy at each budget as a Markdown table',
  async write(results, ctx) {
    const budgets = [...new Set(results.flatMap((r) => r.points.map((p) => p.perturbation)))].sort((a, b) => a - b);
    const lines = [
      `| model | attack | ${budgets.map((e) => `eps ${e}`).join(' | ')} |`,
      `|---|---|${budgets.map(() => '---').join('|')}|`,
      ...results.map((r) => `| ${r.model.id} | ${r.attack.id} | ${budgets.map((e) => percent(r, e)).join(' | ')} |`),
    ];
    // ctx.outDir exists and is writable (robench checked), so no mkdir is needed.
    const file = join(ctx.outDir, 'results.md');
    await writeFile(file, `${lines.join('\n')}\n`);
    ctx.log(`markdown: ${file}`);
    return [file];
  },
});
