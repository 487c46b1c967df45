/**
 * Partial downloads are removed when the process ends before they finish: on SIGINT or
 * SIGTERM (Node's default for those would leave them on disk) and on process.exit() from
 * anyone else's signal handler, such as `robench run`'s. Removal is synchronous because
 * the event loop may not run again.
 */
import { unlinkSync } from 'node:fs';

const inFlight = new Map<string, string>();

function removeAll(): void {
  for (const path of inFlight.keys()) {
    try {
      unlinkSync(path);
    } catch {
      // Already gone: the download's own error path got there first.
    }
  }
  inFlight.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  const urls = [...inFlight.values()];
  removeAll();
  // With another handler installed, that one decides how the process ends.
  if (process.listenerCount(signal) > 1) return;
  process.stderr.write(`\nrobench: interrupted (${signal}): download of ${urls.join(', ')} stopped; the partial file was removed\n`);
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/** Marks `path` as the partial download of `url` until `settled` is called. */
export function trackPartial(path: string, url: string): { settled(): void } {
  if (inFlight.size === 0) {
    process.on('exit', removeAll);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  inFlight.set(path, url);
  return {
    settled() {
      inFlight.delete(path);
      if (inFlight.size > 0) return;
      process.off('exit', removeAll);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
