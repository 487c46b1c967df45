/**
 * The one reader of results.json. Everything robench reads back (report, check, export,
 * leaderboard, --resume) comes through here, because a results file is input like any other:
 * it may be hand-edited, truncated, or written by someone hostile. The reader checks every
 * field a command uses (type, range, counts consistent with the per-sample outcomes) and
 * then recomputes the figures: accuracies come from the counts, and where per-sample
 * outcomes are recorded the counts and the clean accuracy come from them, so an edited
 * `accuracy` or `cleanAccuracy` field can never reach a table, a check or an export.
 *
 * Shapes read: the versioned object robench writes now ({ format, version, runs }), and the
 * two older shapes (one run as an object, several as an array).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { CurvePoint, RunResult, SampleOutcomes } from '../core/plugin-api.js';
import { checkOutcomes, pointsFromOutcomes } from '../core/samples.js';

/** The `format` field of a results.json written since the versioned shape. */
export const RESULTS_FORMAT = 'robench-results';
/** Version 2: a versioned object holding the runs (version 1 was a bare object or array). */
export const RESULTS_VERSION = 2;

/** What results.json holds, whatever the number of runs. */
export interface ResultsFile {
  format: typeof RESULTS_FORMAT;
  version: number;
  runs: RunResult[];
}

export const resultsFileOf = (runs: RunResult[]): ResultsFile => ({ format: RESULTS_FORMAT, version: RESULTS_VERSION, runs });

/** Thrown for a field that is not what robench writes; names the file and the field. */
class FieldError extends UsageError {}

