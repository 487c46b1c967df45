/**
 * `robench run`: evaluate a model under an attack over a grid of perturbation sizes. The run
 * itself is the library's (src/evaluation/run-spec.ts plans it, src/evaluation/evaluate-run.ts evaluates it, as
 * `benchmark()` does); this file shows its progress and handles the interrupt.
 */
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { ParamSpec } from '../../core/plugin-api.js';
import { createRegistry, isPluginFile } from '../../core/registry.js';
import { resolveParams } from '../../core/parse.js';
import { camel, kebab, settingNamed, type Origin } from '../../core/settings.js';
import { CONFIG_RUN_SETTINGS, RESERVED_NAMES, RUN_SETTINGS, type RunSettingName, type RunSettingValue } from '../../evaluation/run-settings.js';
import type { CommandInput, CommandModule } from '../command.js';
import { evaluateRun } from '../../evaluation/evaluate-run.js';
import type { ReportRun } from '../../evaluation/gallery.js';
import { robenchVersion } from '../../core/paths.js';
import type { Registry } from '../../core/registry.js';
import type { RunHooks } from '../../evaluation/run-plan.js';
import { RunProgress } from '../run-progress.js';
import { checkRunSpec, planRun, resumeSpec, writeReports, type RunSpec } from '../../evaluation/run-spec.js';
import { formatDuration, statusLine, type StatusLine } from '../../report/status-line.js';

export interface RunOptions extends RunSpec {
  /** Show the status line (default: when stderr is a terminal). */
  progress?: boolean;
}

export { robenchVersion };

/** `robench run --resume DIR`: the interrupted run's own settings, with only --workers and --no-progress taken from now. */
export function resumeOptions(dir: string, now: Pick<RunOptions, 'workers' | 'progress'>): RunOptions & { resume: true } {
  return { ...resumeSpec(dir, { workers: now.workers }), progress: now.progress, resume: true };
}

/** The status line's hooks; its text and whole-command estimate come from src/cli/run-progress.ts. */
function statusHooks(status: StatusLine, onPairStart: (pair: string) => void, progress: RunProgress): RunHooks {
  return {
    onLoadingData: (dataset) => (progress.loading(dataset), status.update(`loading ${dataset} test data`)),
    onPairStart: ({ model, attack }) => (progress.pairStart(), onPairStart(`${model} under ${attack}`)),
    onProgress: (p) => {
      const { text, leftMs } = progress.update(p);
      status.update(text, leftMs);
    },
    onSparsity: (model) => status.update(`${model}: activation sparsity`),
    onPairEvaluated: ({ model, attack, samples, durationMs }) => (progress.pairDone(samples, durationMs), status.succeed(`${model} under ${attack}: ${samples} samples in ${formatDuration(durationMs)}`)),
  };
}

/**
 * Evaluates every model under every attack, on the same samples, and writes one
 * combined report. The output folder is prepared before anything loads; results.json
 * and run.json are saved after every slice of samples, so an interrupt or a failure
 * keeps what finished and `--resume` continues from there.
 */
export async function runCommand(registry: Registry, opts: RunOptions & { resume?: boolean }): Promise<ReportRun[]> {
  const { resume, ...options } = opts;
  const run = await planRun(registry, options, { resume });
  const { outDir, resumable } = run;
  const { state } = run.plan.saved;
  const status = statusLine(opts.progress);
  let current = '';
  const onSignal = (signal: NodeJS.Signals): void => {
    status.stop();
    state.markInterruptedSync(signal);
    const left = state.pairs.slice(state.finished);
    const saved = !resumable
      ? 'nothing saved: add json to --format to make a run resumable'
      : state.hasResults
        ? `finished part saved in ${join(outDir, 'results.json')} (marked "complete": false)`
        : 'nothing was finished yet, so nothing is saved';
    console.error(`robench: interrupted by ${signal}${current ? ` during ${current}` : ' before the first attack'}; ${state.finished} of ${state.pairs.length} model/attack pairs finished, left: ${left.join(', ')}; ${saved}`);
    if (resumable && state.hasStarted) console.error(`robench: continue with: robench run --resume ${outDir}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let results: ReportRun[];
  try {
    results = await evaluateRun(run.plan, statusHooks(status, (pair) => (current = pair), new RunProgress(run.plan, state.finished, (line) => status.note(line))));
  } catch (err) {
    status.fail();
    run.lock.release();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const written = await writeReports(run, results, (line) => console.log(line));
  if (written.length > 0) console.error(`wrote ${written.join(', ')}`);
  return results;
}

/** One option per attack param name; its help names every attack that declares it, with that attack's default. */
export function addAttackOptions(cmd: Command, registry: Registry): void {
  const owners = attackParamOwners(registry);
  for (const [name, decls] of owners) {
    const help = decls.map(({ attack, spec }) => `${attack}: ${spec.description}${spec.default !== undefined && spec.default !== '' ? ` (default ${spec.default})` : ''}`).join('; ');
    if (decls.every(({ spec }) => spec.type === 'boolean')) {
      cmd.addOption(new Option(`--${kebab(name)}`, help));
      cmd.addOption(new Option(`--no-${kebab(name)}`, `the opposite of --${kebab(name)}`));
    } else {
      cmd.addOption(new Option(`--${kebab(name)} <value>`, help));
    }
  }
}

type ParamOwners = Map<string, { attack: string; spec: ParamSpec }[]>;
/** Worked out once per registry and its attacks: the options' help and the run both read it. */
const ownersByRegistry = new WeakMap<Registry, { attacks: number; owners: ParamOwners }>();

/** Each attack param's camelCase name with the attacks declaring it; a name clashing with robench's own settings is refused. */
export function attackParamOwners(registry: Registry): ParamOwners {
  const known = ownersByRegistry.get(registry);
  if (known?.attacks === registry.list('attack').length) return known.owners;
  const owners: ParamOwners = new Map();
  for (const attack of registry.list('attack')) {
    for (const [name, spec] of Object.entries(attack.params)) {
      const key = camel(kebab(name));
      if (RESERVED_NAMES.has(key)) {
        throw new UsageError(`attack '${attack.id}' (${registry.origins.get(attack)}) declares a param '${name}' that clashes with robench's own --${kebab(key)}`, 'rename the param in the plugin');
      }
      owners.set(key, [...(owners.get(key) ?? []), { attack: attack.id, spec }]);
    }
  }
  ownersByRegistry.set(registry, { attacks: registry.list('attack').length, owners });
  return owners;
}

