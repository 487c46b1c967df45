/**
 * Times conv2d forward, input-gradient and training-step (forward + both gradients) per
 * layer shape of the compact Fashion-MNIST CNN, on wasm and cpu.
 *
 *   npx tsx bench/kernels.ts [--batch 64] [--cpu-batch 16] [--backends wasm,cpu] [--reps 5]
 *
 * The cpu backend is ~30x slower, so it runs a smaller batch, one warm-up and one timed run.
 *
 * On wasm it also times tfjs's built-in Conv2DBackpropInput, which robench replaces, so
 * the speed-up of src/runtime/wasm-kernels.ts stays visible.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import { registerWasmKernels } from '../src/runtime/wasm-kernels.js';

interface LayerShape {
  name: string;
  size: number;
  inChannels: number;
  outChannels: number;
  stride: 1 | 2;
}

const LAYERS: LayerShape[] = [
  { name: '28x28x1->32', size: 28, inChannels: 1, outChannels: 32, stride: 1 },
  { name: '28x28x32->32', size: 28, inChannels: 32, outChannels: 32, stride: 1 },
  { name: '14x14x32->64', size: 14, inChannels: 32, outChannels: 64, stride: 1 },
  { name: '14x14x64->64', size: 14, inChannels: 64, outChannels: 64, stride: 1 },
  { name: '28x28x32->64 s2', size: 28, inChannels: 32, outChannels: 64, stride: 2 },
];

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' },
    'cpu-batch': { type: 'string', default: '16' },
    backends: { type: 'string', default: 'wasm,cpu' },
    reps: { type: 'string', default: '5' },
  },
});
const wasmBatch = Number(args.batch);
const cpuBatch = Number(args['cpu-batch']);
const reps = Number(args.reps);

/** Median wall time of `runs` runs after warm-ups (JIT, XNNPACK operator caches); `fn` returns what it computed. */
function medianMs(fn: () => tf.Tensor | tf.Tensor[], runs: number, warmups: number): number {
  const once = (): number => {
    const start = performance.now();
    const out = fn();
    for (const t of [out].flat()) {
      t.dataSync();
      t.dispose();
    }
    return performance.now() - start;
  };
  for (let i = 0; i < warmups; i++) once();
  const times = Array.from({ length: runs }, once).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

interface Row {
  backend: string;
  batch: number;
  layer: string;
  forwardMs: number;
  inputGradMs: number;
  builtinInputGradMs?: number;
  trainStepMs: number;
  gflops: number;
}

function measure(backend: string, batch: number, layer: LayerShape, runs: number, builtinInputGrad?: tf.KernelConfig): Row {
  const warmups = backend === 'cpu' ? 1 : 2;
  const { size, inChannels: ci, outChannels: co, stride } = layer;
  const x = tf.randomNormal([batch, size, size, ci], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, ci, co], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const y = tf.conv2d(x, w, stride, 'same');
  const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
  const backpropInputAttrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape };
  const inputGrad = () =>
    tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: w }, backpropInputAttrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  const step = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same').mul(dy).sum());

  const forwardMs = medianMs(() => tf.conv2d(x, w, stride, 'same'), runs, warmups);
  const inputGradMs = medianMs(inputGrad, runs, warmups);
  const trainStepMs = medianMs(() => step([x, w]), runs, warmups);
  let builtinInputGradMs: number | undefined;
  if (builtinInputGrad !== undefined) {
    tf.unregisterKernel(tf.Conv2DBackpropInput, backend);
    tf.registerKernel(builtinInputGrad);
    // Registered after the backend started, so its wasm function binding was never made.
    builtinInputGrad.setupFunc?.(tf.backend());
    builtinInputGradMs = medianMs(inputGrad, Math.min(runs, 2), 1);
    registerWasmKernels();
  }
  const flops = 2 * batch * y.shape[1] * y.shape[2] * 9 * ci * co;
  tf.dispose([x, w, y, dy]);
  return { backend, batch, layer: layer.name, forwardMs, inputGradMs, builtinInputGradMs, trainStepMs, gflops: flops / forwardMs / 1e6 };
}

const builtinInputGrad = tf.getKernel(tf.Conv2DBackpropInput, 'wasm');
registerWasmKernels();

const rows: Row[] = [];
for (const backend of String(args.backends).split(',')) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend '${backend}' failed to initialise`);
  const runs = backend === 'cpu' ? 1 : reps;
  const batch = backend === 'cpu' ? cpuBatch : wasmBatch;
  for (const layer of LAYERS) {
    const row = measure(backend, batch, layer, runs, backend === 'wasm' ? builtinInputGrad : undefined);
    console.log(`measured ${backend} ${layer.name}: forward ${row.forwardMs.toFixed(1)} ms`);
    rows.push(row);
  }
}

const fmt = (v: number | undefined, digits = 1) => (v === undefined ? '-' : v.toFixed(digits));
console.log(`3x3 kernels, 'same' padding; wasm: median of ${reps} runs, cpu: one run`);
console.table(rows.map((r) => ({
  backend: r.backend,
  batch: r.batch,
  layer: r.layer,
  'forward ms': fmt(r.forwardMs),
  'fwd GFLOP/s': fmt(r.gflops),
  'input-grad ms': fmt(r.inputGradMs),
  'input-grad / fwd': fmt(r.inputGradMs / r.forwardMs, 2),
  'built-in input-grad ms': fmt(r.builtinInputGradMs),
  'train-step ms': fmt(r.trainStepMs),
  'train GFLOP/s': fmt((3 * r.gflops * r.forwardMs) / r.trainStepMs),
})));
