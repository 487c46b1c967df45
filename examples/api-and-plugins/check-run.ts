/**
 * Checks what `npm test`'s robench run of the brightness-split model plugin wrote: both
 * attacks' curves against the closed form, the sparsity the model's activations give, and the
 * reporter plugin's file.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { RunResult } from 'robench';
import { brightness, margin, TEST_OFFSET } from './plugins/brightness-dataset.js';

// results.json holds its runs in a versioned object: { format: 'robench-results', version: 2, runs }.
const results = (JSON.parse(readFileSync('results/model-plugin/results.json', 'utf8')) as { runs: RunResult[] }).runs;
const fail = (why: string): never => {
  console.error(`check-run: ${why}`);
  process.exit(1);
};

/** Whether image i survives the attack at eps: PGD flips any image within eps of the boundary; lighten only dark ones. */
const survives: Record<string, (i: number, eps: number) => boolean> = {
  pgd: (i, eps) => margin(i) > eps + 1e-6,
  lighten: (i, eps) => brightness(i) > 0.5 || margin(i) > eps + 1e-6,
};

if (results.length !== 2) fail(`${results.length} results; expected pgd and lighten`);
for (const r of results) {
  const rule = survives[r.attack.id] ?? fail(`unexpected attack ${r.attack.id}`);
  for (const p of r.points) {
    const expected = Array.from({ length: r.dataset.samples }, (_, i) => TEST_OFFSET + i).filter((i) => rule(i, p.perturbation)).length;
    console.log(`${r.model.id} / ${r.attack.id} at ${p.perturbation}: ${p.correct}/${p.total} robust (closed form: ${expected})`);
    if (p.correct !== expected) fail(`${r.attack.id} at ${p.perturbation} disagrees with the closed form`);
  }
  // One of the two channels is zero at every pixel, the other not: half zeros, Hoyer sparsity 1.
  const block = r.sparsity?.find((l) => l.name === 'block1') ?? fail('results.json holds no sparsity of block1');
  if (block.zeroFraction !== 0.5 || Math.abs(block.hoyer - 1) > 1e-6) fail(`block1 sparsity ${block.zeroFraction} zeros, Hoyer ${block.hoyer}; expected 0.5 and 1`);
}
if (!existsSync('results/model-plugin/results.md')) fail('the markdown reporter wrote no results.md');
