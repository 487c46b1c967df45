/**
 * The layering rule of issue 18: the plugin core (the plugin API, the engine and the attack
 * maths, the registry, benchmark() and the run it evaluates, the package entry) imports no
 * plugin folder, so that plugins depend on the core and never the other way round. The
 * registry finds the built-in plugins by path at run time, which is not an import.
 *
 * And issue 32's: the built-in attacks, datasets and reporters import robench only through its
 * public plugin SDK (`robench/sdk`, src/sdk.ts), so any of them could be written outside the
 * repository; models/ holds model plugin entries only (the registry loads every file there as
 * one); and robench's custom tfjs layers are registered in one folder, src/layers/, so that
 * loading a model file needs one import and no module is imported for a layer's side effect.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { importGraph, pluginImports, type ImportGraph } from './helpers/import-graph.js';
import { modelEntryFiles } from './helpers/model-entries.js';
import { root } from './helpers/cli.js';

const PLUGIN_FOLDERS = ['models', 'attacks', 'datasets', 'reports'];
const isPlugin = (file: string): boolean => PLUGIN_FOLDERS.some((f) => file.startsWith(`${f}/`));

/**
 * The core: every file of src/core/ (what plugins build on) and src/evaluation/ (benchmark()
 * and the run it evaluates), the package entry, and what benchmark()'s worker threads run,
 * which is started by URL (src/runtime/worker-pool.ts), so no import reaches it.
 */
const isCore = (file: string): boolean =>
  file.startsWith('src/core/') || file.startsWith('src/evaluation/') || file === 'src/index.ts' || file === 'src/sdk.ts' || file === 'src/runtime/eval-worker.ts';

/**
 * The plugin folders held to the SDK. models/ is not yet: its entries build on the zoo's loading
 * code (src/zoo/), which the SDK does not offer.
 */
const SDK_ONLY = ['attacks', 'datasets', 'reports'];
const SDK = 'src/sdk.ts';

/** Each import by a file of those folders of a project file that is neither the SDK nor a file of its own folder. */
function besideSdk(graph: ImportGraph, folders: string[]): string[] {
  return [...graph].flatMap(([from, to]) => {
    const folder = folders.find((f) => from.startsWith(`${f}/`));
    return folder ? [...to].filter((file) => file !== SDK && !file.startsWith(`${folder}/`)).map((file) => `${from} -> ${file}`) : [];
  });
}

/** The imports into plugin folders the core still makes, each with why. A new one fails the test. */
const ALLOWED: Record<string, string> = {
  // The SDK's corruption tables (CIFAR-10-C's errors and mCE, for the json, csv and table
  // reporters) name a corruption run's batches by the corruption plugin's own list of them: a
  // result records the correct count of each batch, not its name.
  'src/analysis/corruption-errors.ts -> attacks/corruption.ts': 'the names of a corruption run\'s batches',
};

test('the plugin core imports no plugin folder, but for the allowed imports named here', async (t) => {
  const graph = await importGraph(root);
  // A graph the parser failed to read would find no violation at all: check it sees known imports.
  t.true(graph.get('src/evaluation/benchmark.ts')?.has('src/evaluation/evaluate-run.ts'), 'benchmark.ts imports evaluate-run.ts');
  t.true(graph.get('src/index.ts')?.has('src/core/plugin-api.ts'), 'index.ts imports plugin-api.ts');
  const core = [...graph.keys()].filter(isCore);
  t.true(core.length >= 20 && core.includes('src/core/engine.ts'), `the core files are found (${core.length})`);
  const found = pluginImports(graph, core, isPlugin);
  const forbidden = found.filter((v) => !(v.edge in ALLOWED)).map((v) => v.chain.join(' -> '));
  t.deepEqual([...new Set(forbidden)], [], 'core files reaching a plugin folder');
  const used = new Set(found.map((v) => v.edge));
  t.deepEqual(Object.keys(ALLOWED).filter((e) => !used.has(e)), [], 'allowed imports the core no longer makes: remove them from ALLOWED');
});

