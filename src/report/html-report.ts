/**
 * report.html: one self-contained page (inline CSS and SVG, images as data URLs, no script):
 * first the accuracies of the models side by side with their intervals and differences, then
 * corruption errors, charts, sparsity, audit verdicts and a gallery of clean versus perturbed
 * images, and last the manifest of the runs. Every string that comes from a plugin, a results
 * file or the command line is escaped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seriesName } from './attack-groups.js';
import { buildCharts, renderSvg } from './charts.js';
import { corruptionErrors } from '../analysis/corruption-errors.js';
import { UsageError } from '../core/errors.js';
import type { ReportRun } from '../evaluation/gallery.js';
import { gallerySection } from './html-gallery.js';
import { headlineSection } from './html-headline.js';
import { code, escapeHtml, table } from './html-text.js';
import { formatAccuracy, formatPerturbation, pct } from './report-format.js';
import { memberBreakdown } from './member-breakdown.js';
import { runLabels } from './run-labels.js';
import { disparity } from './sparsity-format.js';
import type { Verdict } from '../analysis/audit.js';

// Defined beside the gallery, which a run builds without loading this report (nor the plugins it imports).
export type { GalleryItem, ReportRun } from '../evaluation/gallery.js';
export { escapeHtml } from './html-text.js';

/** What report.html shows of `robench audit`'s audit.json (which holds more). */
export interface AuditSummary {
  model?: string;
  dataset?: string;
  norm?: string;
  eps?: number;
  samples?: number;
  /** `informational`: a warning robench's own attacks withstand, nothing for the user to do (src/analysis/audit.ts). */
  checks: { name: string; verdict: Verdict; detail: string; informational?: boolean }[];
  /** Why no attack comparison could warn at this budget (see src/analysis/audit.ts). */
  trivialBudget?: string;
}

const VERDICT_LABEL: Record<Verdict, string> = { pass: 'pass', warn: 'WARN', error: 'ERROR', skipped: 'skipped' };
const VERDICTS = Object.keys(VERDICT_LABEL);

const isAuditSummary = (a: unknown): a is AuditSummary =>
  typeof a === 'object' &&
  a !== null &&
  Array.isArray((a as AuditSummary).checks) &&
  (a as AuditSummary).checks.every((c) => typeof c?.name === 'string' && VERDICTS.includes(c.verdict) && typeof c.detail === 'string');

