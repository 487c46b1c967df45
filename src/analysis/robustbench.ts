/**
 * Results in RobustBench's formats (github.com/RobustBench/robustbench, model_info/):
 * one model-info JSON per model, dataset and threat model (clean_acc, autoattack_acc or
 * corruptions_acc in percent with two decimals, eps as "8/255", number_forward_passes),
 * and for corruptions the unaggregated CSV: two header rows (corruption, severity), then
 * one row per model of accuracies in [0, 1], the corruptions in RobustBench's order.
 */
import { corruptionErrors } from './corruption-errors.js';
import { UsageError } from '../core/errors.js';
import type { RunResult } from '../core/plugin-api.js';
import { stringify } from 'csv-stringify/sync';
import { csvCell, pathInside, safeFileName } from '../report/safe-text.js';

/** robustbench/data.py CORRUPTIONS, the column order of unaggregated_results.csv. */
export const ROBUSTBENCH_CORRUPTIONS = ['shot_noise', 'motion_blur', 'snow', 'pixelate', 'gaussian_noise', 'defocus_blur', 'brightness', 'fog', 'zoom_blur', 'frost', 'glass_blur', 'impulse_noise', 'contrast', 'jpeg_compression', 'elastic_transform'];

/** "8/255" where eps is a whole number of grey levels (as RobustBench writes it), else the number. */
export function epsText(eps: number): string {
  const levels = eps * 255;
  return Math.abs(levels - Math.round(levels)) < 1e-6 && Math.round(levels) > 0 ? `${Math.round(levels)}/255` : String(eps);
}

const percent = (x: number): string => (100 * x).toFixed(2);

export type ThreatModel = 'Linf' | 'L2' | 'corruptions';

export interface ModelInfo {
  threatModel: ThreatModel;
  /** The file's content; fields robench cannot know (paper, authors, venue, reported, extra data) are null to fill in. */
  info: Record<string, string | number | boolean | null>;
}

const unknownFields = { link: null, authors: null, additional_data: null, venue: null, reported: null };

/** Every accuracy of a corruption run, per corruption and severity 1-5; null when the run lacks the breakdown. */
function corruptionAccuracies(run: RunResult): Map<string, number[]> | null {
  const table = corruptionErrors(run, [run]);
  if (!table || JSON.stringify(table.severities) !== '[1,2,3,4,5]') return null;
  return new Map(table.corruptions.map((c) => [c.name, c.errors.map((e) => 1 - e)]));
}

function corruptionRun(run: RunResult, where: string): Map<string, number[]> {
  const acc = corruptionAccuracies(run);
  const missing = acc ? ROBUSTBENCH_CORRUPTIONS.filter((c) => !acc.has(c)) : ROBUSTBENCH_CORRUPTIONS;
  if (!acc || missing.length > 0) {
    throw new UsageError(`${where}: RobustBench's corruptions format needs the 15 benchmark corruptions at severities 1-5, with per-corruption results`, 'run --attack corruption --corruption common with the default severities');
  }
  return acc;
}

/**
 * The model-info entry of one run: an autoattack run (version standard, as RobustBench
 * evaluates) at budget `eps` (default: its largest), or a corruption run.
 */
