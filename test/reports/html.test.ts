import test from 'ava';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import htmlReporter from '../../reports/html.js';
import jsonReporter from '../../reports/json.js';
import svgReporter from '../../reports/svg.js';
import { readResults } from '../../src/cli/commands/check.js';
import { reportCommand } from '../../src/cli/commands/report.js';
import { UsageError } from '../../src/core/errors.js';
import { escapeHtml, readAudits, renderHtmlReport, type ReportRun } from '../../src/report/html-report.js';
import { accuracyIntervals, independentDifference } from '../../src/core/intervals.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { encodePng, pngDataUrl, upscalePng } from '../../src/report/png-image.js';
import { corruptionRun, fifteen } from '../helpers/run-results.js';
import { Registry } from '../../src/core/registry.js';
import { resultsJson as resultsJsonText } from '../../src/report/results-json.js';
import { gallerySample } from '../helpers/gallery.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models');
const fixture = (): RunResult[] => readResults(FIXTURE);
const tmp = () => mkdtemp(join(tmpdir(), 'robench-html-'));
const quiet = (outDir: string) => ({ outDir, log: () => {} });

function registry(): Registry {
  const r = new Registry();
  for (const p of [jsonReporter, htmlReporter, svgReporter]) r.add(p, 'built-in');
  return r;
}

/** Runs a command with console output swallowed (the command reports what it wrote). */
async function silently<T>(fn: () => Promise<T>): Promise<T> {
  const { log, error } = console;
  console.log = console.error = () => {};
  try {
    return await fn();
  } finally {
    Object.assign(console, { log, error });
  }
}

