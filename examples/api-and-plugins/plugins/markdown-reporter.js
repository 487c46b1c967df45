/** A reporter plugin: results.md, one table row per model and attack. `ctx.outDir` exists and is writable. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineReporter } from 'robench';

export default defineReporter({
  id: 'markdown',
  description: 'results.md: accuracy at each budget as a Markdown table',
  async write(results, ctx) {
    const budgets = [...new Set(results.flatMap((r) => r.points.map((p) => p.perturbation)))].sort((a, b) => a - b);
    const rows = results.map((r) => {
      const at = (e) => r.points.find((p) => p.perturbation === e);
      return `| ${r.model.id} | ${r.attack.id} | ${budgets.map((e) => (at(e) ? `${(100 * at(e).accuracy).toFixed(1)}%` : '')).join(' | ')} |`;
    });
    const file = join(ctx.outDir, 'results.md');
    await writeFile(file, [`| model | attack | ${budgets.map((e) => `eps ${e}`).join(' | ')} |`, `|---|---|${budgets.map(() => '---').join('|')}|`, ...rows, ''].join('\n'));
    ctx.log(`markdown: ${file}`);
    return [file];
  },
});
