/**
 * Structured deep similarity matching (Obeid, Ramambason & Pehlevan, NeurIPS 2019; the
 * authors' code is Pehlevan-Group/Deep_Structured_SM). A network whose output is the fixed
 * point of neural dynamics, from u = 0:
 *
 *   du_p/ds = -u_p + W_p r_{p-1} + (I - L_p) r_p + gamma W_{p+1}^T r_{p+1},   r_p = tanh(u_p),
 *
 * with r_0 the image (x / 255 minus its mean) and no feedback into the top layer. Layer p has
 * (side / stride)^2 sites of `neuronsPerSite` neurons; a site at (i s + s/2, j s + s/2) sees
 * every channel of the input pixels within Euclidean distance `radius` of its centre (pixel
 * (k, l) sits at (k + 0.5, l + 0.5)), through untied weights; lateral weights L_p connect the
 * neurons of a site only.
 *
 * Weights are stored per site: W_p [sites, slots * cin, nps], slot k of a site being its k-th
 * pixel in the disc (sites near the border see fewer pixels: their last slots point at a zero
 * pixel and are masked), L_p [sites, nps, nps]. The dynamics keep each layer as
 * [sites, batch, nps], so W r and L r are batched matmuls over sites.
 */
import * as tf from '@tensorflow/tfjs';

export interface SmLayerSpec {
  neuronsPerSite: number;
  radius: number;
  stride: number;
}

/** The Euler schedule and stopping rule of the dynamics. */
export interface SmDynamics {
  /** Step size at step k: max(eulerStep / (1 + stepDecay k), minStep). */
  eulerStep: number;
  stepDecay: number;
  minStep: number;
  /** A sample stops when ||du_p|| / ||u_p|| < tolerance in every layer p. */
  tolerance: number;
  /** The change is measured every `checkEvery` steps (a read from the device each time). */
  checkEvery: number;
  maxSteps: number;
}

export interface SmArchitecture {
  inputSide: number;
  channels: number;
  layers: SmLayerSpec[];
  /** Feedback strength; 0 is the authors' MNIST setting. */
  gamma: number;
  dynamics: SmDynamics;
}

/**
 * The authors' settings (runscript.py, snn_multipleneurons_fast.py), except `checkEvery`:
 * they measure the change every 100 steps, so a sample that has settled runs on to the next
 * hundred; measuring every 10 stops it sooner at the same tolerance.
 */
export const AUTHORS_DYNAMICS: SmDynamics = { eulerStep: 0.2, stepDecay: 0.005, minStep: 0.05, tolerance: 1e-4, checkEvery: 10, maxSteps: 3000 };

export function smArchitecture(
  inputSide: number,
  channels: number,
  opts: { neuronsPerSite?: number; layers?: number; radius?: number; stride?: number; gamma?: number; dynamics?: Partial<SmDynamics> } = {},
): SmArchitecture {
  const spec: SmLayerSpec = { neuronsPerSite: opts.neuronsPerSite ?? 4, radius: opts.radius ?? 4, stride: opts.stride ?? 2 };
  const arch: SmArchitecture = {
    inputSide,
    channels,
    layers: Array.from({ length: opts.layers ?? 1 }, () => ({ ...spec })),
    gamma: opts.gamma ?? 0,
    dynamics: { ...AUTHORS_DYNAMICS, ...opts.dynamics },
  };
  smGeometry(arch);
  return arch;
}

/** Which input pixels each site of one layer sees. */
export interface SiteGeometry {
  inSide: number;
  outSide: number;
  cin: number;
  nps: number;
  sites: number;
  /** Pixels of the input grid; index `pixels` is the zero pixel padding short discs. */
  pixels: number;
  slots: number;
  /** [sites * slots] input pixel of each slot. */
  index: Int32Array;
  /** [sites * slots] 1 for a real pixel, 0 for padding. */
  mask: Float32Array;
  /** Mean number of connections per neuron: the authors scale the initial W by its root. */
  meanFanIn: number;
}

