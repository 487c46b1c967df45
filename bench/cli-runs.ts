/**
 * End-to-end figures from the robench CLI itself: the worker-thread speed-up and the
 * peak memory of a 10,000-sample run, measured on the process as a user runs it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const bin = resolve(import.meta.dirname, '..', '..', 'bin', 'robench');

/** Peak resident memory of a process so far (Linux: VmHWM, which covers its worker threads). */
function peakRssMb(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface CliRun {
  seconds: number;
  /** Undefined where /proc is not available. */
  peakRssMb?: number;
}

/** Runs `robench <args>` and reports its wall time and peak memory; rejects with its stderr on failure. */
export function timedRun(args: string[]): Promise<CliRun> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let peak: number | undefined;
    child.stderr.on('data', (d) => (stderr += d));
    const poll = setInterval(() => {
      const now = peakRssMb(child.pid!);
      if (now !== undefined) peak = Math.max(peak ?? 0, now);
    }, 100);
    child.on('exit', (code) => {
      clearInterval(poll);
      if (code !== 0) fail(new Error(`robench ${args.join(' ')} exited ${code}: ${stderr}`));
      else done({ seconds: (performance.now() - t0) / 1000, peakRssMb: peak });
    });
  });
}
