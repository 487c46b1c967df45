/**
 * report.html in a real browser: headless Chromium (Debian's `chromium` package)
 * driven by playwright-core. Set UPDATE_SCREENSHOT=1 to refresh docs/report-screenshot.png (the whole
 * page) and docs/report-headline.png and docs/report-gallery.png (its first and its gallery section).
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decode } from 'fast-png';
import { chromium } from 'playwright-core';
import htmlReporter from '../../reports/html.js';
import { readResults } from '../../src/cli/commands/check.js';
import type { ReportRun } from '../../src/report/html-report.js';
import { assetPath } from '../../src/core/paths.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { gallerySample } from '../helpers/gallery.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models');

test('report.html loads in headless Chromium without errors or requests: headline first, charts drawn, gallery grid, manifest last', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`no Chromium at ${CHROMIUM}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH; CI installs it`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'robench-browser-'));
  const runs: ReportRun[] = readResults(FIXTURE);
  // hah-cnn's conv1 thresholds its output, as a HaH block does, so its histogram panel is marked.
  runs[2] = { ...runs[2], sparsity: runs[2].sparsity!.map((l) => (l.name === 'conv1' ? { ...l, preThreshold: { ...l, zeroFraction: 0.3 } } : l)) };
  runs[0].gallery = [...(await gallerySample(dir, 16 / 255, ['3', '2', '8', '0'])), ...(await gallerySample(dir, 4 / 255, ['7', '2', '1', '0']))];
  runs[2].gallery = await gallerySample(dir, 16 / 255, ['7', '2', '1', '6']);
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

    // What a reader meets first and last.
    t.deepEqual(await page.$$eval('body > section', (s) => s.map((e) => e.id)), ['headline', 'charts', 'sparsity', 'audit', 'gallery', 'manifest']);
    const headline = await page.$eval('#headline table.headline', (table) => [...table.querySelectorAll('tr')].map((r) => [...r.children].map((c) => (c as HTMLElement).innerText.replace(/\s+/g, ' ').trim())));
    t.deepEqual(headline[0], ['eps', 'mlp [mnist] 200 images', 'hah-cnn [mnist] 200 images', 'hah-cnn [mnist] − mlp [mnist] unpaired, 200 images']);
    t.deepEqual(headline.slice(1).map((r) => r[0]), ['clean', '2/255', '4/255', '8/255', '16/255']);
    t.regex(headline[4][3], /^\+60\.0 pt \+\d+\.\d to \+\d+\.\d$/);
    // hah-cnn above mlp at every PGD budget and at sigma 0.2 and 0.4; clean and sigma 0.1 are within the noise.
    t.is(await page.locator('#headline .better').count(), 6, 'differences the samples resolve are coloured');

    // No named inner functions: tsx would wrap them in a helper the page does not have.
    const charts = await page.$$eval('figure.chart > svg', (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const [marks, lines, bands] = ['.role-mark path, .role-mark line', '.mark-line path', '.mark-area path'].map(
          (sel) => [...svg.querySelectorAll(sel)].filter((el) => (el as SVGGraphicsElement).getBBox().width > 0).length,
        );
        const ticks = [...svg.querySelectorAll('.role-axis-label text')].map((el) => ({ text: el.textContent, x: el.getBoundingClientRect().x }));
        return { id: svg.parentElement!.id, width: box.width, height: box.height, marks, lines, bands, ticks };
      }),
    );
    t.deepEqual(charts.map((c) => c.id), ['curve-pgd', 'curve-gaussian', 'sparsity']);
    for (const c of charts) {
      t.true(c.width > 200 && c.height > 150, `${c.id} is ${c.width}x${c.height}`);
      t.true(c.marks > 0, `${c.id} has drawn marks`);
    }
    t.deepEqual(charts.slice(0, 2).map((c) => [c.lines, c.bands]), [[2, 2], [2, 2]], 'a line and a band per model');
    // The doubling l-inf grid: a labelled tick at each budget, 0 to 2/255 not squeezed.
    const budgets = ['0', '2/255', '4/255', '8/255', '16/255'];
    const ticks = charts[0].ticks.filter((k) => budgets.includes(k.text!));
    t.deepEqual(ticks.map((k) => k.text), budgets);
    const span = ticks[4].x - ticks[0].x;
    t.true(ticks.slice(1).every((k, i) => k.x - ticks[i].x > 0.15 * span), `tick positions ${ticks.map((k) => k.x)}`);
    // Histograms: the models' bars side by side, exact zeros and the overflow bin on the axis, the HaH block named.
    const labels = charts[2].ticks.map((k) => k.text);
    t.true(labels.includes('= 0') && labels.includes('≥ 3.6'), labels.join(' '));
    t.true(charts[2].marks >= 2 * 2 * 9, 'every nonempty histogram bin of both models in both layers');
    t.true(await page.locator('#sparsity svg, #charts svg').filter({ hasText: 'conv1 · HaH block in hah-cnn [mnist]' }).count() > 0);

    // The gallery: one grid, a row per sample and model; clean, and per budget perturbed and difference.
    t.is(await page.locator('#gallery table.gallery').count(), 1);
    t.is(await page.locator('#gallery table.gallery tbody tr').count(), 8);
    const images = await page.$$eval('#gallery img', (imgs) => imgs.map((img) => [(img as HTMLImageElement).complete, (img as HTMLImageElement).naturalWidth, img.getBoundingClientRect().width] as const));
    t.is(images.length, 4 * (1 + 2 * 2) + 4 * (1 + 2));
    t.true(images.every(([complete, natural, shown]) => complete === true && natural === 112 && shown >= 112), `gallery images decode and show enlarged: ${JSON.stringify(images.slice(0, 3))}`);
    t.is(await page.locator('#audit .verdict.warn').count(), 1);

    t.deepEqual(problems, []);
    t.deepEqual(requests, [url], 'nothing but the file itself is requested');

    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    const png = decode(await readFile(shot));
    t.is(png.width, 1280);
    t.true(png.height > 1500, `a full page, ${png.height} px tall`);
    if (process.env.UPDATE_SCREENSHOT) {
      await copyFile(shot, assetPath('docs', 'report-screenshot.png'));
      // The parts a reader looks at first, readable at their own size.
      for (const id of ['headline', 'gallery']) await page.locator(`#${id}`).screenshot({ path: assetPath('docs', `report-${id}.png`) });
    }
  } finally {
    await context.close();
  }
});
