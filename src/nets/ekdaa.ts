/**
 * The EKDAA network of Zee et al. (2023): 3x3 same-padded convs without bias, an
 * activation f (tanh or sign), 2x2 max-pools, then fc 128 -> f -> fc 10 (softmax in
 * the loss; the saved model ends in logits, as robench wants). The parameters are
 * plain variables that the EKDAA rule, its backprop twin and the release's backprop
 * baseline update alike (the frozen-conv controls their fc ones only); the
 * LayersModel built from them is what ships and what robench attacks.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageShape } from '../core/plugin-api.js';
import { Normalize } from '../layers/normalize.js';
import { signSTE, SignSTE } from '../layers/sign-ste.js';

export type Activation = 'tanh' | 'sign';
type Layout = (number | 'M')[];

export interface EkdaaArchitecture {
  /** Conv widths, 'M' a 2x2 max-pool after the conv before it. */
  layout: Layout;
  hidden: number;
  activation: Activation;
  /**
   * The release's forward: each conv feeds its pre-activation (pooled) to the next
   * layer, so f first acts at the fc layers. robench's default applies f after
   * every layer, as the paper describes.
   */
  releaseForward: boolean;
}

export const LAYOUTS = {
  // The released CIFAR-10 net.
  release: [64, 64, 'M', 64, 128, 'M', 128, 128, 'M'] as Layout,
  // Greyscale 28x28 on one CPU core: two narrow convs, about 90 ms per EKDAA step of 50 on
  // wasm (so ~2 minutes per Fashion-MNIST epoch); twice the widths doubled the step time.
  'compact-gray': [16, 'M', 32, 'M'] as Layout,
  // Colour 32x32 within a session: twice the grey widths, 5.6M multiply-adds an image
  // where the release's net takes 87M.
  'compact-colour': [32, 'M', 64, 'M'] as Layout,
  // The release's widths (64 and 128 channels) on two pools, which 28x28 input allows: the
  // release net's third pool takes 7x7 to 4x4, which cannot be upsampled back. The conv
  // update is divided by cin*cout (core.py), 64 and 8,192 here against 16 and 512 for the
  // compact net, so the convs move as slowly as the release's; the compact net's fast convs
  // saturate fc1 and its accuracy falls epoch by epoch (issue 33).
  wide: [64, 'M', 128, 'M'] as Layout,
};

/**
 * The layouts `robench train --layout` names: compact (16-M-32-M grey, 32-M-64-M colour),
 * wide (64-M-128-M, the greyscale default) or the release's CIFAR-10 net.
 */
export type LayoutName = 'compact' | 'wide' | 'release';
export const LAYOUT_NAMES: readonly LayoutName[] = ['compact', 'wide', 'release'];

/** The default: wide on greyscale (see LAYOUTS.wide), compact on colour (the release net is 15 times its work). */
export function ekdaaLayout(shape: ImageShape, name?: LayoutName): Layout {
  if (name === 'release') return LAYOUTS.release;
  if (name === 'wide' || (name === undefined && shape[2] === 1)) return LAYOUTS.wide;
  return shape[2] === 1 ? LAYOUTS['compact-gray'] : LAYOUTS['compact-colour'];
}

export function ekdaaArchitecture(shape: ImageShape, activation: Activation, releaseForward = false, layout?: Layout): EkdaaArchitecture {
  return { layout: layout ?? ekdaaLayout(shape), hidden: 128, activation, releaseForward };
}

export interface ConvSpec {
  cin: number;
  cout: number;
  pool: boolean;
}

export function convSpecs(arch: EkdaaArchitecture, shape: ImageShape): ConvSpec[] {
  const convs: ConvSpec[] = [];
  let cin = shape[2];
  for (const item of arch.layout) {
    if (item === 'M') {
      if (convs.length === 0 || convs[convs.length - 1].pool) throw new Error(`EKDAA layout ${arch.layout.join(',')}: a pool must follow a conv`);
      convs[convs.length - 1].pool = true;
    } else {
      convs.push({ cin, cout: item, pool: false });
      cin = item;
    }
  }
  return convs;
}

/** Side of a map after `pools` 2x2 same-padded pools. */
const pooledSide = (side: number, pools: number): number => (pools === 0 ? side : pooledSide(Math.ceil(side / 2), pools - 1));

export function flatSize(arch: EkdaaArchitecture, shape: ImageShape): number {
  const convs = convSpecs(arch, shape);
  const pools = convs.filter((c) => c.pool).length;
  return pooledSide(shape[0], pools) * pooledSide(shape[1], pools) * convs[convs.length - 1].cout;
}

export const activate = (f: Activation, x: tf.Tensor): tf.Tensor => (f === 'tanh' ? tf.tanh(x) : signSTE(x));

/** The weights: conv kernels [3,3,cin,cout], then the two fc kernels [in,out]. */
export interface EkdaaParams {
  convs: tf.Variable[];
  fcs: tf.Variable[];
}

