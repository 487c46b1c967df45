import test from 'ava';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import htmlReporter from '../reports/html.js';
import jsonReporter from '../reports/json.js';
import svgReporter from '../reports/svg.js';
import { readResults } from '../src/commands/check.js';
import { reportCommand } from '../src/commands/report.js';
import { UsageError } from '../src/errors.js';
import { escapeHtml, imageToPngDataUrl, readAudits, renderHtmlReport, type GalleryItem, type ReportRun } from '../src/html-report.js';
import type { RunResult } from '../src/plugin-api.js';
import { Registry } from '../src/registry.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'results', 'two-models');
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

const ramp = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i / (n - 1));

function gallery(): GalleryItem[] {
  const clean = imageToPngDataUrl(ramp(28 * 28), 28, 28, 1);
  const adv = imageToPngDataUrl(ramp(28 * 28).map((v) => 1 - v), 28, 28, 1);
  return [
    { label: 'sample 3', perturbation: 8 / 255, cleanPng: clean, advPng: adv, cleanPrediction: '7', advPrediction: '3', trueLabel: '7' },
    { label: 'sample 0', perturbation: 2 / 255, cleanPng: clean, advPng: clean, cleanPrediction: '7', advPrediction: '7', trueLabel: '7' },
  ];
}

test('imageToPngDataUrl encodes pixels in [0, 1] as 8-bit PNG, grey and RGB', (t) => {
  const rgb = Float32Array.from([0, 0.5, 1, 0.25, 0.75, 1.5, -0.2, 0.1, 0.6, 1, 1, 0]);
  const url = imageToPngDataUrl(rgb, 2, 2, 3);
  t.regex(url, /^data:image\/png;base64,/);
  const png = decode(Buffer.from(url.split(',')[1], 'base64'));
  t.deepEqual([png.width, png.height, png.channels, png.depth], [2, 2, 3, 8]);
  t.deepEqual([...png.data], [0, 128, 255, 64, 191, 255, 0, 26, 153, 255, 255, 0]);
  const grey = decode(Buffer.from(imageToPngDataUrl(Float32Array.from([0, 1, 0.5]), 1, 3, 1).split(',')[1], 'base64'));
  t.deepEqual([grey.width, grey.height, grey.channels, ...grey.data], [3, 1, 1, 0, 255, 128]);
});

test('imageToPngDataUrl rejects a batch, odd channel counts and non-finite pixels', (t) => {
  t.throws(() => imageToPngDataUrl(new Float32Array(2 * 4 * 4), 4, 4, 1), { message: /32 values for a 4x4x1 image \(needs 16\); pass one image/ });
  t.throws(() => imageToPngDataUrl(new Float32Array(8), 2, 2, 2), { message: /2 channels given/ });
  t.throws(() => imageToPngDataUrl(Float32Array.from([0, NaN]), 1, 2, 1), { message: /pixel 1 is NaN/ });
  t.throws(() => imageToPngDataUrl(new Float32Array(0), 0, 2, 1), { message: /positive integers/ });
});

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
  // hah-cnn under pgd at 16/255: 60 of 200 correct, Wilson 95% 24-37%.
  t.regex(html, /<th>eps 16\/255<\/th>/);
  t.regex(html, /30\.0%<br><small>24%–37%, n=200<\/small>/);
  t.regex(html, /<th>sigma 0\.4<\/th>/);
  t.regex(html, /<td>hah-cnn \[mnist\]<\/td><td>conv2<\/td><td>80\.0%<\/td><td>0\.85<\/td>/);
  t.notRegex(html, /id="audit"|id="gallery"/, 'no audit or gallery section without data');
});

test('every string from plugins, results and the command line is escaped', async (t) => {
  const [r] = fixture();
  const evil = '<script>alert(1)</script>';
  const run: ReportRun = {
    ...r,
    model: { ...r.model, id: evil, info: { note: '</pre><script>x()</script>' } },
    attack: { ...r.attack, id: 'pgd"><img src=x onerror=alert(2)>', params: { tag: '<b>bold</b>' } },
    command: ['robench', 'run', '--model', evil],
    gallery: gallery().map((g) => ({ ...g, trueLabel: '<i>seven</i>', label: evil })),
  };
  const html = await renderHtmlReport([run], [{ model: evil, checks: [{ name: evil, verdict: 'warn', detail: '<svg onload=alert(3)>' }] }]);
  t.notRegex(html, /<script|<img src=x|<b>bold|<i>seven|<svg onload/i);
  t.true(html.includes('&lt;script&gt;alert(1)&lt;/script&gt; [mnist]'));
  t.true(html.includes('--model &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;</pre>'), 'command shell-quoted, then escaped');
  t.is(escapeHtml(`a&b<c>"d'`), 'a&amp;b&lt;c&gt;&quot;d&#39;');
});

test('gallery shows clean and perturbed images by budget; only PNG data URLs are accepted', async (t) => {
  const [r] = fixture();
  const items = gallery();
  const html = await renderHtmlReport([{ ...r, gallery: items }]);
  t.regex(html, /id="gallery"/);
  t.is((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 4);
  const order = [html.indexOf('sample 0'), html.indexOf('sample 3')];
  t.true(order[0] > 0 && order[0] < order[1], 'sorted by perturbation');
  t.regex(html, /sample 3 · eps 8\/255<br>\ntrue 7 · clean → 7 · perturbed → <span class="fooled">3<\/span>/);
  t.regex(html, /perturbed → <span class="held">7<\/span>/);
  await t.throwsAsync(renderHtmlReport([{ ...r, gallery: [{ ...items[0], advPng: 'https://example.com/x.png' }] }]), {
    message: /gallery of mlp \[mnist\] under pgd: images must be data:image\/png;base64 URLs/,
  });
  await t.throwsAsync(renderHtmlReport([{ ...r, gallery: [{ ...items[0], cleanPng: 'data:image/png;base64,AAAA" onerror="x' }] }]));
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
  t.deepEqual(merged, [...runs.filter((r) => r.model.id === 'mlp'), ...runs.filter((r) => r.model.id === 'hah-cnn')], 'concatenated; the folder given twice counts once');
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
