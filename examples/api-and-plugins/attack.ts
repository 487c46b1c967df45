import * as tf from '@tensorflow/tfjs';
import { attack, loadZooModel } from 'robench';
import { pgd } from 'robench/attacks';

await tf.setBackend('cpu'); // choose a backend before building tensors; attack() keeps the active one
// your own images (NHWC, pixels in [0, 1]) and labels; here random images, labelled by the model itself
const model = await loadZooModel('baseline', 'mnist');
const x = tf.randomUniform([6, 28, 28, 1], 0, 1, 'float32', 0) as tf.Tensor4D;
const y = tf.tidy(() => tf.argMax(model.logits(x), 1)) as tf.Tensor1D;

// per budget: the examples (checked in [0, 1] and within eps), which fool the model, their norms
const result = await attack({ model, x, y, attack: pgd, eps: [0.05, 0.15], params: { steps: 10 }, seed: 0 });
for (const b of result.budgets) console.log(`eps ${b.eps.toFixed(4)}: ${b.success.filter(Boolean).length}/6 fooled, largest l-inf ${Math.max(...b.norms).toFixed(4)}`);
const worst = result.budgets[1]!.x; // a tf.Tensor4D: save it, show it, train on it

// minimization attacks (fab, fmn) also return each sample's smallest adversarial example
const fab = await attack({ model, x, y, attack: 'fab', eps: 0.2, params: { steps: 10 } });
console.log('minimal l-inf norms:', Array.from(fab.minimal!.norms, (v) => v.toFixed(3)).join(' '), worst.shape);
result.dispose(); // frees every example tensor
fab.dispose();
tf.dispose([x, y]);
model.dispose();
