import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { recomputeMovingStatistics, TrainingBatchNormalization } from '../../src/layers/batch-norm-training.js';
import { useBackend } from '../../src/runtime/backends.js';

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 2 + 0.5);

/** A stock layer and ours, built on the same input shape with the same non-trivial weights. */
function pair(shape: number[]): [tf.layers.Layer, tf.layers.Layer] {
  const stock = tf.layers.batchNormalization({ momentum: 0.9 });
  const ours = new TrainingBatchNormalization({ momentum: 0.9 });
  const channels = shape[shape.length - 1]!;
  for (const layer of [stock, ours]) {
    layer.build(shape);
    layer.setWeights([1, 2, 3, 4].map((seed) => tf.tensor1d(values(channels, seed).map((v, i) => (seed === 4 ? 1 + Math.abs(v) + i : v)))));
  }
  return [stock, ours];
}

/** Training-mode output, gradients of a weighted sum w.r.t. input, gamma and beta, and the moving statistics after. */
function trainStep(layer: tf.layers.Layer, x: tf.Tensor) {
  const weights = tf.tensor(values(x.size, 9), x.shape);
  const f = (input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, weights));
  const dx = tf.grad(f)(x);
  const { value, grads } = tf.variableGrads(() => f(x) as tf.Scalar);
  const y = layer.apply(x, { training: true }) as tf.Tensor;
  const out = {
    y: Array.from(y.dataSync()),
    loss: value.dataSync()[0]!,
    dx: Array.from(dx.dataSync()),
    dGamma: Array.from(Object.values(grads)[0]!.dataSync()),
    dBeta: Array.from(Object.values(grads)[1]!.dataSync()),
    moving: layer.getWeights().slice(2).map((w) => Array.from(w.dataSync())),
  };
  tf.dispose([weights, y, dx, value, ...Object.values(grads)]);
  return out;
}

const close = (t: import('ava').ExecutionContext, a: number[], b: number[], what: string) => {
  t.is(a.length, b.length, what);
  const scale = Math.max(1, ...b.map(Math.abs));
  a.forEach((v, i) => t.true(Math.abs(v - b[i]!) <= 2e-5 * scale, `${what}[${i}]: ${v} vs ${b[i]}`));
};

for (const backend of ['cpu', 'wasm'] as const) {
  test.serial(`${backend}: training-mode output, input/gamma/beta gradients and moving averages equal the stock layer's; inference is untouched`, async (t) => {
    await useBackend(backend);
    for (const shape of [[3, 5, 4, 6], [40, 3]]) {
      const [stock, ours] = pair(shape);
      const x = tf.tensor(values(tf.util.sizeFromShape(shape), 5), shape);
      const before = tf.memory().numTensors;
      const expected = trainStep(stock, x);
      const actual = trainStep(ours, x);
      for (const key of ['y', 'dx', 'dGamma', 'dBeta'] as const) close(t, actual[key], expected[key], `${shape} ${key}`);
      expected.moving.forEach((m, i) => close(t, actual.moving[i]!, m, `${shape} moving ${i}`));
      const infer = (layer: tf.layers.Layer) => tf.tidy(() => Array.from((layer.apply(x, { training: false }) as tf.Tensor).dataSync()));
      close(t, infer(ours), infer(stock), `${shape} inference`);
      t.is(tf.memory().numTensors, before, 'no tensor left behind');
      x.dispose();
    }
  });
}

test('it saves as BatchNormalization and the stock class name loads as it', (t) => {
  const [, ours] = pair([2, 3]);
  t.is(ours.getClassName(), 'BatchNormalization');
  const restored = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization![0];
  t.is(restored, TrainingBatchNormalization as unknown as typeof restored);
});

test.serial('recomputeMovingStatistics sets the moving mean and variance to those of all the images, over batches of any size', async (t) => {
  await useBackend('wasm');
  const input = tf.input({ shape: [3, 2, 4] });
  const bn = new TrainingBatchNormalization({ name: 'first_bn' });
  const after = new TrainingBatchNormalization({ name: 'second_bn' });
  const model = tf.model({ inputs: input, outputs: after.apply(tf.layers.dense({ units: 2 }).apply(bn.apply(input)) as tf.SymbolicTensor) as tf.SymbolicTensor });
  // Offset channels and batches of 5, 2 and 9 images: per-batch means differ, so averaging them (or their variances) would be wrong.
  const sizes = [5, 2, 9];
  const all = values(16 * 24, 3).map((v, i) => v * (1 + (i % 4)) + 10 * (i % 4) + (i < 5 * 24 ? 3 : 0));
  const before = tf.memory().numTensors;
  const probe = tf.tensor4d(all.subarray(0, 48), [2, 3, 2, 4]);
  tf.dispose(bn.apply(probe, { training: true, updateMovingAverages: false }) as tf.Tensor);
  probe.dispose();
  t.deepEqual(bn.getWeights().slice(2).map((w) => Array.from(w.dataSync())), [[0, 0, 0, 0], [1, 1, 1, 1]], 'a training pass without moving averages leaves them alone');
  let start = 0;
  const batches = sizes.map((n) => {
    const x = tf.tensor4d(all.subarray(start * 24, (start + n) * 24), [n, 3, 2, 4]);
    start += n;
    return x;
  });
  await recomputeMovingStatistics(model, batches);
  tf.dispose(batches);
  t.is(tf.memory().numTensors, before, 'no tensor left behind');
  const [mean, variance] = bn.getWeights().slice(2).map((w) => Array.from(w.dataSync()));
  for (let c = 0; c < 4; c++) {
    const column = Array.from(all).filter((_, i) => i % 4 === c);
    const m = column.reduce((a, b) => a + b, 0) / column.length;
    const v = column.reduce((a, b) => a + (b - m) ** 2, 0) / column.length;
    t.true(Math.abs(mean![c]! - m) < 1e-4 * Math.abs(m), `mean[${c}] ${mean![c]} vs ${m}`);
    t.true(Math.abs(variance![c]! - v) < 1e-4 * v, `variance[${c}] ${variance![c]} vs ${v}`);
  }
  const second = after.getWeights().slice(2).map((w) => Array.from(w.dataSync()));
  t.notDeepEqual(second, [[0, 0], [1, 1]], 'the later layer is set too');
  model.dispose();
});
