import * as tf from '@tensorflow/tfjs';
import { benchmark } from 'robench';

// a zoo model: the result is the run robench run writes to results.json (one of its `runs`)
const result = await benchmark({ model: 'hebbian', dataset: 'mnist', attack: 'pgd', eps: [0, 0.1, 0.2], samples: 200, seed: 0,
  onProgress: (p) => console.error(`${p.done}/${p.total}`) });
console.log(result.points.map((p) => `${p.perturbation}: ${(100 * p.accuracy).toFixed(1)}%`));

// a model held in memory: a tf.LayersModel, a tf.GraphModel, or any function to logits
await tf.setBackend('cpu'); // choose a backend before building tensors; benchmark() keeps the active one
const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })] });
await benchmark({ model: net, inputRange: [0, 255], dataset: 'mnist', attack: 'fgsm', eps: '0,8/255' });
await benchmark({ model: { logits: (x) => net.predict(x) as tf.Tensor2D, inputShape: [28, 28, 1], numClasses: 10 }, dataset: 'mnist', attack: 'gaussian' });
