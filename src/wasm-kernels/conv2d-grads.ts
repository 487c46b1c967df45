/**
 * Conv2D gradients for the tfjs `wasm` backend, expressed as forward convolutions.
 *
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel (training a conv net fails)
 * and its Conv2DBackpropInput is a naive loop about 8-10x slower than a forward conv.
 * Both gradients are convolutions themselves, so we compute them with wasm's
 * XNNPACK-backed Conv2D kernel plus cheap layout kernels (transpose, reverse, pad, slice).
 *
 * Kernels here call other wasm kernels directly through their kernelFunc, the way
 * tfjs-backend-wasm's own kernels call each other: the engine never sees the
 * intermediates, so they are released with backend.disposeData and are not on the tape.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs';

const BACKEND = 'wasm';

type Explicit4DPadding = [[number, number], [number, number], [number, number], [number, number]];

/** Intermediates of one kernel invocation, released together when it finishes. */
class Scratch {
  private readonly owned: TensorInfo[] = [];
  constructor(readonly backend: KernelBackend) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = tf.getKernel(kernelName, BACKEND);
    if (kernel === undefined) {
      throw new Error(`wasm backend has no '${kernelName}' kernel, which the robench conv2d gradient kernels need`);
    }
    const out = kernel.kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo;
    this.owned.push(out);
    return out;
  }

  /** Hands `result` to the caller: every other intermediate is released. */
  keepOnly(result: TensorInfo): TensorInfo {
    for (const t of this.owned) {
      if (t !== result) this.backend.disposeData(t.dataId);
    }
    this.owned.length = 0;
    return result;
  }

  release(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
    this.owned.length = 0;
  }
}

function withScratch(backend: KernelBackend, body: (s: Scratch) => TensorInfo): TensorInfo {
  const scratch = new Scratch(backend);
  try {
    return scratch.keepOnly(body(scratch));
  } catch (err) {
    scratch.release();
    throw err;
  }
}

function requireChannelsLast(dataFormat: string, kernelName: string): void {
  if (dataFormat !== 'NHWC') {
    throw new Error(`${kernelName} on wasm supports only dataFormat 'NHWC' (got '${dataFormat}'); transpose the input to NHWC`);
  }
}

/**
 * Crops `x` (NHWC) so that rows [top, top+height) and columns [left, left+width) remain;
 * a no-op (returns x) when nothing would be cut.
 */
function crop(s: Scratch, x: TensorInfo, top: number, height: number, left: number, width: number): TensorInfo {
  const [b, h, w, c] = x.shape;
  if (top === 0 && left === 0 && height === h && width === w) return x;
  return s.run(tf.Slice, { x }, { begin: [0, top, left, 0], size: [b, height, width, c] });
}

/**
 * Places a zero between neighbouring rows and columns (stride-1 zeros each) so a strided
 * convolution's output gradient can be correlated at stride 1. The result keeps
 * (stride-1) trailing zero rows/columns; callers account for them in their padding.
 */
function dilateSpatially(s: Scratch, x: TensorInfo, strideH: number, strideW: number): TensorInfo {
  if (strideH === 1 && strideW === 1) return x;
  const [b, h, w, c] = x.shape;
  let t = x;
  if (strideW > 1) {
    t = s.run(tf.Reshape, { x: t }, { shape: [b * h, w, 1, c] });
    t = s.run(tf.PadV2, { x: t }, { paddings: [[0, 0], [0, 0], [0, strideW - 1], [0, 0]], constantValue: 0 });
  }
  if (strideH > 1) {
    t = s.run(tf.Reshape, { x: t }, { shape: [b, h, 1, w * strideW * c] });
    t = s.run(tf.PadV2, { x: t }, { paddings: [[0, 0], [0, 0], [0, strideH - 1], [0, 0]], constantValue: 0 });
  }
  return s.run(tf.Reshape, { x: t }, { shape: [b, h * strideH, w * strideW, c] });
}

/**
 * Convolves `x` with `filter` at stride 1 using the given (possibly negative) padding on
 * each side: negative padding becomes a crop, since XNNPACK accepts only non-negative pads.
 */
