/** A small training task for the trainers' tests: 8x8 images of one bright line, plus noise. */
import type { DatasetSplit } from '../../src/core/plugin-api.js';

export interface LinesTask {
  /** 3: a bright row, column or diagonal; 4 adds the anti-diagonal. */
  classes: 3 | 4;
  /** The line's brightness and the noise's largest value. */
  on: number;
  noise: number;
}

/** `count` images of the task, the i-th of class (i + offset) mod classes. */
export function syntheticLines(count: number, offset: number, task: LinesTask): DatasetSplit {
  const images = new Float32Array(count * 64);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = (i + offset) % task.classes;
    labels[i] = label;
    const at = (i * 5 + offset) % 8;
    for (let p = 0; p < 64; p++) {
      const y = Math.floor(p / 8);
      const x = p % 8;
      const on = label === 0 ? y === at : label === 1 ? x === at : label === 2 ? x === y : x + y === 7;
      images[i * 64 + p] = on ? task.on : (((i * 31 + p * 17) % 13) / 13) * task.noise;
    }
  }
  return { images, labels, count, shape: [8, 8, 1], source: { kind: 'bundled', path: 'synthetic', sha256: '' } };
}

