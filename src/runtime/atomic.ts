import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RobenchError } from '../core/errors.js';

/**
 * Writes via a temporary name and a rename, so a crash never leaves a half-written file. A
 * write that fails (a full disk, a folder that turned read-only) removes its temporary file and
 * says which file it was writing: ENOSPC alone does not tell a user what was lost.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'the disk is full' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message;
    throw new RobenchError(`could not write ${path}: ${why}`, code === 'ENOSPC' ? 'free some space (or write elsewhere with --out) and run again' : 'check that the folder exists and is writable, or choose another with --out');
  }
}
