/**
 * 95% intervals of accuracies and of differences between them. A proportion gets Wilson's
 * score interval; a difference Newcombe's square-and-add (hybrid score) interval built from
 * the two Wilson intervals, which takes the correlation of paired outcomes (two models on the
 * same images) into account and reduces to the independent-samples interval without it.
 * Kept apart from the charts so that tables and results.json need no Vega.
 */
import type { CurvePoint } from './plugin-api.js';
import { perImage } from './samples.js';

/** The normal quantile of a two-sided 95% interval. */
export const Z95 = 1.959964;

export interface Interval {
  lo: number;
  hi: number;
}

/** Wilson score interval for a binomial proportion (z = 1.96 gives 95%); [0, 1] when total is 0. */
export function wilsonInterval(correct: number, total: number, z = Z95): Interval {
  if (!(total > 0)) return { lo: 0, hi: 1 };
  const p = correct / total;
  const z2n = (z * z) / total;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / total + z2n / (4 * total));
  // At 0 or 1 the bound is exactly p; rounding would leave it a hair inside, excluding the estimate.
  return { lo: correct <= 0 ? 0 : Math.max(0, centre - half), hi: correct >= total ? 1 : Math.min(1, centre + half) };
}

/** The Wilson interval of a point, the image as the unit (noise draws of one image are correlated). */
export function pointInterval(point: CurvePoint, images: number): Interval {
  const { correct, total } = perImage(point, images);
  return wilsonInterval(correct, total);
}

export interface Difference extends Interval {
  /** The second proportion minus the first. */
  estimate: number;
  /** Whether the interval used the pairing of the samples (the same images, outcome by outcome). */
  paired: boolean;
  /** Statistical units behind each side: images (paired: the images both saw). */
  n: [number, number];
}

interface Side {
  p: number;
  ci: Interval;
}

/**
 * Newcombe's square-and-add interval for p2 - p1 from each side's Wilson interval and psi, the
 * correlation of the two estimates (0 for independent samples). Newcombe (1998), Statistics in
 * Medicine 17:873 (method 10) and 17:2635 (paired, method 10).
 */
function squareAndAdd(first: Side, second: Side, psi: number): Interval {
  const d = second.p - first.p;
  const below = [second.p - second.ci.lo, first.ci.hi - first.p];
  const above = [second.ci.hi - second.p, first.p - first.ci.lo];
  const spread = ([a, b]: number[]): number => Math.sqrt(Math.max(0, a * a + b * b - 2 * psi * a * b));
  return { lo: Math.max(-1, d - spread(below)), hi: Math.min(1, d + spread(above)) };
}

/** The interval of p2 - p1 for two independent samples: correct1 of total1 and correct2 of total2. */
export function independentDifference(correct1: number, total1: number, correct2: number, total2: number): Difference {
  const first = { p: correct1 / total1, ci: wilsonInterval(correct1, total1) };
  const second = { p: correct2 / total2, ci: wilsonInterval(correct2, total2) };
  return { estimate: second.p - first.p, ...squareAndAdd(first, second, 0), paired: false, n: [total1, total2] };
}

/**
 * The interval of mean(b) - mean(a) for outcomes of the same samples, a[i] and b[i] of sample i,
 * each 0 or 1 (robust or not) or the fraction of an image's noise draws survived. The 2x2 table
 * of paired outcomes is built from products (a fraction counts as that share of a hit), which is
 * the table itself for 0/1 outcomes; its correlation, with Newcombe's adjustment of a small
 * positive one, is psi. Fractions vary less than 0/1 outcomes of the same mean, so for them psi
 * understates the correlation and the interval errs wide.
 */
export function pairedDifference(a: readonly number[], b: readonly number[]): Difference {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} outcomes against ${b.length}; pair the same samples`);
  const n = a.length;
  if (n === 0) throw new Error('pairedDifference: no samples');
  let sa = 0;
  let sb = 0;
  let both = 0;
  for (let i = 0; i < n; i++) {
    sa += a[i];
    sb += b[i];
    both += a[i] * b[i];
  }
  // ad - bc of the table, n * (sum of products) - (sum a)(sum b), with Newcombe's adjustment.
  const cross = n * both - sa * sb;
  const margins = sa * (n - sa) * sb * (n - sb);
  const adjusted = cross > n / 2 ? cross - n / 2 : cross >= 0 ? 0 : cross;
  const psi = margins > 0 ? adjusted / Math.sqrt(margins) : 0;
  const first = { p: sa / n, ci: wilsonInterval(sa, n) };
  const second = { p: sb / n, ci: wilsonInterval(sb, n) };
  return { estimate: second.p - first.p, ...squareAndAdd(first, second, psi), paired: true, n: [n, n] };
}

/** What results.json records of the intervals: clean accuracy and each point, per image. */
export interface AccuracyIntervals {
  method: 'wilson';
  confidence: 0.95;
  /** The statistical unit: the image, so noise draws of one image do not count as independent. */
  unit: 'image';
  clean: [number, number];
  /** Parallel to `points`. */
  points: [number, number][];
}

const rounded = ({ lo, hi }: Interval): [number, number] => [Number(lo.toFixed(6)), Number(hi.toFixed(6))];

/** The intervals of a run's accuracies, recomputed from its counts. */
export function accuracyIntervals(run: { cleanAccuracy: number; points: CurvePoint[]; dataset: { samples: number } }): AccuracyIntervals {
  const images = run.dataset.samples;
  return {
    method: 'wilson',
    confidence: 0.95,
    unit: 'image',
    clean: rounded(wilsonInterval(Math.round(run.cleanAccuracy * images), images)),
    points: run.points.map((p) => rounded(pointInterval(p, images))),
  };
}
