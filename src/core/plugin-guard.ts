/**
 * The one guarded path of every plugin call (an attack's run and check, a model's load and logits, a
 * dataset's load, a reporter's write): errors that name the plugin and the call, a time limit
 * on asynchronous calls, and process.exit refused while a call runs. What each call must
 * return is checked by its caller (attack-checks.ts, plugin-results.ts).
 */
import { fileURLToPath } from 'node:url';
import { RobenchError, UsageError } from './errors.js';
import type { PluginKind } from './plugin-api.js';
import { fromEnv, intSetting, numberSetting } from './settings.js';

/** One call into a plugin, as errors name it. */
export interface PluginCall {
  kind: PluginKind;
  id: string;
  /** The method called: 'run', 'check', 'load', 'logits', 'write'. */
  method: string;
  /** Where in the run, for errors: 'at perturbation 0.1' (default: 'in load()'). */
  at?: string;
  /** A call that checks inputs (an attack's check): what a usage error it throws refuses, read `attack 'pgd' refuses its params: ...`. */
  refuses?: string;
}

/** How a plugin call is bounded; settable per process (ROBENCH_PLUGIN_TIMEOUT_S, ROBENCH_PLUGIN_TENSOR_LIMIT). */
export interface PluginLimits {
  /** Longest a single call may take before it is stopped with an error naming the plugin (ms). */
  timeoutMs: number;
  /** Tensors a plugin may leave behind over a run before it is stopped (warned about from the first). */
  tensorLimit: number;
  /** Where warnings go (stderr by default). */
  warn: (line: string) => void;
}

const CALL_TIMEOUT = numberSetting({ name: 'pluginTimeoutS', above: 0, max: 1e7, default: 1800, description: 'seconds one plugin call may take' });
const TENSOR_LIMIT = intSetting({ name: 'pluginTensorLimit', min: 1, max: 1e9, default: 10_000, description: 'tensors a plugin may leave behind over a run' });

/** The limits in force: 30 minutes a call (a strong attack on a large batch on a CPU takes minutes), 10,000 leaked tensors. */
export const pluginLimits = (): PluginLimits => ({
  timeoutMs: fromEnv(CALL_TIMEOUT, 'ROBENCH_PLUGIN_TIMEOUT_S')! * 1000,
  tensorLimit: fromEnv(TENSOR_LIMIT, 'ROBENCH_PLUGIN_TENSOR_LIMIT')!,
  warn: (line) => void process.stderr.write(`warning: ${line}\n`),
});

export const pluginName = (call: PluginCall): string => `${call.kind} '${call.id}'`;
const where = (call: PluginCall): string => call.at ?? `in ${call.method}()`;

/** The asynchronous calls under way, latest last: what `unsettledError` names if robench stops beside them. */
const pending: PluginCall[] = [];

/**
 * What robench was waiting on when nothing was left that could settle it (its event loop emptied
 * with the command unfinished): the plugin calls under way, latest first (a call inside another,
 * such as a composite attack's member, comes before it), else the command.
 */
export function unsettledError(): RobenchError {
  const calls = pending.map((c) => `${pluginName(c)} ${c.method}()${c.at ? ` (${c.at})` : ''}`).reverse();
  if (calls.length === 0) return new RobenchError('robench stopped before its command finished: a promise never settled and nothing was left to wait on', 'this is a robench bug if no plugin is involved: please report it with the command line');
  return new RobenchError(
    `${calls[0]} never finished${calls.length > 1 ? ` (also unfinished: ${calls.slice(1).join(', ')})` : ''}: its promise can no longer settle`,
    'make every path of the plugin resolve or throw: it awaits a promise that nothing is left to settle (no timer, file or socket)',
  );
}

/**
 * An exit from inside a plugin call would end robench with the plugin's status, no output and a
 * half-written run; while a call runs, process.exit throws instead (naming the innermost plugin).
 */
const exitGuards: PluginCall[] = [];
/** robench's command-line and download code, whose exits (signal handlers) are robench's own. */
const OWN_EXITS = ['cli', 'data'].map((dir) => fileURLToPath(new URL(`../${dir}/`, import.meta.url)));
const robenchExit = (stack: string): boolean => OWN_EXITS.some((dir) => stack.includes(dir));
const realExit = process.exit;

function guardExit(call: PluginCall): () => void {
  exitGuards.push(call);
  if (exitGuards.length === 1) {
    process.exit = ((code?: number) => {
      // robench's own exits (the SIGINT/SIGTERM handlers of run and data fetch) stay exits.
      if (robenchExit(new Error().stack ?? '')) return realExit(code);
      const inner = exitGuards[exitGuards.length - 1]!;
      throw new RobenchError(`${pluginName(inner)} called process.exit(${code ?? ''}) during ${inner.method}()`, 'a plugin must return or throw; robench decides when to exit');
    }) as typeof process.exit;
  }
  return () => {
    exitGuards.splice(exitGuards.lastIndexOf(call), 1);
    if (exitGuards.length === 0) process.exit = realExit;
  };
}

/** What a plugin threw, as an error naming it and the call (a usage error stays one; robench's own errors about it pass unchanged). */
export function pluginFailure(call: PluginCall, err: unknown): RobenchError {
  if (err instanceof RobenchError && err.message.startsWith(pluginName(call))) return err;
  const message = `${pluginName(call)} failed ${where(call)}: ${(err as Error)?.message ?? err}`;
  if (err instanceof UsageError) return new UsageError(call.refuses ? `${pluginName(call)} refuses ${call.refuses}: ${err.message}` : message, err.hint);
  const failure = new RobenchError(message, err instanceof RobenchError ? err.hint : `fix the ${call.kind}, or run with --verbose for its stack trace`);
  failure.stack = (err as Error)?.stack;
  return failure;
}

/** A synchronous plugin call (a model's logits): errors name the plugin, process.exit is refused. */
export function guardedSync<T>(call: PluginCall, fn: () => T): T {
  const release = guardExit(call);
  try {
    return fn();
  } catch (err) {
    throw pluginFailure(call, err);
  } finally {
    release();
  }
}

/**
 * An asynchronous plugin call: as guardedSync, and stopped after `limits.timeoutMs`. The timer
 * does not keep robench alive: a promise that nothing can settle any more ends the process at
 * once, and the CLI names the call (unfinishedCalls) instead of waiting out the limit.
 */
export async function guardedCall<T>(call: PluginCall, fn: () => T | Promise<T>, limits: PluginLimits = pluginLimits()): Promise<T> {
  const release = guardExit(call);
  pending.push(call);
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<never>((_, reject) => {
      const message = `${pluginName(call)} did not finish ${call.method}() within ${limits.timeoutMs / 1000} s${call.at ? ` (${call.at})` : ''}`;
      timer = setTimeout(() => reject(new RobenchError(message, `the ${call.kind} hangs (a promise that never settles?), or raise the limit with ROBENCH_PLUGIN_TIMEOUT_S`)), limits.timeoutMs);
      timer.unref();
    });
    return await Promise.race([Promise.resolve().then(fn), late]);
  } catch (err) {
    throw pluginFailure(call, err);
  } finally {
    clearTimeout(timer);
    pending.splice(pending.lastIndexOf(call), 1);
    release();
  }
}
