/**
 * The EKDAA learning rule (error-kernel driven activation alignment; Zee, Ororbia,
 * Mali & Nwogu, TMLR 2023), as the authors' release (tzee/EKDAA-Release,
 * library/EKDAA_model.py and core.py) computes it. Each layer gets a target from the
 * error of the layer above, projected through a learned error kernel E instead of the
 * transposed weights, and updates from the mismatch between its activity and that
 * target: no activation derivative anywhere, so the rule trains sign networks as
 * readily as tanh ones.
 *
 * With f the activation, h a layer's pre-activation, z = f(h), beta = 0.9, gamma = 0.1:
 *   output    e_out = softmax(logits) - onehot(y)
 *   fc1       t = h1 - beta e_out E2,            e1 = z1 - f(t)
 *   top conv  t = h_top - beta e1 E1             (pooled h when the conv pools)
 *   conv l    t_l = up(t) through a pool (bilinear, half-pixel), e_l = z_l - f(t_l)
 *             t_{l-1} = h_{l-1} - beta m(convT(e_l, K_l)),  K_l = transpose(E_l, [2,3,1,0])
 *   updates   dW_l = m(filterGrad(in_l, e_l)) / (cin_l cout_l)    (core.deconv)
 *             dF1 = flat^T e1, dF2 = z1^T e_out                   (no division)
 *             dE = gamma dW^T (full transpose), every update applied as W <- W - lr dW
 * where m(x) = x / max(x) when max(x) > 1 (signed maximum, as core.py's np.max) and in_l is
 * what the release correlates: the input for the first conv, the pooled h after a pool, z
 * after a plain conv. E is stored as the release stores it, W's full transpose (a conv's E
 * is [cout,cin,3,3]), so transpose(E, [2,3,1,0]) is W with its two spatial axes swapped at
 * initialisation, not W: the error goes down through the spatially transposed kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { activate, convSpecs, forward, type EkdaaArchitecture, type EkdaaParams } from '../nets/ekdaa.js';
import type { ImageShape } from '../core/plugin-api.js';

export interface EkdaaHyper {
  /** Step of the targets along the projected error. */
  beta: number;
  /** Rate of the error kernels relative to the weights. */
  gamma: number;
}

/** The release's values. */
export const EKDAA_HYPER: EkdaaHyper = { beta: 0.9, gamma: 0.1 };

/** Error kernels in the release's layout, initialised as the weights' full transposes: conv ones [cout,cin,3,3], fc ones [out,in]. */
export interface ErrorKernels {
  convs: tf.Variable[];
  fcs: tf.Variable[];
}

export function initErrorKernels(p: EkdaaParams): ErrorKernels {
  return {
    convs: p.convs.map((w) => tf.tidy(() => tf.variable(tf.transpose(w), true))),
    fcs: p.fcs.map((w) => tf.tidy(() => tf.variable(tf.transpose(w), true))),
  };
}

/**
 * Divides by the tensor's (signed) maximum when that exceeds 1: the release's guard
 * against conv error signals growing layer by layer (core.py's deconv and deconv_pb).
 */
export function divideByMaxAbove1(x: tf.Tensor): tf.Tensor {
  const m = tf.max(x);
  return tf.div(x, tf.where(tf.greater(m, 1), m, tf.onesLike(m)));
}

/**
 * The kernel an error kernel E [cout,cin,3,3] projects errors down with, [3,3,cin,cout]
 * as conv2dTranspose wants it: the release's tf.transpose(E, perm=[2,3,1,0]).
 */
export const projectionKernel = (e: tf.Tensor): tf.Tensor4D => tf.transpose(e, [2, 3, 1, 0]) as tf.Tensor4D;

/** Filter gradient of a same-padded stride-1 3x3 conv: sum over the batch of input patches times output errors. */
export const filterGradient = (input: tf.Tensor4D, err: tf.Tensor4D, cout: number): tf.Tensor4D =>
  tf.engine().runKernel('Conv2DBackpropFilter', { x: input, dy: err }, {
    strides: [1, 1],
    pad: 'same',
    dataFormat: 'NHWC',
    filterShape: [3, 3, input.shape[3], cout],
  }) as tf.Tensor4D;

export interface EkdaaUpdate {
  /** Updates for the weights (conv kernels, then fc kernels), applied as W <- W - lr dW; no conv ones with headOnly. */
  dConvs: tf.Tensor4D[];
  dFcs: tf.Tensor2D[];
  /** Updates of the error kernels, gamma dW^T in E's layout (conv ones [cout,cin,3,3]). */
  dEConvs: tf.Tensor4D[];
  dEFcs: tf.Tensor2D[];
  logits: tf.Tensor2D;
  /** The error of each conv layer and the hidden fc layer (for tests and diagnostics). */
  convErrors: tf.Tensor4D[];
  hiddenError: tf.Tensor2D;
}

