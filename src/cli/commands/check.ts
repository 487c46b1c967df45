/** `robench check`: compare a run with a committed baseline; exit 1 on a robustness regression. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Table from 'cli-table3';
import { writeFileAtomic } from '../../runtime/atomic.js';
import { UsageError } from '../../core/errors.js';
import type { RunResult } from '../../core/plugin-api.js';
import { compareRuns, requireSamples, type CheckOptions } from '../../analysis/regression.js';
import { resultsJson } from '../../report/results-json.js';
import { gatherGallery, writeGalleryOf } from '../../report/gallery-images.js';
import { readResults } from '../../report/results-file.js';
import { terminalText } from '../../report/safe-text.js';
import type { CommandModule } from '../command.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

// The one validating reader (src/report/results-file.ts); re-exported for the commands and tests that import it from here.
export { readResults } from '../../report/results-file.js';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/**
 * The two thresholds, checked before any file is read: outside these ranges the verdict is
 * meaningless (alpha 2 or tolerance -1 fail an identical run; alpha 0 or tolerance 5 pass any drop).
 */
export function checkThresholds(opts: Pick<CheckOptions, 'alpha' | 'tolerance'>): void {
  if (!(Number.isFinite(opts.alpha) && opts.alpha > 0 && opts.alpha < 1)) {
    throw new UsageError(`--alpha ${opts.alpha} is not a significance level: it must lie in (0, 1)`, 'e.g. --alpha 0.01 (the default)');
  }
  if (!(Number.isFinite(opts.tolerance) && opts.tolerance >= 0 && opts.tolerance < 1)) {
    throw new UsageError(`--tolerance ${opts.tolerance} is not an accuracy drop: it must lie in [0, 1) (a fraction, not points)`, 'e.g. --tolerance 0.01 (the default) for one point');
  }
}

export async function checkCommand(baselinePath: string, currentPath: string, opts: CheckOptions & { update: boolean }): Promise<number> {
  checkThresholds(opts);
  const current = readResults(currentPath);
  if (opts.update) {
    requireSamples(current, currentPath);
    const target = existsSync(baselinePath) && statSync(baselinePath).isDirectory() ? join(baselinePath, 'results.json') : baselinePath;
    // The gallery pictures results.json names travel with it, so the baseline folder reports as the run's did.
    const currentDir = existsSync(currentPath) && statSync(currentPath).isDirectory() ? currentPath : dirname(currentPath);
    const { runs, files } = gatherGallery(current, currentDir);
    const pictures = await writeGalleryOf(runs, files, dirname(target));
    await writeFileAtomic(target, resultsJson(runs));
    console.log(`baseline ${target} updated from ${currentPath}${pictures > 0 ? ` (and ${pictures} gallery pictures)` : ''}`);
    return 0;
  }
  const rows = compareRuns(readResults(baselinePath), current, opts);
  const table = new Table({ head: ['model', 'attack', 'perturbation', 'baseline', 'now', 'difference', 'p', 'test', 'verdict'], style: { head: [], border: [] } });
  for (const r of rows) {
    table.push([
      terminalText(`${r.model} [${r.dataset}]`),
      terminalText(r.attack),
      Number(r.perturbation.toPrecision(4)),
      `${pct(r.baseline.accuracy)} (n=${r.n.baseline})`,
      `${pct(r.current.accuracy)} (n=${r.n.current})`,
      `${r.drop > 0 ? '-' : '+'}${(100 * Math.abs(r.drop)).toFixed(1)} pt`,
      r.pValue.toPrecision(2),
      r.test,
      r.verdict === 'regressed' ? 'REGRESSED' : 'ok',
    ]);
  }
  console.log(table.toString());
  const regressed = rows.filter((r) => r.verdict === 'regressed').length;
  console.log(
    regressed > 0
      ? `${regressed} of ${rows.length} points regressed (drop > ${opts.tolerance} and p < ${opts.alpha})`
      : `no regression in ${rows.length} points (tolerance ${opts.tolerance}, alpha ${opts.alpha})`,
  );
  return regressed > 0 ? 1 : 0;
}

export const checkModule: CommandModule = {
  name: ['check'],
  description: 'compare results with a baseline; exit 1 when robust accuracy regressed',
  args: [{ name: 'results', files: true, description: 'results.json or the folder robench run wrote' }],
  settings: [
    textSetting({ name: 'baseline', valueName: '<results.json or dir>', description: 'the committed baseline' }),
    numberSetting({ name: 'tolerance', min: 0, below: 1, default: 0.01, description: 'smallest absolute accuracy drop that can fail (a fraction: 0.01 is one point)' }),
    numberSetting({ name: 'alpha', above: 0, below: 1, default: 0.01, description: 'significance level of the one-sided two-proportion test' }),
    booleanSetting({ name: 'allowMismatch', description: 'compare even when attack settings, seeds or samples differ' }),
    booleanSetting({ name: 'update', description: 'rewrite the baseline from these results' }),
  ],
  required: ['baseline'],
  run: ({ values: v, args }) =>
    checkCommand(v.get('baseline') as string, args[0], {
      tolerance: v.get('tolerance') as number,
      alpha: v.get('alpha') as number,
      allowMismatch: v.get('allowMismatch') === true,
      update: v.get('update') === true,
    }),
};
