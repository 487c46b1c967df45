/**
 * `robench certify`'s runs in results.json: each noise level is a run like any other, whose curve
 * is certified accuracy against l2 radius, so the reporters (table, CSV, report.html) and
 * `robench report` draw it with the radius on the x-axis. The attack is `certify` with sigma, n0,
 * n and alpha as its settings; per-sample outcomes say at which radius each sample stops being
 * certified (its `brokeAt`), and `clean` is the smoothed classifier's (PREDICT's) verdict.
 *
 * The run also keeps the record behind it (`smoothing`: per sample the chosen class, its count
 * among the n draws, the bound, the radius, PREDICT's class). The reader recomputes every bound
 * and radius from the counts and the curve from the radii, so an edited radius or accuracy never
 * reaches a table.
 */
import { UsageError } from '../core/errors.js';
import type { CurvePoint, RunResult, SampleOutcomes } from '../core/plugin-api.js';
import { certifiedCounts, smoothedCorrect, type SmoothingRecord } from '../evaluation/smoothing-record.js';
import { certify } from '../evaluation/smoothing.js';
import { readResults } from './results-file.js';

export const CERTIFY_ATTACK = 'certify';

export interface CertifyRun extends RunResult {
  smoothing: SmoothingRecord;
}

/** The parts of a run that are not the certificates: what was certified, where, when, how long. */
export type CertifyRunHeader = Pick<RunResult, 'robench' | 'model' | 'dataset' | 'backend' | 'backendDetail' | 'seed' | 'shard' | 'durationMs' | 'startedAt' | 'command'>;

/** Per sample, the position of the first radius it is not certified at (-1: certified at all of them). */
const brokeAt = (record: SmoothingRecord, radii: readonly number[]): number[] =>
  record.index.map((_, i) => (record.certified[i] === record.label[i] ? radii.findIndex((r) => record.radius[i]! < r) : 0));

function curve(record: SmoothingRecord, radii: readonly number[]): CurvePoint[] {
  const total = record.index.length;
  return certifiedCounts(record, radii).map((correct, k) => ({ perturbation: radii[k]!, correct, total, accuracy: correct / total }));
}

/** One noise level's run: the certified-accuracy curve at `radii` (ascending, from 0) and its outcomes. */
export function certifyRun(header: CertifyRunHeader, record: SmoothingRecord, radii: readonly number[]): CertifyRun {
  const outcomes: SampleOutcomes = { index: [...record.index], clean: record.predicted.map((p, i) => (p === record.label[i] ? 1 : 0)), brokeAt: brokeAt(record, radii) };
  const samples = record.index.length;
  return {
    ...header,
    attack: { id: CERTIFY_ATTACK, params: { sigma: record.sigma, n0: record.n0, n: record.n, alpha: record.alpha }, budget: 'l2', perturbation: 'certified radius' },
    // One computation certifies every radius: nothing is swept.
    sweep: false,
    cleanAccuracy: samples > 0 ? smoothedCorrect(record) / samples : NaN,
    points: curve(record, radii),
    outcomes,
    gradientEvaluations: 0,
    forwardEvaluations: (record.n0 + record.n) * samples,
    smoothing: record,
  };
}

const HINT = 'the file was edited, truncated or not written by robench certify: run robench certify again';

const fail = (where: string, field: string, want: string): never => {
  throw new UsageError(`${where}: field smoothing.${field} is not ${want}`, HINT);
};

function wholeNumbers(where: string, value: unknown, field: string, length: number, min: number, max: number): number[] {
  if (!Array.isArray(value) || value.length !== length || !value.every((v) => Number.isSafeInteger(v) && v >= min && v <= max)) fail(where, field, `${length} whole numbers from ${min} to ${max}`);
  return value as number[];
}

/** The smoothing record of a run, checked, with its bounds and radii recomputed from the counts and its curve from the radii. */
export function checkCertifyRun(run: RunResult, where: string): CertifyRun {
  const raw = (run as Partial<CertifyRun>).smoothing as unknown as Record<string, unknown> | undefined;
  if (typeof raw !== 'object' || raw === null) return fail(where, '', 'an object (the run is not one of robench certify)');
  const { sigma, n0, n, alpha } = raw;
  if (typeof sigma !== 'number' || !(sigma > 0) || !Number.isFinite(sigma)) fail(where, 'sigma', 'a number above 0');
  if (!Number.isSafeInteger(n0) || (n0 as number) < 1) fail(where, 'n0', 'a whole number of at least 1');
  if (!Number.isSafeInteger(n) || (n as number) < 1) fail(where, 'n', 'a whole number of at least 1');
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha < 1)) fail(where, 'alpha', 'a number between 0 and 1');
  const samples = run.dataset.samples;
  const index = wholeNumbers(where, raw.index, 'index', samples, 0, Number.MAX_SAFE_INTEGER);
  const label = wholeNumbers(where, raw.label, 'label', samples, 0, Number.MAX_SAFE_INTEGER);
  const topCount = wholeNumbers(where, raw.topCount, 'topCount', samples, 0, n as number);
  const chosen = wholeNumbers(where, raw.certified, 'certified', samples, -1, Number.MAX_SAFE_INTEGER);
  const predicted = wholeNumbers(where, raw.predicted, 'predicted', samples, -1, Number.MAX_SAFE_INTEGER);
  const certificates = topCount.map((k) => certify([1], [k, (n as number) - k], sigma as number, alpha as number));
  // An abstention records -1; a certificate the class chosen, which the counts alone do not tell.
  if (certificates.some((c, i) => (c.prediction === -1) !== (chosen[i] === -1))) fail(where, 'certified', 'the abstentions its counts imply');
  const record: SmoothingRecord = {
    sigma: sigma as number, n0: n0 as number, n: n as number, alpha: alpha as number, index, label, topCount, predicted, certified: chosen,
    pLower: certificates.map((c) => c.pLower),
    radius: certificates.map((c) => c.radius),
  };
  const rebuilt = certifyRun(run as CertifyRunHeader, record, run.points.map((p) => p.perturbation));
  const params = run.attack.params;
  if (params.sigma !== record.sigma || params.n0 !== record.n0 || params.n !== record.n || params.alpha !== record.alpha) fail(where, '', "the settings of the run's attack.params");
  if (rebuilt.points.some((p, k) => p.correct !== run.points[k]!.correct) || rebuilt.outcomes!.brokeAt!.some((b, i) => b !== run.outcomes?.brokeAt?.[i]) || rebuilt.outcomes!.clean.some((c, i) => c !== run.outcomes?.clean[i])) {
    throw new UsageError(`${where}: the certified radii do not reproduce the recorded curve`, HINT);
  }
  return { ...run, ...rebuilt, cleanAccuracy: rebuilt.cleanAccuracy };
}

/** The certify runs of a results.json (or of the folder robench certify wrote), checked through the results reader and then certificate by certificate. */
export function readCertifyResults(path: string): CertifyRun[] {
  const runs = readResults(path);
  return runs.map((run, i) => {
    const where = `${path} run ${i}`;
    if (run.attack.id !== CERTIFY_ATTACK) throw new UsageError(`${where} is a run of ${run.attack.id}, not of robench certify`, 'give the results.json robench certify wrote');
    return checkCertifyRun(run, where);
  });
}
