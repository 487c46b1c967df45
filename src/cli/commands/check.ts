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
import { checkOutcomes } from '../../core/samples.js';

/** Reads results.json, or the results.json inside a result folder. */
export function readResults(path: string): RunResult[] {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'results.json') : path;
  if (!existsSync(file)) throw new UsageError(`no results at ${file}`, 'give a results.json or the folder `robench run` wrote');
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`, 'give a results.json written by robench run');
  }
  const runs = (Array.isArray(parsed) ? parsed : [parsed]) as RunResult[];
  if (runs.some((r) => !r || !Array.isArray(r.points) || !r.model || !r.attack)) {
    throw new UsageError(`${file} does not hold robench results`, 'give a results.json written by robench run');
  }
  const unfinished = runs.find((r) => r.complete === false);
  if (unfinished) {
    const what = unfinished.pending ? `${unfinished.model.id} / ${unfinished.attack.id} is missing ${unfinished.pending.samples} samples` : 'the run did not finish';
    throw new UsageError(`${file} holds an unfinished run (${what})`, `continue it with robench run --resume ${dirname(file)}, then report or check it`);
  }
  for (const r of runs) if (r.outcomes) checkOutcomes(r.outcomes, r.points, r.dataset.samples, `${file} (${r.model.id} / ${r.attack.id})`);
  return runs;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

export async function checkCommand(baselinePath: string, currentPath: string, opts: CheckOptions & { update: boolean }): Promise<number> {
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
      `${r.model} [${r.dataset}]`,
      r.attack,
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
