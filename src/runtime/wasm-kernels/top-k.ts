/**
 * TopK for short k on the wasm backend, per row of the last axis, in one pass over the wasm heap.
 *
 * HaH training asks, at every position, for the K largest of a few dozen channels (hahCost).
 * tfjs-backend-wasm's TopK costs ~0.4 µs per row however short the row, 1.6-2x the time of
 * keeping a sorted buffer of k that each value enters by insertion, as here. Results are those
 * of tfjs's cpu kernel, sorted by value descending with ties by lower index (also a valid order
 * when unsorted is asked). Long k (the fractional threshold's 20% of a map), where wasm's
 * selection wins, input holding NaN, and non-float32 input keep the built-in kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, KernelFunc, TensorInfo, TopKAttrs } from '@tensorflow/tfjs';

/** Up to this k, insertion into a sorted buffer beats the built-in kernel. */
const INSERTION_MAX_K = 16;

/** Writes the k largest of x[start, start + size) (ties: lower index first), sorted, to vals/idx at out. */
function insertionTopK(x: Float32Array, start: number, size: number, k: number, vals: Float32Array, idx: Int32Array, out: number): void {
  let count = 0;
  for (let i = 0; i < size; i++) {
    const v = x[start + i]!;
    if (count === k && !(v > vals[out + k - 1]!)) continue;
    // Equal values stay ahead of v: they came from lower indices.
    let j = count < k ? count++ : k - 1;
    while (j > 0 && v > vals[out + j - 1]!) {
      vals[out + j] = vals[out + j - 1]!;
      idx[out + j] = idx[out + j - 1]!;
      j--;
    }
    vals[out + j] = v;
    idx[out + j] = i;
  }
}

export function fastTopKConfig(builtin: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const { k } = args.attrs as unknown as TopKAttrs;
    const backend = args.backend as BackendWasm;
    const size = x.shape[x.shape.length - 1] ?? 0;
    if (x.dtype !== 'float32' || size === 0 || k === 0 || k > Math.min(size, INSERTION_MAX_K)) return builtin.kernelFunc(args);
    const values = backend.typedArrayFromHeap(x) as Float32Array;
    for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) return builtin.kernelFunc(args);
    const rows = values.length / size;
    const outShape = [...x.shape.slice(0, -1), k];
    const valuesOut = backend.makeOutput(outShape, 'float32');
    const indicesOut = backend.makeOutput(outShape, 'int32');
    // Views after the allocations: growing the wasm heap detaches views taken before it.
    const input = backend.typedArrayFromHeap(x) as Float32Array;
    const vals = backend.typedArrayFromHeap(valuesOut) as Float32Array;
    const idx = backend.typedArrayFromHeap(indicesOut) as Int32Array;
    for (let r = 0; r < rows; r++) insertionTopK(input, r * size, size, k, vals, idx, r * k);
    return [valuesOut, indicesOut];
  };
  return { kernelName: tf.TopK, backendName: 'wasm', kernelFunc, setupFunc: builtin.setupFunc };
}
