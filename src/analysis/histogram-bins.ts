/**
 * Activation histograms whose range comes from the data (issue 35): a fixed range hid 30% of a
 * CIFAR-10 block's activations in its overflow bin, and squeezed a block of small activations
 * into its first bin. Values are counted exactly on a fine grid over [0, top), `top` a power of
 * two that doubles (pairing bins) whenever a larger value arrives, so batches and accumulators
 * merge exactly whatever their range. The histogram a result records then has bins of a power of
 * two wide, about `bins` of them, over the range that holds 99.5% of the positive values, and a
 * last bin for the rest. Widths that are powers of two keep the edges short to print and let
 * histograms of different ranges (shards of one run) merge exactly.
 */

/** Fine bins; a power of two, so that every fine edge is exact in floating point. */
const FINE = 4096;
/** The share of the positive values the regular bins cover; the last bin holds the rest. */
export const COVERED = 0.995;

export interface Histogram {
  /** bins + 1 edges; the last bin holds every value from its lower edge up. */
  edges: number[];
  counts: number[];
}

export class FineHistogram {
  /** Starts below any activation worth drawing apart; growing costs a pass over FINE bins per doubling. */
  private top = 2 ** -16;
  private zeros = 0;
  private readonly counts = new Float64Array(FINE);

  /** Counts `values`; a negative value (ReLU outputs have none) counts in the first bin. */
  add(values: ArrayLike<number>, what: string): void {
    let max = 0;
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) throw new Error(`${what}: activation ${values[i]} is not finite`);
      max = Math.max(max, values[i]);
    }
    while (max >= this.top) this.double();
    const scale = FINE / this.top;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === 0) this.zeros++;
      this.counts[Math.floor(Math.max(0, v) * scale)]++;
    }
  }

  merge(other: FineHistogram): void {
    while (this.top < other.top) this.double();
    const from = other.copyAt(this.top);
    from.counts.forEach((n, i) => (this.counts[i] += n));
    this.zeros += from.zeros;
  }

  /** About `bins` bins of a power of two wide over the range of COVERED of the positive values, and the last bin for the rest. */
  histogram(bins: number): Histogram {
    const fine = this.top / FINE;
    const total = this.counts.reduce((a, b) => a + b, 0);
    const wanted = this.zeros + COVERED * (total - this.zeros);
    let end = 0;
    for (let seen = this.counts[0]; seen < wanted && end < FINE - 1; ) seen += this.counts[++end];
    const covered = (end + 1) * fine;
    const width = Math.max(fine, 2 ** Math.ceil(Math.log2(covered / bins)));
    const regular = Math.ceil(covered / width);
    const per = width / fine;
    const counts = Array.from({ length: regular + 1 }, (_, b) => {
      const stop = b === regular ? FINE : Math.min(FINE, (b + 1) * per);
      let n = 0;
      for (let i = b * per; i < stop; i++) n += this.counts[i];
      return n;
    });
    return { edges: Array.from({ length: regular + 2 }, (_, b) => b * width), counts };
  }

  private double(): void {
    for (let i = 0; i < FINE / 2; i++) this.counts[i] = this.counts[2 * i] + this.counts[2 * i + 1];
    this.counts.fill(0, FINE / 2);
    this.top *= 2;
  }

  private copyAt(top: number): FineHistogram {
    const copy = new FineHistogram();
    copy.top = this.top;
    copy.zeros = this.zeros;
    copy.counts.set(this.counts);
    while (copy.top < top) copy.double();
    return copy;
  }
}

/** The regular bins' width of a histogram whose edges are 0, w, 2w, ...; undefined for any other. */
function widthOf({ edges }: Histogram): number | undefined {
  const w = edges[1];
  return w > 0 && edges.every((e, i) => Math.abs(e - i * w) <= 1e-9 * i * w) ? w : undefined;
}

/**
 * Histograms of one quantity over disjoint samples (shards of a run) as one: with equal edges
 * summed; else at the widest width (powers of two divide each other), cut where the narrowest
 * range ends, everything beyond in the last bin, which is exact.
 */
export function mergeHistograms(parts: Histogram[]): Histogram {
  const [first] = parts;
  if (parts.every((p) => p.edges.join() === first.edges.join())) {
    return { edges: [...first.edges], counts: first.counts.map((_, b) => parts.reduce((s, p) => s + p.counts[b], 0)) };
  }
  const widths = parts.map(widthOf);
  const width = Math.max(...widths.map((w) => w ?? NaN));
  const ratios = widths.map((w) => (w === undefined ? NaN : width / w));
  if (!ratios.every((r) => Number.isInteger(Math.round(r)) && Math.abs(r - Math.round(r)) < 1e-9)) {
    throw new Error(`histograms with edges [${first.edges}] and others cannot be merged: their bins do not nest`);
  }
  const regular = Math.min(...parts.map((p, k) => Math.floor((p.counts.length - 1) / Math.round(ratios[k]))));
  const counts = new Array<number>(regular + 1).fill(0);
  parts.forEach((p, k) => p.counts.forEach((n, b) => (counts[Math.min(regular, Math.floor(b / Math.round(ratios[k])))] += n)));
  return { edges: Array.from({ length: regular + 2 }, (_, b) => b * width), counts };
}
