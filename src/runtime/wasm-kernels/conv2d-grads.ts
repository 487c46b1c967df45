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
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
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

  /** Tracks a buffer made outside run() so it is released with the rest. */
  adopt(t: TensorInfo): void {
    this.owned.push(t);
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
 * Stride 1: dx[i] = Σ_k dy[i + padTop − k]·w[k], a correlation of dy with the spatially
 * flipped filter (in/out channels swapped), padded by (k−1−padTop) on top.
 */
function backpropInputStride1(s: Scratch, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { filterHeight: kh, filterWidth: kw, inHeight, inWidth } = info;
  const flipped = s.run(tf.Reverse, { x: filter }, { dims: [0, 1] });
  const swapped = s.run(tf.Transpose, { x: flipped }, { perm: [0, 1, 3, 2] });
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  const [, dh, dw] = dy.shape;
  return convWithSignedPadding(s, dy, swapped, [1, 1], {
    top,
    left,
    bottom: inHeight + kh - 1 - dh - top,
    right: inWidth + kw - 1 - dw - left,
  });
}

/**
 * The stride-s filter split into its s×s phases, flipped and stacked along output channels:
 * phase[m, n, co, (ph·s + pw)·ci + c] = w[ph + (M−1−m)·s, pw + (N−1−n)·s, c, co], zero
 * where that tap lies outside the filter. M = ceil(kh/s), N = ceil(kw/s).
 */
function phaseFilter(backend: BackendWasm, filter: TensorInfo, sh: number, sw: number): TensorInfo {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const m = Math.ceil(kh / sh);
  const n = Math.ceil(kw / sw);
  const w = backend.typedArrayFromHeap(filter) as Float32Array;
  const phases = sh * sw * ci;
  const out = new Float32Array(m * n * co * phases);
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < n; b++) {
      for (let ph = 0; ph < sh; ph++) {
        const r = ph + (m - 1 - a) * sh;
        if (r >= kh) continue;
        for (let pw = 0; pw < sw; pw++) {
          const c = pw + (n - 1 - b) * sw;
          if (c >= kw) continue;
          for (let i = 0; i < ci; i++) {
            const src = ((r * kw + c) * ci + i) * co;
            const dst = ((a * n + b) * co) * phases + (ph * sw + pw) * ci + i;
            for (let o = 0; o < co; o++) out[dst + o * phases] = w[src + o]!;
          }
        }
      }
    }
  }
  return backend.makeOutput([m, n, co, phases], 'float32', undefined, out);
}

/**
 * Stride s > 1 without multiplying by the zeros a dilated dy would hold: writing
 * i + padTop = q·s + p, dx[i] = Σ_m dy[q − m]·w[p + m·s], a stride-1 correlation of dy per
 * phase p. All s×s phases run as one convolution whose output channels are the phases,
 * and DepthToSpace interleaves them back into rows and columns.
 */
function backpropInputStrided(s: Scratch, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { strideHeight: sh, strideWidth: sw, inHeight, inWidth, inChannels } = info;
  const phased = phaseFilter(s.backend as BackendWasm, filter, sh, sw);
  s.adopt(phased);
  const [m, n] = phased.shape;
  const [, dh, dw] = dy.shape;
  const { top: padTop, left: padLeft } = info.padInfo;
  const qh = Math.ceil((inHeight + padTop) / sh);
  const qw = Math.ceil((inWidth + padLeft) / sw);
  const q = convWithSignedPadding(s, dy, phased, [1, 1], { top: m! - 1, left: n! - 1, bottom: qh - dh!, right: qw - dw! });
  return interleavePhases(s.backend as BackendWasm, q, sh, padTop, padLeft, inHeight, inWidth, inChannels);
}

/**
 * dx[b, i, j, c] = q[b, (i+padTop) div s, (j+padLeft) div s, (phase row·s + phase col)·C + c],
 * i.e. DepthToSpace followed by a crop, in one pass (wasm's DepthToSpace costs ~30 ns per
 * element, more than the convolution that produced q).
 */
function interleavePhases(
  backend: BackendWasm, q: TensorInfo, stride: number, padTop: number, padLeft: number, height: number, width: number, channels: number,
): TensorInfo {
  const [batch, qh, qw, qc] = q.shape as [number, number, number, number];
  const out = backend.makeOutput([batch, height, width, channels], 'float32');
  // Views after the allocation: growing the wasm heap detaches views taken before it.
  const src = backend.typedArrayFromHeap(q) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  let d = 0;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      const row = i + padTop;
      const rowBase = (b * qh + Math.floor(row / stride)) * qw;
      const rowPhase = (row % stride) * stride;
      for (let j = 0; j < width; j++) {
        const col = j + padLeft;
        let o = (rowBase + Math.floor(col / stride)) * qc + (rowPhase + (col % stride)) * channels;
        for (let c = 0; c < channels; c++) dst[d++] = src[o++]!;
      }
    }
  }
  return out;
}

function conv2DBackpropInput(builtin: KernelConfig | undefined): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = args.attrs as unknown as Conv2DBackpropInputAttrs;
    requireChannelsLast(a.dataFormat, tf.Conv2DBackpropInput);
    const inputShape = a.inputShape as [number, number, number, number];
    const info = convInfoFor(inputShape, filter.shape as [number, number, number, number], a);
    const { strideHeight: sh, strideWidth: sw } = info;
    // DepthToSpace interleaves square blocks only; rare unequal strides keep the built-in loop.
    if (sh !== sw && builtin !== undefined) return builtin.kernelFunc(args);
    return withScratch(args.backend as KernelBackend, (s) => (sh === 1 && sw === 1
      ? backpropInputStride1(s, dy, filter, info)
      : backpropInputStrided(s, dy, filter, info)));
  };
}

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

/**
 * The conv2d gradient kernels; `builtinInput` is wasm's own Conv2DBackpropInput, kept for
 * unequal strides (its setup step must still run, so it is carried over).
 */
export function conv2DGradientConfigs(builtinInput: KernelConfig | undefined): KernelConfig[] {
  return [
    {
      kernelName: tf.Conv2DBackpropInput,
      backendName: BACKEND,
      kernelFunc: conv2DBackpropInput(builtinInput),
      setupFunc: builtinInput?.setupFunc,
    },
    { kernelName: tf.Conv2DBackpropFilter, backendName: BACKEND, kernelFunc: conv2DBackpropFilter },
  ];
}
