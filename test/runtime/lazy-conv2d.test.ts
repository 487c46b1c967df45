import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { LazyGradConv2D } from '../../src/layers/lazy-conv2d.js';
import { loadLayersModelFrom, saveLayersModelTo } from '../../src/runtime/model-io.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

/** A plain tfjs model built from the stock layers: conv with bias and fused ReLU, conv without bias, dense. */
function stockModel(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.randomNormal({ seed: 1 }), biasInitializer: tf.initializers.randomNormal({ seed: 2 }) }));
  m.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, useBias: false, kernelInitializer: tf.initializers.randomNormal({ seed: 3 }) }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 5, kernelInitializer: tf.initializers.randomNormal({ seed: 4 }) }));
  return m;
}

const x = () => tf.tensor4d(Array.from({ length: 2 * 72 }, (_, i) => ((i * 37) % 29) / 29), [2, 6, 6, 2]);
const inputGrad = (m: tf.LayersModel, input: tf.Tensor) => tf.grad((v: tf.Tensor) => tf.sum(tf.square(m.apply(v) as tf.Tensor)))(input);
const kernelsOf = async (f: () => tf.Tensor) => (await tf.profile(() => f())).kernelNames;

test.serial('a loaded model gets LazyGradConv2D: same logits, input and weight gradients, saved as Conv2D, and no filter gradient in an input gradient', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-lazyconv-'));
  const stock = stockModel();
  await saveLayersModelTo(stock, dir);
  const lazy = await loadLayersModelFrom(join(dir, 'model.json'));
  t.true(lazy.layers.filter((l) => l.getClassName() === 'Conv2D').every((l) => l instanceof LazyGradConv2D));
  t.is(lazy.layers.filter((l) => l instanceof LazyGradConv2D).length, 2);

  const input = x();
  t.deepEqual((lazy.apply(input) as tf.Tensor).dataSync(), (stock.apply(input) as tf.Tensor).dataSync());
  const gs = inputGrad(stock, input).dataSync();
  const gl = inputGrad(lazy, input).dataSync();
  gl.forEach((v, i) => t.true(Math.abs(v - gs[i]) <= 1e-5 * (1 + Math.abs(gs[i])), `input gradient ${i}: ${v} vs ${gs[i]}`));

  const weightGrads = (m: tf.LayersModel) => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.apply(input) as tf.Tensor)) as tf.Scalar);
    value.dispose();
    return Object.values(grads).map((g) => Array.from(g.dataSync()));
  };
  const ws = weightGrads(stock);
  const wl = weightGrads(lazy);
  t.is(wl.length, 5);
  wl.forEach((g, k) => g.forEach((v, i) => t.true(Math.abs(v - ws[k][i]) <= 1e-4 * (1 + Math.abs(ws[k][i])), `weight ${k} gradient ${i}`)));

  t.true((await kernelsOf(() => inputGrad(stock, input))).includes('Conv2DBackpropFilter'), 'the stock layer pays for filter gradients');
  t.false((await kernelsOf(() => inputGrad(lazy, input))).includes('Conv2DBackpropFilter'));

  const again = join(dir, 'again');
  await saveLayersModelTo(lazy, again);
  const json = await readFile(join(again, 'model.json'), 'utf8');
  t.is(json.match(/"class_name":"Conv2D"/g)?.length, 2, 'saved under the stock class name, loadable without robench');
  tf.dispose([input]);
  await rm(dir, { recursive: true, force: true });
});
