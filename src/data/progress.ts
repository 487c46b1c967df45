import ora, { type Ora } from 'ora';
import { formatDuration } from '../report/status-line.js';

/** Receives download progress; `total` is undefined when the server sends no length. */
export interface ProgressSink {
  update(received: number, total: number | undefined): void;
  finish(ok: boolean, message: string): void;
}

const MB = 1024 * 1024;

export function formatBytes(n: number): string {
  return n >= MB ? `${(n / MB).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

/**
 * Bytes, rate and time left as the text of an ora spinner on stderr. When stderr is not a
 * terminal (a log file, CI), ora's frames and colour codes would land in it as text: there the
 * download is one plain line when it starts, one a minute while it lasts, and one when it ends.
 */
export function spinnerProgress(label: string, tty = process.stderr.isTTY === true): ProgressSink {
  if (!tty) {
    let started = false;
    let lastLine = Date.now();
    return {
      update(received, total) {
        if (!started) {
          started = true;
          process.stderr.write(`${label}  downloading${total ? ` ${formatBytes(total)}` : ''}\n`);
          return;
        }
        // A long download says how far it got once a minute, so a log shows it is alive.
        if (Date.now() - lastLine < 60_000) return;
        lastLine = Date.now();
        process.stderr.write(`${label}  ${formatBytes(received)}${total ? ` of ${formatBytes(total)}` : ''} so far\n`);
      },
      finish(ok, message) {
        process.stderr.write(`${label}  ${ok ? '' : 'failed: '}${message}\n`);
      },
    };
  }
  const started = Date.now();
  let spinner: Ora | undefined;
  let lastDraw = 0;
  return {
    update(received, total) {
      const now = Date.now();
      if (spinner && now - lastDraw < 100) return;
      lastDraw = now;
      const secs = Math.max((now - started) / 1000, 1e-3);
      const rate = received / secs;
      const size = total ? `${formatBytes(received)} / ${formatBytes(total)}` : formatBytes(received);
      const left = total ? `, ${formatDuration((1000 * (total - received)) / Math.max(rate, 1))} left` : '';
      const text = `${label}  ${size}  ${formatBytes(rate)}/s${left}`;
      if (spinner) spinner.text = text;
      else spinner = ora({ text, stream: process.stderr }).start();
    },
    finish(ok, message) {
      spinner ??= ora({ stream: process.stderr });
      if (ok) spinner.succeed(`${label}  ${message}`);
      else spinner.fail(`${label}  ${message}`);
    },
  };
}
