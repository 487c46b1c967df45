#!/usr/bin/env node
/**
 * The `robench` command line: registers every command module (src/cli/commands/), whose flags
 * derive from their settings' declarations (src/cli/command.ts), and turns errors into one or
 * two lines and an exit code (2 usage, 1 runtime).
 */
import { Command, CommanderError } from 'commander';
import { robenchVersion, runModule, type LoadedConfig } from './commands/run.js';
import { listModule } from './commands/list.js';
import { RobenchError, UsageError } from '../core/errors.js';
import { auditModule } from './commands/audit.js';
import { checkModule } from './commands/check.js';
import { reportModule } from './commands/report.js';
import { sparsityModule } from './commands/sparsity.js';
import { dataFetchModule, dataListModule } from './commands/data.js';
import { trainModule } from './commands/train.js';
import { doctorModule } from './commands/doctor.js';
import { exportModule } from './commands/export.js';
import { leaderboardModule } from './commands/leaderboard.js';
import { attackModule } from './commands/attack.js';
import { certifyModule } from './commands/certify.js';
import { createRegistry, readConfig, type Registry } from '../core/registry.js';
import { addCommand, exitCodes, optionsOf, type CommandModule } from './command.js';
import { textSetting } from '../core/settings.js';
import { unsettledError } from '../core/plugin-guard.js';
import { join } from 'node:path';

/** The global `--plugin`, declared like every other setting; it must be known before the commands are built (plugins add attack options). */
const pluginSetting = textSetting({ name: 'plugin', valueName: '<file or package>', repeatable: true, description: 'load a plugin (repeatable); also robench.config.json\'s "plugins"' });

function pluginArgs(argv: string[]): string[] {
  const specs: string[] = [];
  argv.forEach((arg, i) => {
    if (arg === '--plugin' && argv[i + 1] !== undefined) specs.push(pluginSetting.parse(argv[i + 1], { source: 'flag' }));
    else if (arg.startsWith('--plugin=')) specs.push(pluginSetting.parse(arg.slice('--plugin='.length), { source: 'flag' }));
  });
  return specs;
}

/** The config, or the error that makes it unusable: help and list still work with a broken config, if only to find what the fix is. */
function loadConfig(): { config?: LoadedConfig; broken?: RobenchError } {
  try {
    const found = readConfig();
    return found ? { config: { file: join(found.dir, 'robench.config.json'), run: found.config.run ?? {} } } : {};
  } catch (err) {
    if (err instanceof RobenchError) return { broken: err };
    throw err;
  }
}

/** Built-ins, the config's plugins and --plugin ones; a config plugin that fails to load breaks the config, not --help and list. */
async function loadRegistry(plugins: string[], broken: RobenchError | undefined): Promise<{ registry: Registry; broken?: RobenchError }> {
  if (broken) return { registry: await createRegistry({ plugins, ignoreConfig: true }), broken };
  try {
    return { registry: await createRegistry({ plugins }) };
  } catch (err) {
    if (!(err instanceof RobenchError) || !readConfig()?.config.plugins?.length) throw err;
    // Which plugin failed: retried without the config, a --plugin failure still surfaces.
    const registry = await createRegistry({ plugins, ignoreConfig: true });
    return { registry, broken: new UsageError(`robench.config.json: ${err.message}`, err.hint) };
  }
}

function commandModules(config: LoadedConfig | undefined, plugins: string[]): CommandModule[] {
  return [runModule(config, plugins), auditModule, sparsityModule, reportModule, exportModule, leaderboardModule, checkModule, trainModule, doctorModule, dataListModule, dataFetchModule, listModule, attackModule, certifyModule];
}

function buildProgram(registry: Registry, argv: string[], plugins: string[], config: LoadedConfig | undefined, broken: RobenchError | undefined): Command {
  const program = new Command('robench')
    .description('Benchmark the robustness of image classifiers (TensorFlow.js)')
    .version(robenchVersion)
    .addOption(optionsOf(pluginSetting)[0]!)
    .option('--verbose', 'print stack traces with errors')
    .option('--dry-run', 'check the command line as a real run would (settings, ids, attack params, config), print what would run, and stop: nothing is loaded or written')
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', (_program, action) => {
      if (!broken) return;
      if (action.name() !== 'list') throw broken;
      console.error(`robench: warning: ${broken.message}; its plugins and settings are ignored`);
    });
  const groups = new Map<string, Command>();
  for (const module of commandModules(config, plugins)) {
    let parent = program;
    for (const word of module.name.slice(0, -1)) {
      if (!groups.has(word)) groups.set(word, program.command(word).description(word === 'data' ? 'the original dataset files: what is cached, and fetching them' : word));
      parent = groups.get(word)!;
    }
    addCommand(parent, module, registry, argv);
  }
  return program;
}

async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    const loaded = loadConfig();
    const plugins = pluginArgs(argv);
    const { registry, broken } = await loadRegistry(plugins, loaded.broken);
    await buildProgram(registry, argv, plugins, broken ? undefined : loaded.config, broken).parseAsync(argv, { from: 'user' });
    return exitCodes.find((c) => c !== 0) ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof RobenchError) return printError(err, verbose);
    console.error(`robench: ${(err as Error).message ?? err}`);
    console.error(verbose ? (err as Error).stack : '  (run again with --verbose for the stack trace)');
    return 1;
  }
}

function printError(err: RobenchError, verbose: boolean): number {
  console.error(`robench: ${err.message}`);
  if (err.hint) console.error(`  fix: ${err.hint}`);
  if (verbose) console.error(err.stack);
  return err.exitCode;
}

// The event loop empties while main is still awaiting only when a promise can never settle
// (Node would then end silently with exit code 13, a run half written): name what hung.
let finished = false;
process.on('beforeExit', () => {
  if (!finished) process.exitCode = printError(unsettledError(), process.argv.includes('--verbose'));
});
process.exitCode = await main(process.argv.slice(2));
finished = true;
