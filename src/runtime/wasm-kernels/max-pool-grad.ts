/**
 * MaxPoolGrad for the wasm backend as a single scatter pass over the wasm heap.
 *
 * tfjs-backend-wasm's MaxPoolGrad takes ~27 ms for a 64x28x28x32 activation, 50x its
 * forward pool, and it sits in every attack step of a CNN and in the HaH layers' 3x3
 * suppression field. The forward pool's output is an input here, so each window is scanned,
 * in row-major order, only until its first element equal to that maximum: the element
 * tfjs's cpu kernel picks (strictly greater wins), so tied maxima, common after a ReLU,
 * route the gradient identically. Stopping early reads about half of each window.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, TensorInfo } from '@tensorflow/tfjs';

const maxPoolGrad: KernelFunc = (args) => {
  const { dy, input, output } = args.inputs as { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolGradAttrs;
  const backend = args.backend as BackendWasm;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const out = backend.makeOutput(input.shape, 'float32');
  // Views after the allocation: growing the wasm heap detaches views taken before it.
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const y = backend.typedArrayFromHeap(output) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const rowStride = inWidth * channels;
  let gy = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      const yStart = Math.max(0, y0);
      const yEnd = Math.min(inHeight, y0 + filterHeight);
      for (let ox = 0; ox < outWidth; ox++, gy += channels) {
        const x0 = ox * strideWidth - left;
        const xStart = Math.max(0, x0);
        const xEnd = Math.min(inWidth, x0 + filterWidth);
        const corner = ((b * inHeight + yStart) * inWidth + xStart) * channels;
        for (let c = 0; c < channels; c++) {
          const m = y[gy + c]!;
          window: for (let yy = yStart, row = corner + c; yy < yEnd; yy++, row += rowStride) {
            for (let xx = xStart, i = row; xx < xEnd; xx++, i += channels) {
              if (x[i] === m) {
                dx[i] += g[gy + c]!;
                break window;
              }
            }
          }
        }
      }
    }
  }
  return out;
};

export const maxPoolGradConfig: KernelConfig = { kernelName: tf.MaxPoolGrad, backendName: 'wasm', kernelFunc: maxPoolGrad };
