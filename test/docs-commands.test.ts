/**
 * Every `npx robench` line of the README's and docs/*.md's sh blocks runs with --dry-run, which
 * checks it as a real run would (flags, values, plugin ids, attack params) and runs nothing: a
 * renamed flag or a stale id in the docs fails here, not in a reader's terminal.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robench, root } from './helpers/cli.js';

interface DocCommand {
  where: string;
  args: string[];
}

/** The `npx robench` lines of one file's sh blocks, continuations joined, comments dropped. */
function docCommands(file: string, text: string): DocCommand[] {
  const lines = text.split('\n');
  const found: DocCommand[] = [];
  let inSh = false;
  for (let i = 0; i < lines.length; i++) {
    if (/^```/.test(lines[i]!)) {
      inSh = !inSh && lines[i] === '```sh';
      continue;
    }
    if (!inSh) continue;
    const start = i;
    let line = lines[i]!;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!}`;
    const command = line.replace(/\s#.*$/, '').trim();
    if (command.startsWith('npx robench ')) found.push({ where: `${file}:${start + 1}`, args: command.split(/\s+/).slice(2) });
  }
  return found;
}

const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const commands = docs.flatMap((file) => docCommands(file, readFileSync(join(root, file), 'utf8')));

test.serial('the extraction joins continued lines, drops comments and skips other blocks and commands', (t) => {
  const text = ['```sh', 'npx robench list   # all', 'npm ci && ./bin/robench run', 'npx robench run --model a \\', '  --attack b', '```', '```yaml', 'npx robench data list', '```'].join('\n');
  t.deepEqual(docCommands('x.md', text), [
    { where: 'x.md:2', args: ['list'] },
    { where: 'x.md:4', args: ['run', '--model', 'a', '--attack', 'b'] },
  ]);
});

test.serial('every npx robench line of README.md and docs/*.md passes --dry-run', async (t) => {
  t.timeout(20 * 60_000);
  // The README's quick start and docs/measurements.md's reproductions at least.
  t.true(commands.filter((c) => c.where.startsWith('README.md')).length >= 6);
  t.true(commands.filter((c) => c.where.startsWith('docs/measurements.md')).length >= 40);
  const failed: string[] = [];
  // Two at a time: they only parse, and the machine is shared.
  const queue = [...commands];
  const worker = async (): Promise<void> => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const r = await robench([...c.args, '--dry-run']);
      if (r.code !== 0 || !r.stdout.startsWith(`robench ${c.args[0]}`)) failed.push(`${c.where}: npx robench ${c.args.join(' ')}\n  exit ${r.code}: ${r.stderr.trim()}`);
    }
  };
  await Promise.all([worker(), worker()]);
  t.deepEqual(failed, [], `${failed.length} of ${commands.length} documented command lines fail`);
});

test.serial('--dry-run refuses a bad value with exit 2, as a run does', async (t) => {
  const r = await robench(['run', '--model', 'baseline', '--attack', 'pgd', '--eps', '0,2/255', '--samples', '0', '--dry-run']);
  t.is(r.code, 2);
  t.regex(r.stderr, /--samples '0' must be a whole number/);
  t.is(r.stdout, '');
});