export function siteGeometry(inSide: number, stride: number, radius: number, cin: number, nps: number): SiteGeometry {
  const outSide = inSide / stride;
  if (!Number.isInteger(outSide) || outSide < 1) throw new Error(`similarity matching: an input side of ${inSide} is not a multiple of the stride ${stride}`);
  const discs: number[][] = [];
  for (let i = 0; i < outSide; i++) {
    for (let j = 0; j < outSide; j++) {
      const ci = i * stride + stride / 2;
      const cj = j * stride + stride / 2;
      const disc: number[] = [];
      for (let k = 0; k < inSide; k++) for (let l = 0; l < inSide; l++) if (Math.hypot(k + 0.5 - ci, l + 0.5 - cj) <= radius) disc.push(k * inSide + l);
      discs.push(disc);
    }
  }
  const slots = Math.max(...discs.map((d) => d.length));
  if (slots === 0) throw new Error(`similarity matching: a radius of ${radius} reaches no pixel`);
  const pixels = inSide * inSide;
  const sites = outSide * outSide;
  const index = new Int32Array(sites * slots).fill(pixels);
  const mask = new Float32Array(sites * slots);
  discs.forEach((d, s) => d.forEach((p, k) => {
    index[s * slots + k] = p;
    mask[s * slots + k] = 1;
  }));
  const connections = discs.reduce((a, d) => a + d.length, 0) * cin;
  return { inSide, outSide, cin, nps, sites, pixels, slots, index, mask, meanFanIn: connections / sites };
}

export function smGeometry(arch: SmArchitecture): SiteGeometry[] {
  let side = arch.inputSide;
  let cin = arch.channels;
  return arch.layers.map((l) => {
    if (!(Number.isInteger(l.neuronsPerSite) && l.neuronsPerSite >= 1)) throw new Error(`similarity matching: neurons per site must be a positive integer, got ${l.neuronsPerSite}`);
    const g = siteGeometry(side, l.stride, l.radius, cin, l.neuronsPerSite);
    side = g.outSide;
    cin = l.neuronsPerSite;
    return g;
  });
}

/** Feedforward W_p [sites, slots * cin, nps] and lateral L_p [sites, nps, nps]. */
export interface SmParams {
  W: tf.Tensor3D[];
  L: tf.Tensor3D[];
}

/** [sites, slots * cin, 1]: broadcasts over a W's neurons. */
export const weightMask = (g: SiteGeometry): tf.Tensor3D =>
  tf.tidy(() => tf.reshape(tf.tile(tf.tensor2d(g.mask, [g.sites * g.slots, 1]), [1, g.cin]), [g.sites, g.slots * g.cin, 1]));

/** The authors' initialisation: W = mask * N(0, 1) / sqrt(mean fan-in), L = I. */
export function initSmParams(arch: SmArchitecture, normal: () => number): SmParams {
  const geo = smGeometry(arch);
  return tf.tidy(() => {
    const W = geo.map((g) => {
      const values = new Float32Array(g.sites * g.slots * g.cin * g.nps);
      const scale = 1 / Math.sqrt(g.meanFanIn);
      for (let i = 0; i < values.length; i++) values[i] = normal() * scale;
      return tf.keep(tf.mul(tf.tensor3d(values, [g.sites, g.slots * g.cin, g.nps]), weightMask(g)) as tf.Tensor3D);
    });
    const L = geo.map((g) => tf.keep(tf.tile(tf.expandDims(tf.eye(g.nps), 0), [g.sites, 1, 1]) as tf.Tensor3D));
    return { W, L };
  });
}

/** [b, h, w, c] images, each minus its own mean (the authors' preprocessing of x / 255). */
export const centreImages = (x: tf.Tensor4D): tf.Tensor4D => tf.sub(x, tf.mean(x, [1, 2, 3], true));

/** [b, h, w, c] -> [h w, b, c]: the layout of a layer's input rows. */
export function imageRows(x: tf.Tensor4D): tf.Tensor3D {
  const [b, h, w, c] = x.shape;
  return tf.transpose(tf.reshape(x, [b, h * w, c]), [1, 0, 2]);
}

/** [sites, b, nps] -> [b, side, side, nps]. */
export function rowsToImage(r: tf.Tensor3D, side: number): tf.Tensor4D {
  const [, b, n] = r.shape;
  return tf.reshape(tf.transpose(r, [1, 0, 2]), [b, side, side, n]);
}

type CustomGradient = Parameters<typeof tf.customGrad>[0];

function gatherRows(rows: tf.Tensor3D, g: SiteGeometry): tf.Tensor3D {
  const b = rows.shape[1];
  const padded = tf.concat([rows, tf.zeros([1, b, g.cin])], 0);
  const seen = tf.gather(padded, tf.tensor1d(g.index, 'int32'), 0);
  return tf.reshape(tf.transpose(tf.reshape(seen, [g.sites, g.slots, b, g.cin]), [0, 2, 1, 3]), [g.sites, b, g.slots * g.cin]);
}