/**
 * One EKDAA step's updates on a batch (call inside tf.tidy). headOnly: the fc layers' only (their
 * weights and error kernels), the conv stack's errors not computed: the frozen-conv controls.
 */
export function ekdaaUpdate(arch: EkdaaArchitecture, p: EkdaaParams, e: ErrorKernels, x: tf.Tensor4D, y: tf.Tensor1D, hyper: EkdaaHyper = EKDAA_HYPER, opts: { headOnly?: boolean } = {}): EkdaaUpdate {
  const { beta, gamma } = hyper;
  const f = (t: tf.Tensor): tf.Tensor => activate(arch.activation, t);
  const specs = convSpecs(arch, x.shape.slice(1) as ImageShape);
  const tr = forward(arch, p, x);
  const classes = tr.logits.shape[1];
  const outError = tf.sub(tf.softmax(tr.logits), tf.oneHot(y, classes)) as tf.Tensor2D;

  // Hidden fc layer: target pre-activation h - beta * (e E), target activity f(t).
  const hiddenTarget = tf.sub(tr.hiddenH, tf.mul(beta, tf.matMul(outError, e.fcs[1])));
  const hiddenError = tf.sub(tr.hiddenZ, f(hiddenTarget)) as tf.Tensor2D;
  const dFcs: tf.Tensor2D[] = [tf.matMul(tr.flat, hiddenError, true, false), tf.matMul(tr.hiddenZ, outError, true, false)];
  const dEFcs = dFcs.map((d) => tf.mul(gamma, tf.transpose(d)) as tf.Tensor2D);
  if (opts.headOnly) return { dConvs: [], dFcs, dEConvs: [], dEFcs, logits: tr.logits, convErrors: [], hiddenError };

  // Down into the conv stack: the target of what the top conv hands on (pooled when it pools).
  const top = specs.length - 1;
  let target = tf.sub(tr.convOutH[top], tf.mul(beta, tf.reshape(tf.matMul(hiddenError, e.fcs[0]), tr.convOutH[top].shape))) as tf.Tensor4D;
  const convErrors: tf.Tensor4D[] = new Array(specs.length);
  for (let l = top; l >= 0; l--) {
    const [, hh, ww] = tr.convH[l].shape;
    // Through a max-pool the target goes up by bilinear interpolation (Keras UpSampling2D's half-pixel centres).
    const t = specs[l].pool ? tf.image.resizeBilinear(target, [hh, ww], false, true) : target;
    convErrors[l] = tf.sub(tr.convZ[l], f(t)) as tf.Tensor4D;
    if (l === 0) break;
    // core.deconv_pb: conv2d_backprop_input with the permuted error kernel, then m(.).
    const projected = tf.conv2dTranspose(convErrors[l], projectionKernel(e.convs[l]), tr.convIn[l].shape, 1, 'same');
    target = tf.sub(tr.convOutH[l - 1], tf.mul(beta, divideByMaxAbove1(projected))) as tf.Tensor4D;
  }

  // Updates: no activation derivative, the layer's input against its error.
  const updateInput = (l: number): tf.Tensor4D =>
    // The release correlates a conv's error with the lower layer's z: f(h) after a plain conv, pooled h after a pool.
    arch.releaseForward && l > 0 && !specs[l - 1].pool ? (tr.convZ[l - 1] as tf.Tensor4D) : tr.convIn[l];
  const dConvs = specs.map((s, l) => tf.div(divideByMaxAbove1(filterGradient(updateInput(l), convErrors[l], s.cout)), s.cin * s.cout) as tf.Tensor4D);
  return {
    dConvs,
    dFcs,
    dEConvs: dConvs.map((d) => tf.mul(gamma, tf.transpose(d)) as tf.Tensor4D),
    dEFcs,
    logits: tr.logits,
    convErrors,
    hiddenError,
  };
}

/**
 * Heavy-ball SGD as Keras runs it (v <- m v - lr g; w <- w + v), written out so the
 * EKDAA rule and the backprop twin share it and a checkpoint holds its whole state.
 */
export class MomentumSGD {
  readonly velocities: tf.Variable[];

  constructor(
    readonly params: tf.Variable[],
    public lr: number,
    readonly momentum: number,
  ) {
    this.velocities = params.map((p) => tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
  }

  apply(grads: tf.Tensor[]): void {
    if (grads.length !== this.params.length) throw new Error(`MomentumSGD: ${grads.length} updates for ${this.params.length} parameters`);
    tf.tidy(() =>
      grads.forEach((g, i) => {
        const v = tf.sub(tf.mul(this.momentum, this.velocities[i]), tf.mul(this.lr, g));
        this.velocities[i].assign(v);
        this.params[i].assign(tf.add(this.params[i], v));
      }),
    );
  }

  dispose(): void {
    tf.dispose(this.velocities);
  }
}
