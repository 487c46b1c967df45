/**
 * A plugin imports `@tensorflow/tfjs` and `robench` from wherever its file lies. A second copy
 * of tfjs is a second engine (its tensors are foreign to robench's, and every kernel registers
 * twice) and a folder without node_modules has none at all, so once a plugin is loaded these
 * specifiers resolve, in every module outside node_modules, to the copies robench runs on.
 */
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { fromSource, packageRoot } from './paths.js';

// Module hooks run on their own thread and cannot import robench's TypeScript, so they are plain JavaScript.
const HOOKS = `
const shared = /^(@tensorflow\\/tfjs(-[a-z-]+)?|robench)(\\/.*)?$/;
let parentURL;
let sources;
export function initialize(data) { parentURL = data.parentURL; sources = data.sources; }
export async function resolve(specifier, context, next) {
  // Run from source (a fresh clone, no dist/): robench's own entry points, the modules already running.
  if (sources && Object.hasOwn(sources, specifier)) return { url: sources[specifier], format: 'module', shortCircuit: true };
  // Installed packages resolve as npm laid them out (a plugin package has tfjs as a peer, so shares it).
  const own = context.parentURL === undefined || context.parentURL.includes('/node_modules/');
  const found = await next(specifier, shared.test(specifier) && !own ? { ...context, parentURL } : context);
  // A .ts plugin is written in import syntax whatever its folder's package.json says: as CommonJS
  // it would require() robench's ES modules while they are still being evaluated.
  if (found.format === 'commonjs' && /\\.tsx?$/.test(new URL(found.url).pathname) && !found.url.includes('/node_modules/')) return { ...found, format: 'module' };
  return found;
}
`;

let registered = false;

/**
 * Each of package.json's "exports" (`robench`, `robench/sdk`, ...) as its source file: the
 * exports are the one list of entry points, so a new one resolves from source without an edit here.
 */
function sourceEntries(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { exports: Record<string, string | { default: string }> };
  const modules = Object.entries(pkg.exports).flatMap(([key, target]) => (typeof target === 'object' ? [[key, target] as const] : []));
  return Object.fromEntries(
    modules.map(([key, target]) => [
      key === '.' ? 'robench' : `robench/${key.slice(2)}`,
      pathToFileURL(join(packageRoot, target.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))).href,
    ]),
  );
}

/** Installs the resolution of tfjs and robench for every module loaded from now on (idempotent). */
export function shareModulesWithPlugins(): void {
  if (registered) return;
  registered = true;
  // From source, `robench` is src/index.ts, never a dist/ a build may have left behind: a second copy of robench's modules would hold a second registry.
  const sources = fromSource ? sourceEntries() : undefined;
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { parentURL: pathToFileURL(join(packageRoot, 'package.json')).href, sources } });
}
