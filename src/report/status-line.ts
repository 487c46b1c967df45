/**
 * The one-line status robench shows on stderr while it computes. The run computes on the main
 * thread between awaits that resolve as microtasks, and one attack call (an APGD batch) can take
 * minutes without yielding: a timer on the main thread (ora's) never fires there, and the line
 * froze, spinner included, for over a minute. So the line is drawn by a worker thread that writes
 * to stderr's file descriptor itself, ten times a second: its spinner turns and its time left
 * counts down while the main thread is busy; the main thread only posts new text. The line is off,
 * and what finished is printed as plain lines, where stderr is not a terminal, where the terminal
 * reports zero columns, and with --no-progress; no colour or frames then.
 */
import { Worker } from 'node:worker_threads';
import { terminalText } from './safe-text.js';

export interface StatusLine {
  /** `leftMs`: an estimate of the time left when the text was made, counted down between updates. */
  update(text: string, leftMs?: number): void;
  succeed(text: string): void;
  /** A line of its own above the status line (which goes on), e.g. a warning at a run's start. */
  note(text: string): void;
  fail(): void;
  stop(): void;
}

/** Whether stderr is a terminal that can hold a status line. */
export const interactiveStderr = (): boolean => Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) > 0;

/** Frames, as ora's 'dots'. */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * The drawing thread. `state[0]` is 1 while it may draw; the main thread sets it to 0 (and waits
 * for `state[1]`, the worker's "not drawing" flag) before it writes a line of its own, so the two
 * never write into each other's lines.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const state = new Int32Array(workerData.shared);
const frames = ${JSON.stringify(FRAMES)};
let text = '', left, at = Date.now(), frame = 0, columns = workerData.columns;
const fmt = ${formatDurationSource()};
parentPort.on('message', (m) => { text = m.text; left = m.leftMs; at = Date.now(); columns = m.columns || columns; draw(); });
function draw() {
  Atomics.store(state, 1, 1);
  if (Atomics.load(state, 0) === 1 && text !== '') {
    const countdown = left === undefined ? '' : ' · ' + fmt(Math.max(0, left - (Date.now() - at))) + ' left';
    // One line, never wrapped: a wrapped line cannot be rewritten with a carriage return.
    const line = (frames[frame++ % frames.length] + ' ' + text + countdown).slice(0, Math.max(columns - 1, 10));
    try { writeSync(${'${FD}'}, '\\r\\x1b[K' + line); } catch {}
  }
  Atomics.store(state, 1, 0);
}
setInterval(draw, 100);
`;

/** formatDuration's source, for the worker (which cannot import this module). */
function formatDurationSource(): string {
  return formatDuration.toString();
}

export function statusLine(enabled: boolean = interactiveStderr(), fd = 2): StatusLine {
  if (!enabled) {
    return {
      update: () => {},
      succeed: (text) => void process.stderr.write(`done: ${terminalText(text)}\n`),
      note: (text) => void process.stderr.write(`note: ${terminalText(text)}\n`),
      fail: () => {},
      stop: () => {},
    };
  }
  let worker: Worker | undefined;
  const shared = new SharedArrayBuffer(8);
  const state = new Int32Array(shared);
  let shown = false;
  /** Stops the worker drawing and clears its line, so the main thread can write. */
  const pause = (): void => {
    Atomics.store(state, 0, 0);
    // A draw under way is one short synchronous write: wait it out.
    while (Atomics.load(state, 1) === 1);
    if (shown) process.stderr.write('\r\x1b[K');
    shown = false;
  };
  const columns = (): number => process.stderr.columns || 80;
  return {
    update(text, leftMs) {
      worker ??= (() => {
        const w = new Worker(WORKER.replace('${FD}', String(fd)), { eval: true, execArgv: [], workerData: { shared, columns: columns() } });
        // The line must never keep robench alive, nor a failure to draw stop a run.
        w.unref();
        w.on('error', () => undefined);
        return w;
      })();
      Atomics.store(state, 0, 1);
      shown = true;
      // The text names models and attacks, ids a user chose: control characters are shown, not obeyed.
      worker.postMessage({ text: terminalText(text), leftMs, columns: columns() });
    },
    succeed(text) {
      pause();
      process.stderr.write(`✔ ${terminalText(text)}\n`);
    },
    note(text) {
      const drawing = shown;
      pause();
      process.stderr.write(`note: ${terminalText(text)}\n`);
      if (drawing) {
        shown = true;
        Atomics.store(state, 0, 1);
      }
    },
    fail() {
      pause();
    },
    stop() {
      pause();
      void worker?.terminate();
      worker = undefined;
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
