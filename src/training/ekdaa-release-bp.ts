/**
 * The backprop baseline of the EKDAA release (tzee/EKDAA-Release: library/BP_model.py, its
 * backward, with core.py's deconv and deconv_pb), as the release computes it. The paper's
 * backprop figures are this rule's; robench trains it (`robench train --model ekdaa-release-bp`)
 * to reproduce that baseline beside its own twin, ekdaa-backprop, which is true backprop and a
 * stronger baseline. It is here to reproduce the paper, not as a method to recommend.
 *
 * The net is the release's: its forward (conv pre-activations carried forward, pooled, tanh first
 * applied at fc1), tanh, no biases, SGD with momentum on W <- W - lr dW. With h a layer's
 * pre-activation, z = tanh(h), g(a) = 1 - tanh(a)^2 (core.activate_backward: tanh's derivative,
 * evaluated at whatever it is handed), m(x) = x / max(x) when max(x) > 1 (signed maximum, as
 * np.max), and per conv l its input a_l and what the release takes as that input's activity,
 * zin_l: the data x - 0.5 for the first conv, the pooled h after a pool, z after a plain conv:
 *   output   e = softmax(logits) - onehot(y)
 *   fc2      dF2 = z1^T e
 *   fc1      p1 = (e F2^T) g(z1),           dF1 = flat^T p1
 *   flat     p = (p1 F1^T) g(flat)                       (flat: the top conv's pooled h)
 *   conv l   q_l = p reshaped (top conv) or P_{l+1} (below), then up(.) where conv l pools
 *                (x2 bilinear, Keras UpSampling2D: half-pixel centres)
 *            dW_l = m(filterGrad(P_l^prev, z_l)) / (cin_l cout_l)     (core.deconv)
 *            P_l  = m(convT(q_l, W_l)) g(zin_l)                      (core.deconv_pb, then g)
 * where P_l^prev is the input-side error P_l that the previous batch left. BP_model.backward
 * computes a conv's del_w from its passback buffer before it overwrites that buffer with this
 * batch's P_l, and hands the buffer to conv2d_backprop_filter as the input and the layer's z as
 * the output error: dW_l correlates the previous batch's input-side error with this batch's
 * output activity, image k of one batch with image k of the next. The buffers start at zero (the
 * first batch moves no conv) and persist across batches and epochs (robench checkpoints them).
 * The release runs full batches only (its buffers are batch-sized): a partial last batch of n
 * images reads the first n rows of P^prev and leaves a P that is zero past row n.
 *
 * True backprop of the same loss on the same net (ekdaa-backprop with --release-forward) has
 *   dW_l = filterGrad(a_l, delta_l),  delta_l = dLoss/dh_l of the same images,
 * tanh'(h1) at fc1 where the release has g(z1) = 1 - tanh(tanh(h1))^2, no derivative at flat or
 * at a conv's input (the release forward applies no tanh there: g(flat), g(zin_l) are extra),
 * no division anywhere, and max-pool's backward routes each error to its window's maximum where
 * the release spreads it bilinearly. The fc updates are therefore near backprop's (the derivative
 * taken at the wrong point, and the extra g(flat) on fc1's input side does not touch dF1); the
 * conv updates are no gradient of anything: error and activity change places, come from
 * different images, and are shrunk by m and by cin cout (64 and 8,192 on the wide net), so the
 * convs barely train: the baseline is nearer a head trained on random convs than backprop is
 * (the frozen-conv controls, ekdaa-backprop-frozen and ekdaa-frozen, measure that), a weaker
 * baseline than true backprop.
 */
import * as tf from '@tensorflow/tfjs';
import { convSpecs, forward, type EkdaaArchitecture, type EkdaaParams } from '../nets/ekdaa.js';
import type { ImageShape } from '../core/plugin-api.js';
import { divideByMaxAbove1, filterGradient } from './ekdaa.js';

export interface ReleaseBpUpdate {
  /** Updates of the conv kernels and the fc kernels, applied as W <- W - lr dW. */
  dConvs: tf.Tensor4D[];
  dFcs: tf.Tensor2D[];
  /** Each conv's input-side error P_l of this batch: what the next batch's conv update reads. */
  inputErrors: tf.Tensor4D[];
  logits: tf.Tensor2D;
}

