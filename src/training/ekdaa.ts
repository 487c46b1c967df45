/**
 * The EKDAA learning rule (error-kernel driven activation alignment; Zee, Ororbia,
 * Mali & Nwogu, TMLR 2023), as the authors' release computes it. Each layer gets a
 * target from the error of the layer above, projected through a learned error
 * kernel E instead of the transposed weights, and updates from the mismatch between
 * its activity and that target: no activation derivative anywhere, so the rule
 * trains sign networks as readily as tanh ones.
 */
import * as tf from '@tensorflow/tfjs';
import { activate, convSpecs, forward, type EkdaaArchitecture, type EkdaaParams } from '../../models/ekdaa-net.js';
import type { ImageShape } from '../core/plugin-api.js';

export interface EkdaaHyper {
  /** Step of the targets along the projected error. */
  beta: number;
  /** Rate of the error kernels relative to the weights. */
  gamma: number;
}

/** The release's values. */
export const EKDAA_HYPER: EkdaaHyper = { beta: 0.9, gamma: 0.1 };

/** Error kernels, initialised as the transposed weights: conv kernels kept in W's own layout [3,3,cin,cout], fc ones [out,in]. */
export interface ErrorKernels {
  convs: tf.Variable[];
  fcs: tf.Variable[];
}

export function initErrorKernels(p: EkdaaParams): ErrorKernels {
  return {
    convs: p.convs.map((w) => tf.tidy(() => tf.variable(w.clone(), true))),
    fcs: p.fcs.map((w) => tf.tidy(() => tf.variable(tf.transpose(w), true))),
  };
}

/**
 * Divides by the tensor's (signed) maximum when that exceeds 1: the release's guard
 * against conv error signals growing layer by layer.
 */
export function divideByMaxAbove1(x: tf.Tensor): tf.Tensor {
  const m = tf.max(x);
  return tf.div(x, tf.where(tf.greater(m, 1), m, tf.onesLike(m)));
}

/** Filter gradient of a same-padded stride-1 3x3 conv: sum over the batch of input patches times output errors. */
export const filterGradient = (input: tf.Tensor4D, err: tf.Tensor4D, cout: number): tf.Tensor4D =>
  tf.engine().runKernel('Conv2DBackpropFilter', { x: input, dy: err }, {
    strides: [1, 1],
    pad: 'same',
    dataFormat: 'NHWC',
    filterShape: [3, 3, input.shape[3], cout],
  }) as tf.Tensor4D;

export interface EkdaaUpdate {
  /** Updates for the weights (conv kernels, then fc kernels), applied as W <- W - lr dW. */
  dConvs: tf.Tensor4D[];
  dFcs: tf.Tensor2D[];
  /** Updates of the error kernels, gamma dW^T. */
  dEConvs: tf.Tensor4D[];
  dEFcs: tf.Tensor2D[];
  logits: tf.Tensor2D;
  /** The error of each conv layer and the hidden fc layer (for tests and diagnostics). */
  convErrors: tf.Tensor4D[];
  hiddenError: tf.Tensor2D;
}

/** One EKDAA step's updates on a batch (call inside tf.tidy). */
export function ekdaaUpdate(arch: EkdaaArchitecture, p: EkdaaParams, e: ErrorKernels, x: tf.Tensor4D, y: tf.Tensor1D, hyper: EkdaaHyper = EKDAA_HYPER): EkdaaUpdate {
  const { beta, gamma } = hyper;
  const f = (t: tf.Tensor): tf.Tensor => activate(arch.activation, t);
  const specs = convSpecs(arch, x.shape.slice(1) as ImageShape);
  const tr = forward(arch, p, x);
  const classes = tr.logits.shape[1];
  const outError = tf.sub(tf.softmax(tr.logits), tf.oneHot(y, classes)) as tf.Tensor2D;

  // Hidden fc layer: target pre-activation h - beta * (e E), target activity f(t).
  const hiddenTarget = tf.sub(tr.hiddenH, tf.mul(beta, tf.matMul(outError, e.fcs[1])));
  const hiddenError = tf.sub(tr.hiddenZ, f(hiddenTarget)) as tf.Tensor2D;

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
    const projected = tf.conv2dTranspose(convErrors[l], e.convs[l] as tf.Tensor4D, tr.convIn[l].shape, 1, 'same');
    target = tf.sub(tr.convOutH[l - 1], tf.mul(beta, divideByMaxAbove1(projected))) as tf.Tensor4D;
  }

  // Updates: no activation derivative, the layer's input against its error.
  const updateInput = (l: number): tf.Tensor4D =>
    // The release correlates a conv's error with the lower layer's z: f(h) after a plain conv, pooled h after a pool.
    arch.releaseForward && l > 0 && !specs[l - 1].pool ? (tr.convZ[l - 1] as tf.Tensor4D) : tr.convIn[l];
  const dConvs = specs.map((s, l) => tf.div(divideByMaxAbove1(filterGradient(updateInput(l), convErrors[l], s.cout)), s.cin * s.cout) as tf.Tensor4D);
  const dFcs: tf.Tensor2D[] = [tf.matMul(tr.flat, hiddenError, true, false), tf.matMul(tr.hiddenZ, outError, true, false)];
  return {
    dConvs,
    dFcs,
    dEConvs: dConvs.map((d) => tf.mul(gamma, d) as tf.Tensor4D),
    dEFcs: dFcs.map((d) => tf.mul(gamma, tf.transpose(d)) as tf.Tensor2D),
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
