/**
 * The layering rule of issue 18: the plugin core (the plugin API, the engine and the attack
 * maths, the registry, benchmark() and the run it evaluates, the package entry) imports no
 * plugin folder, so that plugins depend on the core and never the other way round. The
 * registry finds the built-in plugins by path at run time, which is not an import.
 *
 * And issue 32's: the built-in attacks, datasets and reporters import robench only through its
 * public plugin SDK (`robench/sdk`, src/sdk.ts), so any of them could be written outside the
 * repository.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { importGraph, pluginImports, type ImportGraph } from './helpers/import-graph.js';
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
 * The plugin folders held to the SDK. models/ is not yet: its architectures and custom layers
 * import src/ internals (src/training, src/runtime), which the SDK does not offer.
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
  // index's zoo part: loadZooModel and zooModels are the zoo's own public face, which the
  // package entry re-exports on purpose.
  'src/evaluation/zoo-api.ts -> models/zoo.ts': 'the zoo API',
  // Model files written by `robench train` (and the zoo's model.json files) use the HaH layer
  // classes, and tfjs deserialises a layer by its registered class name, so loading any model
  // file registers them first. The layer classes stay beside the architectures that build
  // them (models/), so the loader reaches into models/ for them.
  'src/runtime/model-io.ts -> models/hah-layers.ts': 'custom layer classes for loading model files',
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
