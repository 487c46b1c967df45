/**
 * What makes a run resumable: run.json beside results.json holds the run's settings and which
 * (model, attack) pairs are finished, and every results.json written while the run is going
 * marks its entries `"complete": false` (a crash or kill -9 included), with the unfinished part
 * in `pending`. `robench run --resume DIR` evaluates only what is missing; every sample draws
 * from its own random streams, so the numbers are those of an uninterrupted run.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../runtime/atomic.js';
import { UsageError } from '../core/errors.js';
import type { RunResult } from '../core/plugin-api.js';
import { resultsJson } from '../report/results-json.js';
import { readPartialResults } from '../report/results-file.js';

export interface RunRecord<O> {
  robench: string;
  complete: boolean;
  /** Why the run stopped early, e.g. SIGINT. */
  interrupted?: string;
  /** The settings `--resume` runs again with. */
  options: O;
  /** Every pair of the run in order, `model / attack`, and how many are finished. */
  pairs: string[];
  finished: number;
}

const RUN_FILE = 'run.json';

export function readRunRecord<O>(dir: string): { record: RunRecord<O>; results: RunResult[] } {
  const file = join(dir, RUN_FILE);
  if (!existsSync(file)) throw new UsageError(`${dir} holds no run.json, so it is not a run robench can resume`, 'give the folder an interrupted `robench run` wrote (its --out)');
  const record = checkRunRecord<O>(readFileSync(file, 'utf8'), file);
  if (record.complete) throw new UsageError(`the run in ${dir} is complete: there is nothing to resume`, 'use robench report to rebuild its report');
  // The same validating reader as report and check, unfinished runs allowed: resuming trusts the counts it continues from.
  const results = readPartialResults(join(dir, 'results.json'));
  return { record, results };
}

/** run.json's fields, checked: a hand-edited or truncated one names itself and the field. */
function checkRunRecord<O>(text: string, file: string): RunRecord<O> {
  const bad = (field: string, want: string): never => {
    throw new UsageError(`${file}: field ${field} is not ${want}`, 'the file was edited or truncated: start the run again without --resume');
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`, 'the file was edited or truncated: start the run again without --resume');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('(the record)', 'an object');
  const r = parsed as Record<string, unknown>;
  if (typeof r.complete !== 'boolean') bad('complete', 'true or false');
  if (typeof r.options !== 'object' || r.options === null || Array.isArray(r.options)) bad('options', 'an object of settings');
  if (!Array.isArray(r.pairs) || r.pairs.some((p) => typeof p !== 'string')) bad('pairs', 'an array of "model / attack" strings');
  const pairs = r.pairs as string[];
  if (!Number.isSafeInteger(r.finished) || (r.finished as number) < 0 || (r.finished as number) > pairs.length) bad('finished', `an integer in [0, ${pairs.length}]`);
  return r as unknown as RunRecord<O>;
}

/** Writes run.json and results.json as the run goes; the last write of a finished run marks both complete. */
export class RunState<O> {
  private record: RunRecord<O>;
  private results: RunResult[] = [];

  constructor(
    private readonly dir: string,
    robench: string,
    options: O,
    pairs: string[],
    private readonly writesResults: boolean,
    /** Called once, before the first file is written: what an earlier run left in the folder is moved aside then, not before compute starts. */
    private readonly beforeFirstSave?: () => Promise<void>,
  ) {
    this.record = { robench, complete: false, options, pairs, finished: 0 };
  }

  private started = false;

  /** Whether this run has written run.json (a run stopped before its first model loaded has written nothing). */
  get hasStarted(): boolean {
    return this.started;
  }

  /** Whether this run has written a results.json. */
  get hasResults(): boolean {
    return this.started && this.writesResults && this.results.length > 0;
  }

  /** The finished pairs' results and, when one is under way, its partial result (with `pending`). */
  async save(finished: RunResult[], partial?: RunResult): Promise<void> {
    if (!this.started) {
      await this.beforeFirstSave?.();
      this.started = true;
    }
    this.record.finished = finished.length;
    this.results = [...finished, ...(partial ? [partial] : [])].map((r) => ({ ...r, complete: false }));
    await writeFileAtomic(join(this.dir, RUN_FILE), `${JSON.stringify(this.record, null, 2)}\n`);
    if (this.writesResults && this.results.length > 0) await writeFileAtomic(join(this.dir, 'results.json'), resultsJson(this.results));
  }

  async complete(): Promise<void> {
    this.record = { ...this.record, complete: true, finished: this.record.pairs.length };
    await writeFileAtomic(join(this.dir, RUN_FILE), `${JSON.stringify(this.record, null, 2)}\n`);
  }

  /** From a signal handler, synchronously: the event loop may not run again. */
  markInterruptedSync(reason: string): void {
    // Nothing written yet: the folder still holds only what was there before, which is not this run's to mark.
    if (!this.started) return;
    this.record.interrupted = reason;
    const file = join(this.dir, RUN_FILE);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(this.record, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  get finished(): number {
    return this.record.finished;
  }

  get pairs(): string[] {
    return this.record.pairs;
  }
}
