/** Parsing of command-line values into numbers, grids and attack params, with usage errors. */
import { UsageError } from './errors.js';
import type { ParamSpecs, Params } from './plugin-api.js';

/** A number, or a fraction such as `8/255`. */
export function parseNumber(text: string, what: string): number {
  const trimmed = text.trim();
  const parts = trimmed.split('/');
  const value = parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : parts.length === 1 ? Number(trimmed) : NaN;
  if (trimmed === '' || !Number.isFinite(value)) {
    throw new UsageError(`${what}: '${text}' is not a number`, 'write a decimal such as 0.03 or a fraction such as 8/255');
  }
  return value;
}

/**
 * A perturbation grid: a comma-separated list (`0,2/255,4/255`) or
 * `start:stop:count`, evenly spaced with both ends included.
 */
export function parseGrid(text: string): number[] {
  let values: number[];
  if (text.includes(':')) {
    const parts = text.split(':');
    if (parts.length !== 3) {
      throw new UsageError(`--eps '${text}': a range is start:stop:count`, 'e.g. --eps 0:8/255:5');
    }
    const [start, stop] = parts.slice(0, 2).map((p) => parseNumber(p, '--eps'));
    const count = Number(parts[2]);
    if (!Number.isInteger(count) || count < 1) {
      throw new UsageError(`--eps '${text}': the count '${parts[2]}' must be a whole number of at least 1`, 'e.g. --eps 0:0.3:7');
    }
    values = count === 1 ? [start] : Array.from({ length: count }, (_, i) => start + ((stop - start) * i) / (count - 1));
  } else {
    values = text.split(',').map((p) => parseNumber(p, '--eps'));
  }
  for (const v of values) {
    if (v < 0) throw new UsageError(`--eps: perturbation sizes cannot be negative (got ${v})`, 'use sizes of 0 or more');
  }
  return [...new Set(values)].sort((a, b) => a - b);
}

export type InputRange = [number, number];

export function parseInputRange(text: string): InputRange {
  const allowed: Record<string, InputRange> = { '0,1': [0, 1], '0,255': [0, 255], '-1,1': [-1, 1] };
  const range = allowed[text.replace(/\s/g, '')];
  if (!range) throw new UsageError(`--input-range '${text}' is not supported`, 'use one of 0,1 | 0,255 | -1,1');
  return range;
}

export function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} '${text}' must be a whole number of at least 1`, `e.g. ${flag} 100`);
  return n;
}

export function parseSeed(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 32 - 1) {
    throw new UsageError(`--seed '${text}' must be a whole number between 0 and 4294967295`, 'e.g. --seed 0');
  }
  return n;
}

export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const camel = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * Turns raw option values (strings from the command line or values from a config
 * file) into typed attack params, filling declared defaults.
 */
export function resolveParams(attackId: string, specs: ParamSpecs, raw: Record<string, unknown>): Params {
  const params: Params = {};
  for (const [name, spec] of Object.entries(specs)) {
    const flag = `--${kebab(name)}`;
    const given = raw[camel(kebab(name))];
    if (given === undefined) {
      params[name] = spec.default;
      continue;
    }
    const text = String(given);
    switch (spec.type) {
      case 'number':
        params[name] = typeof given === 'number' ? given : parseNumber(text, flag);
        break;
      case 'int': {
        const v = Number(given);
        if (!Number.isInteger(v)) throw new UsageError(`${flag} '${text}' must be a whole number`, `attack ${attackId}: ${spec.description}`);
        params[name] = v;
        break;
      }
      case 'boolean':
        if (!['true', 'false'].includes(text)) throw new UsageError(`${flag} '${text}' must be true or false`, `attack ${attackId}: ${spec.description}`);
        params[name] = text === 'true';
        break;
      case 'string':
        if (spec.choices && !spec.choices.includes(text)) {
          throw new UsageError(`${flag} '${text}' is not one of ${spec.choices.join(', ')}`, `attack ${attackId}: ${spec.description}`);
        }
        params[name] = text;
        break;
    }
  }
  return params;
}
