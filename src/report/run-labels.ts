/**
 * How reports name runs so that no two read the same: an attack by its id, its norm and
 * whichever of its settings differ between the runs of that attack (APGD's loss, the
 * corruption, the step count), a model by its id and dataset and whichever facts differ
 * between its runs under the same attack (seed, weights, sample count, ...). A report merged
 * from several runs thereby names what tells each row apart, and a single run reads as before.
 */
import type { RunResult } from '../core/plugin-api.js';

export interface RunLabel {
  /** e.g. "apgd (linf, loss=dlr)" */
  attack: string;
  /** e.g. "hebbian [cifar10]", or "hebbian [cifar10] (seed 1)" beside the same run with seed 0 */
  model: string;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** Keys whose value is not the same in every item, in first-seen order. */
function differing<T>(items: T[], facts: (item: T) => [string, unknown][]): Set<string> {
  const values = new Map<string, Set<string>>();
  for (const item of items) {
    for (const [k, v] of facts(item)) values.set(k, (values.get(k) ?? new Set()).add(text(v)));
  }
  // A key some items lack differs too: absent reads as undefined.
  return new Set([...values].filter(([k, seen]) => seen.size > 1 || items.some((i) => !facts(i).some(([key]) => key === k))).map(([k]) => k));
}

const params = (r: RunResult): [string, unknown][] => Object.entries(r.attack.params).filter(([, v]) => v !== undefined);

function attackLabel(r: RunResult, shown: Set<string>): string {
  const parts = [
    ...(r.attack.budget ? [r.attack.budget] : []),
    // The norm already shows as the budget.
    ...params(r)
      .filter(([k, v]) => shown.has(k) && !(k === 'norm' && v === r.attack.budget))
      .map(([k, v]) => `${k}=${text(v)}`),
  ];
  return parts.length > 0 ? `${r.attack.id} (${parts.join(', ')})` : r.attack.id;
}

/** What can tell two runs of one model under one attack setting apart, as label text. */
const runFacts = (r: RunResult): [string, unknown][] => [
  ['weights', `weights ${r.model.weightsSha256.slice(0, 8)}`],
  ['seed', `seed ${r.seed}`],
  ['samples', `${r.dataset.samples} samples`],
  ['data', `data ${r.dataset.source.sha256.slice(0, 8)}`],
  ['sweep', r.sweep ? 'swept' : 'no sweep'],
  ['backend', r.backend],
  ['robench', `robench ${r.robench}`],
];

export function runLabels(results: RunResult[]): RunLabel[] {
  const byAttack = new Map<string, RunResult[]>();
  for (const r of results) byAttack.set(r.attack.id, [...(byAttack.get(r.attack.id) ?? []), r]);
  const shownParams = new Map([...byAttack].map(([id, runs]) => [id, differing(runs, params)]));
  const attacks = results.map((r) => attackLabel(r, shownParams.get(r.attack.id)!));
  const base = results.map((r) => `${r.model.id} [${r.model.dataset}]`);
  const key = (i: number): string => `${attacks[i]}\u0000${base[i]}`;
  const peers = new Map<string, number[]>();
  results.forEach((_, i) => peers.set(key(i), [...(peers.get(key(i)) ?? []), i]));
  const models = results.map((r, i) => {
    const shown = differing(peers.get(key(i))!.map((j) => results[j]), runFacts);
    const facts = runFacts(r).filter(([k]) => shown.has(k)).map(([, v]) => v);
    return facts.length > 0 ? `${base[i]} (${facts.join(', ')})` : base[i];
  });
  // Runs alike in every fact (the same folder given twice) are numbered rather than merged.
  const seen = new Map<string, number>();
  return results.map((_, i) => {
    const name = `${attacks[i]}\u0000${models[i]}`;
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return { attack: attacks[i], model: n === 1 ? models[i] : `${models[i]} #${n}` };
  });
}
