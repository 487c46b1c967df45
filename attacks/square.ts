/**
 * Square Attack (Andriushchenko, Croce, Flammarion & Hein 2020, "Square Attack: a
 * query-efficient black-box adversarial attack via random search"). Score-based:
 * it only queries the model's logits, never a gradient. Each sample keeps its best
 * point x_best and margin m = z_y - max_{i != y} z_i; every iteration proposes
 * x_best changed inside a random square window of side s = round(sqrt(p * h * w)),
 * and keeps the proposal if it lowers the margin. The window fraction p starts at
 * p-init and halves on the paper's schedule (after 10, 50, 200, 500, 1000, 2000,
 * 4000, 6000 and 8000 of 10000 iterations, rescaled to `queries`). A sample stops
 * once misclassified (m <= 0), so it spends no further queries.
 *
 * l-inf (Algorithm 2): vertical stripes of +-eps to start; a proposal sets the
 * window to x + eps * sign, one random sign per channel.
 * l2 (Algorithm 3): a grid of +-"pseudo-Gaussian" squares to start; a proposal
 * moves the perturbation mass of a second window into the first, adding a new
 * pseudo-Gaussian square, and rescales the perturbation to norm eps.
 *
 * Unlike the reference code, which draws one window per batch, every sample draws
 * its windows and signs from its own random stream, so results do not depend on
 * which other images share its batch.
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget:
 *   import { attack } from 'robench';
 *   import { square } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: square, eps: 0.1, params: { queries: 1000 } });
 */
import * as tf from '@tensorflow/tfjs';
import { type AttackContext, clip01, defaultEpsGrid, defineAttack, margin, type Norm, UsageError } from '../src/sdk.js';

type SquareParams = { norm: Norm; queries: number; 'p-init': number };

/** The paper's schedule for the window fraction p at iteration i of n. */
export function pSchedule(pInit: number, i: number, n: number): number {
  const it = Math.floor((i / n) * 10000);
  const halvings: [number, number][] = [[8000, 512], [6000, 256], [4000, 128], [2000, 64], [1000, 32], [500, 16], [200, 8], [50, 4], [10, 2]];
  for (const [after, divisor] of halvings) if (it > after) return pInit / divisor;
  return pInit;
}

interface Geometry {
  h: number;
  w: number;
  c: number;
}

const at = (g: Geometry, i: number, j: number, ch: number): number => (i * g.w + j) * g.c + ch;

/** Uniform integer in [0, n) from a stream value u in [0, 1). */
const below = (u: number, n: number): number => Math.min(n - 1, Math.floor(u * n));

/** l-inf start: each column of each channel shifted by +-eps. */
function linfInit(x: Float32Array, out: Float32Array, g: Geometry, eps: number, next: () => number): void {
  for (let j = 0; j < g.w; j++) {
    for (let ch = 0; ch < g.c; ch++) {
      const shift = next() < 0.5 ? -eps : eps;
      for (let i = 0; i < g.h; i++) out[at(g, i, j, ch)] = clip01(x[at(g, i, j, ch)] + shift);
    }
  }
}

/** l-inf proposal: the window of side s set to x + eps * sign, one sign per channel; at least one pixel changes. */
function linfProposal(x: Float32Array, best: Float32Array, out: Float32Array, g: Geometry, eps: number, p: number, next: () => number): void {
  const s = Math.min(Math.max(Math.round(Math.sqrt(p * g.h * g.w)), 1), Math.min(g.h, g.w) - 1);
  const top = below(next(), g.h - s);
  const left = below(next(), g.w - s);
  out.set(best);
  // Resampling the signs until the window changes (as the reference code does)
  // avoids wasting a query on the current point.
  for (let tries = 0; tries < 100; tries++) {
    let changed = false;
    for (let ch = 0; ch < g.c; ch++) {
      const shift = next() < 0.5 ? -eps : eps;
      for (let i = top; i < top + s; i++) {
        for (let j = left; j < left + s; j++) {
          const k = at(g, i, j, ch);
          out[k] = clip01(x[k] + shift);
          if (Math.abs(out[k] - best[k]) >= 1e-7) changed = true;
        }
      }
    }
    if (changed) return;
  }
}

