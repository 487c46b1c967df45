/**
 * Zoo plugins of the EKDAA entries: the shipped weights, with the gradient each
 * white-box attack differentiates recorded in the model's info (results.json). It
 * is the loading code's, not the manifest's: the surrogate lives in the layer code
 * (src/layers/sign-ste.ts).
 */
import type { EkdaaTraining, ModelPlugin } from '../core/plugin-api.js';
import { zooModelPlugin } from './zoo-plugin.js';

/**
 * How an entry trains. lr: the release's 1e-3 for all. The EKDAA pair run the release's
 * forward (releaseForward: conv pre-activations carried forward, f first applied at fc1), so
 * the sign net's only sign in the forward pass is fc1's, as in the release. robench's
 * earlier sign-after-every-layer variant diverged at 1e-3 (it shipped trained at 3e-5)
 * and is dropped: it was not the release's network. The twin keeps tanh after every
 * conv, true backprop through the network as the paper describes it. The release's own
 * backprop baseline (release-bp) runs the release's forward, as BP_model.py does. A
 * frozen-conv control (frozenConvsOf) trains the net of the model it freezes.
 */
type Learning = Pick<EkdaaTraining, 'rule' | 'activation' | 'frozenConvsOf'>;

const ekdaaTraining = ({ rule, activation, frozenConvsOf }: Learning): EkdaaTraining => ({
  trainer: 'ekdaa',
  rule,
  activation,
  lr: 1e-3,
  releaseForward: rule !== 'backprop',
  ...(frozenConvsOf !== undefined ? { frozenConvsOf } : {}),
});

export function ekdaaZooPlugin(id: string, description: string, gradientSurrogate: string, learning: Learning): ModelPlugin {
  const base = zooModelPlugin(id, description, { training: ekdaaTraining(learning) });
  return {
    ...base,
    async load(opts) {
      const model = await base.load(opts);
      return { ...model, info: { ...model.info, gradientSurrogate } };
    },
  };
}
