/** A broken robench.config.json must not lock the user out of the help and the listing that would show how to fix it. */
import test from 'ava';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robench } from '../helpers/cli.js';

async function withConfig(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'robench-badconfig-'));
  await writeFile(join(dir, 'robench.config.json'), text);
  return dir;
}

for (const [what, text, problem] of [
  ['not JSON', '{"run": {"samples": 5,}', /robench\.config\.json is not valid JSON/],
  ['a "run" that is not an object', '{"run": 5}', /"run" must be an object/],
] as const) {
  test(`a config file that is ${what}: --help and list work, run refuses with the config's error`, async (t) => {
    const dir = await withConfig(text);
    for (const args of [['--help'], ['run', '--help']]) {
      const r = await robench(args, dir);
      t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      t.regex(r.stdout, /Usage: robench/);
    }
    const list = await robench(['list', 'attacks', '--json'], dir);
    t.is(list.code, 0, list.stderr);
    t.true((JSON.parse(list.stdout) as { attacks: { id: string }[] }).attacks.some((a) => a.id === 'pgd'));
    t.regex(list.stderr, new RegExp(`warning: .*${problem.source}.*its plugins and settings are ignored`));
    const run = await robench(['run', '--attack', 'fgsm', '--backend', 'cpu', '--samples', '2'], dir);
    t.is(run.code, 2);
    t.regex(run.stderr, problem);
    t.regex(run.stderr, /fix: /);
  });
}
