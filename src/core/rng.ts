/**
 * Per-sample seeded randomness. Each sample of the dataset owns a stream keyed by
 * (run seed, purpose label, sample index), so the numbers an attack draws for a
 * sample do not depend on batch size, sharding or worker count.
 */
import * as tf from '@tensorflow/tfjs';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import type { Rng } from './plugin-api.js';

/** 32-bit avalanche mix (murmur3 finaliser), to turn structured keys into seeds. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function hashKey(...parts: (string | number)[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    const s = String(part);
    for (let i = 0; i < s.length; i++) h = mix(h ^ s.charCodeAt(i)) + i;
    h = mix(h ^ 0x2f);
  }
  return h >>> 0;
}

class SampleStreams implements Rng {
  private readonly gens: RandomGenerator[];
  private readonly spare: (number | undefined)[];

  constructor(
    readonly seed: number,
    private readonly label: string,
    private readonly indices: readonly number[],
  ) {
    this.gens = indices.map((i) => xoroshiro128plus(hashKey(seed, label, i)));
    this.spare = indices.map(() => undefined);
  }

  next(row: number): number {
    return uniformFloat64(this.gens[row]);
  }

  private gaussian(row: number): number {
    const cached = this.spare[row];
    if (cached !== undefined) {
      this.spare[row] = undefined;
      return cached;
    }
    // Box-Muller: 1 - u keeps the log argument in (0, 1].
    const u = 1 - this.next(row);
    const v = this.next(row);
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare[row] = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  private fill(shape: number[], draw: (row: number) => number): tf.Tensor {
    if (shape[0] !== this.indices.length) {
      throw new Error(`rng: first dimension ${shape[0]} does not match the batch of ${this.indices.length} samples`);
    }
    const per = shape.slice(1).reduce((a, b) => a * b, 1);
    const out = new Float32Array(per * shape[0]);
    for (let row = 0; row < shape[0]; row++) {
      for (let j = 0; j < per; j++) out[row * per + j] = draw(row);
    }
    return tf.tensor(out, shape, 'float32');
  }

  uniform(shape: number[], min: number, max: number): tf.Tensor {
    return this.fill(shape, (row) => min + (max - min) * this.next(row));
  }

  normal(shape: number[], mean = 0, std = 1): tf.Tensor {
    return this.fill(shape, (row) => mean + std * this.gaussian(row));
  }

  fork(label: string | number): Rng {
    return new SampleStreams(this.seed, `${this.label}/${label}`, this.indices);
  }

  rows(rows: readonly number[], label: string): Rng {
    return new SampleStreams(this.seed, label, rows.map((r) => this.indices[r]!));
  }
}

/** Streams for the samples at `indices` (their positions in the dataset). */
export function sampleRng(seed: number, indices: readonly number[], label = 'attack'): Rng {
  return new SampleStreams(seed, label, indices);
}

/** A single stream (shuffling, initialisation) for a seed and a purpose. */
export function scalarRng(seed: number, label: string): () => number {
  const gen = xoroshiro128plus(hashKey(seed, label));
  return () => uniformFloat64(gen);
}
