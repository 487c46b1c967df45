/**
 * The plugin registry: built-ins discovered from the four top-level folders,
 * third-party plugins from `--plugin` and `robench.config.json`.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from './errors.js';
import { PARAM_TYPES, paramBounds } from './parse.js';
import { boundsText, fromEnv, inBounds, nearest, numberSetting } from './settings.js';
import { fromSource, packageRoot } from './paths.js';
import { shareModulesWithPlugins } from './shared-modules.js';
import { guardedPlugin } from './plugin-results.js';
import type { AttackPlugin, DatasetPlugin, ModelPlugin, ParamSpec, Plugin, PluginKind, ReporterPlugin } from './plugin-api.js';

export const KIND_FOLDERS: Record<PluginKind, string> = {
  model: 'models',
  attack: 'attacks',
  dataset: 'datasets',
  reporter: 'reports',
};

type ByKind = { model: ModelPlugin; attack: AttackPlugin; dataset: DatasetPlugin; reporter: ReporterPlugin };

const REQUIRED: Record<PluginKind, string[]> = {
  model: ['id', 'description', 'datasets', 'load'],
  attack: ['id', 'description', 'params', 'budget', 'defaultGrid', 'run'],
  dataset: ['id', 'description', 'imageShape', 'classNames', 'normalization', 'load'],
  reporter: ['id', 'description', 'write'],
};

/** Running from TypeScript sources (tests, tsx) or from the compiled dist/ tree. */

export class Registry {
  private readonly plugins: { [K in PluginKind]: Map<string, ByKind[K]> } = {
    model: new Map(),
    attack: new Map(),
    dataset: new Map(),
    reporter: new Map(),
  };
  /** Where each plugin came from, for `robench list` and error messages. */
  readonly origins = new Map<Plugin, string>();
  private readonly builtins = new Set<Plugin>();

  /** `builtin`: one of robench's own plugins, which a record need not name the source of. */
  add(plugin: Plugin, origin: string, builtin = false): void {
    const kind = plugin.kind;
    const missing = REQUIRED[kind].filter((k) => (plugin as unknown as Record<string, unknown>)[k] === undefined);
    if (missing.length > 0) {
      throw new UsageError(
        `plugin ${origin}: the ${kind} '${plugin.id ?? '?'}' lacks ${missing.join(', ')}`,
        `see src/core/plugin-api.ts for the ${kind} interface`,
      );
    }
    if (plugin.kind === 'attack') {
      checkParamSpecs(plugin, origin);
      if (plugin.check !== undefined && typeof plugin.check !== 'function') {
        throw new UsageError(`plugin ${origin}: the attack '${plugin.id}' has a check that is not a function`, 'check(params, named) throws a UsageError for params that do not go together (src/core/plugin-api.ts)');
      }
      plugin = withEot(plugin);
      plugin.registered?.((id) => this.get('attack', id));
    }
    plugin = guardedPlugin(plugin);
    const map = this.plugins[kind] as Map<string, Plugin>;
    const existing = map.get(plugin.id);
    if (existing && this.origins.get(existing) !== origin) {
      throw new UsageError(
        `plugin ${origin}: a ${kind} named '${plugin.id}' is already registered by ${this.origins.get(existing)}`,
        'give the plugin another id',
      );
    }
    map.set(plugin.id, plugin);
    this.origins.set(plugin, origin);
    if (builtin) this.builtins.add(plugin);
  }

  isBuiltin(plugin: Plugin): boolean {
    return this.builtins.has(plugin);
  }

