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

export * from '../models/hah-layers.js';
// The EKDAA sign models' straight-through sign layer.
export { SignSTE } from '../models/ekdaa-net.js';
// The similarity-matching models' dynamics.
export { SimilarityMatching } from '../models/similarity-matching-net.js';

registerFileRouter();
