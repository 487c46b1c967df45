/**
 * The one training loop every trainer runs on (issue 34): the --out lock, the resume protocol
 * (find, read and check a checkpoint set before any tensor), units of work (epochs, or the
 * similarity-matching chunks) made of steps, a checkpoint after every unit (and within one for a
 * trainer that can resume mid-unit), progress and time left, the final save, the manifest with
 * its run outcome, and the checkpoint kept or removed. A trainer supplies its state, its step and
 * what ends a unit and a run; what they share cannot drift apart between trainers.
 */
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { findCheckpoint, readCheckpointState, removeCheckpoint, type CheckpointIdentity } from './checkpoint.js';
import { runOutcome, writeManifest, type TrainingManifest } from './manifest.js';
import { lockOutDir, prepareOutDir, type OutDirLock } from '../runtime/out-dir.js';
import { saveLayersModelTo } from '../runtime/model-io.js';
import { formatDuration } from '../report/status-line.js';
import { Progress, type StepReport } from './loop-progress.js';

/** Where a run stands: units done, steps done of the next, and the time spent so far. */
export interface Position {
  unit: number;
  step: number;
  elapsedSeconds: number;
  /** Seconds spent in the unit under way (before an interruption mid-unit). */
  unitSeconds: number;
}

export const START: Position = { unit: 0, step: 0, elapsedSeconds: 0, unitSeconds: 0 };

/** A finished run, ready to save: the model, its score, and its manifest given the run's outcome. */
export interface Finished<M extends TrainingManifest> {
  model: tf.LayersModel;
  testAccuracy: number;
  testSamples: number;
  dataset: string;
  manifest(outcome: Parameters<typeof runOutcome>[0]): M;
  /** A finished zoo run keeps its checkpoint, so that it can be given more epochs. */
  keepCheckpoint: boolean;
}

export interface Trainer<S extends CheckpointIdentity, M extends TrainingManifest> {
  /** What a checkpoint must belong to, and the settings a resume must share to continue it exactly. */
  identity: CheckpointIdentity;
  settings: Record<string, unknown>;
  unitName: 'epoch' | 'chunk';
  units: number;
  steps: number;
  /** Whether its checkpoints hold a position within a unit. */
  resumesMidUnit: boolean;
  /** A checkpoint's state as this version records it, before it is compared with `settings` (older checkpoints recorded some settings otherwise). */
  current?(state: S): S;
  /** Checks a checkpoint's state beyond `settings` and takes what it carries; the position and the line to log. */
  resume(state: S, folder: string): { at: Position; line: string };
  load(folder: string): Promise<void>;
  save(dir: string, at: Position): Promise<void>;
  beginUnit(unit: number, firstStep: number): Promise<void>;
  /** One step; the images it trained on. */
  step(unit: number, step: number): Promise<number>;
  /** The unit's own work after its steps; its summary for the unit's line. */
  endUnit(unit: number, time: { seconds: number; secondsLeft: number }): Promise<string>;
  /** After the unit's checkpoint and line: the caller's callback. */
  afterUnit(unit: number): void;
  finish(): Promise<Finished<M>>;
  dispose(): Promise<void>;
}

export interface RunOptions {
  /** The --model and --dataset asked for, as the lock names the run to a second robench. */
  model: string;
  dataset: string;
  out: string;
  resume?: boolean;
  log: (line: string) => void;
  /** Progress within a unit on stderr (default true). */
  progress?: boolean;
  /** Mid-unit checkpoints every this many steps (trainers that resume mid-unit; default: every CHECKPOINT_SECONDS). */
  checkpointEvery?: number;
  onStep?: (report: StepReport) => void | Promise<void>;
}

export interface RunResult<M extends TrainingManifest> {
  testAccuracy: number;
  testSamples: number;
  dir: string;
  epochs: number;
  wallSeconds: number;
  weightsSha256: string;
  manifest: M;
}

