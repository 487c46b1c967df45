import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serveLocal, type LocalServer } from '../fixtures/local-http.js';

const CHUNK = Buffer.alloc(60_000, 7);
let server: LocalServer;

test.before(async () => {
  // Sends a first chunk of a larger file, then stalls: the download is in flight until killed.
  server = await serveLocal((_req, res) => {
    res.writeHead(200, { 'content-length': 10 * CHUNK.length });
    res.write(CHUNK);
  });
});
test.after.always(() => server.close());

const partials = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.part'));

for (const [signal, code, ownHandler] of [['SIGINT', 130, false], ['SIGTERM', 143, false], ['SIGINT', 130, true]] as const) {
  test(`${signal} during a download removes the partial file and exits ${code}${ownHandler ? ', when another handler ends the process' : ''}`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'robench-dl-int-'));
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, '..', 'fixtures', 'download-child.ts'), `${server.url}/big`, join(dir, 'big.bin'), ...(ownHandler ? ['--own-handler'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: string | null }>((done) => child.on('exit', (c, s) => done({ code: c, signal: s })));
    // Interrupt only once the first chunk is on disk, so there is a partial file to lose.
    const deadline = Date.now() + 60_000;
    while (!partials(dir).some((f) => statSync(join(dir, f)).size >= CHUNK.length)) {
      if (Date.now() > deadline) throw new Error(`no partial download appeared: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill(signal);
    t.deepEqual(await exited, { code, signal: null }, stderr);
    t.deepEqual(partials(dir), []);
    if (!ownHandler) t.regex(stderr, new RegExp(`interrupted \\(${signal}\\): download of ${server.url}/big stopped`));
  });
}
