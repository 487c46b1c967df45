/**
 * The headline of a report: the models under one attack setting side by side, clean and at
 * each budget, each accuracy with its interval, and each model's difference from the first
 * (the reference) with the interval of that difference. Models evaluated on the same images
 * (per-sample outcomes of the same samples of the same data) are compared image by image,
 * which gives a much narrower interval than two independent samples would; results without
 * outcomes (written before robench recorded them) or on other samples are compared unpaired.
 */
import { independentDifference, pairedDifference, pointInterval, wilsonInterval, type Difference, type Interval } from '../core/intervals.js';
import type { RunResult } from '../core/plugin-api.js';
import { pairing } from './regression.js';
import { perImage } from '../core/samples.js';

export interface Accuracy extends Interval {
  accuracy: number;
  /** Images behind the interval. */
  n: number;
}

export interface ComparisonRow {
  /** 'clean', or a budget of the grid (above 0). */
  perturbation: 'clean' | number;
  /** Per run, in the order given; undefined where a run has no such point. */
  accuracies: (Accuracy | undefined)[];
  /** Per run after the first: its accuracy minus the first run's. */
  differences: (Difference | undefined)[];
}

const cleanCounts = (r: RunResult): { correct: number; total: number } => ({ correct: Math.round(r.cleanAccuracy * r.dataset.samples), total: r.dataset.samples });

/** Per-image outcomes of `run` aligned with `reference`'s, when both saw the same images of the same data. */
function paired(reference: RunResult, run: RunResult): ReturnType<typeof pairing> {
  const sameData = reference.dataset.id === run.dataset.id && reference.dataset.source.sha256 === run.dataset.source.sha256;
  return sameData ? pairing(reference, run) : undefined;
}

/** The alignment of two runs' clean outcomes, by dataset index, or undefined as `paired`. */
function pairedClean(reference: RunResult, run: RunResult): [number[], number[]] | undefined {
  if (!paired(reference, run)) return undefined;
  const position = new Map(run.outcomes!.index.map((d, i) => [d, i]));
  return [reference.outcomes!.clean, reference.outcomes!.index.map((d) => run.outcomes!.clean[position.get(d)!])];
}

export function compareModels(runs: RunResult[]): ComparisonRow[] {
  if (runs.length === 0) return [];
  const [reference, ...others] = runs;
  const pairs = others.map((r) => paired(reference, r));
  const budgets = [...new Set(runs.flatMap((r) => r.points.map((p) => p.perturbation)))].filter((p) => p > 0).sort((a, b) => a - b);
  const clean: ComparisonRow = {
    perturbation: 'clean',
    accuracies: runs.map((r) => {
      const { correct, total } = cleanCounts(r);
      return { accuracy: r.cleanAccuracy, ...wilsonInterval(correct, total), n: total };
    }),
    differences: others.map((r) => {
      const outcomes = pairedClean(reference, r);
      if (outcomes) return pairedDifference(...outcomes);
      const [a, b] = [cleanCounts(reference), cleanCounts(r)];
      return independentDifference(a.correct, a.total, b.correct, b.total);
    }),
  };
  const atBudget = budgets.map((eps): ComparisonRow => {
    const at = runs.map((r) => r.points.findIndex((p) => p.perturbation === eps));
    const k0 = at[0];
    return {
      perturbation: eps,
      accuracies: runs.map((r, i) => {
        const point = r.points[at[i]];
        return point ? { accuracy: point.accuracy, ...pointInterval(point, r.dataset.samples), n: perImage(point, r.dataset.samples).total } : undefined;
      }),
      differences: others.map((r, j) => {
        const k = at[j + 1];
        if (k0 < 0 || k < 0) return undefined;
        const pair = pairs[j];
        if (pair) return pairedDifference(pair.base[k0], pair.cur[k]);
        const a = perImage(reference.points[k0], reference.dataset.samples);
        const b = perImage(r.points[k], r.dataset.samples);
        return independentDifference(a.correct, a.total, b.correct, b.total);
      }),
    };
  });
  return [clean, ...atBudget];
}