function scatterCols(cols: tf.Tensor3D, g: SiteGeometry): tf.Tensor3D {
  const b = cols.shape[1];
  const perSlot = tf.reshape(tf.transpose(tf.reshape(cols, [g.sites, b, g.slots, g.cin]), [0, 2, 1, 3]), [g.sites * g.slots, b, g.cin]);
  const summed = tf.scatterND(tf.tensor2d(g.index, [g.index.length, 1], 'int32'), perSlot, [g.pixels + 1, b, g.cin]);
  return tf.slice(summed, [0, 0, 0], [g.pixels, b, g.cin]) as tf.Tensor3D;
}

/**
 * [pixels, b, cin] -> [sites, b, slots * cin]: what each site sees. Each of the pair is the
 * other's gradient: tfjs has none for ScatterNd, and Gather's needs UnsortedSegmentSum, which
 * the wasm backend lacks.
 */
export function gatherSites(rows: tf.Tensor3D, g: SiteGeometry): tf.Tensor3D {
  return tf.customGrad(((x: tf.Tensor) => ({ value: gatherRows(x as tf.Tensor3D, g), gradFunc: (dy: tf.Tensor) => scatterSites(dy as tf.Tensor3D, g) })) as unknown as CustomGradient)(rows) as tf.Tensor3D;
}

/** The transpose of gatherSites: [sites, b, slots * cin] summed back onto [pixels, b, cin]. */
export function scatterSites(cols: tf.Tensor3D, g: SiteGeometry): tf.Tensor3D {
  return tf.customGrad(((x: tf.Tensor) => ({ value: scatterCols(x as tf.Tensor3D, g), gradFunc: (dy: tf.Tensor) => gatherSites(dy as tf.Tensor3D, g) })) as unknown as CustomGradient)(cols) as tf.Tensor3D;
}

/** W_p r: the feedforward drive of layer p from its input rows. */
export const feedforward = (W: tf.Tensor3D, rows: tf.Tensor3D, g: SiteGeometry): tf.Tensor3D => tf.matMul(gatherSites(rows, g), W);
/** W_p^T r_p: layer p's drive sent back onto its input rows. */
export const feedback = (W: tf.Tensor3D, r: tf.Tensor3D, g: SiteGeometry): tf.Tensor3D => scatterSites(tf.matMul(r, W, false, true), g);

export const stepSize = (d: SmDynamics, k: number): number => Math.max(d.eulerStep / (1 + d.stepDecay * k), d.minStep);

/**
 * The right-hand side of the dynamics for every layer: -u_p + W_p r_{p-1} + (I - L_p) r_p +
 * gamma W_{p+1}^T r_{p+1}. `drive0` is W_1 x, which does not change while the image does not.
 */
export function velocity(arch: SmArchitecture, geo: SiteGeometry[], p: SmParams, drive0: tf.Tensor3D, u: tf.Tensor3D[], r: tf.Tensor3D[]): tf.Tensor3D[] {
  return u.map((up, i) => {
    let d = tf.add(tf.sub(r[i], up), i === 0 ? drive0 : feedforward(p.W[i], r[i - 1], geo[i]));
    d = tf.sub(d, tf.matMul(r[i], p.L[i]));
    if (i + 1 < u.length && arch.gamma !== 0) d = tf.add(d, tf.mul(arch.gamma, feedback(p.W[i + 1], r[i + 1], geo[i + 1])));
    return d as tf.Tensor3D;
  });
}

/** Per sample, the largest over layers of ||d_p|| / ||s_p||. */
function relativeChange(d: tf.Tensor3D[], s: tf.Tensor3D[]): tf.Tensor1D {
  return tf.tidy(() => {
    const per = d.map((dp, i) => tf.div(tf.norm(dp, 'euclidean', [0, 2]), tf.maximum(tf.norm(s[i], 'euclidean', [0, 2]), 1e-30)));
    return (per.length === 1 ? per[0] : tf.max(tf.stack(per), 0)) as tf.Tensor1D;
  });
}

/** tf.tidy for a function returning an object of tensors, arrays of them and nulls. */
const tidyObject = <T>(f: () => T): T => tf.tidy(f as unknown as () => tf.TensorContainer) as unknown as T;

const pick = (ts: tf.Tensor3D[], positions: number[]): tf.Tensor3D[] =>
  tf.tidy(() => {
    const at = tf.tensor1d(positions, 'int32');
    return ts.map((t) => tf.gather(t, at, 1) as tf.Tensor3D);
  });

interface Settled {
  /** The final state, per layer [sites, b, n], in batch order. */
  state: tf.Tensor3D[];
  /** Steps each sample ran. */
  steps: Int32Array;
  /** Whether each sample met the tolerance within maxSteps. */
  converged: Uint8Array;
}

