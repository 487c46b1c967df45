import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { DivisiveNormalization, FractionalThreshold, hahCost, NormalizedConv2D } from '../../src/layers/hah.js';
import { Normalize } from '../../src/layers/normalize.js';
import { buildModel, initializeWeights, type Architecture } from '../../src/nets/architectures.js';
import { forwardTrain } from '../../src/training/hah-objective.js';
import { scalarRng } from '../../src/core/rng.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

type Arr4 = number[][][][];
const N = 2;
const H = 5;
const W = 4;
const C = 3;

/** Deterministic pseudo-random values in [-1, 1), well separated (no ties). */
function values(count: number, seed: number): number[] {
  const r = scalarRng(seed, 'hah-layers-test');
  return Array.from({ length: count }, () => 2 * r() - 1);
}
const to4 = (flat: number[], [n, h, w, c]: number[]): Arr4 =>
  Array.from({ length: n }, (_, a) =>
    Array.from({ length: h }, (_, b) => Array.from({ length: w }, (_, d) => Array.from({ length: c }, (_, e) => flat[((a * h + b) * w + d) * c + e]))),
  );
const flat4 = (a: Arr4): number[] => a.flat(3);

/** Central differences of sum(f(x) * r) computed in float64 with the reference loops. */
function numericGrad(f: (x: number[]) => number[], x: number[], r: number[], h = 1e-4): number[] {
  const dot = (y: number[]) => y.reduce((s, v, i) => s + v * r[i], 0);
  return x.map((_, i) => {
    const up = [...x];
    const down = [...x];
    up[i] += h;
    down[i] -= h;
    return (dot(f(up)) - dot(f(down))) / (2 * h);
  });
}

function assertClose(t: { true: (v: boolean, msg?: string) => void }, actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  t.true(actual.length === expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  t.true(worst < tol, `${what}: worst relative error ${worst}`);
}

/** Layer output and d sum(out * r)/dx from tfjs. */
function tfValueAndGrad(layer: tf.layers.Layer, x: number[], shape: number[], r: number[]): { y: Float32Array; g: Float32Array } {
  return tf.tidy(() => {
    const xt = tf.tensor(x, shape);
    const y = layer.apply(xt) as tf.Tensor;
    const outShape = y.shape;
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a) as tf.Tensor, tf.tensor(r, outShape))))(xt);
    return { y: y.dataSync() as Float32Array, g: g.dataSync() as Float32Array };
  });
}

// --- reference implementations with plain loops ---

function refNormConv(x: Arr4, k: number[][][][], cout: number): Arr4 {
  const [n, h, w, cin] = [x.length, x[0].length, x[0][0].length, x[0][0][0].length];
  const norms = Array.from({ length: cout }, (_, o) => {
    let s = 0;
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < cin; c++) s += k[a][b][c][o] ** 2;
    return Math.sqrt(s) + 1e-6;
  });
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: h }, (_, y) =>
      Array.from({ length: w }, (_, z) =>
        Array.from({ length: cout }, (_, o) => {
          let s = 0;
          for (let a = 0; a < 3; a++) {
            for (let b = 0; b < 3; b++) {
              const yy = y + a - 1;
              const zz = z + b - 1;
              if (yy < 0 || yy >= h || zz < 0 || zz >= w) continue;
              for (let c = 0; c < cin; c++) s += x[i][yy][zz][c] * k[a][b][c][o];
            }
          }
          return s / norms[o];
        }),
      ),
    ),
  );
}

function refDivNorm(x: Arr4, sigma: number): Arr4 {
  const [n, h, w, c] = [x.length, x[0].length, x[0][0].length, x[0][0][0].length];
  return x.map((img) => {
    const s = Array.from({ length: h }, (_, y) =>
      Array.from({ length: w }, (_, z) => {
        let total = 0;
        for (let ch = 0; ch < c; ch++) {
          let m = -Infinity;
          for (let a = -1; a <= 1; a++) {
            for (let b = -1; b <= 1; b++) {
              const yy = y + a;
              const zz = z + b;
              if (yy >= 0 && yy < h && zz >= 0 && zz < w) m = Math.max(m, Math.abs(img[yy][zz][ch]));
            }
          }
          total += m;
        }
        return total / c;
      }),
    );
    const peak = Math.max(...s.flat());
    return img.map((row, y) => row.map((px, z) => px.map((v) => v / (sigma * peak + (1 - sigma) * s[y][z] + 1e-7))));
  }).slice(0, n);
}

function refThreshold(x: Arr4, ratio: number): Arr4 {
  const [h, w, c] = [x[0].length, x[0][0].length, x[0][0][0].length];
  const k = Math.floor((1 - ratio) * h * w);
  return x.map((img) => {
    const thr = Array.from({ length: c }, (_, ch) => (k === 0 ? -Infinity : img.flat().map((px) => px[ch]).sort((a, b) => a - b)[k - 1]));
    return img.map((row) => row.map((px) => px.map((v, ch) => (v > thr[ch] ? v : 0))));
  });
}

