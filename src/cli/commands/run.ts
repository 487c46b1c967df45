/**
 * `robench run`: evaluate a model under an attack over a grid of perturbation sizes. The run
 * itself is the library's (src/evaluation/run-spec.ts plans it, src/evaluation/evaluate-run.ts evaluates it, as
 * `benchmark()` does); this file shows its progress and handles the interrupt.
 */
import { join } from 'node:path';
import { evaluateRun } from '../../evaluation/evaluate-run.js';
import type { ReportRun } from '../../evaluation/gallery.js';
import { robenchVersion } from '../../core/paths.js';
import type { Registry } from '../../core/registry.js';
import type { PairProgress, RunHooks } from '../../evaluation/run-plan.js';
import { planRun, resumeSpec, writeReports, type RunSpec } from '../../evaluation/run-spec.js';
import { formatDuration, statusLine, type StatusLine } from '../../report/status-line.js';

export interface RunOptions extends RunSpec {
  /** Show the status line (default: when stderr is a terminal). */
  progress?: boolean;
}

export { robenchVersion };

/** `robench run --resume DIR`: the interrupted run's own settings, with only --workers and --no-progress taken from now. */
export function resumeOptions(dir: string, now: Pick<RunOptions, 'workers' | 'progress'>): RunOptions & { resume: true } {
  return { ...resumeSpec<RunOptions>(dir, { workers: now.workers }), progress: now.progress, resume: true };
}

function progressText(p: PairProgress): string {
  const what = p.phase === 'clean' ? 'clean accuracy' : `${p.attack} at ${p.perturbation.toPrecision(3)}`;
  const left = formatDuration(((p.total - p.done) / Math.max(p.rate, 1e-9)) * 1000);
  return `${p.model}: ${what} · ${Math.floor((100 * p.done) / p.total)}% · ${p.rate.toFixed(0)} samples/s · ${left} left`;
}

function statusHooks(status: StatusLine, onPairStart: (pair: string) => void): RunHooks {
  return {
    onLoadingData: (dataset) => status.update(`loading ${dataset} test data`),
    onPairStart: ({ model, attack }) => onPairStart(`${model} under ${attack}`),
    onProgress: (p) => status.update(progressText(p)),
    onSparsity: (model) => status.update(`${model}: activation sparsity`),
    onPairEvaluated: ({ model, attack, samples, durationMs }) => status.succeed(`${model} under ${attack}: ${samples} samples in ${formatDuration(durationMs)}`),
  };
}

/**
 * Evaluates every model under every attack, on the same samples, and writes one
 * combined report. The output folder is prepared before anything loads; results.json
 * and run.json are saved after every slice of samples, so an interrupt or a failure
 * keeps what finished and `--resume` continues from there.
 */
export async function runCommand(registry: Registry, opts: RunOptions & { resume?: boolean }): Promise<ReportRun[]> {
  const { resume, ...options } = opts;
  const run = await planRun(registry, options, { resume });
  const { outDir, resumable } = run;
  const { state } = run.plan.saved;
  const status = statusLine(opts.progress);
  let current = '';
  const onSignal = (signal: NodeJS.Signals): void => {
    status.stop();
    state.markInterruptedSync(signal);
    const left = state.pairs.slice(state.finished);
    const saved = resumable ? `finished part saved in ${join(outDir, 'results.json')} (marked "complete": false)` : 'nothing saved: add json to --format to make a run resumable';
    console.error(`robench: interrupted by ${signal} during ${current}; ${state.finished} of ${state.pairs.length} model/attack pairs finished, left: ${left.join(', ')}; ${saved}`);
    if (resumable) console.error(`robench: continue with: robench run --resume ${outDir}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let results: ReportRun[];
  try {
    results = await evaluateRun(run.plan, statusHooks(status, (pair) => (current = pair)));
  } catch (err) {
    status.fail();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const written = await writeReports(run, results, (line) => console.log(line));
  if (written.length > 0) console.error(`wrote ${written.join(', ')}`);
  return results;
}
