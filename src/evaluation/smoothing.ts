/**
 * Randomized smoothing (Cohen, Rosenfeld & Kolter 2019, "Certified adversarial robustness via
 * randomized smoothing"): the maths on class counts, no tensors.
 *
 * The smoothed classifier of a base classifier f is g(x) = argmax_c P(f(x + e) = c), e ~ N(0, s^2 I).
 * If the top class has probability pA >= pA_lower > 1/2 under the noise, g is constant on the l2
 * ball of radius R = s * PhiInverse(pA_lower) around x (their Theorem 1, with pB <= 1 - pA_lower).
 * pA is unknown, so it is estimated from noise draws:
 *
 * - CERTIFY: n0 draws choose the class cA (the most frequent); n further, independent draws count
 *   it (nA). pA_lower is the one-sided (1 - alpha) Clopper-Pearson lower bound on pA from nA of n,
 *   the alpha quantile of Beta(nA, n - nA + 1) (0 when nA = 0). Below 1/2 CERTIFY abstains; else it
 *   returns cA and R. The draws that choose cA must not be the ones that bound it, or the bound
 *   would be biased upwards by the choice.
 * - PREDICT: the two most frequent classes of n draws, counts nA >= nB; g(x) = cA unless the
 *   two-sided binomial test of nA against nA + nB at p = 1/2 has p-value above alpha, then abstain.
 *   Its chance of returning a class other than g(x) is at most alpha.
 *
 * Exact (Clopper-Pearson) bounds rather than normal approximations: with nA near n, where the
 * radii worth certifying lie, the normal approximation overstates pA and so the radius. The
 * beta and normal quantiles come from jstat (one package without dependencies; the Clopper-Pearson
 * bound it gives matches the binomial tail to 1e-7, test/evaluation/smoothing.test.ts).
 */
import jStat from 'jstat';

/** What CERTIFY and PREDICT return instead of a class when the counts do not decide. */
export const ABSTAIN = -1;

/** The one-sided (1 - alpha) Clopper-Pearson lower bound on a proportion from k successes in n trials. */
export function clopperPearsonLower(k: number, n: number, alpha: number): number {
  if (!(Number.isInteger(k) && Number.isInteger(n) && k >= 0 && k <= n && n >= 1)) throw new RangeError(`clopperPearsonLower: need whole numbers 0 <= k <= n, n >= 1 (got k ${k}, n ${n})`);
  return k === 0 ? 0 : jStat.beta.inv(alpha, k, n - k + 1);
}

/** The certified l2 radius s * PhiInverse(pLower) of a lower bound pLower >= 1/2 on the top class's probability. */
export function certifiedRadius(pLower: number, sigma: number): number {
  return sigma * jStat.normal.inv(pLower, 0, 1);
}

/** The two-sided p-value of nA successes in nA + nB trials under p = 1/2 (scipy's binom_test). */
export function binomialTestP(nA: number, nB: number): number {
  const total = nA + nB;
  const high = Math.max(nA, nB);
  if (total === 0 || 2 * high === total) return 1;
  // P(X >= high) = I_{1/2}(high, total - high + 1): the incomplete beta keeps the small tail's precision that 1 - cdf would lose.
  return Math.min(1, 2 * jStat.ibeta(0.5, high, total - high + 1));
}

/** The most frequent class (the lowest index among ties, as numpy's argmax). */
export function topClass(counts: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < counts.length; c++) if (counts[c]! > counts[best]!) best = c;
  return best;
}

export interface Certificate {
  /** The class CERTIFY chose with its n0 draws, or ABSTAIN. */
  prediction: number;
  /** The lower bound on that class's probability under the noise (also when abstaining). */
  pLower: number;
  /** The certified l2 radius; -1 when abstaining. */
  radius: number;
}

/** CERTIFY from the class counts of the n0 selection draws and of the n estimation draws. */
export function certify(selection: ArrayLike<number>, estimation: ArrayLike<number>, sigma: number, alpha: number): Certificate {
  const chosen = topClass(selection);
  let n = 0;
  for (let c = 0; c < estimation.length; c++) n += estimation[c]!;
  const pLower = clopperPearsonLower(estimation[chosen]!, n, alpha);
  if (pLower < 0.5) return { prediction: ABSTAIN, pLower, radius: -1 };
  return { prediction: chosen, pLower, radius: certifiedRadius(pLower, sigma) };
}

/** PREDICT from the class counts of n draws: the top class, or ABSTAIN when the runner-up is not ruled out at alpha. */
export function predict(counts: ArrayLike<number>, alpha: number): number {
  const first = topClass(counts);
  let second = first === 0 ? 1 : 0;
  for (let c = 0; c < counts.length; c++) if (c !== first && counts[c]! > counts[second]!) second = c;
  return binomialTestP(counts[first]!, counts.length > 1 ? counts[second]! : 0) <= alpha ? first : ABSTAIN;
}
