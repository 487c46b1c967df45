/**
 * Runs grouped by attack setting, as every report shows them: one table or chart per attack
 * id, norm and options, its models named so that no two read the same (src/report/run-labels.ts).
 */
import { safeFileName } from './safe-text.js';
import type { Norm, RunResult } from '../core/plugin-api.js';
import { runLabels } from './run-labels.js';

/** How a model is named where its attack is known from the context: id and dataset. */
export const seriesName = (r: RunResult): string => `${r.model.id} [${r.model.dataset}]`;

/** Runs of one attack configuration: the lines of one curve chart, the rows of one table. */
export interface AttackGroup {
  /** File-name-safe, unique among the groups: the attack id, with the norm or a number when ids repeat. */
  slug: string;
  /** The attack as src/report/run-labels.ts names it, e.g. "apgd (linf, loss=dlr)". */
  title: string;
  /** Attack options, for a subtitle. */
  params: string;
  perturbation: string;
  budget: Norm | null;
  runs: RunResult[];
  /** Per run, the model as the group names it (distinct within the group). */
  names: string[];
}

const paramText = (r: RunResult): string =>
  Object.entries(r.attack.params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

// Chart file names (curve-<slug>.svg) come from attack ids a plugin chose: the one id-to-file-name mapping.
const safe = (id: string): string => safeFileName(id, { distinct: false });

/** Groups runs by attack id, norm and options, in first-seen order. */
export function attackGroups(results: RunResult[]): AttackGroup[] {
  const labels = runLabels(results);
  const groups = new Map<string, number[]>();
  results.forEach((r, i) => {
    const key = JSON.stringify([r.attack.id, r.attack.budget, r.attack.params]);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const list = [...groups.values()];
  const idCount = new Map<string, number>();
  for (const [i] of list) idCount.set(results[i].attack.id, (idCount.get(results[i].attack.id) ?? 0) + 1);
  const used = new Set<string>();
  return list.map((members) => {
    const runs = members.map((i) => results[i]);
    const { attack } = runs[0];
    let slug = safe(idCount.get(attack.id)! > 1 && attack.budget ? `${attack.id}-${attack.budget}` : attack.id);
    for (let n = 2; used.has(slug); n++) slug = safe(`${attack.id}-${attack.budget ?? 'none'}-${n}`);
    used.add(slug);
    return { slug, title: labels[members[0]].attack, params: paramText(runs[0]), perturbation: attack.perturbation, budget: attack.budget, runs, names: members.map((i) => labels[i].model) };
  });
}
