/**
 * docs/plugins.md shows the example plugins of examples/api-and-plugins as they are, one of each
 * kind, and they work: loaded from their files they evaluate to the closed-form accuracy of the
 * brightness data, with the sparsity the model's activations give, and the reporter writes into
 * the folder robench report prepares for it. (CI also runs the example project itself.)
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchmark } from '../src/evaluation/benchmark.js';
import { reportCommand } from '../src/cli/commands/report.js';
import { createRegistry } from '../src/core/registry.js';
import { resultsJson } from '../src/report/results-json.js';
import { root } from './helpers/cli.js';

const GUIDE = join(root, 'docs/plugins.md');
const PLUGINS = 'examples/api-and-plugins/plugins';

/** The guide's code blocks that name their file: ```ts file=path. */
function shownFiles(): Map<string, string> {
  const shown = new Map<string, string>();
  for (const m of readFileSync(GUIDE, 'utf8').matchAll(/^```\w+ file=(\S+)\n([\s\S]*?)^```$/gm)) shown.set(m[1]!, m[2]!);
  return shown;
}

test('the guide shows every example plugin file exactly as it is', (t) => {
  const shown = shownFiles();
  const files = readdirSync(join(root, PLUGINS)).map((f) => `${PLUGINS}/${f}`).sort();
  t.deepEqual([...shown.keys()].sort(), files, 'one block per file of examples/api-and-plugins/plugins');
  for (const [file, text] of shown) t.is(text, readFileSync(join(root, file), 'utf8'), file);
});

test('the example plugins are one of each kind, and evaluate to the closed form', async (t) => {
  const files = [...shownFiles().keys()].map((f) => join(root, f));
  const registry = await createRegistry({ plugins: files, cwd: root });
  const kinds = files.map((f) => [...registry.origins].find(([, origin]) => origin === f)![0].kind).sort();
  t.deepEqual(kinds, ['attack', 'dataset', 'model', 'reporter']);

  const eps = [0, 0.1, 0.2];
  const samples = 40;
  const result = await benchmark({ model: 'brightness-split', attack: 'lighten', plugins: files, eps, samples, backend: 'cpu', workers: 1 });
  // Brightness from the images themselves: lighten flips exactly the dark images within eps of 0.5.
  const data = await registry.get('dataset', 'brightness').load({ split: 'test', samples });
  const brightness = Array.from({ length: samples }, (_, i) => data.images[i * 64]!);
  t.deepEqual(
    result.points.map((p) => p.correct),
    eps.map((e) => brightness.filter((b) => b > 0.5 || 0.5 - b > e + 1e-6).length),
  );
  t.true(result.points[2]!.correct < result.points[0]!.correct, 'lighten at 0.2 flips some dark images');
  // One of the model's two ReLU channels is zero at every pixel.
  t.is(result.sparsity?.[0]?.zeroFraction, 0.5);

  const dir = await mkdtemp(join(tmpdir(), 'robench-guide-'));
  try {
    await writeFile(join(dir, 'results.json'), resultsJson([result]));
    const out = join(dir, 'not', 'yet', 'there');
    const written = await reportCommand([dir], { out, format: 'markdown' }, registry);
    t.deepEqual(written, [join(out, 'results.md')]);
    t.regex(readFileSync(join(out, 'results.md'), 'utf8'), /\| brightness-split \| lighten \| 100\.0% \|/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
