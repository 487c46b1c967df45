/** The settings part of a result: what was evaluated, how, and with which robench. */
import type { BackendInfo } from '../runtime/backends.js';
import type { AttackPlugin, LoadedModel, RunResult } from '../core/plugin-api.js';
import { robenchVersion } from '../core/paths.js';

const gradientOf = (model: LoadedModel): { gradient?: string } =>
  model.gradientSurrogate ? { gradient: `BPDA: ${model.gradientSurrogate.description}` } : model.iterative ? { gradient: `${model.iterative.gradient}; forward: ${model.iterative.solver}` } : {};

export function resultHeader(run: { model: LoadedModel; attack: AttackPlugin; params: RunResult['attack']['params']; backend: BackendInfo; seed: number; sweep: boolean }) {
  const { model, attack, params, backend } = run;
  const budget = attack.budget(params);
  return {
    robench: robenchVersion,
    model: { id: model.id, dataset: model.dataset, weightsSha256: model.weightsSha256, info: model.info, ...gradientOf(model) },
    attack: { id: attack.id, params, budget, perturbation: attack.perturbationLabel?.(params) ?? 'eps' },
    backend: backend.name,
    ...(backend.detail ? { backendDetail: backend.detail } : {}),
    seed: run.seed,
    // A minimization attack's curve is the same either way (one run scores every budget).
    sweep: run.sweep && budget !== null && attack.strategy !== 'minimization',
  };
}