/** The values of a run's settings: flags typed on the command line, then robench.config.json's "run", then the declared defaults. */
function mergedValues(input: CommandInput, config: LoadedConfig | undefined, owners: ParamOwners): Map<string, unknown> {
  const merged = new Map(input.values);
  if (!config) return merged;
  const origin: Origin = { source: 'config', file: config.file, section: 'run' };
  const section = config.run;
  for (const key of Object.keys(section)) {
    const param = [...owners.keys()].find((k) => k.toLowerCase() === camel(kebab(key)).toLowerCase());
    // Checked even where a flag overrides it: a broken config is broken whatever the command line says.
    if (param) for (const { attack, spec } of owners.get(param)!) resolveParams({ id: attack, params: { [param]: spec } }, { [param]: section[key] }, { origin });
    const setting = param ? undefined : settingNamed(CONFIG_RUN_SETTINGS, key, origin, 'run setting or attack param');
    const value = setting ? setting.parse(section[key], origin) : section[key];
    const name = param ?? setting!.name;
    if (input.sourceOf(name) !== 'cli') merged.set(name, value);
  }
  return merged;
}

/** robench.config.json's "run" section and its path, as main.ts found them. */
export interface LoadedConfig {
  file: string;
  run: Record<string, unknown>;
}

/** A new run's options from its checked values (flags, then the config's "run"). */
function runOptionsOf(values: Map<string, unknown>, registry: Registry, plugins: string[], argv: string[]): RunOptions {
  const attackOptions: Record<string, unknown> = {};
  for (const key of attackParamOwners(registry).keys()) if (values.has(key)) attackOptions[key] = values.get(key);
  const get = <K extends RunSettingName>(k: K) => values.get(k) as RunSettingValue<K> | undefined;
  return {
    model: get('model')!,
    attack: String(get('attack')),
    dataset: get('dataset'),
    eps: get('eps'),
    samples: get('samples'),
    batch: get('batch')!,
    seed: get('seed')!,
    backend: get('backend')!,
    out: get('out'),
    format: get('format')!,
    inputRange: get('inputRange')!,
    dataDir: get('dataDir'),
    offline: get('offline') ?? false,
    sweep: get('sweep') ?? true,
    saveAdversarial: get('saveAdversarial'),
    shard: get('shard'),
    workers: get('workers'),
    smooth: get('smooth'),
    smoothN: get('smoothN'),
    // Files as absolute paths, so that --resume finds them from any folder.
    plugins: plugins.map((p) => (isPluginFile(p) ? resolve(p) : p)),
    attackOptions,
    command: ['robench', ...argv],
    progress: get('progress'),
  };
}

/** `robench run`: built with the config the CLI found (its "run" section supplies defaults). */
export function runModule(config: LoadedConfig | undefined, plugins: string[]): CommandModule {
  return {
    name: ['run'],
    description: 'evaluate a model under an attack over a grid of perturbation sizes',
    settings: Object.values(RUN_SETTINGS),
    extend: addAttackOptions,
    check(input) {
      const { values, registry } = input;
      if (values.has('resume')) {
        const given = [...values.keys()].filter((k) => !['resume', 'workers', 'progress'].includes(k) && input.sourceOf(k) === 'cli');
        if (given.length > 0) throw new UsageError(`--resume continues a run with its own settings, so --${given.map(kebab).join(', --')} cannot be given with it`, 'drop those flags (only --workers and --no-progress may change), or start a new run');
        // Reads run.json: a folder that holds no resumable run is refused by a dry run too.
        resumeSpec(String(values.get('resume')), {});
        return;
      }
      const owners = attackParamOwners(registry);
      const merged = mergedValues(input, config, owners);
      const attackId = String(merged.get('attack'));
      for (const [key, decls] of owners) {
        if (!merged.has(key)) continue;
        const ids = decls.map((d) => d.attack);
        if (!attackId.split(',').some((id) => ids.includes(id.trim()))) throw new UsageError(`--${kebab(key)} is not an option of the attack '${attackId}'`, `it belongs to: ${ids.join(', ')}`);
      }
      checkRunSpec(registry, runOptionsOf(merged, registry, plugins, input.argv));
      return merged;
    },
    async run({ values, registry, argv }) {
      if (values.has('resume')) {
        const options = resumeOptions(String(values.get('resume')), { workers: values.get('workers') as number | undefined, progress: values.get('progress') as boolean | undefined });
        await runCommand(await createRegistry({ plugins: options.plugins }), options);
        return;
      }
      await runCommand(registry, runOptionsOf(values, registry, plugins, argv));
    },
  };
}
