/**
 * Progress of a training run within its units: a status line on a terminal, else a line a minute
 * (a log file would fill with one a step), and the step reports a caller can watch, with the time
 * left measured from this session's own steps (a resumed run's earlier sessions ran elsewhere).
 */
import { formatDuration, interactiveStderr, statusLine, type StatusLine } from '../report/status-line.js';

/** Where a run is after a training step. */
export interface StepReport {
  /** The unit (an epoch, or a chunk) and its steps, 1-based. */
  epoch: number;
  epochs: number;
  /** Steps done in this unit, of `steps`. */
  step: number;
  steps: number;
  /** Training images per second since this run (or resume) started. */
  imagesPerSecond: number;
  epochSecondsLeft: number;
  secondsLeft: number;
  /** A checkpoint was written after this step. */
  checkpointed: boolean;
}

/** Where stderr is not a terminal (a log file), a progress line this often. */
const PROGRESS_LINE_SECONDS = 60;

export class Progress {
  private readonly live: boolean;
  private readonly status: StatusLine;
  private lastLine = Date.now();

  constructor(
    private readonly log: (line: string) => void,
    private readonly enabled: boolean,
  ) {
    this.live = enabled && interactiveStderr();
    this.status = statusLine(this.live);
  }

  /** A line of its own: the status line makes way for it. */
  say(line: string): void {
    this.status.stop();
    this.log(line);
  }

  stop(): void {
    this.status.stop();
  }

  /** The clock of a session that has `sessionSteps` steps to run. */
  session(unitName: string, units: number, steps: number, sessionSteps: number): { step(unit: number, s: number, images: number, checkpointed: boolean): StepReport; secondsLeft(): number } {
    const start = Date.now();
    let stepsDone = 0;
    let imagesDone = 0;
    const perStep = (): number => (Date.now() - start) / 1000 / Math.max(stepsDone, 1);
    return {
      step: (unit, s, images, checkpointed) => {
        stepsDone++;
        imagesDone += images;
        const report: StepReport = {
          epoch: unit + 1,
          epochs: units,
          step: s + 1,
          steps,
          imagesPerSecond: imagesDone / ((Date.now() - start) / 1000),
          epochSecondsLeft: perStep() * (steps - s - 1),
          secondsLeft: perStep() * (sessionSteps - stepsDone),
          checkpointed,
        };
        this.show(
          `${unitName} ${report.epoch}/${units} · step ${report.step}/${steps} · ${report.imagesPerSecond.toFixed(0)} img/s · ` +
            `${formatDuration(1000 * report.epochSecondsLeft)} left in the ${unitName}, ${formatDuration(1000 * report.secondsLeft)} in all`,
        );
        return report;
      },
      secondsLeft: () => perStep() * (sessionSteps - stepsDone),
    };
  }

  private show(text: string): void {
    if (this.live) this.status.update(text);
    else if (this.enabled && Date.now() - this.lastLine >= PROGRESS_LINE_SECONDS * 1000) {
      this.log(text);
      this.lastLine = Date.now();
    }
  }
}
