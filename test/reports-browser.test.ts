/**
 * report.html in a real browser: headless Chromium (Debian's `chromium` package)
 * driven by playwright-core. Set UPDATE_SCREENSHOT=1 to refresh docs/report-screenshot.png.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decode } from 'fast-png';
import { chromium } from 'playwright-core';
import mnist from '../datasets/mnist.js';
import htmlReporter from '../reports/html.js';
import { readResults } from '../src/commands/check.js';
import { imageToPngDataUrl, type GalleryItem, type ReportRun } from '../src/html-report.js';
import { assetPath } from '../src/paths.js';
import type { RunResult } from '../src/plugin-api.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FIXTURE = join(import.meta.dirname, 'fixtures', 'results', 'two-models');

/** Real digits, each perturbed by a fixed +-eps pattern, so the gallery looks as it would after a run. */
async function gallery(eps: number, advPredictions: number[]): Promise<GalleryItem[]> {
  const data = await mnist.load({ split: 'test', samples: advPredictions.length, offline: true });
  const [h, w, c] = data.shape;
  const size = h * w * c;
  return advPredictions.map((adv, i) => {
    const clean = data.images.subarray(i * size, (i + 1) * size);
    const perturbed = clean.map((v, k) => Math.min(1, Math.max(0, v + (Math.sin(k * 12.9898 + i) > 0 ? eps : -eps))));
    const label = String(data.labels[i]);
    return { label: `sample ${i}`, perturbation: eps, cleanPng: imageToPngDataUrl(clean, h, w, c), advPng: imageToPngDataUrl(perturbed, h, w, c), cleanPrediction: label, advPrediction: String(adv), trueLabel: label };
  });
}

test('report.html loads in headless Chromium without errors or requests, and every chart is drawn', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`no Chromium at ${CHROMIUM}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH; CI installs it`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'robench-browser-'));
  const runs: ReportRun[] = readResults(FIXTURE);
  runs[0].gallery = [...(await gallery(16 / 255, [3, 2, 8, 0])), ...(await gallery(4 / 255, [7, 2, 1, 0]))];
  runs[2].gallery = await gallery(16 / 255, [7, 2, 1, 6]);
  await writeFile(join(dir, 'audit.json'), await readFile(join(FIXTURE, 'audit.json')));
  const [file] = await htmlReporter.write(runs as RunResult[], { outDir: dir, log: () => {} });

  const context = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'robench-chromium-profile-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const url = pathToFileURL(file).href;
    const requests: string[] = [];
    await context.route('**/*', (route) => {
      requests.push(route.request().url());
      return route.request().url() === url ? route.continue() : route.abort();
    });
    await page.goto(url, { waitUntil: 'load' });

    // No named inner functions: tsx would wrap them in a helper the page does not have.
    const charts = await page.$$eval('figure.chart > svg', (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const [marks, lines, bands] = ['.role-mark path, .role-mark line', '.mark-line path', '.mark-area path'].map(
          (sel) => [...svg.querySelectorAll(sel)].filter((el) => (el as SVGGraphicsElement).getBBox().width > 0).length,
        );
        return { id: svg.parentElement!.id, width: box.width, height: box.height, marks, lines, bands };
      }),
    );
    t.deepEqual(charts.map((c) => c.id), ['curve-pgd', 'curve-gaussian', 'sparsity']);
    for (const c of charts) {
      t.true(c.width > 200 && c.height > 150, `${c.id} is ${c.width}x${c.height}`);
      t.true(c.marks > 0, `${c.id} has drawn marks`);
    }
    t.deepEqual(charts.slice(0, 2).map((c) => [c.lines, c.bands]), [[2, 2], [2, 2]], 'a line and a band per model');
    t.true(charts[2].marks >= 2 * 2 * 10, 'every histogram bar of both models in both layers');

    const images = await page.$$eval('#gallery img', (imgs) => imgs.map((img) => [(img as HTMLImageElement).complete, (img as HTMLImageElement).naturalWidth]));
    t.is(images.length, 24);
    t.true(images.every(([complete, width]) => complete === true && width === 28), 'gallery images decode');
    t.is(await page.locator('#audit .verdict.warn').count(), 1);

    t.deepEqual(problems, []);
    t.deepEqual(requests, [url], 'nothing but the file itself is requested');

    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    const png = decode(await readFile(shot));
    t.is(png.width, 1280);
    t.true(png.height > 1500, `a full page, ${png.height} px tall`);
    if (process.env.UPDATE_SCREENSHOT) await copyFile(shot, assetPath('docs', 'report-screenshot.png'));
  } finally {
    await context.close();
  }
});