test('the built-in attacks, datasets and reporters import robench only through its SDK entry', async (t) => {
  const graph = await importGraph(root);
  const held = [...graph.keys()].filter((f) => SDK_ONLY.some((d) => f.startsWith(`${d}/`)));
  t.true(held.length >= 20 && graph.get('attacks/pgd.ts')?.has(SDK), `the plugin files and their imports are found (${held.length})`);
  t.deepEqual(besideSdk(graph, SDK_ONLY), []);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  t.deepEqual(pkg.exports['./sdk'], { types: './dist/src/sdk.d.ts', default: './dist/src/sdk.js' }, 'the SDK is a public entry');
});

test('the SDK check names an import of anything else, and lets a plugin import its own folder', (t) => {
  const graph: ImportGraph = new Map([
    ['attacks/step.ts', new Set([SDK, 'src/core/norms.ts', 'attacks/helpers/box.ts'])],
    ['reports/md.ts', new Set([SDK, 'src/report/charts.ts'])],
    ['datasets/tiny.ts', new Set(['datasets/tiny-files.ts'])],
    ['models/net.ts', new Set(['src/training/loop.ts'])],
    ['src/sdk.ts', new Set(['src/core/norms.ts'])],
  ]);
  t.deepEqual(besideSdk(graph, SDK_ONLY), ['attacks/step.ts -> src/core/norms.ts', 'reports/md.ts -> src/report/charts.ts']);
});

test('src/core imports only src/core: what plugins build on depends on nothing else of robench', async (t) => {
  const graph = await importGraph(root);
  const core = [...graph.keys()].filter((f) => f.startsWith('src/core/'));
  t.true(core.includes('src/core/engine.ts'), 'the graph holds the core');
  const outside = core.flatMap((f) => [...graph.get(f)!].filter((to) => !to.startsWith('src/core/')).map((to) => `${f} -> ${to}`));
  t.deepEqual(outside, []);
});

test('the check follows imports through other files, type-only ones included, and stops at plugins', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-layering-'));
  const files: Record<string, string> = {
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: [] }, include: ['src/**/*.ts', 'attacks/**/*.ts', 'models/**/*.ts'] }),
    'package.json': '{"type": "module"}',
    'src/core.ts': "import { helper } from './helper.js';\nimport type { Shape } from './shapes.js';\nexport const core = (s: Shape) => helper(s.n);\n",
    'src/helper.ts': "import { step } from '../attacks/step.js';\nexport const helper = (n: number) => step(n);\n",
    'src/shapes.ts': "export type { Shape } from '../models/shape.js';\n",
    // A path computed at run time, as the registry finds built-ins: not an import.
    'src/discover.ts': "export const load = (folder: string) => import(`../${folder}/step.js`);\n",
    'attacks/step.ts': "import { core } from '../src/core.js';\nexport const step = (n: number) => n + 1;\nexport const again = core;\n",
    'models/shape.ts': 'export interface Shape { n: number }\n',
  };
  try {
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    const graph = await importGraph(dir);
    const found = pluginImports(graph, ['src/core.ts', 'src/discover.ts'], isPlugin);
    t.deepEqual(
      found.map((v) => v.chain.join(' -> ')).sort(),
      ['src/core.ts -> src/helper.ts -> attacks/step.ts', 'src/core.ts -> src/shapes.ts -> models/shape.ts'],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** The model plugins a module exports, as the registry takes them: its default export or `plugins`, one or a list. */
function modelPluginsOf(mod: Record<string, unknown>): unknown[] {
  const candidate = mod.default ?? mod.plugins;
  return (Array.isArray(candidate) ? candidate : [candidate]).filter((p) => {
    const plugin = p as { kind?: unknown; id?: unknown; load?: unknown } | null;
    return typeof plugin === 'object' && plugin !== null && plugin.kind === 'model' && typeof plugin.id === 'string' && typeof plugin.load === 'function';
  });
}

test('every file directly in models/ exports a model plugin: the folder holds plugin entries only', async (t) => {
  const files = modelEntryFiles();
  t.true(files.includes('hebbian.ts'), `the model entries are found (${files.length})`);
  const bare: string[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(root, 'models', file)).href)) as Record<string, unknown>;
    if (modelPluginsOf(mod).length === 0) bare.push(`models/${file}`);
  }
  t.deepEqual(bare, [], 'files in models/ that export no model plugin: move them under src/');
});

