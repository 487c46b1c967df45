import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { UsageError } from '../../src/core/errors.js';
import { amplifiedDifference, gatherGallery, galleryPath, readGalleryFile, writeGalleryFiles, writeGalleryOf } from '../../src/report/gallery-images.js';
import type { GalleryItem, ReportRun } from '../../src/evaluation/gallery.js';
import { encodePng, pngDataUrl } from '../../src/report/png-image.js';

const tmp = () => mkdtemp(join(tmpdir(), 'robench-gallery-'));
const ramp = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i / (n - 1));

test('encodePng encodes pixels in [0, 1] as 8-bit PNG, grey and RGB; pngDataUrl embeds PNG bytes only', (t) => {
  const rgb = Float32Array.from([0, 0.5, 1, 0.25, 0.75, 1.5, -0.2, 0.1, 0.6, 1, 1, 0]);
  const png = decode(encodePng(rgb, 2, 2, 3));
  t.deepEqual([png.width, png.height, png.channels, png.depth], [2, 2, 3, 8]);
  t.deepEqual([...png.data], [0, 128, 255, 64, 191, 255, 0, 26, 153, 255, 255, 0]);
  const grey = decode(encodePng(Float32Array.from([0, 1, 0.5]), 1, 3, 1));
  t.deepEqual([grey.width, grey.height, grey.channels, ...grey.data], [3, 1, 1, 0, 255, 128]);
  const bytes = encodePng(ramp(4), 2, 2, 1);
  t.is(pngDataUrl(bytes), `data:image/png;base64,${Buffer.from(bytes).toString('base64')}`);
  t.throws(() => pngDataUrl(new Uint8Array([60, 115, 99, 114, 105, 112, 116, 62, 0])), { message: /not a PNG/ });
});

test('encodePng rejects a batch, odd channel counts and non-finite pixels', (t) => {
  t.throws(() => encodePng(new Float32Array(2 * 4 * 4), 4, 4, 1), { message: /32 values for a 4x4x1 image \(needs 16\); pass one image/ });
  t.throws(() => encodePng(new Float32Array(8), 2, 2, 2), { message: /2 channels given/ });
  t.throws(() => encodePng(Float32Array.from([0, NaN]), 1, 2, 1), { message: /pixel 1 is NaN/ });
  t.throws(() => encodePng(new Float32Array(0), 0, 2, 1), { message: /positive integers/ });
});

test('the amplified difference spans the grey range around mid-grey and states its factor', (t) => {
  const clean = [0.2, 0.5, 0.9, 0.4];
  const adv = [0.2 + 8 / 255, 0.5 - 8 / 255, 0.9, 0.4 + 4 / 255];
  const { pixels, amplification } = amplifiedDifference(clean, adv);
  t.is(amplification, Number((0.5 / (8 / 255)).toPrecision(3)));
  t.true(Math.abs(pixels[0] - 1) < 0.005 && Math.abs(pixels[1]) < 0.005, `${pixels}`);
  t.is(pixels[2], 0.5);
  t.true(Math.abs(pixels[3] - 0.75) < 0.005);
  t.deepEqual(amplifiedDifference([0.3, 0.3], [0.3, 0.3]), { pixels: Float32Array.from([0.5, 0.5]), amplification: 1 });
});

test('pictures are named by their hash, stored once, and read back only as the picture named', async (t) => {
  const dir = await tmp();
  const png = encodePng(ramp(16), 4, 4, 1);
  const path = galleryPath(png);
  t.is(path, `gallery/${createHash('sha256').update(png).digest('hex').slice(0, 16)}.png`);
  await writeGalleryFiles(dir, new Map([[path, png]]));
  await writeGalleryFiles(dir, new Map([[path, png]]));
  t.deepEqual(await readdir(join(dir, 'gallery')), [path.slice('gallery/'.length)]);
  t.deepEqual(readGalleryFile(dir, path), png);
  t.throws(() => readGalleryFile(dir, '../results.json'), { instanceOf: UsageError, message: /not a gallery\/<hash>\.png file/ });
  t.throws(() => readGalleryFile(dir, 'gallery/0000000000000000.png'), { instanceOf: UsageError, message: /is missing/ });
  await writeFile(join(dir, path), encodePng(ramp(16).reverse(), 4, 4, 1));
  t.throws(() => readGalleryFile(dir, path), { instanceOf: UsageError, message: /not the picture results\.json names/ });
});

