/**
 * Output folders, prepared before anything is loaded or computed: a run that cannot write its
 * results should fail in a second, not after an hour of attacks.
 */
import { constants, existsSync, linkSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';

/** What a run writes into its folder: a new run replaces all of them, so no stale file of an earlier run (an old audit.json, a chart of an attack not run now) is read as part of the new one. */
const RUN_OUTPUT = /^(results\.json|results\.csv|report\.html|audit\.json|run\.json|(curve-.+|sparsity)\.(svg|png))$/;

/** Pseudo-filesystems where writes block or mean something else entirely. */
const SPECIAL = ['/proc', '/sys', '/dev'];

/** The existing part of `path`, resolved through links, so /proc reached through a link is still /proc. */
function realAncestor(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return join(realpathSync(p), resolve(path).slice(p.length));
}

/**
 * Creates `dir` and checks that files can be written there. `claim`: the folder must be new
 * (default output names, which two runs started in the same second would otherwise share), so
 * `dir-2`, `dir-3`, ... are tried; the folder claimed is returned.
 */
export async function prepareOutDir(dir: string, opts: { claim?: boolean; flag?: string } = {}): Promise<string> {
  const flag = opts.flag ?? '--out';
  const real = realAncestor(dir);
  if (SPECIAL.some((s) => real === s || real.startsWith(`${s}/`))) {
    throw new UsageError(`${flag} ${dir} is inside ${real.split('/').slice(0, 2).join('/')}, which holds no ordinary files`, `choose a folder on disk, e.g. ${flag} robench-results/run`);
  }
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new UsageError(`${flag} ${dir} exists and is not a folder`, `remove it or choose another path with ${flag}`);
  }
  let target = dir;
  if (opts.claim) {
    await mkdir(dirname(dir), { recursive: true });
    for (let k = 2; ; k++) {
      try {
        await mkdir(target);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotWrite(flag, target, err);
        target = `${dir}-${k}`;
      }
    }
  } else {
    await mkdir(target, { recursive: true }).catch((err) => {
      throw cannotWrite(flag, target, err);
    });
  }
  const probe = join(target, `.robench-probe-${process.pid}`);
  try {
    await access(target, constants.W_OK);
    await writeFile(probe, '');
  } catch (err) {
    throw cannotWrite(flag, target, err);
  } finally {
    await rm(probe, { force: true });
  }
  return target;
}

function cannotWrite(flag: string, dir: string, err: unknown): UsageError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : code === 'ENOSPC' ? 'the disk is full' : (err as Error).message;
  return new UsageError(`cannot write results to ${dir}: ${why}`, `choose a writable folder with ${flag}`);
}

/** The files of an earlier run in `dir`. */
export const earlierOutputs = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => RUN_OUTPUT.test(f)) : []);

/**
 * Moves an earlier run's outputs in `dir` into a folder of their own inside it (`earlier-<time>/`),
 * so the new run's report holds only the new run and nothing finished is lost. Returns that folder.
 */
export async function moveEarlierOutputs(dir: string, files: string[]): Promise<string> {
  const aside = join(dir, `earlier-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(aside, { recursive: true });
  for (const f of files) await rename(join(dir, f), join(aside, f));
  return aside;
}

/** The lock file `run` and `train` hold in their output folder while they write there. */
export const LOCK_FILE = '.robench.lock';

interface LockRecord {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
  /** Tells this process's lock from a later one of a reused pid. */
  token: string;
}

export interface OutDirLock {
  /** The lock file. */
  file: string;
  /** Removes the lock if it is still this one (idempotent; synchronous, so an exit handler can call it). */
  release(): void;
}

/** Whether process `pid` on this machine is alive: signal 0 checks without sending anything. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as LockRecord;
    return Number.isSafeInteger(r.pid) && r.pid > 0 && typeof r.host === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the exclusive lock on output folder `dir` for a run or a training (two of them writing one
 * folder would delete or overwrite each other's files). The lock is a file created atomically with
 * its content (written aside, then hard-linked into place, which fails if one exists), so another
 * process never reads a half-written lock. A lock whose process is gone (same host, dead pid) or
 * whose content is unreadable is stale and taken over; a live one is a usage error naming its
 * process. Call it after the folder exists and before touching any file in it; release() at the end
 * (it is also released when the process exits).
 */
export function lockOutDir(dir: string, opts: { flag?: string; command?: string } = {}): OutDirLock {
  const flag = opts.flag ?? '--out';
  const file = join(dir, LOCK_FILE);
  const record: LockRecord = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: opts.command ?? process.argv.slice(2).join(' '), token: randomUUID() };
  const aside = join(dir, `${LOCK_FILE}.${process.pid}.${record.token}`);
  writeFileSync(aside, `${JSON.stringify(record)}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(aside, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotWrite(flag, dir, err);
      }
      const held = readLock(file);
      if (held && (held.host !== record.host || alive(held.pid))) {
        const where = held.host === record.host ? `process ${held.pid}` : `process ${held.pid} on ${held.host}`;
        throw new UsageError(
          `${flag} ${dir} is in use by another robench (${where}, started ${held.startedAt}: robench ${held.command})`,
          held.host === record.host
            ? `wait for it to finish, or choose another folder with ${flag}`
            : `choose another folder with ${flag}, or remove ${file} if that run is gone`,
        );
      }
      // Stale: moved away under a name of our own, so two processes that both saw it stale cannot
      // both remove a lock the faster one has meanwhile taken (the rename takes exactly one file).
      if (attempt >= 3) throw new UsageError(`cannot take the lock ${file}: it keeps changing`, `choose another folder with ${flag}`);
      const stale = join(dir, `${LOCK_FILE}.stale.${process.pid}.${record.token}`);
      try {
        renameSync(file, stale);
        const moved = readLock(stale);
        // Another process took the lock between our read and the rename: put it back and look again.
        if (moved && moved.token !== held?.token && alive(moved.pid)) {
          linkSync(stale, file);
        }
        rmSync(stale, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotWrite(flag, dir, err);
      }
    }
  } finally {
    rmSync(aside, { force: true });
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    // Only our own lock: a folder taken over (ours judged stale by mistake) keeps its new owner's.
    if (readLock(file)?.token === record.token) rmSync(file, { force: true });
  };
  process.on('exit', release);
  return { file, release };
}