  list<K extends PluginKind>(kind: K): ByKind[K][] {
    return [...this.plugins[kind].values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  has(kind: PluginKind, id: string): boolean {
    return this.plugins[kind].has(id);
  }

  get<K extends PluginKind>(kind: K, id: string): ByKind[K] {
    const found = this.plugins[kind].get(id);
    if (found) return found;
    const known = [...this.plugins[kind].keys()].sort();
    const near = nearest(String(id), known);
    const suggestion = near !== undefined ? ` Did you mean '${near}'?` : '';
    throw new UsageError(
      `unknown ${kind} '${id}'.${suggestion}`,
      `known ${kind}s: ${known.join(', ') || '(none)'}; \`robench list ${kind}s\` describes them`,
    );
  }
}

/**
 * EOT is the attack context's (src/core/attack-context.ts), so every gradient attack gets the
 * option. No default: results of deterministic runs keep the params they always had.
 */
export const EOT_PARAM: ParamSpec = { type: 'int', description: "EOT: average every input gradient over N draws of a randomised model's randomness (default 1)", minimum: 1 };

function withEot(attack: AttackPlugin): AttackPlugin {
  const defaults = Object.fromEntries(Object.entries(attack.params).map(([k, s]) => [k, s.default]));
  if (attack.gradientFree || 'eot' in attack.params || attack.budget(defaults) === null) return attack;
  return { ...attack, params: { ...attack.params, eot: EOT_PARAM } };
}

/**
 * Bounds are what stops `--steps 0` from reporting 100% robust accuracy, so a
 * spec whose bounds cannot be enforced (on a string, or excluding its own
 * default) is a plugin bug caught at registration, not at the first run.
 */
function checkParamSpecs(attack: AttackPlugin, origin: string): void {
  for (const [name, spec] of Object.entries(attack.params)) {
    const fail = (what: string): never => {
      throw new UsageError(`plugin ${origin}: the attack '${attack.id}' param '${name}' ${what}`, 'see ParamSpec in src/core/plugin-api.ts');
    };
    if (typeof spec !== 'object' || spec === null) fail('is not a declaration object');
    if (!(PARAM_TYPES as readonly string[]).includes(spec.type)) fail(`has the type ${JSON.stringify(spec.type)}: a param's type is one of ${PARAM_TYPES.join(', ')}`);
    if (typeof spec.description !== 'string' || spec.description === '') fail('has no description (--help and robench list show it)');
    const bounds = [spec.minimum, spec.maximum, spec.exclusiveMinimum].filter((b) => b !== undefined);
    const numeric = spec.type === 'number' || spec.type === 'int';
    if (bounds.length > 0 && !numeric) fail(`has bounds but is of type '${spec.type}'`);
    if (bounds.some((b) => !Number.isFinite(b))) fail('has a bound that is not a finite number');
    if (spec.choices && spec.type !== 'string') fail(`has choices but is of type '${spec.type}'`);
    if (spec.default === undefined) continue;
    if (numeric && (typeof spec.default !== 'number' || (spec.type === 'int' && !Number.isInteger(spec.default)) || !inBounds(paramBounds(spec), spec.default))) {
      fail(`has the default ${spec.default}, outside its own type or bounds (${boundsText(paramBounds(spec)) || spec.type})`);
    }
    if (spec.choices && !spec.choices.includes(String(spec.default))) fail(`has the default '${spec.default}', not one of its choices`);
  }
}

function pluginsOf(mod: Record<string, unknown>): Plugin[] {
  const candidate = mod.default ?? mod.plugins;
  const items = Array.isArray(candidate) ? candidate : [candidate];
  return items.filter(
    (p): p is Plugin =>
      typeof p === 'object' && p !== null && typeof (p as Plugin).kind === 'string' && Object.hasOwn(KIND_FOLDERS, (p as Plugin).kind),
  );
}

let tsxRegistered = false;
async function ensureTypeScriptLoader(): Promise<void> {
  if (fromSource || tsxRegistered) return;
  const { register } = await import('tsx/esm/api');
  register();
  tsxRegistered = true;
}

/** Whether a `--plugin` argument names a file (resolved against a folder) rather than an installed package. */
export const isPluginFile = (spec: string): boolean => spec.startsWith('.') || isAbsolute(spec) || /\.(m?[jt]s|cjs)$/.test(spec);

/** Resolves a `--plugin` argument: a file path (relative to `base`) or an installed package name. */
function resolvePluginSpecifier(spec: string, base: string): string {
  if (isPluginFile(spec)) {
    const file = resolve(base, spec);
    if (!existsSync(file)) {
      throw new UsageError(`plugin file not found: ${file}`, 'check the path given to --plugin or in robench.config.json');
    }
    return pathToFileURL(file).href;
  }
  try {
    return pathToFileURL(createRequire(join(base, 'noop.js')).resolve(spec)).href;
  } catch {
    throw new UsageError(`plugin package '${spec}' is not installed`, `run \`npm install ${spec}\` or give a file path`);
  }
}

const LOAD_TIMEOUT = numberSetting({ name: 'pluginLoadTimeoutS', above: 0, max: 1e7, default: 60, description: 'seconds a plugin file may take to load' });

export async function loadPluginModule(registry: Registry, spec: string, base = process.cwd()): Promise<Plugin[]> {
  const url = resolvePluginSpecifier(spec, base);
  if (/\.(m|c)?ts$/.test(url)) await ensureTypeScriptLoader();
  // After tsx, so that its hooks run first and see the .ts format the resolution decides.
  shareModulesWithPlugins();
  let mod: Record<string, unknown>;
  // A plugin whose top-level code waits forever would hang robench with no word: its load is bounded.
  const seconds = fromEnv(LOAD_TIMEOUT, 'ROBENCH_PLUGIN_LOAD_TIMEOUT_S')!;
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UsageError(`plugin ${spec} did not finish loading within ${seconds} s`, 'a plugin file must not wait at load (a top-level await that never settles?); raise ROBENCH_PLUGIN_LOAD_TIMEOUT_S if it is only slow')), seconds * 1000);
    });
    mod = (await Promise.race([import(url), late])) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof UsageError && err.message.startsWith(`plugin ${spec} did not finish loading`)) throw err;
    throw new UsageError(`plugin ${spec} failed to load: ${(err as Error).message}`, 'fix the error in the plugin file');
  } finally {
    clearTimeout(timer);
  }
  const found = pluginsOf(mod);
  if (found.length === 0) {
    throw new UsageError(
      `plugin ${spec} exports no plugin`,
      "its default export must be a plugin object (kind: 'attack' | 'model' | 'dataset' | 'reporter') or an array of them",
    );
  }
  for (const p of found) registry.add(p, spec);
  return found;
}

