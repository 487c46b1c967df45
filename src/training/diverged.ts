/**
 * The zoo trainer's guard against divergence. Past the first non-finite loss or gradient every
 * weight is NaN: a run that went on would save, and `robench train` would ship, a model of NaN
 * weights, so it stops before the step is applied, with the step, the rate and the fix.
 */
import { RobenchError } from '../core/errors.js';

/** Where a training step diverged, for the error that stops it. */
export interface DivergedAt {
  epoch: number;
  step: number;
  steps: number;
  /** The learning rate of the epoch, and the --lr it came from. */
  lr: number;
  baseLr: number;
  checkpoint: string;
  model: string;
}

/** Stops training at the first step whose loss (per micro-batch: total loss and cross-entropy) or gradient is not finite. */
export function stopIfDiverged(stats: Float32Array[], gradient: Float32Array, at: DivergedAt): void {
  const badLoss = stats.findIndex((st) => !Number.isFinite(st[0]!) || !Number.isFinite(st[1]!));
  let badGradient = -1;
  if (badLoss === -1) {
    for (let i = 0; i < gradient.length; i++) {
      if (!Number.isFinite(gradient[i]!)) {
        badGradient = i;
        break;
      }
    }
  }
  if (badLoss === -1 && badGradient === -1) return;
  const what = badLoss !== -1 ? `the loss is ${stats[badLoss]![0]} (cross-entropy ${stats[badLoss]![1]})` : `the gradient holds ${gradient[badGradient]} (entry ${badGradient})`;
  throw new RobenchError(
    `training ${at.model} diverged at epoch ${at.epoch}, step ${at.step}/${at.steps}: ${what} at learning rate ${at.lr}; stopped before the step was applied, so the last checkpoint in ${at.checkpoint} holds finite weights`,
    `lower the learning rate: train again with --lr ${at.baseLr / 10} instead of ${at.baseLr} (a checkpoint resumes only at the rate it was made with, so start afresh)`,
  );
}
