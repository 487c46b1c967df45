/**
 * robench/attacks (src/attacks.ts): the built-ins by name, usable in attack() exactly as their
 * ids, their params typed (tsc checks test/fixtures/attack-api/typed-params.ts), and the entry
 * is in package.json's exports.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as builtIns from '../../src/attacks.js';
import { attack } from '../../src/evaluation/attack-api.js';
import { createRegistry } from '../../src/core/registry.js';
import { root } from '../helpers/cli.js';
import { linearFixture } from '../helpers/tiny-models.js';

import '../helpers/backend.js';

test('every built-in attack is exported by its id, and attack() runs a plugin object as it runs the id', async (t) => {
  const registry = await createRegistry({ plugins: [] });
  // Built-ins are registered from the attacks/ folder, their origin its file.
  const builtin = registry.list('attack').filter((a) => /^attacks\/[^/]+\.(ts|js)$/.test(registry.origins.get(a) ?? ''));
  t.true(builtin.length >= 10);
  t.deepEqual(Object.keys(builtIns).sort(), builtin.map((a) => a.id).sort());
  for (const [name, plugin] of Object.entries(builtIns)) t.is(plugin.id, name);
  const { model: loaded, data } = linearFixture(10);
  const model = { logits: loaded.logits, inputShape: loaded.inputShape, numClasses: 3 };
  const x = tf.tensor4d(data.images, [10, 4, 4, 1]);
  const byObject = await attack({ model, x, y: data.labels, attack: builtIns.pgd, eps: 0.1, params: { steps: 4 }, seed: 1 });
  const byId = await attack({ model, x, y: data.labels, attack: 'pgd', eps: 0.1, params: { steps: 4 }, seed: 1 });
  t.deepEqual(byObject.budgets[0]!.x.dataSync(), byId.budgets[0]!.x.dataSync());
  t.true(byObject.budgets[0]!.success.some((s) => s === 1));
  [byObject, byId].forEach((r) => r.dispose());
  x.dispose();
  loaded.dispose();
});

test('package.json exports robench/attacks, and tsc types attack()\'s params by the plugin given', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
  t.deepEqual(pkg.exports['./attacks'], { types: './dist/src/attacks.d.ts', default: './dist/src/attacks.js' });
  const tsc = join(dirname(createRequire(join(root, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
  const flags = ['--ignoreConfig', '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--types', 'node', '--lib', 'es2022,dom'];
  const result = await new Promise<{ code: number; out: string }>((done) =>
    execFile(process.execPath, [tsc, ...flags, join(root, 'test/fixtures/attack-api/typed-params.ts')], { cwd: root }, (err, stdout, stderr) => done({ code: err ? 1 : 0, out: stdout + stderr })),
  );
  t.is(result.code, 0, result.out);
});
