/** `robench export --format robustbench`: saved results as RobustBench's model_info files. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic.js';
import { UsageError } from '../../core/errors.js';
import { modelInfo, modelInfoPath, unaggregatedCsv, unaggregatedCsvPath } from '../../analysis/robustbench.js';
import { readResults } from './check.js';
import type { CommandModule } from '../command.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

export interface ExportOptions {
  format: string;
  out: string;
  /** The budget of the autoattack runs to export (default: each run's largest). */
  eps?: number;
}

/**
 * Writes `<out>/<dataset>/<Linf|L2|corruptions>/<model>.json` per run, RobustBench's layout,
 * and `<out>/<dataset>/corruptions/unaggregated_results.csv` where there are corruption runs.
 * Every run is converted before anything is written, so a run it cannot export writes nothing.
 */
export async function exportCommand(inputs: string[], opts: ExportOptions): Promise<string[]> {
  if (opts.format !== 'robustbench') throw new UsageError(`--format '${opts.format}' is not an export format`, 'use --format robustbench');
  const runs = inputs.flatMap((path) => readResults(path));
  const entries = runs.map((run) => ({ run, ...modelInfo(run, opts.eps) }));
  const files: [string, string][] = entries.map(({ run, threatModel, info }) => [modelInfoPath(opts.out, run, threatModel), JSON.stringify(info, null, 2) + '\n']);
  for (const dataset of new Set(runs.filter((r) => r.attack.id === 'corruption').map((r) => r.dataset.id))) {
    files.push([unaggregatedCsvPath(opts.out, dataset), unaggregatedCsv(runs.filter((r) => r.dataset.id === dataset))]);
  }
  const twice = files.find(([f], i) => files.findIndex(([g]) => g === f) !== i);
  if (twice) throw new UsageError(`two runs would both be exported to ${twice[0]}`, 'export one run per model, dataset and threat model (pick the budget with --eps)');
  for (const [file, text] of files) {
    mkdirSync(join(file, '..'), { recursive: true });
    await writeFileAtomic(file, text);
  }
  return files.map(([f]) => f);
}

export const exportModule: CommandModule = {
  name: ['export'],
  description: "write saved results in another tool's format: RobustBench's model_info JSON and corruptions CSV",
  args: [{ name: 'results', variadic: true, description: 'folders written by robench run, or their results.json' }],
  settings: [
    choiceSetting({ name: 'format', choices: ['robustbench'] as const, description: 'the format to write' }),
    textSetting({ name: 'out', valueName: '<dir>', description: 'output folder (RobustBench layout: <dataset>/<Linf|L2|corruptions>/<model>.json)' }),
    numberSetting({ name: 'eps', min: 0, max: 1000, description: "budget of the autoattack runs to export (default: each run's largest)" }),
  ],
  required: ['format', 'out'],
  run: async ({ values: v, args }) => {
    console.error(`wrote ${(await exportCommand(args, { format: v.get('format') as string, out: v.get('out') as string, eps: v.get('eps') as number | undefined })).join(', ')}`);
  },
};
