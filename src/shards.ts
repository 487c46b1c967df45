/**
 * Sharding: `--shard i/n` evaluates the i-th of n contiguous, disjoint slices of
 * the samples; merging the slices gives exactly the single-run result, because
 * every sample's randomness comes from its own stream.
 */
import { UsageError } from './errors.js';
import type { RunResult } from './plugin-api.js';
import { combineCurves } from './worker-pool.js';

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

const groupKey = (r: RunResult): string =>
  JSON.stringify([r.model.id, r.model.dataset, r.model.weightsSha256, r.attack.id, r.attack.params, r.seed, r.dataset.source.sha256, r.sweep, r.shard?.count]);

function mergeGroup(parts: RunResult[]): RunResult {
  const sorted = [...parts].sort((a, b) => a.shard!.start - b.shard!.start);
  const { count } = sorted[0].shard!;
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
    histogram: { edges: layer.histogram.edges, counts: layer.histogram.counts.map((_, b) => sorted.reduce((s, p) => s + p.sparsity![l].histogram.counts[b], 0)) },
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
  for (const parts of groups.values()) out.push(mergeGroup(parts));
  return out;
}