function convWithSignedPadding(
  s: Scratch,
  x: TensorInfo,
  filter: TensorInfo,
  dilations: [number, number],
  pads: { top: number; bottom: number; left: number; right: number },
): TensorInfo {
  const [, h, w] = x.shape;
  const cropTop = Math.max(0, -pads.top);
  const cropLeft = Math.max(0, -pads.left);
  const keptH = h - cropTop - Math.max(0, -pads.bottom);
  const keptW = w - cropLeft - Math.max(0, -pads.right);
  const input = crop(s, x, cropTop, keptH, cropLeft, keptW);
  const pad: Explicit4DPadding = [
    [0, 0],
    [Math.max(0, pads.top), Math.max(0, pads.bottom)],
    [Math.max(0, pads.left), Math.max(0, pads.right)],
    [0, 0],
  ];
  return s.run(tf.Conv2D, { x: input, filter }, {
    strides: [1, 1],
    pad,
    dataFormat: 'NHWC',
    dilations,
  } as unknown as NamedAttrMap);
}

function convInfoFor(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: { strides: [number, number] | number; pad: Conv2DBackpropInputAttrs['pad']; dimRoundingMode?: 'floor' | 'round' | 'ceil' },
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
}

/**
 * dx = dy (zero-dilated by the stride) correlated with the spatially flipped filter whose
 * in/out channels are swapped. Element dx[i] collects dy[o]·w[k] over o·s + k − padTop = i,
 * which is a stride-1 correlation of the dilated dy padded by (k−1−padTop) on top.
 */
const conv2DBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropInputAttrs;
  requireChannelsLast(a.dataFormat, tf.Conv2DBackpropInput);
  const inputShape = a.inputShape as [number, number, number, number];
  const info = convInfoFor(inputShape, filter.shape as [number, number, number, number], a);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight, inWidth } = info;

  return withScratch(backend as KernelBackend, (s) => {
    const flipped = s.run(tf.Reverse, { x: filter }, { dims: [0, 1] });
    const swapped = s.run(tf.Transpose, { x: flipped }, { perm: [0, 1, 3, 2] });
    const dilated = dilateSpatially(s, dy, sh, sw);
    const top = kh - 1 - info.padInfo.top;
    const left = kw - 1 - info.padInfo.left;
    const [, dh, dw] = dilated.shape;
    return convWithSignedPadding(s, dilated, swapped, [1, 1], {
      top,
      left,
      bottom: inHeight + kh - 1 - dh - top,
      right: inWidth + kw - 1 - dw - left,
    });
  });
};

/**
 * dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s+kh−padTop, ow·s+kw−padLeft, ci] · dy[b,oh,ow,co]:
 * a convolution where the batch plays the channel role. Input = x as [ci, H, W, b],
 * filter = dy as [oh, ow, b, co] dilated by the stride, output = [ci, kh, kw, co].
 */
const conv2DBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  requireChannelsLast(a.dataFormat, tf.Conv2DBackpropFilter);
  const filterShape = a.filterShape as [number, number, number, number];
  const info = convInfoFor(x.shape as [number, number, number, number], filterShape, a);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight, outWidth, inHeight, inWidth } = info;

  return withScratch(backend as KernelBackend, (s) => {
    const xT = s.run(tf.Transpose, { x }, { perm: [3, 1, 2, 0] });
    const dyT = s.run(tf.Transpose, { x: dy }, { perm: [1, 2, 0, 3] });
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const grad = convWithSignedPadding(s, xT, dyT, [sh, sw], {
      top,
      left,
      bottom: kh + (outHeight - 1) * sh - inHeight - top,
      right: kw + (outWidth - 1) * sw - inWidth - left,
    });
    return s.run(tf.Transpose, { x: grad }, { perm: [1, 2, 0, 3] });
  });
};

export const conv2DGradientConfigs: readonly KernelConfig[] = [
  { kernelName: tf.Conv2DBackpropInput, backendName: BACKEND, kernelFunc: conv2DBackpropInput },
  { kernelName: tf.Conv2DBackpropFilter, backendName: BACKEND, kernelFunc: conv2DBackpropFilter },
];
