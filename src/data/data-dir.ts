import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `$XDG_CACHE_HOME/robench`, else `~/.cache/robench`. */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return xdg ? join(resolve(xdg), 'robench') : join(homedir(), '.cache', 'robench');
}

/** Where dataset files live: the `--data-dir` flag, else `ROBENCH_DATA`, else the cache dir. */
export function resolveDataDir(flag?: string): string {
  if (flag) return resolve(flag);
  const env = process.env.ROBENCH_DATA;
  if (env) return resolve(env);
  return defaultCacheDir();
}
