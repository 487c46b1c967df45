/**
 * The status line in a pseudo-terminal (issue 35): while the main thread is busy in one long
 * synchronous step, as an APGD batch on wasm is, the spinner turns and the time left counts down.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, saveDenseModel } from '../helpers/cli.js';

/** Runs node with `args` (from the repository root, tsx loaded) in a 120-column pseudo-terminal; returns all it wrote. */
function inPty(args: string[]): Promise<string> {
  const driver = `
import os, pty, sys, fcntl, termios, struct
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 120, 0, 0))
    os.execvp(sys.argv[1], sys.argv[1:])
out = b''
while True:
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf-8', 'replace'))
`;
  return new Promise((done, fail) =>
    execFile('python3', ['-c', driver, process.execPath, '--import', 'tsx', ...args], { cwd: root, timeout: 180_000 }, (err, stdout) => (err ? fail(err) : done(stdout))),
  );
}

test('the line moves at least every second while the main thread computes without yielding', async (t) => {
  const out = await inPty(['--input-type=module', '-e', `
    const { statusLine } = await import('./src/report/status-line.ts');
    const s = statusLine(true);
    s.update('hebbian: apgd at 8/255 · model 1 of 2', 9000);
    // One long attack step: 3 s in which the main thread never reaches its event loop.
    const end = Date.now() + 3000;
    while (Date.now() < end) {}
    s.succeed('hebbian under apgd: 20 samples in 3s');
    s.stop();
  `]);
  const draws = out.split('\r\x1b[K').filter((d) => d.includes('hebbian: apgd at 8/255'));
  // Drawn ten times a second: 3 s of a busy main thread leave well over one draw per second.
  t.true(draws.length >= 10, `${draws.length} draws: ${JSON.stringify(out.slice(0, 300))}`);
  t.true(new Set(draws.map((d) => d[0])).size >= 5, 'the spinner turns');
  const lefts = new Set(draws.map((d) => /· (\d+s) left/.exec(d)?.[1]));
  t.true(lefts.size >= 3, `the time left counts down: ${[...lefts].join(', ')}`);
  t.regex(out, /✔ hebbian under apgd: 20 samples in 3s/);
});

/** An attack whose one call keeps the main thread busy for 3 s, marking its start and end on stderr. */
const STALL = `
import { writeSync } from 'node:fs';
export default {
  kind: 'attack', id: 'stall', description: 'one call that never yields for 3 s', params: {},
  budget: () => 'linf', perturbationLabel: () => 'eps', defaultGrid: () => [0, 0.1],
  async run(ctx) {
    writeSync(2, '<stall>');
    const end = Date.now() + 3000;
    while (Date.now() < end) {}
    writeSync(2, '</stall>');
    return ctx.x.clone();
  },
};
`;

test('robench run: the line moves while one attack call keeps the main thread busy', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-pty-'));
  writeFileSync(join(dir, 'stall.mjs'), STALL);
  const model = await saveDenseModel(join(dir, 'model'), [28, 28, 1]);
  // 50 samples: the attack sees only those this untrained model gets right, a few of 50.
  const args = ['--plugin', join(dir, 'stall.mjs'), 'run', '--model', model, '--dataset', 'mnist', '--samples', '50', '--batch', '50', '--attack', 'stall', '--eps', '0.1', '--workers', '1', '--backend', 'cpu', '--out', join(dir, 'out')];
  const out = await inPty([join(root, 'src/cli/main.ts'), ...args]);
  const during = /<stall>([\s\S]*)<\/stall>/.exec(out)?.[1];
  t.truthy(during, out.slice(-2000));
  const draws = during!.split('\r\x1b[K').slice(1);
  // Ten draws a second from the line's own thread; a timer on the blocked main thread drew none.
  t.true(draws.length >= 10, `${draws.length} draws during the call: ${JSON.stringify(during!.slice(0, 300))}`);
  t.true(new Set(draws.map((d) => d[0])).size >= 5, 'the spinner turns');
  // It names the attack under way, not the clean pass before it (the drawing thread may take a
  // moment to get the new text, so the last half second of the call is what is checked).
  t.true(draws.slice(-5).every((d) => / stall at 0\.1 · /.test(d)), draws.at(-1));
});
