import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels } from '../../src/runtime/wasm-kernels.js';

registerWasmKernels();

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number | [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { x: [1, 7, 9, 1], filter: [3, 3, 1, 4], stride: 1, pad: 'same' },
  { x: [3, 7, 9, 3], filter: [3, 3, 3, 2], stride: 1, pad: 'valid' },
  { x: [3, 7, 9, 3], filter: [3, 3, 3, 2], stride: 2, pad: 'same' },
  { x: [1, 7, 9, 1], filter: [3, 3, 1, 5], stride: 2, pad: 'valid' },
  // Even input with stride 2: 'same' pads only bottom/right, and 'valid' leaves the last row unused.
  { x: [3, 8, 10, 3], filter: [3, 3, 3, 2], stride: 2, pad: 'same' },
  { x: [1, 8, 10, 3], filter: [3, 3, 3, 2], stride: 2, pad: 'valid' },
  // Even filters make 'same' padding asymmetric.
  { x: [3, 6, 7, 1], filter: [2, 2, 1, 3], stride: 2, pad: 'same' },
  { x: [1, 6, 7, 3], filter: [4, 2, 3, 2], stride: 1, pad: 'same' },
  { x: [1, 9, 7, 1], filter: [5, 5, 1, 2], stride: 1, pad: 'valid' },
  { x: [3, 5, 5, 3], filter: [1, 1, 3, 4], stride: 2, pad: 'valid' },
  { x: [1, 7, 9, 3], filter: [3, 3, 3, 2], stride: 1, pad: 2 },
  { x: [3, 7, 9, 1], filter: [3, 3, 1, 2], stride: 2, pad: [[0, 0], [0, 2], [1, 0], [0, 0]] },
  { x: [2, 12, 11, 2], filter: [3, 3, 2, 3], stride: 3, pad: 'same' },
  // Wider inputs, where the batch-as-channels filter gradient has more than one input map.
  { x: [2, 7, 9, 5], filter: [3, 3, 5, 3], stride: 1, pad: 'same' },
  { x: [2, 8, 7, 6], filter: [3, 3, 6, 2], stride: 2, pad: 'valid' },
  // Unequal strides fall back to the built-in input-gradient loop.
  { x: [1, 7, 9, 2], filter: [3, 3, 2, 2], stride: [1, 2], pad: 'same' },
];

const label = (c: Case) => `x ${c.x.join('x')}, filter ${c.filter.join('x')}, stride ${c.stride}, pad ${JSON.stringify(c.pad)}`;

/** Deterministic, sign-varying values so every weight and pixel matters. */
function values(size: number, seed: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 1.5);
}

function outputShape(c: Case): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.stride, 1, c.pad, undefined, false, 'channelsLast').outShape;
}

interface Gradients {
  dx: Float32Array;
  dw: Float32Array;
}

/** Both conv2d gradient kernels on `backend`, asserting nothing leaks in the engine or the backend. */
async function gradientKernels(t: import('ava').ExecutionContext, backend: string, c: Case): Promise<Gradients> {
  await tf.setBackend(backend);
  const dyShape = outputShape(c);
  const x = tf.tensor4d(values(tf.util.sizeFromShape(c.x), 1), c.x);
  const filter = tf.tensor4d(values(tf.util.sizeFromShape(c.filter), 2), c.filter);
  const dy = tf.tensor(values(tf.util.sizeFromShape(dyShape), 3), dyShape);
  const tensorsBefore = tf.memory().numTensors;
  const dataBefore = tf.engine().backend.numDataIds();
  const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  const dxT = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const dwT = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: c.filter } as unknown as tf.NamedAttrMap) as tf.Tensor;
  t.deepEqual(dxT.shape, c.x, `${backend} dx shape, ${label(c)}`);
  t.deepEqual(dwT.shape, c.filter, `${backend} dw shape, ${label(c)}`);
  const result = { dx: dxT.dataSync() as Float32Array, dw: dwT.dataSync() as Float32Array };
  tf.dispose([dxT, dwT]);
  t.is(tf.memory().numTensors, tensorsBefore, `${backend} leaked tensors, ${label(c)}`);
  t.is(tf.engine().backend.numDataIds(), dataBefore, `${backend} leaked backend buffers, ${label(c)}`);
  tf.dispose([x, filter, dy]);
  return result;
}

