/**
 * Errors a user can act on. The CLI prints their message (and the stack only with
 * --verbose) and exits 2 for usage errors, 1 for everything else.
 */
import { terminalText } from './terminal-text.js';

export class RobenchError extends Error {
  readonly exitCode: number = 1;
  readonly hint?: string;
  constructor(message: string, hint?: string) {
    // Messages name ids, paths and values a user or a file chose, and are printed on the terminal:
    // their control characters are escaped here, once for every error (newlines and tabs kept).
    super(terminalText(message, true));
    this.hint = hint === undefined ? undefined : terminalText(hint, true);
    this.name = 'RobenchError';
  }
}

/** A bad flag, unknown id or invalid value: exit code 2. */
export class UsageError extends RobenchError {
  override readonly exitCode = 2;
  constructor(message: string, hint?: string) {
    super(message, hint);
    this.name = 'UsageError';
  }
}
