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