export function modelInfo(run: RunResult, eps?: number): ModelInfo {
  const where = `${run.model.id} / ${run.attack.id}`;
  // n_examples (robustbench.eval.benchmark's name for it) is not a model_info field RobustBench
  // writes, as its entries are all measured on its full sample counts; robench records it because
  // a 50-image figure must not pass for one of those.
  const base = { name: run.model.id, ...unknownFields, number_forward_passes: 1, dataset: run.dataset.id, architecture: typeof run.model.info?.architecture === 'string' ? run.model.info.architecture : null };
  if (run.attack.id === 'corruption') {
    const acc = corruptionRun(run, where);
    const all = ROBUSTBENCH_CORRUPTIONS.flatMap((c) => acc.get(c)!);
    return { threatModel: 'corruptions', info: { ...base, eps: null, clean_acc: percent(run.cleanAccuracy), corruptions_acc: percent(all.reduce((s, a) => s + a, 0) / all.length), n_examples: run.dataset.samples } };
  }
  if (run.attack.id !== 'autoattack' || run.attack.params['aa-version'] !== 'standard') {
    throw new UsageError(`${where}: RobustBench reports AutoAttack (standard version) accuracy, not ${run.attack.id}${run.attack.id === 'autoattack' ? ` --aa-version ${run.attack.params['aa-version']}` : ''}`, 'run --attack autoattack (its default --aa-version is standard), or export a corruption run');
  }
  const attacked = run.points.filter((p) => p.perturbation > 0);
  const point = eps === undefined ? attacked[attacked.length - 1] : attacked.find((p) => Math.abs(p.perturbation - eps) <= 1e-9);
  if (!point) throw new UsageError(`${where}: no point at eps ${eps ?? '> 0'}`, `its budgets: ${attacked.map((p) => p.perturbation).join(', ') || 'none'}`);
  const threatModel = run.attack.budget === 'l2' ? 'L2' : 'Linf';
  return { threatModel, info: { ...base, eps: epsText(point.perturbation), clean_acc: percent(run.cleanAccuracy), autoattack_acc: percent(point.accuracy), n_examples: run.dataset.samples } };
}

/**
 * The number of test images RobustBench evaluates per dataset (its leaderboards: the full
 * CIFAR-10/100 test sets, 5,000 ImageNet validation images; the same per corruption and
 * severity for the -C sets). Fewer images give a figure its leaderboard cannot be compared to.
 */
export const ROBUSTBENCH_SAMPLES: Record<string, number> = { cifar10: 10000, cifar100: 10000, imagenet: 5000 };

/** A warning when `run` was measured on fewer images than RobustBench uses for its dataset, else null. */
export function sampleWarning(run: RunResult): string | null {
  const wanted = Object.hasOwn(ROBUSTBENCH_SAMPLES, run.dataset.id) ? ROBUSTBENCH_SAMPLES[run.dataset.id]! : undefined;
  if (wanted === undefined) return `${run.model.id} / ${run.attack.id}: RobustBench has no leaderboard for ${run.dataset.id}; the file records n_examples ${run.dataset.samples}`;
  if (run.dataset.samples >= wanted) return null;
  return `${run.model.id} / ${run.attack.id}: measured on ${run.dataset.samples.toLocaleString('en-US')} images, RobustBench evaluates ${wanted.toLocaleString('en-US')} on ${run.dataset.id}: not comparable with its leaderboard (n_examples records it; rerun with --samples ${wanted} --data-dir <the full set>)`;
}

/**
 * Where a run's model-info file goes: `<out>/<dataset>/<threat model>/<model>.json`, the ids
 * mapped to safe file names (a model given as ../../x or a path names a file inside --out,
 * never outside) and the result checked to lie inside `out`.
 */
export function modelInfoPath(out: string, run: RunResult, threatModel: ThreatModel): string {
  return pathInside(out, safeFileName(run.dataset.id), threatModel, `${safeFileName(run.model.id)}.json`);
}

/** Where a dataset's unaggregated_results.csv goes, inside `out`. */
export const unaggregatedCsvPath = (out: string, dataset: string): string => pathInside(out, safeFileName(dataset), 'corruptions', 'unaggregated_results.csv');

/** unaggregated_results.csv for the corruption runs among `runs` (header only when none). */
export function unaggregatedCsv(runs: RunResult[]): string {
  const header = ['', ...ROBUSTBENCH_CORRUPTIONS.flatMap((c) => [c, c, c, c, c])];
  const severities = ['', ...ROBUSTBENCH_CORRUPTIONS.flatMap(() => ['1', '2', '3', '4', '5'])];
  const rows = runs
    .filter((r) => r.attack.id === 'corruption')
    .map((r) => {
      const acc = corruptionRun(r, `${r.model.id} / corruption`);
      // The model id is the one cell a user chooses: quoted where it holds a comma or quote, neutralised against formulas.
      return [csvCell(r.model.id), ...ROBUSTBENCH_CORRUPTIONS.flatMap((c) => acc.get(c)!.map(String))];
    });
  return stringify([header, severities, ...rows], { record_delimiter: '\n' });
}
