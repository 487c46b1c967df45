/**
 * Zoo plugins of the similarity-matching entries: the shipped weights, marked as models whose
 * forward pass is an iterative solver, with the gradient attacks differentiate.
 */
import type { ModelPlugin } from '../core/plugin-api.js';
import { zooModelPlugin } from './zoo-plugin.js';

export const SM_INFERENCE = {
  solver: "Euler steps of the network's dynamics from u = 0 until every layer's relative change is below 1e-4 (at most 3,000 steps)",
  gradient: 'implicit: the adjoint of the dynamics at the fixed point (checked against autodiff through the unrolled steps)',
};

export function smZooPlugin(neuronsPerSite: number): ModelPlugin {
  const id = neuronsPerSite === 4 ? 'similarity-matching' : `similarity-matching-${neuronsPerSite}`;
  const base = zooModelPlugin(
    id,
    `structured similarity matching, ${neuronsPerSite} neurons per site (Obeid, Ramambason & Pehlevan, 2019): Hebbian/anti-Hebbian, no backprop; the output is a fixed point of neural dynamics, read out linearly`,
    { training: { trainer: 'similarity-matching', neuronsPerSite }, trainOn: 'mnist' },
  );
  return {
    ...base,
    async load(opts) {
      const model = await base.load(opts);
      return { ...model, iterative: SM_INFERENCE, info: { ...model.info, inference: SM_INFERENCE } };
    },
  };
}