/** Concentric rectangles weighted 1/(r+1)^2 around the centre, unit l2 norm (row-major rows x cols). */
function pseudoGaussianRectangles(rows: number, cols: number): Float64Array {
  const delta = new Float64Array(rows * cols);
  const cx = Math.floor(rows / 2) + 1;
  const cy = Math.floor(cols / 2) + 1;
  let [r0, c0] = [cx - 1, cy - 1];
  for (let r = 0; r < Math.max(cx, cy); r++) {
    for (let i = Math.max(r0, 0); i < Math.min(r0 + 2 * r + 1, rows); i++) {
      for (let j = Math.max(c0, 0); j < Math.min(c0 + 2 * r + 1, cols); j++) delta[i * cols + j] += 1 / (r + 1) ** 2;
    }
    r0--;
    c0--;
  }
  return normalised(delta);
}

/** An s x s square: a pseudo-Gaussian bump on top, its negative below, randomly transposed. */
function metaPseudoGaussian(s: number, next: () => number): Float64Array {
  const half = Math.floor(s / 2);
  const upper = pseudoGaussianRectangles(half, s);
  const lower = pseudoGaussianRectangles(s - half, s);
  const delta = new Float64Array(s * s);
  upper.forEach((v, k) => (delta[k] = v));
  lower.forEach((v, k) => (delta[half * s + k] = -v));
  const square = normalised(delta);
  if (next() <= 0.5) return square;
  const transposed = new Float64Array(s * s);
  for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) transposed[j * s + i] = square[i * s + j];
  return transposed;
}

/** l2 start: a grid of pseudo-Gaussian squares of side h/5 with random signs, scaled to norm eps. */
function l2Init(x: Float32Array, out: Float32Array, g: Geometry, eps: number, next: () => number): void {
  const delta = new Float64Array(x.length);
  const s = Math.max(1, Math.floor(g.h / 5));
  const start = Math.floor((g.h - s * 5) / 2);
  for (let bi = 0, top = start; bi < Math.floor(g.h / s); bi++, top += s) {
    for (let bj = 0, left = start; bj < Math.floor(g.w / s); bj++, left += s) {
      const square = metaPseudoGaussian(s, next);
      for (let ch = 0; ch < g.c; ch++) {
        const sign = next() < 0.5 ? -1 : 1;
        for (let i = 0; i < s && top + i < g.h; i++) {
          for (let j = 0; j < s && left + j < g.w; j++) delta[at(g, top + i, left + j, ch)] += sign * square[i * s + j];
        }
      }
    }
  }
  applyL2(x, delta, out, eps);
}

/**
 * l2 proposal: inside window 1 a new pseudo-Gaussian square plus the old window
 * content (normalised), carrying the mass of windows 1 and 2 plus the unused
 * budget; window 2 is zeroed; the whole perturbation is rescaled to norm eps.
 */
function l2Proposal(x: Float32Array, best: Float32Array, out: Float32Array, g: Geometry, eps: number, p: number, next: () => number): void {
  let s = Math.max(Math.round(Math.sqrt(p * g.h * g.w)), 3);
  if (s % 2 === 0) s++;
  s = Math.min(s, Math.min(g.h, g.w) - 1);
  const [top1, left1] = [below(next(), g.h - s), below(next(), g.w - s)];
  const [top2, left2] = [below(next(), g.h - s), below(next(), g.w - s)];
  const inWindow = (i: number, j: number, top: number, left: number): boolean => i >= top && i < top + s && j >= left && j < left + s;

  const delta = Float64Array.from(best, (v, k) => v - x[k]);
  const imageNorm = Math.sqrt(delta.reduce((acc, v) => acc + v * v, 0));
  const square = metaPseudoGaussian(s, next);
  for (let ch = 0; ch < g.c; ch++) {
    let window1 = 0;
    let union = 0;
    for (let i = 0; i < g.h; i++) {
      for (let j = 0; j < g.w; j++) {
        const v = delta[at(g, i, j, ch)] ** 2;
        const in1 = inWindow(i, j, top1, left1);
        if (in1) window1 += v;
        if (in1 || inWindow(i, j, top2, left2)) union += v;
      }
    }
    const sign = next() < 0.5 ? -1 : 1;
    const fresh = new Float64Array(s * s);
    for (let i = 0; i < s; i++) {
      for (let j = 0; j < s; j++) fresh[i * s + j] = sign * square[i * s + j] + delta[at(g, top1 + i, left1 + j, ch)] / (1e-10 + Math.sqrt(window1));
    }
    const mass = Math.sqrt(Math.max(eps * eps - imageNorm * imageNorm, 0) / g.c + union);
    const scaled = normalised(fresh).map((v) => v * mass);
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) delta[at(g, top2 + i, left2 + j, ch)] = 0;
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) delta[at(g, top1 + i, left1 + j, ch)] = scaled[i * s + j];
  }
  applyL2(x, delta, out, eps);
}

