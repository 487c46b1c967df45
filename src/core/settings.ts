/**
 * One declaration per setting, and the one parser every value goes through.
 *
 * A setting is a name, a type with its bounds or choices, a default and a description. From
 * the declarations derive the command-line flags and their help (src/cli/options.ts), the
 * checks of robench.config.json, of `benchmark()`'s options and of a run.json read back on
 * `--resume`: a value is checked the same way wherever it enters, and its error names where
 * it came from (the flag, the config key, the option, the file and field).
 *
 * Why the upper bounds: a value that exhausts memory or time (a grid of 3e8 budgets, a
 * hundred worker threads) must be a usage error before anything loads, not a crash after
 * minutes. Why Maps and `Object.hasOwn`: a user's string (`constructor`, `__proto__`) must
 * never be looked up on an object's prototype.
 */
import { closest } from 'fastest-levenshtein';
import { UsageError } from './errors.js';

/** Where a value came from, for its error messages. */
export type Origin =
  | { source: 'flag' }
  | { source: 'config'; file: string; section?: string }
  | { source: 'option'; api: string }
  | { source: 'file'; file: string; field: string }
  | { source: 'env'; variable: string };

export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const camel = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The value's name as its origin spells it: `--batch`, `robench.config.json: "run.batch"`, `benchmark() option "batch"`. */
export function originLabel(origin: Origin, name: string): string {
  switch (origin.source) {
    case 'flag':
      return `--${kebab(name)}`;
    case 'config':
      return `${origin.file}: "${origin.section ? `${origin.section}.` : ''}${name}"`;
    case 'option':
      return `${origin.api} option "${name}"`;
    case 'file':
      return `${origin.file}: "${origin.field}.${name}"`;
    case 'env':
      return `the environment variable ${origin.variable}`;
  }
}

/** The place itself: the config section, the API, the file's field. */
export function originPlace(origin: Origin): string {
  switch (origin.source) {
    case 'flag':
      return 'the command line';
    case 'config':
      return `${origin.file}${origin.section ? `: "${origin.section}"` : ''}`;
    case 'option':
      return `${origin.api} options`;
    case 'file':
      return `${origin.file}: "${origin.field}"`;
    case 'env':
      return `the environment variable ${origin.variable}`;
  }
}

/** Runs a parser written for a flag (its errors start `--name`) with its errors naming `origin` instead. */
export function relabelled<T>(origin: Origin, name: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof UsageError && err.message.startsWith(`--${kebab(name)}`)) throw new UsageError(originLabel(origin, name) + err.message.slice(kebab(name).length + 2), err.hint);
    throw err;
  }
}

/**
 * A value's name, and its value where given, as its origin spells it: `--loss kl` and
 * `--no-random-start` for a flag, `benchmark() params option "loss" 'kl'` for an option.
 */
export function givenAs(origin: Origin, name: string, value?: unknown): string {
  if (value === undefined) return originLabel(origin, name);
  if (origin.source === 'flag') return typeof value === 'boolean' ? `--${value ? '' : 'no-'}${kebab(name)}` : `--${kebab(name)} ${String(value)}`;
  return `${originLabel(origin, name)} ${shown(value)}`;
}

/** The text a value is shown as in an error: strings as they are, other values as JSON. */
export const shown = (value: unknown): string => (typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value)));

export interface Setting<T = unknown> {
  /** camelCase: the key in robench.config.json, `benchmark()` and run.json; the flag is its kebab-case. */
  name: string;
  description: string;
  /** What the help shows after the flag (`<n>`); absent for a boolean. */
  valueName?: string;
  /** The value when none is given; undefined means "chosen at run time" (the help says how). */
  default?: T;
  /** Choices the help and the suggestion for a mistyped value list. */
  choices?: readonly string[];
  /** Whether its flag may be given more than once (each adds a value). */
  repeatable?: boolean;
  boolean?: boolean;
  /** Checks and converts a raw value (a flag's text, a JSON value, an option). */
  parse(value: unknown, origin: Origin): T;
}

function fail(origin: Origin, name: string, value: unknown, must: string, fix: string): never {
  throw new UsageError(`${originLabel(origin, name)} ${shown(value)} ${must}`, fix);
}

/** A number, or a fraction such as `8/255`, from text (a flag) or a JSON number. */
export function numberFrom(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return NaN;
  const trimmed = value.trim();
  if (trimmed === '') return NaN;
  const parts = trimmed.split('/');
  if (parts.length === 2) return parts[0].trim() === '' || parts[1].trim() === '' ? NaN : Number(parts[0]) / Number(parts[1]);
  return parts.length === 1 ? Number(trimmed) : NaN;
}

export interface Bounds {
  min?: number;
  max?: number;
  /** The value must be strictly greater than this. */
  above?: number;
  /** The value must be strictly less than this. */
  below?: number;
}

export function boundsText(b: Bounds): string {
  const parts = [
    b.above !== undefined ? `greater than ${b.above}` : b.min !== undefined ? `at least ${b.min}` : undefined,
    b.below !== undefined ? `less than ${b.below}` : b.max !== undefined ? `at most ${b.max}` : undefined,
  ].filter(Boolean);
  return parts.join(' and ');
}

export function inBounds(b: Bounds, v: number): boolean {
  return (b.min === undefined || v >= b.min) && (b.max === undefined || v <= b.max) && (b.above === undefined || v > b.above) && (b.below === undefined || v < b.below);
}

type Decl<T> = Omit<Setting<T>, 'parse'>;

