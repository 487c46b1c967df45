/**
 * Every shipped zoo model either measures its conv blocks' activations (one entry per block, the
 * shape the sparsity report reads) or offers none: `robench run` measures them after the attack,
 * so a model whose activations() throws loses the run it just finished. The EKDAA release-forward
 * nets have no block outputs of their own, and their probe of no outputs threw.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import '../helpers/backend.js';
import { loadZooModel, zooModels } from '../../src/evaluation/zoo-api.js';

test('each shipped zoo model gives its block activations for a batch, or has no activations()', async (t) => {
  let measured = 0;
  let without = 0;
  for (const { id, datasets } of await zooModels()) {
    for (const dataset of datasets) {
      const model = await loadZooModel(id, dataset);
      try {
        if (!model.activations) {
          without++;
          continue;
        }
        const before = tf.memory().numTensors;
        const x = tf.zeros([2, ...model.inputShape]) as tf.Tensor4D;
        const blocks = model.activations(x);
        t.true(blocks.length > 0, `${id} on ${dataset}: no blocks`);
        for (const b of blocks) t.is(b.values.shape[0], 2, `${id} on ${dataset}: ${b.name}`);
        tf.dispose([x, ...blocks.flatMap((b) => [b.values, ...(b.preThreshold ? [b.preThreshold] : [])])]);
        t.is(tf.memory().numTensors, before, `${id} on ${dataset}: tensors left`);
        measured++;
      } finally {
        model.dispose();
      }
    }
  }
  t.true(measured >= 10, `${measured} models measured`);
  t.true(without >= 1, 'the EKDAA release-forward nets have no block activations');
});