/** out = clip(x + eps * delta / ||delta||): clipping moves pixels towards x, so ||out - x|| <= eps. */
function applyL2(x: Float32Array, delta: Float64Array, out: Float32Array, eps: number): void {
  const unit = normalised(delta);
  for (let k = 0; k < x.length; k++) out[k] = clip01(x[k] + eps * unit[k]);
}

function normalised(v: Float64Array): Float64Array {
  const norm = Math.sqrt(v.reduce((acc, e) => acc + e * e, 0));
  return norm > 0 ? v.map((e) => e / norm) : v;
}


/** Margins of the given rows of images (one query each), read with await data() as webgpu needs. */
async function margins(ctx: AttackContext, rows: number[], images: Float32Array): Promise<number[]> {
  const [, h, w, c] = ctx.x.shape;
  const m = tf.tidy(() => {
    const batch = tf.tensor4d(images, [rows.length, h, w, c]);
    const labels = tf.gather(ctx.y, tf.tensor1d(rows, 'int32')) as tf.Tensor1D;
    return margin(ctx.model(batch), labels);
  });
  const values = Array.from(await m.data());
  m.dispose();
  return values;
}

export default defineAttack<SquareParams>({
  id: 'square',
  description: 'Square Attack (Andriushchenko et al. 2020): score-based black-box random search, l-inf or l2, margin loss',
  params: {
    norm: { type: 'string', description: 'threat model', default: 'linf', choices: ['linf', 'l2'] },
    queries: { type: 'int', description: 'query budget per sample (the initial point is one)', default: 1000, minimum: 1 },
    'p-init': { type: 'number', description: 'initial fraction of pixels a square window covers', default: 0.8, exclusiveMinimum: 0, maximum: 1 },
  },
  gradientFree: true,
  budget: (p) => p.norm,
  perturbationLabel: () => 'eps',
  defaultGrid: (dataset, p) => defaultEpsGrid(dataset, p.norm),
  async run(ctx) {
    const p = ctx.params;
    if (!Number.isInteger(p.queries) || p.queries < 1) throw new UsageError(`square: queries must be a positive integer, got ${p.queries}`, 'pass --queries 1000');
    if (!(p['p-init'] > 0 && p['p-init'] <= 1)) throw new UsageError(`square: p-init must be in (0, 1], got ${p['p-init']}`, 'pass --p-init 0.8');
    if (ctx.eps === 0) return ctx.x.clone();
    const [n, h, w, c] = ctx.x.shape;
    if (Math.min(h, w) < 2) throw new UsageError(`square: images of ${h}x${w} pixels are too small for square windows`, 'use an attack without windows, such as pgd');
    const g: Geometry = { h, w, c };
    const d = h * w * c;
    const x = (await ctx.x.data()) as Float32Array;
    const best = new Float32Array(n * d);
    const streams = Array.from({ length: n }, (_, row) => () => ctx.rng.next(row));
    const row = (a: Float32Array, i: number): Float32Array => a.subarray(i * d, (i + 1) * d);
    const init = p.norm === 'linf' ? linfInit : l2Init;
    const propose = p.norm === 'linf' ? linfProposal : l2Proposal;

    for (let i = 0; i < n; i++) init(row(x, i), row(best, i), g, ctx.eps, streams[i]);
    const all = Array.from({ length: n }, (_, i) => i);
    const bestMargin = await margins(ctx, all, best);

    for (let it = 0; it < p.queries - 1; it++) {
      // A fooled sample leaves with early stopping; without it (--no-sweep, the naive cost) it keeps
      // its queries, each kept proposal a more confident mistake.
      const active = ctx.earlyStop ? all.filter((i) => bestMargin[i] > 0) : all;
      if (active.length === 0) break;
      const frac = pSchedule(p['p-init'], it, p.queries);
      const proposals = new Float32Array(active.length * d);
      active.forEach((i, k) => propose(row(x, i), row(best, i), row(proposals, k), g, ctx.eps, frac, streams[i]));
      const m = await margins(ctx, active, proposals);
      active.forEach((i, k) => {
        if (m[k] < bestMargin[i]) {
          bestMargin[i] = m[k];
          row(best, i).set(row(proposals, k));
        }
      });
    }
    return tf.tensor4d(best, [n, h, w, c]);
  },
});
