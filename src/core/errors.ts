/**
 * Errors a user can act on. The CLI prints their message (and the stack only with
 * --verbose) and exits 2 for usage errors, 1 for everything else.
 */
export class RobenchError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string, readonly hint?: string) {
    super(message);
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
