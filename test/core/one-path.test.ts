/**
 * One way to run an attack (issue 32): runAttack in src/core/attack-checks.ts is the only caller
 * of an attack plugin's run(); the engine, attack(), the gallery, transfer and AutoAttack's
 * members go through it. A source scan: a call of `.run(` on something named like an attack, or
 * with an attack context (ctx, inner, sub, guarded) as its argument, anywhere else fails. The old
 * gallery's `attack.run(ctx)` and transfer's `attack.run(inner)` are what it catches.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { root } from '../helpers/cli.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'weights' ? [] : sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const CALL = /\b\w*attack\w*\.run\(|\.run\(\s*(ctx|inner|sub|guarded|context)\b/gi;

test('only runAttack calls an attack plugin\'s run()', (t) => {
  const files = ['src', 'attacks', 'models', 'datasets', 'reports', 'bench'].flatMap((d) => sources(join(root, d)));
  t.true(files.length > 50, `the sources are found (${files.length})`);
  const calls = files.flatMap((file) => {
    const rel = relative(root, file);
    const lines = readFileSync(file, 'utf8').split('\n');
    return lines.flatMap((line, i) => (line.match(CALL) && !line.trim().startsWith('//') && !line.trim().startsWith('*') ? [`${rel}:${i + 1}: ${line.trim()}`] : []));
  });
  t.deepEqual(calls.filter((c) => !c.startsWith('src/core/attack-checks.ts:')), []);
  t.true(calls.some((c) => c.startsWith('src/core/attack-checks.ts:')), `the scan finds runAttack's own call: ${calls}`);
  // The scan itself: what the old gallery and transfer did is caught.
  t.truthy('      const returned = await attack.run(ctx);'.match(CALL));
  t.truthy('    return attack.run(inner);'.match(CALL));
});
