/**
 * What `robench <command> --dry-run` prints once the command line has passed every check a real
 * run makes: the command and its resolved settings, one a line, as flags that would give them.
 */
import { kebab } from '../core/settings.js';
import type { CommandModule } from './command.js';

const flagOf = (name: string, value: unknown): string => {
  if (typeof value === 'boolean') return `--${value ? '' : 'no-'}${kebab(name)}`;
  const text = Array.isArray(value) ? value.join(',') : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  return `--${kebab(name)} ${text}`;
};

/** `given`: each of the module's arguments' values, in its order. */
export function dryRunLines(module: Pick<CommandModule, 'name' | 'args'>, values: ReadonlyMap<string, unknown>, given: readonly string[][]): string[] {
  const lines = [`robench ${module.name.join(' ')} (dry run: checked, nothing loaded, run or written)`];
  for (const [name, value] of values) lines.push(`  ${flagOf(name, value)}`);
  (module.args ?? []).forEach((arg, i) => {
    const items = given[i] ?? [];
    if (items.length > 0) lines.push(`  ${arg.name}: ${items.join(' ')}${arg.files ? ' (not read in a dry run)' : ''}`);
  });
  return lines;
}
