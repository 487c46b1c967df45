/**
 * The gallery's pictures on disk: PNG files in gallery/ beside results.json, which names them
 * by path. A file is named by the start of its sha256, so the same picture (the clean image of
 * a sample, shown for every model) is stored once, files of several result folders can be
 * gathered into one without clashing, and a reader can tell that a file is the one named.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { writeFileAtomic } from '../runtime/atomic.js';
import { UsageError } from '../core/errors.js';
import type { GalleryExample, GalleryItem, ReportRun } from '../evaluation/gallery.js';
import type { ImageShape, RunResult } from '../core/plugin-api.js';
import { encodePng, isPng } from './png-image.js';

export const GALLERY_DIR = 'gallery';

const NAME = /^gallery\/([0-9a-f]{16})\.png$/;

const digest = (png: Uint8Array): string => createHash('sha256').update(png).digest('hex').slice(0, 16);

/** The path results.json gives a picture, relative to its folder. */
export const galleryPath = (png: Uint8Array): string => `${GALLERY_DIR}/${digest(png)}.png`;

/** Writes pictures into `<dir>/gallery/` under their paths; a file already there holds the same bytes. */
export async function writeGalleryFiles(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  if (files.size === 0) return;
  await mkdir(join(dir, GALLERY_DIR), { recursive: true });
  for (const [path, png] of files) if (!existsSync(join(dir, path))) await writeFileAtomic(join(dir, path), png);
}

/** The gallery's examples as PNG files in `<dir>/gallery/` (clean, adversarial, amplified difference), and the items results.json holds. */
export async function writeGalleryPictures(dir: string, examples: GalleryExample[], classNames: string[], [h, w, c]: ImageShape): Promise<GalleryItem[]> {
  const files = new Map<string, Uint8Array>();
  const file = (pixels: Float32Array): string => {
    const png = encodePng(pixels, h, w, c);
    const path = galleryPath(png);
    files.set(path, png);
    return path;
  };
  const name = (k: number): string => classNames[k] ?? String(k);
  const items = examples.map((e): GalleryItem => {
    const difference = amplifiedDifference(e.clean, e.adversarial);
    return {
      sample: e.sample,
      perturbation: e.perturbation,
      trueLabel: name(e.label),
      cleanPrediction: name(e.cleanPrediction),
      advPrediction: name(e.advPrediction),
      ...(e.version === undefined ? {} : { version: e.version }),
      images: { clean: file(e.clean), adversarial: file(e.adversarial), difference: file(difference.pixels) },
      amplification: difference.amplification,
    };
  });
  await writeGalleryFiles(dir, files);
  return items;
}

/** Writes into `<dir>/gallery/` the pictures `runs` name, taken from `files` (gatherGallery's); returns how many. */
export async function writeGalleryOf(runs: ReportRun[], files: Map<string, Uint8Array>, dir: string): Promise<number> {
  const named = new Set(runs.flatMap((r) => (r.gallery ?? []).flatMap((item) => Object.values(item.images))));
  await writeGalleryFiles(dir, new Map([...files].filter(([path]) => named.has(path))));
  return named.size;
}

/** The picture results.json names by `path` in result folder `dir`, checked to be that picture. */
export function readGalleryFile(dir: string, path: string): Uint8Array {
  const name = NAME.exec(path);
  // Any other path could point outside the folder.
  if (!name) throw new UsageError(`the gallery names '${path}', not a gallery/<hash>.png file`, 'the results were edited: rerun robench run to write them again');
  const file = join(dir, path);
  if (!existsSync(file)) throw new UsageError(`the gallery picture ${file} is missing`, `copy the ${GALLERY_DIR}/ folder along with results.json, or rerun robench run`);
  const png = new Uint8Array(readFileSync(file));
  if (!isPng(png) || digest(png) !== name[1]) throw new UsageError(`${file} is not the picture results.json names (its content changed)`, 'rerun robench run to write the gallery again');
  return png;
}

