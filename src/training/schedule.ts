/** Step learning-rate schedules: the zoo CNNs' and the similarity-matching readout's. */

export const STEP_HALF = [0.5, 0.75];
// The authors' MultiStepLR milestones, 3/5 and 4/5 of the epochs.
export const STEP_AUTHORS = [0.6, 0.8];

/** Learning rate of an epoch: drops tenfold after each fraction of the run in `drops` (default half and three quarters). */
export const learningRateAt = (base: number, epoch: number, epochs: number, drops = STEP_HALF): number =>
  base * 10 ** -drops.filter((f) => epoch >= f * epochs).length;

export const describeSchedule = (drops: number[]): string =>
  `step: ${drops.map((f, i) => `x${10 ** -(i + 1)} at ${100 * f}%`).join(' and ')} of the epochs`;
