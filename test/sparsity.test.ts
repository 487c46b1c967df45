import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { SparsityAccumulator, sparsityStats } from '../src/sparsity.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

const close = (a: number, b: number) => Math.abs(a - b) < 1e-6;

// Serial: the leak checks count every live tensor, and async tests would interleave.
test.serial('statistics match a hand computation', async (t) => {
  // Positions: [0,0,3,4] (l1 7, l2 5), [1,1,1,1] (l1 4, l2 2), [0,0,0,0] (all zero: Hoyer 1).
  const values = tf.tensor4d([0, 0, 3, 4, 1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 3, 4]);
  const before = tf.memory().numTensors;
  const [s] = await sparsityStats([{ name: 'block1', values }], { ratio: 0.25, bins: 4, histogramMax: 4 });
  t.is(tf.memory().numTensors, before);
  t.is(s.name, 'block1');
  t.true(close(s.zeroFraction, 6 / 12));
  t.true(close(s.hoyer, ((2 - 7 / 5) / 1 + 0 + 1) / 3), `hoyer ${s.hoyer}`);
  // K = 1: top means 4, 1, 0; rest means 1, 1, 0.
  t.true(close(s.topKMean, 5 / 3));
  t.true(close(s.restMean, 2 / 3));
  t.deepEqual(s.histogram, { edges: [0, 1, 2, 3, 4], counts: [6, 4, 0, 2] });
  values.dispose();
});

test.serial('accumulating batches and merging accumulators equals one pass over everything', async (t) => {
  const all = tf.tidy(() => tf.relu(tf.sub(tf.randomUniform([6, 3, 3, 10], 0, 2, 'float32', 7), 0.8))) as tf.Tensor4D;
  const parts = [tf.slice(all, [0, 0, 0, 0], [2, 3, 3, 10]), tf.slice(all, [2, 0, 0, 0], [4, 3, 3, 10])] as tf.Tensor4D[];
  const whole = await sparsityStats([{ name: 'a', values: all }]);
  const a = new SparsityAccumulator();
  await a.add([{ name: 'a', values: parts[0] }]);
  const b = new SparsityAccumulator();
  await b.add([{ name: 'a', values: parts[1] }]);
  a.merge(b);
  const [merged] = a.result();
  for (const k of ['zeroFraction', 'hoyer', 'topKMean', 'restMean'] as const) t.true(Math.abs(merged[k] - whole[0][k]) < 1e-5, k);
  t.deepEqual(merged.histogram, whole[0].histogram);
  t.true(merged.zeroFraction > 0.2 && merged.zeroFraction < 0.6);
  t.throws(() => a.merge(new SparsityAccumulator({ bins: 3 })), { message: /different/ });
  tf.dispose([all, ...parts]);
});
