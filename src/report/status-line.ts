/**
 * The one-line status robench shows on stderr while it computes. ora animates from a timer, but a
 * run computing on the main thread awaits only microtasks between batches, so the timer never
 * fires and the line froze on its first text: every update renders at once instead (at most ten a
 * second). The line is off, and what finished is printed as plain lines, where stderr is not a
 * terminal, where the terminal reports zero columns (ora's line wrapping loops forever there), and
 * with --no-progress; colour only on a terminal.
 */
import { terminalText } from './safe-text.js';
import ora, { type Ora } from 'ora';

export interface StatusLine {
  update(text: string): void;
  succeed(text: string): void;
  fail(): void;
  stop(): void;
}

/** Whether stderr is a terminal that can hold a status line. */
export const interactiveStderr = (): boolean => Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) > 0;

export function statusLine(enabled: boolean = interactiveStderr()): StatusLine {
  if (!enabled) {
    return { update: () => {}, succeed: (text) => void process.stderr.write(`done: ${terminalText(text)}\n`), fail: () => {}, stop: () => {} };
  }
  let spinner: Ora | undefined;
  let drawn = 0;
  return {
    update(text) {
      spinner ??= ora({ stream: process.stderr }).start();
      // The text names models and attacks, ids a user chose: control characters are shown, not obeyed.
      spinner.text = terminalText(text);
      const now = Date.now();
      if (now - drawn >= 100) {
        drawn = now;
        spinner.render();
      }
    },
    succeed(text) {
      (spinner ?? ora({ stream: process.stderr })).succeed(terminalText(text));
      spinner = undefined;
    },
    fail() {
      spinner?.fail();
      spinner = undefined;
    },
    stop() {
      spinner?.stop();
      spinner = undefined;
    },
  };
}

/** 42s, 3m07s, 2h05m. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
