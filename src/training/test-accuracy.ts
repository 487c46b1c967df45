import * as tf from '@tensorflow/tfjs';
import type { DatasetSplit } from '../core/plugin-api.js';

/** Test-set accuracy in inference mode (batch norm with moving statistics). */
export async function evaluate(model: tf.LayersModel, split: DatasetSplit, count = split.count, batch = 256): Promise<number> {
  const per = split.shape.reduce((a, b) => a * b, 1);
  let correct = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const hits = tf.tidy(() => {
      const x = tf.tensor4d(split.images.subarray(start * per, (start + n) * per), [n, ...split.shape]);
      const y = tf.tensor1d(split.labels.subarray(start, start + n), 'int32');
      const pred = tf.argMax(model.apply(x, { training: false }) as tf.Tensor2D, 1);
      return tf.sum(tf.cast(tf.equal(pred, y), 'int32'));
    });
    // Asynchronous reads are the only ones the webgpu backend supports.
    correct += (await hits.data())[0];
    hits.dispose();
  }
  return correct / count;
}
