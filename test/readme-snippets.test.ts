/**
 * The README's code blocks that name a file (```ts file=path) show it exactly as it is; the files
 * themselves run in CI (scripts/packed-example.sh runs examples/api-and-plugins, readme.ts
 * included, in a project that installs the packed tarball).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './helpers/cli.js';

test("the README's benchmark() example is examples/api-and-plugins/readme.ts as it stands", (t) => {
  const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^```\w+ file=(\S+)\n([\s\S]*?)^```$/gm)];
  t.true(blocks.some((m) => m[1] === 'examples/api-and-plugins/readme.ts'));
  for (const [, file, text] of blocks) t.is(text, readFileSync(join(root, file!), 'utf8'), file);
});

test("the README's command lines run in a clone, where robench is not on PATH: npx robench or ./bin/robench", (t) => {
  const shellLines = (file: string): string[] => [...readFileSync(join(root, file), 'utf8').matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((m) => m[1]!.split('\n'));
  for (const file of ['README.md', 'docs/measurements.md']) {
    const bare = shellLines(file).filter((line) => /^\s*robench\s/.test(line));
    t.deepEqual(bare, [], `${file}: a bare \`robench\` fails with "command not found" in a fresh clone`);
  }
  const shell = shellLines('README.md');
  t.true(shell.filter((line) => /^\s*npx robench\s/.test(line)).length >= 6);
  // The first two lines stay as they are: install, then the bundled example offline.
  t.regex(shell[0]!, /^npm ci && \.\/bin\/robench run --model hebbian --attack pgd/);
  t.regex(shell[1]!, /^npm test\s/);
});

test('the measured reproductions live in docs/measurements.md, each linked from the README\'s summary table by its heading', (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const doc = readFileSync(join(root, 'docs/measurements.md'), 'utf8');
  const headings = [...doc.matchAll(/^## (Measured: .*)$/gm)].map((m) => m[1]!);
  t.is(headings.length, 8);
  const slug = (h: string) => h.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');
  for (const h of headings) t.true(readme.includes(`(docs/measurements.md#${slug(h)})`), h);
  t.notRegex(readme, /^### Measured: /m, 'no measured section left in the README itself');
});
