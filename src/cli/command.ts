/**
 * A command of the `robench` CLI as data: its description, arguments and settings (flags), and
 * what it does with their parsed values. main.ts registers every command; the commander options,
 * their help and their parsing derive from the settings (src/core/settings.ts), so a flag is
 * declared once (oclif's flags-as-data).
 */
import { Command, Option } from 'commander';
import type { Registry } from '../core/registry.js';
import { kebab, type Setting } from '../core/settings.js';
import { dryRunLines } from './dry-run.js';

export interface CommandArgument {
  name: string;
  description: string;
  /** Takes every remaining argument. */
  variadic?: boolean;
  optional?: boolean;
  /** Names files or folders: a dry run shows them and says they are not read. */
  files?: boolean;
}

/** What a command's `run` gets: parsed flag values by setting name, the arguments, and how each value was given. */
export interface CommandInput {
  values: Map<string, unknown>;
  args: string[];
  /** 'cli' for a flag typed on the command line, 'default' otherwise. */
  sourceOf(name: string): 'cli' | 'default';
  registry: Registry;
  /** The arguments robench was started with, for the records. */
  argv: string[];
  /** The commander command, for commands that declare options at run time (run's attack params). */
  command: Command;
}

export interface CommandModule {
  /** The words that invoke it: ['run'], ['data', 'list']. */
  name: readonly string[];
  description: string;
  args?: readonly CommandArgument[];
  settings: readonly Setting[];
  /** Settings that must be given. */
  required?: readonly string[];
  /** Adds options that depend on the registry (run: the attacks' params). */
  extend?(cmd: Command, registry: Registry): void;
  /**
   * The checks that need the registry or the config (ids, attack params, the config merged in),
   * made before anything loads by the real run and by `--dry-run` alike, so the two cannot
   * drift. Returns the values to run with when they differ from the flags' (run: the config's).
   */
  check?(input: CommandInput): Promise<Map<string, unknown> | void> | Map<string, unknown> | void;
  /** The exit code, or nothing for 0. */
  run(input: CommandInput): Promise<number | void> | number | void;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The commander options of one setting: a boolean gets `--x` and `--no-x`, both bare. */
export function optionsOf(setting: Setting, required = false): Option[] {
  const flag = `--${kebab(setting.name)}`;
  const choices = setting.choices && !setting.valueName?.includes('|') ? ` (${setting.choices.join(' | ')})` : '';
  if (setting.boolean) {
    const on = new Option(flag, `${setting.description}${setting.default === true ? ' (default)' : ''}`);
    const off = new Option(`--no-${kebab(setting.name)}`, `the opposite of ${flag}${setting.default === false ? ' (default)' : ''}`);
    // Commander gives true and false itself; both are listed so that the help shows the negation.
    return [on, off];
  }
  const option = new Option(`${flag} ${setting.valueName ?? '<value>'}`, `${setting.description}${choices}`);
  option.argParser((text: string, previous: unknown) => {
    const value = setting.parse(text, { source: 'flag' });
    return setting.repeatable ? collect(value as string, previous as string[] | undefined) : value;
  });
  if (setting.default !== undefined) option.default(setting.default);
  if (required) option.makeOptionMandatory();
  return [option];
}

/** The commander command of a module, attached to `parent`. */
export function addCommand(parent: Command, module: CommandModule, registry: Registry, argv: string[]): Command {
  const cmd = parent.command(module.name[module.name.length - 1]).description(module.description);
  for (const arg of module.args ?? []) {
    const spelled = `${arg.name}${arg.variadic ? '...' : ''}`;
    cmd.argument(arg.optional ? `[${spelled}]` : `<${spelled}>`, arg.description);
  }
  for (const setting of module.settings) for (const option of optionsOf(setting, module.required?.includes(setting.name))) cmd.addOption(option);
  module.extend?.(cmd, registry);
  cmd.action(async (...params: unknown[]) => {
    const given = (module.args ?? []).map((_, i) => params[i]).map((a) => (a === undefined ? [] : Array.isArray(a) ? (a as string[]) : [String(a)]));
    const opts = cmd.opts() as Record<string, unknown>;
    const values = new Map<string, unknown>();
    for (const key of Object.keys(opts)) if (opts[key] !== undefined) values.set(key, opts[key]);
    for (const s of module.settings) if (!values.has(s.name) && s.default !== undefined) values.set(s.name, s.default);
    const input: CommandInput = {
      values,
      args: given.flat(),
      sourceOf: (name) => (cmd.getOptionValueSource(name) === 'cli' ? 'cli' : 'default'),
      registry,
      argv,
      command: cmd,
    };
    const checked = { ...input, values: (await module.check?.(input)) ?? values };
    if (cmd.optsWithGlobals().dryRun === true) {
      for (const line of dryRunLines(module, checked.values, given)) console.log(line);
      return;
    }
    const code = await module.run(checked);
    if (typeof code === 'number') exitCodes.push(code);
  });
  return cmd;
}

/** Exit codes commands returned (check, audit: their outcome is not just success or failure). */
export const exitCodes: number[] = [];
