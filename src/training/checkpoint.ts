/**
 * Training checkpoints as one set of files. A set is written into `<dir>.partial` and renamed
 * into place only once it is whole, and the set it replaces is kept (as `<dir>.previous`) until
 * then: a crash between two files can never pair one epoch's weights with another epoch's
 * optimiser state. A resume reads only the set's small state.json before any tensor, so a
 * checkpoint of another model is refused by name rather than by a shape error that prints
 * the tensors' values.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../runtime/atomic.js';
import { RobenchError, UsageError } from '../core/errors.js';

const STATE_FILE = 'state.json';
const partialOf = (dir: string): string => `${dir}.partial`;
const previousOf = (dir: string): string => `${dir}.previous`;

/** What a checkpoint belongs to: resuming onto any other is resuming another model. */
export interface CheckpointIdentity {
  model: string;
  dataset: string;
  architecture: unknown;
}

/**
 * Writes a checkpoint set: `write` puts every file except state.json into the folder it is
 * given; state.json is written last, into the same folder, then the folder replaces `dir`.
 */
export async function writeCheckpoint(dir: string, state: object, write: (folder: string) => Promise<void>): Promise<void> {
  const partial = partialOf(dir);
  const previous = previousOf(dir);
  // A set left half-written by a crash is never read, so it can go.
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  try {
    await write(partial);
    await writeFileAtomic(join(partial, STATE_FILE), JSON.stringify(state, null, 2));
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
  // rename() cannot replace a non-empty folder, so the old set steps aside first; until the
  // new one is in place, findCheckpoint falls back to it.
  await rm(previous, { recursive: true, force: true });
  if (existsSync(dir)) await rename(dir, previous);
  await rename(partial, dir);
  await rm(previous, { recursive: true, force: true });
}

/** The folder holding the newest complete set at `dir`, or null when there is none. */
export function findCheckpoint(dir: string): string | null {
  for (const folder of [dir, previousOf(dir)]) if (existsSync(join(folder, STATE_FILE))) return folder;
  return null;
}

/** Removes a checkpoint with whatever a crash may have left beside it. */
export async function removeCheckpoint(dir: string): Promise<void> {
  for (const folder of [dir, partialOf(dir), previousOf(dir)]) await rm(folder, { recursive: true, force: true });
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const describe = (id: CheckpointIdentity): string => `${id.model} on ${id.dataset}`;

/**
 * Reads the state of the set in `folder` and checks it belongs to `identity` and was made with
 * `settings` (the options a resumed run must share to continue it exactly), before any tensor
 * is read. `current` brings an older checkpoint's state to what this version records before it
 * is compared, so that a field recorded differently now is not taken for another setting.
 */
export async function readCheckpointState<S extends CheckpointIdentity>(folder: string, identity: CheckpointIdentity, settings: Record<string, unknown>, current: (state: S) => S = (s) => s): Promise<S> {
  let state: S;
  try {
    state = current(JSON.parse(await readFile(join(folder, STATE_FILE), 'utf8')) as S);
  } catch (err) {
    throw new RobenchError(`the checkpoint in ${folder} cannot be read: ${(err as Error).message}`, 'drop --resume to start afresh');
  }
  const differs = (['model', 'dataset', 'architecture'] as const).filter((k) => !same(state[k], identity[k]));
  if (differs.length > 0) {
    const what = differs.includes('model') || differs.includes('dataset') ? `${describe(state)}, not ${describe(identity)}` : `${describe(state)} with another architecture`;
    throw new UsageError(
      `the checkpoint in ${folder} is of a different model: ${what}`,
      'give this model its own --out, or drop --resume to start afresh (replacing that checkpoint)',
    );
  }
  const mismatch = Object.keys(settings).filter((k) => !same((state as Record<string, unknown>)[k], settings[k]));
  if (mismatch.length > 0) {
    const values = mismatch.map((k) => `${k} ${JSON.stringify((state as Record<string, unknown>)[k])} there, ${JSON.stringify(settings[k])} now`).join('; ');
    throw new UsageError(`the checkpoint in ${folder} was made with a different ${mismatch.join(', ')} (${values})`, 'resume with the same options, or drop --resume to start afresh');
  }
  return state;
}
