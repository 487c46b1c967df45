import { readFileSync } from 'node:fs';
import test from 'ava';
import { canny } from '../../src/image/canny.js';

interface Case {
  h: number;
  w: number;
  image: number[];
  edges: number[];
}
const { cases } = JSON.parse(readFileSync(new URL('../fixtures/canny-reference.json', import.meta.url), 'utf8')) as { cases: Case[] };

test('canny marks exactly the pixels cv2.Canny(image, 50, 150) marks, on spatter layers and on noise', (t) => {
  t.is(cases.length, 13);
  for (const [n, c] of cases.entries()) {
    const ours = canny(Uint8Array.from(c.image), c.h, c.w, 50, 150);
    const wrong = c.edges.filter((v, k) => v !== ours[k]).length;
    t.is(wrong, 0, `case ${n} (${c.h}x${c.w}): ${wrong} of ${c.edges.filter((v) => v > 0).length} OpenCV edge pixels differ`);
  }
});

test('canny: hysteresis keeps weak edges only where they touch a strong one', (t) => {
  // A vertical step of 60 gives a Sobel magnitude of 240 (strong); a step of 15 gives 60 (weak).
  const h = 8;
  const w = 12;
  const img = Uint8Array.from({ length: h * w }, (_, k) => ((k % w) >= 4 ? 60 : 0) + ((k % w) >= 8 && Math.floor(k / w) < 4 ? 15 : 0));
  const edges = canny(img, h, w, 50, 150);
  const column = (j: number) => Array.from({ length: h }, (_, i) => edges[i * w + j]);
  t.true(column(3).every((v) => v === 255) || column(4).every((v) => v === 255), 'the strong step is one full column');
  t.true(edges.slice(0, 4 * w).every((v, k) => k % w < 7 || v === 0), 'the weak step, away from any strong edge, is dropped');
});
