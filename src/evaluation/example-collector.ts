/**
 * The examples the engine evaluated, kept for a set of dataset positions. A collector's
 * onExamples is the engine's hook (evaluateCurve's onExamples), so it keeps what the engine
 * scored, wherever that ran: the main thread, a worker thread whose part is merged in, or a
 * resumed run's evaluation of samples an earlier process finished. examples() places them
 * per budget as attack() returns them (see the header of src/evaluation/attack-api.ts).
 * attack(), the report's gallery and `--save-adversarial` all read a collector, so what they
 * return, draw or save is what the run scored, and a run's samples are attacked once. It keeps
 * the engine's predictions with the pixels (the clean pass's at perturbation 0), so a picture's
 * label is the verdict the run counted even where the model's logits are random.
 */
import { budgetLimit } from '../core/attack-checks.js';
import type { EvaluatedBatch } from '../core/engine.js';
import type { AttackPlugin, DatasetSplit, Norm, Params, SampleOutcomes } from '../core/plugin-api.js';

type Evaluations = { forward: number; gradient: number };

/** What the engine handed over at one budget (or a minimization attack's one run), per row of a collector's positions. */
export interface Kept {
  pixels: Float32Array;
  fooled: Uint8Array;
  /** The class the engine's scoring predicted for each row's example (EvaluatedBatch.predictions). */
  predictions: Int32Array;
  /** 1 where the row's sample was evaluated here: sweep and clean misclassification leave samples out. */
  seen: Uint8Array;
  versions?: Int32Array;
  /** Minimization attacks: the size of each minimal example in the attack's norm. */
  norms?: Float32Array;
  /** Of the batches that held a kept sample (whole batches: attack() keeps every sample). */
  evaluations: Evaluations;
}

/** A collector's contents as postMessage carries them from a worker thread. */
export interface CollectedExamples {
  positions: number[];
  budgets: [number, Kept][];
  minimal?: Kept;
}

/** Per budget (increasing), each sample's example as the engine scored it, in the order of the positions asked for. */
export interface EngineExamples {
  norm: Norm;
  budget: Norm | null;
  cleanCorrect: Uint8Array;
  /** The class the clean pass predicted for each sample: the prediction its clean accuracy counted. */
  cleanPredictions: Int32Array;
  /** `predictions`: the class the engine's scoring predicted for each example (misclassified exactly where `success`). `versions`: where the attack returned several batches, per sample which one its example is (-1: the clean image). */
  budgets: { eps: number; pixels: Float32Array; success: Uint8Array; predictions: Int32Array; versions?: Int32Array; evaluations: Evaluations }[];
  minimal?: { pixels: Float32Array; norms: Float32Array; predictions: Int32Array; evaluations: Evaluations };
}

/** What examples() needs of the evaluation: the attack with its params, the grid and whether it swept. */
export interface ExamplesSetting {
  attack: AttackPlugin;
  params: Params;
  grid: number[];
  sweep: boolean;
}

/** The samples asked for, clean: their images, whether the run counted them right, and the clean pass's predictions. */
interface CleanRows {
  images: Float32Array;
  correct: Uint8Array;
  predictions: Int32Array;
}

export class ExampleCollector {
  private readonly size: number;
  private readonly rowOf: Map<number, number>;
  private readonly budgets = new Map<number, Kept>();
  private minimal?: Kept;

  constructor(
    private readonly data: DatasetSplit,
    readonly positions: number[],
  ) {
    this.size = data.shape[0] * data.shape[1] * data.shape[2];
    this.rowOf = new Map(positions.map((p, i) => [p, i]));
  }

