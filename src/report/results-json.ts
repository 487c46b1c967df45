/**
 * The text of results.json: indented for people, except arrays of plain numbers, which
 * stay on one line. Per-sample outcomes are such arrays, and one number a line would
 * make the records of 10,000 samples several times larger than the numbers themselves.
 * Parses back to exactly what JSON.stringify would give.
 */
import type { RunResult } from '../core/plugin-api.js';
import { resultsFileOf } from './results-file.js';

function write(value: unknown, depth: number): string | undefined {
  if (value === undefined || typeof value === 'function') return undefined;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return JSON.stringify(value);
  const inner = '  '.repeat(depth + 1);
  const outer = '  '.repeat(depth);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + (write(v, depth + 1) ?? 'null')).join(',\n')}\n${outer}]`;
  }
  const fields = Object.entries(value)
    .map(([k, v]) => [k, write(v, depth + 1)] as const)
    .filter(([, text]) => text !== undefined);
  if (fields.length === 0) return '{}';
  return `{\n${fields.map(([k, text]) => `${inner}${JSON.stringify(k)}: ${text}`).join(',\n')}\n${outer}}`;
}

/**
 * results.json's text: one shape for any number of runs, a versioned object holding them
 * (src/report/results-file.ts reads it, and the older bare object or array).
 */
export function resultsJson(results: RunResult[]): string {
  return `${write(resultsFileOf(results), 0)}\n`;
}

/** The text of any value with results.json's layout (numbers arrays on one line). */
export const layoutJson = (value: unknown): string => `${write(value, 0)}\n`;
