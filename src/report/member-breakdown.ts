/**
 * AutoAttack's log as the reference prints it: the robust accuracy after each member of the
 * cascade (APGD-CE, APGD-T, FAB-T, Square), from results.json's per-sample record. At budget
 * eps_k the robust samples after member m are the clean-correct ones that no member up to m
 * broke at a budget <= eps_k:
 *   robust_m(k) = #{i : clean_i and not (brokeAt_i <= k and brokenBy_i <= m)}
 * With the sweep a sample broken at a smaller budget was not attacked again; it is counted for
 * the member that broke it there (its example lies in the larger ball too). After the last
 * member this is the point's accuracy.
 */
import type { RunResult } from '../core/plugin-api.js';
import { formatPerturbation } from './report-format.js';

export interface MemberStep {
  member: string;
  /** Robust accuracy once this member (and those before it) has run. */
  accuracy: number;
}

/** Per attacked budget, the clean accuracy and the robust accuracy after each member; empty for a run without members. */
export function memberBreakdown(run: RunResult): { perturbation: number; clean: number; steps: MemberStep[] }[] {
  const o = run.outcomes;
  if (!o?.members || !o.brokenBy || !o.brokeAt) return [];
  const n = o.clean.length;
  const clean = o.clean.reduce((s, v) => s + v, 0);
  return run.points.flatMap((point, k) => {
    if (point.perturbation === 0) return [];
    const steps = o.members!.map((member, m) => {
      let broken = 0;
      for (let i = 0; i < n; i++) if (o.clean[i] === 1 && o.brokeAt![i]! !== -1 && o.brokeAt![i]! <= k && o.brokenBy![i]! <= m) broken++;
      return { member, accuracy: (clean - broken) / n };
    });
    return [{ perturbation: point.perturbation, clean: clean / n, steps }];
  });
}

/** One line per attacked budget: `autoattack at eps 8/255: clean 95.0% → apgd-ce 61.0% → apgd-t 58.0% → ...`. */
export function memberBreakdownLines(run: RunResult): string[] {
  const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
  return memberBreakdown(run).map(
    ({ perturbation, clean, steps }) =>
      `${run.model.id} under ${run.attack.id} at ${run.attack.perturbation} ${formatPerturbation(perturbation, run.attack.perturbation, run.attack.budget)}: clean ${pct(clean)} → ${steps.map((s) => `${s.member} ${pct(s.accuracy)}`).join(' → ')}`,
  );
}
