/** `robench export --format robustbench`: saved results as RobustBench's model_info files. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic.js';
import { UsageError } from '../../core/errors.js';
import { modelInfo, modelInfoPath, sampleWarning, unaggregatedCsv, unaggregatedCsvPath, type ModelInfo } from '../../analysis/robustbench.js';
import type { RunResult } from '../../core/plugin-api.js';
import { readResults } from './check.js';
import type { CommandModule } from '../command.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

export interface ExportOptions {
  format: string;
  out: string;
  /** The budget of the autoattack runs to export (default: each run's largest). */
  eps?: number;
}

export interface ExportOutcome {
  files: string[];
  /** Runs left out, each with why and what would make it exportable. */
  skipped: string[];
  /** Runs exported on fewer images than RobustBench evaluates (or for a dataset it has no leaderboard for). */
  warnings: string[];
}

/**
 * Writes `<out>/<dataset>/<Linf|L2|corruptions>/<model>.json` per run, RobustBench's layout,
 * and `<out>/<dataset>/corruptions/unaggregated_results.csv` where there are corruption runs.
 * A run RobustBench does not report (a PGD run, a custom AutoAttack, a corruption run without
 * the 15 benchmark corruptions) is skipped with a note rather than failing the export, as
 * results folders usually hold several attacks; only when no run can be exported is it an error.
 * Every run is converted before anything is written.
 */
export async function exportRuns(inputs: string[], opts: ExportOptions): Promise<ExportOutcome> {
  if (opts.format !== 'robustbench') throw new UsageError(`--format '${opts.format}' is not an export format`, 'use --format robustbench');
  const runs = inputs.flatMap((path) => readResults(path));
  const skipped: string[] = [];
  const entries: ({ run: RunResult } & ModelInfo)[] = [];
  for (const run of runs) {
    try {
      entries.push({ run, ...modelInfo(run, opts.eps) });
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      skipped.push(`${e.message}${e.hint ? ` (${e.hint})` : ''}`);
    }
  }
  if (entries.length === 0) {
    throw new UsageError(`none of the ${runs.length} run(s) can be exported:\n  ${skipped.join('\n  ')}`, 'export autoattack runs (--aa-version standard) or corruption runs with --corruption common');
  }
  const files: [string, string][] = entries.map(({ run, threatModel, info }) => [modelInfoPath(opts.out, run, threatModel), JSON.stringify(info, null, 2) + '\n']);
  const corruption = entries.filter((e) => e.threatModel === 'corruptions').map((e) => e.run);
  for (const dataset of new Set(corruption.map((r) => r.dataset.id))) {
    files.push([unaggregatedCsvPath(opts.out, dataset), unaggregatedCsv(corruption.filter((r) => r.dataset.id === dataset))]);
  }
  const twice = files.find(([f], i) => files.findIndex(([g]) => g === f) !== i);
  if (twice) throw new UsageError(`two runs would both be exported to ${twice[0]}`, 'export one run per model, dataset and threat model (pick the budget with --eps)');
  for (const [file, text] of files) {
    mkdirSync(join(file, '..'), { recursive: true });
    await writeFileAtomic(file, text);
  }
  const warnings = entries.map((e) => sampleWarning(e.run)).filter((w): w is string => w !== null);
  return { files: files.map(([f]) => f), skipped, warnings };
}

/** The files `exportRuns` wrote (its notes and warnings are the CLI's to print). */
export async function exportCommand(inputs: string[], opts: ExportOptions): Promise<string[]> {
  return (await exportRuns(inputs, opts)).files;
}

export const exportModule: CommandModule = {
  name: ['export'],
  description: "write saved results in another tool's format: RobustBench's model_info JSON (with n_examples) and corruptions CSV; runs RobustBench does not report (e.g. PGD) are skipped with a note, and runs on fewer images than RobustBench evaluates are flagged",
  args: [{ name: 'results', variadic: true, files: true, description: 'folders written by robench run, or their results.json' }],
  settings: [
    choiceSetting({ name: 'format', choices: ['robustbench'] as const, description: 'the format to write' }),
    textSetting({ name: 'out', valueName: '<dir>', description: 'output folder (RobustBench layout: <dataset>/<Linf|L2|corruptions>/<model>.json)' }),
    numberSetting({ name: 'eps', min: 0, max: 1000, description: "budget of the autoattack runs to export (default: each run's largest)" }),
  ],
  required: ['format', 'out'],
  run: async ({ values: v, args }) => {
    const outcome = await exportRuns(args, { format: v.get('format') as string, out: v.get('out') as string, eps: v.get('eps') as number | undefined });
    console.error(`wrote ${outcome.files.join(', ')}`);
    for (const note of outcome.skipped) console.error(`skipped ${note}`);
    for (const warning of outcome.warnings) console.error(`warning: ${warning}`);
  },
};
