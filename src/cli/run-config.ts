/**
 * The "run" section of robench.config.json: each value is checked as the flag
 * of the same name would be, and takes effect unless the command line names
 * that flag (commander's value source tells a typed flag from a default).
 */
import type { Command, Option } from 'commander';
import { closest } from 'fastest-levenshtein';
import { RobenchError, UsageError } from '../core/errors.js';
import { camel, kebab, parseGrid, parseInputRange, resolveParams } from '../core/parse.js';
import type { Registry } from '../core/registry.js';

/** Checks that commander cannot do for string-valued flags until run time. */
const valueChecks: Record<string, (text: string) => unknown> = {
  eps: parseGrid,
  inputRange: parseInputRange,
};

function checkValue(option: Option, key: string, value: unknown, owners: Map<string, string[]>, registry: Registry): unknown {
  if (option.isBoolean()) {
    if (typeof value !== 'boolean') throw new UsageError(`must be true or false, not ${JSON.stringify(value)}`);
    // A negated flag (--no-sweep) stores its positive name: the config says the value itself.
    return value;
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new UsageError(`must be a string or a number, not ${JSON.stringify(value)}`);
  }
  const text = String(value);
  if (option.argChoices && !option.argChoices.includes(text)) throw new UsageError(`'${text}' is not one of ${option.argChoices.join(', ')}`);
  const attacks = owners.get(key);
  if (attacks) {
    for (const id of attacks) {
      const attack = registry.get('attack', id);
      const name = Object.keys(attack.params).find((n) => camel(kebab(n)) === key)!;
      resolveParams(id, { [name]: attack.params[name] }, { [key]: value });
    }
    return value;
  }
  valueChecks[key]?.(text);
  return option.parseArg ? option.parseArg(text, undefined) : text;
}

/**
 * The options of a parsed `run` command with the config's values applied where
 * the command line did not name the flag. `owners` maps attack option keys to
 * the attacks declaring them, whose specs check those values.
 */
export function applyRunConfig(
  cmd: Command,
  opts: Record<string, unknown>,
  config: Record<string, unknown>,
  file: string,
  owners: Map<string, string[]>,
  registry: Registry,
): Record<string, unknown> {
  const byKey = new Map(cmd.options.map((o) => [o.attributeName(), o] as const));
  const merged = { ...opts };
  for (const [name, value] of Object.entries(config)) {
    const key = camel(kebab(name));
    const option = byKey.get(key);
    if (!option) {
      const valid = [...byKey.keys()].map(kebab).sort();
      throw new UsageError(`${file}: "run" has an unknown key "${name}". Did you mean "${closest(kebab(name), valid)}"?`, `valid keys: ${valid.join(', ')}`);
    }
    let checked: unknown;
    try {
      checked = checkValue(option, key, value, owners, registry);
    } catch (err) {
      if (!(err instanceof RobenchError)) throw err;
      throw new UsageError(`${file}: "run.${name}" ${err.message.replace(/^--[\w-]+ /, '')}`, err.hint ?? `the value --${kebab(key)} takes on the command line`);
    }
    if (cmd.getOptionValueSource(key) !== 'cli') merged[key] = checked;
  }
  return merged;
}
