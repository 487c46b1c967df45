/**
 * Zoo plugins of the EKDAA entries: the shipped weights, with the gradient each
 * white-box attack differentiates recorded in the model's info (results.json). It
 * is the loading code's, not the manifest's: the surrogate lives in the layer code.
 */
import './ekdaa-net.js';
import type { ModelPlugin } from '../src/core/plugin-api.js';
import { zooModelPlugin } from './zoo.js';

export function ekdaaZooPlugin(id: string, description: string, gradientSurrogate: string): ModelPlugin {
  const base = zooModelPlugin(id, description);
  return {
    ...base,
    async load(opts) {
      const model = await base.load(opts);
      return { ...model, info: { ...model.info, gradientSurrogate } };
    },
  };
}
