#!/usr/bin/env node
/** The `robench` command line. */
import { Command, CommanderError, Option } from 'commander';
import { resumeOptions, runCommand, robenchVersion } from './commands/run.js';
import { listCommand } from './commands/list.js';
import { RobenchError, UsageError } from '../core/errors.js';
import { camel, kebab, parseNumber, parsePositiveInt, parseSeed } from '../core/parse.js';
import { auditCommand } from './commands/audit.js';
import { checkCommand } from './commands/check.js';
import { reportCommand } from './commands/report.js';
import { sparsityCommand } from './commands/sparsity.js';
import { dataFetchCommand, dataListCommand } from './commands/data.js';
import { trainableIds, trainCommand } from './commands/train.js';
import { doctorCommand } from './commands/doctor.js';
import { exportCommand } from './commands/export.js';
import { leaderboardCommand } from './commands/leaderboard.js';
import { writeFileAtomic } from '../runtime/atomic.js';
import { parseShard, type Shard } from '../evaluation/shards.js';
import { createRegistry, readConfig, type Registry } from '../core/registry.js';
import { applyRunConfig } from './run-config.js';
import { BACKEND_NAMES, type BackendName } from '../runtime/backends.js';
import { join } from 'node:path';


/** Set by commands whose outcome is not just success or failure (check). */
let exitCode = 0;

/** `--plugin` must be known before the commands are built: plugins add attack options. */
function pluginArgs(argv: string[]): string[] {
  const specs: string[] = [];
  argv.forEach((arg, i) => {
    if (arg === '--plugin' && argv[i + 1]) specs.push(argv[i + 1]);
    else if (arg.startsWith('--plugin=')) specs.push(arg.slice('--plugin='.length));
  });
  return specs;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function runOptionNames(): Set<string> {
  return new Set(['model', 'attack', 'dataset', 'eps', 'samples', 'batch', 'seed', 'backend', 'out', 'format', 'inputRange', 'dataDir', 'offline', 'sweep', 'shard', 'workers', 'plugin', 'verbose']);
}

/**
 * Every attack's params become `run` options; which apply is checked once the attack is known. A
 * param several attacks share (--steps) is one option whose help names each of them, so `--help`
 * never suggests it applies to the first attack only.
 */
function addAttackOptions(cmd: Command, registry: Registry): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  const options = new Map<string, { flag: string; description: string }>();
  const reserved = runOptionNames();
  for (const attack of registry.list('attack')) {
    for (const [name, spec] of Object.entries(attack.params)) {
      const key = camel(kebab(name));
      if (reserved.has(key)) {
        throw new UsageError(`attack '${attack.id}' declares a param '${name}' that clashes with robench's own --${kebab(name)}`, 'rename the param in the plugin');
      }
      if (!owners.has(key)) {
        owners.set(key, []);
        options.set(key, { flag: `--${kebab(name)} <value>`, description: spec.description });
      }
      owners.get(key)!.push(attack.id);
    }
  }
  for (const [key, { flag, description }] of options) {
    cmd.addOption(new Option(flag, `${description} [${owners.get(key)!.join(', ')}]`));
  }
  return owners;
}

/** `--backend`, the same on every command that computes. */
const backendOption = (): Option => new Option('--backend <name>', 'tfjs backend').choices(BACKEND_NAMES).default('auto');

/** A broken robench.config.json, or undefined when it is fine or absent. */
function configProblem(): RobenchError | undefined {
  try {
    readConfig();
    return undefined;
  } catch (err) {
    if (err instanceof RobenchError) return err;
    throw err;
  }
}