/** A whole number within bounds. */
export function intSetting(decl: Decl<number> & Bounds): Setting<number> {
  return {
    valueName: '<n>',
    ...decl,
    parse(value, origin) {
      const v = numberFrom(value);
      const bounds = boundsText(decl);
      if (!Number.isInteger(v) || !inBounds(decl, v)) {
        fail(origin, decl.name, value, `must be a whole number${bounds ? ` ${bounds}` : ''}`, `e.g. ${exampleOf(decl)}`);
      }
      return v;
    },
  };
}

/** A finite number (or fraction) within bounds. */
export function numberSetting(decl: Decl<number> & Bounds): Setting<number> {
  return {
    valueName: '<x>',
    ...decl,
    parse(value, origin) {
      const v = numberFrom(value);
      const bounds = boundsText(decl);
      if (!Number.isFinite(v) || !inBounds(decl, v)) {
        fail(origin, decl.name, value, `must be a number${bounds ? ` ${bounds}` : ''}`, decl.default !== undefined ? `e.g. ${decl.default} (the default)` : 'write a decimal such as 0.03 or a fraction such as 8/255');
      }
      return v;
    },
  };
}

function exampleOf(decl: Decl<number> & Bounds): string {
  const v = decl.default ?? decl.min ?? (decl.above !== undefined ? decl.above + 1 : 1);
  return `--${kebab(decl.name)} ${v}`;
}

/** One of a fixed set of words, matched case-insensitively; a near miss is suggested. */
export function choiceSetting<C extends string>(decl: Decl<C> & { choices: readonly C[] }): Setting<C> {
  return {
    valueName: `<${decl.choices.join('|')}>`,
    ...decl,
    parse(value, origin) {
      const found = typeof value === 'string' ? findChoice(decl.choices, value) : undefined;
      if (found === undefined) {
        const near = typeof value === 'string' ? nearest(value, decl.choices) : undefined;
        fail(origin, decl.name, value, `is not one of ${decl.choices.join(', ')}`, near ? `did you mean '${near}'?` : `use one of ${decl.choices.join(', ')}`);
      }
      return found;
    },
  };
}

/** The choice a text names, ignoring case and surrounding space. */
export function findChoice<C extends string>(choices: readonly C[], text: string): C | undefined {
  const key = text.trim().toLowerCase();
  return choices.find((c) => c.toLowerCase() === key);
}

/** The closest of `names` to `text`, compared in lower case; undefined when nothing is close. */
export function nearest(text: string, names: readonly string[]): string | undefined {
  if (names.length === 0) return undefined;
  const lower = names.map((n) => n.toLowerCase());
  const best = closest(text.toLowerCase(), lower);
  return names[lower.indexOf(best)];
}

/** true or false: a bare flag, `--no-x`, a JSON boolean, or the words true/false. */
export function booleanSetting(decl: Decl<boolean>): Setting<boolean> {
  return {
    ...decl,
    boolean: true,
    parse(value, origin) {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && ['true', 'false'].includes(value.trim().toLowerCase())) return value.trim().toLowerCase() === 'true';
      fail(origin, decl.name, value, 'must be true or false', `e.g. --${kebab(decl.name)} or --no-${kebab(decl.name)}`);
    },
  };
}

/** A non-empty string of at most `maxLength` characters, further checked by `check`. */
export function textSetting(decl: Decl<string> & { maxLength?: number; check?: (text: string, origin: Origin) => void }): Setting<string> {
  const { check, maxLength = 4096, ...rest } = decl;
  return {
    valueName: '<text>',
    ...rest,
    parse(value, origin) {
      if (typeof value !== 'string' || value.trim() === '') fail(origin, decl.name, value, 'must be a non-empty string', `e.g. --${kebab(decl.name)} ${decl.valueName ?? 'value'}`);
      if (value.length > maxLength) fail(origin, decl.name, `${value.slice(0, 40)}...`, `is longer than ${maxLength} characters`, 'shorten it');
      check?.(value, origin);
      return value;
    },
  };
}

/** A setting's value from an environment variable: unset or empty gives the default; anything else is parsed, its error naming the variable. */
export function fromEnv<T>(setting: Setting<T>, variable: string): T | undefined {
  const raw = process.env[variable];
  return raw === undefined || raw.trim() === '' ? setting.default : setting.parse(raw, { source: 'env', variable });
}

/**
 * The setting that `key` names: its camelCase or kebab-case name, in any case. An unknown
 * key is an error that names where it came from and suggests the nearest name.
 */
export function settingNamed<S extends Setting>(settings: readonly S[], key: string, origin: Origin, what = 'setting'): S {
  const wanted = camel(kebab(key.trim())).toLowerCase();
  const found = settings.find((s) => s.name.toLowerCase() === wanted);
  if (found) return found;
  const names = settings.map((s) => kebab(s.name));
  const near = nearest(kebab(key), names);
  throw new UsageError(`${originLabel(origin, key)} is not a ${what}${near ? `; did you mean "${near}"?` : ''}`, `valid names: ${[...names].sort().join(', ')}`);
}

/** Every value of a plain object checked against its setting; unknown keys are errors. */
export function parseSettings(settings: readonly Setting[], values: unknown, origin: Origin, what = 'setting'): Map<string, unknown> {
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new UsageError(`${originPlace(origin)} must be an object of settings, not ${shown(values)}`, 'e.g. {"samples": 500}');
  }
  const parsed = new Map<string, unknown>();
  for (const key of Object.keys(values)) {
    const raw = (values as Record<string, unknown>)[key];
    if (raw === undefined) continue;
    const setting = settingNamed(settings, key, origin, what);
    parsed.set(setting.name, setting.parse(raw, origin));
  }
  return parsed;
}