test('report.html is self-contained: charts inline as SVG, styles inline, nothing fetched', async (t) => {
  const html = await renderHtmlReport(fixture());
  t.notRegex(html, /src="http|href="http|<link|<script|@import|url\(/i);
  t.regex(html, /Content-Security-Policy" content="default-src 'none'/);
  t.is((html.match(/<svg /g) ?? []).length, 3, 'two curve charts and the sparsity chart');
  t.is((html.match(/<figure class="chart"/g) ?? []).length, 3);
  t.regex(html, /<style>/);
});

test('report.html shows the manifest, accuracies with intervals and the sparsity table', async (t) => {
  const runs = fixture();
  const html = await renderHtmlReport(runs);
  for (const r of runs) {
    t.true(html.includes(r.model.weightsSha256));
    t.true(html.includes(r.dataset.source.sha256));
  }
  t.regex(html, /<dt>robench<\/dt><dd><code>0\.1\.0<\/code><\/dd>/);
  t.regex(html, /<dt>backend<\/dt><dd><code>wasm<\/code><\/dd>/);
  t.regex(html, /<dt>seed<\/dt><dd><code>7<\/code><\/dd>/);
  t.true(html.includes('<pre>robench run --model mlp,hah-cnn --attack pgd,gaussian --samples 200 --seed 7 --format json,html</pre>'));
  // hah-cnn under pgd at 16/255: 60 of 200 correct, Wilson 95% 24.1-36.7%; mlp 0 of 200.
  t.regex(html, /<td>16\/255<\/td><td>0\.0%<br><small>0\.0%–1\.9%<\/small><\/td><td>30\.0%<br><small>24\.1%–36\.7%<\/small><\/td>/);
  // Its difference from mlp, unpaired (the fixture predates per-sample outcomes), coloured as the interval excludes 0.
  const d = independentDifference(0, 200, 60, 200);
  t.true(html.includes(`<span class="better">+30.0 pt</span><br><small>+${(100 * d.lo).toFixed(1)} to +${(100 * d.hi).toFixed(1)}</small>`));
  t.regex(html, /<th>hah-cnn \[mnist\] − mlp \[mnist\]<br><small>unpaired, 200 images<\/small><\/th>/);
  t.regex(html, /<td>clean<\/td><td>98\.0%/);
  t.regex(html, /<td>0\.4<\/td><td>50\.0%/, 'sigma in decimals');
  t.regex(html, /<td>hah-cnn \[mnist\]<\/td><td>conv2<\/td><td>80\.0%<\/td><td>0\.85<\/td>/);
  t.notRegex(html, /id="audit"|id="gallery"/, 'no audit or gallery section without data');
  // The headline first, the manifest last.
  const order = ['id="headline"', 'id="charts"', 'id="sparsity"', 'id="manifest"'].map((id) => html.indexOf(id));
  t.deepEqual([...order].sort((a, b) => a - b), order, `sections in order: ${order}`);
  t.is(html.indexOf('<section', order[3]), -1, 'no section after the manifest');
});

test('every string from plugins, results and the command line is escaped', async (t) => {
  const [r] = fixture();
  const evil = '<script>alert(1)</script>';
  const run: ReportRun = {
    ...r,
    model: { ...r.model, id: evil, info: { note: '</pre><script>x()</script>' } },
    attack: { ...r.attack, id: 'pgd"><img src=x onerror=alert(2)>', params: { tag: '<b>bold</b>' } },
    command: ['robench', 'run', '--model', evil],
  };
  const dir = await tmp();
  run.gallery = (await gallerySample(dir, 8 / 255, ['3'])).map((g) => ({ ...g, trueLabel: '<i>seven</i>', advPrediction: evil }));
  const html = await renderHtmlReport([run], [{ model: evil, checks: [{ name: evil, verdict: 'warn', detail: '<svg onload=alert(3)>' }] }], dir);
  t.notRegex(html, /<script|<img src=x|<b>bold|<i>seven|<svg onload/i);
  t.true(html.includes('&lt;script&gt;alert(1)&lt;/script&gt; [mnist]'));
  t.true(html.includes('--model &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;</pre>'), 'command shell-quoted, then escaped');
  t.is(escapeHtml(`a&b<c>"d'`), 'a&amp;b&lt;c&gt;&quot;d&#39;');
});

test('the gallery is one grid per attack: a row per sample and model, clean, then perturbed and difference per budget', async (t) => {
  const [mlp, , hah] = fixture();
  const dir = await tmp();
  const runs: ReportRun[] = [
    { ...mlp, gallery: [...(await gallerySample(dir, 8 / 255, ['3', '2'])), ...(await gallerySample(dir, 2 / 255, ['7', '2']))] },
    { ...hah, gallery: [...(await gallerySample(dir, 8 / 255, ['7', '1'])), ...(await gallerySample(dir, 2 / 255, ['7', '2']))] },
  ];
  const html = await renderHtmlReport(runs, [], dir);
  const section = /<section id="gallery">([\s\S]*?)<\/section>/.exec(html)![1];
  t.is((section.match(/<table class="gallery">/g) ?? []).length, 1, 'one grid for both models');
  t.regex(section, /<th>sample<\/th><th>model<\/th><th>clean<\/th><th colspan="2">eps 2\/255<br><small>perturbed · difference<\/small><\/th><th colspan="2">eps 8\/255/);
  const rows = [...section.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].slice(1).map((m) => m[1]);
  t.is(rows.length, 4, 'two samples x two models');
  t.regex(rows[0], /^<th rowspan="2">0<br><small>true 7<\/small><\/th><td>mlp \[mnist\]<\/td>/);
  t.regex(rows[1], /^<td>hah-cnn \[mnist\]<\/td>/);
  // A row: the clean image, then at each budget the perturbed image and the amplified difference, with the predictions.
  for (const row of rows) t.is((row.match(/<img src="data:image\/png;base64,/g) ?? []).length, 5);
  t.regex(rows[0], /→ 7<\/span><\/td><td><img[^>]+><br><span class="held">→ 7<\/span><\/td><td><img[^>]+alt="difference sample 0, mlp \[mnist\], eps 2\/255"><br><small>×[\d.]+<\/small><\/td><td><img[^>]+><br><span class="fooled">→ 3<\/span>/);
  // The pictures are the gallery's files, embedded four times larger.
  const [first] = runs[0].gallery!;
  t.true(section.includes(`src="${pngDataUrl(upscalePng(await readFile(join(dir, first.images.difference)), 96).png)}" width="112" height="112"`));
  await writeFile(join(dir, first.images.clean), 'changed');
  await t.throwsAsync(renderHtmlReport(runs, [], dir), { instanceOf: UsageError, message: /not the picture results\.json names/ });
  await t.throwsAsync(renderHtmlReport([{ ...runs[0], gallery: [{ ...first, images: { ...first.images, clean: 'https://example.com/x.png' } }] }], [], dir), { message: /not a gallery\/<hash>\.png file/ });
});

test('gallery pictures show enlarged by whole pixels, and a corruption run names the corruption of each (issue 35)', async (t) => {
  const dir = await tmp();
  const [sample] = await gallerySample(dir, 3, ['4']);
  const run: ReportRun = { ...corruptionRun('hebbian', fifteen(() => [0.2, 0.4, 0.5])), gallery: [{ ...sample, version: 'gaussian_noise' }] };
  const section = /<section id="gallery">([\s\S]*?)<\/section>/.exec(await renderHtmlReport([run], [], dir))![1];
  t.regex(section, /<img [^>]*alt="perturbed sample 0, hebbian \[cifar10\], gaussian_noise, severity 3"><br><small>gaussian_noise, severity 3<\/small><br><span class="fooled">→ 4<\/span>/);
  // 28x28 digits at 4x: each pixel of the file a 4x4 block of the picture shown.
  const shown = [...section.matchAll(/<img src="data:image\/png;base64,([^"]+)" width="(\d+)" height="(\d+)"/g)];
  t.is(shown.length, 3, 'clean, perturbed, difference');
  const original = decode(await readFile(join(dir, sample.images.clean)));
  const large = decode(Buffer.from(shown[0][1], 'base64'));
  t.deepEqual([shown[0][2], shown[0][3], large.width, large.height], ['112', '112', 112, 112]);
  for (let y = 0; y < 112; y++) for (let x = 0; x < 112; x++) if (large.data[y * 112 + x] !== original.data[Math.floor(y / 4) * 28 + Math.floor(x / 4)]) return t.fail(`pixel ${x}, ${y}`);
  // CIFAR-10's 32x32 at 3x; a large picture stays as it is.
  const picture = (side: number) => encodePng(new Float32Array(side * side * 3).fill(0.5), side, side, 3);
  t.deepEqual([32, 200].map((side) => upscalePng(picture(side), 96).width), [96, 200]);
});

test('the html reporter shows audit.json from the output folder, and rejects a malformed one', async (t) => {
  const dir = await tmp();
  await writeFile(join(dir, 'audit.json'), await readFile(join(FIXTURE, 'audit.json')));
  const [file] = await htmlReporter.write(fixture(), quiet(dir));
  t.is(file, join(dir, 'report.html'));
  const html = await readFile(file, 'utf8');
  t.regex(html, /<h3>Audit of hah-cnn \[mnist\], linf 0\.3, 200 samples: 1 warning<\/h3>/);
  t.regex(html, /<span class="verdict warn">WARN<\/span><\/td><td>Square reached 0\.21 below white-box 0\.29/);
  t.regex(html, /<span class="verdict pass">pass<\/span>/);
  await writeFile(join(dir, 'audit.json'), JSON.stringify({ checks: [{ name: 'x', verdict: 'maybe', detail: '' }] }));
  t.throws(() => readAudits(dir), { instanceOf: UsageError, message: /does not hold robench audits/ });
  t.deepEqual(readAudits(await tmp()), []);
});

async function splitFixture(): Promise<{ a: string; b: string; runs: RunResult[] }> {
  const runs = fixture();
  const a = await tmp();
  const b = await tmp();
  await writeFile(join(a, 'results.json'), JSON.stringify(runs.filter((r) => r.model.id === 'mlp')));
  await writeFile(join(b, 'results.json'), JSON.stringify(runs.filter((r) => r.model.id === 'hah-cnn')));
  await writeFile(join(b, 'audit.json'), await readFile(join(FIXTURE, 'audit.json')));
  return { a, b, runs };
}

test('robench report merges result folders into one set of reports, audits included', async (t) => {
  const { a, b, runs } = await splitFixture();
  const out = join(await tmp(), 'merged');
  const written = await silently(() => reportCommand([a, join(b, 'results.json'), a], { out, format: 'json,html,svg' }, registry()));
  t.deepEqual(written.map((f) => f.slice(out.length + 1)), ['audit.json', 'results.json', 'report.html', 'curve-pgd.svg', 'curve-gaussian.svg', 'sparsity.svg']);
  t.deepEqual((await readdir(out)).sort(), written.map((f) => f.slice(out.length + 1)).sort());
  const merged = readResults(out);
  const expected = [...runs.filter((r) => r.model.id === 'mlp'), ...runs.filter((r) => r.model.id === 'hah-cnn')];
  t.deepEqual(merged.map(({ intervals: _i, ...r }) => r), expected, 'concatenated; the folder given twice counts once');
  // The reader drops intervals (derived, so an edited copy could mislead); the file the json reporter wrote holds them.
  const saved = (JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { runs: RunResult[] }).runs;
  t.deepEqual(saved.map((r) => r.intervals), expected.map(accuracyIntervals), 'the intervals of results written before they were recorded');
  t.deepEqual(readAudits(out), readAudits(FIXTURE));
  const html = await readFile(join(out, 'report.html'), 'utf8');
  t.regex(html, /mlp \[mnist\]/);
  t.regex(html, /hah-cnn \[mnist\]/);
  t.regex(html, /id="audit"/);
});

test('robench report rebuilds reports in place and takes a folder holding only an audit', async (t) => {
  const { a } = await splitFixture();
  const auditOnly = await tmp();
  await writeFile(join(auditOnly, 'audit.json'), await readFile(join(FIXTURE, 'audit.json')));
  const before = await readFile(join(a, 'results.json'), 'utf8');
  await silently(() => reportCommand([a, auditOnly], { out: a, format: 'html' }, registry()));
  t.is(await readFile(join(a, 'results.json'), 'utf8'), before);
  t.regex(await readFile(join(a, 'report.html'), 'utf8'), /id="audit"/);
  t.deepEqual(readAudits(a), readAudits(FIXTURE));
  // An audit the output folder already holds is kept beside the ones the inputs bring.
  const other = { model: 'mlp', checks: [{ name: 'large budget reaches chance', verdict: 'pass' as const, detail: 'accuracy 0.0 at eps 0.5' }] };
  const out = await tmp();
  await writeFile(join(out, 'audit.json'), JSON.stringify(other));
  await silently(() => reportCommand([auditOnly, a], { out, format: 'html' }, registry()));
  t.deepEqual(readAudits(out), [other, ...readAudits(FIXTURE)]);
  t.regex(await readFile(join(out, 'report.html'), 'utf8'), /large budget reaches chance[^]*black box does not beat white box/);
});

test('robench report merges the shards of one run', async (t) => {
  const [r] = fixture();
  const half = (index: number): RunResult => ({
    ...r,
    dataset: { ...r.dataset, samples: 100 },
    shard: { index, count: 2, start: 100 * index, end: 100 * (index + 1) },
    points: r.points.map((p) => ({ ...p, correct: index === 0 ? Math.ceil(p.correct / 2) : Math.floor(p.correct / 2), total: 100, accuracy: 0 })),
  });
  const [a, b] = [await tmp(), await tmp()];
  await writeFile(join(a, 'results.json'), JSON.stringify(half(0)));
  await writeFile(join(b, 'results.json'), JSON.stringify(half(1)));
  const out = await tmp();
  await silently(() => reportCommand([a, b], { out, format: 'json' }, registry()));
  const [merged] = readResults(out);
  t.is(merged.shard, undefined);
  t.deepEqual(merged.points.map((p) => [p.correct, p.total]), r.points.map((p) => [p.correct, p.total]));
});

test('robench report: bad inputs and formats are usage errors that name the fix, before anything is written', async (t) => {
  const out = join(await tmp(), 'never');
  const reg = registry();
  await t.throwsAsync(reportCommand([], { out, format: 'html' }, reg), { instanceOf: UsageError, message: /no results given/ });
  await t.throwsAsync(reportCommand([FIXTURE], { out, format: 'html,pdf' }, reg), { instanceOf: UsageError, message: /unknown reporter 'pdf'/ });
  await t.throwsAsync(reportCommand([FIXTURE], { out, format: ' , ' }, reg), { instanceOf: UsageError, message: /names no reporter/ });
  const empty = await tmp();
  await t.throwsAsync(reportCommand([empty], { out, format: 'html' }, reg), { instanceOf: UsageError, message: /no results at/ });
  const auditOnly = await tmp();
  await mkdir(auditOnly, { recursive: true });
  await writeFile(join(auditOnly, 'audit.json'), await readFile(join(FIXTURE, 'audit.json')));
  await t.throwsAsync(reportCommand([auditOnly], { out, format: 'html' }, reg), { instanceOf: UsageError, message: /holds audits but no runs/ });
  await t.throwsAsync(readdir(out), { code: 'ENOENT' });
});

test('robench report gathers the gallery pictures into --out, and turns a gallery held inline by older results into files', async (t) => {
  const [mlp] = fixture();
  const a = await tmp();
  const gallery = await gallerySample(a, 8 / 255, ['3', '2']);
  // A run with its gallery, as robench run writes it (resultsJson takes any RunResult).
  const withGallery: ReportRun = { ...mlp, gallery };
  await writeFile(join(a, 'results.json'), resultsJsonText([withGallery]));
  // As robench 0.1.0 wrote it: the pictures as data URLs in results.json, no difference picture.
  const b = await tmp();
  const picture = async (path: string): Promise<string> => pngDataUrl(await readFile(join(a, path)));
  const inline = await Promise.all(gallery.map(async (g) => ({ label: `sample ${g.sample}`, perturbation: g.perturbation, cleanPng: await picture(g.images.clean), advPng: await picture(g.images.adversarial), cleanPrediction: g.cleanPrediction, advPrediction: g.advPrediction, trueLabel: g.trueLabel })));
  const [, , hah] = fixture();
  await writeFile(join(b, 'results.json'), JSON.stringify({ ...hah, gallery: inline }));
  const out = join(await tmp(), 'merged');
  const written = await silently(() => reportCommand([a, b], { out, format: 'json,html' }, registry()));
  t.true(written.includes(join(out, 'gallery')));
  const merged = readResults(out) as ReportRun[];
  t.deepEqual(merged[0].gallery, gallery, 'pictures keep their names');
  const upgraded = merged[1].gallery!;
  t.deepEqual(upgraded.map((g) => [g.sample, g.advPrediction]), [[0, '3'], [1, '2']]);
  t.deepEqual(upgraded.map((g) => g.images.clean), gallery.map((g) => g.images.clean), 'the same picture, the same file');
  const names = new Set([...merged[0].gallery!, ...upgraded].flatMap((g) => Object.values(g.images)));
  t.deepEqual((await readdir(join(out, 'gallery'))).map((f) => `gallery/${f}`).sort(), [...names].sort());
  t.false((await readFile(join(out, 'results.json'), 'utf8')).includes('base64'), 'results.json names the pictures, holds none');
  const html = await readFile(join(out, 'report.html'), 'utf8');
  t.is((/<section id="gallery">[\s\S]*?<\/section>/.exec(html)![0].match(/<img src="data:image\/png;base64,/g) ?? []).length, 2 * 2 * 3);
  // A folder whose pictures went missing is refused before anything is written.
  const c = await tmp();
  await writeFile(join(c, 'results.json'), resultsJsonText([withGallery]));
  const never = join(await tmp(), 'never');
  await t.throwsAsync(silently(() => reportCommand([c], { out: never, format: 'html' }, registry())), { instanceOf: UsageError, message: /gallery picture .* is missing/ });
  await t.throwsAsync(readdir(never), { code: 'ENOENT' });
});
