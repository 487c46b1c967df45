import test from 'ava';
import { projectOntoBoxHyperplane } from '../../src/core/box-hyperplane.js';
import { scalarRng } from '../../src/core/rng.js';

/**
 * The same projection computed directly: for a multiplier lambda, step every coordinate of t
 * along s sign(w) (l-inf) or s w (l2) by lambda and clip to the box; <w, d(lambda)> grows with
 * lambda, so bisection finds where it reaches b - <w, t>. No sorting, no caps, no breakpoints.
 */
function byBisection(norm: 'linf' | 'l2', t: number[], w: number[], b: number): number[] {
  const c = b - t.reduce((sum, ti, i) => sum + ti * w[i]!, 0);
  const s = Math.sign(c);
  const d = (lambda: number): number[] =>
    t.map((ti, i) => Math.min(1, Math.max(0, ti + s * lambda * (norm === 'linf' ? Math.sign(w[i]!) : w[i]!))) - ti);
  const reach = (lambda: number): number => Math.abs(d(lambda).reduce((sum, di, i) => sum + di * w[i]!, 0));
  let [lo, hi] = [0, 1];
  while (reach(hi) < Math.abs(c) && hi < 1e12) hi *= 2;
  for (let k = 0; k < 200; k++) {
    const mid = (lo + hi) / 2;
    if (reach(mid) < Math.abs(c)) lo = mid;
    else hi = mid;
  }
  return d(hi);
}

function problem(seed: number, n: number, zeros: number) {
  const next = scalarRng(seed, 'problem');
  const t = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? (i % 2) : next()));
  const w = Array.from({ length: n }, (_, i) => (i < zeros ? 0 : 2 * next() - 1));
  return { t, w, next };
}

for (const norm of ['linf', 'l2'] as const) {
  test(`${norm}: the projection onto hyperplane and box equals a direct bisection, with the box binding or not`, (t) => {
    for (let seed = 0; seed < 40; seed++) {
      const n = 5 + (seed % 30);
      const { t: x, w, next } = problem(seed, n, seed % 3);
      const wx = x.reduce((s, xi, i) => s + xi * w[i]!, 0);
      // From a small move (the box never binds) to beyond what the box allows (the far corner).
      const b = wx + (2 * next() - 1) * (seed % 4 === 0 ? 0.05 : seed % 4 === 1 ? 1 : seed % 4 === 2 ? 3 : 50);
      const d = projectOntoBoxHyperplane(norm, x, w, b);
      const ref = byBisection(norm, x, w, b);
      d.forEach((di, i) => t.true(Math.abs(di - ref[i]!) < 1e-9, `seed ${seed}, coordinate ${i}: ${di} vs ${ref[i]}`));
      d.forEach((di, i) => t.true(x[i]! + di >= -1e-12 && x[i]! + di <= 1 + 1e-12, `seed ${seed}: inside the box`));
      w.forEach((wi, i) => wi === 0 && t.is(d[i], 0, `seed ${seed}: a coordinate without weight does not move`));
    }
  });
}

test('away from the box the projections are the textbook ones: c w / ||w||_2^2 and c sign(w) / ||w||_1', (t) => {
  const x = [0.5, 0.4, 0.6, 0.5];
  const w = [1, -2, 0.5, 3];
  const c = 0.07;
  const b = x.reduce((s, xi, i) => s + xi * w[i]!, 0) + c;
  const l2 = projectOntoBoxHyperplane('l2', x, w, b);
  const linf = projectOntoBoxHyperplane('linf', x, w, b);
  const sq = w.reduce((s, v) => s + v * v, 0);
  const l1 = w.reduce((s, v) => s + Math.abs(v), 0);
  w.forEach((wi, i) => {
    t.true(Math.abs(l2[i]! - (c * wi) / sq) < 1e-15);
    t.true(Math.abs(linf[i]! - (c * Math.sign(wi)) / l1) < 1e-15);
  });
  t.deepEqual(Array.from(projectOntoBoxHyperplane('l2', x, w, b - c)), [0, 0, 0, 0], 'a point on the plane stays');
});

test('l-inf: the step reaches the plane and no ball of smaller radius inside the box does (optimality)', (t) => {
  for (let seed = 0; seed < 20; seed++) {
    const { t: x, w, next } = problem(100 + seed, 12, 0);
    const b = x.reduce((s, xi, i) => s + xi * w[i]!, 0) + (2 * next() - 1) * 0.3;
    const d = projectOntoBoxHyperplane('linf', x, w, b);
    const rho = Math.max(...d.map(Math.abs));
    const c = b - x.reduce((s, xi, i) => s + xi * w[i]!, 0);
    // The most <w, d> can change within radius 0.999 rho inside the box.
    const best = x.reduce((s, xi, i) => s + Math.abs(w[i]!) * Math.min(0.999 * rho, Math.sign(c) * w[i]! > 0 ? 1 - xi : xi), 0);
    const reached = Math.abs(d.reduce((s, di, i) => s + di * w[i]!, 0));
    t.true(Math.abs(reached - Math.abs(c)) < 1e-12, `seed ${seed}: the step reaches the plane`);
    t.true(best < Math.abs(c), `seed ${seed}: a ball of radius 0.999 rho cannot reach the plane`);
  }
});