  /** The engine's onExamples: keeps the examples of this collector's positions and skips the rest of the batch. */
  readonly onExamples = async (batch: EvaluatedBatch): Promise<void> => {
    const rows = batch.positions.map((p) => this.rowOf.get(p));
    if (rows.every((i) => i === undefined)) return;
    const { size } = this;
    const pixels = (await batch.adversarial.data()) as Float32Array;
    const kept = this.keptAt(batch.minimal ? undefined : batch.perturbation);
    const n = this.positions.length;
    rows.forEach((i, k) => {
      if (i === undefined) return;
      kept.pixels.set(pixels.subarray(k * size, (k + 1) * size), i * size);
      kept.fooled[i] = batch.fooled[k]!;
      kept.predictions[i] = batch.predictions[k]!;
      kept.seen[i] = 1;
      if (batch.versions) (kept.versions ??= new Int32Array(n).fill(-1))[i] = batch.versions[k]!;
      if (batch.minimal) (kept.norms ??= new Float32Array(n).fill(Infinity))[i] = batch.minimal.norms[k]!;
    });
    kept.evaluations.forward += batch.evaluations.forward;
    kept.evaluations.gradient += batch.evaluations.gradient;
  };

  /** The record of budget `eps` (undefined: the minimal examples), made on first use. */
  private keptAt(eps: number | undefined): Kept {
    const made = (): Kept => {
      const n = this.positions.length;
      return { pixels: new Float32Array(n * this.size), fooled: new Uint8Array(n), predictions: new Int32Array(n), seen: new Uint8Array(n), evaluations: { forward: 0, gradient: 0 } };
    };
    if (eps === undefined) return (this.minimal ??= made());
    let kept = this.budgets.get(eps);
    if (!kept) this.budgets.set(eps, (kept = made()));
    return kept;
  }

  /** The contents, and the buffers postMessage can move to the main thread instead of copying them. */
  export(): { collected: CollectedExamples; transfer: ArrayBuffer[] } {
    const all = [...this.budgets.values(), ...(this.minimal ? [this.minimal] : [])];
    const transfer = all.flatMap((k) => [k.pixels, k.fooled, k.predictions, k.seen, k.versions, k.norms].filter((a) => a !== undefined).map((a) => a.buffer as ArrayBuffer));
    return { collected: { positions: this.positions, budgets: [...this.budgets], ...(this.minimal ? { minimal: this.minimal } : {}) }, transfer };
  }

  /** Adds what another collector kept of samples this one did not see (a worker thread's chunk). */
  merge(part: CollectedExamples): void {
    for (const [eps, kept] of part.budgets) this.mergeKept(this.keptAt(eps), kept, part.positions);
    if (part.minimal) this.mergeKept(this.keptAt(undefined), part.minimal, part.positions);
  }

  private mergeKept(into: Kept, from: Kept, positions: number[]): void {
    const { size } = this;
    const n = this.positions.length;
    positions.forEach((p, j) => {
      const i = this.rowOf.get(p);
      if (i === undefined || !from.seen[j]) return;
      into.pixels.set(from.pixels.subarray(j * size, (j + 1) * size), i * size);
      into.fooled[i] = from.fooled[j]!;
      into.predictions[i] = from.predictions[j]!;
      into.seen[i] = 1;
      if (from.versions) (into.versions ??= new Int32Array(n).fill(-1))[i] = from.versions[j]!;
      if (from.norms) (into.norms ??= new Float32Array(n).fill(Infinity))[i] = from.norms[j]!;
    });
    into.evaluations.forward += from.evaluations.forward;
    into.evaluations.gradient += from.evaluations.gradient;
  }

