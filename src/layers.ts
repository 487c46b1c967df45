/**
 * `import 'robench/layers'`: registers robench's custom layers with tf.serialization and a
 * file:// loader for plain Node, so a zoo (or `robench train`) model.json loads with tfjs alone.
 *
 * Example:
 *   import * as tf from '@tensorflow/tfjs';
 *   import { zooWeightsDir } from 'robench';
 *   import 'robench/layers';
 *   const model = await tf.loadLayersModel(`file://${zooWeightsDir('hebbian', 'mnist')}/model.json`);
 */
import { registerFileRouter } from './runtime/model-io.js';

export * from './layers/index.js';

registerFileRouter();
