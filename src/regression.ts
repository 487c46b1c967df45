/**
 * Robustness regression between two runs: a point regresses when its accuracy
 * drop is both larger than a tolerance and statistically significant for the two
 * sample counts, so a run on fewer samples never fails a build on noise alone.
 */
import { errorFunction } from 'simple-statistics';
import { UsageError } from './errors.js';
import type { CurvePoint, RunResult } from './plugin-api.js';

export interface Comparison {
  model: string;
  dataset: string;
  attack: string;
  perturbation: number;
  baseline: CurvePoint;
  current: CurvePoint;
  /** baseline accuracy minus current accuracy */
  drop: number;
  /** one-sided p-value of "current is below baseline" */
  pValue: number;
  verdict: 'ok' | 'regressed';
}

const normalCdf = (z: number): number => 0.5 * (1 + errorFunction(z / Math.SQRT2));

/** One-sided pooled two-proportion z-test of H1: p_current < p_baseline. */
export function dropPValue(baseline: CurvePoint, current: CurvePoint): number {
  const p1 = baseline.correct / baseline.total;
  const p2 = current.correct / current.total;
  const pooled = (baseline.correct + current.correct) / (baseline.total + current.total);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / baseline.total + 1 / current.total));
  if (se === 0) return p2 < p1 ? 0 : 1;
  return 1 - normalCdf((p1 - p2) / se);
}

const runKey = (r: RunResult): string => `${r.model.id} [${r.model.dataset}] / ${r.attack.id}`;

/** Settings that must agree for a comparison to mean anything. */
function mismatches(a: RunResult, b: RunResult): string[] {
  const out: string[] = [];
  if (JSON.stringify(a.attack.params) !== JSON.stringify(b.attack.params)) {
    out.push(`attack settings differ (${JSON.stringify(a.attack.params)} vs ${JSON.stringify(b.attack.params)})`);
  }
  if (a.seed !== b.seed) out.push(`seeds differ (${a.seed} vs ${b.seed})`);
  if (a.dataset.samples !== b.dataset.samples) out.push(`sample counts differ (${a.dataset.samples} vs ${b.dataset.samples})`);
  if (a.dataset.id !== b.dataset.id) out.push(`datasets differ (${a.dataset.id} vs ${b.dataset.id})`);
  return out;
}

export interface CheckOptions {
  tolerance: number;
  alpha: number;
  allowMismatch: boolean;
}

export function compareRuns(baseline: RunResult[], current: RunResult[], opts: CheckOptions): Comparison[] {
  const now = new Map(current.map((r) => [runKey(r), r]));
  const rows: Comparison[] = [];
  for (const base of baseline) {
    const cur = now.get(runKey(base));
    if (!cur) {
      throw new UsageError(`the new results have no run for ${runKey(base)}`, 'run the same models and attacks as the baseline, or update it with --update');
    }
    const differ = mismatches(base, cur);
    if (differ.length > 0 && !opts.allowMismatch) {
      throw new UsageError(`${runKey(base)}: ${differ.join('; ')}`, 'rerun with the baseline\'s settings, or pass --allow-mismatch');
    }
    const points = new Map(cur.points.map((p) => [p.perturbation, p]));
    for (const bp of base.points) {
      const cp = points.get(bp.perturbation);
      const row = { model: base.model.id, dataset: base.model.dataset, attack: base.attack.id, perturbation: bp.perturbation, baseline: bp };
      if (!cp) {
        if (opts.allowMismatch) continue;
        throw new UsageError(`${runKey(base)}: the new results have no point at ${bp.perturbation}`, 'use the baseline\'s grid (--eps), or pass --allow-mismatch');
      }
      const drop = bp.accuracy - cp.accuracy;
      const pValue = dropPValue(bp, cp);
      const regressed = drop > opts.tolerance && pValue < opts.alpha;
      rows.push({ ...row, current: cp, drop, pValue, verdict: regressed ? 'regressed' : 'ok' });
    }
  }
  return rows;
}
