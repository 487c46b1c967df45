/** The text of report figures: budgets, accuracies with their intervals, differences in points. */
import type { Interval } from '../core/intervals.js';
import type { Norm } from '../core/plugin-api.js';

export const pct = (x: number, digits = 1): string => `${(100 * x).toFixed(digits)}%`;

/**
 * Perturbations that are fractions of 255 read better as such (8/255 rather than 0.031); an l2
 * budget is a length, not a grey level, so it stays a decimal, as do severities.
 */
export function formatPerturbation(value: number, label: string, norm?: Norm | null): string {
  if (value === 0 || label === 'severity' || norm === 'l2') return String(Number(value.toPrecision(4)));
  const grey = value * 255;
  if (Math.abs(grey - Math.round(grey)) < 1e-6 && value < 0.2) return `${Math.round(grey)}/255`;
  return Number(value.toPrecision(4)).toString();
}

/** "94.0% (87.5–97.2)": an accuracy and its interval, in percent. */
export const formatAccuracy = (accuracy: number, { lo, hi }: Interval): string => `${pct(accuracy)} (${(100 * lo).toFixed(1)}–${(100 * hi).toFixed(1)})`;

/** A difference of proportions in percentage points with its sign: "−21.0", "+3.5"; one that rounds to zero has none. */
export const signedPoints = (x: number): string => {
  const text = (100 * Math.abs(x)).toFixed(1);
  return Number(text) === 0 ? text : `${x < 0 ? '−' : '+'}${text}`;
};

/** "−21.0 pt (−30.3 to −11.6)": a difference of accuracies and its interval, in percentage points. */
export const formatDifference = (d: Interval & { estimate: number }): string => `${signedPoints(d.estimate)} pt (${signedPoints(d.lo)} to ${signedPoints(d.hi)})`;
