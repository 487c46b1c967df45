/**
 * benchmark() on a model built in code: a linear detector of brightness on the dataset plugin,
 * attacked with PGD. Its logit margin on an image is proportional to the image's margin (see
 * the dataset), so l-inf PGD must break exactly the images within eps of the boundary: the
 * script checks it.
 */
import * as tf from '@tensorflow/tfjs';
import { benchmark } from 'robench';
import brightnessData, { margin, TEST_OFFSET } from './plugins/brightness-dataset.js';

// Importing robench registers the wasm backend, which starts asynchronously: choose a backend
// before building tensors. benchmark() evaluates on the backend active when it is called.
await tf.setBackend('cpu');
const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 1] }), tf.layers.dense({ units: 2 })] });
// logit_bright - logit_dark = 2 * (mean pixel - 0.5)
model.layers[1]!.setWeights([tf.concat([tf.fill([64, 1], -1 / 64), tf.fill([64, 1], 1 / 64)], 1), tf.tensor1d([0.5, -0.5])]);

const eps = [0, 0.1, 0.2, 0.3];
const samples = 64;
const result = await benchmark({
  model,
  modelId: 'linear-brightness',
  dataset: brightnessData,
  attack: 'pgd',
  params: { steps: 10 },
  eps,
  samples,
  onProgress: (p) => process.stderr.write(`\r${p.phase} ${p.done}/${p.total}`),
});
process.stderr.write('\n');

for (const point of result.points) {
  const expected = Array.from({ length: samples }, (_, i) => margin(TEST_OFFSET + i)).filter((m) => m > point.perturbation + 1e-6).length;
  console.log(`eps ${point.perturbation}: ${point.correct}/${point.total} robust (closed form: ${expected})`);
  if (point.correct !== expected) {
    console.error(`benchmark() disagrees with the closed form at eps ${point.perturbation}`);
    process.exit(1);
  }
}
