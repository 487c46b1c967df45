/**
 * robench's custom tfjs layers, the one place that registers them all. tfjs deserialises a
 * layer by its registered class name, so a model file (a zoo model.json, one `robench train`
 * wrote) loads only once its classes are registered: the model loader (src/runtime/model-io.ts)
 * and the public entry `robench/layers` import this module, and nothing else needs to.
 * TrainingBatchNormalization and LazyGradConv2D register under the stock class names
 * (BatchNormalization, Conv2D), so every model loaded after this module gets them.
 */
export { Normalize } from './normalize.js';
export { conv2dWithLocalCopy, DivisiveNormalization, FractionalThreshold, hahCost, NormalizedConv2D, spatialThreshold } from './hah.js';
export { SignSTE } from './sign-ste.js';
export { SimilarityMatching } from './similarity-matching.js';
export { TrainingBatchNormalization, type BatchNormArgs } from './batch-norm-training.js';
export { LazyGradConv2D, type Conv2DArgs } from './lazy-conv2d.js';