/** Largest deviation relative to the reference's largest magnitude. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxDiff / maxRef;
}

test.serial('Conv2DBackpropInput and Conv2DBackpropFilter on wasm match cpu', async (t) => {
  for (const c of CASES) {
    const expected = await gradientKernels(t, 'cpu', c);
    const actual = await gradientKernels(t, 'wasm', c);
    t.true(relativeError(actual.dx, expected.dx) < 1e-4, `dx differs, ${label(c)}: ${relativeError(actual.dx, expected.dx)}`);
    t.true(relativeError(actual.dw, expected.dw) < 1e-4, `dw differs, ${label(c)}: ${relativeError(actual.dw, expected.dw)}`);
  }
});

test.serial('tf.grad through conv2d, relu and maxPool on wasm equals cpu, without leaks', async (t) => {
  const xShape: [number, number, number, number] = [3, 9, 7, 3];
  const wShape: [number, number, number, number] = [3, 3, 3, 4];
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const x = tf.tensor4d(values(tf.util.sizeFromShape(xShape), 4), xShape);
    const w = tf.tensor4d(values(tf.util.sizeFromShape(wShape), 5), wShape);
    const before = tf.memory().numTensors;
    const lossGrads = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
      const h = tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'));
      return tf.maxPool(h, 2, 2, 'same').square().sum();
    });
    const [dx, dw] = lossGrads([x, w]);
    const result = { dx: dx!.dataSync() as Float32Array, dw: dw!.dataSync() as Float32Array };
    tf.dispose([dx!, dw!]);
    t.is(tf.memory().numTensors, before, `${backend}: tf.grads leaked tensors`);
    tf.dispose([x, w]);
    return result;
  };
  const expected = await run('cpu');
  const actual = await run('wasm');
  t.true(relativeError(actual.dx, expected.dx) < 1e-4, `dx relative error ${relativeError(actual.dx, expected.dx)}`);
  t.true(relativeError(actual.dw, expected.dw) < 1e-4, `dw relative error ${relativeError(actual.dw, expected.dw)}`);
});

test.serial('registration is idempotent and replaces the built-in input gradient', (t) => {
  const input = tf.getKernel(tf.Conv2DBackpropInput, 'wasm');
  const filter = tf.getKernel(tf.Conv2DBackpropFilter, 'wasm');
  t.truthy(filter, 'wasm has a Conv2DBackpropFilter kernel');
  // Ours composes other kernels; the built-in one is a single wasm function of that name.
  t.notRegex(String(input?.kernelFunc), /wasmConv2DBackpropInput\(/);
  registerWasmKernels();
  t.is(tf.getKernel(tf.Conv2DBackpropInput, 'wasm')?.kernelFunc, input?.kernelFunc);
  t.is(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm')?.kernelFunc, filter?.kernelFunc);
});

test.serial('NCHW gradients fail with a message naming the supported layout', async (t) => {
  await tf.setBackend('wasm');
  const dy = tf.zeros([1, 2, 3, 3]);
  const filter = tf.zeros([3, 3, 2, 2]);
  const err = t.throws(() => tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, {
    strides: 1, pad: 'same', dataFormat: 'NCHW', inputShape: [1, 2, 3, 3],
  } as unknown as tf.NamedAttrMap));
  t.regex(err?.message ?? '', /NHWC/);
  tf.dispose([dy, filter]);
});

test.serial('Tile on wasm matches cpu for float, int and bool tensors', async (t) => {
  const cases: [number[], number[]][] = [
    [[1, 1, 1, 4], [3, 5, 2, 1]],
    [[2, 3], [1, 1]],
    [[2, 1, 3], [2, 4, 1]],
    [[3, 2, 1], [1, 1, 5]],
    [[5], [3]],
    [[2, 3, 4], [2, 1, 3]],
    [[2, 0], [2, 2]],
  ];
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    for (const [shape, reps] of cases) {
      const size = tf.util.sizeFromShape(shape);
      const data = dtype === 'bool' ? Array.from({ length: size }, (_, i) => i % 3 === 0) : Array.from({ length: size }, (_, i) => i * 7 - 5);
      const tileOn = async (backend: string) => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const out = tf.tile(tf.tensor(data, shape, dtype), reps);
          return { shape: out.shape, values: Array.from(out.dataSync()) };
        });
      };
      const before = tf.memory().numTensors;
      t.deepEqual(await tileOn('wasm'), await tileOn('cpu'), `${dtype} ${shape} x ${reps}`);
      t.is(tf.memory().numTensors, before);
    }
  }
});

test.serial('batchNorm gradients (which tile per-channel statistics) on wasm equal cpu', async (t) => {
  const shape: [number, number, number, number] = [2, 5, 3, 4];
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const x = tf.tensor4d(values(tf.util.sizeFromShape(shape), 6), shape);
      const mean = tf.tensor1d([0.1, -0.2, 0.3, 0]);
      const variance = tf.tensor1d([1, 0.5, 2, 0.25]);
      const scale = tf.tensor1d([1.5, -1, 0.5, 2]);
      const offset = tf.tensor1d([0, 0.5, -0.5, 1]);
      const [dx, dScale] = tf.grads((a: tf.Tensor, s: tf.Tensor) =>
        tf.batchNorm(a as tf.Tensor4D, mean, variance, offset, s as tf.Tensor1D, 1e-3).square().sum())([x, scale]);
      return { dx: dx!.dataSync() as Float32Array, dScale: dScale!.dataSync() as Float32Array };
    });
  };
  const expected = await run('cpu');
  const actual = await run('wasm');
  t.true(relativeError(actual.dx, expected.dx) < 1e-5);
  t.true(relativeError(actual.dScale, expected.dScale) < 1e-5);
});

test.serial('MaxPoolGrad on wasm matches cpu, including windows with tied maxima', async (t) => {
  const cases: { shape: [number, number, number, number]; size: number; stride: number; pad: 'same' | 'valid' }[] = [
    { shape: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' },
    { shape: [3, 7, 9, 2], size: 2, stride: 2, pad: 'same' },
    { shape: [1, 7, 9, 4], size: 3, stride: 2, pad: 'same' },
    { shape: [2, 6, 5, 1], size: 3, stride: 1, pad: 'same' },
    { shape: [1, 9, 7, 2], size: 3, stride: 2, pad: 'valid' },
  ];
  for (const c of cases) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      // Small integers make windows with several equal maxima, where only the first may win.
      const x = tf.tensor4d(values(tf.util.sizeFromShape(c.shape), 7).map(Math.round), c.shape);
      const before = tf.memory().numTensors;
      const dataBefore = tf.engine().backend.numDataIds();
      const dx = tf.grad((a: tf.Tensor) => {
        const pooled = tf.maxPool(a as tf.Tensor4D, c.size, c.stride, c.pad);
        return tf.mul(pooled, tf.range(1, pooled.size + 1).reshape(pooled.shape)).sum();
      })(x);
      const result = Array.from(dx.dataSync());
      dx.dispose();
      t.is(tf.memory().numTensors, before);
      t.is(tf.engine().backend.numDataIds(), dataBefore);
      x.dispose();
      return result;
    };
    const expected = await run('cpu');
    t.true(expected.some((v) => v !== 0), 'the case routes some gradient');
    t.deepEqual(await run('wasm'), expected, `${c.shape} pool ${c.size} stride ${c.stride} ${c.pad}`);
  }
});

test.serial('Sum over leading axes on wasm matches cpu, keeps dims when asked, and frees its scratch; other axes still work', async (t) => {
  const cases: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
    { shape: [2, 5, 3, 4], axis: [0, 1, 2], keepDims: false },
    { shape: [2, 5, 3, 4], axis: [2, 0, 1], keepDims: true },
    { shape: [300, 7], axis: 0, keepDims: true },
    { shape: [3, 4, 5], axis: [-3, -2], keepDims: false },
    { shape: [3, 4, 5], axis: [1, 2], keepDims: false },
    { shape: [3, 4, 5], axis: [0, 2], keepDims: true },
  ];
  for (const c of cases) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(values(tf.util.sizeFromShape(c.shape), 8), c.shape);
      const dataBefore = tf.engine().backend.numDataIds();
      const s = tf.sum(x, c.axis, c.keepDims);
      const result = { shape: s.shape, values: s.dataSync() as Float32Array };
      s.dispose();
      t.is(tf.engine().backend.numDataIds(), dataBefore, `${backend} ${c.shape} ${c.axis}`);
      x.dispose();
      return result;
    };
    const expected = await run('cpu');
    const actual = await run('wasm');
    t.deepEqual(actual.shape, expected.shape);
    t.true(relativeError(actual.values, expected.values) < 1e-5, `${c.shape} over ${c.axis}`);
  }
});

test.serial('TopK on wasm matches cpu: values and indices, ties to the lower index, short and long k, sorted or not', async (t) => {
  const cases: { shape: number[]; k: number; sorted: boolean }[] = [
    { shape: [3, 5, 16], k: 2, sorted: true },
    { shape: [40, 32], k: 4, sorted: false },
    { shape: [7, 9], k: 9, sorted: true },
    { shape: [2, 3, 50], k: 16, sorted: true },
    { shape: [4, 196], k: 41, sorted: false },
  ];
  for (const c of cases) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      // Rounded ReLU-like values tie often, at zero and elsewhere.
      const x = tf.tensor(values(tf.util.sizeFromShape(c.shape), 5).map((v) => Math.max(0, Math.round(v))), c.shape);
      const dataBefore = tf.engine().backend.numDataIds();
      const { values: v, indices: i } = tf.topk(x, c.k, c.sorted);
      const result = { values: Array.from(v.dataSync()), indices: Array.from(i.dataSync()), shape: v.shape };
      tf.dispose([v, i]);
      t.is(tf.engine().backend.numDataIds(), dataBefore);
      x.dispose();
      return result;
    };
    const expected = await run('cpu');
    const actual = await run('wasm');
    t.deepEqual(actual.shape, expected.shape);
    if (c.sorted) {
      t.deepEqual(actual, expected, `${c.shape} k ${c.k}`);
    } else {
      // Unsorted promises the set of the k largest (ties to the lower index), in no order.
      const rows = (r: typeof expected) => r.indices.map((_, j) => j).reduce<number[][]>((acc, j) => {
        (acc[Math.floor(j / c.k)] ??= []).push(r.indices[j]!);
        return acc;
      }, []).map((row) => row.sort((a, b) => a - b));
      t.deepEqual(rows(actual), rows(expected), `${c.shape} k ${c.k}`);
    }
  }
});

test.serial('kernels stay right when allocating their output grows the wasm heap (which detaches earlier views)', async (t) => {
  const x4 = (shape: [number, number, number, number], seed: number) => tf.tensor4d(values(tf.util.sizeFromShape(shape), seed), shape);
  type Call = { kernel: string; inputs: () => tf.NamedTensorMap; attrs: tf.NamedAttrMap };
  const cases: Call[] = [
    { kernel: tf.MaxPoolGrad, inputs: () => { const input = x4([2, 6, 5, 3], 11); return { dy: x4([2, 6, 5, 3], 12), input, output: tf.maxPool(input, 3, 1, 'same') }; }, attrs: { filterSize: 3, strides: 1, pad: 'same' } },
    { kernel: tf.Conv2DBackpropInput, inputs: () => ({ dy: x4([2, 4, 3, 2], 13), filter: x4([3, 3, 3, 2], 14) }), attrs: { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 7, 6, 3] } as unknown as tf.NamedAttrMap },
    { kernel: tf.TopK, inputs: () => ({ x: tf.tensor2d(values(20 * 16, 15), [20, 16]) }), attrs: { k: 3, sorted: true } },
    { kernel: tf.Sum, inputs: () => ({ x: tf.tensor3d(values(4 * 5 * 6, 16), [4, 5, 6]) }), attrs: { axis: [0, 1], keepDims: false } },
    { kernel: tf.Tile, inputs: () => ({ x: tf.tensor2d(values(6, 17), [2, 3]) }), attrs: { reps: [3, 2] } },
  ];
  const run = (c: Call) => tf.tidy(() => {
    const out = tf.engine().runKernel(c.kernel, c.inputs(), c.attrs);
    return Float32Array.from((Array.isArray(out) ? out[0]! : out).dataSync());
  });
  await tf.setBackend('cpu');
  const expected = cases.map(run);
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as { makeOutput: (...a: unknown[]) => unknown; wasm: { _malloc(n: number): number; _free(p: number): void; HEAPU8: Uint8Array } };
  const makeOutput = backend.makeOutput;
  // Counts a kernel's allocations, then grows the heap right after the last one, where a
  // kernel that took its input views before allocating would read detached memory.
  let calls = 0;
  let growAt = -1;
  let grew = false;
  backend.makeOutput = function (this: unknown, ...a: unknown[]) {
    const out = makeOutput.apply(this, a);
    if (++calls === growAt) {
      const before = backend.wasm.HEAPU8.buffer;
      // A block the size of the whole heap makes it grow, as a big activation can.
      backend.wasm._free(backend.wasm._malloc(backend.wasm.HEAPU8.length));
      grew = backend.wasm.HEAPU8.buffer !== before;
    }
    return out;
  };
  try {
    cases.forEach((c, i) => {
      const once = () => tf.tidy(() => {
        const inputs = c.inputs();
        calls = 0;
        const out = tf.engine().runKernel(c.kernel, inputs, c.attrs);
        const allocations = calls;
        return { values: Float32Array.from((Array.isArray(out) ? out[0]! : out).dataSync()), allocations };
      });
      growAt = once().allocations;
      grew = false;
      const actual = once().values;
      growAt = -1;
      t.true(grew, `${c.kernel}: the heap grew inside the kernel`);
      t.true(relativeError(actual, expected[i]!) < 1e-5, c.kernel);
    });
  } finally {
    backend.makeOutput = makeOutput;
  }
});
