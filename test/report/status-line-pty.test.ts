/**
 * The status line in a pseudo-terminal (issue 35): while the main thread is busy in one long
 * synchronous step, as an APGD batch on wasm is, the spinner turns and the time left counts down.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { root } from '../helpers/cli.js';

/** Runs `script` (a module, from the repository root) in a 120-column pseudo-terminal; returns all it wrote. */
function inPty(script: string): Promise<string> {
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
    execFile('python3', ['-c', driver, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 60_000 }, (err, stdout) => (err ? fail(err) : done(stdout))),
  );
}

test('the line moves at least every second while the main thread computes without yielding', async (t) => {
  const out = await inPty(`
    const { statusLine } = await import('./src/report/status-line.ts');
    const s = statusLine(true);
    s.update('hebbian: apgd at 8/255 · model 1 of 2', 9000);
    // One long attack step: 3 s in which the main thread never reaches its event loop.
    const end = Date.now() + 3000;
    while (Date.now() < end) {}
    s.succeed('hebbian under apgd: 20 samples in 3s');
    s.stop();
  `);
  const draws = out.split('\r\x1b[K').filter((d) => d.includes('hebbian: apgd at 8/255'));
  // Drawn ten times a second: 3 s of a busy main thread leave well over one draw per second.
  t.true(draws.length >= 10, `${draws.length} draws: ${JSON.stringify(out.slice(0, 300))}`);
  t.true(new Set(draws.map((d) => d[0])).size >= 5, 'the spinner turns');
  const lefts = new Set(draws.map((d) => /· (\d+s) left/.exec(d)?.[1]));
  t.true(lefts.size >= 3, `the time left counts down: ${[...lefts].join(', ')}`);
  t.regex(out, /✔ hebbian under apgd: 20 samples in 3s/);
});
