/**
 * Which file imports which, as the TypeScript compiler resolves them: `tsc --explainFiles` says
 * why it includes each file ("Imported via './x.js' from file 'src/y.ts'"), type-only imports
 * and literal dynamic imports included. Files loaded by a computed path (the registry finding
 * the built-in plugins) are not imports, and are not in the graph.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');

/** Project-relative importer -> the project files it imports (node_modules left out). */
export type ImportGraph = Map<string, Set<string>>;

export function parseExplainFiles(text: string): ImportGraph {
  const graph: ImportGraph = new Map();
  let file: string | undefined;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      // A diagnostic (a file another engineer is halfway through editing) is no file header.
      file = /: error TS\d+|^node_modules\//.test(line) ? undefined : line.trim();
      continue;
    }
    const via = /^\s+Imported via .* from file '([^']+)'/.exec(line);
    if (!file || !via) continue;
    const importer = via[1]!;
    if (!graph.has(importer)) graph.set(importer, new Set());
    graph.get(importer)!.add(file);
  }
  return graph;
}

export function importGraph(project: string): Promise<ImportGraph> {
  return new Promise((done, fail) => {
    // --noCheck: resolution is all this needs, and type errors elsewhere must not hide it.
    execFile(process.execPath, [tsc, '-p', join(project, 'tsconfig.json'), '--noEmit', '--noCheck', '--explainFiles'], { cwd: project, maxBuffer: 1 << 26 }, (err, stdout) => {
      // tsc exits non-zero on a syntax error anywhere; the graph of the rest still stands.
      if (err && !stdout) fail(err);
      else done(parseExplainFiles(stdout));
    });
  });
}

export interface Violation {
  /** The core file whose imports reach a plugin. */
  entry: string;
  /** The import that enters a plugin folder. */
  edge: string;
  /** entry -> ... -> the plugin file. */
  chain: string[];
}

/**
 * Every import by which a core entry, directly or through other non-plugin files, reaches a
 * file in a plugin folder. The search stops at plugin files: what a plugin imports is its own.
 */
export function pluginImports(graph: ImportGraph, entries: string[], isPlugin: (file: string) => boolean): Violation[] {
  const found: Violation[] = [];
  for (const entry of entries) {
    const parent = new Map<string, string | undefined>([[entry, undefined]]);
    const queue = [entry];
    while (queue.length > 0) {
      const file = queue.shift()!;
      for (const next of [...(graph.get(file) ?? [])].sort()) {
        if (isPlugin(next)) {
          const chain = [next];
          for (let f: string | undefined = file; f !== undefined; f = parent.get(f)) chain.unshift(f);
          found.push({ entry, edge: `${file} -> ${next}`, chain });
        } else if (!parent.has(next)) {
          parent.set(next, file);
          queue.push(next);
        }
      }
    }
  }
  return found;
}
