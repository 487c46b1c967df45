/**
 * Kernels robench adds to the tfjs `wasm` backend so models train and attacks run fast:
 * the conv2d gradients (one missing, one slow in tfjs-backend-wasm 4.22), MaxPoolGrad, a
 * Tile that batchNorm's gradient leans on (both slow there), per-channel sums, and the TopK
 * of the HaH layers. See src/runtime/wasm-kernels/ for how each works.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig } from '@tensorflow/tfjs';
import { conv2DGradientConfigs } from './wasm-kernels/conv2d-grads.js';
import { maxPoolGradConfig } from './wasm-kernels/max-pool-grad.js';
import { fastSumConfig } from './wasm-kernels/sum.js';
import { fastTileConfig } from './wasm-kernels/tile.js';
import { fastTopKConfig } from './wasm-kernels/top-k.js';

let configs: readonly KernelConfig[] | undefined;

/**
 * Installs robench's kernels on the wasm backend, replacing wasm's slow Conv2DBackpropInput,
 * MaxPoolGrad, Tile, leading-axes Sum and TopK. Safe to call any number of times, before or after the backend is initialised.
 */
export function registerWasmKernels(): void {
  configs ??= [
    ...conv2DGradientConfigs(tf.getKernel(tf.Conv2DBackpropInput, 'wasm')),
    fastTileConfig(tf.getKernel(tf.Tile, 'wasm')),
    fastSumConfig(tf.getKernel(tf.Sum, 'wasm')!, tf.getKernel(tf.BatchMatMul, 'wasm')!),
    fastTopKConfig(tf.getKernel(tf.TopK, 'wasm')!),
    maxPoolGradConfig,
  ];
  for (const config of configs) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current !== undefined) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
}