function refHah(a: Arr4, ratio: number, lambda: number): number {
  const c = a[0][0][0].length;
  const k = Math.ceil(ratio * c);
  const positions = a.flat(2);
  const per = positions.map((v) => {
    const sorted = [...v].sort((p, q) => q - p);
    const top = sorted.slice(0, k).reduce((s, u) => s + u, 0) / k;
    const rest = sorted.slice(k).reduce((s, u) => s + u, 0) / (c - k);
    return top - lambda * rest;
  });
  return per.reduce((s, u) => s + u, 0) / per.length;
}

test('Normalize subtracts the mean and divides by the std per channel', (t) => {
  const layer = new Normalize({ mean: [0.5, 0.25], std: [0.5, 2] });
  const x = values(2 * 3 * 3 * 2, 1).map((v) => (v + 1) / 2);
  const { y } = tfValueAndGrad(layer, x, [2, 3, 3, 2], x);
  assertClose(t, y, x.map((v, i) => (i % 2 === 0 ? (v - 0.5) / 0.5 : (v - 0.25) / 2)), 1e-6, 'normalize');
  t.throws(() => new Normalize({ mean: [0], std: [0] }), { message: /positive std/ });
});

test('NormalizedConv2D equals a conv by unit-norm filters, with matching input and kernel gradients', (t) => {
  const cout = 2;
  const layer = new NormalizedConv2D({ filters: cout });
  const shape = [N, H, W, C];
  const x = values(N * H * W * C, 2);
  layer.build(shape);
  const kFlat = values(3 * 3 * C * cout, 3);
  layer.setWeights([tf.tensor(kFlat, [3, 3, C, cout])]);
  const kArr = to4(kFlat, [3, 3, C, cout]);
  const r = values(N * H * W * cout, 4);
  const { y, g } = tfValueAndGrad(layer, x, shape, r);
  assertClose(t, y, flat4(refNormConv(to4(x, shape), kArr, cout)), 1e-5, 'values');
  assertClose(t, g, numericGrad((v) => flat4(refNormConv(to4(v, shape), kArr, cout)), x, r), 1e-3, 'input gradient');

  const kGrad = tf.tidy(() => {
    const [gk] = tf.grads((k: tf.Tensor) => tf.sum(tf.mul(tf.div(tf.conv2d(tf.tensor4d(x, shape as [number, number, number, number]), k as tf.Tensor4D, 1, 'same'), tf.add(tf.sqrt(tf.sum(tf.square(k), [0, 1, 2])), 1e-6)), tf.tensor(r, [N, H, W, cout]))))([
      tf.tensor(kFlat, [3, 3, C, cout]),
    ]);
    return gk.dataSync();
  });
  const viaLayer = tf.tidy(() => {
    const [kv] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(tf.tensor(x, shape)) as tf.Tensor, tf.tensor(r, [N, H, W, cout]))) as tf.Scalar, [kv]);
    return grads[kv.name].dataSync();
  });
  const expectedK = numericGrad((k) => flat4(refNormConv(to4(x, shape), to4(k, [3, 3, C, cout]), cout)), kFlat, r);
  assertClose(t, viaLayer, expectedK, 1e-3, 'kernel gradient (layer)');
  assertClose(t, kGrad, expectedK, 1e-3, 'kernel gradient (ops)');
  layer.weights.forEach((w) => w.dispose());
});

test('DivisiveNormalization matches the suppression-field formula, values and gradients', (t) => {
  const sigma = 0.3;
  const layer = new DivisiveNormalization({ sigma });
  const shape = [N, H, W, C];
  const x = values(N * H * W * C, 5);
  const r = values(N * H * W * C, 6);
  const { y, g } = tfValueAndGrad(layer, x, shape, r);
  assertClose(t, y, flat4(refDivNorm(to4(x, shape), sigma)), 1e-5, 'values');
  assertClose(t, g, numericGrad((v) => flat4(refDivNorm(to4(v, shape), sigma)), x, r), 2e-3, 'gradient');
  t.throws(() => new DivisiveNormalization({ sigma: 2 }), { message: /sigma/ });
});

test('FractionalThreshold keeps the values above the k-th smallest per channel; the gradient is the kept mask', (t) => {
  const ratio = 0.2;
  const layer = new FractionalThreshold({ ratio });
  const shape = [N, H, W, C];
  const x = values(N * H * W * C, 7);
  const r = values(N * H * W * C, 8);
  const { y, g } = tfValueAndGrad(layer, x, shape, r);
  const expected = flat4(refThreshold(to4(x, shape), ratio));
  assertClose(t, y, expected, 1e-6, 'values');
  // H*W = 20, k = 16: exactly 4 values per sample and channel survive.
  t.is(expected.filter((v) => v !== 0).length, N * C * 4);
  assertClose(t, g, expected.map((v, i) => (v !== 0 ? r[i] : 0)), 1e-6, 'gradient');
});