async function loadBuiltins(registry: Registry): Promise<void> {
  const root = fromSource ? packageRoot : join(packageRoot, 'dist');
  const ext = fromSource ? '.ts' : '.js';
  for (const folder of Object.values(KIND_FOLDERS)) {
    const dir = join(root, folder);
    if (!existsSync(dir)) continue;
    const files = readdirSync(dir).filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts')).sort();
    for (const file of files) {
      const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
      for (const p of pluginsOf(mod)) registry.add(p, `${folder}/${file}`, true);
    }
  }
}

export interface ConfigFile {
  plugins?: string[];
  /** Defaults for `robench run` flags, e.g. {"samples": 500, "backend": "wasm"}. */
  run?: Record<string, unknown>;
}

const CONFIG_KEYS = ['plugins', 'run'];

export function readConfig(cwd = process.cwd()): { config: ConfigFile; dir: string } | undefined {
  const file = join(cwd, 'robench.config.json');
  if (!existsSync(file)) return undefined;
  let config: ConfigFile;
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as ConfigFile;
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`, 'fix or remove robench.config.json');
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new UsageError(`${file} must hold a JSON object`, 'e.g. {"plugins": ["./my-attack.js"], "run": {"samples": 500}}');
  }
  const unknown = Object.keys(config).find((k) => !CONFIG_KEYS.includes(k));
  if (unknown !== undefined) {
    throw new UsageError(`${file}: unknown key "${unknown}". Did you mean "${nearest(unknown, CONFIG_KEYS)}"?`, `valid keys: ${CONFIG_KEYS.join(', ')}`);
  }
  if (config.run !== undefined && (typeof config.run !== 'object' || config.run === null || Array.isArray(config.run))) {
    throw new UsageError(`${file}: "run" must be an object of run flags and values`, 'e.g. {"run": {"samples": 500, "backend": "wasm"}}');
  }
  if (config.plugins !== undefined && !(Array.isArray(config.plugins) && config.plugins.every((p) => typeof p === 'string' && p.trim() !== ''))) {
    throw new UsageError(`${file}: "plugins" must be an array of file paths or package names, not ${JSON.stringify(config.plugins)}`, 'e.g. {"plugins": ["./my-attack.js"]}');
  }
  return { config, dir: dirname(file) };
}

/** Built-ins, then the config file's plugins (unless `ignoreConfig`: the CLI found it broken), then `--plugin` ones. */
export async function createRegistry(opts: { plugins?: string[]; cwd?: string; ignoreConfig?: boolean } = {}): Promise<Registry> {
  const cwd = opts.cwd ?? process.cwd();
  const registry = new Registry();
  await loadBuiltins(registry);
  const cfg = opts.ignoreConfig ? undefined : readConfig(cwd);
  for (const spec of cfg?.config.plugins ?? []) await loadPluginModule(registry, spec, cfg!.dir);
  for (const spec of opts.plugins ?? []) await loadPluginModule(registry, spec, cwd);
  return registry;
}