test('the model plugin check refuses a module of helpers and takes a default export or a list', (t) => {
  const plugin = { kind: 'model', id: 'tiny', load: async () => ({}) };
  t.is(modelPluginsOf({ SM_INFERENCE: { solver: 'euler' }, weightsRoot: () => 'models/weights' }).length, 0);
  t.is(modelPluginsOf({ default: { kind: 'attack', id: 'step', run: () => {} } }).length, 0);
  t.is(modelPluginsOf({ default: { kind: 'model', id: 'no-load' } }).length, 0);
  t.is(modelPluginsOf({ default: plugin }).length, 1);
  t.is(modelPluginsOf({ plugins: [plugin, { ...plugin, id: 'tiny-2' }] }).length, 2);
});

/** Folders of robench's own code. Tests are left out: one may register a throwaway layer of its own. */
const CODE_FOLDERS = ['src', 'models', 'attacks', 'datasets', 'reports', 'bench', 'scripts', 'examples'];
const LAYERS_FOLDER = 'src/layers/';

/** `file:line` of each registration of a tfjs class (registerClass, or SerializationMap.register as the stock-name layers use). */
function layerRegistrations(files: Map<string, string>): string[] {
  return [...files].flatMap(([file, text]) =>
    text.split('\n').flatMap((line, i) => (/\b(registerClass|SerializationMap\.register)\s*\(/.test(line) ? [`${file}:${i + 1}`] : [])),
  );
}

function codeFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules') walk(path);
      else if (entry.isFile() && entry.name.endsWith('.ts')) files.set(relative(dir, path), readFileSync(path, 'utf8'));
    }
  };
  for (const folder of CODE_FOLDERS) {
    try {
      walk(join(dir, folder));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return files;
}

test('every tfjs layer class is registered under src/layers/, which registers them all', (t) => {
  const found = layerRegistrations(codeFiles(root));
  const inside = found.filter((r) => r.startsWith(LAYERS_FOLDER));
  for (const file of ['hah.ts', 'normalize.ts', 'sign-ste.ts', 'similarity-matching.ts', 'batch-norm-training.ts', 'lazy-conv2d.ts']) {
    t.true(inside.some((r) => r.startsWith(`${LAYERS_FOLDER}${file}:`)), `the scan finds the registration in ${LAYERS_FOLDER}${file}`);
  }
  t.deepEqual(found.filter((r) => !r.startsWith(LAYERS_FOLDER)), [], 'layer classes registered outside src/layers/');
  const index = readFileSync(join(root, LAYERS_FOLDER, 'index.ts'), 'utf8');
  const modules = readdirSync(join(root, LAYERS_FOLDER)).filter((f) => f.endsWith('.ts') && f !== 'index.ts');
  t.deepEqual(modules.filter((f) => !index.includes(`'./${f.replace(/\.ts$/, '.js')}'`)), [], 'layer modules src/layers/index.ts does not import');
});

test('the registration scan names each call by file and line, either form', (t) => {
  const files = new Map([
    ['src/layers/mine.ts', 'class Mine {}\ntf.serialization.registerClass(Mine);\n'],
    ['models/net.ts', "import * as tf from '@tensorflow/tfjs';\n\ntf.serialization.registerClass (Net);\n"],
    ['src/runtime/conv.ts', 'tf.serialization.SerializationMap.register(FastConv);\n'],
    ['src/core/names.ts', "// registerClass names a layer: no call here.\nexport const registered = 'registerClass';\n"],
  ]);
  t.deepEqual(layerRegistrations(files), ['src/layers/mine.ts:2', 'models/net.ts:3', 'src/runtime/conv.ts:1']);
});