/**
 * The difference of two images, amplified so that its largest pixel spans the grey range:
 * 0.5 + amplification * (adversarial - clean), mid-grey where they agree.
 */
export function amplifiedDifference(clean: ArrayLike<number>, adversarial: ArrayLike<number>): { pixels: Float32Array; amplification: number } {
  let largest = 0;
  for (let i = 0; i < clean.length; i++) largest = Math.max(largest, Math.abs(adversarial[i] - clean[i]));
  // Three digits, as the caption states it; rounding up clips the largest pixel by under 0.5%.
  const amplification = largest > 0 ? Number((0.5 / largest).toPrecision(3)) : 1;
  const pixels = Float32Array.from(clean, (c, i) => Math.min(1, Math.max(0, 0.5 + amplification * (adversarial[i] - c))));
  return { pixels, amplification };
}

/** What robench wrote before the gallery moved to files: data URLs inside results.json. */
interface InlineItem {
  label: string;
  perturbation: number;
  cleanPng: string;
  advPng: string;
  cleanPrediction: string;
  advPrediction: string;
  trueLabel: string;
}

const isInline = (item: object): item is InlineItem => 'cleanPng' in item && 'advPng' in item;

function fromDataUrl(url: string, where: string): Uint8Array {
  const base64 = /^data:image\/png;base64,([A-Za-z0-9+/]+={0,2})$/.exec(url)?.[1];
  const png = base64 === undefined ? undefined : new Uint8Array(Buffer.from(base64, 'base64'));
  if (!png || !isPng(png)) throw new UsageError(`${where}: a gallery image is not a PNG data URL`, 'the results were edited: rerun robench run to write them again');
  return png;
}

/** An inline item as files: its two pictures and their difference, computed from the 8-bit pixels. */
function upgrade(item: InlineItem, files: Map<string, Uint8Array>, where: string): GalleryItem {
  const [clean, adversarial] = [fromDataUrl(item.cleanPng, where), fromDataUrl(item.advPng, where)];
  const [a, b] = [decode(clean), decode(adversarial)];
  if (a.width !== b.width || a.height !== b.height || a.channels !== b.channels) throw new UsageError(`${where}: a gallery pair of images differs in size`, 'rerun robench run to write the gallery again');
  const scale = 2 ** a.depth - 1;
  const { pixels, amplification } = amplifiedDifference(Array.from(a.data, (v) => v / scale), Array.from(b.data, (v) => v / scale));
  const difference = encodePng(pixels, a.height, a.width, a.channels);
  const images = { clean: galleryPath(clean), adversarial: galleryPath(adversarial), difference: galleryPath(difference) };
  files.set(images.clean, clean).set(images.adversarial, adversarial).set(images.difference, difference);
  const sample = Number(/^sample (\d+)$/.exec(item.label)?.[1] ?? NaN);
  const { perturbation, trueLabel, cleanPrediction, advPrediction } = item;
  return { sample, perturbation, trueLabel, cleanPrediction, advPrediction, images, amplification };
}

/**
 * The pictures the runs read from result folder `dir` name, read and checked, to be written into
 * another folder with writeGalleryFiles; galleries that results.json held inline (robench 0.1.0
 * and before) become files too. Nothing is written, so a report can check every input first.
 */
export function gatherGallery(runs: RunResult[], dir: string): { runs: ReportRun[]; files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  const gathered = (runs as ReportRun[]).map((r) => {
    if (!r.gallery) return r;
    const where = `${join(dir, 'results.json')} (${r.model.id} / ${r.attack.id})`;
    const gallery = (r.gallery as (GalleryItem | InlineItem)[]).map((item) => {
      if (isInline(item)) return upgrade(item, files, where);
      for (const path of Object.values(item.images)) files.set(path, readGalleryFile(dir, path));
      return item;
    });
    return { ...r, gallery };
  });
  return { runs: gathered, files };
}