function buildProgram(registry: Registry, argv: string[], broken: RobenchError | undefined): Command {
  const found = broken ? undefined : readConfig();
  const config = found?.config.run ?? {};
  const configFile = found ? join(found.dir, 'robench.config.json') : '';
  const program = new Command('robench')
    .description('Benchmark the robustness of image classifiers (TensorFlow.js)')
    .version(robenchVersion)
    .option('--plugin <file or package>', 'load a plugin (repeatable)', collect, [])
    .option('--verbose', 'print stack traces with errors')
    .showHelpAfterError()
    .exitOverride()
    // Help and list must work with a broken config, if only to find what the fix is; the rest would run misconfigured.
    .hook('preAction', (_program, action) => {
      if (!broken) return;
      if (action.name() !== 'list') throw broken;
      console.error(`robench: warning: ${broken.message}; its plugins and settings are ignored`);
    });

  const run = program
    .command('run')
    .description('evaluate a model under an attack over a grid of perturbation sizes')
    .option('--model <ids or model.json>', 'zoo model ids (comma-separated), or the path/URL of a TensorFlow.js model.json', 'hebbian')
    .option('--attack <ids>', 'attack ids, comma-separated (`robench list attacks`)', 'pgd')
    .option('--dataset <id>', "dataset (default: the model's own)")
    .option('--eps <grid>', 'perturbation sizes in [0,1] pixel units: a list (0,2/255,4/255) or start:stop:count (default: the attack\'s grid)')
    .option('--samples <n>', 'test samples to evaluate (default: every bundled sample)', (v) => parsePositiveInt(v, '--samples'))
    .option('--batch <n>', 'batch size', (v) => parsePositiveInt(v, '--batch'), 100)
    .option('--seed <n>', 'random seed', parseSeed, 0)
    .addOption(backendOption())
    .option('--out <dir>', 'output folder (default: robench-results/<timestamp>-<model>-<attack>/)')
    .option('--format <list>', 'reporters, comma-separated (`robench list reporters`)', 'table,json,csv,html')
    .option('--input-range <range>', 'pixel range a model file expects: 0,1 | 0,255 | -1,1', '0,1')
    .option('--data-dir <dir>', 'folder with the original dataset files (else ROBENCH_DATA or the cache)')
    .option('--offline', 'never use the network')
    .option('--workers <n>', 'worker threads (default: one per core on wasm and cpu)', (v) => parsePositiveInt(v, '--workers'))
    .option('--shard <i/n>', 'evaluate only the i-th of n disjoint slices of the samples (merge with robench report)', parseShard)
    .option('--no-sweep', 'attack every budget independently instead of only the samples that survived smaller ones')
    .option('--resume <dir>', 'continue an interrupted run from its output folder, with its own settings')
    .option('--no-progress', 'no status line (it is off anyway when stderr is not a terminal)');
  const owners = addAttackOptions(run, registry);
  run.action(async (opts: Record<string, unknown>) => {
    if (opts.resume !== undefined) {
      const given = run.options.map((o) => o.attributeName()).filter((k) => !['resume', 'workers', 'progress'].includes(k) && run.getOptionValueSource(k) === 'cli');
      if (given.length > 0) throw new UsageError(`--resume continues a run with its own settings, so --${given.map(kebab).join(', --')} cannot be given with it`, 'drop those flags (only --workers and --no-progress may change), or start a new run');
      await runCommand(registry, resumeOptions(String(opts.resume), { workers: opts.workers as number | undefined, progress: opts.progress === false ? false : undefined }));
      return;
    }
    const merged = applyRunConfig(run, opts, config, configFile, owners, registry);
    const attackId = String(merged.attack);
    const attackOptions: Record<string, unknown> = {};
    for (const [key, ids] of owners) {
      if (merged[key] === undefined) continue;
      if (!attackId.split(',').some((id) => ids.includes(id.trim()))) {
        throw new UsageError(`--${kebab(key)} is not an option of the attack '${attackId}'`, `it belongs to: ${ids.join(', ')}`);
      }
      attackOptions[key] = merged[key];
    }
    await runCommand(registry, {
      model: String(merged.model),
      attack: attackId,
      dataset: merged.dataset as string | undefined,
      eps: merged.eps as string | undefined,
      samples: merged.samples as number | undefined,
      batch: merged.batch as number,
      seed: merged.seed as number,
      backend: merged.backend as BackendName,
      out: merged.out as string | undefined,
      format: String(merged.format),
      inputRange: String(merged.inputRange),
      dataDir: merged.dataDir as string | undefined,
      offline: Boolean(merged.offline),
      sweep: merged.sweep !== false,
      shard: merged.shard as Shard | undefined,
      workers: merged.workers as number | undefined,
      plugins: pluginArgs(argv),
      attackOptions,
      command: ['robench', ...argv],
      progress: merged.progress === false ? false : undefined,
    });
  });

  program
    .command('audit')
    .description('check robustness numbers for gradient masking and weak attacks (Carlini et al. 2019); exit 1 when a check warns or fails')
    .option('--model <id or model.json>', 'zoo model id, or the path/URL of a TensorFlow.js model.json', 'hebbian')
    .option('--dataset <id>', "dataset (default: the model's own; required with a model file)")
    .option('--input-range <range>', 'pixel range a model file expects: 0,1 | 0,255 | -1,1', '0,1')
    .option('--offline', 'never use the network')
    .addOption(new Option('--norm <norm>', 'threat model').choices(['linf', 'l2']).default('linf'))
    .option('--eps <x>', 'budget (default: the standard one for the dataset)', (v) => parseNumber(v, '--eps'))
    .option('--samples <n>', 'test samples', (v) => parsePositiveInt(v, '--samples'), 200)
    .option('--batch <n>', 'batch size', (v) => parsePositiveInt(v, '--batch'), 100)
    .option('--seed <n>', 'random seed', parseSeed, 0)
    .option('--queries <n>', 'Square attack queries', (v) => parsePositiveInt(v, '--queries'), 1000)
    .option('--transfer-from <id>', 'zoo model to transfer attacks from', 'baseline')
    .option('--data-dir <dir>', 'folder with the original dataset files')
    .option('--out <dir>', 'output folder for audit.json')
    .addOption(backendOption())
    .action(async (o: Record<string, unknown>) => {
      exitCode = await auditCommand(registry, {
        model: String(o.model),
        dataset: o.dataset as string | undefined,
        inputRange: String(o.inputRange),
        offline: Boolean(o.offline),
        norm: o.norm as 'linf' | 'l2',
        eps: o.eps as number | undefined,
        samples: o.samples as number,
        batch: o.batch as number,
        seed: o.seed as number,
        backend: o.backend as BackendName,
        queries: o.queries as number,
        transferFrom: String(o.transferFrom),
        dataDir: o.dataDir as string | undefined,
        out: o.out as string | undefined,
      });
    });

  program
    .command('sparsity')
    .description('per-block activation sparsity (zeros, Hoyer, top-K disparity) on clean test data')
    .option('--model <ids>', 'zoo model ids, comma-separated', 'baseline,hebbian')
    .option('--dataset <id>', "dataset (default: each model's own)")
    .option('--samples <n>', 'test samples (default: every bundled one)', (v) => parsePositiveInt(v, '--samples'))
    .option('--batch <n>', 'batch size', (v) => parsePositiveInt(v, '--batch'), 100)
    .option('--data-dir <dir>', 'folder with the original dataset files')
    .option('--json', 'machine-readable output')
    .option('--out <file>', 'also write the figures to this JSON file')
    .addOption(backendOption())
    .action(async (o: Record<string, unknown>) => {
      await sparsityCommand(registry, {
        models: String(o.model).split(',').map((m) => m.trim()),
        dataset: o.dataset as string | undefined,
        samples: o.samples as number | undefined,
        batch: o.batch as number,
        backend: o.backend as BackendName,
        dataDir: o.dataDir as string | undefined,
        json: Boolean(o.json),
        out: o.out as string | undefined,
      });
    });

  program
    .command('report')
    .description('rebuild or merge reports (and shards) from saved results, without recomputing')
    .argument('<results...>', 'folders written by robench run, or their results.json')
    .requiredOption('--out <dir>', 'output folder')
    .option('--format <list>', 'reporters, comma-separated', 'table,json,csv,svg,html')
    .action(async (inputs: string[], o: { out: string; format: string }) => {
      await reportCommand(inputs, o, registry);
    });

  program
    .command('export')
    .description("write saved results in another tool's format: RobustBench's model_info JSON and corruptions CSV")
    .argument('<results...>', 'folders written by robench run, or their results.json')
    .requiredOption('--format <name>', 'robustbench')
    .requiredOption('--out <dir>', 'output folder (RobustBench layout: <dataset>/<Linf|L2|corruptions>/<model>.json)')
    .option('--eps <x>', "budget of the autoattack runs to export (default: each run's largest)", (v) => parseNumber(v, '--eps'))
    .action(async (inputs: string[], o: { format: string; out: string; eps?: number }) => {
      console.error(`wrote ${(await exportCommand(inputs, o)).join(', ')}`);
    });

  program
    .command('leaderboard')
    .description('one table of models x threat models from saved results')
    .argument('<results...>', 'folders written by robench run, or their results.json')
    .option('--format <name>', 'table | md | html', 'table')
    .option('--out <file>', 'write the table to a file instead of printing it')
    .action(async (inputs: string[], o: { format: string; out?: string }) => {
      const text = leaderboardCommand(inputs, o.format);
      if (o.out === undefined) console.log(text);
      else {
        await writeFileAtomic(o.out, text);
        console.error(`wrote ${o.out}`);
      }
    });

  program
    .command('check')
    .description('compare results with a baseline; exit 1 when robust accuracy regressed')
    .requiredOption('--baseline <results.json or dir>', 'the committed baseline')
    .argument('<results>', 'results.json or the folder robench run wrote')
    .option('--tolerance <x>', 'smallest absolute accuracy drop that can fail', (v) => parseNumber(v, '--tolerance'), 0.01)
    .option('--alpha <p>', 'significance level of the one-sided two-proportion test', (v) => parseNumber(v, '--alpha'), 0.01)
    .option('--allow-mismatch', 'compare even when attack settings, seeds or samples differ')
    .option('--update', 'rewrite the baseline from these results')
    .action(async (results: string, o: { baseline: string; tolerance: number; alpha: number; allowMismatch?: boolean; update?: boolean }) => {
      exitCode = await checkCommand(o.baseline, results, {
        tolerance: o.tolerance,
        alpha: o.alpha,
        allowMismatch: Boolean(o.allowMismatch),
        update: Boolean(o.update),
      });
    });

  program
    .command('train')
    .description('train a zoo model on a dataset (checkpoint after every epoch; --resume continues)')
    .requiredOption('--model <id>', trainableIds().join(' | '))
    .requiredOption('--dataset <id>', 'mnist | fashion-mnist | cifar10 | svhn')
    .option('--epochs <n>', 'epochs (default: per model and dataset)', (v) => parsePositiveInt(v, '--epochs'))
    .option('--batch <n>', 'batch size', (v) => parsePositiveInt(v, '--batch'))
    .option('--lr <x>', 'initial learning rate (Adam for the HaH models, SGD with momentum for EKDAA)', (v) => parseNumber(v, '--lr'))
    .option('--samples <n>', 'train on the first n training images only', (v) => parsePositiveInt(v, '--samples'))
    .option('--seed <n>', 'random seed', parseSeed, 0)
    .option('--out <dir>', 'output folder (default: robench-train/<model>-<dataset>)')
    .option('--resume', 'continue from the last checkpoint in --out (of a finished run too, with a larger --epochs)')
    .option('--workers <n>', 'zoo CNNs: threads computing each batch (default: one per core on wasm and cpu); the weights do not depend on it', (v) => parsePositiveInt(v, '--workers'))
    .option('--micro-batch <n>', 'zoo CNNs: images per micro-batch, each normalised by its own batch-norm statistics and one thread\'s share (default 16; the deep models: the whole batch, as their authors normalise)', (v) => parsePositiveInt(v, '--micro-batch'))
    .option('--checkpoint-every <steps>', 'zoo CNNs: a checkpoint every this many steps as well as after every epoch (default: every 5 minutes)', (v) => parsePositiveInt(v, '--checkpoint-every'))
    .option('--no-progress', 'no progress within an epoch on stderr')
    .option('--data-dir <dir>', 'folder with the original dataset files')
    .option('--activation <f>', 'EKDAA: tanh | sign (--model ekdaa --activation sign trains ekdaa-sign)')
    .option('--release-forward', "EKDAA: the authors' release's forward (conv pre-activations carried forward)")
    .option('--layout <net>', "EKDAA: compact (default: 16-M-32-M on greyscale, 32-M-64-M on colour) | release (the authors' CIFAR-10 net, 64-64-M-64-128-M-128-128-M)")
    .option('--neurons-per-site <n>', 'similarity matching: neurons per site (default 4; the poster reports 4 to 100)', (v) => parsePositiveInt(v, '--neurons-per-site'))
    .option('--layers <n>', 'similarity matching: layers of sites (default 1)', (v) => parsePositiveInt(v, '--layers'))
    .option('--gamma <x>', 'similarity matching: feedback strength (default 0, the authors\' MNIST setting)', (v) => parseNumber(v, '--gamma'))
    .addOption(backendOption())
    .action(async (o: Record<string, unknown>) => {
      await trainCommand({
        activation: o.activation as string | undefined,
        releaseForward: Boolean(o.releaseForward),
        layoutName: o.layout as string | undefined,
        neuronsPerSite: o.neuronsPerSite as number | undefined,
        layers: o.layers as number | undefined,
        gamma: o.gamma as number | undefined,
        model: String(o.model),
        dataset: String(o.dataset),
        epochs: o.epochs as number | undefined,
        batch: o.batch as number | undefined,
        lr: o.lr as number | undefined,
        samples: o.samples as number | undefined,
        seed: o.seed as number,
        out: o.out as string | undefined,
        resume: Boolean(o.resume),
        workers: o.workers as number | undefined,
        microBatch: o.microBatch as number | undefined,
        checkpointEvery: o.checkpointEvery as number | undefined,
        progress: o.progress === false ? false : undefined,
        dataDir: o.dataDir as string | undefined,
        backend: o.backend as BackendName,
        command: ['robench', ...argv],
      });
    });

  program
    .command('doctor')
    .description('which tfjs backends load here, why the others do not, and a 5-second benchmark of each')
    .action(async () => {
      await doctorCommand();
    });

  const data = program.command('data').description('the original dataset files: what is cached, and fetching them');
  data
    .command('list')
    .description('datasets in the data folder, with sizes and checksum verification')
    .option('--data-dir <dir>', 'data folder (default: ROBENCH_DATA or the cache)')
    .option('--json', 'machine-readable output')
    .action((o: { dataDir?: string; json?: boolean }) => dataListCommand(o.dataDir, Boolean(o.json)));
  data
    .command('fetch')
    .description('download and verify the original files of datasets')
    .argument('<ids...>', 'dataset ids')
    .option('--data-dir <dir>', 'data folder (default: ROBENCH_DATA or the cache)')
    .action((ids: string[], o: { dataDir?: string }) => dataFetchCommand(ids, o.dataDir));

  program
    .command('list')
    .description('list registered plugins')
    .argument('[kind]', 'models | attacks | datasets | reporters')
    .option('--json', 'machine-readable output')
    .action((kind: string | undefined, opts: { json?: boolean }) => listCommand(registry, kind, Boolean(opts.json)));

  return program;
}

async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    const broken = configProblem();
    const registry = await createRegistry({ plugins: pluginArgs(argv), ignoreConfig: broken !== undefined });
    await buildProgram(registry, argv, broken).parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof RobenchError) {
      console.error(`robench: ${err.message}`);
      if (err.hint) console.error(`  fix: ${err.hint}`);
      if (verbose) console.error(err.stack);
      return err.exitCode;
    }
    console.error(`robench: ${(err as Error).message ?? err}`);
    console.error(verbose ? (err as Error).stack : '  (run again with --verbose for the stack trace)');
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