  /**
   * Per budget, the example of each of `positions` (default: all of the collector's), placed
   * as attack() documents; `outcomes` is the run's record, which says who was right clean.
   */
  examples(setting: ExamplesSetting, outcomes: SampleOutcomes, positions = this.positions): EngineExamples {
    const cleanOf = new Map(outcomes.index.map((p, k) => [p, outcomes.clean[k]!]));
    const rows = positions.map((p) => {
      const i = this.rowOf.get(p);
      if (i === undefined || !cleanOf.has(p)) throw new RangeError(`no examples were collected for dataset sample ${p}`);
      return i;
    });
    const cleanCorrect = Uint8Array.from(positions, (p) => cleanOf.get(p)!);
    const cleanPass = this.budgets.get(0);
    const cleanPredictions = Int32Array.from(rows, (r, i) => {
      if (!cleanPass?.seen[r]) throw new RangeError(`no clean prediction was collected for dataset sample ${positions[i]}`);
      return cleanPass.predictions[r]!;
    });
    const cleanImages = new Float32Array(positions.length * this.size);
    positions.forEach((p, i) => cleanImages.set(this.data.images.subarray(p * this.size, (p + 1) * this.size), i * this.size));
    const budgetNorm = setting.attack.budget(setting.params);
    const clean = { images: cleanImages, correct: cleanCorrect, predictions: cleanPredictions };
    const minimal = this.minimal && this.minimalExamples(this.minimal, rows, clean);
    return {
      norm: budgetNorm ?? 'linf',
      budget: budgetNorm,
      cleanCorrect,
      cleanPredictions,
      budgets: this.budgetExamples(setting.grid, setting.sweep && budgetNorm !== null, rows, clean, minimal),
      ...(minimal ? { minimal } : {}),
    };
  }

  /** Each sample's minimal example (its clean image where none was found) and its norm (Infinity: none found, 0: misclassified clean). */
  private minimalExamples(kept: Kept, rows: number[], clean: CleanRows): NonNullable<EngineExamples['minimal']> {
    const { size } = this;
    const pixels = Float32Array.from(clean.images);
    const predictions = Int32Array.from(clean.predictions);
    const norms = new Float32Array(rows.length).fill(Infinity);
    rows.forEach((r, i) => {
      if (!clean.correct[i]) norms[i] = 0;
      else if (kept.fooled[r]) {
        pixels.set(kept.pixels.subarray(r * size, (r + 1) * size), i * size);
        predictions[i] = kept.predictions[r]!;
        norms[i] = kept.norms![r]!;
      }
    });
    return { pixels, norms, predictions, evaluations: kept.evaluations };
  }

  private budgetExamples(grid: number[], sweep: boolean, rows: number[], clean: CleanRows, minimal: EngineExamples['minimal']): EngineExamples['budgets'] {
    const { images: cleanImages, correct: cleanCorrect } = clean;
    const { size } = this;
    const n = rows.length;
    const budgets: EngineExamples['budgets'] = [];
    let previous: EngineExamples['budgets'][number] | undefined;
    for (const eps of [...grid].sort((a, b) => a - b)) {
      // Start from the clean images, misclassified clean ones counted as successes (delta = 0);
      // with sweep, from the previous budget's examples, which lie in this larger ball too.
      const carried = sweep && previous && eps > 0;
      const pixels = Float32Array.from(carried ? previous!.pixels : cleanImages);
      const success = carried ? Uint8Array.from(previous!.success) : Uint8Array.from(cleanCorrect, (c) => 1 - c);
      const predictions = Int32Array.from(carried ? previous!.predictions : clean.predictions);
      let versions = carried && previous!.versions ? Int32Array.from(previous!.versions) : undefined;
      const at = eps > 0 && !minimal ? this.budgets.get(eps) : undefined;
      rows.forEach((r, i) => {
        if (eps > 0 && minimal && cleanCorrect[i] && minimal.norms[i]! <= budgetLimit(eps)) {
          pixels.set(minimal.pixels.subarray(i * size, (i + 1) * size), i * size);
          success[i] = 1;
          predictions[i] = minimal.predictions[i]!;
        } else if (at?.seen[r]) {
          pixels.set(at.pixels.subarray(r * size, (r + 1) * size), i * size);
          success[i] = at.fooled[r]!;
          predictions[i] = at.predictions[r]!;
          if (at.versions) (versions ??= new Int32Array(n).fill(-1))[i] = at.versions[r]!;
        }
      });
      previous = { eps, pixels, success, predictions, ...(versions ? { versions } : {}), evaluations: at?.evaluations ?? { forward: 0, gradient: 0 } };
      budgets.push(previous);
    }
    return budgets;
  }
}
