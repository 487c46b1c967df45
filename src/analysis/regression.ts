/**
 * Robustness regression between two runs: a point regresses when its accuracy
 * drop is both larger than a tolerance and statistically significant, so a run on
 * fewer samples never fails a build on noise alone. Runs on the same samples are
 * compared sample by sample (exact McNemar test: only the samples whose outcome
 * changed carry information, so far fewer samples detect a real drop); other runs
 * by an unpaired two-proportion z-test. Noise and corruption draws of one image are
 * correlated, so their unit is the image.
 */
import { errorFunction } from 'simple-statistics';
import { UsageError } from '../core/errors.js';
import type { CurvePoint, RunResult } from '../core/plugin-api.js';
import { drawsAt, perImage, survivedFromRecord } from '../core/samples.js';

/** Which test decided a point: paired tests need both runs' per-sample outcomes on the same samples. */
export type TestName = 'McNemar exact' | 'sign test, per image' | 'z-test' | 'z-test, per image';

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
  test: TestName;
  /** Statistical units behind each side: samples, or images for noise and corruptions. */
  n: { baseline: number; current: number };
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

/**
 * P(X >= k) for X ~ Binomial(n, 1/2), summed exactly in log space (lgamma by
 * log-factorial sums), so thousands of discordant pairs neither overflow nor underflow.
 */
export function binomialTailHalf(k: number, n: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  const logFact = [0];
  for (let i = 1; i <= n; i++) logFact.push(logFact[i - 1] + Math.log(i));
  let tail = 0;
  for (let j = k; j <= n; j++) tail += Math.exp(logFact[n] - logFact[j] - logFact[n - j] - n * Math.LN2);
  return Math.min(1, tail);
}

/**
 * Exact one-sided McNemar test of "current is below baseline": `worse` samples the
 * baseline got right and the current run wrong, `better` the reverse. Under no change
 * each discordant pair goes either way with probability 1/2.
 */
export const mcnemarPValue = (worse: number, better: number): number => binomialTailHalf(worse, worse + better);

const runKey = (r: RunResult): string => `${r.model.id} [${r.model.dataset}] / ${r.attack.id}`;

/** A result with no samples has no accuracy to compare; refuse it rather than compare 0/0. */
export function requireSamples(runs: RunResult[], where: string): void {
  for (const r of runs) {
    if (!(r.dataset.samples > 0) || r.points.length === 0 || r.points.some((p) => !(p.total > 0))) {
      throw new UsageError(`${where}: ${runKey(r)} holds no evaluated samples`, 'rerun robench run with --samples of at least 1 (and a shard that is not empty)');
    }
  }
}

/** Settings that must agree for a comparison to mean anything. */
function mismatches(a: RunResult, b: RunResult): string[] {
  const out: string[] = [];
  if (JSON.stringify(a.attack.params) !== JSON.stringify(b.attack.params)) {
    out.push(`attack settings differ (${JSON.stringify(a.attack.params)} vs ${JSON.stringify(b.attack.params)})`);
  }
  if (a.seed !== b.seed) out.push(`seeds differ (${a.seed} vs ${b.seed})`);
  if (a.dataset.samples !== b.dataset.samples) out.push(`sample counts differ (${a.dataset.samples} vs ${b.dataset.samples})`);
  if (a.dataset.id !== b.dataset.id) out.push(`datasets differ (${a.dataset.id} vs ${b.dataset.id})`);
  const source = (r: RunResult): string => `${r.dataset.source.kind} ${r.dataset.source.sha256}`;
  if (source(a) !== source(b)) out.push(`data sources differ (${source(a)} vs ${source(b)})`);
  if (a.sweep !== b.sweep) out.push(`sweep modes differ (${a.sweep ? 'swept' : '--no-sweep'} vs ${b.sweep ? 'swept' : '--no-sweep'})`);
  if (a.backend !== b.backend) out.push(`backends differ (${a.backend} vs ${b.backend})`);
  return out;
}

/**
 * Per point and sample, the fraction of draws survived, keyed by dataset index, when
 * both runs recorded outcomes for exactly the same samples; else undefined.
 */
export function pairing(base: RunResult, cur: RunResult): { base: number[][]; cur: number[][] } | undefined {
  const a = base.outcomes;
  const b = cur.outcomes;
  if (!a || !b || a.index.length !== b.index.length) return undefined;
  const position = new Map(a.index.map((d, i) => [d, i]));
  if (position.size !== a.index.length || !b.index.every((d) => position.has(d))) return undefined;
  const fractions = (o: typeof a, pointCount: number): number[][] => survivedFromRecord(o, pointCount).map((s, k) => s.map((v) => v / drawsAt(o, k)));
  const curByIndex = fractions(b, cur.points.length).map((s) => {
    const aligned = new Array<number>(s.length);
    b.index.forEach((d, i) => (aligned[position.get(d)!] = s[i]));
    return aligned;
  });
  return { base: fractions(a, base.points.length), cur: curByIndex };
}

export interface CheckOptions {
  tolerance: number;
  alpha: number;
  allowMismatch: boolean;
}

export function compareRuns(baseline: RunResult[], current: RunResult[], opts: CheckOptions): Comparison[] {
  requireSamples(baseline, 'the baseline');
  requireSamples(current, 'the new results');
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
    const paired = pairing(base, cur);
    const noise = base.attack.budget === null;
    const curPosition = new Map(cur.points.map((p, k) => [p.perturbation, k]));
    base.points.forEach((bp, bk) => {
      const ck = curPosition.get(bp.perturbation);
      const row = { model: base.model.id, dataset: base.model.dataset, attack: base.attack.id, perturbation: bp.perturbation, baseline: bp };
      if (ck === undefined) {
        if (opts.allowMismatch) return;
        throw new UsageError(`${runKey(base)}: the new results have no point at ${bp.perturbation}`, 'use the baseline\'s grid (--eps), or pass --allow-mismatch');
      }
      const cp = cur.points[ck];
      const drop = bp.accuracy - cp.accuracy;
      const units = { baseline: perImage(bp, base.dataset.samples), current: perImage(cp, cur.dataset.samples) };
      let pValue: number;
      let test: TestName;
      if (paired) {
        const was = paired.base[bk];
        const is = paired.cur[ck];
        pValue = mcnemarPValue(was.filter((v, i) => is[i] < v).length, was.filter((v, i) => is[i] > v).length);
        test = noise ? 'sign test, per image' : 'McNemar exact';
      } else {
        pValue = dropPValue({ ...bp, ...units.baseline }, { ...cp, ...units.current });
        test = noise ? 'z-test, per image' : 'z-test';
      }
      const regressed = drop > opts.tolerance && pValue < opts.alpha;
      rows.push({ ...row, current: cp, drop, pValue, test, n: { baseline: units.baseline.total, current: units.current.total }, verdict: regressed ? 'regressed' : 'ok' });
    });
  }
  return rows;
}