/** Glorot-uniform kernels from a seeded stream, so a seed gives the same net on every backend. */
export function initParams(arch: EkdaaArchitecture, shape: ImageShape, classes: number, rand: () => number): EkdaaParams {
  const glorot = (dims: number[]): tf.Variable => {
    const receptive = dims.slice(0, -2).reduce((a, b) => a * b, 1);
    const limit = Math.sqrt(6 / (receptive * (dims[dims.length - 2] + dims[dims.length - 1])));
    const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = (2 * rand() - 1) * limit;
    return tf.tidy(() => tf.variable(tf.tensor(values, dims), true));
  };
  return {
    convs: convSpecs(arch, shape).map((c) => glorot([3, 3, c.cin, c.cout])),
    fcs: [glorot([flatSize(arch, shape), arch.hidden]), glorot([arch.hidden, classes])],
  };
}

/** The release feeds inputs as x - 0.5 on [0,1] pixels. */
export const inputOffset = (x: tf.Tensor4D): tf.Tensor4D => tf.sub(x, 0.5);

export const maxPool = (x: tf.Tensor4D): tf.Tensor4D => tf.maxPool(x, 2, 2, 'same');

/** Everything one forward pass computes that the EKDAA rule reads. */
export interface ForwardTrace {
  /** Per conv: what it convolved (after the previous pool), its pre-activation h and activation z = f(h). */
  convIn: tf.Tensor4D[];
  convH: tf.Tensor4D[];
  convZ: tf.Tensor4D[];
  /** Per conv: the pre-activation of what it hands on (pooled h when it pools). */
  convOutH: tf.Tensor4D[];
  flat: tf.Tensor2D;
  hiddenH: tf.Tensor2D;
  hiddenZ: tf.Tensor2D;
  logits: tf.Tensor2D;
}

/** The forward pass on [0,1] images (differentiable: the backprop twin runs its tape through it). */
export function forward(arch: EkdaaArchitecture, p: EkdaaParams, x: tf.Tensor4D): ForwardTrace {
  const specs = convSpecs(arch, x.shape.slice(1) as ImageShape);
  const t: ForwardTrace = { convIn: [], convH: [], convZ: [], convOutH: [], flat: null as unknown as tf.Tensor2D, hiddenH: null as unknown as tf.Tensor2D, hiddenZ: null as unknown as tf.Tensor2D, logits: null as unknown as tf.Tensor2D };
  let a = inputOffset(x);
  specs.forEach((s, l) => {
    t.convIn.push(a);
    const h = tf.conv2d(a, p.convs[l] as tf.Tensor4D, 1, 'same');
    const z = activate(arch.activation, h) as tf.Tensor4D;
    t.convH.push(h);
    t.convZ.push(z);
    t.convOutH.push(s.pool ? maxPool(h) : h);
    const carried = arch.releaseForward ? h : z;
    a = s.pool ? maxPool(carried) : carried;
  });
  t.flat = tf.reshape(a, [x.shape[0], -1]);
  t.hiddenH = tf.matMul(t.flat, p.fcs[0] as tf.Tensor2D);
  t.hiddenZ = activate(arch.activation, t.hiddenH) as tf.Tensor2D;
  t.logits = tf.matMul(t.hiddenZ, p.fcs[1] as tf.Tensor2D);
  return t;
}

/** The shippable LayersModel of an architecture (logits out), its kernels copied from `p`. */
export function buildLayersModel(arch: EkdaaArchitecture, shape: ImageShape, classes: number, p: EkdaaParams, name: string): tf.LayersModel {
  const act = (n: string): tf.layers.Layer => (arch.activation === 'tanh' ? tf.layers.activation({ activation: 'tanh', name: n }) : new SignSTE({ name: n }));
  const input = tf.input({ shape, name: 'image' });
  let x = new Normalize({ mean: Array(shape[2]).fill(0.5), std: Array(shape[2]).fill(1), name: 'normalize' }).apply(input) as tf.SymbolicTensor;
  convSpecs(arch, shape).forEach((s, l) => {
    const pre = `block${l + 1}`;
    x = tf.layers.conv2d({ filters: s.cout, kernelSize: 3, padding: 'same', useBias: false, name: `${pre}_conv` }).apply(x) as tf.SymbolicTensor;
    // Only a block with its activation in the chain has a post-activation output for sparsity.
    if (!arch.releaseForward) x = act(`${pre}_out`).apply(x) as tf.SymbolicTensor;
    if (s.pool) x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: `${pre}_pool` }).apply(x) as tf.SymbolicTensor;
  });
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: arch.hidden, useBias: false, name: 'fc1' }).apply(x) as tf.SymbolicTensor;
  x = act('fc1_act').apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: classes, useBias: false, name: 'logits' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits, name });
  model.setWeights([...p.convs, ...p.fcs]);
  return model;
}
