/**
 * Output folders, prepared before anything is loaded or computed: a run that cannot write its
 * results should fail in a second, not after an hour of attacks.
 */
import { constants, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
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

/** Removes an earlier run's outputs from `dir`, so the new run's report holds only the new run. */
export async function clearEarlierOutputs(dir: string, files: string[]): Promise<void> {
  for (const f of files) await rm(join(dir, f), { force: true });
}
