/**
 * Each built-in attack's header shows attack() with that attack as a user would paste it: tsc
 * compiles every one (robench and robench/attacks mapped to the sources), so a renamed or
 * mistyped param in an example fails here.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { root } from '../helpers/cli.js';

test('every built-in attack header has an attack() example that compiles', async (t) => {
  const files = readdirSync(join(root, 'attacks')).filter((f) => f.endsWith('.ts'));
  const snippets = files.map((f) => {
    const header = readFileSync(join(root, 'attacks', f), 'utf8').split('\n */')[0]!;
    const lines = header.split('\n').map((l) => l.replace(/^ \* {3}/, '')).filter((l) => /^(import \{|const result = await attack\()/.test(l));
    return { file: f, lines };
  });
  for (const s of snippets) t.is(s.lines.filter((l) => l.startsWith('const result')).length, 1, `attacks/${s.file} shows one attack() call`);
  const src = (p: string): string => JSON.stringify(join(root, p));
  const body = snippets
    .map((s, i) => {
      const code = s.lines.filter((l) => !l.startsWith('import')).join('\n');
      const named = s.lines.find((l) => l.includes("'robench/attacks'"))!.match(/\{ (\w+) \}/)![1]!;
      return `export async function example${i}(x: X, y: Y) {\n  const ${named} = attacks.${named};\n  ${code}\n  return result;\n}`;
    })
    .join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'robench-headers-'));
  const file = join(dir, 'headers.mts');
  writeFileSync(file, `import { attack } from ${src('src/index.ts')};\nimport * as attacks from ${src('src/attacks.ts')};\ntype X = Parameters<typeof attack>[0]['x'];\ntype Y = Parameters<typeof attack>[0]['y'];\n${body}\n`);
  const tsc = join(dirname(createRequire(join(root, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
  const flags = ['--ignoreConfig', '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--types', 'node', '--lib', 'es2022,dom', '--allowImportingTsExtensions', '--typeRoots', join(root, 'node_modules/@types')];
  const result = await new Promise<{ code: number; out: string }>((done) =>
    execFile(process.execPath, [tsc, ...flags, file], { cwd: root }, (err, stdout, stderr) => done({ code: err ? 1 : 0, out: stdout + stderr })),
  );
  const mine = result.out.split('\n').filter((l) => l.includes('headers.mts'));
  t.deepEqual(mine, [], readFileSync(file, 'utf8'));
  t.is(snippets.length, 10);
});
