/**
 * MaxPoolGrad for the wasm backend as a single scatter pass over the wasm heap.
 *
 * tfjs-backend-wasm's MaxPoolGrad takes ~27 ms for a 64x28x28x32 activation, 50x its
 * forward pool, and it sits in every attack step of a CNN. Here each output window finds
 * its first maximum (strictly greater wins, in window row-major order, as tfjs's cpu
 * kernel does, so tied maxima, common after a ReLU, route the gradient identically) and
 * adds dy there.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, TensorInfo } from '@tensorflow/tfjs';

const maxPoolGrad: KernelFunc = (args) => {
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolGradAttrs;
  const backend = args.backend as BackendWasm;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const out = backend.makeOutput(input.shape, 'float32');
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const best = new Float32Array(channels);
  const where = new Int32Array(channels);

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
        best.fill(-Infinity);
        where.fill(-1);
        for (let yy = yStart; yy < yEnd; yy++) {
          for (let xx = xStart; xx < xEnd; xx++) {
            const base = ((b * inHeight + yy) * inWidth + xx) * channels;
            for (let c = 0; c < channels; c++) {
              const v = x[base + c]!;
              if (v > best[c]!) {
                best[c] = v;
                where[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < channels; c++) {
          const at = where[c]!;
          if (at >= 0) dx[at] += g[gy + c]!;
        }
      }
    }
  }
  return out;
};

export const maxPoolGradConfig: KernelConfig = { kernelName: tf.MaxPoolGrad, backendName: 'wasm', kernelFunc: maxPoolGrad };
