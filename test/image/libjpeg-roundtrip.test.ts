import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { libjpegRoundTrip, quantTable } from '../../src/image/libjpeg-roundtrip.js';

interface Fixture {
  images: { h: number; w: number; rgb: number[] }[];
  cases: { image: number; quality: number; sha256: string; meanChange: number }[];
}
const { images, cases } = JSON.parse(readFileSync(new URL('../fixtures/jpeg-reference.json', import.meta.url), 'utf8')) as Fixture;

test("libjpegRoundTrip gives PIL's bytes: CIFAR images at CIFAR-10-C's qualities, a partial MCU, noise at odd sizes", (t) => {
  t.is(cases.length, 13);
  for (const c of cases) {
    const { h, w, rgb } = images[c.image];
    const out = libjpegRoundTrip(Uint8Array.from(rgb), h, w, c.quality);
    const change = out.reduce((a, v, k) => a + Math.abs(v - rgb[k]), 0) / out.length;
    const sha = createHash('sha256').update(out).digest('hex');
    t.is(sha, c.sha256, `${h}x${w} quality ${c.quality}: mean change ${change.toFixed(4)}, PIL's ${c.meanChange}`);
  }
});

test("quantTable scales libjpeg's tables as jpeg_set_quality does", (t) => {
  const basic = [16, 11, 99, 1];
  t.deepEqual(quantTable(basic, 50), basic);
  t.deepEqual(quantTable(basic, 80), [6, 4, 40, 1]); // scale 40: (16 * 40 + 50) / 100 = 6.9 -> 6
  t.deepEqual(quantTable(basic, 10), [80, 55, 255, 5]); // scale 500, clamped to 255 for baseline JPEG
});
