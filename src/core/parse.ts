/** Parsing of command-line values into numbers, grids and attack params, with usage errors. */
import { UsageError } from './errors.js';
import type { ImageShape, Norm, ParamSpec, ParamSpecs, Params } from './plugin-api.js';

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

/** The range a numeric param accepts, in words (`at least 1`, `greater than 0 and at most 1`), or undefined when unbounded. */
export function describeBounds(spec: ParamSpec): string | undefined {
  const lower =
    spec.exclusiveMinimum !== undefined ? `greater than ${spec.exclusiveMinimum}` : spec.minimum !== undefined ? `at least ${spec.minimum}` : undefined;
  const upper = spec.maximum !== undefined ? `at most ${spec.maximum}` : undefined;
  if (lower && upper) return `${lower} and ${upper}`;
  return lower ?? upper;
}

/** Whether a number lies inside a spec's bounds. */
export function withinBounds(spec: ParamSpec, v: number): boolean {
  if (spec.minimum !== undefined && v < spec.minimum) return false;
  if (spec.exclusiveMinimum !== undefined && v <= spec.exclusiveMinimum) return false;
  return spec.maximum === undefined || v <= spec.maximum;
}

function numericParam(attackId: string, name: string, spec: ParamSpec, given: unknown): number {
  const flag = `--${kebab(name)}`;
  const text = String(given);
  const whole = spec.type === 'int';
  const v = typeof given === 'number' ? given : whole ? Number(text.trim() === '' ? NaN : text) : parseNumber(text, flag);
  const kind = whole ? 'a whole number' : 'a number';
  const bounds = describeBounds(spec);
  if (!Number.isFinite(v) || (whole && !Number.isInteger(v)) || !withinBounds(spec, v)) {
    throw new UsageError(
      `${flag} '${text}' must be ${kind}${bounds ? ` ${bounds}` : ''}`,
      `attack ${attackId}: ${spec.description}${spec.default !== undefined ? ` (default ${spec.default})` : ''}`,
    );
  }
  return v;
}

/**
 * Turns raw option values (strings from the command line or values from a config
 * file) into typed attack params, filling declared defaults. Every value is
 * checked against its spec's type, bounds and choices, so that a setting that
 * would make the numbers meaningless (`--steps 0`) fails before any compute.
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
      case 'int':
        params[name] = numericParam(attackId, name, spec, given);
        break;
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

/**
 * Budgets are in [0, 1] pixel units, so an l-inf budget above 1 or an l2 budget
 * above the image's diameter (the largest distance between two images) allows
 * every image and says nothing about robustness: almost always `--eps 8` meant
 * 8/255. Checked once the grid, the norm and the image shape are all known.
 */
export function checkBudgets(grid: number[], norm: Norm | null, shape: ImageShape, source: string): void {
  const negative = grid.find((v) => !(v >= 0));
  if (negative !== undefined) throw new UsageError(`${source}: perturbation sizes cannot be negative (got ${negative})`, 'use sizes of 0 or more');
  if (norm === null) return;
  const diameter = Math.sqrt(shape[0] * shape[1] * shape[2]);
  const limit = norm === 'linf' ? 1 : diameter;
  const over = grid.find((v) => v > limit);
  if (over === undefined) return;
  const scale = norm === 'linf' ? 'the whole pixel range [0, 1]' : `the diameter of a ${shape.join('x')} image, sqrt(${shape.join('*')}) = ${+diameter.toFixed(3)}`;
  const guess = over <= 255 ? `; did you mean ${+over.toFixed(6)}/255?` : '';
  throw new UsageError(
    `${source}: the ${norm === 'linf' ? 'l-inf' : 'l2'} budget ${over} exceeds ${scale}, so it allows any image`,
    `budgets are in [0, 1] pixel units${guess}`,
  );
}
