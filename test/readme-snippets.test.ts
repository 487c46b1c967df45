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
  const shell = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((m) => m[1]!.split('\n'));
  const bare = shell.filter((line) => /^\s*robench\s/.test(line));
  t.deepEqual(bare, [], 'a bare `robench` fails with "command not found" in a fresh clone');
  t.true(shell.filter((line) => /^\s*npx robench\s/.test(line)).length > 40);
  // The first two lines stay as they are: install, then the bundled example offline.
  t.regex(shell[0]!, /^npm ci && \.\/bin\/robench run --model hebbian --attack pgd/);
  t.regex(shell[1]!, /^npm test\s/);
});