test('hahCost is mean(top K) - lambda * mean(rest) over positions; the gradient flows through the values', (t) => {
  const c = 12;
  const shape = [N, 3, 2, c];
  const a = values(N * 3 * 2 * c, 9).map((v) => Math.max(0, v));
  for (const [ratio, lambda] of [[0.1, 1], [0.25, 0.1]]) {
    const { cost, g } = tf.tidy(() => {
      const at = tf.tensor4d(a, shape as [number, number, number, number]);
      const grad = tf.grad((v: tf.Tensor) => hahCost(v as tf.Tensor4D, { ratio, lambda }))(at);
      return { cost: hahCost(at, { ratio, lambda }).dataSync()[0], g: grad.dataSync() };
    });
    t.true(Math.abs(cost - refHah(to4(a, shape), ratio, lambda)) < 1e-5, `cost ${cost}`);
    assertClose(t, g, numericGrad((v) => [refHah(to4(v, shape), ratio, lambda)], a, [1], 1e-5), 1e-3, `gradient ratio ${ratio}`);
  }
});

/** The identity with a zero gradient: the plain way to write a stop-gradient in tfjs. */
const stopGradient = (x: tf.Tensor): tf.Tensor =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const v = args[0] as tf.Tensor;
    return { value: tf.clone(v), gradFunc: () => tf.zerosLike(v) };
  })(x);

test("each HaH term reaches only its own layer's weights", (t) => {
  const arch: Architecture = {
    family: 'hebbian',
    size: 'compact',
    blocks: [
      { filters: 4, hah: true, pool: false },
      { filters: 6, hah: true, pool: true },
      { filters: 4, hah: false, pool: true },
    ],
    hah: { alphas: [0.01, 0.01], lambda: 1, ratio: 0.25, sigma: 0.1, thresholdRatio: 0.5 },
  };
  const model = buildModel(arch, [8, 8, 1], 3, { mean: [0.5], std: [0.25] });
  initializeWeights(model, scalarRng(3, 'locality'));
  const k1 = model.getLayer('block1_conv').trainableWeights[0].read() as tf.Variable;
  const k2 = model.getLayer('block2_conv').trainableWeights[0].read() as tf.Variable;
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(values(2 * 64, 10).map((v) => (v + 1) / 2), [2, 8, 8, 1]);
  const norm = (g: tf.Tensor | undefined) => (g === undefined ? 0 : tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]));
  const hah2 = tf.tidy(() => tf.variableGrads(() => forwardTrain(model, arch, x).hah[1], [k1, k2]).grads);
  t.is(norm(hah2[k1.name]), 0, 'HaH term of layer 2 must not reach layer 1');
  t.true(norm(hah2[k2.name]) > 0, 'HaH term of layer 2 must reach layer 2');
  const ce = tf.tidy(() => tf.variableGrads(() => tf.sum(forwardTrain(model, arch, x).logits) as tf.Scalar, [k1, k2]).grads);
  t.true(norm(ce[k1.name]) > 0, 'the classifier loss still reaches layer 1');
  // The shared-convolution local copy must give exactly the gradients of the plain
  // formulation: the layer applied again to a gradient-stopped copy of its input.
  const reference = (input: tf.Tensor4D) => {
    let a: tf.Tensor = input;
    const hah: tf.Scalar[] = [];
    for (const layer of model.layers.slice(1)) {
      if (layer instanceof NormalizedConv2D) {
        const stopped = stopGradient(a);
        hah.push(hahCost(tf.relu(layer.apply(stopped) as tf.Tensor4D), { ratio: arch.hah.ratio, lambda: arch.hah.lambda }));
      }
      a = layer.apply(a, { training: true }) as tf.Tensor;
    }
    return { logits: a as tf.Tensor2D, hah };
  };
  const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const objective = (f: typeof reference) => () => {
    const { logits, hah } = f(x);
    return tf.sub(tf.sum(tf.mul(logits, tf.range(1, logits.size + 1).reshape(logits.shape))), tf.addN(hah.map((h, i) => tf.mul(h, 10 * (i + 1))))) as tf.Scalar;
  };
  const got = tf.tidy(() => tf.variableGrads(objective((input) => forwardTrain(model, arch, input)), weights).grads);
  const want = tf.tidy(() => tf.variableGrads(objective(reference), weights).grads);
  for (const w of weights) {
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(got[w.name]!, want[w.name]!))).dataSync()[0]! / (tf.max(tf.abs(want[w.name]!)).dataSync()[0]! + 1e-12));
    t.true(diff < 1e-5, `${w.name}: relative difference ${diff}`);
  }
  tf.dispose([x, ...Object.values(hah2), ...Object.values(ce), ...Object.values(got), ...Object.values(want)]);
  t.is(tf.memory().numTensors, before);
  model.dispose();
});