/** Locks --out for this run: two trainings writing one folder would replace each other's checkpoints. */
async function lockFor(opts: RunOptions, dispose: () => Promise<void>): Promise<OutDirLock> {
  try {
    await prepareOutDir(opts.out);
    return lockOutDir(opts.out, { command: `train --model ${opts.model} --dataset ${opts.dataset} --out ${opts.out}` });
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** The resume protocol: the position to start from, after the checkpoint's state is checked and its tensors loaded. */
async function startingPoint<S extends CheckpointIdentity>(trainer: Trainer<S, TrainingManifest>, opts: RunOptions, ckptDir: string): Promise<Position> {
  const found = opts.resume ? findCheckpoint(ckptDir) : null;
  if (found === null) {
    if (opts.resume) opts.log(`no checkpoint in ${ckptDir}; starting from scratch`);
    else if (findCheckpoint(ckptDir) !== null) opts.log(`starting afresh over the checkpoint in ${ckptDir} (pass --resume to continue it)`);
    return START;
  }
  const state = await readCheckpointState<S>(found, trainer.identity, trainer.settings, (s) => trainer.current?.(s) ?? s);
  const { at, line } = trainer.resume(state, found);
  await trainer.load(found);
  opts.log(line);
  return at;
}

/** Runs `trainer` to the end and saves its model and manifest in opts.out. */
export async function runTraining<S extends CheckpointIdentity, M extends TrainingManifest>(trainer: Trainer<S, M>, opts: RunOptions): Promise<RunResult<M>> {
  const ckptDir = join(opts.out, 'checkpoint');
  const lock = await lockFor(opts, () => trainer.dispose());
  const progress = new Progress(opts.log, opts.progress ?? true);
  try {
    const from = await startingPoint(trainer, opts, ckptDir);
    const elapsed = await trainUnits(trainer, opts, ckptDir, from, progress);
    const done = await trainer.finish();
    try {
      opts.log(`test accuracy ${(100 * done.testAccuracy).toFixed(2)}% on ${done.testSamples} ${done.dataset} test images`);
      const weightsSha256 = await saveLayersModelTo(done.model, opts.out);
      const wallSeconds = elapsed();
      const manifest = done.manifest({ wallSeconds, testAccuracy: done.testAccuracy, testSamples: done.testSamples, weightsSha256 });
      await writeManifest(opts.out, manifest);
      if (!done.keepCheckpoint) await removeCheckpoint(ckptDir);
      return { testAccuracy: done.testAccuracy, testSamples: done.testSamples, dir: opts.out, epochs: trainer.units, wallSeconds, weightsSha256, manifest };
    } finally {
      done.model.dispose();
    }
  } finally {
    progress.stop();
    await trainer.dispose();
    lock.release();
  }
}

/** The units from `from` on, checkpointed as they go; returns the clock of the run's seconds over all its sessions. */
async function trainUnits<S extends CheckpointIdentity>(trainer: Trainer<S, TrainingManifest>, opts: RunOptions, ckptDir: string, from: Position, progress: Progress): Promise<() => number> {
  const { units, steps } = trainer;
  const sessionStart = Date.now();
  const elapsed = (): number => from.elapsedSeconds + (Date.now() - sessionStart) / 1000;
  const clock = progress.session(trainer.unitName, units, steps, (units - from.unit) * steps - from.step);
  let lastCheckpoint = Date.now();
  for (let unit = from.unit; unit < units; unit++) {
    const first = unit === from.unit ? from.step : 0;
    const t0 = Date.now();
    const carried = unit === from.unit ? from.unitSeconds : 0;
    const unitSeconds = (): number => carried + (Date.now() - t0) / 1000;
    await trainer.beginUnit(unit, first);
    for (let s = first; s < steps; s++) {
      const images = await trainer.step(unit, s);
      const mid = s + 1 < steps;
      const due = opts.checkpointEvery !== undefined ? (unit * steps + s + 1) % opts.checkpointEvery === 0 : Date.now() - lastCheckpoint >= CHECKPOINT_SECONDS * 1000;
      const checkpointed = trainer.resumesMidUnit && mid && due;
      if (checkpointed) {
        await trainer.save(ckptDir, { unit, step: s + 1, elapsedSeconds: elapsed(), unitSeconds: unitSeconds() });
        lastCheckpoint = Date.now();
      }
      // Outside the optional call: `onStep?.(clock.step(...))` skips its argument when no one
      // listens, and the clock then never counts a step (no progress lines, hours-long estimates).
      const report = clock.step(unit, s, images, checkpointed);
      await opts.onStep?.(report);
    }
    const seconds = unitSeconds();
    const secondsLeft = clock.secondsLeft();
    progress.stop();
    const summary = await trainer.endUnit(unit, { seconds, secondsLeft });
    await trainer.save(ckptDir, { unit: unit + 1, step: 0, elapsedSeconds: elapsed(), unitSeconds: 0 });
    lastCheckpoint = Date.now();
    progress.say(`${trainer.unitName} ${unit + 1}/${units}  ${summary}  ${seconds.toFixed(0)}s/${trainer.unitName}  ~${formatDuration(1000 * secondsLeft)} left`);
    trainer.afterUnit(unit);
  }
  progress.stop();
  return elapsed;
}

/** Without --checkpoint-every, a mid-unit checkpoint once this long has passed since the last. */
const CHECKPOINT_SECONDS = 300;
