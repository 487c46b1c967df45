/**
 * FAB's projection (Croce & Hein 2020, section 3.1): the smallest step d, in l-inf or l2, that
 * takes a point t onto the hyperplane {z : <w, z> = b} while staying in the box [0, 1]^n:
 *
 *   min ||d||_p   s.t.   <w, t + d> = b,   0 <= t + d <= 1.
 *
 * With c = b - <w, t> and s = sign(c), each coordinate moves towards s sign(w_i), by at most its
 * room in the box, cap_i = 1 - t_i (s w_i > 0) or t_i (s w_i < 0). The optimum has one
 * multiplier lambda >= 0 with
 *   l-inf: d_i = s sign(w_i) min(lambda, cap_i)             (every coordinate moves by lambda until its room runs out)
 *   l2:    d_i = s sign(w_i) min(lambda |w_i|, cap_i)       (the gradient direction, clipped to the box)
 * and |<w, d>| = G(lambda) = sum_i sigma_i min(lambda, r_i) is piecewise linear and increasing,
 * with sigma_i = |w_i|, r_i = cap_i (l-inf) or sigma_i = w_i^2, r_i = cap_i / |w_i| (l2).
 * Sorting the breakpoints r_i gives the segment where G(lambda) = |c| and lambda exactly (the
 * reference's projection_linf / projection_l2 find the same segment by bisection). When even
 * the box's far corner cannot reach the hyperplane (|c| >= G(max r)), d is that corner, as in
 * the reference. Coordinates with w_i = 0 never move. Computed in float64, per sample.
 */
import type { Norm } from './plugin-api.js';

export function projectOntoBoxHyperplane(norm: Norm, t: ArrayLike<number>, w: ArrayLike<number>, b: number): Float64Array {
  const n = t.length;
  const d = new Float64Array(n);
  let wt = 0;
  for (let i = 0; i < n; i++) wt += w[i]! * t[i]!;
  const c = b - wt;
  if (c === 0) return d;
  const s = Math.sign(c);
  const sigma = new Float64Array(n);
  const r = new Float64Array(n);
  const moving: number[] = [];
  for (let i = 0; i < n; i++) {
    if (w[i] === 0) continue;
    const cap = s * w[i]! > 0 ? 1 - t[i]! : t[i]!;
    const a = Math.abs(w[i]!);
    sigma[i] = norm === 'linf' ? a : a * a;
    r[i] = norm === 'linf' ? cap : cap / a;
    moving.push(i);
  }
  moving.sort((i, j) => r[i]! - r[j]!);
  // G on the segment [r_(j-1), r_(j)] is saturated + lambda * active, active summed from the end for accuracy.
  const active = new Float64Array(moving.length + 1);
  for (let j = moving.length - 1; j >= 0; j--) active[j] = active[j + 1]! + sigma[moving[j]!]!;
  const target = Math.abs(c);
  let saturated = 0;
  let lambda = moving.length > 0 ? r[moving[moving.length - 1]!]! : 0;
  for (let j = 0; j < moving.length; j++) {
    const i = moving[j]!;
    if (saturated + active[j]! * r[i]! >= target) {
      lambda = (target - saturated) / active[j]!;
      break;
    }
    saturated += sigma[i]! * r[i]!;
  }
  for (const i of moving) {
    const reach = Math.min(lambda, r[i]!);
    d[i] = s * Math.sign(w[i]!) * (norm === 'linf' ? reach : reach * Math.abs(w[i]!));
  }
  return d;
}