/** g(a) = 1 - tanh(a)^2: core.activate_backward('tanh', a), whatever a is. */
const g = (a: tf.Tensor): tf.Tensor => tf.sub(1, tf.square(tf.tanh(a)));

/** `t` with exactly `n` rows: its first n, or zero rows appended. */
export function withRows<T extends tf.Tensor>(t: T, n: number): T {
  const rows = t.shape[0];
  if (rows === n) return t;
  if (rows > n) return tf.slice(t, 0, n) as T;
  return tf.concat([t, tf.zeros([n - rows, ...t.shape.slice(1)])]) as T;
}

/** The shapes of the input-side error buffers, one per conv: [batch, side, side, cin] of what the conv reads. */
export function inputErrorShapes(arch: EkdaaArchitecture, shape: ImageShape, batch: number): [number, number, number, number][] {
  let [h, w] = shape;
  return convSpecs(arch, shape).map((s) => {
    const at: [number, number, number, number] = [batch, h, w, s.cin];
    if (s.pool) [h, w] = [Math.ceil(h / 2), Math.ceil(w / 2)];
    return at;
  });
}

/**
 * One step of the release's backprop baseline on a batch (call inside tf.tidy): the updates, and
 * the input-side errors the next step reads as `previous` (zeros before the first step).
 */
export function releaseBpUpdate(arch: EkdaaArchitecture, p: EkdaaParams, previous: tf.Tensor4D[], x: tf.Tensor4D, y: tf.Tensor1D): ReleaseBpUpdate {
  if (arch.activation !== 'tanh' || !arch.releaseForward) throw new Error("the release's backprop baseline runs the release's forward with tanh (BP_model.py has no derivative of sign)");
  const specs = convSpecs(arch, x.shape.slice(1) as ImageShape);
  if (previous.length !== specs.length) throw new Error(`releaseBpUpdate: ${previous.length} input-side errors for ${specs.length} convs`);
  const n = x.shape[0];
  const tr = forward(arch, p, x);
  const e = tf.sub(tf.softmax(tr.logits), tf.oneHot(y, tr.logits.shape[1])) as tf.Tensor2D;
  const dF2 = tf.matMul(tr.hiddenZ, e, true, false) as tf.Tensor2D;
  const p1 = tf.mul(tf.matMul(e, p.fcs[1] as tf.Tensor2D, false, true), g(tr.hiddenZ)) as tf.Tensor2D;
  const dF1 = tf.matMul(tr.flat, p1, true, false) as tf.Tensor2D;
  const pFlat = tf.mul(tf.matMul(p1, p.fcs[0] as tf.Tensor2D, false, true), g(tr.flat));
  const top = specs.length - 1;
  let above = tf.reshape(pFlat, tr.convOutH[top].shape) as tf.Tensor4D;
  const dConvs: tf.Tensor4D[] = new Array(specs.length);
  const inputErrors: tf.Tensor4D[] = new Array(specs.length);
  for (let l = top; l >= 0; l--) {
    const { cin, cout, pool } = specs[l];
    const [, hh, ww] = tr.convH[l].shape;
    // A pool layer's passback: the error above it upsampled x2, bilinear (core.pool_upsample).
    const q = pool ? tf.image.resizeBilinear(above, [hh, ww], false, true) : above;
    // core.deconv on the buffer before this batch overwrites it: the previous batch's P against this batch's z.
    dConvs[l] = tf.div(divideByMaxAbove1(filterGradient(withRows(previous[l], n), tr.convZ[l], cout)), cin * cout) as tf.Tensor4D;
    // core.deconv_pb, then the derivative at what the release holds as the conv's input activity.
    const zin = l > 0 && !specs[l - 1].pool ? tr.convZ[l - 1] : tr.convIn[l];
    inputErrors[l] = tf.mul(divideByMaxAbove1(tf.conv2dTranspose(q, p.convs[l] as tf.Tensor4D, tr.convIn[l].shape, 1, 'same')), g(zin)) as tf.Tensor4D;
    above = inputErrors[l];
  }
  return { dConvs, dFcs: [dF1, dF2], inputErrors, logits: tr.logits };
}
