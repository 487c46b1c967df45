import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/runtime/atomic.js';
import { RobenchError } from '../../src/core/errors.js';

test('an atomic write replaces the file whole and leaves no temporary file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-atomic-'));
  try {
    await writeFile(join(dir, 'r.json'), 'old');
    await writeFileAtomic(join(dir, 'r.json'), 'new');
    t.is(await readFile(join(dir, 'r.json'), 'utf8'), 'new');
    t.deepEqual(await readdir(dir), ['r.json']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failed atomic write removes its temporary file and names the file it was writing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-atomic-'));
  try {
    // A folder in the way makes the final rename fail after the temporary file was written.
    await mkdir(join(dir, 'report.html', 'inner'), { recursive: true });
    const err = await t.throwsAsync(writeFileAtomic(join(dir, 'report.html'), 'x'));
    t.true(err instanceof RobenchError);
    t.regex(err!.message, /could not write .*report\.html/);
    t.deepEqual(await readdir(dir), ['report.html'], 'no report.html.<pid>.tmp left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