test.serial("--dry-run of train makes the run's own flag checks: a flag of another trainer, adversarial settings without --adversarial", async (t) => {
  const cases: [string[], RegExp][] = [
    [['--model', 'baseline', '--adversarial', 'fast', '--adversarial-steps', '5'], /--adversarial-steps applies to --adversarial pgd/],
    [['--model', 'baseline', '--train-eps', '0.3'], /--train-eps applies to adversarial training only/],
    [['--model', 'baseline', '--adversarial', 'fast', '--trades-beta', '3'], /--trades-beta applies to --adversarial trades only/],
    [['--model', 'baseline', '--adversarial', 'trades', '--trades-beta', '0'], /--trades-beta '0' must be a number greater than 0/],
    [['--model', 'ekdaa', '--adversarial', 'fast'], /--adversarial trains the zoo CNNs .*, not 'ekdaa'/],
    [['--model', 'baseline', '--layout', 'wide'], /--layout applies to the EKDAA models only/],
    [['--model', 'similarity-matching', '--epochs', '3'], /--epochs and --lr do not apply/],
    [['--model', 'baseline', '--freeze-convs'], /--freeze-convs applies to the EKDAA models only, not 'baseline'/],
    [['--model', 'similarity-matching', '--freeze-convs'], /--freeze-convs applies to the EKDAA models only, not 'similarity-matching'/],
    [['--model', 'ekdaa-release-bp', '--freeze-convs'], /no EKDAA model is 'ekdaa-release-bp' with frozen convs/],
  ];
  for (const [args, message] of cases) {
    const r = await robench(['train', ...args, '--dataset', 'mnist', '--dry-run']);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, message);
  }
  for (const mode of [['pgd', '--adversarial-steps', '5'], ['trades', '--adversarial-steps', '5', '--trades-beta', '1']]) {
    const ok = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', '--adversarial', ...mode, '--dry-run']);
    t.is(ok.code, 0, ok.stderr);
  }
  const frozen = await robench(['train', '--model', 'ekdaa', '--activation', 'sign', '--freeze-convs', '--dataset', 'fashion-mnist', '--dry-run']);
  t.is(frozen.code, 0, frozen.stderr);
});

test.serial('--dry-run looks the ids and attack params up as a run does', async (t) => {
  const unknown = await robench(['run', '--model', 'baseline', '--attack', 'pgdd', '--dry-run']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown attack 'pgdd'/);
  const foreign = await robench(['run', '--model', 'baseline', '--attack', 'gaussian', '--steps', '5', '--dry-run']);
  t.is(foreign.code, 2);
  t.regex(foreign.stderr, /--steps is not an option of the attack 'gaussian'/);
});

test.serial('--dry-run prints the resolved settings and writes nothing', async (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'robench-dry-')), 'run');
  const r = await robench(['run', '--model', 'baseline', '--attack', 'pgd', '--eps', '0,2/255', '--steps', '3', '--out', out, '--dry-run']);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0]!, /^robench run \(dry run/);
  for (const line of ['--model baseline', '--attack pgd', '--eps 0,2/255', '--steps 3', `--out ${out}`, '--batch 100', '--sweep']) t.true(lines.includes(`  ${line}`), line);
  t.false(existsSync(out));
});

test.serial("--dry-run shows robench.config.json's run settings merged in, and refuses a bad one", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-dry-config-'));
  writeFileSync(join(dir, 'robench.config.json'), JSON.stringify({ run: { samples: 7, steps: 4 } }));
  const r = await robench(['run', '--model', 'baseline', '--attack', 'pgd', '--dry-run'], dir);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^ {2}--samples 7$/m);
  t.regex(r.stdout, /^ {2}--steps 4$/m);
  writeFileSync(join(dir, 'robench.config.json'), JSON.stringify({ run: { samples: -1 } }));
  const bad = await robench(['run', '--model', 'baseline', '--attack', 'pgd', '--dry-run'], dir);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /"run\.samples"/);
});

test.serial('a dry run of a command that reads files checks its settings and says the files are not read', async (t) => {
  const r = await robench(['report', 'no-such-run', '--out', 'merged', '--format', 'table', '--dry-run']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^ {2}results: no-such-run \(not read in a dry run\)$/m);
  t.false(existsSync(join(root, 'merged')));
  const bad = await robench(['report', 'no-such-run', '--out', 'merged', '--format', 'tabel', '--dry-run']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /unknown reporter 'tabel'/);
});

test.serial('a dry run of data fetch and list checks their arguments: an unknown dataset or kind exits 2', async (t) => {
  const fetch = await robench(['data', 'fetch', 'mnist', 'cifar1', '--dry-run']);
  t.is(fetch.code, 2);
  t.regex(fetch.stderr, /unknown dataset "cifar1"/);
  const list = await robench(['list', 'modls', '--dry-run']);
  t.is(list.code, 2);
  t.regex(list.stderr, /unknown plugin kind 'modls'/);
});
