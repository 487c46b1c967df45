/** Parsing of command-line values into numbers, grids and attack params, with usage errors. */
import { UsageError } from './errors.js';
import type { AttackPlugin, ImageShape, Norm, ParamSpec, ParamSpecs, Params } from './plugin-api.js';
import { guardedSync } from './plugin-guard.js';
import { booleanSetting, camel, choiceSetting, givenAs, intSetting, kebab, nearest, numberFrom, numberSetting, textSetting, type Bounds, type Origin, type Setting } from './settings.js';

export { camel, kebab };

/** The most budgets one grid may hold: each is a full attack over every sample. */
export const MAX_GRID_POINTS = 1000;

/** A number, or a fraction such as `8/255`. */
export function parseNumber(text: string, what: string): number {
  // The settings' reader: a decimal or a fraction with both parts ('/5' is no number, not 0).
  const value = numberFrom(text);
  if (!Number.isFinite(value)) {
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
    if (!Number.isInteger(count) || count < 1 || count > MAX_GRID_POINTS) {
      throw new UsageError(`--eps '${text}': the count '${parts[2]}' must be a whole number from 1 to ${MAX_GRID_POINTS}`, 'e.g. --eps 0:0.3:7');
    }
    values = count === 1 ? [start] : Array.from({ length: count }, (_, i) => start + ((stop - start) * i) / (count - 1));
  } else {
    const items = text.split(',');
    if (items.length > MAX_GRID_POINTS) throw new UsageError(`--eps lists ${items.length} budgets, more than ${MAX_GRID_POINTS}`, 'each budget is a full attack: choose fewer');
    values = items.map((p) => parseNumber(p, '--eps'));
  }
  for (const v of values) {
    if (v < 0) throw new UsageError(`--eps: perturbation sizes cannot be negative (got ${v})`, 'use sizes of 0 or more');
  }
  return [...new Set(values)].sort((a, b) => a - b);
}

export type InputRange = [number, number];

export function parseInputRange(text: string): InputRange {
  const allowed = new Map<string, InputRange>([['0,1', [0, 1]], ['0,255', [0, 255]], ['-1,1', [-1, 1]]]);
  const range = typeof text === 'string' ? allowed.get(text.replace(/\s/g, '')) : undefined;
  if (!range) throw new UsageError(`--input-range '${text}' is not supported`, 'use one of 0,1 | 0,255 | -1,1');
  return range;
}


/** A param declaration's bounds as the settings parser takes them. */
export const paramBounds = (spec: ParamSpec): Bounds => ({ min: spec.minimum, max: spec.maximum, above: spec.exclusiveMinimum });

/** The types a param may declare. */
export const PARAM_TYPES = ['number', 'int', 'string', 'boolean'] as const;

/** An attack param's declaration as a setting, so that its values are parsed like every other value. */
export function paramSetting(name: string, spec: ParamSpec): Setting {
  const decl = { name, description: spec.description, default: spec.default };
  const bounds = paramBounds(spec);
  switch (spec.type) {
    case 'int':
      return intSetting({ ...decl, default: spec.default as number | undefined, ...bounds });
    case 'number':
      return numberSetting({ ...decl, default: spec.default as number | undefined, ...bounds });
    case 'boolean':
      return booleanSetting({ ...decl, default: spec.default as boolean | undefined });
    case 'string':
      return spec.choices ? choiceSetting({ ...decl, default: spec.default as string | undefined, choices: spec.choices }) : textSetting({ ...decl, default: spec.default as string | undefined, valueName: '<value>' });
    default:
      throw new UsageError(`param '${name}' has the type ${JSON.stringify((spec as { type: unknown }).type)}`, `a param's type is one of ${PARAM_TYPES.join(', ')}`);
  }
}

/** The declared name a key refers to: the same name in camelCase or kebab-case, in any case. */
export function paramNamed(specs: ParamSpecs, key: string): string | undefined {
  const wanted = camel(kebab(key.trim())).toLowerCase();
  return Object.keys(specs).find((n) => camel(kebab(n)).toLowerCase() === wanted);
}

/** What resolveParams needs of an attack: its id, its declarations and its optional `check`. */
export type ParamOwner = Pick<AttackPlugin<any>, 'id' | 'params' | 'check'>;

/**
 * The attack's `check` of params valid one by one but not together, through the guarded path
 * (a usage error it throws names the attack; process.exit is refused): its errors name each
 * param as `origin` spells it. `label`: the attack as errors name it (an ensemble's member).
 */
export function checkParamsTogether(attack: ParamOwner, params: Params, origin: Origin = { source: 'flag' }, label = attack.id): void {
  const check = attack.check;
  if (typeof check !== 'function') return;
  guardedSync({ kind: 'attack', id: label, method: 'check', refuses: 'its params' }, () => {
    // Its own copy: a check cannot change the params the run gets.
    const returned: unknown = check.call(attack, { ...params }, (param: string, value?: unknown) => givenAs(origin, param, value));
    if (typeof (returned as Promise<unknown> | undefined)?.then === 'function') {
      (returned as Promise<unknown>).catch(() => undefined);
      throw new Error('returned a promise: check() must be synchronous (it runs before anything loads, in --dry-run too), throwing a UsageError to refuse');
    }
  });
}

/**
 * Turns raw option values (text from the command line, values from a config file, run.json or
 * `benchmark()`) into typed attack params, filling declared defaults. Every value is checked
 * against its declaration's type, bounds and choices, so that a setting that would make the
 * numbers meaningless (`--steps 0`) fails before any compute. Keys may be camelCase or
 * kebab-case (`stepSize`, `step-size`). With `strict`, a key that names no param is an error
 * suggesting the nearest; without, it belongs to another attack of the same run. Last, params
 * valid one by one but not together are refused by the attack's own `check` (AttackPlugin.check).
 * `opts.label`: the attack as errors name it (an ensemble's member; default its id).
 */
export function resolveParams(attack: ParamOwner, raw: Record<string, unknown>, opts: { origin?: Origin; strict?: boolean; label?: string } = {}): Params {
  const origin = opts.origin ?? { source: 'flag' };
  const specs = attack.params;
  const attackId = opts.label ?? attack.id;
  const params: Params = {};
  for (const [name, spec] of Object.entries(specs)) params[name] = spec.default;
  for (const key of Object.keys(raw)) {
    const value = raw[key];
    if (value === undefined) continue;
    const name = paramNamed(specs, key);
    if (name === undefined) {
      if (!opts.strict) continue;
      const names = Object.keys(specs).map(kebab);
      const near = nearest(kebab(key), names);
      throw new UsageError(
        `'${key}' is not a param of the attack '${attackId}'${near ? `; did you mean '${near}'?` : ''}`,
        names.length > 0 ? `its params: ${names.join(', ')} (robench list attacks --json)` : `the attack '${attackId}' takes no params`,
      );
    }
    const spec = specs[name];
    try {
      params[name] = paramSetting(name, spec).parse(value, origin) as number | string | boolean;
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      // The param's description helps a value of the wrong kind; a near miss of a choice (--corruption foggy) keeps its suggestion first.
      const about = `attack ${attackId}: ${spec.description}${spec.default !== undefined ? ` (default ${spec.default})` : ''}`;
      throw new UsageError(err.message, err.hint?.startsWith('did you mean') ? `${err.hint} (${about})` : about);
    }
  }
  checkParamsTogether(attack, params, origin, attackId);
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
