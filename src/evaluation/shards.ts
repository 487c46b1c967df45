/**
 * Sharding: `--shard i/n` evaluates the i-th of n contiguous, disjoint slices of
 * the samples; merging the slices gives exactly the single-run result, because
 * every sample's randomness comes from its own stream.
 */
import { mergeHistograms } from '../analysis/histogram-bins.js';
import { UsageError } from '../core/errors.js';
import type { RunResult, SparsityMeasures } from '../core/plugin-api.js';
import { combineCurves } from '../runtime/worker-pool.js';

export interface Shard {
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new UsageError(`--shard '${text}' must be i/n with 0 <= i < n`, 'e.g. --shard 0/4 for the first of four slices');
  }
  return { index, count };
}

/** The [start, end) sample positions of a shard. */
export function shardRange(shard: Shard, samples: number): [number, number] {
  const range: [number, number] = [Math.floor((shard.index * samples) / shard.count), Math.floor(((shard.index + 1) * samples) / shard.count)];
  if (range[1] === range[0]) {
    throw new UsageError(`--shard ${shard.index}/${shard.count} of ${samples} samples holds no sample`, `use at most ${samples} shards, or more --samples`);
  }
  return range;
}

const groupKey = (r: RunResult): string => JSON.stringify([r.model.id, r.model.dataset, r.attack.id, r.shard?.count]);
const settingsKey = (r: RunResult): string => JSON.stringify(settings(r));

const runName = (r: RunResult): string => `${r.model.id} [${r.model.dataset}] / ${r.attack.id}`;

/** What the shards of one run must share, so that their union means one evaluation. */
const settings = (r: RunResult): [string, unknown][] => [
  ['weights', r.model.weightsSha256],
  ['attack settings', r.attack.params],
  ['seed', r.seed],
  ['data source', [r.dataset.id, r.dataset.source.kind, r.dataset.source.sha256]],
  ['sweep mode', r.sweep],
  ['backend', r.backend],
  ['grid', r.points.map((p) => p.perturbation)],
  ['per-sample outcomes', r.outcomes !== undefined],
];

function checkSameSettings(parts: RunResult[]): void {
  const [first, ...rest] = parts;
  const want = settings(first);
  for (const p of rest) {
    settings(p).forEach(([name, value], k) => {
      const expected = JSON.stringify(want[k][1]);
      if (JSON.stringify(value) !== expected) {
        throw new UsageError(`${runName(p)}: shard ${p.shard!.index} differs from shard ${first.shard!.index} in its ${name} (${JSON.stringify(value)} vs ${expected})`, 'merge shards of one `robench run` command only, run with the same settings and robench version');
      }
    });
  }
}

/** Every sample of the tiled range recorded exactly once, each by the shard whose slice holds it. */
function checkSampleBySample(parts: RunResult[]): void {
  const seen = new Set<number>();
  for (const p of parts) {
    const { start, end } = p.shard!;
    const { index } = p.outcomes!;
    const name = `${runName(p)}: shard ${p.shard!.index}`;
    for (const d of index) {
      if (d < start || d >= end) throw new UsageError(`${name} records sample ${d}, outside its slice [${start}, ${end})`, 'merge shards of one run, unedited');
      if (seen.has(d)) throw new UsageError(`${name} records sample ${d} twice`, 'merge shards of one run, unedited');
      seen.add(d);
    }
    if (index.length !== end - start) {
      const missing = Array.from({ length: end - start }, (_, i) => start + i).filter((d) => !seen.has(d));
      throw new UsageError(`${name} records ${index.length} of the ${end - start} samples of its slice (missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''})`, 'rerun that shard');
    }
  }
}

/** Sample-weighted means of the shards' sparsity measures of one layer. */
function meanMeasures(parts: SparsityMeasures[], samples: number[]): SparsityMeasures {
  const total = samples.reduce((a, b) => a + b, 0);
  const mean = (k: keyof SparsityMeasures): number => parts.reduce((s, m, i) => s + m[k] * samples[i], 0) / total;
  return { zeroFraction: mean('zeroFraction'), hoyer: mean('hoyer'), topKMean: mean('topKMean'), restMean: mean('restMean') };
}

function mergeGroup(parts: RunResult[]): RunResult {
  const sorted = [...parts].sort((a, b) => a.shard!.start - b.shard!.start);
  const { count } = sorted[0].shard!;
  checkSameSettings(sorted);
  const indices = sorted.map((p) => p.shard!.index);
  if (new Set(indices).size !== indices.length || sorted.length !== count) {
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !indices.includes(i));
    throw new UsageError(
      `${sorted[0].model.id} / ${sorted[0].attack.id}: shards ${indices.join(', ')} of ${count} given` + (missing.length ? `; missing ${missing.join(', ')}` : '; some twice'),
      'pass every shard exactly once',
    );
  }
  sorted.forEach((p, i) => {
    if (i > 0 && sorted[i - 1].shard!.end !== p.shard!.start) throw new UsageError(`shards of ${p.model.id} / ${p.attack.id} do not tile the samples`, 'merge shards of one run only');
  });
  if (sorted[0].outcomes) checkSampleBySample(sorted);
  const samples = sorted.reduce((s, p) => s + p.dataset.samples, 0);
  const curve = combineCurves(sorted.map((p) => ({ curve: p, samples: p.dataset.samples })));
  const { shard: _omit, ...first } = sorted[0];
  // Every sample contributes the same number of positions, so sample-weighted means are exact.
  const sparsity = first.sparsity?.map((layer, l) => ({
    ...layer,
    zeroFraction: sorted.reduce((s, p) => s + p.sparsity![l].zeroFraction * p.dataset.samples, 0) / samples,
    hoyer: sorted.reduce((s, p) => s + p.sparsity![l].hoyer * p.dataset.samples, 0) / samples,
    topKMean: sorted.reduce((s, p) => s + p.sparsity![l].topKMean * p.dataset.samples, 0) / samples,
    restMean: sorted.reduce((s, p) => s + p.sparsity![l].restMean * p.dataset.samples, 0) / samples,
    histogram: mergeHistograms(sorted.map((p) => p.sparsity![l].histogram)),
    ...(layer.preThreshold ? { preThreshold: meanMeasures(sorted.map((p) => p.sparsity![l].preThreshold!), sorted.map((p) => p.dataset.samples)) } : {}),
  }));
  return {
    ...first,
    dataset: { ...first.dataset, samples },
    ...curve,
    ...(sparsity ? { sparsity } : {}),
    durationMs: sorted.reduce((s, p) => s + p.durationMs, 0),
  };
}

/** Merges sharded runs of the same evaluation; unsharded runs pass through. */
export function mergeShards(runs: RunResult[]): RunResult[] {
  const groups = new Map<string, RunResult[]>();
  const out: RunResult[] = [];
  for (const r of runs) {
    if (!r.shard) {
      out.push(r);
      continue;
    }
    const key = groupKey(r);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const parts of groups.values()) {
    // Shards of several complete runs of one model and attack (say, two step counts) merge run by run;
    // anything else is one run whose shards disagree, and checkSameSettings names how.
    const runs = new Map<string, RunResult[]>();
    for (const p of parts) runs.set(settingsKey(p), [...(runs.get(settingsKey(p)) ?? []), p]);
    const complete = [...runs.values()].every((r) => r.length === r[0].shard!.count);
    for (const run of complete ? runs.values() : [parts]) out.push(mergeGroup(run));
  }
  return out;
}