/** The audits in `<dir>/audit.json` (one audit or an array of them); none when the file is absent. */
export function readAudits(dir: string): AuditSummary[] {
  const file = join(dir, 'audit.json');
  if (!existsSync(file)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`, 'remove it or write it again with robench audit');
  }
  const audits = Array.isArray(parsed) ? parsed : [parsed];
  if (!audits.every(isAuditSummary)) {
    throw new UsageError(`${file} does not hold robench audits (each needs checks: {name, verdict: pass|warn|error|skipped, detail}[])`, 'remove it or write it again with robench audit');
  }
  return audits;
}

const num = (x: number): string => escapeHtml(Number(x.toPrecision(4)));
const shellArg = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
const distinct = <T>(xs: T[]): T[] => [...new Set(xs)];

function manifestSection(results: ReportRun[]): string {
  const facts: [string, string][] = [
    ['robench', distinct(results.map((r) => r.robench)).map(code).join(', ')],
    ['backend', distinct(results.map((r) => (r.backendDetail ? `${r.backend} (${r.backendDetail})` : r.backend))).map(code).join(', ')],
    ['seed', distinct(results.map((r) => r.seed)).map(code).join(', ')],
    ['runs', String(results.length)],
  ];
  const commands = distinct(results.map((r) => r.command.map(shellArg).join(' ')));
  const labels = runLabels(results);
  const runs = results.map((r, i) => {
    const params = Object.entries(r.attack.params)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return [
      escapeHtml(labels[i].model),
      `${escapeHtml(labels[i].attack)}${params ? `<br><small>${escapeHtml(params)}</small>` : ''}`,
      `${escapeHtml(r.dataset.id)} ${escapeHtml(r.dataset.split)}, ${escapeHtml(r.dataset.samples)} samples${r.shard ? ` (shard ${escapeHtml(r.shard.index)}/${escapeHtml(r.shard.count)})` : ''}<br><small>${escapeHtml(r.dataset.source.kind)}: ${escapeHtml(r.dataset.source.path)}</small>`,
      `<code class="hash">${escapeHtml(r.model.weightsSha256)}</code>`,
      `<code class="hash">${escapeHtml(r.dataset.source.sha256)}</code>`,
      r.sweep ? 'yes' : 'no',
      `${escapeHtml(r.gradientEvaluations)} / ${escapeHtml(r.forwardEvaluations)}`,
      `${escapeHtml((r.durationMs / 1000).toFixed(1))} s<br><small>${escapeHtml(r.startedAt)}</small>`,
    ];
  });
  const infos = results.filter((r, i) => r.model.info && results.findIndex((s) => seriesName(s) === seriesName(r)) === i);
  return `<section id="manifest"><h2>Manifest</h2>
<dl>${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
<h3>Command${commands.length > 1 ? 's' : ''}</h3>
${commands.map((c) => `<pre>${escapeHtml(c)}</pre>`).join('\n')}
<h3>Runs</h3>
<div class="scroll">${table(['model', 'attack', 'data', 'weights sha256', 'data sha256', 'sweep', 'gradient / forward evaluations', 'duration'], runs, 'manifest')}</div>
${infos.map((r) => `<details><summary>model info: ${escapeHtml(seriesName(r))}</summary><pre>${escapeHtml(JSON.stringify(r.model.info, null, 2))}</pre></details>`).join('\n')}
</section>`;
}

/** CIFAR-10-C's table for each corruption run: error per corruption and severity, and CE/mCE where the baseline model ran too. */
function corruptionSection(results: ReportRun[]): string {
  const blocks = results.flatMap((r) => {
    const t = corruptionErrors(r, results);
    if (!t) return [];
    const ce = t.mce !== undefined;
    const head = ['corruption', ...t.severities.map((s) => `severity ${escapeHtml(s)}`), 'mean', ...(ce ? ['CE'] : [])];
    const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rows = t.corruptions.map((c) => [escapeHtml(c.name), ...c.errors.map((e, s) => escapeHtml(formatAccuracy(e, c.intervals[s]))), pct(meanOf(c.errors)), ...(ce ? [pct(c.ce!)] : [])]);
    rows.push([
      `<strong>mean${ce ? ` (mCE vs ${escapeHtml(t.baseline)})` : ''}</strong>`,
      ...t.severities.map((_, s) => pct(meanOf(t.corruptions.map((c) => c.errors[s])))),
      pct(t.meanError),
      ...(ce ? [`<strong>${pct(t.mce!)}</strong>`] : []),
    ]);
    return [`<h3>${escapeHtml(seriesName(r))}${ce ? ` <small>mCE ${pct(t.mce!)}</small>` : ''}</h3>\n<div class="scroll">${table(head, rows, 'accuracy corruption')}</div>${t.ceOmitted ? `\n<p class="audit-note">${escapeHtml(t.ceOmitted)}</p>` : ''}`];
  });
  if (blocks.length === 0) return '';
  return `<section id="corruptions"><h2>Corruption errors</h2>
<p>Error (1 - accuracy) of each corruption at each severity, as CIFAR-10-C reports it, with its 95% Wilson interval. CE is a corruption's error summed over the severities, divided by the same sum for the <code>baseline</code> model on the same samples; the mCE is the mean CE (Hendrycks &amp; Dietterich 2019). Without the baseline's run in the report there is no CE.</p>
${blocks.join('\n')}
</section>`;
}

/** Composite attacks (AutoAttack): the robust accuracy after each member of the cascade, per budget, as AutoAttack's log gives it. */
function membersSection(results: ReportRun[]): string {
  const blocks = results.flatMap((r) => {
    const breakdown = memberBreakdown(r);
    if (breakdown.length === 0) return [];
    const head = [escapeHtml(r.attack.perturbation), 'clean', ...breakdown[0]!.steps.map((s) => `after ${escapeHtml(s.member)}`)];
    const rows = breakdown.map((b) => [escapeHtml(formatPerturbation(b.perturbation, r.attack.perturbation, r.attack.budget)), pct(b.clean), ...b.steps.map((s) => pct(s.accuracy))]);
    return [`<h3>${escapeHtml(seriesName(r))}</h3>\n<div class="scroll">${table(head, rows, 'accuracy members')}</div>`];
  });
  if (blocks.length === 0) return '';
  return `<section id="members"><h2>Robust accuracy after each member</h2>
<p>The cascade's members run in order, each on the samples the ones before it left; a sample broken at a smaller budget counts for the member that broke it there. After the last member this is the attack's accuracy.</p>
${blocks.join('\n')}
</section>`;
}

function sparsitySection(results: ReportRun[]): string {
  const seen = new Set<string>();
  const rows: string[][] = [];
  for (const r of results) {
    if (!r.sparsity || seen.has(seriesName(r))) continue;
    seen.add(seriesName(r));
    for (const l of r.sparsity) {
      const pre = l.preThreshold ?? l;
      rows.push([
        escapeHtml(seriesName(r)),
        escapeHtml(l.name),
        pct(l.zeroFraction),
        num(l.hoyer),
        num(l.topKMean),
        num(l.restMean),
        disparity(l.topKMean, l.restMean),
        pct(pre.zeroFraction),
        num(pre.hoyer),
        disparity(pre.topKMean, pre.restMean),
      ]);
    }
  }
  if (rows.length === 0) return '';
  return `<section id="sparsity"><h2>Activation sparsity</h2>
<p>On clean test images. Hoyer sparsity is 1 for one active channel per position and 0 for equal channels; top-K / rest is the mean of each position's K = ceil(0.1 C) largest channels over the mean of the others. The pre-threshold columns measure a HaH block's ReLU output before its fractional threshold, which forces about 80% zeros; a block without a threshold repeats its output's figures there.</p>
${table(['model', 'layer', 'zeros', 'Hoyer', 'top-K mean', 'rest mean', 'top-K / rest', 'zeros pre-threshold', 'Hoyer pre-threshold', 'top-K / rest pre-threshold'], rows)}
</section>`;
}

async function chartsSection(results: ReportRun[]): Promise<string> {
  const figures: string[] = [];
  for (const chart of buildCharts(results)) {
    figures.push(`<figure class="chart" id="${escapeHtml(chart.name)}" aria-label="${escapeHtml(chart.title)}">${await renderSvg(chart.spec)}</figure>`);
  }
  return `<section id="charts"><h2>Charts</h2>\n${figures.join('\n')}\n</section>`;
}

function auditSection(audits: AuditSummary[]): string {
  if (audits.length === 0) return '';
  const blocks = audits.map((a) => {
    const what = [a.model && `${a.model}${a.dataset ? ` [${a.dataset}]` : ''}`, a.norm && a.eps !== undefined && `${a.norm} ${Number(a.eps.toPrecision(4))}`, a.samples !== undefined && `${a.samples} samples`]
      .filter(Boolean)
      .join(', ');
    // A warning with nothing for the user to do is a note, as in the terminal, and not counted as a warning.
    const isNote = (c: AuditSummary['checks'][number]): boolean => c.verdict === 'warn' && c.informational === true;
    const counts = (['warn', 'error', 'skipped'] as const)
      .map((v) => [v, a.checks.filter((c) => c.verdict === v && !isNote(c)).length] as const)
      .filter(([, k]) => k > 0)
      .map(([v, k]) => `${k} ${v === 'warn' ? 'warning' : v}${k > 1 && v !== 'skipped' ? 's' : ''}`);
    const notes = a.checks.filter(isNote).length;
    if (notes > 0) counts.push(`${notes} note${notes > 1 ? 's' : ''} (nothing to do)`);
    const rows = a.checks.map((c) => [escapeHtml(c.name), isNote(c) ? '<span class="verdict skipped">note</span>' : `<span class="verdict ${c.verdict}">${VERDICT_LABEL[c.verdict]}</span>`, escapeHtml(c.detail)]);
    const note = a.trivialBudget ? `\n<p class="audit-note">${escapeHtml(a.trivialBudget)}</p>` : '';
    return `<h3>Audit${what ? ` of ${escapeHtml(what)}` : ''}: ${counts.length === 0 ? 'all checks pass' : counts.join(', ')}</h3>${note}\n${table(['check', 'verdict', 'detail'], rows, 'audit')}`;
  });
  return `<section id="audit"><h2>Audit</h2>\n${blocks.join('\n')}\n</section>`;
}

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif;color:#1d1d1f;margin:0 auto;padding:1.5rem 2rem 3rem;max-width:1200px}
h1{font-size:1.6rem;margin:.2rem 0 1rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}h3{font-size:1.05rem;margin:1.4rem 0 .5rem}
small{color:#666}h3 small{font-weight:normal}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.9rem}th,td{border:1px solid #ddd;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f4f5f7}table.accuracy td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}code,pre{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.85em}
pre{background:#f4f5f7;padding:.5rem .7rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
code.hash{word-break:break-all;font-size:.75em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
figure.chart{display:inline-block;margin:.5rem 1rem 1rem 0;vertical-align:top}figure.chart svg{max-width:100%;height:auto;display:block}
figcaption{font-size:.85rem;color:#555}
.verdict{font-weight:700;padding:0 .35rem;border-radius:3px}.verdict.pass{color:#1a7f37;background:#e6f4ea}.verdict.warn{color:#9a6700;background:#fff4d6}.verdict.error{color:#cf222e;background:#ffebe9}.verdict.skipped{color:#57606a;background:#eaeef2}
table.headline th:not(:first-child){text-align:right}.better{color:#1a7f37;font-weight:700}.worse{color:#c62828;font-weight:700}
p.lede{color:#444;margin-top:-.5rem}
table.gallery td,table.gallery th{text-align:center;vertical-align:middle;font-size:.85rem}
table.gallery img{image-rendering:pixelated;border:1px solid #ccc;display:block;margin:0 auto 2px}
.fooled{color:#c62828;font-weight:700}.held{color:#1a7f37}
`;

/**
 * The whole page. Audits come from audit.json files; the gallery from the runs, its pictures
 * from `dir`, the folder whose results.json names them.
 */
export async function renderHtmlReport(results: ReportRun[], audits: AuditSummary[] = [], dir?: string): Promise<string> {
  if (results.length === 0) throw new UsageError('no runs to report', 'give the results.json of at least one robench run');
  const models = distinct(results.map(seriesName));
  const attacks = distinct(results.map((r) => r.attack.id));
  const title = `robench: ${models.join(', ')} under ${attacks.join(', ')}`;
  const data = distinct(results.map((r) => `${r.dataset.id} ${r.dataset.split}, ${r.dataset.samples} images`)).join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="lede">${escapeHtml(data)} · settings, hashes and commands in the <a href="#manifest">manifest</a> at the end</p>
${headlineSection(results)}
${membersSection(results)}
${corruptionSection(results)}
${await chartsSection(results)}
${sparsitySection(results)}
${auditSection(audits)}
${gallerySection(results, dir)}
${manifestSection(results)}
</body>
</html>
`;
}
