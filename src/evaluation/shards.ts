/**
 * Sharding: `--shard i/n` evaluates the i-th of n contiguous, disjoint slices of
 * the samples (`robench run` and `robench certify`); merging the slices gives exactly
 * the single-run result, because every sample's randomness comes from its own stream.
 */
import { mergeHistograms } from '../analysis/histogram-bins.js';
import { UsageError } from '../core/errors.js';
import type { RunResult, SparsityMeasures } from '../core/plugin-api.js';
import { combineCurves } from '../runtime/worker-pool.js';
import { concatRecords, type SmoothingRecord } from './smoothing-record.js';

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

/** The shard record a run writes: the slice `--shard` chose, its sample positions, and the samples of the whole run. */
export const shardRecord = (shard: Shard, samples: number): NonNullable<RunResult['shard']> => {
  const [start, end] = shardRange(shard, samples);
  return { ...shard, start, end, samples };
};

/** A run as shards hold it: a `robench certify` run also keeps its certificates (src/report/certify-results.ts), which merge image by image like the outcomes. */
export type ShardedRun = RunResult & { smoothing?: SmoothingRecord };

const groupKey = (r: ShardedRun): string => JSON.stringify([r.attack.id, r.shard?.count]);
const settingsKey = (r: ShardedRun): string => JSON.stringify(settings(r));

const runName = (r: RunResult): string => `${r.model.id} [${r.model.dataset}] / ${r.attack.id}`;

/** What the shards of one run must share, so that their union means one evaluation. */
const settings = (r: ShardedRun): [string, unknown][] => [
  ['model', [r.model.id, r.model.dataset]],
  ['weights', r.model.weightsSha256],
  ['attack settings', r.attack.params],
  ['seed', r.seed],
  ['data source', [r.dataset.id, r.dataset.source.kind, r.dataset.source.sha256]],
  ['sweep mode', r.sweep],
  ['backend', r.backend],
  ['grid', r.points.map((p) => p.perturbation)],
  ['per-sample outcomes', r.outcomes !== undefined],
  ['certificates', r.smoothing !== undefined],
  ['sample count', r.shard?.samples],
];

/** Settings that shards written before robench recorded them lack: compared where both shards have them. */
const RECENT = new Set(['sample count']);

/** Where a run was read from, for errors: the results.json that `robench report` was given. */
export type RunSource = (r: RunResult) => string | undefined;

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How two values of a setting differ: the keys that differ, for settings that are objects (attack settings), else both values. */
function difference(value: unknown, expected: unknown): string {
  if (isPlain(value) && isPlain(expected)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(value)])].filter((k) => JSON.stringify(value[k]) !== JSON.stringify(expected[k]));
    if (keys.length > 0) return keys.map((k) => `${k} ${JSON.stringify(value[k]) ?? 'unset'} vs ${JSON.stringify(expected[k]) ?? 'unset'}`).join(', ');
  }
  return `${JSON.stringify(value) ?? 'unset'} vs ${JSON.stringify(expected) ?? 'unset'}`;
}

function checkSameSettings(parts: ShardedRun[], sourceOf: RunSource): void {
  const [first, ...rest] = parts;
  const want = settings(first);
  const shardName = (r: RunResult): string => `shard ${r.shard!.index}${sourceOf(r) ? ` (${sourceOf(r)})` : ''}`;
  // Against the first shard, by the other shards: two runs of one slice (the noise levels of one
  // certify command) are not the mismatch, and the index check below refuses them if they stay.
  for (const p of rest.filter((r) => r.shard!.index !== first.shard!.index)) {
    settings(p).forEach(([name, value], k) => {
      const expected = want[k][1];
      if (RECENT.has(name) && (value === undefined || expected === undefined)) return;
      if (JSON.stringify(value) !== JSON.stringify(expected)) {
        throw new UsageError(
          `${runName(p)}: ${shardName(p)} differs from ${shardName(first)} in its ${name} (${difference(value, expected)})`,
          'merge the shards of one command only (`robench run` or `robench certify`), run with the same settings and robench version',
        );
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

function mergeGroup(parts: ShardedRun[], sourceOf: RunSource): ShardedRun {
  const sorted = [...parts].sort((a, b) => a.shard!.start - b.shard!.start);
  const { count } = sorted[0].shard!;
  checkSameSettings(sorted, sourceOf);
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
  const whole = sorted[0].shard!.samples;
  if (whole !== undefined && (sorted[0].shard!.start !== 0 || sorted[sorted.length - 1].shard!.end !== whole || samples !== whole)) {
    throw new UsageError(`shards of ${runName(sorted[0])} cover ${samples} of the ${whole} samples their run slices`, 'merge shards of one run, unedited');
  }
  const curve = combineCurves(sorted.map((p) => ({ curve: p, samples: p.dataset.samples })));
  const { shard: _omit, ...first } = sorted[0];
  // Every sample contributes the same number of positions, so sample-weighted means are exact.
  const weights = sorted.map((p) => p.dataset.samples);
  const sparsity = first.sparsity?.map((layer, l) => ({
    ...layer,
    ...meanMeasures(sorted.map((p) => p.sparsity![l]), weights),
    histogram: mergeHistograms(sorted.map((p) => p.sparsity![l].histogram)),
    ...(layer.preThreshold ? { preThreshold: meanMeasures(sorted.map((p) => p.sparsity![l].preThreshold!), weights) } : {}),
  }));
  return {
    ...first,
    dataset: { ...first.dataset, samples },
    ...curve,
    ...(sparsity ? { sparsity } : {}),
    ...(first.smoothing ? { smoothing: concatRecords(sorted.map((p) => p.smoothing!)) } : {}),
    durationMs: sorted.reduce((s, p) => s + p.durationMs, 0),
  };
}

/**
 * The runs one group of shards (one attack, one shard count) holds: shards of several complete
 * runs (two models, two step counts, the noise levels of one certify command) split by their
 * settings; the shards left over form one more run, whose shards disagree (checkSameSettings names
 * how) or miss a slice (mergeGroup says which).
 */
function runsIn(parts: ShardedRun[]): ShardedRun[][] {
  const byRun = new Map<string, ShardedRun[]>();
  for (const p of parts) byRun.set(settingsKey(p), [...(byRun.get(settingsKey(p)) ?? []), p]);
  const isComplete = (r: ShardedRun[]): boolean => r.length === r[0].shard!.count;
  const complete = [...byRun.values()].filter(isComplete);
  const rest = [...byRun.values()].filter((r) => !isComplete(r)).flat();
  return rest.length > 0 ? [...complete, rest] : complete;
}

/**
 * Merges sharded runs of the same evaluation; unsharded runs pass through. `sourceOf` names
 * the file a run came from, for the errors that refuse shards of different settings.
 */
export function mergeShards(runs: ShardedRun[], sourceOf: RunSource = () => undefined): ShardedRun[] {
  const groups = new Map<string, ShardedRun[]>();
  const out: ShardedRun[] = [];
  for (const r of runs) {
    if (!r.shard) {
      out.push(r);
      continue;
    }
    const key = groupKey(r);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const merged = [...groups.values()].flatMap(runsIn).map((run) => ({ at: runs.indexOf(run[0]), run: mergeGroup(run, sourceOf) }));
  // In the order the runs came, as each run's first shard did.
  return [...out, ...merged.sort((a, b) => a.at - b.at).map((m) => m.run)];
}