/**
 * Per sample, s <- s + h_k f(s) from s0 until ||f_p|| / ||s_p|| < tolerance in every layer p.
 * A sample that settles leaves the batch, so a batch costs its samples' total steps, not its
 * slowest sample's times its size, and no sample's path depends on the batch it is in.
 * `consts` are per-sample tensors [sites, b, n] that f reads; neither they nor s0 are disposed.
 */
function settle(s0: tf.Tensor3D[], consts: tf.Tensor3D[], f: (s: tf.Tensor3D[], c: tf.Tensor3D[]) => tf.Tensor3D[], d: SmDynamics): Settled {
  const b = s0[0].shape[1];
  let ids = Array.from({ length: b }, (_, i) => i);
  let s = s0.map((t) => tf.clone(t));
  let c = consts.map((t) => tf.clone(t));
  const parts: { ids: number[]; s: tf.Tensor3D[] }[] = [];
  const steps = new Int32Array(b);
  const converged = new Uint8Array(b);
  for (let k = 0; k < d.maxSteps && ids.length > 0; k++) {
    const h = stepSize(d, k);
    const check = (k + 1) % d.checkEvery === 0;
    const next = tidyObject(() => {
      const v = f(s, c);
      const s2 = s.map((x, i) => tf.add(x, tf.mul(v[i], h)) as tf.Tensor3D);
      return { s2, change: check ? relativeChange(v, s2) : null };
    });
    tf.dispose(s);
    s = next.s2;
    for (const i of ids) steps[i]++;
    if (next.change === null) continue;
    const change = next.change.dataSync();
    next.change.dispose();
    const done: number[] = [];
    const keep: number[] = [];
    ids.forEach((_, j) => (change[j] < d.tolerance ? done : keep).push(j));
    if (done.length === 0) continue;
    for (const j of done) converged[ids[j]] = 1;
    if (keep.length === 0) {
      // The last samples settled together: nothing is left to carry on.
      parts.push({ ids, s });
      ids = [];
      break;
    }
    parts.push({ ids: done.map((j) => ids[j]), s: pick(s, done) });
    const s3 = pick(s, keep);
    const c3 = pick(c, keep);
    tf.dispose([...s, ...c]);
    s = s3;
    c = c3;
    ids = keep.map((j) => ids[j]);
  }
  if (ids.length > 0) parts.push({ ids, s });
  tf.dispose(c);
  const inverse = new Int32Array(b);
  parts.flatMap((part) => part.ids).forEach((id, j) => (inverse[id] = j));
  const state = s0.map((_, layer) =>
    tf.tidy(() => tf.gather(tf.concat(parts.map((part) => part.s[layer]), 1), tf.tensor1d(inverse, 'int32'), 1) as tf.Tensor3D),
  );
  tf.dispose(parts.flatMap((part) => part.s));
  return { state, steps, converged };
}

export interface FixedPoint {
  /** r_p at the fixed point, [sites, b, nps] per layer. */
  r: tf.Tensor3D[];
  /** Euler steps each sample ran. */
  steps: Int32Array;
  /** Whether each sample met the tolerance within maxSteps. */
  converged: Uint8Array;
}

/**
 * Runs the dynamics from u = 0 on input rows x0 [pixels, b, channels] (centred images) until
 * every sample has settled or maxSteps. `recordTape` keeps every step on the autodiff tape
 * (for gradients through the unrolled steps): settled samples are then frozen by a mask
 * rather than set aside.
 */
export function relax(arch: SmArchitecture, p: SmParams, x0: tf.Tensor3D, recordTape = false): FixedPoint {
  const geo = smGeometry(arch);
  if (recordTape) return relaxOnTape(arch, geo, p, x0);
  const b = x0.shape[1];
  // A custom gradient keeps its forward's intermediates until a scope ends: this one must end here.
  const drive0 = tf.tidy(() => feedforward(p.W[0], x0, geo[0]));
  const u0 = geo.map((g) => tf.zeros([g.sites, b, g.nps]) as tf.Tensor3D);
  const out = settle(u0, [drive0], (u, [d0]) => velocity(arch, geo, p, d0, u, u.map((x) => tf.tanh(x) as tf.Tensor3D)), arch.dynamics);
  const r = out.state.map((u) => tf.tanh(u) as tf.Tensor3D);
  tf.dispose([drive0, ...u0, ...out.state]);
  return { r, steps: out.steps, converged: out.converged };
}