function item(sample: number, files: Map<string, Uint8Array>): GalleryItem {
  const add = (pixels: Float32Array): string => {
    const png = encodePng(pixels, 4, 4, 1);
    files.set(galleryPath(png), png);
    return galleryPath(png);
  };
  return { sample, perturbation: 8 / 255, trueLabel: '7', cleanPrediction: '7', advPrediction: '3', images: { clean: add(ramp(16)), adversarial: add(ramp(16).map((v) => 1 - v)), difference: add(new Float32Array(16).fill(sample / 10)) }, amplification: 2 };
}

test('gatherGallery reads every picture a result folder names, and writeGalleryOf writes those the results still name', async (t) => {
  const [from, to] = [await tmp(), await tmp()];
  const files = new Map<string, Uint8Array>();
  const run = { model: { id: 'm' }, attack: { id: 'pgd' }, gallery: [item(0, files), item(1, files)] } as unknown as ReportRun;
  await writeGalleryFiles(from, files);
  const gathered = gatherGallery([run, { ...run, gallery: undefined }], from);
  t.deepEqual(gathered.runs[0], run);
  t.deepEqual([...gathered.files.keys()].sort(), [...files.keys()].sort());
  const shown = { ...run, gallery: run.gallery!.slice(0, 1) };
  t.is(await writeGalleryOf([shown], gathered.files, to), 3);
  t.deepEqual((await readdir(join(to, 'gallery'))).map((f) => `gallery/${f}`).sort(), Object.values(shown.gallery[0].images).sort());
  const missing = await tmp();
  t.throws(() => gatherGallery([run], missing), { instanceOf: UsageError, message: /is missing/ });
});

test('a gallery results.json held inline (robench 0.1.0) becomes files, its difference computed from the pixels', async (t) => {
  const clean = encodePng(ramp(16), 4, 4, 1);
  const adv = encodePng(ramp(16).map((v, i) => v + (i % 2 ? 0.1 : -0.1)), 4, 4, 1);
  const inline = { label: 'sample 17', perturbation: 0.1, cleanPng: pngDataUrl(clean), advPng: pngDataUrl(adv), cleanPrediction: '7', advPrediction: '1', trueLabel: '7' };
  const run = { model: { id: 'm' }, attack: { id: 'pgd' }, gallery: [inline] } as unknown as ReportRun;
  const { runs, files } = gatherGallery([run], await tmp());
  const [upgraded] = runs[0].gallery!;
  t.like(upgraded, { sample: 17, perturbation: 0.1, trueLabel: '7', cleanPrediction: '7', advPrediction: '1' });
  t.deepEqual(files.get(upgraded.images.clean), clean);
  t.deepEqual(files.get(upgraded.images.adversarial), adv);
  const difference = decode(files.get(upgraded.images.difference)!);
  const [a, b] = [decode(clean).data, decode(adv).data];
  const expected = amplifiedDifference(Array.from(a, (v) => v / 255), Array.from(b, (v) => v / 255));
  t.is(upgraded.amplification, expected.amplification);
  t.deepEqual([...difference.data], Array.from(expected.pixels, (v) => Math.round(v * 255)));
  const out = await tmp();
  await writeGalleryOf(runs, files, out);
  t.deepEqual(readGalleryFile(out, upgraded.images.difference), files.get(upgraded.images.difference));
  const broken = { ...run, gallery: [{ ...inline, advPng: 'data:image/png;base64,AAAA' }] } as unknown as ReportRun;
  t.throws(() => gatherGallery([broken], out), { instanceOf: UsageError, message: /not a PNG data URL/ });
  t.is(JSON.stringify(runs).includes('base64'), false, 'no picture left inside the results');
});
