/**
 * What CIFAR-10-C reports (Hendrycks & Dietterich 2019): the error of each corruption at
 * each severity, and the corruption error relative to a baseline model,
 * CE_c = sum_s E_{s,c}(model) / sum_s E_{s,c}(baseline), whose mean over the corruptions is
 * the mCE. The baseline is the zoo's `baseline` model when a set of results holds it,
 * evaluated on the same data with the same corruptions and severities.
 */
import { corruptionNames } from '../../attacks/corruption.js';
import { wilsonInterval, type Interval } from '../core/intervals.js';
import type { RunResult } from '../core/plugin-api.js';

export interface CorruptionErrors {
  /** The severities of the columns of each `errors` row (0, the clean image, excluded). */
  severities: number[];
  /** Images each error is measured on (one corruption at one severity). */
  images: number;
  /** Each error with its 95% Wilson interval; CE and the means, ratios and averages over the same images, carry none. */
  corruptions: { name: string; errors: number[]; intervals: Interval[]; ce?: number }[];
  /** Error averaged over every corruption and severity. */
  meanError: number;
  /** Mean of the CEs, present when the baseline's results were there to divide by. */
  mce?: number;
  baseline?: string;
  /** Why there is no CE or mCE, when there is none: said beside the table rather than leaving the columns out without a word. */
  ceOmitted?: string;
}

/** Per corruption and severity, the error of one corruption run; null for other attacks or results without the breakdown. */
function errorsOf(run: RunResult): Omit<CorruptionErrors, 'meanError'> | null {
  if (run.attack.id !== 'corruption') return null;
  const names = corruptionNames(String(run.attack.params.corruption));
  const points = run.points.filter((p) => p.perturbation > 0);
  const perCorruption = points.map((p) => p.correctByVersion ?? (names.length === 1 ? [p.correct] : undefined));
  if (points.length === 0 || perCorruption.some((v) => v?.length !== names.length)) return null;
  const images = points[0].total / names.length;
  return {
    severities: points.map((p) => p.perturbation),
    images,
    corruptions: names.map((name, c) => ({
      name,
      errors: points.map((_, s) => 1 - perCorruption[s]![c] / images),
      intervals: points.map((_, s) => wilsonInterval(images - perCorruption[s]![c], images)),
    })),
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]): number => sum(xs) / xs.length;
const comparable = (a: RunResult, b: RunResult): boolean =>
  a.dataset.id === b.dataset.id && a.dataset.samples === b.dataset.samples && a.attack.params.corruption === b.attack.params.corruption && a.seed === b.seed;

/** The corruption table of `run`, with CE and mCE relative to the `baseline` model among `results`. */
export function corruptionErrors(run: RunResult, results: RunResult[]): CorruptionErrors | undefined {
  const own = errorsOf(run);
  if (!own) return undefined;
  const meanError = mean(own.corruptions.flatMap((c) => c.errors));
  const reference = results.find((r) => r.model.id === 'baseline' && comparable(r, run));
  const base = reference && errorsOf(reference);
  if (!base || JSON.stringify(base.severities) !== JSON.stringify(own.severities)) {
    const ceOmitted = reference
      ? "CE and mCE omitted: the baseline model's run here has other severities or no per-corruption results"
      : `CE and mCE omitted: they divide by the baseline model's errors on the same samples, and no baseline run on these ${own.images} ${run.dataset.id} images is among these results (add --model baseline to the run)`;
    return { ...own, meanError, ceOmitted };
  }
  const corruptions = own.corruptions.map((c, i) => {
    const denominator = sum(base.corruptions[i].errors);
    return denominator > 0 ? { ...c, ce: sum(c.errors) / denominator } : c;
  });
  const ces = corruptions.flatMap((c) => (c.ce === undefined ? [] : [c.ce]));
  // A corruption the baseline never got wrong has no CE; an mCE over the rest would not be the benchmark's.
  if (ces.length === corruptions.length) return { ...own, corruptions, meanError, mce: mean(ces), baseline: 'baseline' };
  const errorless = corruptions.filter((c) => c.ce === undefined).map((c) => c.name);
  return {
    ...own,
    corruptions,
    meanError,
    ceOmitted: `CE and mCE omitted: the baseline model made no error on ${errorless.join(', ')} at any severity on these ${own.images} images, so their CE (an error divided by the baseline's) is undefined and an mCE over the other corruptions would not be the benchmark's; more --samples may give the baseline errors to divide by`,
  };
}

/** The results with each corruption run's table attached, as results.json holds them. */
export const withCorruptionErrors = (results: RunResult[]): (RunResult & { corruptionErrors?: CorruptionErrors })[] =>
  results.map((r) => {
    const table = corruptionErrors(r, results);
    return table ? { ...r, corruptionErrors: table } : r;
  });
