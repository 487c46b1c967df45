/** `robench report`: rebuild or merge reports from saved results, without evaluating anything. */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../runtime/atomic.js';
import { UsageError } from '../../core/errors.js';
import { GALLERY_DIR, gatherGallery, writeGalleryOf } from '../../report/gallery-images.js';
import { prepareOutDir } from '../../runtime/out-dir.js';
import type { AuditSummary } from '../../report/html-report.js';
import type { ReporterPlugin, RunResult } from '../../core/plugin-api.js';
import type { Registry } from '../../core/registry.js';
import { mergeShards } from '../../evaluation/shards.js';
import { resultsFileIn } from '../../report/results-file.js';
import { readResults } from './check.js';
import type { CommandModule } from '../command.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

export interface ReportOptions {
  /** Folder the reports go to (may be one of the inputs, to rebuild its reports). */
  out: string;
  /** Comma-separated reporter ids, as `robench run --format`. */
  format: string;
}

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/** Removes entries seen before, so a folder given twice is not reported twice. */
const unique = <T>(items: T[]): T[] => {
  const seen = new Set<string>();
  return items.filter((x) => {
    const key = JSON.stringify(x);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
};

/**
 * Reads the runs of every input (a results folder or results.json), merges shards
 * of one run (of `robench run` or `robench certify`; a mismatch names the files), and
 * writes the chosen reports of all of them into `opts.out`. Audits
 * found next to the inputs (audit.json) are added to `<out>/audit.json`, so the
 * HTML report shows them and the output folder stays complete; so are the gallery
 * pictures the runs name (gallery/). A folder holding only an audit.json is accepted.
 * Returns the files written.
 */
export async function reportCommand(inputs: string[], opts: ReportOptions, registry: Registry): Promise<string[]> {
  if (inputs.length === 0) throw new UsageError('no results given to report', 'name one or more folders written by robench run (or their results.json)');
  const reporters = reportersOf(opts.format, registry);
  // Lazily, as the reporters do: the HTML module loads Vega.
  const { readAudits } = await import('../../report/html-report.js');
  const runs: RunResult[] = [];
  // The results.json each run came from, named when shards of different settings are refused.
  const sources = new Map<RunResult, string>();
  // The gallery pictures the runs name, gathered from their folders into the output folder.
  const pictures = new Map<string, Uint8Array>();
  // An audit already in the output folder (e.g. `robench audit --out` there) stays part of it.
  const audits: AuditSummary[] = readAudits(opts.out);
  for (const input of inputs) {
    const dir = isDir(input) ? input : dirname(input);
    const found = readAudits(dir);
    audits.push(...found);
    const auditOnly = isDir(input) && !existsSync(join(input, 'results.json')) && found.length > 0;
    if (auditOnly) continue;
    const gallery = gatherGallery(readResults(input), dir);
    for (const run of gallery.runs) sources.set(run, resultsFileIn(input));
    runs.push(...gallery.runs);
    for (const [path, png] of gallery.files) pictures.set(path, png);
  }
  if (runs.length === 0) throw new UsageError(`${inputs.join(', ')} hold${inputs.length === 1 ? 's' : ''} audits but no runs`, 'add a folder written by robench run');
  const results = mergeShards(unique(runs), (run) => sources.get(run));
  const auditList = unique(audits);
  // What a reporter's ctx.outDir guarantees in `robench run` too: a writable folder that exists.
  await prepareOutDir(opts.out);
  // Merged shards show the first shard's gallery, so only the pictures the results name are written.
  const written: string[] = (await writeGalleryOf(results, pictures, opts.out)) > 0 ? [join(opts.out, GALLERY_DIR)] : [];
  if (auditList.length > 0) {
    const file = join(opts.out, 'audit.json');
    await writeFileAtomic(file, `${JSON.stringify(auditList.length === 1 ? auditList[0] : auditList, null, 2)}\n`);
    written.push(file);
  }
  const ctx = { outDir: opts.out, log: (line: string) => console.log(line) };
  for (const reporter of reporters) written.push(...(await reporter.write(results, ctx)));
  if (written.length > 0) console.error(`wrote ${written.join(', ')}`);
  return written;
}

/** `--format`'s reporters, looked up before any results are read (by `--dry-run` too). */
function reportersOf(format: string, registry: Registry): ReporterPlugin[] {
  const ids = format.split(',').map((f) => f.trim()).filter(Boolean);
  if (ids.length === 0) throw new UsageError(`--format '${format}' names no reporter`, 'e.g. --format table,html; `robench list reporters` shows them all');
  return ids.map((id) => registry.get('reporter', id));
}

export const reportModule: CommandModule = {
  name: ['report'],
  description: 'rebuild or merge reports (and shards) from saved results, without recomputing',
  args: [{ name: 'results', variadic: true, files: true, description: 'folders written by robench run, or their results.json' }],
  settings: [
    textSetting({ name: 'out', valueName: '<dir>', description: 'output folder' }),
    textSetting({ name: 'format', valueName: '<list>', default: 'table,json,csv,svg,html', description: 'reporters, comma-separated' }),
  ],
  required: ['out'],
  check: ({ values: v, registry }) => void reportersOf(v.get('format') as string, registry),
  run: async ({ values: v, args, registry }) => {
    await reportCommand(args, { out: v.get('out') as string, format: v.get('format') as string }, registry);
  },
};