const HINT = 'the file was edited, truncated or not written by robench run: rerun robench run to write it again';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown): string => {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  const text = JSON.stringify(v) ?? String(v);
  return `${Array.isArray(v) ? 'an array' : typeof v} ${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
};

/** A reader of one run's fields; every failure names the file, the run and the field's path. */
class Fields {
  constructor(readonly where: string) {}

  fail(path: string, value: unknown, want: string): never {
    throw new FieldError(`${this.where}: field ${path} is ${describe(value)}, expected ${want}`, HINT);
  }

  obj(v: unknown, path: string): Obj {
    return isObj(v) ? v : this.fail(path, v, 'an object');
  }

  str(v: unknown, path: string): string {
    return typeof v === 'string' && v.length > 0 ? v : this.fail(path, v, 'a non-empty string');
  }

  num(v: unknown, path: string, min = -Infinity, max = Infinity): number {
    return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : this.fail(path, v, `a finite number in [${min}, ${max}]`);
  }

  int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : this.fail(path, v, `an integer in [${min}, ${max}]`);
  }

  /** An array; with `length`, of exactly that many entries, one per `per` (a sample, a point, a bin). */
  arr(v: unknown, path: string, length?: number, per = 'sample'): unknown[] {
    if (!Array.isArray(v)) return this.fail(path, v, 'an array');
    if (length !== undefined && v.length !== length) return this.fail(`${path}.length`, v.length, `${length} (one entry per ${per})`);
    return v;
  }

  ints(v: unknown, path: string, min: number, max: number, length?: number, per?: string): number[] {
    const list = this.arr(v, path, length, per);
    list.forEach((x, i) => this.int(x, `${path}[${i}]`, min, max));
    return list as number[];
  }
}

function checkPoints(f: Fields, raw: unknown, samples: number): CurvePoint[] {
  const points = f.arr(raw, 'points');
  if (points.length === 0) f.fail('points', raw, 'at least one point');
  return points.map((value, k) => {
    const at = `points[${k}]`;
    const p = f.obj(value, at);
    const perturbation = f.num(p.perturbation, `${at}.perturbation`, 0);
    const total = f.int(p.total, `${at}.total`);
    const correct = f.int(p.correct, `${at}.correct`, 0, total);
    // Every point counts each sample the same number of times (once, or once per draw or corruption).
    if (samples > 0 ? total % samples !== 0 : total !== 0) f.fail(`${at}.total`, total, `a multiple of dataset.samples (${samples})`);
    const point: CurvePoint = { perturbation, accuracy: correct / total, correct, total };
    if (p.correctByVersion !== undefined) {
      const versions = f.ints(p.correctByVersion, `${at}.correctByVersion`, 0, samples);
      if (versions.reduce((a, b) => a + b, 0) !== correct) f.fail(`${at}.correctByVersion`, versions, `counts that add up to ${at}.correct (${correct})`);
      point.correctByVersion = versions;
    }
    return point;
  });
}

/**
 * A gallery entry, as report.html shows it: its pictures' paths (src/report/gallery-images.ts then
 * checks each is a gallery/<hash>.png whose content matches), or the inline data URLs of robench
 * 0.1.0, and the labels printed beside them.
 */
function checkGalleryItem(f: Fields, value: unknown, at: string): void {
  const item = f.obj(value, at);
  for (const key of ['trueLabel', 'cleanPrediction', 'advPrediction']) if (typeof item[key] !== 'string') f.fail(`${at}.${key}`, item[key], 'a string');
  f.num(item.perturbation, `${at}.perturbation`, 0);
  if ('cleanPng' in item || 'advPng' in item) {
    for (const key of ['cleanPng', 'advPng', 'label']) if (typeof item[key] !== 'string') f.fail(`${at}.${key}`, item[key], 'a string');
    return;
  }
  f.num(item.sample, `${at}.sample`, 0);
  f.num(item.amplification, `${at}.amplification`, 0);
  if (item.version !== undefined) f.str(item.version, `${at}.version`);
  const images = f.obj(item.images, `${at}.images`);
  for (const key of ['clean', 'adversarial', 'difference']) f.str(images[key], `${at}.images.${key}`);
}

/** A layer's activation sparsity, as the reports draw it: fractions, means and a histogram of numbers. */
function checkSparsity(f: Fields, value: unknown, at: string): void {
  const layer = f.obj(value, at);
  f.str(layer.name, `${at}.name`);
  // null: a measure that was NaN when written (JSON has no NaN), e.g. the Hoyer sparsity of all-zero activations.
  const measure = (v: unknown, path: string): unknown => v === null || f.num(v, path);
  for (const key of ['zeroFraction', 'hoyer', 'topKMean', 'restMean']) measure(layer[key], `${at}.${key}`);
  const histogram = f.obj(layer.histogram, `${at}.histogram`);
  const edges = f.arr(histogram.edges, `${at}.histogram.edges`);
  edges.forEach((e, i) => f.num(e, `${at}.histogram.edges[${i}]`));
  f.arr(histogram.counts, `${at}.histogram.counts`, Math.max(edges.length - 1, 0), 'bin between edges').forEach((c, i) => f.num(c, `${at}.histogram.counts[${i}]`, 0));
  if (layer.preThreshold !== undefined) {
    const pre = f.obj(layer.preThreshold, `${at}.preThreshold`);
    for (const key of ['zeroFraction', 'hoyer', 'topKMean', 'restMean']) measure(pre[key], `${at}.preThreshold.${key}`);
  }
}

/** Types and ranges of every outcome array; checkOutcomes then checks they reproduce the curve. */
function checkOutcomeFields(f: Fields, raw: unknown, pointCount: number): SampleOutcomes {
  const o = f.obj(raw, 'outcomes');
  const index = f.ints(o.index, 'outcomes.index', 0, Number.MAX_SAFE_INTEGER);
  if (new Set(index).size !== index.length) f.fail('outcomes.index', '(repeated dataset index)', 'each sample once');
  const n = index.length;
  f.ints(o.clean, 'outcomes.clean', 0, 1, n);
  if (o.brokeAt !== undefined) f.ints(o.brokeAt, 'outcomes.brokeAt', -1, pointCount - 1, n);
  if (o.survivors !== undefined) f.arr(o.survivors, 'outcomes.survivors', pointCount, 'point').forEach((s, k) => f.ints(s, `outcomes.survivors[${k}]`, 0, Number.MAX_SAFE_INTEGER));
  let draws: number[] | undefined;
  if (o.draws !== undefined) draws = f.ints(o.draws, 'outcomes.draws', 1, Number.MAX_SAFE_INTEGER, pointCount, 'point');
  if (o.survivedDraws !== undefined) {
    if (!draws) f.fail('outcomes.draws', undefined, 'the draws per point that outcomes.survivedDraws counts');
    f.arr(o.survivedDraws, 'outcomes.survivedDraws', pointCount, 'point').forEach((s, k) => f.ints(s, `outcomes.survivedDraws[${k}]`, 0, draws![k], n));
  }
  if (o.brokeAt === undefined && o.survivors === undefined && o.survivedDraws === undefined) f.fail('outcomes.brokeAt', undefined, 'brokeAt, survivors or survivedDraws');
  if (o.minimalNorm !== undefined) f.arr(o.minimalNorm, 'outcomes.minimalNorm', n).forEach((x, i) => f.num(x, `outcomes.minimalNorm[${i}]`, -1));
  let members = 0;
  if (o.members !== undefined) members = f.arr(o.members, 'outcomes.members').map((m, i) => f.str(m, `outcomes.members[${i}]`)).length;
  if (o.brokenBy !== undefined) f.ints(o.brokenBy, 'outcomes.brokenBy', -1, members - 1, n);
  if (o.individual !== undefined) {
    f.arr(o.individual, 'outcomes.individual').forEach((m, i) => {
      const entry = f.obj(m, `outcomes.individual[${i}]`);
      f.str(entry.member, `outcomes.individual[${i}].member`);
      f.ints(entry.brokeAt, `outcomes.individual[${i}].brokeAt`, -1, pointCount - 1, n);
    });
  }
  return o as unknown as SampleOutcomes;
}

/**
 * One run, checked field by field, with its figures recomputed. `where` names the file;
 * the run's position (and its model and attack, once read) are added to every error.
 */
export function checkRun(value: unknown, where: string): RunResult {
  let f = new Fields(where);
  const r = f.obj(value, '(the run)');
  const model = f.obj(r.model, 'model');
  const attack = f.obj(r.attack, 'attack');
  const modelId = f.str(model.id, 'model.id');
  const attackId = f.str(attack.id, 'attack.id');
  f = new Fields(`${where} (${JSON.stringify(modelId)} / ${JSON.stringify(attackId)})`);
  f.str(model.dataset, 'model.dataset');
  if (model.weightsSha256 !== undefined && typeof model.weightsSha256 !== 'string') f.fail('model.weightsSha256', model.weightsSha256, 'a string');
  if (model.info !== undefined) f.obj(model.info, 'model.info');
  const dataset = f.obj(r.dataset, 'dataset');
  f.str(dataset.id, 'dataset.id');
  f.str(dataset.split, 'dataset.split');
  const samples = f.int(dataset.samples, 'dataset.samples');
  const source = f.obj(dataset.source, 'dataset.source');
  f.str(source.kind, 'dataset.source.kind');
  if (typeof source.sha256 !== 'string') f.fail('dataset.source.sha256', source.sha256, 'a string');
  f.obj(attack.params, 'attack.params');
  if (attack.budget !== null && typeof attack.budget !== 'string') f.fail('attack.budget', attack.budget, 'a norm name or null');
  f.str(attack.perturbation, 'attack.perturbation');
  if (r.seed !== undefined) f.num(r.seed, 'seed');
  if (r.sweep !== undefined && typeof r.sweep !== 'boolean') f.fail('sweep', r.sweep, 'true or false');
  if (r.backend !== undefined) f.str(r.backend, 'backend');
  if (r.complete !== undefined && r.complete !== false) f.fail('complete', r.complete, 'false or absent');
  if (r.pending !== undefined) f.int(f.obj(r.pending, 'pending').samples, 'pending.samples', 1);
  if (r.shard !== undefined) {
    const s = f.obj(r.shard, 'shard');
    const count = f.int(s.count, 'shard.count', 1);
    f.int(s.index, 'shard.index', 0, count - 1);
    const start = f.int(s.start, 'shard.start');
    const end = f.int(s.end, 'shard.end', start);
    if (s.samples !== undefined) f.int(s.samples, 'shard.samples', end);
  }
  for (const key of ['gradientEvaluations', 'forwardEvaluations', 'durationMs'] as const) if (r[key] !== undefined) f.num(r[key], key, 0);
  if (r.sparsity !== undefined) f.arr(r.sparsity, 'sparsity').forEach((layer, i) => checkSparsity(f, layer, `sparsity[${i}]`));
  if (r.gallery !== undefined) f.arr(r.gallery, 'gallery').forEach((item, i) => checkGalleryItem(f, item, `gallery[${i}]`));
  // Attack settings become CSV columns and table labels: plain values only.
  for (const [name, value] of Object.entries(attack.params as Obj)) {
    if (!['number', 'string', 'boolean'].includes(typeof value) || (typeof value === 'number' && !Number.isFinite(value))) f.fail(`attack.params.${name}`, value, 'a number, string or true/false');
  }
  if (r.startedAt !== undefined && typeof r.startedAt !== 'string') f.fail('startedAt', r.startedAt, 'a string');
  if (r.command !== undefined) f.arr(r.command, 'command').forEach((c, i) => typeof c === 'string' || f.fail(`command[${i}]`, c, 'a string'));
  let points = checkPoints(f, r.points, samples);
  let cleanAccuracy: number;
  const rest = { ...r };
  // Derived fields a reporter recomputes; dropped so that an edited copy cannot be shown.
  delete rest.intervals;
  delete rest.corruptionErrors;
  if (r.outcomes !== undefined) {
    const outcomes = checkOutcomeFields(f, r.outcomes, points.length);
    checkOutcomes(outcomes, points, samples, f.where);
    // The counts agree with the outcomes (checked above); take them from the outcomes all the same.
    const recomputed = pointsFromOutcomes(outcomes, points.map((p) => p.perturbation));
    points = points.map((p, k) => ({ ...p, correct: recomputed[k].correct, total: recomputed[k].total, accuracy: recomputed[k].correct / recomputed[k].total }));
    cleanAccuracy = outcomes.index.length > 0 ? outcomes.clean.reduce((a, b) => a + b, 0) / outcomes.index.length : NaN;
  } else {
    // Results written before per-sample records carry only the clean figure; a fraction is all it can be.
    cleanAccuracy = samples > 0 ? f.num(r.cleanAccuracy, 'cleanAccuracy', 0, 1) : NaN;
  }
  return { ...(rest as unknown as RunResult), points, cleanAccuracy };
}

/** The runs a parsed results.json holds, in any of its shapes, each checked (see checkRun). */
export function parseResults(parsed: unknown, file: string): RunResult[] {
  let runs: unknown[];
  if (Array.isArray(parsed)) runs = parsed;
  else if (isObj(parsed) && parsed.format === RESULTS_FORMAT) {
    if (parsed.version !== RESULTS_VERSION) {
      throw new UsageError(`${file}: field version is ${describe(parsed.version)}, this robench reads version ${RESULTS_VERSION}`, 'use the robench version that wrote it, or rerun robench run');
    }
    if (!Array.isArray(parsed.runs)) throw new UsageError(`${file}: field runs is ${describe(parsed.runs)}, expected an array of runs`, HINT);
    runs = parsed.runs;
  } else if (isObj(parsed)) runs = [parsed];
  else throw new UsageError(`${file} does not hold robench results (it holds ${describe(parsed)})`, 'give a results.json written by robench run');
  if (runs.length === 0) throw new UsageError(`${file} holds no runs`, 'give a results.json written by robench run');
  return runs.map((run, i) => checkRun(run, runs.length > 1 ? `${file} run ${i}` : file));
}

/** The results.json a path names: the file itself, or the one inside a result folder. */
export const resultsFileIn = (path: string): string => (existsSync(path) && statSync(path).isDirectory() ? join(path, 'results.json') : path);

/** Larger than any results.json robench writes (10,000 samples take a few hundred kilobytes a run), and below V8's longest string. */
export const MAX_RESULTS_BYTES = 256 * 1024 * 1024;

/** Parses a results file's text; a file that is not JSON names itself. */
function readJson(file: string): unknown {
  if (!existsSync(file)) throw new UsageError(`no results at ${file}`, 'give a results.json or the folder `robench run` wrote');
  const info = statSync(file);
  // A FIFO would block the read forever, a device (/dev/zero) would never end.
  if (!info.isFile()) throw new UsageError(`${file} is not a regular file`, 'give a results.json or the folder `robench run` wrote');
  if (info.size > MAX_RESULTS_BYTES) {
    throw new UsageError(`${file} is ${info.size} bytes, more than the ${MAX_RESULTS_BYTES} a results.json of robench can hold`, 'give a results.json written by robench run (shards of very large runs are merged by robench report)');
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`, 'give a results.json written by robench run');
  }
}

/**
 * The runs of a finished results.json (or of the one in a result folder), checked and with
 * their figures recomputed. A run still marked unfinished is refused: only `--resume` reads those.
 */
export function readResults(path: string): RunResult[] {
  const file = resultsFileIn(path);
  const runs = parseResults(readJson(file), file);
  const unfinished = runs.find((r) => r.complete === false);
  if (unfinished) {
    const what = unfinished.pending ? `${unfinished.model.id} / ${unfinished.attack.id} is missing ${unfinished.pending.samples} samples` : 'the run did not finish';
    throw new UsageError(`${file} holds an unfinished run (${what})`, `continue it with robench run --resume ${dirname(file)}, then report or check it`);
  }
  return runs;
}

/** The runs of a results.json an interrupted run wrote (unfinished ones included), checked. */
export function readPartialResults(file: string): RunResult[] {
  return existsSync(file) ? parseResults(readJson(file), file) : [];
}