function relaxOnTape(arch: SmArchitecture, geo: SiteGeometry[], p: SmParams, x0: tf.Tensor3D): FixedPoint {
  const d = arch.dynamics;
  const b = x0.shape[1];
  const drive0 = feedforward(p.W[0], x0, geo[0]);
  let u = geo.map((g) => tf.zeros([g.sites, b, g.nps]) as tf.Tensor3D);
  let r = u;
  const steps = new Int32Array(b);
  const converged = new Uint8Array(b);
  const active = new Float32Array(b).fill(1);
  for (let k = 0; k < d.maxSteps && active.some((a) => a === 1); k++) {
    const v = velocity(arch, geo, p, drive0, u, r);
    const hv = tf.mul(tf.tensor3d(active, [1, b, 1]), stepSize(d, k));
    u = u.map((up, i) => tf.add(up, tf.mul(v[i], hv)) as tf.Tensor3D);
    r = u.map((x) => tf.tanh(x) as tf.Tensor3D);
    for (let i = 0; i < b; i++) steps[i] += active[i];
    if ((k + 1) % d.checkEvery !== 0) continue;
    const change = relativeChange(v, u).dataSync();
    for (let i = 0; i < b; i++) {
      if (active[i] === 1 && change[i] < d.tolerance) {
        active[i] = 0;
        converged[i] = 1;
      }
    }
  }
  return { r, steps, converged };
}

/**
 * The adjoint at the fixed point: gradient of a loss with respect to the centred input rows,
 * given its gradient gTop with respect to the top layer's r. With F(u, x) = 0 at the fixed
 * point, dL/dx = W_1^T v where (I - D M^T) v = D_P gTop, D = diag(1 - r^2) and M the
 * dynamics' linear map on r; v is found by the same damped iteration, whose linearisation
 * has the forward dynamics' eigenvalues, so it converges where they do.
 */
export function adjoint(arch: SmArchitecture, p: SmParams, r: tf.Tensor3D[], gTop: tf.Tensor3D): tf.Tensor3D {
  const geo = smGeometry(arch);
  const P = r.length;
  const D = r.map((rp) => tf.tidy(() => tf.sub(1, tf.square(rp)) as tf.Tensor3D));
  const g = r.map((rp, i) => tf.tidy(() => (i === P - 1 ? tf.mul(D[i], gTop) : tf.zerosLike(rp)) as tf.Tensor3D));
  // M^T v: lateral (I - L) v_q, plus W_{q+1}^T v_{q+1} from layer q+1's feedforward, plus
  // gamma W_q v_{q-1} from layer q-1's feedback.
  const mT = (v: tf.Tensor3D[]): tf.Tensor3D[] =>
    v.map((vq, q) => {
      let m = tf.sub(vq, tf.matMul(vq, p.L[q]));
      if (q + 1 < P) m = tf.add(m, feedback(p.W[q + 1], v[q + 1], geo[q + 1]));
      if (q > 0 && arch.gamma !== 0) m = tf.add(m, tf.mul(arch.gamma, feedforward(p.W[q], v[q - 1], geo[q])));
      return m as tf.Tensor3D;
    });
  const out = settle(g, [...g, ...D], (v, c) => {
    const m = mT(v);
    return v.map((vq, q) => tf.sub(tf.add(c[q], tf.mul(c[P + q], m[q])), vq) as tf.Tensor3D);
  }, arch.dynamics);
  const dx = tf.tidy(() => feedback(p.W[0], out.state[0], geo[0]));
  tf.dispose([...D, ...g, ...out.state]);
  return dx;
}

export type SmGradient = 'implicit' | 'unrolled';

/**
 * The top layer's fixed point [b, side, side, nps] of centred images [b, h, w, c], differentiable
 * in the images: by the adjoint at the fixed point ('implicit', what robench's attacks use), or
 * by autodiff through every Euler step ('unrolled': memory grows with the steps; for checks).
 */
export function fixedPointImage(arch: SmArchitecture, p: SmParams, x: tf.Tensor4D, gradient: SmGradient = 'implicit'): tf.Tensor4D {
  const geo = smGeometry(arch);
  const top = geo[geo.length - 1];
  if (gradient === 'unrolled') {
    const fp = relax(arch, p, imageRows(x), true);
    return rowsToImage(fp.r[fp.r.length - 1], top.outSide);
  }
  const solve = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xi = args[0] as tf.Tensor4D;
    const save = args[1] as tf.GradSaveFunc;
    const x0 = imageRows(xi);
    const fp = relax(arch, p, x0);
    x0.dispose();
    save(fp.r);
    const value = rowsToImage(fp.r[fp.r.length - 1], top.outSide);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        rowsToImage(adjoint(arch, p, saved as tf.Tensor3D[], imageRows(dy as tf.Tensor4D)), arch.inputSide),
    };
  }) as (x: tf.Tensor4D) => tf.Tensor4D;
  return solve(x);
}
